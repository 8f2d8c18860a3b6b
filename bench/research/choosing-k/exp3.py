import pathlib; HERE = pathlib.Path(__file__).resolve().parent
import numpy as np, warnings
warnings.filterwarnings("ignore")
from sklearn.cluster import KMeans
from sklearn.metrics import adjusted_rand_score as ari
exec(open(str(HERE)+'/common.py').read())
def sil_from_D(Dm,lab):
    # Dm: m×m cosine distances; silhouette mean
    k=lab.max()+1; m=len(lab)
    oh=np.zeros((m,k)); oh[np.arange(m),lab]=1
    cnt=oh.sum(0)
    S=Dm@oh  # m×k sums
    own=cnt[lab]
    a=S[np.arange(m),lab]/np.maximum(own-1,1)
    mean=S/np.maximum(cnt,1); mean[:,cnt==0]=np.inf
    mean[np.arange(m),lab]=np.inf
    b=mean.min(1)
    s=(b-a)/np.maximum(np.maximum(a,b),1e-12)
    s[own<=1]=0
    return s.mean()
def spkm(x,k,seed=0,init=None,iters=50):
    rng=np.random.default_rng(seed)
    if init is None:
        # k-means++ on cosine
        C=[x[rng.integers(len(x))]]
        d=1-x@C[0]
        for _ in range(k-1):
            p=np.maximum(d,0); p=p/p.sum(); C.append(x[rng.choice(len(x),p=p)]); d=np.minimum(d,1-x@C[-1])
        C=np.array(C)
    else: C=init
    for _ in range(iters):
        lab=(x@C.T).argmax(1)
        N=np.zeros_like(C); np.add.at(N,lab,x)
        nrm=np.linalg.norm(N,axis=1,keepdims=True); empty=nrm[:,0]<1e-12
        N[~empty]/=nrm[~empty]; N[empty]=C[empty]
        if np.allclose(N,C): break
        C=N
    return (x@C.T).argmax(1),C
def path(x,lab,kp):
    # Ward-like merging on the sphere: merge cost = loss increase of combining sums
    sums=np.zeros((kp,x.shape[1])); np.add.at(sums,lab,x); cnt=np.bincount(lab,minlength=kp).astype(float)
    alive=[i for i in range(kp) if cnt[i]>0]
    groups={i:[i] for i in alive}
    levels={}
    while len(alive)>1:
        levels[len(alive)]={g:list(m) for g,m in groups.items()}
        best=None
        A=np.array(alive); S=sums[A]; nr=np.linalg.norm(S,axis=1)
        # cost(i,j)= |S_i|+|S_j|-|S_i+S_j|  (loss of spherical objective)
        comb=np.linalg.norm(S[:,None,:]+S[None,:,:],axis=2)
        cost=nr[:,None]+nr[None,:]-comb; np.fill_diagonal(cost,np.inf)
        i,j=np.unravel_index(cost.argmin(),cost.shape); a,b=A[i],A[j]
        sums[a]+=sums[b]; cnt[a]+=cnt[b]; groups[a]+=groups.pop(b); alive.remove(b)
    levels[1]={alive[0]:groups[alive[0]]}
    return levels
data=load()
for name,(x,y) in data.items():
    n=len(x); kt=len(set(y)); kp=int(np.ceil(2*np.sqrt(n)))
    ref=ari(y,KMeans(kt,n_init=10,random_state=0).fit(x).labels_)
    Dm=1-x@x.T
    lab0,_=spkm(x,kp,seed=1)
    lv=path(x,lab0,kp)
    best=None; curve=[]
    for k,groups in lv.items():
        if k<2: continue
        m=np.empty(kp,int)
        for gi,(g,mem) in enumerate(groups.items()):
            for o in mem: m[o]=gi
        l=m[lab0]; s=sil_from_D(Dm,l); curve.append((s,k))
    s,kbest=max(curve)
    groups=lv[kbest]; m=np.empty(kp,int)
    for gi,(g,mem) in enumerate(groups.items()):
        for o in mem: m[o]=gi
    l=m[lab0]
    C=np.zeros((kbest,x.shape[1])); np.add.at(C,l,x); C/=np.linalg.norm(C,axis=1,keepdims=True)
    lr,_=spkm(x,kbest,init=C)
    # also silhouette after refine for neighbours
    print(f"{name}: true {kt} ref {ref:.3f} | path k={kbest} merged ARI {ari(y,l):.3f} refined ARI {ari(y,lr):.3f}  top5 {sorted(curve)[-5:]}",flush=True)
