//! `engram bench`: the machine's limits first, then every operation timed on each backend and
//! reported as time, throughput, % of the measured limit and ratio to its peer.

use std::fmt::Write as _;
use std::path::PathBuf;
use std::time::Duration;

use anyhow::Context;
use engram::bench::{cpu_limits, median_time, CpuLimits};
use engram::compute::cpu::{search, SimdLevel};
use engram::{Config, Engram, Layout, Precision};
use rand::{Rng, SeedableRng};
use serde_json::{json, Value};

use crate::util::{print_json, Common};

/// Arguments of `engram bench`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// Rows in the store.
    #[arg(long, default_value_t = 200_000)]
    pub n: usize,
    /// Dimension.
    #[arg(long, default_value_t = 384)]
    pub dim: usize,
    /// Repetitions per timing (the median is reported).
    #[arg(long, default_value_t = 9)]
    pub reps: usize,
    /// Small sizes, for a quick check.
    #[arg(long)]
    pub quick: bool,
    /// Directory for the JSON and markdown report (nothing written when absent).
    #[arg(long)]
    pub out: Option<PathBuf>,
}

/// One measured figure.
struct Row {
    op: String,
    backend: String,
    n: usize,
    batch: usize,
    secs: f64,
    throughput: f64,
    unit: &'static str,
    limit: f64,
    limit_name: &'static str,
    peer: Option<(String, f64)>,
}

impl Row {
    fn pct(&self) -> f64 {
        100.0 * self.throughput / self.limit
    }
    fn json(&self) -> Value {
        json!({
            "op": self.op, "backend": self.backend, "n": self.n, "batch": self.batch,
            "ms": self.secs * 1e3, "throughput": self.throughput, "unit": self.unit,
            "limit": self.limit, "limit_name": self.limit_name, "pct_of_limit": self.pct(),
            "peer": self.peer.as_ref().map(|p| json!({"name": p.0, "speedup": p.1})),
        })
    }
}

fn rows(n: usize, dim: usize, seed: u64) -> Vec<f32> {
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(seed);
    (0..n * dim).map(|_| rng.random::<f32>() - 0.5).collect()
}

/// Runs `engram bench`.
pub fn run(c: &Common, mut a: Args) -> anyhow::Result<()> {
    if a.quick {
        a.n = a.n.min(20_000);
        a.reps = a.reps.min(3);
    }
    anyhow::ensure!(a.n >= 1 && a.dim >= 1, "--n and --dim must be at least 1");
    let (n, dim, reps) = (a.n, a.dim, a.reps);
    eprintln!("measuring CPU limits (sequential read, 2048³ GEMM)...");
    let lim = cpu_limits();
    eprintln!(
        "  read {:.1} GB/s (1 thread {:.1}), GEMM {:.1} GFLOP/s, {} threads",
        lim.read_gbps, lim.read_gbps_1t, lim.gemm_gflops, lim.threads
    );
    eprintln!("building a {n} x {dim} store (f32 + f16 copy)...");
    let mut e = Engram::new(Config::new(dim).precision(Precision::F32AndF16))?;
    for start in (0..n).step_by(50_000) {
        let m = (n - start).min(50_000);
        e.remember_batch(&rows(m, dim, c.seed + start as u64), vec![])?;
    }
    let mut out = Vec::new();
    search_rows(&e, &lim, n, dim, reps, c.seed, &mut out)?;
    let machine = machine_name();
    let date = today();
    let report = json!({
        "machine": machine, "date": date,
        "limits": { "cpu": {
            "threads": lim.threads, "read_gbps": lim.read_gbps,
            "read_gbps_1t": lim.read_gbps_1t, "gemm_gflops": lim.gemm_gflops,
        }, "gpu": Value::Null },
        "gpu_note": "GPU figures are still to be taken: no GPU machine was available",
        "results": out.iter().map(Row::json).collect::<Vec<_>>(),
    });
    let table = markdown(&machine, &date, &lim, &out);
    if let Some(dir) = &a.out {
        std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
        let stem = format!("bench-cpu-n{n}-d{dim}");
        std::fs::write(
            dir.join(format!("{stem}.json")),
            serde_json::to_string_pretty(&report)?,
        )?;
        std::fs::write(dir.join(format!("{stem}.md")), &table)?;
        eprintln!("wrote {}/{stem}.json and .md", dir.display());
    }
    if c.json {
        print_json(&report)
    } else {
        print!("{table}");
        Ok(())
    }
}

