import pathlib; HERE = pathlib.Path(__file__).resolve().parent
# the recommended algorithm exactly: sample m<=4000, per k R=10 single k-means++ runs, keep max-silhouette run, argmax k, final Lloyd on all rows from sample centroids
exec(open(str(HERE)+'/common2.py').read())
from data2 import syn
def sil_D(D,lab):
    k=lab.max()+1; m=len(lab); oh=np.zeros((m,k),np.float32); oh[np.arange(m),lab]=1; cnt=oh.sum(0)
    S=D@oh; own=cnt[lab]; a=S[np.arange(m),lab]/np.maximum(own-1,1)
    mean=S/np.maximum(cnt,1); mean[:,cnt==0]=np.inf; mean[np.arange(m),lab]=np.inf; b=mean.min(1)
    s=(b-a)/np.maximum(np.maximum(a,b),1e-12); s[own<=1]=0; return s.mean()
which=sys.argv[1]; KLO,KHI=int(sys.argv[2]),int(sys.argv[3])
sets={'syn32big':lambda:syn(32,n=20000),'syn64big':lambda:syn(64,n=20000),'syn128big':lambda:syn(128,n=20000),'syn64zipfbig':lambda:syn(64,n=20000,zipf=True)}
if which in sets: x,y=sets[which](); ref=[ari(y,KMeans(20,n_init=10,random_state=s).fit(x).labels_) for s in range(3)]
else:
    x,y=load([which])[which]; _,ref,_=cache(which)
kt=len(set(y)); n=len(x); res=[]
for ss in range(3):
    rng=np.random.default_rng(ss); idx=rng.choice(n,min(n,4000),replace=False); xs=x[idx].astype(np.float32)
    D=1-xs@xs.T; best=(-9,0,None)
    for k in range(KLO,KHI+1):
        for r in range(10):
            km=KMeans(k,n_init=1,random_state=ss*100+r,max_iter=50).fit(xs); s_=sil_D(D,km.labels_)
            if s_>best[0]: best=(s_,k,km.cluster_centers_)
    kb=best[1]; C=best[2]/np.linalg.norm(best[2],axis=1,keepdims=True)
    lab=KMeans(kb,init=C,n_init=1).fit(x).labels_
    res.append(fmt(which,kb,kt,ari(y,lab),ref[ss]))
print(f"== {which} refs {np.round(ref,3)} recommended algorithm (k in {KLO}..{KHI}):"," | ".join(res),flush=True)
