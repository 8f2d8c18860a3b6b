//! `engram bench`: the machine's limits first (CPU read bandwidth, FMA peak and GEMM; GPU copy bandwidth
//! and FMA peak), then ingest, search (batch 1, small and large batches; f32 and f16) and k-means
//! iterations on both backends at several sizes, each reported as time, throughput, % of the
//! measured limit and GPU/CPU ratio; on the GPU also top-k with k = 1 and k = 128 (the tiled
//! batch kernel's range; each GPU search row names its kernel); one warm consolidation cycle at
//! the largest size against one Lloyd iteration with the same k (target ratio ≤ 3); the
//! crossover where the GPU starts to win; JSON, markdown and an SVG plot in `--out`.
//!
//! On a software adapter (lavapipe) the GPU rows are correctness-only: GPU sizes are capped at
//! `--gpu-software-max-n` and batches at 64, and the report says so.

mod measure;
mod report;

use std::path::PathBuf;

use anyhow::Context;
use engram::bench::cpu_limits;
use engram::cluster::normalize_rows;
use engram::compute::backend::shared_context;
use engram::compute::gpu::{measure_bandwidth, measure_fma_peak, GpuContext};
use engram::{BackendChoice, Config, Engram, Precision};
use rand::{Rng, SeedableRng};
use serde_json::{json, Value};

use crate::util::{positive, print_json, usage_error, Common, Progress};
use measure::GpuLimits;
pub use report::Row;

/// Arguments of `engram bench`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// Store sizes (rows), comma-separated.
    #[arg(long, value_parser = positive, value_delimiter = ',', default_value = "20000,100000,200000")]
    pub sizes: Vec<usize>,
    /// Query batch sizes, comma-separated.
    #[arg(long, value_parser = positive, value_delimiter = ',', default_value = "1,16,64,256,1000")]
    pub batches: Vec<usize>,
    /// Dimension (1 to 65,536).
    #[arg(long, value_parser = crate::util::bounded(1 << 16), default_value = "384")]
    pub dim: usize,
    /// Clusters of the k-means iteration.
    #[arg(long, value_parser = positive, default_value = "64")]
    pub k: usize,
    /// Repetitions per timing (the median is reported).
    #[arg(long, value_parser = positive, default_value = "5")]
    pub reps: usize,
    /// Largest GPU store on a software adapter (its rows are correctness-only).
    #[arg(long, value_parser = positive, default_value = "20000")]
    pub gpu_software_max_n: usize,
    /// Tiny sizes for a smoke test: sizes 4000,8000, batches 1,16, 2 repetitions.
    #[arg(long)]
    pub quick: bool,
    /// Directory for bench.json, bench.md and bench.svg (nothing written when absent).
    #[arg(long)]
    pub out: Option<PathBuf>,
}

fn random_rows(n: usize, dim: usize, seed: u64) -> Vec<f32> {
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(seed);
    let mut v: Vec<f32> = (0..n * dim).map(|_| rng.random::<f32>() - 0.5).collect();
    // Random rows are never zero; normalising cannot fail.
    let _ = normalize_rows(&mut v, dim);
    v
}

/// The GPU to benchmark: any adapter (software ones included, as correctness-only) unless the
/// CPU was asked for.
fn gpu_context(c: &Common) -> anyhow::Result<Option<std::sync::Arc<GpuContext>>> {
    match c.backend {
        BackendChoice::Cpu => Ok(None),
        BackendChoice::Gpu => Ok(Some(shared_context(true)?)),
        _ => Ok(shared_context(true).ok()),
    }
}

