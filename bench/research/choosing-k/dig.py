import pathlib; HERE = pathlib.Path(__file__).resolve().parent
exec(open(str(HERE)+'/common2.py').read())
from sklearn.metrics import silhouette_samples
data=load(['digits'])
x,y=data['digits']; L,refs,kmax=cache('digits'); n=len(x)
for s in range(3):
    S={k:silhouette_samples(x,L[s,k],metric='cosine') for k in range(6,20)}
    kb=max(S,key=lambda k:S[k].mean())
    print(s,' '.join(f"{k}:{S[k].mean():.3f}±{(S[kb]-S[k]).std()/np.sqrt(n):.3f}/{ari(y,L[s,k]):.2f}" for k in S))
