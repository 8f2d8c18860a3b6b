#!/usr/bin/env python3
"""engram beside its peers, in one process, on the same data.

    bench/peers/run.sh [--quick]              # venv + requirements + engram wheel, then this
    python bench/peers/peers.py [--quick] [--threads 2] [--out bench/results]

Writes ``peers.md`` and ``peers.json`` (``peers-quick-smoke.*`` with ``--quick``) into
``--out``. Every figure is measured in the run; nothing is copied in from elsewhere.

1. Exact top-10 search, 1 query and a batch of queries: engram ``search`` / ``search_batch``
   vs faiss ``IndexFlatIP`` vs numpy (``X @ q`` + ``argpartition``), on synthetic unit vectors
   (uniform on the sphere) and on the lexicon's real MiniLM word vectors. Each result is
   checked against an exact float64 numpy reference (recall@10, ties counted as hits).
2. k-means: seconds per Lloyd iteration from the same initial centroids (engram
   ``kmeans_fit`` vs faiss ``Kmeans`` vs scikit-learn ``KMeans``), and ARI against the true
   labels with each library's own initialisation (1 and 10 initialisations), on a synthetic
   mixture on the sphere (``engram.synth``), on handwritten digits and on the categories set.
3. Concept-routed search (engram ``consolidate`` + ``search_semantic(q, k, probes)``) vs
   faiss ``IndexIVFFlat`` with as many lists as engram has concepts: recall@10 and µs per
   query over a sweep of probes, and the latency of each at matched recall (linear
   interpolation between the two sweep points around the target recall).
"""

from __future__ import annotations

import argparse
import os
import sys


def parse_args() -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--quick", action="store_true", help="small sizes (a smoke run, < 2 min)")
    p.add_argument("--threads", type=int, default=2, help="threads for every library [2]")
    p.add_argument("--out", default=None, help="output directory [bench/results]")
    p.add_argument("--seed", type=int, default=7, help="seed of every random choice [7]")
    p.add_argument("--data", default=None, help="data directory [the repository's data/]")
    p.add_argument(
        "--only",
        default="search,kmeans,routed",
        help="comma-separated sections to run: search, kmeans, routed [all]",
    )
    return p.parse_args()


ARGS = parse_args()
# Thread counts are read when the libraries load: set them before importing any of them.
for _var in (
    "OMP_NUM_THREADS",
    "OPENBLAS_NUM_THREADS",
    "MKL_NUM_THREADS",
    "BLIS_NUM_THREADS",
    "VECLIB_MAXIMUM_THREADS",
    "NUMEXPR_NUM_THREADS",
    "RAYON_NUM_THREADS",  # engram's thread pool
):
    os.environ[_var] = str(ARGS.threads)
os.environ.setdefault("ENGRAM_BACKEND", "cpu")

import datetime as dt  # noqa: E402
import json  # noqa: E402
import platform  # noqa: E402
import statistics  # noqa: E402
import subprocess  # noqa: E402
import time  # noqa: E402
import warnings  # noqa: E402
from pathlib import Path  # noqa: E402

import faiss  # noqa: E402
import numpy as np  # noqa: E402
import sklearn  # noqa: E402
import threadpoolctl  # noqa: E402
from sklearn.cluster import KMeans  # noqa: E402
from sklearn.metrics import adjusted_rand_score  # noqa: E402

import engram  # noqa: E402

ROOT = Path(__file__).resolve().parents[2]
DATA = Path(ARGS.data) if ARGS.data else ROOT / "data"
K = 10  # top-k of every search
faiss.omp_set_num_threads(ARGS.threads)
threadpoolctl.threadpool_limits(ARGS.threads)
warnings.filterwarnings("ignore", category=UserWarning, module="sklearn")

if ARGS.quick:
    SIZES = dict(
        search_n=20_000,
        search_nq=200,
        single_calls=20,
        batch_repeats=3,
        km_n=10_000,
        km_k=20,
        km_timed_iter=5,
        km_seeds=2,
        km_max_iter=100,
        km_repeats=2,
        ivf_n=20_000,
        ivf_nq=200,
        ivf_nlist=100,
        ivf_lex_nlist=50,
        ivf_repeats=1,
    )
else:
    SIZES = dict(
        search_n=200_000,
        search_nq=1_000,
        single_calls=100,
        batch_repeats=5,
        km_n=200_000,
        km_k=100,
        km_timed_iter=10,
        km_seeds=3,
        km_max_iter=100,
        km_repeats=3,
        ivf_n=200_000,
        ivf_nq=1_000,
        ivf_nlist=1_000,
        ivf_lex_nlist=100,
        ivf_repeats=3,
    )
DIM = 384


def log(*a) -> None:
    print(*a, file=sys.stderr, flush=True)


# --------------------------------------------------------------------------------------------
# machine and data


