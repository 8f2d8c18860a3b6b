import pathlib; HERE = pathlib.Path(__file__).resolve().parent
import numpy as np
D=str(HERE.parents[2]/'data')
def unit(x): return x/np.linalg.norm(x,axis=1,keepdims=True)
def syn(d,k=20,n=2000,s2=1.0,zipf=False,seed=3):
    rng=np.random.default_rng(seed)
    mu=unit(rng.normal(size=(k,d)))
    if zipf:
        p=1/np.arange(1,k+1); p/=p.sum(); lab=rng.choice(k,n,p=p)
    else: lab=rng.integers(0,k,n)
    x=unit(mu[lab]+rng.normal(size=(n,d))*np.sqrt(s2/d)); return x,lab
def load(which=None):
    out={}
    x=np.fromfile(f'{D}/categories/vectors.f32',dtype='<f4').reshape(-1,384); y=np.fromfile(f'{D}/categories/labels.i32',dtype='<i4'); out['categories']=(unit(x.astype(np.float64)),y)
    x=np.fromfile(f'{D}/digits/pixels.f32',dtype='<f4').reshape(-1,64); y=np.fromfile(f'{D}/digits/labels.i32',dtype='<i4'); out['digits']=(unit(x.astype(np.float64)),y)
    x=np.fromfile(f'{D}/drm/vectors.f32',dtype='<f4').reshape(-1,384); y=np.repeat(np.arange(12),16); out['drm']=(unit(x.astype(np.float64)),y)
    for d in (32,48,64,128): out[f'syn{d}']=syn(d)
    out['syn32v2']=syn(32,s2=2.0); out['syn64v2']=syn(64,s2=2.0)
    out['syn64zipf']=syn(64,zipf=True)
    if which: out={k:v for k,v in out.items() if k in which}
    return out
