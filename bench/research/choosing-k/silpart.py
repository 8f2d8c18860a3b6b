import pathlib; HERE = pathlib.Path(__file__).resolve().parent
exec(open(str(HERE)+'/common2.py').read())
from sklearn.metrics import silhouette_samples
KM=30; R=10
data=load(sys.argv[1:])
for name,(x,y) in data.items():
    L,refs,kmax=cache(name); kt=len(set(y)); kmax=min(kmax,KM); n=len(x)
    outA=[];outB=[]
    for s in range(3):
        best=(-9,None,None); bestk={}
        for k in range(2,kmax+1):
            runs=[]
            for r in range(R):
                km=KMeans(k,n_init=1,random_state=1000*s+r).fit(x)
                sv=silhouette_samples(x,km.labels_,metric='cosine').mean(); runs.append((km.inertia_,sv,km.labels_))
            lo=min(runs,key=lambda t:t[0]); bestk[k]=lo   # best objective partition (= n_init=10)
            hs=max(runs,key=lambda t:t[1])
            if hs[1]>best[0]: best=(hs[1],k,hs[2])
        kA=max(bestk,key=lambda k:bestk[k][1])
        outA.append(fmt(name,kA,kt,ari(y,bestk[kA][2]),refs[s]))
        outB.append(fmt(name,best[1],kt,ari(y,best[2]),refs[s]))
    print(f"== {name} refs {np.round(refs,3)}\n  sil-max, best-inertia of 10 per k: "+" | ".join(outA)+"\n  sil-max over all 10xk partitions:  "+" | ".join(outB),flush=True)
