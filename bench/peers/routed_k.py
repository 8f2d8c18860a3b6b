"""Large k on batches (issue #20 item 7): a batch of 1,000 queries with k = 128 against k = 10,
through the concept index (`search_semantic_batch`) and exactly (`search_batch`), on the
lexicon vectors and on overlapping synthetic clusters. Runs alternate k = 10 / 128 and their
order; medians of 5. Run from the repository root with the engram wheel installed (e.g.
bench/peers/.venv after bench/peers/run.sh):

    RAYON_NUM_THREADS=2 bench/peers/.venv/bin/python bench/peers/routed_k.py
"""
import time, statistics, numpy as np, engram, os, platform
def unit(x): return x / np.linalg.norm(x, axis=1, keepdims=True)
lex = unit(np.fromfile("data/lexicon/vectors.f32", dtype=np.float32).reshape(-1, 384))
xo, _ = engram.synth(101_000, 384, clusters=200, seed=7, sigma2=2.0/384, zipf=1.0)
for name, x, q, nl, probes in (("lexicon 10k, 100 lists", lex, lex[::10][:1000], 100, 8),
                          ("overlapping synthetic 100k, 200 lists", xo[:100_000], xo[100_000:], 200, 16)):
    mem = engram.Engram(384, backend="cpu", consolidation=dict(seed=7, clusters=nl, min_coherence=0.0, min_cluster_size=1, max_iter=10))
    mem.remember_batch(np.ascontiguousarray(x), timestamps=np.zeros(len(x), dtype=np.int64))
    mem.consolidate(now=1)
    q = np.ascontiguousarray(q)
    res = {}
    for rnd in range(5):
        for k in ((10, 128) if rnd % 2 == 0 else (128, 10)):
            t = time.perf_counter(); mem.search_semantic_batch(q, k, probes=probes); dt = time.perf_counter() - t
            res.setdefault(k, []).append(dt)
    for kind in ("exact",):
        pass
    ex = {}
    for rnd in range(5):
        for k in ((10, 128) if rnd % 2 == 0 else (128, 10)):
            t = time.perf_counter(); mem.search_batch(q, k); dt = time.perf_counter() - t
            ex.setdefault(k, []).append(dt)
    m = {k: statistics.median(v) * 1e3 for k, v in res.items()}
    e = {k: statistics.median(v) * 1e3 for k, v in ex.items()}
    print(f"{name}: routed batch (1,000 q, probes {probes}) k=10 {m[10]:.1f} ms, k=128 {m[128]:.1f} ms, ratio {m[128]/m[10]:.2f}; exact batch k=10 {e[10]:.1f} ms, k=128 {e[128]:.1f} ms, ratio {e[128]/e[10]:.2f}")
