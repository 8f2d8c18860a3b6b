//! The timed operations: ingest (with its splits), search and k-means iterations on the CPU,
//! and upload, search and k-means iterations on the GPU.

use std::time::Instant;

use engram::bench::{median_time, CpuLimits};
use engram::cluster::{assign, partial_sums};
use engram::compute::gpu::{self, GpuContext, GpuLayout, GpuMatrix};
use engram::config::DEFAULT_CHUNK_BYTES;
use engram::graph::Graph;
use engram::vectors::VectorArena;
use engram::{
    BackendChoice, Config, Engram, EpisodeId, EpisodeMeta, Hit, Layout, Precision, Scored,
};

use super::report::Row;

/// GPU limits measured in this run.
#[derive(Debug, Clone, Copy)]
pub struct GpuLimits {
    /// Device memory bandwidth (read + write) of a copy kernel, GB/s.
    pub bandwidth_gbps: f64,
    /// FMA throughput, GFLOP/s.
    pub fma_gflops: f64,
}

/// The CPU's top-k ids for one layout, batch size and k, one list per query.
pub type CpuIds = (Layout, usize, usize, Vec<Vec<u64>>);

/// The `k` of the main search rows.
pub const SEARCH_K: usize = 10;

fn secs_of<T>(reps: usize, f: impl FnMut() -> T) -> f64 {
    median_time(reps, f).as_secs_f64()
}

fn layout_name(l: Layout) -> &'static str {
    match l {
        Layout::F16 => "f16",
        _ => "f32",
    }
}

fn bytes_per(l: Layout) -> usize {
    match l {
        Layout::F16 => 2,
        _ => 4,
    }
}

/// Ingest of `n` rows into a fresh engine (`remember_batch`: validate, normalise, copy, graph),
/// in f32 and f16 storage, measured against the bandwidth bound of reading the rows once and
/// writing them once.
pub fn ingest(rows: &[f32], dim: usize, reps: usize, lim: &CpuLimits, out: &mut Vec<Row>) {
    let n = rows.len() / dim;
    for (p, name) in [(Precision::F32, "f32"), (Precision::F16, "f16")] {
        let mut times = Vec::new();
        for _ in 0..reps.max(1) {
            let Ok(mut e) = Engram::new(Config::new(dim).precision(p).backend(BackendChoice::Cpu))
            else {
                return;
            };
            let t = Instant::now();
            let ok = e.remember_batch(rows, vec![]).is_ok();
            times.push(t.elapsed().as_secs_f64());
            if !ok {
                return;
            }
        }
        times.sort_by(f64::total_cmp);
        let s = times[times.len() / 2];
        let bytes = (dim * (4 + p.bytes_per_component())) as f64;
        out.push(Row {
            op: "ingest".into(),
            backend: "cpu",
            layout: name,
            n,
            batch: 1,
            secs: s,
            throughput: n as f64 / s,
            unit: "episodes/s",
            limit: lim.read_gbps * 1e9 / bytes,
            limit_name: "bandwidth bound (read + write once)",
            gpu_over_cpu: None,
            agreement: None,
            kernel: None,
        });
    }
}

