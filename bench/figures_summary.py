#!/usr/bin/env python3
"""The README's main table, read from the raw outputs of one `bench/figures.sh` run.

    python3 bench/figures_summary.py DIR      → DIR/summary.md and DIR/summary.json

Reads only the files `bench/figures.sh` wrote into DIR (standard library only) and writes
every figure with the file it came from. A missing file, or one whose text no longer matches
what this script expects, is listed under "Missing outputs" — never replaced by a number.
"""
from __future__ import annotations

import json
import re
import sys
from pathlib import Path

UNIFORM = "synthetic: random rows, uniform in [−0.5, 0.5]^d, normalised"
UNITS = {"ns": 1e-6, "µs": 1e-3, "us": 1e-3, "ms": 1.0, "s": 1e3}


def criterion(path: Path) -> dict[str, float]:
    """Median time in ms of every benchmark in a criterion text report."""
    out: dict[str, float] = {}
    if not path.exists():
        return out
    name = None
    for line in path.read_text(errors="replace").splitlines():
        m = re.match(r"^(\S+)\s+time:\s+\[(\S+) (\S+) (\S+) (\S+) (\S+) (\S+)\]", line)
        if m:
            out[m.group(1)] = float(m.group(4)) * UNITS[m.group(5)]
            continue
        m = re.match(r"^\s+time:\s+\[(\S+) (\S+) (\S+) (\S+) (\S+) (\S+)\]", line)
        if m and name:
            out[name] = float(m.group(3)) * UNITS[m.group(4)]
            continue
        m = re.match(r"^([A-Za-z_][\w\-./]*)\s*$", line)
        if m:
            name = m.group(1)
    return out


def fmt_ms(v: float) -> str:
    """A time in ms with three significant digits."""
    return f"{v:.3g}" if v < 100 else f"{v:.0f}"


def load_json(path: Path):
    return json.loads(path.read_text()) if path.exists() else None


