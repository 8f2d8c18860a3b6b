import pathlib; HERE = pathlib.Path(__file__).resolve().parent
exec(open(str(HERE)+'/common2.py').read())
data=load(sys.argv[1:] or None)
for name,(x,y) in data.items():
    L,refs,kmax=cache(name); kt=len(set(y)); n,d=x.shape
    ev=np.linalg.svd(x-x.mean(0),compute_uv=False)**2; peff=ev.sum()**2/(ev**2).sum()
    out={}
    for s in range(3):
        ks=np.arange(2,kmax+1); W=np.array([Wk(x,L[s,k],k) for k in ks])
        for pname,p in (('d',d),('peff',peff)):
            dist=W/(n*p)
            W1=n-np.linalg.norm(x.sum(0)); lT=-p/2*np.log(np.concatenate([[W1/(n*p)],dist])); T=np.exp(lT-lT.max()); J=np.diff(T); kj=ks[J.argmax()]
            out.setdefault(f'jump-{pname}',[]).append(fmt(name,kj,kt,ari(y,L[s,kj]),refs[s]))
            # KL index
            Wall=np.concatenate([[W1],W]); kk=np.arange(1,kmax+1)
            diff=(kk[:-1]**(2/p))*Wall[:-1]-(kk[1:]**(2/p))*Wall[1:]  # DIFF(k+1) for k+1=2..kmax
            KL=np.abs(diff[:-1])/np.maximum(np.abs(diff[1:]),1e-300)   # KL(k) for k=2..kmax-1
            kkl=2+int(KL.argmax())
            out.setdefault(f'KL-{pname}',[]).append(fmt(name,kkl,kt,ari(y,L[s,kkl]),refs[s]))
        H=(W[:-1]/W[1:]-1)*(n-ks[:-1]-1); ok=[k for k,h in zip(ks[:-1],H) if h<=10]; kh=ok[0] if ok else kmax
        out.setdefault('Hartigan10',[]).append(fmt(name,kh,kt,ari(y,L[s,kh]),refs[s]))
    print(f"== {name} true k {kt} peff {peff:.1f}")
    for mm,r in out.items(): print(f"  {mm:12s}"+" | ".join(r))
