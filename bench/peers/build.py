"""Build cost beside faiss: a cold engram `consolidate` into C concepts and faiss
`IndexIVFFlat` train + add with C lists, the same number of Lloyd iterations, on the same data,
in one process, alternating runs; medians and the engram / faiss ratio (issue #20 item 4).

    bench/peers/.venv/bin/python bench/peers/build.py [--data synthetic|lexicon] [--n N]
        [--lists C] [--iters 10] [--repeats 3] [--threads 2]

`synthetic` is `engram.synth(n, 384, clusters=100, seed=0)` (the rows of `bench/peers/`);
`lexicon` is `data/lexicon/vectors.f32`. faiss trains on every row
(`max_points_per_centroid = n`), spherical, as `peers.py` configures it. Also reports each
phase of the cycle (`consolidate(...)["timings"]`) and the mean cosine of the rows to their
list / concept centroid for both.
"""

import argparse
import os
import statistics
import time
from pathlib import Path

ap = argparse.ArgumentParser()
ap.add_argument("--data", default="synthetic", choices=["synthetic", "lexicon"])
ap.add_argument("--n", type=int, default=200_000)
ap.add_argument("--lists", type=int, default=None)
ap.add_argument("--iters", type=int, default=10)
ap.add_argument("--repeats", type=int, default=3)
ap.add_argument("--threads", type=int, default=2)
ap.add_argument("--seed", type=int, default=0)
ARGS = ap.parse_args()
os.environ.setdefault("RAYON_NUM_THREADS", str(ARGS.threads))

import faiss  # noqa: E402
import numpy as np  # noqa: E402

import engram  # noqa: E402

ROOT = Path(__file__).resolve().parents[2]
faiss.omp_set_num_threads(ARGS.threads)

if ARGS.data == "lexicon":
    x = np.fromfile(ROOT / "data" / "lexicon" / "vectors.f32", dtype=np.float32).reshape(-1, 384)
    x = x / np.linalg.norm(x, axis=1, keepdims=True)
    lists = ARGS.lists or 100
else:
    x, _ = engram.synth(ARGS.n, 384, clusters=100, seed=ARGS.seed)
    lists = ARGS.lists or 2000
x = np.ascontiguousarray(x, dtype=np.float32)
n, d = x.shape
cpu = next((ln.split(":", 1)[1].strip() for ln in open("/proc/cpuinfo") if "model name" in ln), "?")
print(f"{ARGS.data}: {n} x {d} into {lists} lists/concepts, {ARGS.iters} Lloyd iterations, "
      f"{ARGS.threads} threads; {cpu}; engram {engram.__file__}", flush=True)


def mean_cos(centroids: np.ndarray) -> float:
    index = faiss.IndexFlatIP(d)
    index.add(np.ascontiguousarray(centroids, dtype=np.float32))
    return float(index.search(x, 1)[0].mean())


def run_engram():
    consolidation = dict(seed=ARGS.seed, clusters=lists, min_coherence=0.0, min_cluster_size=1,
                         max_iter=ARGS.iters)
    mem = engram.Engram(d, backend="cpu", consolidation=consolidation)
    mem.remember_batch(x, timestamps=np.zeros(n, dtype=np.int64))
    t = time.perf_counter()
    report = mem.consolidate(now=1)
    total = time.perf_counter() - t
    cents = np.stack([mem.centroid(c["id"]) for c in mem.concepts()])
    return total, report["timings"], mean_cos(cents)


def run_faiss():
    quantizer = faiss.IndexFlatIP(d)
    ivf = faiss.IndexIVFFlat(quantizer, d, lists, faiss.METRIC_INNER_PRODUCT)
    ivf.cp.max_points_per_centroid = n  # train on every point
    ivf.cp.min_points_per_centroid = 1
    ivf.cp.spherical = True
    ivf.cp.seed = ARGS.seed
    ivf.cp.niter = ARGS.iters
    t = time.perf_counter()
    ivf.train(x)
    t_train = time.perf_counter() - t
    ivf.add(x)
    total = time.perf_counter() - t
    return total, t_train, mean_cos(quantizer.reconstruct_n(0, lists))


eng, fai = [], []
for r in range(ARGS.repeats):
    for lib in (("engram", "faiss") if r % 2 == 0 else ("faiss", "engram")):
        if lib == "engram":
            total, tm, cos = run_engram()
            eng.append(total)
            phases = ", ".join(f"{k} {v:.2f}" for k, v in tm.items() if v is not None and k != "total")
            print(f"  engram consolidate {total:.2f} s ({phases}); mean cosine {cos:.5f}", flush=True)
        else:
            total, t_train, cos = run_faiss()
            fai.append(total)
            print(f"  faiss train + add {total:.2f} s (train {t_train:.2f}, add {total - t_train:.2f});"
                  f" mean cosine {cos:.5f}", flush=True)
e, f = statistics.median(eng), statistics.median(fai)
print(f"median over {ARGS.repeats}: engram {e:.2f} s, faiss {f:.2f} s, ratio {e / f:.2f}", flush=True)
