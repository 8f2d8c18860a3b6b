import pathlib; HERE = pathlib.Path(__file__).resolve().parent
exec(open(str(HERE)+'/common2.py').read())
from sklearn.metrics import silhouette_samples
from data2 import syn
sets={'syn32big':syn(32,n=20000),'syn64big':syn(64,n=20000),'syn128big':syn(128,n=20000),'syn64zipfbig':syn(64,n=20000,zipf=True)}
for name,(x,y) in sets.items():
    kt=20; n=len(x); ref=ari(y,KMeans(kt,n_init=10,random_state=0).fit(x).labels_); res=[]
    for ss in range(3):
        idx=np.random.default_rng(ss).choice(n,4000,replace=False); xs=x[idx]
        m={}
        for k in range(2,61):
            l=KMeans(k,n_init=3,random_state=ss).fit(xs).labels_; m[k]=silhouette_samples(xs,l,metric='cosine').mean()
        kb=max(m,key=m.get); lab=KMeans(kb,n_init=3,random_state=ss).fit(x).labels_
        res.append(fmt(name,kb,kt,ari(y,lab),ref))
    print(f"== {name} ref {ref:.3f} | k chosen on 4000-row sample (k-means+silhouette on sample), full fit with that k:"," | ".join(res),flush=True)
