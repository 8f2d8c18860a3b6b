import pathlib; HERE = pathlib.Path(__file__).resolve().parent
exec(open(str(HERE)+'/common2.py').read())
import math
exec(open(str(HERE)+'/rec_obj.py').read().split("which=sys.argv[1]")[0].split("from data2 import syn")[1])
X,Y=load(['categories'])['categories']
rng0=np.random.default_rng(42)
for kk in (6,8,10,12,14):
    cats=rng0.choice(16,kk,replace=False); m=np.isin(Y,cats); x=X[m]; y=Y[m]; n=len(x)
    refs=[ari(y,KMeans(kk,n_init=10,random_state=s).fit(x).labels_) for s in range(3)]
    KHI=min(math.ceil(2*math.sqrt(n)),60); res=[]
    for ss in range(3):
        xs=x.astype(np.float32); D=1-xs@xs.T; best=(-9,0,None)
        for k in range(2,KHI+1):
            runs=[KMeans(k,n_init=1,random_state=ss*100+r,max_iter=50).fit(xs) for r in range(10)]
            km=min(runs,key=lambda q:q.inertia_); s_=sil_D(D,km.labels_)
            if s_>best[0]: best=(s_,k,km.labels_)
        res.append(fmt('c',best[1],kk,ari(y,best[2]),refs[ss]))
    print(f"categories subset k={kk} {sorted(cats.tolist())} refs {np.round(refs,3)}:"," | ".join(res),flush=True)