/// Runs `engram bench`.
pub fn run(c: &Common, mut a: Args) -> anyhow::Result<()> {
    normalise_args(&mut a);
    // Steps: the CPU limits, the GPU's, each size, the consolidation cycle.
    let mut progress = Progress::new(c, a.sizes.len() as u64 + 3, "steps");
    let lim = measure_cpu_limits(&mut progress);
    let gpu = gpu_plan(c, &a, &mut progress)?;
    let mut sizes = a.sizes.clone();
    sizes.extend(&gpu.sizes);
    sizes.sort_unstable();
    sizes.dedup();
    let max_batch = *a.batches.iter().max().unwrap_or(&1);
    let queries = random_rows(max_batch, a.dim, c.seed ^ 0x5eed);
    let mut rows_out: Vec<Row> = Vec::new();
    progress.set_total(sizes.len() as u64 + 3);
    for (step, &n) in sizes.iter().enumerate() {
        progress.set(step as u64 + 2, &format!("N = {n}"));
        progress.println(&format!("N = {n}: ingest, search, k-means..."));
        let largest = Some(&n) == sizes.last();
        measure_size(&a, c.seed, n, largest, &queries, &lim, &gpu, &mut rows_out)?;
    }
    progress.set(sizes.len() as u64 + 2, "consolidation");
    let cons = measure_consolidation(c, &a, gpu.software, &mut progress, &mut rows_out)?;
    progress.finish();
    // The read limit is the best the probe saw, before or after the measurements: a shared
    // machine's bandwidth drifts over a run, and a kernel is compared with the best rate.
    let again = engram::bench::read_bandwidth_probe(lim.threads, lim.read_bytes, 10);
    let lim = best_read_limit(lim, again.gbps, again.streams, &mut rows_out);
    report::pair_rows(&mut rows_out);
    write_report(c, &a, &lim, &gpu, &rows_out, &cons)
}

/// Applies `--quick`, sorts and deduplicates the sizes and batches, and checks `--k` and that
/// the largest size fits in memory.
fn normalise_args(a: &mut Args) {
    if a.quick {
        a.sizes = vec![4000, 8000];
        a.batches = vec![1, 16];
        a.reps = a.reps.min(2);
    }
    a.sizes.sort_unstable();
    a.sizes.dedup();
    a.batches.sort_unstable();
    a.batches.dedup();
    if a.k > a.sizes[0] {
        usage_error(format!(
            "--k {} is larger than the smallest size {}",
            a.k, a.sizes[0]
        ));
    }
    if let Some(&largest) = a.sizes.last() {
        // The rows, their f16 copy and the GPU staging copy: about 12 bytes per component.
        crate::util::check_rows_fit(
            largest,
            a.dim,
            12,
            crate::util::available_memory(),
            "the memory available",
        );
    }
}

/// Step 0: measures the CPU's limits and prints them.
fn measure_cpu_limits(progress: &mut Progress) -> engram::bench::CpuLimits {
    progress.set(0, "CPU limits");
    progress
        .println("measuring CPU limits (sequential read, FMA at 256 and 512 bits, 2048³ GEMM)...");
    let lim = cpu_limits();
    progress.println(&format!(
        "  read {:.1} GB/s (1 thread {:.1}; {} MiB, {} stream(s)/thread), FMA peak {:.1} GFLOP/s ({}), GEMM {:.1} GFLOP/s, {} threads",
        lim.read_gbps,
        lim.read_gbps_1t,
        lim.read_bytes >> 20,
        lim.read_streams,
        lim.fma_gflops,
        fma_text(&lim),
        lim.gemm_gflops,
        lim.threads
    ));
    lim
}

/// The GPU of the run, its measured limits and what is measured on it.
struct GpuPlan {
    ctx: Option<std::sync::Arc<GpuContext>>,
    limits: Option<GpuLimits>,
    /// Whether the adapter is a software one (`None`: no GPU).
    software: Option<bool>,
    /// Store sizes measured on the GPU (capped on a software adapter).
    sizes: Vec<usize>,
    /// Query batch sizes measured on the GPU (at most 64 on a software adapter).
    batches: Vec<usize>,
    /// Repetitions per GPU timing (1 on a software adapter).
    reps: usize,
}

