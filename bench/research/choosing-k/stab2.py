import pathlib; HERE = pathlib.Path(__file__).resolve().parent
exec(open(str(HERE)+'/common2.py').read())
from scipy.optimize import linear_sum_assignment
KM=30; R=10; F=float(sys.argv[1]); names=sys.argv[2:]
data=load(names)
def dis(a,b,k):
    M=np.zeros((k,k)); np.add.at(M,(a,b),1); r,c=linear_sum_assignment(-M); return 1-M[r,c].sum()/len(a)
def stab(x,k,rng):
    n=len(x); m=int(F*n); v=[];vr=[];aa=[]
    for r in range(R):
        A=rng.choice(n,m,replace=False); Bi=rng.choice(n,m,replace=False)
        inter=np.intersect1d(A,Bi)
        la=np.empty(n,int); lb=np.empty(n,int)
        la[A]=KMeans(k,n_init=3,random_state=r).fit(x[A]).labels_; lb[Bi]=KMeans(k,n_init=3,random_state=r+1000).fit(x[Bi]).labels_
        a,b=la[inter],lb[inter]
        v.append(dis(a,b,k)); aa.append(ari(a,b))
        vr.append(dis(rng.integers(0,k,len(inter)),rng.integers(0,k,len(inter)),k))
    return np.mean(v)/np.mean(vr), np.mean(aa)
for name,(x,y) in data.items():
    L,refs,kmax=cache(name); kmax=min(kmax,KM); kt=len(set(y))
    out={};cur=None
    for s in range(3):
        rng=np.random.default_rng(s)
        st={k:stab(x,k,rng) for k in range(2,kmax+1)}
        if s==0: cur=st
        kl=min(st,key=lambda k:st[k][0])
        out.setdefault(f'instab{F}-argmin',[]).append(fmt(name,kl,kt,ari(y,L[s,kl]),refs[s]))
    print(f"== {name} true k {kt} refs {np.round(refs,3)}")
    for m,r in out.items(): print(f"  {m:20s}"+" | ".join(r))
    print("  s0 norm-instab/ari:"," ".join(f"{k}:{v[0]:.2f}/{v[1]:.2f}" for k,v in cur.items()))
    sys.stdout.flush()
