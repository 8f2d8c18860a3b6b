import pathlib; HERE = pathlib.Path(__file__).resolve().parent
exec(open(str(HERE)+'/common2.py').read())
from sklearn.metrics import silhouette_samples
data=load(sys.argv[1:])
for name,(x,y) in data.items():
    L,refs,kmax=cache(name); kt=len(set(y)); kmax=min(kmax,40)
    out={}
    for s in range(3):
        for met in ('euclidean','sqeuclidean'):
            m={k:silhouette_samples(x,L[s,k],metric=met).mean() for k in range(2,kmax+1)}
            kb=max(m,key=m.get); out.setdefault('sil-'+met,[]).append(fmt(name,kb,kt,ari(y,L[s,kb]),refs[s]))
    print(f"== {name}"); [print(f"  {a:16s}"+" | ".join(r)) for a,r in out.items()]
    sys.stdout.flush()
