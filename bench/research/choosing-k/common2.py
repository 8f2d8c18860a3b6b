import pathlib; HERE = pathlib.Path(__file__).resolve().parent
import numpy as np, sys, warnings
warnings.filterwarnings("ignore")
from sklearn.cluster import KMeans
from sklearn.metrics import adjusted_rand_score as ari
sys.path.insert(0,str(HERE)); from data2 import load, unit
def fmt(name,k,kt,a,ref):
    okk=abs(k-kt)<=0.25*kt; oka=a>=0.95*ref
    return f"{k:3d} {a:.3f}{'' if okk else 'K'}{'' if oka else 'A'}"
def cache(name):
    c=np.load(f'{HERE}/cache/{name}.npz'); return c['L'],c['refs'],int(c['kmax'])
def Wk(x,lab,k):
    S=np.zeros((k,x.shape[1])); np.add.at(S,lab,x); return len(x)-np.linalg.norm(S,axis=1).sum()
