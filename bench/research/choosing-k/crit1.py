import pathlib; HERE = pathlib.Path(__file__).resolve().parent
import numpy as np, sys, warnings
warnings.filterwarnings("ignore")
from sklearn.metrics import adjusted_rand_score as ari, silhouette_samples, calinski_harabasz_score as ch, davies_bouldin_score as db
sys.path.insert(0,str(HERE)); from data2 import load
data=load()
def fmt(name,k,kt,a,ref):
    okk=abs(k-kt)<=0.25*kt; oka=a>=0.95*ref if not name.startswith('syn') else (a>=0.95*ref)
    return f"{k:3d} {a:.3f}{'' if okk else 'K'}{'' if oka else 'A'}"
for name,(x,y) in data.items():
    c=np.load(f'{HERE}/cache/{name}.npz'); L=c['L']; refs=c['refs']; kmax=int(c['kmax']); kt=len(set(y)); n=len(x)
    rows={}
    for s in range(3):
        S={}; C={}; B={}
        for k in range(2,kmax+1):
            S[k]=silhouette_samples(x,L[s,k],metric='cosine'); C[k]=ch(x,L[s,k]); B[k]=db(x,L[s,k])
        ks=list(S); m=np.array([S[k].mean() for k in ks]); kb=ks[m.argmax()]
        se=np.array([S[k].std()/np.sqrt(n) for k in ks])
        k1se=min(k for k,mm in zip(ks,m) if mm>=m.max()-se[m.argmax()])
        # paired: d_i = s_i(k*) - s_i(k); smallest k with mean(d) <= SE(d) (not sig worse at 1 SE) / 2 SE
        kp1=min(k for k in ks if (S[kb]-S[k]).mean()<= (S[kb]-S[k]).std()/np.sqrt(n)+1e-12)
        kp2=min(k for k in ks if (S[kb]-S[k]).mean()<= 1.96*(S[kb]-S[k]).std()/np.sqrt(n)+1e-12)
        kch=max(C,key=C.get); kdb=min(B,key=B.get)
        for meth,k in [('sil-max',kb),('sil-1SE',k1se),('sil-paired1SE',kp1),('sil-paired1.96',kp2),('CH',kch),('DB',kdb)]:
            rows.setdefault(meth,[]).append(fmt(name,k,kt,ari(y,L[s,k]),refs[s]))
    print(f"== {name} true k {kt} refs {np.round(refs,3)}")
    for meth,r in rows.items(): print(f"  {meth:16s}"+" | ".join(r))
    print("  sil curve s0:",' '.join(f"{k}:{S[k].mean():.3f}" for k in range(2,min(kmax,30)+1)),flush=True)