/// Step 1: finds the GPU, measures its limits (printing them) and decides what runs on it.
fn gpu_plan(c: &Common, a: &Args, progress: &mut Progress) -> anyhow::Result<GpuPlan> {
    progress.set(1, "GPU limits");
    let ctx = gpu_context(c)?;
    let mut glim = None;
    if let Some(ctx) = &ctx {
        let caps = ctx.capabilities();
        progress.println(&format!(
            "measuring GPU limits on {} ({})...",
            caps.adapter_name, caps.device_type
        ));
        let g = GpuLimits {
            bandwidth_gbps: measure_bandwidth(ctx)?,
            fma_gflops: measure_fma_peak(ctx)?,
        };
        progress.println(&format!(
            "  copy bandwidth {:.1} GB/s, FMA {:.1} GFLOP/s",
            g.bandwidth_gbps, g.fma_gflops
        ));
        glim = Some(g);
    }
    let software = ctx.as_ref().map(|c| c.capabilities().is_software);
    let (sizes, batches, reps) = if software == Some(true) {
        let s: Vec<usize> = a
            .sizes
            .iter()
            .copied()
            .filter(|&n| n <= a.gpu_software_max_n)
            .collect();
        let s = if s.is_empty() {
            vec![a.sizes[0].min(a.gpu_software_max_n)]
        } else {
            s
        };
        let b: Vec<usize> = a.batches.iter().copied().filter(|&b| b <= 64).collect();
        (s, b, 1)
    } else {
        (a.sizes.clone(), a.batches.clone(), a.reps)
    };
    Ok(GpuPlan {
        ctx,
        limits: glim,
        software,
        sizes,
        batches,
        reps,
    })
}

/// Measures ingest, search and k-means at store size `n` on the CPU and, where the GPU runs
/// at that size, on the GPU (the ingest splits at the `largest` size only).
#[allow(clippy::too_many_arguments)]
fn measure_size(
    a: &Args,
    seed: u64,
    n: usize,
    largest: bool,
    queries: &[f32],
    lim: &engram::bench::CpuLimits,
    gpu: &GpuPlan,
    rows_out: &mut Vec<Row>,
) -> anyhow::Result<()> {
    let dim = a.dim;
    let rows = random_rows(n, dim, seed + n as u64);
    measure::ingest(&rows, dim, a.reps.min(3), lim, rows_out);
    if largest {
        measure::ingest_splits(&rows, dim, lim, rows_out);
    }
    let mut e = Engram::new(
        Config::new(dim)
            .precision(Precision::F32AndF16)
            .backend(BackendChoice::Cpu),
    )?;
    e.remember_batch(&rows, vec![])?;
    // k = 1 and k = 128 on the CPU too where the GPU runs (its reference and its pair).
    let gpu_here = gpu.ctx.is_some() && gpu.sizes.contains(&n);
    let extra_k: &[usize] = if gpu_here { &EXTRA_K } else { &[] };
    let cpu_ids = measure::cpu_search(&e, queries, &a.batches, extra_k, a.reps, lim, rows_out)?;
    drop(e);
    let k = a.k.min(n);
    let labels = measure::cpu_kmeans(&rows, dim, k, a.reps, lim, rows_out)?;
    if let (Some(ctx), Some(g)) = (&gpu.ctx, &gpu.limits) {
        if gpu.sizes.contains(&n) {
            measure::gpu_search(
                ctx,
                &rows,
                dim,
                queries,
                &gpu.batches,
                &EXTRA_K,
                gpu.reps,
                g,
                &cpu_ids,
                rows_out,
            )?;
            measure::gpu_kmeans(ctx, &rows, dim, k, gpu.reps, g, &labels, rows_out)?;
        }
    }
    Ok(())
}

/// The last step: one warm consolidation cycle at the largest size against one Lloyd
/// iteration, on the CPU and on a hardware GPU.
fn measure_consolidation(
    c: &Common,
    a: &Args,
    software: Option<bool>,
    progress: &mut Progress,
    rows_out: &mut Vec<Row>,
) -> anyhow::Result<Vec<measure::ConsolidationFigures>> {
    let n_max = *a.sizes.last().unwrap_or(&a.sizes[0]);
    let k = a.k.min(n_max);
    progress.println(&format!(
        "consolidation: a warm cycle over {n_max} new rows, k = {k}..."
    ));
    let mut cons = vec![measure::consolidation(
        n_max,
        a.dim,
        k,
        a.reps.min(3),
        BackendChoice::Cpu,
        c.seed,
        rows_out,
    )?];
    if software == Some(false) {
        cons.push(measure::consolidation(
            n_max,
            a.dim,
            k,
            a.reps.min(3),
            BackendChoice::Gpu,
            c.seed,
            rows_out,
        )?);
    }
    Ok(cons)
}