/// Where ingest's time goes: the one-pass validate + normalise + write into an f32 arena and
/// into an f16 arena, and the graph bookkeeping, each timed alone on a fresh structure.
pub fn ingest_splits(rows: &[f32], dim: usize, lim: &CpuLimits, out: &mut Vec<Row>) {
    let n = rows.len() / dim;
    let median3 = |mut f: Box<dyn FnMut() -> f64 + '_>| {
        let mut t = [f(), f(), f()];
        t.sort_by(f64::total_cmp);
        t[1]
    };
    let copy = |p: Precision| {
        median3(Box::new(move || {
            let mut a = VectorArena::new(dim, p, DEFAULT_CHUNK_BYTES);
            let t = Instant::now();
            let _ = a.push_validated(rows);
            t.elapsed().as_secs_f64()
        }))
    };
    let t32 = copy(Precision::F32);
    let t16 = copy(Precision::F16);
    let t_graph = median3(Box::new(|| {
        let mut g = Graph::new();
        let t = Instant::now();
        for i in 0..n {
            g.push_episode(EpisodeId(i as u64), EpisodeMeta::default(), 1.0);
        }
        t.elapsed().as_secs_f64()
    }));
    let bw = lim.read_gbps * 1e9;
    for (what, s, bytes, layout) in [
        (
            "ingest split: validate + normalise + write, f32 arena",
            t32,
            dim * 8,
            "f32",
        ),
        (
            "ingest split: validate + normalise + write, f16 arena",
            t16,
            dim * 6,
            "f16",
        ),
        ("ingest split: graph bookkeeping", t_graph, 0, "—"),
    ] {
        out.push(Row {
            op: what.into(),
            backend: "cpu",
            layout,
            n,
            batch: 1,
            secs: s,
            throughput: n as f64 / s,
            unit: "episodes/s",
            limit: if bytes > 0 { bw / bytes as f64 } else { 0.0 },
            limit_name: if bytes > 0 {
                "bandwidth bound"
            } else {
                "no bandwidth bound"
            },
            gpu_over_cpu: None,
            agreement: None,
            kernel: None,
        });
    }
}

