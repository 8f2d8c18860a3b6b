import pathlib; HERE = pathlib.Path(__file__).resolve().parent
exec(open(str(HERE)+'/common2.py').read())
KM=30; R=20
data=load(sys.argv[1:])
for name,(x,y) in data.items():
    L,refs,kmax=cache(name); kmax=min(kmax,KM); kt=len(set(y)); n=len(x)
    out={}; cur={}
    for s in range(3):
        rng=np.random.default_rng(s); P={}
        for k in range(2,kmax+1):
            C=np.zeros((n,n),np.float32); Nn=np.zeros((n,n),np.float32)
            for r in range(R):
                idx=rng.choice(n,int(0.8*n),replace=False)
                l=KMeans(k,n_init=1,random_state=int(rng.integers(1<<30))).fit(x[idx]).labels_
                oh=np.zeros((len(idx),k),np.float32); oh[np.arange(len(idx)),l]=1
                C[np.ix_(idx,idx)]+=oh@oh.T; Nn[np.ix_(idx,idx)]+=1
            M=C[np.triu_indices(n,1)]/np.maximum(Nn[np.triu_indices(n,1)],1)
            P[k]=((M>0.1)&(M<0.9)).mean()
        if s==0: cur=P
        kp=min(P,key=P.get)
        out.setdefault('PAC(0.1,0.9)-argmin',[]).append(fmt(name,kp,kt,ari(y,L[s,kp]),refs[s]))
    print(f"== {name} true k {kt} refs {np.round(refs,3)}")
    for m,r in out.items(): print(f"  {m:20s}"+" | ".join(r))
    print("  s0 PAC:"," ".join(f"{k}:{v:.3f}" for k,v in cur.items()),flush=True)
