//! `engram stream`: a labelled stream (generated, or read from `.npy`) pushed through ingest and
//! periodic consolidation at scale, reporting throughput, concepts, ARI/NMI and memory as it goes.
//!
//! Concept quality is measured on a uniform reservoir sample of the rows ingested so far (its
//! size is `--sample`), so the cost of a consolidation and the memory it needs do not grow with
//! the stream. Each consolidation clusters the sample with spherical k-means (`--k`, default the
//! number of true clusters) and scores the clusters against the true labels of the same rows.

use std::path::PathBuf;
use std::time::Instant;

use engram::cluster::{adjusted_rand_index, normalized_mutual_info};
use engram::{Config, Engram, EpisodeMeta, KMeansParams, Precision};
use rand::{Rng, SeedableRng};
use serde_json::{json, Value};

use crate::synth::{read_npy_chunks, StreamSpec};
use crate::util::{
    gb, parse_precision, peak_rss_bytes, positive, precision_name, print_json, rss_bytes, secs,
    usage_error, Common, Progress,
};

/// Arguments of `engram stream`.
#[derive(Debug, clap::Args)]
pub struct Args {
    #[command(flatten)]
    pub spec: StreamSpec,
    /// Read the rows from this `n × dim` float32 `.npy` file instead of generating them
    /// (`--n`, `--dim` and `--clusters` then come from the files).
    #[arg(long)]
    pub input: Option<PathBuf>,
    /// True labels for `--input` (uint32 or int32 `.npy`); without them ARI/NMI are not reported.
    #[arg(long, requires = "input")]
    pub labels: Option<PathBuf>,
    /// Storage precision of the episode arena: f32, f16 (half the memory) or f32+f16.
    #[arg(long, value_parser = parse_precision, default_value = "f32")]
    pub precision: Precision,
    /// Rows ingested per `remember_batch` call.
    #[arg(long, value_parser = positive, default_value = "65536")]
    pub chunk_rows: usize,
    /// Consolidate every this many rows (default: ten times over the stream).
    #[arg(long, value_parser = positive)]
    pub every: Option<usize>,
    /// Rows in the reservoir sample that consolidation clusters and ARI/NMI are measured on.
    #[arg(long, value_parser = positive, default_value = "20000")]
    pub sample: usize,
    /// Clusters per consolidation (default: the number of true clusters).
    #[arg(long, value_parser = positive)]
    pub k: Option<usize>,
}

/// A uniform sample of the rows seen so far (Algorithm R), with their true labels.
struct Reservoir {
    cap: usize,
    dim: usize,
    seen: usize,
    rows: Vec<f32>,
    labels: Vec<u32>,
    rng: rand_chacha::ChaCha8Rng,
}

impl Reservoir {
    fn new(cap: usize, dim: usize, seed: u64) -> Self {
        Self {
            cap,
            dim,
            seen: 0,
            rows: Vec::with_capacity(cap.min(1 << 20) * dim),
            labels: Vec::with_capacity(cap.min(1 << 20)),
            rng: rand_chacha::ChaCha8Rng::seed_from_u64(seed ^ 0x7e5e_4701),
        }
    }

    fn offer(&mut self, rows: &[f32], labels: &[u32]) {
        for (r, &l) in rows.chunks_exact(self.dim).zip(labels) {
            if self.labels.len() < self.cap {
                self.rows.extend_from_slice(r);
                self.labels.push(l);
            } else {
                let j = self.rng.random_range(0..=self.seen);
                if j < self.cap {
                    self.rows[j * self.dim..(j + 1) * self.dim].copy_from_slice(r);
                    self.labels[j] = l;
                }
            }
            self.seen += 1;
        }
    }
}

/// What one consolidation found.
struct Cycle {
    rows: usize,
    concepts: usize,
    ari: Option<f64>,
    nmi: Option<f64>,
    secs: f64,
}

fn consolidate(
    res: &Reservoir,
    k: usize,
    seed: u64,
    labelled: bool,
    rows: usize,
) -> anyhow::Result<Cycle> {
    let t = Instant::now();
    let k = k.min(res.labels.len());
    let model = KMeansParams::new(k)
        .seed(seed)
        .max_iter(25)
        .fit(&res.rows, res.dim)?;
    let concepts = model.sizes().iter().filter(|&&s| s > 0).count();
    let (ari, nmi) = if labelled {
        (
            Some(adjusted_rand_index(&res.labels, &model.labels)?),
            Some(normalized_mutual_info(&res.labels, &model.labels)?),
        )
    } else {
        (None, None)
    };
    Ok(Cycle {
        rows,
        concepts,
        ari,
        nmi,
        secs: secs(t),
    })
}

