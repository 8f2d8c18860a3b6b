import pathlib; HERE = pathlib.Path(__file__).resolve().parent
exec(open(str(HERE)+'/common2.py').read())
from sklearn.metrics import silhouette_samples
data=load(sys.argv[1:])
for name,(x,y) in data.items():
    L,refs,kmax=cache(name); kmax=min(kmax,30); kt=len(set(y)); n=len(x)
    out={}; M=[]
    LL={}
    for s in range(3):
        S={}
        for k in range(2,kmax+1):
            l=KMeans(k,n_init=10,random_state=100+s).fit(x).labels_; LL[s,k]=l
            S[k]=silhouette_samples(x,l,metric='cosine')
        m={k:S[k].mean() for k in S}; M.append(m)
        kb=max(m,key=m.get)
        kp=min(k for k in S if (S[kb]-S[k]).mean()<=(S[kb]-S[k]).std()/np.sqrt(n))
        out.setdefault('sil10-max',[]).append(fmt(name,kb,kt,ari(y,LL[s,kb]),refs[s]))
        out.setdefault('sil10-paired1SE',[]).append(fmt(name,kp,kt,ari(y,LL[s,kp]),refs[s]))
    print(f"== {name} true k {kt} refs {np.round(refs,3)}")
    for mm,r in out.items(): print(f"  {mm:18s}"+" | ".join(r))
    for s in range(3): print("  ",' '.join(f"{k}:{M[s][k]:.3f}" for k in range(max(2,kt-8),min(kmax,kt+10)+1)))
    np.save(f'{HERE}/cache/{name}_sil10.npy',np.array([[M[s][k] for k in range(2,kmax+1)] for s in range(3)]))
    sys.stdout.flush()
