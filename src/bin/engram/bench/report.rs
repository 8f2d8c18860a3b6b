//! The rows of the benchmark report, the markdown table, the crossover and the machine's name.

use std::fmt::Write as _;

use serde_json::{json, Value};

/// One measured figure.
#[derive(Debug, Clone)]
pub struct Row {
    /// `ingest`, `ingest split: …`, `upload`, `search` or `kmeans iteration`.
    pub op: String,
    /// `cpu` or `gpu`.
    pub backend: &'static str,
    /// `f32` or `f16` (the layout read).
    pub layout: &'static str,
    /// Rows in the store.
    pub n: usize,
    /// Queries per call (1 for non-search rows).
    pub batch: usize,
    /// Median seconds per call.
    pub secs: f64,
    /// Throughput in `unit`.
    pub throughput: f64,
    /// Unit of `throughput` and `limit`.
    pub unit: &'static str,
    /// The measured limit this figure is a fraction of.
    pub limit: f64,
    /// What the limit is.
    pub limit_name: &'static str,
    /// CPU time / GPU time at the same point (GPU rows only; > 1: the GPU is faster).
    pub gpu_over_cpu: Option<f64>,
    /// For GPU rows: the fraction of results equal to the CPU's (ids of top-k, or labels).
    pub agreement: Option<f64>,
    /// For GPU search rows: the kernel that served it (`tiled` or `scan`).
    pub kernel: Option<&'static str>,
}

impl Row {
    /// Throughput as a percentage of the limit.
    pub fn pct(&self) -> f64 {
        if self.limit > 0.0 {
            100.0 * self.throughput / self.limit
        } else {
            0.0
        }
    }

    /// Queries per second (search rows).
    pub fn queries_per_s(&self) -> f64 {
        self.batch as f64 / self.secs
    }

    /// The row as JSON.
    pub fn json(&self) -> Value {
        json!({
            "op": self.op, "backend": self.backend, "layout": self.layout,
            "n": self.n, "batch": self.batch,
            "ms": self.secs * 1e3, "throughput": self.throughput, "unit": self.unit,
            "limit": self.limit, "limit_name": self.limit_name, "pct_of_limit": self.pct(),
            "queries_per_s": (self.op == "search").then(|| self.queries_per_s()),
            "gpu_over_cpu": self.gpu_over_cpu, "agreement": self.agreement,
            "kernel": self.kernel,
        })
    }
}

/// Fills `gpu_over_cpu` of every GPU row from the CPU row with the same op, layout, N and batch.
pub fn pair_rows(rows: &mut [Row]) {
    let cpu: Vec<(String, &'static str, usize, usize, f64)> = rows
        .iter()
        .filter(|r| r.backend == "cpu")
        .map(|r| (r.op.clone(), r.layout, r.n, r.batch, r.secs))
        .collect();
    for r in rows.iter_mut().filter(|r| r.backend == "gpu") {
        r.gpu_over_cpu = cpu
            .iter()
            .find(|c| c.0 == r.op && c.1 == r.layout && c.2 == r.n && c.3 == r.batch)
            .map(|c| c.4 / r.secs);
    }
}

/// The smallest (N, batch) of f32 search at which the GPU (query upload and readback included)
/// beats the CPU, as JSON and a sentence.
pub fn crossover(rows: &[Row], software: Option<bool>) -> (Value, String) {
    match software {
        None => return (Value::Null, "no GPU adapter: no crossover measured".into()),
        Some(true) => {
            return (
                json!({"found": false, "reason": "software adapter: correctness only"}),
                "crossover: none — GPU figures are from a software adapter (correctness only)"
                    .into(),
            )
        }
        Some(false) => {}
    }
    let mut wins: Vec<&Row> = rows
        .iter()
        .filter(|r| {
            r.backend == "gpu" && r.op == "search" && r.gpu_over_cpu.is_some_and(|x| x > 1.0)
        })
        .collect();
    wins.sort_by_key(|r| (r.n * r.batch, r.n, r.batch));
    match wins.first() {
        Some(r) => (
            json!({"found": true, "n": r.n, "batch": r.batch, "layout": r.layout,
                   "gpu_over_cpu": r.gpu_over_cpu}),
            format!(
                "crossover: the GPU first beats the CPU at N = {}, batch {} ({}; {:.2}× faster, query upload and readback included)",
                r.n, r.batch, r.layout, r.gpu_over_cpu.unwrap_or(0.0)
            ),
        ),
        None => (
            json!({"found": false, "reason": "the GPU never beat the CPU in the measured range"}),
            "crossover: none in the measured range — the CPU was faster at every point".into(),
        ),
    }
}

/// The report as a markdown document.
pub fn markdown(head: &str, rows: &[Row], notes: &[String]) -> String {
    let mut s = String::new();
    let _ = writeln!(s, "{head}");
    let _ = writeln!(
        s,
        "| operation | backend | layout | N | batch | time | throughput | % of limit | GPU/CPU | agrees |\n|---|---|---|---:|---:|---:|---:|---:|---:|---:|"
    );
    for r in rows {
        let ratio = r
            .gpu_over_cpu
            .map_or_else(|| "—".into(), |x| format!("{x:.2}×"));
        let agree = r
            .agreement
            .map_or_else(|| "—".into(), |x| format!("{:.1} %", 100.0 * x));
        let _ = writeln!(
            s,
            "| {} | {}{} | {} | {} | {} | {:.3} ms | {} {} | {:.1} % of {} | {ratio} | {agree} |",
            r.op,
            r.backend,
            r.kernel.map_or_else(String::new, |k| format!(" ({k})")),
            r.layout,
            r.n,
            r.batch,
            r.secs * 1e3,
            fmt_num(r.throughput),
            r.unit,
            r.pct(),
            r.limit_name,
        );
    }
    let _ = writeln!(s);
    for n in notes {
        let _ = writeln!(s, "- {n}");
    }
    s
}

/// Three significant figures, with thousands as plain digits.
pub fn fmt_num(x: f64) -> String {
    if x >= 1000.0 {
        format!("{x:.0}")
    } else if x >= 10.0 {
        format!("{x:.1}")
    } else {
        format!("{x:.3}")
    }
}

/// "AMD EPYC …, 2 cores, 24 GiB" from /proc.
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