fn search_rows(
    e: &Engram,
    lim: &CpuLimits,
    n: usize,
    dim: usize,
    reps: usize,
    seed: u64,
    out: &mut Vec<Row>,
) -> anyhow::Result<()> {
    let q1 = rows(1, dim, seed ^ 0x5eed);
    let bytes32 = (n * dim * 4) as f64;
    let gb = |secs: f64, bytes: f64| bytes / secs / 1e9;
    let t = |d: Duration| d.as_secs_f64();
    let single = t(median_time(reps * 3, || {
        e.search_batch_in(&q1, 10, Layout::F32)
    }));
    let chunks = e.episode_vectors().row_chunks(false);
    let scalar = t(median_time(reps, || {
        search(SimdLevel::Scalar, &chunks, dim, &q1, 10, None)
    }));
    let f16 = t(median_time(reps * 3, || {
        e.search_batch_in(&q1, 10, Layout::F16)
    }));
    out.push(Row {
        op: "search top-10, 1 query, f32".into(),
        backend: "cpu-scalar".into(),
        n,
        batch: 1,
        secs: scalar,
        throughput: gb(scalar, bytes32),
        unit: "GB/s",
        limit: lim.read_gbps,
        limit_name: "read bandwidth",
        peer: None,
    });
    out.push(Row {
        op: "search top-10, 1 query, f32".into(),
        backend: format!("cpu-{}", e.simd_level().name()),
        n,
        batch: 1,
        secs: single,
        throughput: gb(single, bytes32),
        unit: "GB/s",
        limit: lim.read_gbps,
        limit_name: "read bandwidth",
        peer: Some(("scalar loop".into(), scalar / single)),
    });
    out.push(Row {
        op: "search top-10, 1 query, f16".into(),
        backend: format!("cpu-{}", e.simd_level().name()),
        n,
        batch: 1,
        secs: f16,
        throughput: gb(f16, bytes32 / 2.0),
        unit: "GB/s",
        limit: lim.read_gbps,
        limit_name: "read bandwidth",
        peer: Some(("f32 search".into(), single / f16)),
    });
    for b in [16usize, 32, 64, 1000] {
        let q = rows(b, dim, seed + b as u64);
        let r = if b >= 1000 { reps.div_ceil(3) } else { reps };
        let tb = t(median_time(r, || e.search_batch_in(&q, 10, Layout::F32)));
        let flops = 2.0 * (n * dim * b) as f64;
        let peer = if b <= 64 {
            let ts = t(median_time(r, || {
                q.chunks(dim)
                    .map(|x| e.search_batch_in(x, 10, Layout::F32))
                    .collect::<Vec<_>>()
            }));
            Some((format!("{b} single-query calls"), ts / tb))
        } else {
            None
        };
        out.push(Row {
            op: format!("search top-10, batch {b}, f32"),
            backend: format!("cpu-{}", e.simd_level().name()),
            n,
            batch: b,
            secs: tb,
            throughput: flops / tb / 1e9,
            unit: "GFLOP/s",
            limit: lim.gemm_gflops,
            limit_name: "GEMM peak",
            peer,
        });
    }
    Ok(())
}

fn markdown(machine: &str, date: &str, lim: &CpuLimits, rows: &[Row]) -> String {
    let mut s = String::new();
    let _ = writeln!(s, "# engram bench — {machine}, {date}\n");
    let _ = writeln!(
        s,
        "Limits measured in this run: sequential read {:.1} GB/s ({} threads; {:.1} GB/s on one), \
         f32 GEMM 2048³ {:.1} GFLOP/s.\n",
        lim.read_gbps, lim.threads, lim.read_gbps_1t, lim.gemm_gflops
    );
    let _ = writeln!(
        s,
        "| operation | backend | N | time | throughput | % of limit | vs peer |\n|---|---|---:|---:|---:|---:|---|"
    );
    for r in rows {
        let peer = r
            .peer
            .as_ref()
            .map_or(String::from("—"), |(name, x)| format!("{x:.2}× {name}"));
        let _ = writeln!(
            s,
            "| {} | {} | {} | {:.2} ms | {:.1} {} | {:.0} % of {} | {} |",
            r.op,
            r.backend,
            r.n,
            r.secs * 1e3,
            r.throughput,
            r.unit,
            r.pct(),
            r.limit_name,
            peer
        );
    }
    let _ = writeln!(
        s,
        "\nGPU figures are still to be taken: no GPU machine was available for this run."
    );
    s
}

/// "AMD EPYC, 2 cores, 24 GiB" from /proc.
pub fn machine_name() -> String {
    let cpu = std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("model name"))
                .and_then(|l| l.split(':').nth(1))
                .map(|m| m.trim().to_string())
        })
        .unwrap_or_else(|| std::env::consts::ARCH.to_string());
    let mem_gib = std::fs::read_to_string("/proc/meminfo")
        .ok()
        .and_then(|s| {
            s.lines()
                .next()
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|kb| kb.parse::<f64>().ok())
        })
        .map_or(0.0, |kb| kb / 1024.0 / 1024.0);
    format!(
        "{cpu}, {} cores, {mem_gib:.0} GiB",
        std::thread::available_parallelism().map_or(1, |n| n.get())
    )
}

/// Today's UTC date as YYYY-MM-DD.
pub fn today() -> String {
    let secs = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    // Civil-from-days (H. Hinnant).
    let z = (secs / 86_400) as i64 + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    format!("{y:04}-{m:02}-{d:02}")
}