def machine() -> dict:
    cpu, mem_gib = "unknown", None
    try:
        for line in open("/proc/cpuinfo"):
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
        for line in open("/proc/meminfo"):
            if line.startswith("MemTotal"):
                mem_gib = round(int(line.split()[1]) / 2**20, 1)
    except OSError:
        pass
    try:
        commit = subprocess.run(
            ["git", "-C", str(ROOT), "rev-parse", "--short", "HEAD"],
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
        dirty = (
            subprocess.run(
                ["git", "-C", str(ROOT), "status", "--porcelain"], capture_output=True, text=True
            ).stdout.strip()
            != ""
        )
        commit += " (uncommitted changes)" if dirty else ""
    except (OSError, subprocess.CalledProcessError):
        commit = None
    pools = [
        {k: p.get(k) for k in ("user_api", "internal_api", "prefix", "version", "num_threads")}
        for p in threadpoolctl.threadpool_info()
    ]
    probe = engram.Engram(4, backend="cpu")
    return {
        "date_utc": dt.datetime.now(dt.timezone.utc).strftime("%Y-%m-%d %H:%M:%S"),
        "hostname": platform.node(),
        "cpu": cpu,
        "cores_online": os.cpu_count(),
        "cores_usable": len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else None,
        "memory_gib": mem_gib,
        "load_average_at_start": list(os.getloadavg()),
        "python": platform.python_version(),
        "platform": platform.platform(),
        "git_commit": commit,
        "versions": {
            "engram": engram.__version__,
            "faiss": faiss.__version__,
            "numpy": np.__version__,
            "scikit-learn": sklearn.__version__,
            "threadpoolctl": threadpoolctl.__version__,
        },
        "threads": {
            "requested": ARGS.threads,
            "faiss_omp_max_threads": faiss.omp_get_max_threads(),
            "engram_rayon": os.environ["RAYON_NUM_THREADS"] + " (RAYON_NUM_THREADS)",
            "threadpools": pools,
        },
        "engram_backend": probe.backend,
        "engram_backend_reason": probe.backend_reason,
        "faiss_simd": faiss.get_compile_options()
        if hasattr(faiss, "get_compile_options")
        else None,
    }


def unit(x: np.ndarray) -> np.ndarray:
    x = np.ascontiguousarray(x, dtype=np.float32)
    return x / np.linalg.norm(x, axis=1, keepdims=True)


def sphere(n: int, d: int, seed: int) -> np.ndarray:
    """n rows uniform on the unit sphere (normalised Gaussians), float32."""
    return unit(np.random.default_rng(seed).standard_normal((n, d), dtype=np.float32))


def load_f32(path: Path, cols: int) -> np.ndarray:
    return np.fromfile(path, dtype="<f4").reshape(-1, cols).astype(np.float32)


def load_i32(path: Path) -> np.ndarray:
    return np.fromfile(path, dtype="<i4").astype(np.int64)


# --------------------------------------------------------------------------------------------
# exact reference and recall


def exact_topk(x: np.ndarray, q: np.ndarray, k: int, chunk: int = 16_384):
    """Exact top-k by float64 inner product, x in row chunks: (ids[nq, k], kth score[nq])."""
    q64 = q.astype(np.float64)
    best_s = np.full((len(q), 0), -np.inf)
    best_i = np.zeros((len(q), 0), dtype=np.int64)
    for a in range(0, len(x), chunk):
        s = q64 @ x[a : a + chunk].astype(np.float64).T
        kk = min(k, s.shape[1])
        part = np.argpartition(-s, kk - 1, axis=1)[:, :kk]
        best_s = np.concatenate([best_s, np.take_along_axis(s, part, 1)], axis=1)
        best_i = np.concatenate([best_i, part + a], axis=1)
        if best_s.shape[1] > k:
            keep = np.argpartition(-best_s, k - 1, axis=1)[:, :k]
            best_s = np.take_along_axis(best_s, keep, 1)
            best_i = np.take_along_axis(best_i, keep, 1)
    order = np.argsort(-best_s, axis=1, kind="stable")
    return np.take_along_axis(best_i, order, 1), np.take_along_axis(best_s, order, 1)[:, -1]


def recall_at_k(x: np.ndarray, q: np.ndarray, ref_ids, ref_kth, got) -> dict:
    """recall@k of `got` (row indices, -1 = none): by id against the reference ids, and with
    ties counted (a returned row whose exact float64 score reaches the reference's k-th score
    within 1e-6 is a hit; the lexicon has exact duplicates)."""
    got = np.asarray(got, dtype=np.int64)
    k = ref_ids.shape[1]
    by_id = np.mean(
        [len(set(g[g >= 0].tolist()) & set(r.tolist())) / k for g, r in zip(got, ref_ids)]
    )
    valid = got >= 0
    s = np.einsum("ijk,ik->ij", x[np.where(valid, got, 0)].astype(np.float64), q.astype(np.float64))
    hits = (valid & (s >= ref_kth[:, None] - 1e-6)).sum(axis=1)
    return {"recall_ids": float(by_id), "recall": float(np.mean(np.minimum(hits, k) / k))}


def median_ms(times) -> float:
    return 1e3 * statistics.median(times)


# --------------------------------------------------------------------------------------------
# 1. exact search


def numpy_search_one(x, q, k):
    s = x @ q
    part = np.argpartition(-s, k - 1)[:k]
    return part[np.argsort(-s[part], kind="stable")]


def numpy_search_batch(x, qs, k, block=256):
    out = np.empty((len(qs), k), dtype=np.int64)
    for a in range(0, len(qs), block):
        s = qs[a : a + block] @ x.T
        part = np.argpartition(-s, k - 1, axis=1)[:, :k]
        order = np.argsort(-np.take_along_axis(s, part, 1), axis=1, kind="stable")
        out[a : a + block] = np.take_along_axis(part, order, 1)
    return out


def engram_rows(ids: np.ndarray, id_to_row: np.ndarray) -> np.ndarray:
    """engram ids -> row indices (-1 for the NO_ID padding)."""
    ids = np.asarray(ids)
    ok = ids != np.uint64(engram.NO_ID)
    rows = np.full(ids.shape, -1, dtype=np.int64)
    rows[ok] = id_to_row[ids[ok].astype(np.int64)]
    return rows


def bench_search(name: str, x: np.ndarray, q: np.ndarray, source: str) -> dict:
    n, d = x.shape
    log(f"[search] {name}: {n} x {d}, {len(q)} queries")
    ref_ids, ref_kth = exact_topk(x, q, K)

    mem = engram.Engram(d, backend="cpu")
    ids = mem.remember_batch(x)
    id_to_row = np.full(int(ids.max()) + 1, -1, dtype=np.int64)
    id_to_row[ids.astype(np.int64)] = np.arange(n)
    flat = faiss.IndexFlatIP(d)
    flat.add(x)

    libs = {
        "engram": (
            lambda v: engram_rows(mem.search(v, K)[0], id_to_row)[None, :],
            lambda m: engram_rows(mem.search_batch(m, K)[0], id_to_row),
        ),
        "faiss IndexFlatIP": (
            lambda v: flat.search(v[None, :], K)[1],
            lambda m: flat.search(m, K)[1],
        ),
        "numpy": (
            lambda v: numpy_search_one(x, v, K)[None, :],
            lambda m: numpy_search_batch(x, m, K),
        ),
    }
    singles = min(SIZES["single_calls"], len(q))
    rows = []
    for lib, (one, batch) in libs.items():
        one(q[0])  # warm-up
        t1, got1 = [], []
        for i in range(singles):
            t = time.perf_counter()
            r = one(q[i])
            t1.append(time.perf_counter() - t)
            got1.append(r[0])
        batch(q)  # warm-up
        tb = []
        for _ in range(SIZES["batch_repeats"]):
            t = time.perf_counter()
            gotb = batch(q)
            tb.append(time.perf_counter() - t)
        r1 = recall_at_k(x, q[:singles], ref_ids[:singles], ref_kth[:singles], np.stack(got1))
        rb = recall_at_k(x, q, ref_ids, ref_kth, gotb)
        rows.append(
            {
                "library": lib,
                "single_ms": median_ms(t1),
                "single_calls": singles,
                "batch_ms": median_ms(tb),
                "batch_queries": len(q),
                "batch_repeats": len(tb),
                "batch_us_per_query": median_ms(tb) * 1e3 / len(q),
                "recall_single": r1,
                "recall_batch": rb,
                "agrees": min(r1["recall"], rb["recall"]) >= 0.999,
            }
        )
        log(
            f"  {lib}: 1 query {rows[-1]['single_ms']:.3f} ms, {len(q)} queries "
            f"{rows[-1]['batch_ms']:.1f} ms, recall {r1['recall']:.4f}/{rb['recall']:.4f}"
        )
    return {
        "data": name,
        "source": source,
        "n": n,
        "dim": d,
        "queries": len(q),
        "k": K,
        "results": rows,
    }


# --------------------------------------------------------------------------------------------
# 2. k-means


def faiss_kmeans(x, k, spherical, seed, niter, nredo=1):
    km = faiss.Kmeans(
        x.shape[1],
        k,
        niter=niter,
        nredo=nredo,
        spherical=spherical,
        seed=seed,
        max_points_per_centroid=len(x),
        min_points_per_centroid=1,
        verbose=False,
    )
    return km


def bench_kmeans(name: str, x: np.ndarray, y: np.ndarray, k: int, metric: str, source: str) -> dict:
    n, d = x.shape
    spherical = metric == "spherical"
    log(f"[k-means] {name}: {n} x {d}, k = {k}, {metric}")
    rng = np.random.default_rng(ARGS.seed)
    c0 = np.ascontiguousarray(x[rng.choice(n, size=k, replace=False)])
    t_iter = SIZES["km_timed_iter"]

    def run_engram():
        r = engram.kmeans_fit(
            x, k, init=c0, max_iter=t_iter, tol=0.0, metric=metric, repair_empty=False
        )
        return r.iterations

    def run_faiss():
        km = faiss_kmeans(x, k, spherical, ARGS.seed, t_iter)
        km.train(x, init_centroids=c0.copy())
        return t_iter  # faiss always runs niter iterations

    def run_sklearn():
        km = KMeans(
            k,
            init=c0,
            n_init=1,
            max_iter=t_iter,
            tol=0.0,
            algorithm="lloyd",
            random_state=ARGS.seed,
        ).fit(x)
        return int(km.n_iter_)

    per_iter = {}
    for lib, fn in (("engram", run_engram), ("faiss", run_faiss), ("scikit-learn", run_sklearn)):
        fn()  # warm-up
        ts, its = [], []
        for _ in range(SIZES["km_repeats"]):
            t = time.perf_counter()
            it = fn()
            ts.append((time.perf_counter() - t) / max(it, 1))
            its.append(it)
        per_iter[lib] = {"ms_per_iteration": median_ms(ts), "iterations": its}
        log(f"  {lib}: {per_iter[lib]['ms_per_iteration']:.2f} ms / iteration ({its})")

    seeds = [ARGS.seed + i for i in range(SIZES["km_seeds"])]
    mi = SIZES["km_max_iter"]

    def ari_engram(seed, n_init):
        r = engram.kmeans_fit(x, k, seed=seed, max_iter=mi, n_init=n_init, metric=metric)
        return adjusted_rand_score(y, r.labels)

    def ari_faiss(seed, n_init):
        km = faiss_kmeans(x, k, spherical, seed, mi, nredo=n_init)
        km.train(x)
        return adjusted_rand_score(y, km.index.search(x, 1)[1].ravel())

    def ari_sklearn(seed, n_init):
        km = KMeans(k, n_init=n_init, max_iter=mi, random_state=seed).fit(x)
        return adjusted_rand_score(y, km.labels_)

    quality = {}
    for lib, fn in (("engram", ari_engram), ("faiss", ari_faiss), ("scikit-learn", ari_sklearn)):
        aris, secs = [], []
        for s in seeds:
            t = time.perf_counter()
            aris.append(fn(s, 1))
            secs.append(time.perf_counter() - t)
        t = time.perf_counter()
        ari10 = fn(ARGS.seed, 10)
        sec10 = time.perf_counter() - t
        quality[lib] = {
            "ari_n_init_1": aris,
            "ari_n_init_1_mean": float(np.mean(aris)),
            "fit_s_n_init_1_mean": float(np.mean(secs)),
            "ari_n_init_10": float(ari10),
            "fit_s_n_init_10": sec10,
        }
        log(
            f"  {lib}: ARI {np.mean(aris):.4f} (n_init 1, {len(seeds)} seeds), "
            f"{ari10:.4f} (n_init 10)"
        )
    return {
        "data": name,
        "source": source,
        "n": n,
        "dim": d,
        "k": k,
        "metric": metric,
        "timed_iterations": t_iter,
        "timing_repeats": SIZES["km_repeats"],
        "init_for_timing": f"the same {k} rows drawn with numpy seed {ARGS.seed}",
        "seeds": seeds,
        "max_iter": mi,
        "per_iteration": per_iter,
        "quality": quality,
    }


# --------------------------------------------------------------------------------------------
# 3. concept-routed search vs IVF-Flat


def sweep_probes(nlist: int):
    steps = [1, 2, 3, 4, 6, 8, 12, 16, 24, 32, 48, 64, 96, 128, 192, 256]
    return [p for p in steps if p <= nlist]


def at_recall(points, target):
    """Latency at `target` recall: linear interpolation between the last sweep point below it
    and the first at or above it; the first point's latency if already above at the start;
    None if never reached."""
    prev = None
    for p in points:
        if p["recall"] >= target:
            if prev is None or p["recall"] == prev["recall"]:
                return p["us_per_query"], "first sweep point" if prev is None else "sweep point"
            f = (target - prev["recall"]) / (p["recall"] - prev["recall"])
            return prev["us_per_query"] + f * (
                p["us_per_query"] - prev["us_per_query"]
            ), "interpolated"
        prev = p
    return None, "not reached"


INT8_RERANK = 4  # engram int8 lists: k * this many candidates re-scored exactly
IVF_ITER = 10  # Lloyd iterations of both builds (faiss IVF's coarse quantiser: cp.niter)


def bench_ivf(name: str, x: np.ndarray, q: np.ndarray, nlist: int, source: str) -> dict:
    n, d = x.shape
    log(f"[routed] {name}: {n} x {d}, {len(q)} queries, {nlist} concepts / lists")
    ref_ids, ref_kth = exact_topk(x, q, K)

    consolidation = dict(
        seed=ARGS.seed, clusters=nlist, min_coherence=0.0, min_cluster_size=1, max_iter=IVF_ITER
    )
    mem = engram.Engram(d, backend="cpu", consolidation=consolidation)
    ids = mem.remember_batch(x, timestamps=np.zeros(n, dtype=np.int64))
    id_to_row = np.full(int(ids.max()) + 1, -1, dtype=np.int64)
    id_to_row[ids.astype(np.int64)] = np.arange(n)
    t = time.perf_counter()
    report = mem.consolidate(now=1)
    # The concept lists are built by the first semantic search (then kept by consolidation):
    # the build includes them, as faiss's includes `add`.
    lists = mem.concept_list_stats()
    engram_build = time.perf_counter() - t
    phases = dict(report["timings"])
    concepts = mem.concepts()
    n_concepts = len(concepts)
    bound = np.unique(np.concatenate([mem.members(c["id"])[0] for c in concepts]))

    quantizer = faiss.IndexFlatIP(d)
    ivf = faiss.IndexIVFFlat(quantizer, d, n_concepts, faiss.METRIC_INNER_PRODUCT)
    ivf.cp.max_points_per_centroid = n  # train on every point
    ivf.cp.min_points_per_centroid = 1
    ivf.cp.spherical = True
    ivf.cp.seed = ARGS.seed
    ivf.cp.niter = IVF_ITER
    t = time.perf_counter()
    ivf.train(x)
    ivf.add(x)
    faiss_build = time.perf_counter() - t

    core = [0.0]  # seconds inside the Rust core (Engram.last_call_seconds), engram only

    def engram_one(v, p):
        r = engram_rows(mem.search_semantic(v, K, probes=p)[0], id_to_row)
        core[0] += mem.last_call_seconds
        return r

    def faiss_one(v, p):
        ivf.nprobe = p
        return ivf.search(v[None, :], K)[1][0]

    def engram_int8(v, p):
        r = engram_rows(mem.search_semantic_int8(v, K, probes=p, rerank=INT8_RERANK)[0], id_to_row)
        core[0] += mem.last_call_seconds
        return r

    t = time.perf_counter()
    mem.search_semantic_int8(q[0], K, probes=1)  # builds the int8 codes (timed apart)
    int8_build = time.perf_counter() - t
    lists_int8 = mem.concept_list_stats()
    def point(p, passes, got):
        """One sweep point: recall of `got` and the median µs per query of `passes`."""
        rec = recall_at_k(x, q, ref_ids, ref_kth, got)
        return {
            "probes": p,
            "recall": rec["recall"],
            "recall_ids": rec["recall_ids"],
            "us_per_query": 1e6 * statistics.median(passes),
        }

    curves = {}
    for lib, fn in (
        ("engram search_semantic", engram_one),
        ("faiss IndexIVFFlat", faiss_one),
        (f"engram search_semantic_int8 (rerank {INT8_RERANK})", engram_int8),
    ):
        pts = []
        for p in sweep_probes(n_concepts):
            fn(q[0], p)  # warm-up
            passes, cores, got = [], [], None
            for _ in range(SIZES["ivf_repeats"]):
                core[0] = 0.0
                rows = np.full((len(q), K), -1, dtype=np.int64)
                t = time.perf_counter()
                for i in range(len(q)):
                    r = fn(q[i], p)
                    rows[i, : len(r)] = r
                passes.append((time.perf_counter() - t) / len(q))
                cores.append(core[0] / len(q))
                got = rows
            pts.append(point(p, passes, got))
            if lib.startswith("engram"):
                pts[-1]["core_us_per_query"] = 1e6 * statistics.median(cores)
        curves[lib] = pts
        log(
            f"  {lib}: "
            + ", ".join(f"{p['probes']}:{p['recall']:.3f}/{p['us_per_query']:.0f}us" for p in pts)
        )

    # Batches: every query in one call (engram groups the queries by probed list).
    def engram_batch(p):
        return engram_rows(mem.search_semantic_batch(q, K, probes=p)[0], id_to_row)

    def faiss_batch(p):
        ivf.nprobe = p
        return ivf.search(q, K)[1]

    batch_curves = {}
    for lib, fn in (
        ("engram search_semantic_batch", engram_batch),
        ("faiss IndexIVFFlat", faiss_batch),
    ):
        pts = []
        for p in sweep_probes(n_concepts):
            fn(p)  # warm-up
            passes, got = [], None
            for _ in range(SIZES["ivf_repeats"]):
                t = time.perf_counter()
                got = fn(p)
                passes.append((time.perf_counter() - t) / len(q))
            pts.append(point(p, passes, got))
        batch_curves[lib] = pts
        log(
            f"  batch {lib}: "
            + ", ".join(f"{p['probes']}:{p['recall']:.3f}/{p['us_per_query']:.1f}us" for p in pts)
        )

    def matched_at(curves_):
        out_ = []
        for target in (0.9, 0.95, 0.99):
            row = {"target_recall": target}
            for lib, pts in curves_.items():
                us, how = at_recall(pts, target)
                row[lib] = {"us_per_query": us, "how": how}
            out_.append(row)
        return out_

    matched = matched_at(curves)
    return {
        "data": name,
        "source": source,
        "n": n,
        "dim": d,
        "queries": len(q),
        "k": K,
        "requested_concepts": nlist,
        "concepts": n_concepts,
        "episodes_bound": int(len(bound)),
        "consolidation": consolidation,
        "engram_build_s": engram_build,
        "engram_build_phases_s": phases,
        "engram_lists": lists,
        "engram_int8_codes_build_s": int8_build,
        "engram_lists_with_int8": lists_int8,
        "int8_rerank": INT8_RERANK,
        "lloyd_iterations": IVF_ITER,
        "faiss_build_s": faiss_build,
        "faiss_nlist": n_concepts,
        "curves": curves,
        "matched": matched,
        "batch_curves": batch_curves,
        "batch_matched": matched_at(batch_curves),
    }


# --------------------------------------------------------------------------------------------
# report


def fmt(v, spec=".3f"):
    return "—" if v is None else format(v, spec)


def markdown(res: dict) -> str:
    m = res["machine"]
    smoke = " (QUICK SMOKE RUN: small sizes, not the real table)" if res["quick"] else ""
    out = [f"# engram beside its peers{smoke}", ""]
    out.append(
        f"Produced by `bench/peers/run.sh{' --quick' if res['quick'] else ''}` "
        f"(`bench/peers/peers.py`), one process, every figure measured in this run."
    )
    out.append("")
    out.append(
        f"- Machine: {m['cpu']}, {m['cores_usable']} usable cores of {m['cores_online']}, "
        f"{m['memory_gib']} GiB; {m['platform']}; load average at start "
        f"{', '.join(f'{v:.2f}' for v in m['load_average_at_start'])}, at end "
        f"{', '.join(f'{v:.2f}' for v in res['load_average_at_end'])}"
    )
    out.append(f"- Date (UTC): {m['date_utc']}; git {m['git_commit']}; Python {m['python']}")
    out.append("- Versions: " + ", ".join(f"{k} {v}" for k, v in m["versions"].items()))
    th = m["threads"]
    pools = "; ".join(f"{p['prefix']} {p['num_threads']}" for p in th["threadpools"])
    out.append(
        f"- Threads: {th['requested']} for every library — faiss OpenMP "
        f"{th['faiss_omp_max_threads']}, engram rayon {th['engram_rayon']}, "
        f"numpy/scikit-learn thread pools: {pools}"
    )
    out.append(f"- engram backend: {m['engram_backend']} ({m['engram_backend_reason']})")
    out.append(
        f"- Seed {res['seed']}; sizes: " + ", ".join(f"{k}={v}" for k, v in res["sizes"].items())
    )
    out.append("")

    out.append("## 1. Exact top-10 search")
    out.append("")
    out.append(
        "ms per call: 1 query (median of single calls) and a batch of queries (median of "
        "repeats). recall@10 against an exact float64 numpy reference, ties counted as "
        "hits (by id in `peers.json`); ✓ = ≥ 0.999 for both."
    )
    out.append("")
    out.append(
        "| data | library | 1 query, ms | batch, ms | µs / query in batch "
        "| recall@10 (1 / batch) | ok |"
    )
    out.append("|---|---|---:|---:|---:|---:|:-:|")
    for s in res["search"]:
        for r in s["results"]:
            out.append(
                f"| {s['data']} ({s['n']:,} × {s['dim']}, {s['queries']:,} queries) "
                f"| {r['library']} "
                f"| {r['single_ms']:.3f} | {r['batch_ms']:.1f} | {r['batch_us_per_query']:.1f} "
                f"| {r['recall_single']['recall']:.4f} / {r['recall_batch']['recall']:.4f} "
                f"| {'✓' if r['agrees'] else '✗'} |"
            )
    out.append("")
    for s in res["search"]:
        out.append(f"- {s['data']}: {s['source']}")
    out.append("")

    out.append("## 2. k-means: time per Lloyd iteration and ARI")
    out.append("")
    out.append(
        "Time per iteration: each library from the same initial centroids, a fixed "
        "number of iterations (tolerance 0), wall time / iterations run, median of "
        "repeats. ARI against the true labels with each library's own initialisation "
        "(engram k-means‖, faiss random rows, scikit-learn k-means++), mean over the "
        "seeds with 1 initialisation, and one run with 10 (faiss `nredo=10`). "
        "faiss trains on every point (`max_points_per_centroid = n`). scikit-learn is "
        "always Euclidean (on unit vectors it ranks like the spherical objective)."
    )
    out.append("")
    out.append(
        "| data | k | metric | library | ms / iteration | ARI, n_init 1 (mean) "
        "| ARI, n_init 10 | fit s, n_init 1 |"
    )
    out.append("|---|---:|---|---|---:|---:|---:|---:|")
    for s in res["kmeans"]:
        for lib in ("engram", "faiss", "scikit-learn"):
            pi, q = s["per_iteration"][lib], s["quality"][lib]
            out.append(
                f"| {s['data']} ({s['n']:,} × {s['dim']}) | {s['k']} | {s['metric']} | {lib} "
                f"| {pi['ms_per_iteration']:.2f} | {q['ari_n_init_1_mean']:.4f} "
                f"| {q['ari_n_init_10']:.4f} | {q['fit_s_n_init_1_mean']:.2f} |"
            )
    out.append("")
    for s in res["kmeans"]:
        out.append(
            f"- {s['data']}: {s['source']}; timing over {s['timed_iterations']} iterations × "
            f"{s['timing_repeats']} repeats from {s['init_for_timing']}; ARI seeds "
            f"{s['seeds']}, max_iter {s['max_iter']}"
        )
    out.append("")

    out.append("## 3. Concept-routed search vs IVF-Flat")
    out.append("")
    out.append(
        "engram: `consolidate` into concepts (k given, every cluster kept: "
        "`min_coherence=0`, `min_cluster_size=1`), then `search_semantic(q, 10, probes)`. "
        "faiss: `IndexIVFFlat` (inner product, spherical training on every point) with as "
        "many lists as engram has concepts, `nprobe` = probes. Single-query calls, µs "
        "per query (median of passes over all queries). Latency at a matched recall is "
        "interpolated linearly between the two sweep points around it."
    )
    for s in res["routed"]:
        out.append("")
        out.append(
            f"### {s['data']} ({s['n']:,} × {s['dim']}, {s['queries']:,} queries, "
            f"{s['concepts']} concepts / lists)"
        )
        out.append("")
        ph = s.get("engram_build_phases_s", {})
        li = s.get("engram_lists", {})
        out.append(
            f"{s['source']}. Build ({s.get('lloyd_iterations', '?')} Lloyd iterations each): "
            f"engram consolidate + concept lists {s['engram_build_s']:.2f} s "
            f"({s['engram_build_s'] / s['faiss_build_s']:.2f}× faiss; phases: "
            + ", ".join(f"{k} {v:.2f} s" for k, v in ph.items() if isinstance(v, float))
            + f"; {s['episodes_bound']:,} of {s['n']:,} episodes bound to a concept); faiss "
            f"train + add {s['faiss_build_s']:.2f} s."
        )
        if li:
            out.append("")
            out.append(
                f"Concept lists: {li['lists']:,} lists, {li['entries']:,} entries "
                f"({li['entries'] / s['n']:.3f} per episode: soft membership), "
                f"{li['bytes'] / s['n']:,.0f} bytes per episode; list sizes min "
                f"{li['size_min']}, median {li['size_median']}, p99 {li['size_p99']}, max "
                f"{li['size_max']}; unassigned tail {li['tail']:,}."
            )
        out.append("")
        libs = list(s["curves"])
        out.append(
            "| probes | "
            + " | ".join(f"{lib} recall@10 | {lib} µs" for lib in libs)
            + " | engram µs inside the Rust core |"
        )
        out.append("|---:|" + "---:|---:|" * len(libs) + "---:|")
        for i in range(len(s["curves"][libs[0]])):
            cells = []
            for lib in libs:
                p = s["curves"][lib][i]
                cells += [f"{p['recall']:.4f}", f"{p['us_per_query']:.1f}"]
            cells.append(f"{s['curves'][libs[0]][i]['core_us_per_query']:.1f}")
            out.append(f"| {s['curves'][libs[0]][i]['probes']} | " + " | ".join(cells) + " |")
        out.append("")
        out.append(
            "| matched recall@10 | "
            + " | ".join(f"{lib} µs" for lib in libs)
            + " | ratio (faiss / engram) |"
            + (" ratio (engram f32 / int8) |" if len(libs) > 2 else "")
        )
        out.append("|---:|" + "---:|" * len(libs) + "---:|" + ("---:|" if len(libs) > 2 else ""))
        for row in s["matched"]:
            us = [row[lib]["us_per_query"] for lib in libs]
            a, b = us[0], us[1]
            ratio = fmt(b / a, ".2f") if a and b else "—"
            extra = ""
            if len(us) > 2:
                extra = f" {fmt(a / us[2], '.2f') if a and us[2] else '—'} |"
            out.append(
                f"| {row['target_recall']} | "
                + " | ".join(
                    f"{fmt(row[lib]['us_per_query'], '.1f')} ({row[lib]['how']})" for lib in libs
                )
                + f" | {ratio} |"
                + extra
            )
        if "batch_curves" in s:
            blibs = list(s["batch_curves"])
            out.append("")
            out.append(
                f"Batches of {s['queries']:,} queries in one call, µs per query (median of "
                "repeats):"
            )
            out.append("")
            out.append(
                "| probes | " + " | ".join(f"{lib} recall@10 | {lib} µs" for lib in blibs) + " |"
            )
            out.append("|---:|" + "---:|---:|" * len(blibs))
            for i in range(len(s["batch_curves"][blibs[0]])):
                cells = []
                for lib in blibs:
                    p = s["batch_curves"][lib][i]
                    cells += [f"{p['recall']:.4f}", f"{p['us_per_query']:.2f}"]
                out.append(
                    f"| {s['batch_curves'][blibs[0]][i]['probes']} | " + " | ".join(cells) + " |"
                )
            out.append("")
            out.append(
                "| matched recall@10 (batch) | "
                + " | ".join(f"{lib} µs" for lib in blibs)
                + " | ratio (faiss / engram) |"
            )
            out.append("|---:|" + "---:|" * len(blibs) + "---:|")
            for row in s["batch_matched"]:
                a, b = (row[lib]["us_per_query"] for lib in blibs)
                ratio = fmt(b / a, ".2f") if a and b else "—"
                out.append(
                    f"| {row['target_recall']} | "
                    + " | ".join(
                        f"{fmt(row[lib]['us_per_query'], '.2f')} ({row[lib]['how']})"
                        for lib in blibs
                    )
                    + f" | {ratio} |"
                )
    out.append("")
    return "\n".join(out)


def main() -> None:
    t_start = time.perf_counter()
    seed = ARGS.seed
    res = {"quick": ARGS.quick, "seed": seed, "sizes": SIZES, "machine": machine()}
    log(f"machine: {res['machine']['cpu']}, threads {ARGS.threads}, quick={ARGS.quick}")

    lex = unit(load_f32(DATA / "lexicon" / "vectors.f32", DIM))
    lex_q = lex[:: max(1, len(lex) // SIZES["search_nq"])][: SIZES["search_nq"]]
    lex_src = (
        f"data/lexicon/vectors.f32: {len(lex):,} MiniLM word vectors; queries: every "
        f"{max(1, len(lex) // SIZES['search_nq'])}th word (each is also stored)"
    )

    only = {x.strip() for x in ARGS.only.split(",") if x.strip()}
    res["sections"] = sorted(only)
    res["search"], res["kmeans"], res["routed"] = [], [], []

    # 1. exact search
    if "search" in only:
        bench_exact(res, lex, lex_q, lex_src, seed)

    # 2. k-means
    if "kmeans" in only:
        bench_all_kmeans(res, seed)

    # 3. concept-routed search vs IVF-Flat: overlapping clusters (sigma2 = 2/dim, Zipf sizes)
    if "routed" in only:
        ivf_n, ivf_nq = SIZES["ivf_n"], SIZES["ivf_nq"]
        xo, _ = engram.synth(ivf_n + ivf_nq, DIM, clusters=SIZES["ivf_nlist"], seed=seed,
                             sigma2=2.0 / DIM, zipf=1.0)
        over_src = (
            f"`engram.synth(n={ivf_n + ivf_nq:,}, dim={DIM}, clusters={SIZES['ivf_nlist']}, "
            f"seed={seed}, sigma2=2/dim, zipf=1.0)`: overlapping clusters of Zipf sizes, "
            f"shuffled; rows [0, {ivf_n:,}) stored, the next {ivf_nq:,} are the queries"
        )
        res["routed"] = [
            bench_ivf(
                "synthetic: overlapping mixture",
                np.ascontiguousarray(xo[:ivf_n]),
                np.ascontiguousarray(xo[ivf_n:]),
                SIZES["ivf_nlist"],
                over_src,
            ),
            bench_ivf("real: lexicon", lex, lex_q, SIZES["ivf_lex_nlist"], lex_src),
        ]
        del xo

    res["load_average_at_end"] = list(os.getloadavg())
    res["total_seconds"] = time.perf_counter() - t_start
    out_dir = Path(ARGS.out) if ARGS.out else ROOT / "bench" / "results"
    out_dir.mkdir(parents=True, exist_ok=True)
    stem = "peers-quick-smoke" if ARGS.quick else "peers"
    (out_dir / f"{stem}.json").write_text(json.dumps(res, indent=1) + "\n")
    md = markdown(res)
    (out_dir / f"{stem}.md").write_text(md)
    print(md)
    log(f"wrote {out_dir / stem}.md and .json in {res['total_seconds']:.0f} s")


def bench_exact(res, lex, lex_q, lex_src, seed) -> None:
    xs = sphere(SIZES["search_n"], DIM, seed)
    qs = sphere(SIZES["search_nq"], DIM, seed + 1)
    res["search"] = [
        bench_search(
            "synthetic: uniform",
            xs,
            qs,
            f"rows and queries uniform on the unit sphere (normalised Gaussians, numpy "
            f"seeds {seed} and {seed + 1}); queries are not stored",
        ),
        bench_search("real: lexicon", lex, lex_q, lex_src),
    ]
    del xs


def bench_all_kmeans(res, seed) -> None:
    n, k = SIZES["km_n"], SIZES["km_k"]
    total = n
    xm, ym = engram.synth(total, DIM, clusters=k, seed=seed)
    synth_src = (
        f"`engram.synth(n={total:,}, dim={DIM}, clusters={k}, seed={seed})`: a mixture "
        f"on the unit sphere, sigma2 = 1/dim (the default), equal weights (zipf None), "
        f"no drift, shuffled; first {n:,} rows"
    )
    digits = load_f32(DATA / "digits" / "pixels.f32", 64)
    digits_y = load_i32(DATA / "digits" / "labels.i32")
    cats = unit(load_f32(DATA / "categories" / "vectors.f32", DIM))
    cats_y = load_i32(DATA / "categories" / "labels.i32")
    res["kmeans"] = [
        bench_kmeans(
            "synthetic: mixture",
            np.ascontiguousarray(xm[:n]),
            ym[:n].astype(np.int64),
            k,
            "spherical",
            synth_src,
        ),
        bench_kmeans(
            "real: digits",
            digits,
            digits_y,
            10,
            "euclidean",
            "data/digits: 1,797 × 64 raw pixels (0…16), labels.i32, k = 10; Euclidean "
            "for every library (faiss spherical=False)",
        ),
        bench_kmeans(
            "real: categories",
            cats,
            cats_y,
            16,
            "spherical",
            "data/categories: 400 × 384 MiniLM vectors of 16 categories × 25 words, "
            "labels.i32, k = 16",
        ),
    ]


if __name__ == "__main__":
    main()
