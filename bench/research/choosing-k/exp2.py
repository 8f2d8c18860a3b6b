import pathlib; HERE = pathlib.Path(__file__).resolve().parent
import numpy as np, warnings
warnings.filterwarnings("ignore")
from sklearn.cluster import KMeans
from sklearn.metrics import adjusted_rand_score as ari, silhouette_samples
exec(open(str(HERE)+'/common.py').read())
def simp_sil(x,C):
    s=x@C.T
    top2=np.sort(s,axis=1)[:,-2:]
    a=1-top2[:,1]; b=1-top2[:,0]
    v=(b-a)/np.maximum(np.maximum(a,b),1e-12)
    return v.mean(), v.std()/np.sqrt(len(v)), s.argmax(1)
def centroids(x,lab,k):
    C=np.zeros((k,x.shape[1]))
    np.add.at(C,lab,x); return C/np.maximum(np.linalg.norm(C,axis=1,keepdims=True),1e-12)
data=load()
for name,(x,y) in data.items():
    n=len(x); kt=len(set(y)); kmax=min(int(np.ceil(2*np.sqrt(n))),60)
    ref=ari(y,KMeans(kt,n_init=10,random_state=0).fit(x).labels_)
    full=[];simp=[]
    labs={}
    for k in range(2,kmax+1):
        km=KMeans(k,n_init=3,random_state=0).fit(x); l=km.labels_; labs[k]=l
        sv=silhouette_samples(x,l,metric='cosine'); full.append((sv.mean(),sv.std()/np.sqrt(n),k))
        m,se,_=simp_sil(x,centroids(x,l,k)); simp.append((m,se,k))
    def pick(lst):
        best=max(lst); k1=best[2]
        kse=min(k for m,se,k in lst if m>=best[0]-best[1])
        return k1,kse
    f1,fse=pick(full); s1,sse=pick(simp)
    print(f"{name}: true {kt} ref {ref:.3f} | sil max k={f1} {ari(y,labs[f1]):.3f}, 1SE k={fse} {ari(y,labs[fse]):.3f} | simplified max k={s1} {ari(y,labs[s1]):.3f}, 1SE k={sse} {ari(y,labs[sse]):.3f}",flush=True)