/// The figure of one search call: GB/s of rows read for one query, GFLOP/s for a batch.
#[allow(clippy::too_many_arguments)]
fn search_row(
    backend: &'static str,
    k: usize,
    layout: Layout,
    n: usize,
    dim: usize,
    batch: usize,
    secs: f64,
    bw_limit: f64,
    flop_limit: (f64, &'static str),
) -> Row {
    let (throughput, unit, limit, limit_name) = if batch == 1 {
        let gb = (n * dim * bytes_per(layout)) as f64 / secs / 1e9;
        (gb, "GB/s", bw_limit, "read bandwidth")
    } else {
        let gf = 2.0 * (n * dim * batch) as f64 / secs / 1e9;
        (gf, "GFLOP/s", flop_limit.0, flop_limit.1)
    };
    Row {
        op: search_op(k),
        backend,
        layout: layout_name(layout),
        n,
        batch,
        secs,
        throughput,
        unit,
        limit,
        limit_name,
        gpu_over_cpu: None,
        agreement: None,
        kernel: None,
    }
}

/// The op name of a search row: `search` for the main k, `search (k = …)` otherwise.
pub fn search_op(k: usize) -> String {
    if k == SEARCH_K {
        "search".into()
    } else {
        format!("search (k = {k})")
    }
}

/// Top-10 search on the CPU for each batch size and layout, and, in f32, top-`k` for each of
/// `extra_k`. Returns the ids of every batch's results (for the GPU's agreement check).
#[allow(clippy::too_many_arguments)]
pub fn cpu_search(
    e: &Engram,
    queries: &[f32],
    batches: &[usize],
    extra_k: &[usize],
    reps: usize,
    lim: &CpuLimits,
    out: &mut Vec<Row>,
) -> anyhow::Result<Vec<CpuIds>> {
    let (n, dim) = (e.len(), e.dim());
    let mut ids = Vec::new();
    let mut cases: Vec<(Layout, usize)> = [Layout::F32, Layout::F16]
        .into_iter()
        .map(|l| (l, SEARCH_K))
        .collect();
    cases.extend(extra_k.iter().map(|&k| (Layout::F32, k)));
    for (layout, k) in cases {
        for &b in batches {
            let q = &queries[..b * dim];
            let r = if b >= 256 { reps.div_ceil(3) } else { reps };
            let s = secs_of(r, || e.search_batch_in(q, k, layout));
            out.push(search_row(
                "cpu",
                k,
                layout,
                n,
                dim,
                b,
                s,
                lim.read_gbps,
                (lim.fma_gflops, "FMA peak"),
            ));
            let res = e.search_batch_in(q, k, layout)?;
            ids.push((layout, b, k, to_ids(&res)));
        }
    }
    Ok(ids)
}

fn to_ids(res: &[Vec<Scored<EpisodeId>>]) -> Vec<Vec<u64>> {
    res.iter()
        .map(|l| l.iter().map(|h| h.id.0).collect())
        .collect()
}

fn hit_ids(res: &[Vec<Hit>]) -> Vec<Vec<u64>> {
    res.iter()
        .map(|l| l.iter().map(|h| h.id).collect())
        .collect()
}

/// The mean fraction of one list's ids found in the other's, per query.
pub fn overlap(a: &[Vec<u64>], b: &[Vec<u64>]) -> f64 {
    if a.is_empty() {
        return 1.0;
    }
    let per: f64 = a
        .iter()
        .zip(b)
        .map(|(x, y)| {
            let hit = x.iter().filter(|i| y.contains(i)).count();
            hit as f64 / x.len().max(1) as f64
        })
        .sum();
    per / a.len() as f64
}

/// Uploads the rows to the GPU in both layouts (one row each: host-to-device GB/s) and times
/// top-10 search per batch size, query upload and result readback included; in f32 also
/// top-`k` for each of `extra_k` (k = 1 and k = 128: the tiled kernel's range). Every search row
/// names the kernel that served it (`tiled` for batches of at least
/// [`gpu::TILED_MIN_BATCH`] queries with `k <= K_TILED_MAX`, else `scan`).
#[allow(clippy::too_many_arguments)]
pub fn gpu_search(
    ctx: &GpuContext,
    rows: &[f32],
    dim: usize,
    queries: &[f32],
    batches: &[usize],
    extra_k: &[usize],
    reps: usize,
    glim: &GpuLimits,
    cpu_ids: &[CpuIds],
    out: &mut Vec<Row>,
) -> anyhow::Result<()> {
    let n = rows.len() / dim;
    for (layout, gl) in [(Layout::F32, GpuLayout::F32), (Layout::F16, GpuLayout::F16)] {
        let t = Instant::now();
        let m = GpuMatrix::from_rows(ctx, dim, gl, rows)?;
        let up = t.elapsed().as_secs_f64();
        out.push(Row {
            op: "upload".into(),
            backend: "gpu",
            layout: layout_name(layout),
            n,
            batch: 1,
            secs: up,
            throughput: (n * dim * 4) as f64 / up / 1e9,
            unit: "GB/s",
            limit: glim.bandwidth_gbps,
            limit_name: "device bandwidth",
            gpu_over_cpu: None,
            agreement: None,
            kernel: None,
        });
        let mut ks = vec![SEARCH_K];
        if layout == Layout::F32 {
            ks.extend_from_slice(extra_k);
        }
        for k in ks {
            for &b in batches {
                let q = &queries[..b * dim];
                let tiled = gpu::uses_tiled_kernel(ctx, dim, b, k);
                if b >= gpu::TILED_MIN_BATCH && k <= gpu::K_TILED_MAX && !tiled {
                    log::warn!(
                        "GPU search batch {b}, k = {k}: the tiled kernel does not fit this adapter; scan kernel"
                    );
                }
                let s = secs_of(reps, || gpu::search(ctx, &m, q, k).map(|r| r.len()));
                let mut row = search_row(
                    "gpu",
                    k,
                    layout,
                    n,
                    dim,
                    b,
                    s,
                    glim.bandwidth_gbps / 2.0,
                    (glim.fma_gflops, "FMA peak"),
                );
                if row.unit == "GB/s" {
                    row.limit_name = "device read bandwidth (copy ÷ 2)";
                }
                row.kernel = Some(if tiled { "tiled" } else { "scan" });
                let res = gpu::search(ctx, &m, q, k)?;
                row.agreement = cpu_ids
                    .iter()
                    .find(|(l, cb, ck, _)| *l == layout && *cb == b && *ck == k)
                    .map(|(_, _, _, ids)| overlap(ids, &hit_ids(&res)));
                out.push(row);
            }
        }
    }
    Ok(())
}

/// One k-means iteration (assign + partial sums) on the CPU; returns the labels.
pub fn cpu_kmeans(
    rows: &[f32],
    dim: usize,
    k: usize,
    reps: usize,
    lim: &CpuLimits,
    out: &mut Vec<Row>,
) -> anyhow::Result<Vec<u32>> {
    let n = rows.len() / dim;
    let cents = &rows[..k * dim];
    let s = secs_of(reps, || {
        let a = assign(rows, dim, cents).ok()?;
        partial_sums(rows, dim, &a.labels, k).ok().map(|p| p.k)
    });
    out.push(kmeans_row("cpu", n, dim, k, s, lim.fma_gflops, "FMA peak"));
    Ok(assign(rows, dim, cents)?.labels)
}

/// One k-means iteration (assign + partial sums, labels read back in between) on the GPU.
#[allow(clippy::too_many_arguments)]
pub fn gpu_kmeans(
    ctx: &GpuContext,
    rows: &[f32],
    dim: usize,
    k: usize,
    reps: usize,
    glim: &GpuLimits,
    cpu_labels: &[u32],
    out: &mut Vec<Row>,
) -> anyhow::Result<()> {
    let n = rows.len() / dim;
    let m = GpuMatrix::from_rows(ctx, dim, GpuLayout::F32, rows)?;
    let cents = &rows[..k * dim];
    let s = secs_of(reps, || {
        let (labels, _) = gpu::kmeans_assign(ctx, &m, cents, k).ok()?;
        gpu::kmeans_partial_sums(ctx, &m, &labels, k)
            .ok()
            .map(|p| p.1.len())
    });
    let (labels, _) = gpu::kmeans_assign(ctx, &m, cents, k)?;
    let same = labels
        .iter()
        .zip(cpu_labels)
        .filter(|(a, b)| a == b)
        .count();
    let mut row = kmeans_row("gpu", n, dim, k, s, glim.fma_gflops, "FMA peak");
    row.agreement = Some(same as f64 / n.max(1) as f64);
    out.push(row);
    Ok(())
}

fn kmeans_row(
    backend: &'static str,
    n: usize,
    dim: usize,
    k: usize,
    secs: f64,
    limit: f64,
    limit_name: &'static str,
) -> Row {
    Row {
        op: format!("kmeans iteration (k = {k})"),
        backend,
        layout: "f32",
        n,
        batch: 1,
        secs,
        throughput: 2.0 * (n * dim * k) as f64 / secs / 1e9,
        unit: "GFLOP/s",
        limit,
        limit_name,
        gpu_over_cpu: None,
        agreement: None,
        kernel: None,
    }
}

/// One warm consolidation cycle against one Lloyd iteration, measured in the same run.
#[derive(Debug, Clone)]
pub struct ConsolidationFigures {
    /// New rows in the warm cycle (as many again were consolidated by the cold cycle before).
    pub n: usize,
    /// Clusters (`ClusterCount::Fixed(k)`; concepts formed by the cold cycle).
    pub k: usize,
    /// Concepts the warm cycle started from.
    pub concepts: usize,
    /// Median seconds of the warm cycle.
    pub cycle_s: f64,
    /// Median seconds of one Lloyd iteration (assign + partial sums + reduce) over the same
    /// new rows with the same centroids.
    pub lloyd_s: f64,
    /// The warm cycle's report (last repetition).
    pub report: engram::CycleReport,
}

impl ConsolidationFigures {
    /// Warm cycle ÷ Lloyd iteration (target ≤ 3).
    pub fn ratio(&self) -> f64 {
        self.cycle_s / self.lloyd_s
    }

    /// The figures as JSON.
    pub fn json(&self, backend: &str) -> serde_json::Value {
        let t = self.report.timings;
        serde_json::json!({
            "backend": backend, "n_new": self.n, "n_replayed": self.report.episodes_replayed,
            "k": self.k, "concepts": self.concepts,
            "warm_cycle_ms": self.cycle_s * 1e3, "lloyd_iteration_ms": self.lloyd_s * 1e3,
            "ratio": self.ratio(), "target_ratio": 3.0,
            "phases_ms": {
                "sample": t.sample.as_secs_f64() * 1e3, "cluster": t.cluster.as_secs_f64() * 1e3,
                "matching": t.matching.as_secs_f64() * 1e3, "apply": t.apply.as_secs_f64() * 1e3,
                "decay": t.decay.as_secs_f64() * 1e3, "prune": t.prune.as_secs_f64() * 1e3, "lists": t.lists.as_secs_f64() * 1e3,
            },
        })
    }
}

/// A warm consolidation cycle over `n` new rows of a `k`-cluster synthetic stream (the
/// engine first consolidated `n` older rows of the same stream, cold, with
/// `ClusterCount::Fixed(k)`), each repetition on a fresh clone of that engine, against one
/// Lloyd iteration with the concepts' centroids over the same new rows. Pushes one row:
/// cycle throughput in new episodes/s, with the Lloyd iteration's rate as its limit.
pub fn consolidation(
    n: usize,
    dim: usize,
    k: usize,
    reps: usize,
    backend: BackendChoice,
    seed: u64,
    out: &mut Vec<Row>,
) -> anyhow::Result<ConsolidationFigures> {
    use engram::cluster::reduce;
    use engram::{ClusterCount, ConsolidationConfig};
    let synth = engram::synth::SynthParams::new(2 * n, dim, k)
        .seed(seed)
        .check()?;
    let old = synth.rows(0, n);
    let new = synth.rows(n, 2 * n);
    let cfg = ConsolidationConfig::default()
        .clusters(ClusterCount::Fixed(k))
        .seed(seed);
    let mut e = Engram::new(Config::new(dim).backend(backend).consolidation(cfg))?;
    e.remember_batch(&old.data, vec![EpisodeMeta::at(0); n])?;
    e.consolidate(10)?;
    let concepts = e.concepts();
    let centroids: Vec<f32> = concepts
        .iter()
        .flat_map(|c| e.centroid(c.id).unwrap_or_default())
        .collect();
    let mut times = Vec::new();
    let mut report = None;
    for _ in 0..reps.max(1) {
        let mut e2 = e.clone();
        e2.remember_batch(&new.data, vec![EpisodeMeta::at(20); n])?;
        let t = Instant::now();
        let r = e2.consolidate(30)?;
        times.push(t.elapsed().as_secs_f64());
        report = Some(r);
    }
    times.sort_by(f64::total_cmp);
    let cycle_s = times[times.len() / 2];
    let kk = centroids.len() / dim;
    let lloyd_s = secs_of(reps, || {
        let a = assign(&new.data, dim, &centroids).ok()?;
        let s = partial_sums(&new.data, dim, &a.labels, kk).ok()?;
        reduce(&s, &centroids).ok().map(|c| c.len())
    });
    let f = ConsolidationFigures {
        n,
        k,
        concepts: concepts.len(),
        cycle_s,
        lloyd_s,
        report: report.unwrap_or_default(),
    };
    out.push(Row {
        op: format!("consolidation cycle (warm, k = {k})"),
        backend: if matches!(backend, BackendChoice::Gpu) {
            "gpu"
        } else {
            "cpu"
        },
        layout: "f32",
        n,
        batch: 1,
        secs: cycle_s,
        throughput: n as f64 / cycle_s,
        unit: "episodes/s",
        limit: n as f64 / lloyd_s,
        limit_name: "one Lloyd iteration, same k and rows",
        gpu_over_cpu: None,
        agreement: None,
        kernel: None,
    });
    Ok(f)
}
