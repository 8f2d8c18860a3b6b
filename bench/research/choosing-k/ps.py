import pathlib; HERE = pathlib.Path(__file__).resolve().parent
exec(open(str(HERE)+'/common2.py').read())
KM=40; R=5
data=load(sys.argv[1:] or None)
def pstrength(x,k,rng):
    n=len(x); vals=[]
    for r in range(R):
        p=rng.permutation(n); A=x[p[:n//2]]; Bx=x[p[n//2:]]
        ka=KMeans(k,n_init=3,random_state=r).fit(A); kb=KMeans(k,n_init=3,random_state=r).fit(Bx)
        pa=ka.predict(Bx); lb=kb.labels_
        ps=[]
        for j in range(k):
            m=lb==j; nj=m.sum()
            if nj<2: continue
            c=np.bincount(pa[m],minlength=k); ps.append(((c*(c-1)).sum())/(nj*(nj-1)))
        vals.append(min(ps))
    return np.mean(vals), np.std(vals)/np.sqrt(R)
for name,(x,y) in data.items():
    L,refs,kmax=cache(name); kmax=min(kmax,KM); kt=len(set(y))
    out={}
    curves=[]
    for s in range(3):
        rng=np.random.default_rng(s)
        ps={k:pstrength(x,k,rng) for k in range(2,kmax+1)}
        curves.append(ps)
        for th in (0.8,0.9):
            ok=[k for k in ps if ps[k][0]>=th]; k1=max(ok) if ok else 1
            # also with 1-SE: largest k with ps+se>=th (T&W sec 5)
            ok2=[k for k in ps if ps[k][0]+ps[k][1]>=th]; k2=max(ok2) if ok2 else 1
            for lab_,kk in ((f'PS{th}',k1),(f'PS{th}+1SE',k2)):
                out.setdefault(lab_,[]).append(fmt(name,kk,kt,ari(y,L[s,kk]) if kk>=2 else 0.0,refs[s]))
    print(f"== {name} true k {kt} refs {np.round(refs,3)}")
    for m,r in out.items(): print(f"  {m:14s}"+" | ".join(r))
    print("  PS s0:"," ".join(f"{k}:{v[0]:.2f}" for k,v in curves[0].items()))
    sys.stdout.flush()