/// Raises the read limit to `gbps` (a second probe) if that is higher, and the limits of the
/// CPU rows measured against it in proportion.
fn best_read_limit(
    mut lim: engram::bench::CpuLimits,
    gbps: f64,
    streams: usize,
    rows: &mut [Row],
) -> engram::bench::CpuLimits {
    if gbps > lim.read_gbps && lim.read_gbps > 0.0 {
        let scale = gbps / lim.read_gbps;
        for r in rows.iter_mut().filter(|r| {
            r.backend == "cpu"
                && r.limit_name.contains("bandwidth")
                && !r.limit_name.starts_with("no ")
        }) {
            r.limit *= scale;
        }
        lim.read_gbps = gbps;
        lim.read_streams = streams;
    }
    lim
}

/// The `k` of the extra search rows (besides 10): the tiled kernel's smallest and largest.
const EXTRA_K: [usize; 2] = [1, engram::compute::gpu::K_TILED_MAX];

/// Writes the report: JSON, markdown and an SVG plot to `--out` if given, and the
/// markdown (or the JSON with `--json`) to stdout.
fn write_report(
    c: &Common,
    a: &Args,
    lim: &engram::bench::CpuLimits,
    gpu: &GpuPlan,
    rows: &[Row],
    cons: &[measure::ConsolidationFigures],
) -> anyhow::Result<()> {
    let (ctx, glim, software) = (gpu.ctx.as_deref(), gpu.limits, gpu.software);
    let machine = report::machine_name();
    let date = report::today();
    let (cross_json, cross_text) = report::crossover(rows, software);
    let notes = report_notes(cross_text, ctx.is_some(), software, cons);
    let head = report_head(&machine, &date, a, lim, gpu_line(ctx, glim, software));
    let table = report::markdown(&head, rows, &notes);
    let report = json!({
        "machine": machine, "date": date,
        "args": { "sizes": a.sizes, "batches": a.batches, "dim": a.dim, "k": a.k, "reps": a.reps },
        "limits": {
            "cpu": { "threads": lim.threads, "read_gbps": lim.read_gbps,
                     "read_gbps_1t": lim.read_gbps_1t, "read_bytes": lim.read_bytes,
                     "read_streams": lim.read_streams, "gemm_gflops": lim.gemm_gflops,
                     "fma_gflops": lim.fma_gflops, "fma_gflops_256": lim.fma_gflops_256,
                     "fma_gflops_512": lim.fma_gflops_512, "fma512": lim.fma512.name() },
            "gpu": gpu_json(ctx, glim),
        },
        "gpu_software": software,
        "crossover": cross_json,
        "consolidation": cons.iter().zip(["cpu", "gpu"]).map(|(f, b)| f.json(b)).collect::<Vec<_>>(),
        "notes": notes,
        "results": rows.iter().map(Row::json).collect::<Vec<_>>(),
    });
    if let Some(dir) = &a.out {
        write_files(dir, &report, &table, rows, software)?;
    }
    if c.json {
        print_json(&report)
    } else {
        print!("{table}");
        Ok(())
    }
}

/// The report's notes: the crossover (`cross_text`), what the GPU figures are worth, the
/// consolidation cycles against Lloyd, the GPU search kernels and what search times include.
fn report_notes(
    cross_text: String,
    has_gpu: bool,
    software: Option<bool>,
    cons: &[measure::ConsolidationFigures],
) -> Vec<String> {
    let mut notes = vec![cross_text];
    match software {
        Some(true) => {
            notes.push("GPU figures are from a software adapter: correctness only".into());
            notes.push("GPU figures are still to be taken: no GPU machine was available".into());
        }
        None => {
            notes.push("GPU figures are still to be taken: no GPU machine was available".into())
        }
        Some(false) => {}
    }
    for (f, backend) in cons.iter().zip(["cpu", "gpu"]) {
        notes.push(format!(
            "consolidation ({backend}): one warm cycle over {} new + {} replayed rows with k = {} took {:.1} ms = {:.2}× one Lloyd iteration ({:.1} ms, same k, same rows; target ≤ 3)",
            f.n,
            f.report.episodes_replayed,
            f.k,
            f.cycle_s * 1e3,
            f.ratio(),
            f.lloyd_s * 1e3
        ));
    }
    if has_gpu {
        notes.push(format!(
            "GPU search rows name their kernel: batches of ≥ {} queries with k ≤ {} take the tiled batch kernel; `search (k = 1)` and `search (k = {})` rows (f32) show its range",
            engram::compute::gpu::TILED_MIN_BATCH,
            engram::compute::gpu::K_TILED_MAX,
            engram::compute::gpu::K_TILED_MAX
        ));
    }
    notes.push(
        "search times include query upload and result readback on the GPU; `upload` rows are the one-time copy of the store".into(),
    );
    notes
}

