import pathlib; HERE = pathlib.Path(__file__).resolve().parent
import numpy as np, sys, time, warnings, os
warnings.filterwarnings("ignore")
from sklearn.cluster import KMeans
from sklearn.metrics import adjusted_rand_score as ari
sys.path.insert(0,str(HERE)); from data2 import load
data=load(sys.argv[1:] or None)
for name,(x,y) in data.items():
    n=len(x); kt=len(set(y)); kmax=min(int(np.ceil(2*np.sqrt(n))),60)
    t=time.time()
    refs=[ari(y,KMeans(kt,n_init=10,random_state=s).fit(x).labels_) for s in range(3)]
    L=np.zeros((3,kmax+1,n),np.int16)
    for s in range(3):
        for k in range(2,kmax+1):
            L[s,k]=KMeans(k,n_init=3,random_state=s).fit(x).labels_
    np.savez(f'{HERE}/cache/{name}.npz',L=L,refs=np.array(refs),kmax=kmax)
    print(name,n,kt,kmax,'ref',np.round(refs,3),f'{time.time()-t:.0f}s',flush=True)
