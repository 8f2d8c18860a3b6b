"""Benchmarks of the Python layer and of k-means / search on Ray, in one run.

    python python/bench/bench.py [--out bench/results] [--quick]

Writes bench/results/python-bench.json and python-bench.md (machine, date, figures).

- search_batch: 1,000 queries, k = 10, over 200,000 x 384 episodes. The Python call's wall time
  against the time spent inside the Rust core for the same call (``Engram.last_call_seconds``,
  measured inside the call with the GIL released), median of several runs.
- remember_batch: 200,000 x 384 float32 rows from numpy into a fresh engine; rows/s through
  Python against rows/s of the Rust core call itself.
- k-means: single process (the same steps in-process) vs Ray with 1 and 2 workers on the same
  data: seconds per iteration, the share of wall time not spent computing (Ray scheduling,
  serialisation, transfer), and bytes moved per iteration.
- scatter-gather search on Ray (2 shards) against one in-process store: wall time, fan-out
  overhead and bytes moved.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import platform
import statistics
import subprocess
import time
from pathlib import Path

import numpy as np

import engram


def machine() -> dict:
    cpu = "unknown"
    try:
        for line in open("/proc/cpuinfo"):
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    mem_gb = None
    try:
        for line in open("/proc/meminfo"):
            if line.startswith("MemTotal"):
                mem_gb = round(int(line.split()[1]) / 2**20, 1)
    except OSError:
        pass
    try:
        import ray

        ray_version = ray.__version__
    except ImportError:
        ray_version = None
    return {
        "hostname": platform.node(),
        "cpu": cpu,
        "cores": os.cpu_count(),
        "memory_gb": mem_gb,
        "os": platform.platform(),
        "python": platform.python_version(),
        "numpy": np.__version__,
        "ray": ray_version,
        "engram": engram.__version__,
        "loadavg_at_start": list(os.getloadavg()),
        "date": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
        "git": subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True, cwd=Path(__file__).parent,
                              text=True).stdout.strip(),
    }


def med(xs):
    return statistics.median(xs)


def bench_search(x: np.ndarray, q: np.ndarray, k: int, reps: int) -> dict:
    mem = engram.Engram(x.shape[1], backend="cpu")
    mem.remember_batch(x)
    mem.search_batch(q, k)  # warm up
    walls, rusts = [], []
    for _ in range(reps):
        t = time.perf_counter()
        mem.search_batch(q, k)
        walls.append(time.perf_counter() - t)
        rusts.append(mem.last_call_seconds)
    q64 = q.astype(np.float64)
    w64 = []
    for _ in range(max(2, reps // 2)):
        t = time.perf_counter()
        mem.search_batch(q64, k)
        w64.append(time.perf_counter() - t)
    wall, rust = med(walls), med(rusts)
    flops = 2.0 * x.shape[0] * x.shape[1] * q.shape[0]
    return {
        "episodes": x.shape[0], "dim": x.shape[1], "queries": q.shape[0], "k": k,
        "backend": mem.backend, "reps": reps,
        "python_wall_s": wall, "rust_core_s": rust,
        "python_overhead_pct": 100.0 * (wall - rust) / rust,
        "python_wall_float64_s": med(w64),
        "gflops_rust": flops / rust / 1e9,
        "all_walls_s": walls, "all_rust_s": rusts,
    }


def rss_bytes() -> int:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


def bench_ingest(x: np.ndarray, reps: int) -> dict:
    walls, rusts, rss = [], [], []
    vector_bytes = 0
    for _ in range(reps):
        before = rss_bytes()
        mem = engram.Engram(x.shape[1], backend="cpu")
        t = time.perf_counter()
        mem.remember_batch(x)
        walls.append(time.perf_counter() - t)
        rusts.append(mem.last_call_seconds)
        rss.append(rss_bytes() - before)
        vector_bytes = mem.vector_bytes
        del mem
    wall, rust = med(walls), med(rusts)
    n = x.shape[0]
    return {
        "rows": n, "dim": x.shape[1], "reps": reps,
        "python_wall_s": wall, "rust_core_s": rust,
        "python_rows_per_s": n / wall, "rust_rows_per_s": n / rust,
        "python_rate_vs_rust_pct": 100.0 * rust / wall,
        "vector_bytes_per_episode": vector_bytes / n,
        "rss_bytes_per_episode": max(rss) / n,
        "all_walls_s": walls, "all_rust_s": rusts,
    }


def bench_kmeans_single(x: np.ndarray, c0: np.ndarray, iters: int) -> dict:
    c = c0
    labels, scores = engram.kmeans_assign(x, c)
    per = []
    for _ in range(iters):
        t = time.perf_counter()
        sums, counts, _ = engram.kmeans_partial_sums(x, labels, c.shape[0], scores=scores)
        c = engram.kmeans_reduce(sums, counts, c)
        labels, scores = engram.kmeans_assign(x, c)
        per.append(time.perf_counter() - t)
    t = time.perf_counter()
    fit = engram.kmeans_fit(x, c0.shape[0], init=c0, max_iter=iters, tol=0.0, repair_empty=False)
    fit_s = time.perf_counter() - t
    return {"iterations": iters, "s_per_iter": med(per), "all_s": per,
            "kmeans_fit_s_per_iter": fit_s / (fit.iterations + 1),
            "kmeans_fit_iterations": fit.iterations}


def bench_kmeans_ray(n, dim, clusters, seed, k, c0, workers: int, iters: int) -> dict:
    from engram import distributed as d

    shards = d.synth_shards(n, dim, clusters, workers, seed=seed)
    threads = max(1, (os.cpu_count() or 2) // workers)
    t = time.perf_counter()
    r = d.kmeans(shards, k, init=c0, max_iter=iters, tol=0.0, return_labels=False,
                 threads_per_worker=threads)
    total = time.perf_counter() - t
    st = r.stats[1:]  # iteration 0 is the initial assignment (and actor start-up waits)
    wall = med([s.wall for s in st])
    comp = med([s.worker_max for s in st])
    red = med([s.reduce for s in st])
    over = med([s.ray_overhead for s in st])
    return {
        "workers": workers, "threads_per_worker": threads, "iterations": r.iterations,
        "s_per_iter": wall, "worker_compute_s": comp, "driver_reduce_s": red,
        "ray_overhead_s": over, "ray_share_pct": 100.0 * over / wall,
        "bytes_to_workers_per_iter": st[0].bytes_to_workers,
        "bytes_from_workers_per_iter": st[0].bytes_from_workers,
        "total_s_including_startup": total,
        "first_iteration_s": r.stats[0].wall,
    }


def bench_sharded_search(n, dim, clusters, seed, q, k, reps) -> dict:
    from engram import distributed as d

    shards = d.synth_shards(n, dim, clusters, 2, seed=seed)
    with d.ShardedEngram(shards, threads_per_worker=1) as store:
        store.search_batch(q, k)
        walls, workers, merges = [], [], []
        for _ in range(reps):
            store.search_batch(q, k)
            s = store.last_stats
            walls.append(s["wall"])
            workers.append(s["worker_max"])
            merges.append(s["merge"])
        stats = store.last_stats
        one = []
        for i in range(reps * 4):
            store.search_batch(q[i : i + 1], k)
            one.append(store.last_stats)
    return {
        "one_query_wall_s": med([s["wall"] for s in one]),
        "one_query_worker_max_s": med([s["worker_max"] for s in one]),
        "one_query_fanout_overhead_s": med([s["wall"] - s["worker_max"] for s in one]),
        "shards": 2, "queries": q.shape[0], "k": k, "wall_s": med(walls),
        "worker_max_s": med(workers), "merge_s": med(merges),
        "fanout_overhead_s": med(walls) - med(workers),
        "bytes_to_workers": stats["bytes_to_workers"],
        "bytes_from_workers": stats["bytes_from_workers"],
    }


def markdown(r: dict) -> str:
    m, s, g = r["machine"], r["search_batch"], r["remember_batch"]
    lines = [
        "# engram Python layer and Ray benchmarks",
        "",
        f"Machine: {m['cpu']}, {m['cores']} cores, {m['memory_gb']} GB, {m['os']}; "
        f"Python {m['python']}, numpy {m['numpy']}, Ray {m['ray']}; engram {m['engram']} "
        f"(git {m['git']}). Date: {m['date']}. Command: `python python/bench/bench.py`.",
        "",
        "## Python layer vs the Rust core (same call, same run)",
        "",
        "| operation | Python wall | Rust core | overhead / rate | target |",
        "|---|---|---|---|---|",
        f"| search_batch {s['queries']} q × {s['episodes']:,} × {s['dim']}, k={s['k']} "
        f"({s['backend']}) | {s['python_wall_s'] * 1e3:.1f} ms | {s['rust_core_s'] * 1e3:.1f} ms "
        f"| +{s['python_overhead_pct']:.3f} % "
        f"({(s['python_wall_s'] - s['rust_core_s']) * 1e6:.0f} µs) | ≤ 5 % |",
        f"| search_batch, float64 queries (one copy) | {s['python_wall_float64_s'] * 1e3:.1f} ms "
        f"| | | |",
        f"| remember_batch {g['rows']:,} × {g['dim']} float32 | {g['python_wall_s'] * 1e3:.0f} ms "
        f"({g['python_rows_per_s'] / 1e6:.2f} M rows/s) | {g['rust_core_s'] * 1e3:.0f} ms "
        f"({g['rust_rows_per_s'] / 1e6:.2f} M rows/s) | {g['python_rate_vs_rust_pct']:.1f} % of "
        f"the Rust rate | ≥ 90 % |",
        "",
        f"Memory: {g['vector_bytes_per_episode']:.0f} B of vectors and "
        f"{g['rss_bytes_per_episode']:.0f} B of process RSS per episode (d = {g['dim']}, f32).",
        "",
        f"Load average when the run started: {m['loadavg_at_start']} (other jobs shared the "
        "machine; ratios within one call are robust to that, absolute times less so).",
        "",
        f"Search in the core: {s['gflops_rust']:.0f} GFLOP/s. 'Rust core' is "
        "`Engram.last_call_seconds`: the time inside the core call, timed in Rust with the GIL "
        "released; the Python wall time adds argument checks, the lock, the GIL release/"
        "re-acquire and wrapping the results as numpy arrays (no copy).",
        "",
    ]
    km = r["kmeans"]
    lines += [
        f"## k-means: n = {km['n']:,}, d = {km['dim']}, k = {km['k']}, "
        f"{km['iterations']} iterations",
        "",
        "| run | s / iteration | compute (slowest worker) | driver reduce | Ray overhead | "
        "Ray share | bytes to workers / iter | bytes from workers / iter |",
        "|---|---|---|---|---|---|---|---|",
        f"| single process (steps in-process) | {km['single']['s_per_iter'] * 1e3:.1f} ms | "
        f"{km['single']['s_per_iter'] * 1e3:.1f} ms | | | | 0 | 0 |",
        f"| single process `kmeans_fit` | {km['single']['kmeans_fit_s_per_iter'] * 1e3:.1f} ms "
        "| | | | | 0 | 0 |",
    ]
    for w in km["ray"]:
        lines.append(
            f"| Ray, {w['workers']} worker(s) × {w['threads_per_worker']} thread(s) | "
            f"{w['s_per_iter'] * 1e3:.1f} ms | {w['worker_compute_s'] * 1e3:.1f} ms | "
            f"{w['driver_reduce_s'] * 1e3:.2f} ms | {w['ray_overhead_s'] * 1e3:.1f} ms | "
            f"{w['ray_share_pct']:.1f} % | {w['bytes_to_workers_per_iter']:,} | "
            f"{w['bytes_from_workers_per_iter']:,} |"
        )
    ss = r["sharded_search"]
    lines += [
        "",
        "Ray overhead = wall time of an iteration − slowest worker's compute − driver reduce: "
        "scheduling, (de)serialisation, object-store transfer and waiting. Iteration 0 (actor "
        "start, data generation in the actors) is excluded; see the JSON for it.",
        "",
        f"## Scatter-gather search on Ray: {ss['shards']} shards, {ss['queries']} queries, "
        f"k = {ss['k']}",
        "",
        "| wall | slowest shard | merge (driver) | fan-out overhead | bytes to workers | "
        "bytes from workers |",
        "|---|---|---|---|---|---|",
        f"| {ss['wall_s'] * 1e3:.1f} ms | {ss['worker_max_s'] * 1e3:.1f} ms | "
        f"{ss['merge_s'] * 1e3:.2f} ms | {ss['fanout_overhead_s'] * 1e3:.1f} ms | "
        f"{ss['bytes_to_workers']:,.0f} | {ss['bytes_from_workers']:,.0f} |",
        f"| one query: {ss['one_query_wall_s'] * 1e3:.1f} ms | "
        f"{ss['one_query_worker_max_s'] * 1e3:.1f} ms | | "
        f"{ss['one_query_fanout_overhead_s'] * 1e3:.1f} ms | | |",
        "",
    ]
    return "\n".join(lines)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--out", default=str(Path(__file__).resolve().parents[2] / "bench" / "results"))
    ap.add_argument("--quick", action="store_true", help="small sizes (a smoke test)")
    a = ap.parse_args()
    n, dim, nq, k = (200_000, 384, 1000, 10) if not a.quick else (20_000, 64, 100, 10)
    kn, kk, iters = (200_000, 64, 8) if not a.quick else (20_000, 16, 4)
    clusters, seed = 64, 1
    res: dict = {"machine": machine()}
    print("machine:", res["machine"])

    x, _ = engram.synth(n, dim, clusters, seed=seed)
    q, _ = engram.synth(nq, dim, clusters, seed=seed + 1)
    res["remember_batch"] = bench_ingest(x, reps=5)
    print("remember_batch:", {k_: v for k_, v in res["remember_batch"].items() if "all" not in k_})
    res["search_batch"] = bench_search(x, q, k, reps=9)
    print("search_batch:", {k_: v for k_, v in res["search_batch"].items() if "all" not in k_})
    del x

    import ray

    os.environ.setdefault("RAY_AUTH_MODE", "disabled")
    ray.init(num_cpus=os.cpu_count(), include_dashboard=False, log_to_driver=False)
    try:
        xk, _ = engram.synth(kn, dim, clusters, seed=seed)
        c0 = np.ascontiguousarray(xk[:: kn // kk][:kk])
        single = bench_kmeans_single(xk, c0, iters)
        print("kmeans single:", single["s_per_iter"])
        del xk
        rays = [bench_kmeans_ray(kn, dim, clusters, seed, kk, c0, w, iters) for w in (1, 2)]
        for w in rays:
            print("kmeans ray:", w)
        res["kmeans"] = {"n": kn, "dim": dim, "k": kk, "iterations": iters,
                         "single": single, "ray": rays}
        res["sharded_search"] = bench_sharded_search(n, dim, clusters, seed, q, k, reps=5)
        print("sharded search:", res["sharded_search"])
    finally:
        ray.shutdown()

    out = Path(a.out)
    out.mkdir(parents=True, exist_ok=True)
    name = "python-bench" + ("-quick" if a.quick else "")
    (out / f"{name}.json").write_text(json.dumps(res, indent=2) + "\n")
    (out / f"{name}.md").write_text(markdown(res))
    print(f"wrote {out / name}.json and .md")


if __name__ == "__main__":
    main()