/// Runs `engram stream`.
pub fn run(c: &Common, a: Args) -> anyhow::Result<()> {
    let started = Instant::now();
    // The shape of the stream, from the generator or from the file header.
    let (n, dim, clusters, synth) = match &a.input {
        None => {
            let s = a.spec.synth(c.seed);
            (s.len(), s.dim(), a.spec.clusters, Some(s))
        }
        Some(p) => {
            let (n, dim) = npy_shape(p)?;
            (n, dim, a.k.unwrap_or(a.spec.clusters), None)
        }
    };
    let k = a.k.unwrap_or(clusters);
    if k > a.sample {
        usage_error(format!(
            "--k {k} is larger than the consolidation sample (--sample {})",
            a.sample
        ));
    }
    let labelled = a.input.is_none() || a.labels.is_some();
    let every = a.every.unwrap_or_else(|| n.div_ceil(10)).max(1);
    let mut mem = Engram::new(Config::new(dim).precision(a.precision).backend(c.backend))?;
    let backend = mem.backend().kind();
    let raw_bytes = (n * dim * a.precision.bytes_per_component()) as u64;
    let mut progress = Progress::new(c, n as u64, "episodes");
    progress.println(&format!(
        "stream: {n} × {dim} ({clusters} clusters), {} storage ({} raw), consolidating every {every} rows, backend {}",
        precision_name(a.precision),
        gb(raw_bytes),
        mem.backend().describe()
    ));
    let mut res = Reservoir::new(a.sample, dim, c.seed);
    let mut cycles: Vec<Cycle> = Vec::new();
    let (mut ingest_s, mut source_s) = (0.0f64, 0.0f64);
    let mut next_cycle = every;
    let mut metas: Vec<EpisodeMeta> = Vec::with_capacity(a.chunk_rows);
    let mut t_source = Instant::now();
    let mut step = |start: usize, rows: &[f32], labels: &[u32]| -> anyhow::Result<()> {
        source_s += secs(t_source);
        let m = labels.len();
        metas.clear();
        metas.extend((start..start + m).map(|i| EpisodeMeta::at(i as u64)));
        let t = Instant::now();
        mem.remember_batch(rows, std::mem::take(&mut metas))?;
        ingest_s += secs(t);
        metas = Vec::with_capacity(a.chunk_rows);
        res.offer(rows, labels);
        let done = start + m;
        if done >= next_cycle || done == n {
            let cy = consolidate(&res, k, c.seed, labelled, done)?;
            let line = format!(
                "{done:>11} episodes  {:>9.0} episodes/s  {:>4} concepts  ARI {}  NMI {}  rss {}  ({:.2} s)",
                done as f64 / ingest_s,
                cy.concepts,
                fmt_opt(cy.ari),
                fmt_opt(cy.nmi),
                gb(rss_bytes()),
                cy.secs
            );
            progress.println(&line);
            cycles.push(cy);
            next_cycle = done + every;
        }
        progress.set(done as u64, "");
        t_source = Instant::now();
        Ok(())
    };
    match (&synth, &a.input) {
        (Some(s), _) => {
            for ch in s.chunks(a.chunk_rows) {
                step(ch.start, &ch.data, &ch.labels)?;
            }
        }
        (None, Some(p)) => {
            read_npy_chunks(p, a.labels.as_deref(), a.chunk_rows, &mut step)?;
        }
        (None, None) => unreachable!("a stream is generated or read"),
    }
    progress.finish();
    let last = cycles.last();
    let peak = peak_rss_bytes();
    let consolidate_s: f64 = cycles.iter().map(|c| c.secs).sum();
    let v = json!({
        "n": n, "dim": dim, "clusters": clusters, "k": k, "seed": c.seed,
        "precision": precision_name(a.precision),
        "backend": backend, "backend_reason": mem.backend_reason(),
        "source": if a.input.is_some() { "npy" } else { "synth" },
        "episodes": mem.len(),
        "concepts": last.map_or(0, |c| c.concepts),
        "ari": last.and_then(|c| c.ari), "nmi": last.and_then(|c| c.nmi),
        "quality_sample_rows": res.labels.len(),
        "consolidation": "spherical k-means on a reservoir sample (consolidate() not yet on main)",
        "cycles": cycles.len(),
        "episodes_per_s": n as f64 / ingest_s,
        "ingest_s": ingest_s, "source_s": source_s, "consolidate_s": consolidate_s,
        "wall_s": secs(started),
        "vector_bytes": mem.vector_bytes(), "raw_vector_bytes": raw_bytes,
        "peak_rss_bytes": peak, "peak_rss_over_raw": peak as f64 / raw_bytes as f64,
        "history": cycles.iter().map(cycle_json).collect::<Vec<_>>(),
    });
    if c.json {
        return print_json(&v);
    }
    println!(
        "{} episodes in {:.1} s ({:.0} episodes/s ingest), {} concepts, ARI {}, NMI {} (on {} sampled rows), peak memory {} ({:.2}× the raw {} vectors)",
        mem.len(),
        secs(started),
        n as f64 / ingest_s,
        last.map_or(0, |c| c.concepts),
        fmt_opt(last.and_then(|c| c.ari)),
        fmt_opt(last.and_then(|c| c.nmi)),
        res.labels.len(),
        gb(peak),
        peak as f64 / raw_bytes as f64,
        precision_name(a.precision),
    );
    Ok(())
}

fn cycle_json(c: &Cycle) -> Value {
    json!({"rows": c.rows, "concepts": c.concepts, "ari": c.ari, "nmi": c.nmi, "secs": c.secs})
}

fn fmt_opt(x: Option<f64>) -> String {
    x.map_or_else(|| "—".into(), |v| format!("{v:.3}"))
}

fn npy_shape(p: &std::path::Path) -> anyhow::Result<(usize, usize)> {
    use anyhow::Context;
    let f = std::fs::File::open(p).with_context(|| format!("opening {}", p.display()))?;
    let h = npyz::NpyFile::new(std::io::BufReader::new(f))
        .with_context(|| format!("reading the .npy header of {}", p.display()))?;
    match h.shape() {
        [n, d] if *n >= 1 && *d >= 1 => Ok((*n as usize, *d as usize)),
        s => anyhow::bail!("{} has shape {s:?}; expected (n, dim)", p.display()),
    }
}
