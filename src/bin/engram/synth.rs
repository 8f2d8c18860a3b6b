//! `engram synth`: a labelled synthetic stream written to `.npy`, streamed in chunks so the
//! generator never holds all rows.

use std::fs::File;
use std::io::BufWriter;
use std::path::{Path, PathBuf};
use std::time::Instant;

use anyhow::Context;
use engram::synth::{Order, Sizes, Synth, SynthParams};
use npyz::WriterBuilder;
use serde_json::json;

use crate::util::{
    available_memory, check_rows_fit, free_disk, positive, print_json, secs, usage_error, Common,
    Progress,
};

/// The parameters of a synthetic stream, shared by `synth`, `stream` and `demo`.
#[derive(Debug, Clone, clap::Args)]
pub struct StreamSpec {
    /// Rows in the stream.
    #[arg(long, value_parser = positive, default_value = "100000")]
    pub n: usize,
    /// Dimension (1 to 65,536).
    #[arg(long, value_parser = crate::util::bounded(1 << 16), default_value = "384")]
    pub dim: usize,
    /// True clusters (mixture components on the sphere).
    #[arg(long, value_parser = positive, default_value = "32")]
    pub clusters: usize,
    /// Noise variance per component (default 1/dim: a row's cosine to its centre is about 0.7).
    #[arg(long)]
    pub sigma2: Option<f64>,
    /// Cluster sizes follow Zipf with this exponent (equal sizes when absent).
    #[arg(long)]
    pub zipf: Option<f64>,
    /// Rotation of every centre, in radians per 10,000 rows.
    #[arg(long, default_value_t = 0.0)]
    pub drift: f64,
    /// Rows arrive cluster by cluster instead of shuffled.
    #[arg(long)]
    pub blocked: bool,
}

impl StreamSpec {
    /// The validated generator; a parameter out of range is a usage error (exit code 2).
    pub fn synth(&self, seed: u64) -> Synth {
        let mut p = SynthParams::new(self.n, self.dim, self.clusters)
            .drift(self.drift)
            .seed(seed)
            .order(if self.blocked {
                Order::Blocked
            } else {
                Order::Shuffled
            });
        if let Some(s) = self.sigma2 {
            p = p.sigma2(s);
        }
        if let Some(e) = self.zipf {
            p = p.sizes(Sizes::Zipf { exponent: e });
        }
        p.check()
            .unwrap_or_else(|e| crate::util::usage_error(format!("invalid stream: {e}")))
    }
}

/// Arguments of `engram synth`.
#[derive(Debug, clap::Args)]
pub struct Args {
    #[command(flatten)]
    pub spec: StreamSpec,
    /// The rows: an `n × dim` float32 `.npy` file (unit-length rows).
    #[arg(long, short)]
    pub out: PathBuf,
    /// The true cluster of each row: an `n` uint32 `.npy` file (default: `<out>` with
    /// `.labels.npy` in place of `.npy`).
    #[arg(long)]
    pub labels: Option<PathBuf>,
    /// Rows generated per chunk (memory in use is about chunk × dim × 4 bytes).
    #[arg(long, value_parser = positive, default_value = "65536")]
    pub chunk_rows: usize,
}

/// The labels file next to a data file: `x.npy` → `x.labels.npy`.
pub fn default_labels_path(out: &Path) -> PathBuf {
    let stem = out
        .file_stem()
        .map_or_else(|| "stream".into(), |s| s.to_string_lossy().into_owned());
    out.with_file_name(format!("{stem}.labels.npy"))
}

/// The same file, whether or not it exists yet: both paths made absolute, the parent
/// directory canonicalised (symbolic links resolved) and the file name compared.
fn same_file(a: &Path, b: &Path) -> bool {
    let canon = |p: &Path| -> Option<PathBuf> {
        if let Ok(c) = std::fs::canonicalize(p) {
            return Some(c);
        }
        let abs = std::path::absolute(p).ok()?;
        let name = abs.file_name()?.to_owned();
        let parent = abs.parent()?;
        Some(
            std::fs::canonicalize(parent)
                .unwrap_or_else(|_| parent.to_path_buf())
                .join(name),
        )
    };
    match (canon(a), canon(b)) {
        (Some(x), Some(y)) => x == y,
        _ => a == b,
    }
}

