import pathlib; HERE = pathlib.Path(__file__).resolve().parent
exec(open(str(HERE)+'/common2.py').read())
KM=40; B=10
data=load(sys.argv[1:] or None)
for name,(x,y) in data.items():
    L,refs,kmax=cache(name); kmax=min(kmax,KM); kt=len(set(y)); n,d=x.shape
    rng=np.random.default_rng(0)
    # references
    mu=x.mean(0); U,s,Vt=np.linalg.svd(x-mu,full_matrices=False); z=(x-mu)@Vt.T; lo,hi=z.min(0),z.max(0)
    refsets={'sphere':[unit(rng.normal(size=(n,d))) for _ in range(B)],
             'pcbox':[unit(rng.uniform(lo,hi,size=(n,len(lo)))@Vt+mu) for _ in range(B)]}
    logWref={r:np.array([[np.log(Wk(R,KMeans(k,n_init=1,random_state=b).fit(R).labels_,k)) for k in range(2,kmax+1)] for b,R in enumerate(Rs)]) for r,Rs in refsets.items()}
    out={}
    for s in range(3):
        lw=np.array([np.log(Wk(x,L[s,k],k)) for k in range(2,kmax+1)])
        for r,lr in logWref.items():
            gap=lr.mean(0)-lw; sk=lr.std(0)*np.sqrt(1+1/B); ks=np.arange(2,kmax+1)
            cand=[ks[i] for i in range(len(ks)-1) if gap[i]>=gap[i+1]-sk[i+1]]
            k1=cand[0] if cand else kmax; kmx=ks[gap.argmax()]
            out.setdefault(f'gap-{r}-1SE',[]).append(fmt(name,k1,kt,ari(y,L[s,k1]),refs[s]))
            out.setdefault(f'gap-{r}-max',[]).append(fmt(name,kmx,kt,ari(y,L[s,kmx]),refs[s]))
    print(f"== {name} true k {kt} refs {np.round(refs,3)}")
    for m,r in out.items(): print(f"  {m:18s}"+" | ".join(r))
    sys.stdout.flush()
