import pathlib; HERE = pathlib.Path(__file__).resolve().parent
exec(open(str(HERE)+'/common2.py').read())
from scipy.optimize import linear_sum_assignment
KM=30; R=6
data=load(sys.argv[1:] or None)
def dis(a,b,k):
    M=np.zeros((k,k)); np.add.at(M,(a,b),1); r,c=linear_sum_assignment(-M); return 1-M[r,c].sum()/len(a)
def stab(x,k,rng):
    n=len(x); v=[];vr=[];ben=[]
    for r in range(R):
        p=rng.permutation(n); A=p[:n//2]; Bi=p[n//2:]
        ka=KMeans(k,n_init=3,random_state=r).fit(x[A]); kb=KMeans(k,n_init=3,random_state=r).fit(x[Bi])
        v.append(dis(ka.predict(x[Bi]),kb.labels_,k))
        vr.append(dis(rng.integers(0,k,len(Bi)),rng.integers(0,k,len(Bi)),k))
        ben.append(ari(ka.predict(x[Bi]),kb.labels_))
    return np.mean(v)/np.mean(vr), np.mean(ben)
for name,(x,y) in data.items():
    L,refs,kmax=cache(name); kmax=min(kmax,KM); kt=len(set(y))
    out={};cur=None
    for s in range(3):
        rng=np.random.default_rng(s)
        st={k:stab(x,k,rng) for k in range(2,kmax+1)}
        if s==0: cur=st
        kl=min(st,key=lambda k:st[k][0]); kb=max((k for k in st if k>2),key=lambda k:st[k][1])
        out.setdefault('Lange-argmin',[]).append(fmt(name,kl,kt,ari(y,L[s,kl]),refs[s]))
        out.setdefault('BenHur-argmax(k>2)',[]).append(fmt(name,kb,kt,ari(y,L[s,kb]),refs[s]))
    print(f"== {name} true k {kt} refs {np.round(refs,3)}")
    for m,r in out.items(): print(f"  {m:20s}"+" | ".join(r))
    print("  s0 lange/ari:"," ".join(f"{k}:{v[0]:.2f}/{v[1]:.2f}" for k,v in cur.items()))
    sys.stdout.flush()