/// Runs `engram synth`.
pub fn run(c: &Common, a: Args) -> anyhow::Result<()> {
    let (n, dim) = (a.spec.n, a.spec.dim);
    // The files take n × dim × 4 + n × 4 bytes: refuse what the output's file system cannot
    // hold (and counts whose size does not even fit in 64 bits).
    check_rows_fit(
        n,
        dim + 1,
        4,
        free_disk(&a.out),
        "the free space on the output's file system",
    );
    check_rows_fit(
        a.chunk_rows.min(n),
        dim + 1,
        8,
        available_memory(),
        "the memory available (--chunk-rows)",
    );
    let labels_path = a
        .labels
        .clone()
        .unwrap_or_else(|| default_labels_path(&a.out));
    if same_file(&a.out, &labels_path) {
        usage_error(format!(
            "--labels {} is the same file as --out {}: give two different paths",
            labels_path.display(),
            a.out.display()
        ));
    }
    let synth = a.spec.synth(c.seed);
    let t = Instant::now();
    let open = |p: &Path| -> anyhow::Result<BufWriter<File>> {
        let f = File::create(p).with_context(|| format!("creating {}", p.display()))?;
        Ok(BufWriter::with_capacity(1 << 20, f))
    };
    let mut rows = npyz::WriteOptions::<f32>::new()
        .default_dtype()
        .shape(&[n as u64, dim as u64])
        .writer(open(&a.out)?)
        .begin_nd()?;
    let mut labels = npyz::WriteOptions::<u32>::new()
        .default_dtype()
        .shape(&[n as u64])
        .writer(open(&labels_path)?)
        .begin_nd()?;
    let mut progress = Progress::new(c, n as u64, "rows");
    for chunk in synth.chunks(a.chunk_rows) {
        rows.extend(chunk.data.iter().copied())?;
        labels.extend(chunk.labels.iter().copied())?;
        progress.set((chunk.start + chunk.labels.len()) as u64, "");
    }
    rows.finish()
        .with_context(|| format!("writing {}", a.out.display()))?;
    labels
        .finish()
        .with_context(|| format!("writing {}", labels_path.display()))?;
    progress.finish();
    let s = secs(t);
    let v = json!({
        "n": n, "dim": dim, "clusters": a.spec.clusters, "seed": c.seed,
        "data": a.out, "labels": labels_path, "dtype": "float32", "labels_dtype": "uint32",
        "bytes": n * dim * 4 + n * 4, "secs": s, "rows_per_s": n as f64 / s,
    });
    if c.json {
        return print_json(&v);
    }
    println!(
        "wrote {n} rows of {dim} dimensions in {} clusters to {} and labels to {} ({s:.2} s)",
        a.spec.clusters,
        a.out.display(),
        labels_path.display()
    );
    Ok(())
}

/// Reads an `n × dim` float32 `.npy` file (and optional uint32/int32/int64 labels) in chunks of
/// `chunk_rows` rows, calling `f(start, rows, labels)` for each.
pub fn read_npy_chunks(
    data: &Path,
    labels: Option<&Path>,
    chunk_rows: usize,
    mut f: impl FnMut(usize, &[f32], &[u32]) -> anyhow::Result<()>,
) -> anyhow::Result<(usize, usize)> {
    let open = |p: &Path| -> anyhow::Result<npyz::NpyFile<std::io::BufReader<File>>> {
        Ok(engram::migrate::source::open_npy(p)?)
    };
    let file = open(data)?;
    let shape = file.shape().to_vec();
    anyhow::ensure!(
        shape.len() == 2 && shape[0] >= 1 && shape[1] >= 1,
        "{} has shape {shape:?}; expected (n, dim)",
        data.display()
    );
    let (n, dim) = (shape[0] as usize, shape[1] as usize);
    crate::util::expect_f32(&file, data)?;
    let chunk_bytes = (chunk_rows.min(n) as u64)
        .checked_mul(dim as u64 * 4)
        .filter(|&b| available_memory().is_none_or(|m| b <= m));
    anyhow::ensure!(
        chunk_bytes.is_some(),
        "{}: a chunk of {} rows of dimension {dim} does not fit in memory",
        data.display(),
        chunk_rows.min(n)
    );
    let mut rows = file
        .data::<f32>()
        .map_err(|e| anyhow::anyhow!("{}: {e} (expected float32)", data.display()))?;
    let mut label_iter: Box<dyn Iterator<Item = std::io::Result<u32>>> = match labels {
        None => Box::new(std::iter::repeat_with(|| Ok(0))),
        Some(p) => {
            let lf = open(p)?;
            anyhow::ensure!(
                lf.shape().iter().product::<u64>() == n as u64,
                "{} holds {:?} labels; expected {n}",
                p.display(),
                lf.shape()
            );
            match lf.dtype().descr().trim_matches('\'') {
                "<u4" | "|u4" => Box::new(lf.data::<u32>().map_err(|e| anyhow::anyhow!("{e}"))?),
                "<i4" => Box::new(
                    lf.data::<i32>()
                        .map_err(|e| anyhow::anyhow!("{e}"))?
                        .map(|r| r.map(|x| x as u32)),
                ),
                "<i8" => Box::new(
                    lf.data::<i64>()
                        .map_err(|e| anyhow::anyhow!("{e}"))?
                        .map(|r| r.map(|x| x as u32)),
                ),
                d => anyhow::bail!(
                    "{}: labels of dtype {d}; expected uint32 or int32/64",
                    p.display()
                ),
            }
        }
    };
    let mut buf = Vec::with_capacity(chunk_rows * dim);
    let mut lab = Vec::with_capacity(chunk_rows);
    let mut start = 0;
    while start < n {
        let m = chunk_rows.min(n - start);
        buf.clear();
        lab.clear();
        for _ in 0..m * dim {
            buf.push(rows.next().context("the .npy file ended early")??);
        }
        for _ in 0..m {
            lab.push(label_iter.next().context("the labels file ended early")??);
        }
        f(start, &buf, &lab)?;
        start += m;
    }
    Ok((n, dim))
}
