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

/// The CPU's top-10 ids for one layout and batch size, one list per query.
pub type CpuIds = (Layout, usize, Vec<Vec<u64>>);

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
        });
    }
}

/// The figure of one search call: GB/s of rows read for one query, GFLOP/s for a batch.
#[allow(clippy::too_many_arguments)]
fn search_row(
    backend: &'static str,
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
        op: "search".into(),
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
    }
}

/// Top-10 search on the CPU for each batch size and layout. Returns the ids of every batch's
/// results (for the GPU's agreement check).
#[allow(clippy::too_many_arguments)]
pub fn cpu_search(
    e: &Engram,
    queries: &[f32],
    batches: &[usize],
    reps: usize,
    lim: &CpuLimits,
    out: &mut Vec<Row>,
) -> anyhow::Result<Vec<CpuIds>> {
    let (n, dim) = (e.len(), e.dim());
    let mut ids = Vec::new();
    for layout in [Layout::F32, Layout::F16] {
        for &b in batches {
            let q = &queries[..b * dim];
            let r = if b >= 256 { reps.div_ceil(3) } else { reps };
            let s = secs_of(r, || e.search_batch_in(q, 10, layout));
            out.push(search_row(
                "cpu",
                layout,
                n,
                dim,
                b,
                s,
                lim.read_gbps,
                (lim.gemm_gflops, "GEMM peak"),
            ));
            let res = e.search_batch_in(q, 10, layout)?;
            ids.push((layout, b, to_ids(&res)));
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
/// top-10 search per batch size, query upload and result readback included.
#[allow(clippy::too_many_arguments)]
pub fn gpu_search(
    ctx: &GpuContext,
    rows: &[f32],
    dim: usize,
    queries: &[f32],
    batches: &[usize],
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
        });
        for &b in batches {
            let q = &queries[..b * dim];
            let s = secs_of(reps, || gpu::search(ctx, &m, q, 10).map(|r| r.len()));
            let mut row = search_row(
                "gpu",
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
            let res = gpu::search(ctx, &m, q, 10)?;
            row.agreement = cpu_ids
                .iter()
                .find(|(l, cb, _)| *l == layout && *cb == b)
                .map(|(_, _, ids)| overlap(ids, &hit_ids(&res)));
            out.push(row);
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
    out.push(kmeans_row(
        "cpu",
        n,
        dim,
        k,
        s,
        lim.gemm_gflops,
        "GEMM peak",
    ));
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
    }
}
