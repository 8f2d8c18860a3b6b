import pathlib; HERE = pathlib.Path(__file__).resolve().parent
import numpy as np
D=str(HERE.parents[2]/'data')
def unit(x): return x/np.linalg.norm(x,axis=1,keepdims=True)
def load():
    out={}
    x=np.fromfile(f'{D}/categories/vectors.f32',dtype='<f4').reshape(-1,384); y=np.fromfile(f'{D}/categories/labels.i32',dtype='<i4'); out['categories']=(unit(x),y)
    x=np.fromfile(f'{D}/digits/pixels.f32',dtype='<f4').reshape(-1,64); y=np.fromfile(f'{D}/digits/labels.i32',dtype='<i4'); out['digits']=(unit(x),y)
    x=np.fromfile(f'{D}/drm/vectors.f32',dtype='<f4').reshape(-1,384); y=np.repeat(np.arange(12),16); out['drm']=(unit(x),y)
    for d,k in [(32,20),(64,20)]:
        rng=np.random.default_rng(3); n=2000
        mu=unit(rng.normal(size=(k,d))); lab=rng.integers(0,k,n)
        x=unit(mu[lab]+rng.normal(size=(n,d))*np.sqrt(1/d)); out[f'syn{d}']=(x,lab)
    return out