def main() -> None:
    if len(sys.argv) != 2:
        sys.exit("usage: figures_summary.py DIR (the output directory of bench/figures.sh)")
    d = Path(sys.argv[1])
    rows: list[dict] = []
    missing: list[str] = []

    def row(what, value, compared, source, data="synthetic"):
        rows.append(dict(figure=what, value=value, compared=compared, source=source, data=data))

    def need(name):
        if not (d / name).exists():
            missing.append(name)
            return False
        return True

    machine = (d / "machine.txt").read_text() if (d / "machine.txt").exists() else ""
    m = re.search(r"^l3: ([\d.]+) ?([KMG])(?:i?B)?", machine, re.M)
    l3_bytes = float(m.group(1)) * {"K": 1 << 10, "M": 1 << 20, "G": 1 << 30}[m.group(2)] if m else 0
    if not m:
        missing.append("machine.txt: L3 size (no cache note on the scans)")

    # --- engram bench (limits, search, ingest, warm cycle) ---------------------------------
    cli = load_json(d / "cli" / "bench.json") if need("cli/bench.json") else None
    limits = {}
    if cli:
        limits = cli["limits"]["cpu"]
        res = [r for r in cli["results"] if r["backend"] == "cpu"]
        big = max(r["n"] for r in res)

        def find(op, layout, batch, n=big):
            for r in res:
                if r["op"] == op and r["layout"] == layout and r["batch"] == batch and r["n"] == n:
                    return r
            return None

        row(
            "limits of this run",
            f"read {limits['read_gbps']:.1f} GB/s (2 threads), FMA peak {limits['fma_gflops']:.0f} GFLOP/s "
            f"(256-bit {limits['fma_gflops_256']:.0f}, 512-bit {limits.get('fma_gflops_512', 0):.0f}: "
            f"{limits.get('fma512', '?')})",
            f"`gemm` crate 2048³: {limits['gemm_gflops']:.0f} GFLOP/s",
            "cli/bench.json",
            "—",
        )
        for n in sorted({r["n"] for r in res}):
            f32, f16 = find("search", "f32", 1, n), find("search", "f16", 1, n)
            if f32 and f16:
                cached = ""
                if l3_bytes and n * cli["args"]["dim"] * 4 <= l3_bytes:
                    cached = " (both copies fit in the L3 cache; the limit is DRAM's)"
                elif l3_bytes and n * cli["args"]["dim"] * 2 <= l3_bytes:
                    cached = " (the f16 copy fits in the L3 cache; the limit is DRAM's)"
                row(
                    f"exact top-10, 1 query, {n:,} × {cli['args']['dim']}, f32 / f16 copy",
                    f"{f32['ms']:.2f} ms / {f16['ms']:.2f} ms (f16 {f32['ms'] / f16['ms']:.2f}× faster)",
                    f"{f32['pct_of_limit']:.0f} % / {f16['pct_of_limit']:.0f} % of the read limit{cached}",
                    "cli/bench.json",
                    UNIFORM,
                )
        b1000, one = find("search", "f32", 1000), find("search", "f32", 1)
        if b1000:
            row(
                f"batch of 1,000 queries, {big:,} rows, f32",
                f"{b1000['ms']:.0f} ms = {b1000['throughput']:.0f} GFLOP/s",
                f"{b1000['pct_of_limit']:.0f} % of the FMA peak",
                "cli/bench.json",
                UNIFORM,
            )
        ratios = []
        for b in (16, 64):
            r = find("search", "f32", b)
            if r and one:
                ratios.append((b, r["queries_per_s"] / one["queries_per_s"]))
        if ratios:
            row(
                "batch of 16 / 64 queries against as many single-query calls",
                " / ".join(f"{x:.1f}×" for _, x in ratios) + " the throughput",
                "target ≥ 5×",
                "cli/bench.json",
                UNIFORM,
            )
        i32, i16 = find("ingest", "f32", 1), find("ingest", "f16", 1)
        if i32 and i16:
            row(
                f"ingest (`remember_batch`), {big:,} rows",
                f"{i32['throughput'] / 1e6:.1f} M (f32) / {i16['throughput'] / 1e6:.1f} M (f16) episodes/s",
                f"{i32['pct_of_limit']:.0f} % / {i16['pct_of_limit']:.0f} % of the read + write bound; target ≥ 1 M/s",
                "cli/bench.json",
                UNIFORM,
            )
        for c in cli.get("consolidation", []):
            row(
                f"warm consolidation cycle, {c['n_new']:,} new + {c['n_replayed']:,} replayed, k = {c['k']}",
                f"{c['warm_cycle_ms']:.0f} ms = {c['ratio']:.2f} Lloyd iterations",
                "one Lloyd iteration, same k and rows, same run; target ≤ 3",
                "cli/bench.json",
                f"synthetic: mixture, {c['k']} clusters, σ² = 1/d",
            )

    # --- criterion: search (scalar loop), k-means, consolidation, recall --------------------
    if need("criterion-search.txt"):
        c = criterion(d / "criterion-search.txt")
        simd = next((v for k, v in c.items() if k.startswith("search_single/cpu-simd-f32")), None)
        scalar = next((v for k, v in c.items() if k.startswith("search_single/cpu-scalar-f32")), None)
        if simd and scalar:
            row(
                "1 query, SIMD kernel against a plain scalar loop (criterion)",
                f"{simd:.2f} ms vs {scalar:.2f} ms",
                f"{scalar / simd:.1f}× faster",
                "criterion-search.txt",
                UNIFORM,
            )
        bk = {int(k.rsplit("/", 1)[1]): v for k, v in c.items() if k.startswith("search_batch_k/")}
        if 10 in bk and 128 in bk:
            row(
                "1,000 queries × 20,000 rows: k = 128 against k = 10 (criterion, `search_batch_k`)",
                " / ".join(f"k = {k}: {fmt_ms(v)} ms" for k, v in sorted(bk.items())),
                f"k = 128 costs {bk[128] / bk[10]:.2f}× k = 10",
                "criterion-search.txt",
                UNIFORM,
            )
    if need("criterion-kmeans.txt"):
        c = criterion(d / "criterion-kmeans.txt")
        peak = limits.get("fma_gflops")
        for key, ms in sorted(c.items()):
            m = re.match(r"kmeans/lloyd_iteration/n(\d+)_k(\d+)", key)
            if not m:
                continue
            n, k = int(m.group(1)), int(m.group(2))
            gf = 2 * n * k * 384 / (ms * 1e-3) / 1e9
            row(
                f"spherical k-means, one Lloyd iteration, {n:,} × 384, k = {k}",
                f"{ms:.1f} ms = {gf:.0f} GFLOP/s",
                (f"{100 * gf / peak:.0f} % of the FMA peak" if peak else "FMA peak missing"),
                "criterion-kmeans.txt",
                "synthetic: mixture, 100 clusters, σ² = 1/d",
            )
    for k in (1000, 64):
        name = f"criterion-consolidation-k{k}.txt"
        if not need(name):
            continue
        t = (d / name).read_text()
        m = re.search(r"warm cycle \((\d+) new \+ (\d+) replayed rows\): ([\d.]+) s", t)
        r = re.search(r"ratio warm cycle / Lloyd iteration: ([\d.]+) .*?first warm cycle ([\d.]+)", t)
        lloyd = re.search(r"one Lloyd iteration .*?: ([\d.]+) s", t)
        cold = re.search(r"cold cycle .*?: ([\d.]+) s, (\d+) concepts", t)
        if m and r and lloyd:
            row(
                f"warm consolidation cycle, {int(m.group(1)):,} new + {int(m.group(2)):,} replayed, k = {k} (criterion bench)",
                f"{float(m.group(3)) * 1e3:.0f} ms = {float(r.group(1)):.2f} Lloyd iterations (first warm cycle {float(r.group(2)):.2f})",
                f"one Lloyd iteration {float(lloyd.group(1)) * 1e3:.0f} ms, same run; target ≤ 3"
                + (f"; cold cycle {float(cold.group(1)):.1f} s" if cold else ""),
                name,
                f"synthetic: mixture, {k} clusters, σ² = 1/d",
            )
    if need("criterion-recall.txt"):
        t = (d / "criterion-recall.txt").read_text()
        head = re.search(r"recall bench: (\d+) x 384, (\d+) concepts", t)
        pts = re.findall(
            r"semantic probes\s+(\d+) \(([\d.]+) % of concepts\): recall@10 ([\d.]+), ([\d.]+) µs/query, ([\d.]+)x faster",
            t,
        )
        exact = re.search(r"exact search: ([\d.]+) µs/query", t)
        for p, pct, rec, us, sp in pts:
            row(
                f"semantic recall (concept-routed search), probing {pct} % of "
                f"{int(head.group(2)) if head else '?'} concepts, {int(head.group(1)) if head else 0:,} rows",
                f"{float(us):.0f} µs/query, recall@10 {float(rec):.3f}",
                f"{float(sp):.1f}× faster than exact search ({float(exact.group(1)) if exact else 0:.0f} µs)",
                "criterion-recall.txt",
                f"synthetic: mixture, {int(head.group(2)) if head else '?'} clusters, σ² = 1/d",
            )

    # --- concept quality: synthetic and real -------------------------------------------------
    if need("concepts-full.txt"):
        t = (d / "concepts-full.txt").read_text()
        for how, n, dim, k, got, ari in re.findall(
            r"^(k given|k discovered): n (\d+) × (\d+), (\d+) true clusters → (\d+) concepts, ARI ([\d.]+)", t, re.M
        ):
            row(
                f"concept formation, {int(n):,} × {dim}, {k} clusters at σ² = 1/d, {how}",
                f"{got} concepts, ARI {float(ari):.3f}",
                "the true labels (easy data: the clusters barely overlap)",
                "concepts-full.txt",
                f"synthetic: mixture, {k} clusters, σ² = 1/d (easy: they barely overlap)",
            )
        for name, how, n, dim, k, got, ari in re.findall(
            r"^real (\w+) (k given|k discovered): n (\d+) × (\d+), (\d+) true classes → (\d+) concepts, ARI ([\d.]+)", t, re.M
        ):
            row(
                f"concept formation on {name} ({int(n):,} × {dim}, {k} classes), {how}",
                f"{got} concepts, ARI {float(ari):.3f}",
                "the true labels; scikit-learn KMeans with k given: see the peers rows",
                "concepts-full.txt",
                f"real: data/{name}",
            )
    if need("digits.txt"):
        t = (d / "digits.txt").read_text()
        m = re.search(r"digits Euclidean: ARI ([\d.]+) NMI ([\d.]+); spherical: ARI ([\d.]+)", t)
        if m:
            row(
                "k-means on the handwritten digits, k = 10, mean of 10 seeds, 1 init each",
                f"ARI {float(m.group(1)):.3f} (Euclidean), {float(m.group(3)):.3f} (spherical)",
                "scikit-learn k-means++ in the peers rows",
                "digits.txt",
                "real: data/digits",
            )

    # --- stream, Python -----------------------------------------------------------------------
    s = load_json(d / "stream-10m-f16.json") if need("stream-10m-f16.json") else None
    if s:
        raw = s["episodes"] * s["dim"] * 2
        peak = s.get("peak_rss_bytes") or max(h.get("rss_bytes", 0) for h in s["history"])
        row(
            f"`engram stream`, {s['episodes']:,} episodes × {s['dim']}, f16, {s['cycles']} consolidation cycles",
            f"peak RSS {peak / 1e9:.2f} GB = {peak / raw:.2f}× the raw f16 bytes; ARI {s['ari']:.3f}, {s['concepts']} concepts",
            f"budget 1.3×; {s['episodes_per_s'] / 1e6:.2f} M episodes/s end to end",
            "stream-10m-f16.json",
            f"synthetic: mixture, {s['clusters']} clusters, σ² = 1/d (easy: they barely overlap)",
        )
    p = load_json(d / "python-bench.json") if need("python-bench.json") else None
    if p:
        sb, rb = p["search_batch"], p["remember_batch"]
        row(
            f"Python `search_batch` ({sb['queries']:,} × {sb['episodes']:,}) and `remember_batch`",
            f"+{sb['python_overhead_pct']:.3f} % over the Rust call; ingest at {rb['python_rate_vs_rust_pct']:.1f} % of the Rust rate",
            "the same call timed inside Rust, same run; target ≤ 5 %",
            "python-bench.json",
            "synthetic: mixture, 64 clusters, σ² = 1/d",
        )

    # --- memory research (engram validate) ------------------------------------------------------
    v = load_json(d / "validate.json") if need("validate.json") else None
    if v:
        ex = {e["name"]: e for e in v["experiments"]}
        caveat = {
            "fan": "fan-1 and fan-3 are inputs (I and F were solved from them); fan-2 is the one prediction",
            "drm": "the cue is the studied vectors' mean, computed by the experiment (issue #18)",
            "prototype": "the engine is told the number of categories (issue #18)",
            "spacing": "the benefit is the update rule itself (issue #18)",
            "forgetting": "the curve's parameters were fitted to the same data (issue #18)",
        }
        for name, e in ex.items():
            if name not in caveat:
                continue
            o, pub = e["ours"], e["published"]
            if name == "fan":
                val = f"{o['fan1_ms']:.0f} / {o['fan2_ms']:.0f} / {o['fan3_ms']:.0f} ms for fans 1–3"
                ref = f"published {pub['fan1_ms']:.0f} / {pub['fan2_ms']:.0f} / {pub['fan3_ms']:.0f} ms"
            elif name == "drm":
                val = f"lure recall {o['lure_recall']:.2f} (stricter decoding {o['lure_recall_lexicon_decoding']:.2f}); lure old {o['lure_old']:.2f}"
                ref = f"published lure recall {pub['lure_recall_12_word_lists']:.2f}–{pub['lure_recall']:.2f}"
            elif name == "prototype":
                val = f"old-confidence prototype {o['confidence_prototype']:.3f}, studied {o['confidence_studied']:.3f}, new {o['confidence_new']:.3f}"
                ref = "published: prototype ≈ studied > new"
            elif name == "spacing":
                val = f"retention spaced {o['retention_spaced']:.2f} vs massed {o['retention_massed']:.2f}"
                ref = f"published recall {pub['recall_spaced']:.2f} vs {pub['recall_massed']:.2f}"
            else:
                val = f"retention r = {o['correlation']:.3f} with the savings curve, max error {o['max_abs_error']:.3f}"
                ref = "Ebbinghaus savings"
            row(
                f"`engram validate`: {name} ({'pass' if e['pass'] else 'FAIL'})",
                val,
                f"{ref}; not validation yet: {caveat[name]}",
                "validate.json",
                "real: data/drm" if name == "drm" else "constructed by the experiment",
            )

    # --- peers ----------------------------------------------------------------------------------
    peers = load_json(d / "peers.json") if need("peers.json") else None
    if peers:
        for s_ in peers["search"]:
            libs = {r["library"]: r for r in s_["results"]}
            e = libs.get("engram")
            f = next((r for k, r in libs.items() if k.startswith("faiss")), None)
            npy = libs.get("numpy")
            if e and f and npy:
                row(
                    f"exact top-10, {s_['n']:,} × {s_['dim']}, 1 query / {s_['queries']:,} queries",
                    f"{e['single_ms']:.2f} ms / {e['batch_ms']:.0f} ms",
                    f"faiss IndexFlatIP {f['single_ms']:.2f} / {f['batch_ms']:.0f} ms; numpy {npy['single_ms']:.2f} / {npy['batch_ms']:.0f} ms",
                    "peers.json",
                    f"{s_['data']} — {s_['source']}",
                )
        for k_ in peers["kmeans"]:
            q = k_["quality"]
            per = k_.get("per_iteration", {})
            timing = ""
            if per:
                timing = (
                    f"{fmt_ms(per['engram']['ms_per_iteration'])} ms/iteration; "
                )
                cmp_t = f"faiss {fmt_ms(per['faiss']['ms_per_iteration'])} ms, scikit-learn {fmt_ms(per['scikit-learn']['ms_per_iteration'])} ms; "
            else:
                cmp_t = ""
            row(
                f"k-means, k = {k_['k']} ({k_['n']:,} × {k_['dim']}): time per iteration; ARI 1 init / 10 inits",
                f"{timing}ARI {q['engram']['ari_n_init_1_mean']:.3f} / {q['engram']['ari_n_init_10']:.3f}",
                cmp_t
                + f"faiss {q['faiss']['ari_n_init_1_mean']:.3f} / {q['faiss']['ari_n_init_10']:.3f}, "
                f"scikit-learn {q['scikit-learn']['ari_n_init_1_mean']:.3f} / {q['scikit-learn']['ari_n_init_10']:.3f}",
                "peers.json",
                f"{k_['data']} — {k_['source']}",
            )
        for r_ in peers["routed"]:
            for m in r_["matched"]:
                e = m.get("engram search_semantic", {}).get("us_per_query")
                f = m.get("faiss IndexIVFFlat", {}).get("us_per_query")
                if e is None or f is None or m["target_recall"] != 0.95:
                    continue
                how = {m["engram search_semantic"].get("how"), m["faiss IndexIVFFlat"].get("how")}
                row(
                    f"concept-routed search at recall@10 = 0.95, {r_['n']:,} rows, {r_['concepts']} concepts / lists",
                    f"{e:.0f} µs/query (build {r_['engram_build_s']:.1f} s)",
                    f"faiss IndexIVFFlat {f:.0f} µs/query (train + add {r_['faiss_build_s']:.1f} s): engram {e / f:.1f}× slower"
                    + ("; both latencies interpolated between the probe counts around the target" if "interpolated" in how else ""),
                    "peers.json",
                    f"{r_['data']} — {r_['source']}",
                )

    # A file that exists but yields no figure has changed format: say so rather than drop it.
    for f in (
        "cli/bench.json", "criterion-search.txt", "criterion-kmeans.txt",
        "criterion-consolidation-k1000.txt", "criterion-consolidation-k64.txt",
        "criterion-recall.txt", "concepts-full.txt", "digits.txt", "stream-10m-f16.json",
        "python-bench.json", "validate.json", "peers.json",
    ):
        if (d / f).exists() and not any(r["source"] == f for r in rows):
            missing.append(f"{f} (read, but no figure recognised)")

    out_md = [
        "# Figures of one `bench/figures.sh` run",
        "",
        "Every figure below was read by `bench/figures_summary.py` from the raw output named in its",
        "last column, all written by one run of `bench/figures.sh` on the machine below. Ratios are",
        "to limits (read bandwidth, FMA peak) or peers (faiss, numpy, scikit-learn) measured in the",
        "same run.",
        "",
        "```",
        machine.strip(),
        "```",
        "",
        "| figure | data | measured | compared with | source |",
        "|---|---|---|---|---|",
    ]
    for r in rows:
        out_md.append(f"| {r['figure']} | {r['data']} | {r['value']} | {r['compared']} | `{r['source']}` |")
    if missing:
        out_md += ["", "Missing outputs (steps skipped or failed): " + ", ".join(f"`{m}`" for m in missing)]
    (d / "summary.md").write_text("\n".join(out_md) + "\n")
    (d / "summary.json").write_text(json.dumps(dict(machine=machine, rows=rows, missing=missing), indent=2) + "\n")
    print(f"wrote {d / 'summary.md'} ({len(rows)} figures, {len(missing)} missing)")


if __name__ == "__main__":
    main()
