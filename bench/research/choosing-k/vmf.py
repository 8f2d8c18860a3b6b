import pathlib; HERE = pathlib.Path(__file__).resolve().parent
exec(open(str(HERE)+'/common2.py').read())
from scipy.special import ive, logsumexp
data=load(sys.argv[1:])
def logC(d,k):
    nu=d/2-1; return nu*np.log(k)-(d/2)*np.log(2*np.pi)-(np.log(ive(nu,k))+k)
def em(x,lab,k,it=15):
    n,d=x.shape; R=np.zeros((n,k)); R[np.arange(n),lab]=1
    for _ in range(it):
        nk=R.sum(0)+1e-10; S=R.T@x; r=np.linalg.norm(S,axis=1); mu=S/r[:,None]
        rb=np.clip(r/nk,1e-6,1-1e-6); kap=rb*(d-rb**2)/(1-rb**2); pi=nk/n
        lp=np.log(pi)+logC(d,kap)+ (x@mu.T)*kap
        ll=logsumexp(lp,axis=1); R=np.exp(lp-ll[:,None])
    ent=-(R*np.log(R+1e-300)).sum()
    return ll.sum(),ent
for name,(x,y) in data.items():
    L,refs,kmax=cache(name); kmax=min(kmax,40); kt=len(set(y)); n,d=x.shape
    out={}
    for s in range(3):
        B={};I={}
        for k in range(2,kmax+1):
            ll,ent=em(x,L[s,k],k); p=k*(d-1)+k+(k-1); B[k]=-2*ll+p*np.log(n); I[k]=B[k]+2*ent
        kb=min(B,key=B.get); ki=min(I,key=I.get)
        out.setdefault('vMF-EM-BIC',[]).append(fmt(name,kb,kt,ari(y,L[s,kb]),refs[s]))
        out.setdefault('vMF-EM-ICL',[]).append(fmt(name,ki,kt,ari(y,L[s,ki]),refs[s]))
    print(f"== {name} true k {kt}")
    for m,r in out.items(): print(f"  {m:12s}"+" | ".join(r))
    sys.stdout.flush()
