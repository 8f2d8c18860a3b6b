import pathlib; HERE = pathlib.Path(__file__).resolve().parent
exec(open(str(HERE)+'/common2.py').read())
from sklearn.metrics import silhouette_samples
from data2 import syn
sets={'syn32big':syn(32,n=20000),'syn64big':syn(64,n=20000),'syn64zipfbig':syn(64,n=20000,zipf=True)}
for name,(x,y) in sets.items():
    kt=20; n=len(x)
    ref=ari(y,KMeans(kt,n_init=10,random_state=0).fit(x).labels_)
    Ls={k:KMeans(k,n_init=3,random_state=0).fit(x).labels_ for k in range(10,31)}
    res=[]
    for ss in range(3):
        idx=np.random.default_rng(ss).choice(n,4000,replace=False)
        m={k:silhouette_samples(x[idx],Ls[k][idx],metric='cosine').mean() for k in Ls}
        kb=max(m,key=m.get); res.append(fmt(name,kb,kt,ari(y,Ls[kb]),ref))
    print(f"== {name} ref {ref:.3f} sil@4000-sample argmax:"," | ".join(res),flush=True)
data=load(['categories','digits','drm'])
for name,(x,y) in data.items():
    L,refs,kmax=cache(name); kt=len(set(y)); n=len(x); kmax=min(kmax,30)
    res=[]
    for ss in range(3):
        idx=np.random.default_rng(ss).choice(n,n//2,replace=False)
        m={k:silhouette_samples(x[idx],L[ss,k][idx],metric='cosine').mean() for k in range(2,kmax+1)}
        kb=max(m,key=m.get); res.append(fmt(name,kb,kt,ari(y,L[ss,kb]),refs[ss]))
    print(f"== {name} sil on 50% sample argmax:"," | ".join(res),flush=True)