/// The GPU's capabilities and measured limits (JSON; null without a GPU).
fn gpu_json(ctx: Option<&GpuContext>, glim: Option<GpuLimits>) -> Value {
    match (ctx, glim) {
        (Some(ctx), Some(g)) => {
            let mut v = crate::info::caps_json(ctx.capabilities());
            v["copy_bandwidth_gbps"] = json!(g.bandwidth_gbps);
            v["fma_gflops"] = json!(g.fma_gflops);
            v
        }
        _ => Value::Null,
    }
}

/// The GPU's sentence of the report's head.
fn gpu_line(ctx: Option<&GpuContext>, glim: Option<GpuLimits>, software: Option<bool>) -> String {
    match (ctx, glim) {
        (Some(ctx), Some(g)) => format!(
            "GPU {} ({}): copy bandwidth {:.1} GB/s, FMA {:.1} GFLOP/s{}.",
            ctx.capabilities().adapter_name,
            ctx.capabilities().device_type,
            g.bandwidth_gbps,
            g.fma_gflops,
            if software == Some(true) {
                " — a software adapter: its rows are correctness-only"
            } else {
                ""
            }
        ),
        _ => "No GPU adapter in this run.".into(),
    }
}

/// The markdown report's head: title, command and the limits measured.
fn report_head(
    machine: &str,
    date: &str,
    a: &Args,
    lim: &engram::bench::CpuLimits,
    gpu_line: String,
) -> String {
    format!(
        "# engram bench — {machine}, {date}\n\n\
         Command: `engram bench --sizes {} --batches {} --dim {} --k {} --reps {}`\n\n\
         Limits measured in this run: CPU sequential read {:.1} GB/s ({} threads; {:.1} GB/s on one; \
         best pass over {} MiB (≥ 4× the L3 cache) of probes before and after the measurements, {} stream(s) per thread), \
         f32 FMA peak {:.1} GFLOP/s (independent FMAs on registers: {}), f32 GEMM 2048³ {:.1} GFLOP/s \
         (the `gemm` crate). {gpu_line}\n",
        join(&a.sizes),
        join(&a.batches),
        a.dim,
        a.k,
        a.reps,
        lim.read_gbps,
        lim.threads,
        lim.read_gbps_1t,
        lim.read_bytes >> 20,
        lim.read_streams,
        lim.fma_gflops,
        fma_text(lim),
        lim.gemm_gflops
    )
}

/// Writes bench.json, bench.md and bench.svg to `dir`.
fn write_files(
    dir: &std::path::Path,
    report: &Value,
    table: &str,
    rows: &[Row],
    software: Option<bool>,
) -> anyhow::Result<()> {
    std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    std::fs::write(
        dir.join("bench.json"),
        serde_json::to_string_pretty(report)?,
    )?;
    std::fs::write(dir.join("bench.md"), table)?;
    crate::plot::write_svg(&dir.join("bench.svg"), rows, software == Some(true))?;
    eprintln!(
        "wrote {0}/bench.json, {0}/bench.md and {0}/bench.svg",
        dir.display()
    );
    Ok(())
}

/// The FMA rates at both widths and how 512-bit FMAs issue: "256-bit 120.3, 512-bit 121.0
/// GFLOP/s; 512-bit FMA: double-pumped".
fn fma_text(lim: &engram::bench::CpuLimits) -> String {
    match lim.fma_gflops_512 {
        Some(w) => format!(
            "256-bit {:.1}, 512-bit {:.1} GFLOP/s; 512-bit FMA: {}",
            lim.fma_gflops_256,
            w,
            lim.fma512.name()
        ),
        None => format!("256-bit {:.1} GFLOP/s; no AVX-512", lim.fma_gflops_256),
    }
}

fn join(v: &[usize]) -> String {
    v.iter()
        .map(|x| x.to_string())
        .collect::<Vec<_>>()
        .join(",")
}
