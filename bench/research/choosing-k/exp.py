import pathlib; HERE = pathlib.Path(__file__).resolve().parent
import numpy as np, json, sys, time
from sklearn.cluster import KMeans
from sklearn.metrics import adjusted_rand_score as ari, silhouette_score
from scipy.stats import anderson
from scipy.special import ive
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
def skm(x,k,seed=0,n_init=3):
    km=KMeans(k,n_init=n_init,random_state=seed).fit(x); return km.labels_
def vmf_loglik(x,lab,k):
    n,d=x.shape; ll=0; R=0
    for c in range(k):
        m=lab==c
        if m.sum()==0: continue
        s=x[m].sum(0); R+=np.linalg.norm(s)
    rbar=R/n; kappa=rbar*(d-rbar**2)/(1-rbar**2)
    # log C_d(kappa)
    nu=d/2-1
    logC=nu*np.log(kappa)-(d/2)*np.log(2*np.pi)-(np.log(ive(nu,kappa))+kappa)
    ll=kappa*R+n*logC
    for c in range(k):
        nc=(lab==c).sum()
        if nc: ll+=nc*np.log(nc/n)
    return ll
def bic(x,lab,k):
    n,d=x.shape; p=k*(d-1)+1+(k-1)
    return -2*vmf_loglik(x,lab,k)+p*np.log(n)
def gmeans(x,alpha_crit=None,seed=0,maxk=200):
    # recursive split with Anderson-Darling at the strictest tabulated level (1%)
    clusters=[np.arange(len(x))]; final=[]
    while clusters:
        idx=clusters.pop()
        if len(idx)<8 or len(final)+len(clusters)>=maxk: final.append(idx); continue
        km=KMeans(2,n_init=3,random_state=seed).fit(x[idx])
        v=km.cluster_centers_[0]-km.cluster_centers_[1]
        proj=x[idx]@v/ (v@v)
        proj=(proj-proj.mean())/proj.std()
        r=anderson(proj)
        if r.statistic> r.critical_values[-1]:
            clusters.append(idx[km.labels_==0]); clusters.append(idx[km.labels_==1])
        else: final.append(idx)
    lab=np.empty(len(x),int)
    for i,f in enumerate(final): lab[f]=i
    return lab,len(final)
data=load()
for name,(x,y) in data.items():
    n=len(x); kt=len(set(y)); kmax=min(int(np.ceil(2*np.sqrt(n))),60)
    ref=ari(y,KMeans(kt,n_init=10,random_state=0).fit(x).labels_)
    res={}
    sil=[];bics=[]
    labs={}
    for k in range(2,kmax+1):
        l=skm(x,k); labs[k]=l
        sil.append((silhouette_score(x,l,metric='cosine'),k)); bics.append((bic(x,l,k),k))
    ks=max(sil)[1]; kb=min(bics)[1]
    lg,kg=gmeans(x)
    print(f"{name}: n={n} true k={kt} sklearn(k,10) ARI={ref:.3f} | silhouette k={ks} ARI={ari(y,labs[ks]):.3f} | vMF-BIC k={kb} ARI={ari(y,labs[kb]):.3f} | G-means k={kg} ARI={ari(y,lg):.3f}",flush=True)
