//! `engram stream`: a labelled stream (generated, or read from `.npy`) pushed through ingest and
//! periodic consolidation (`Engram::consolidate`) at scale, reporting throughput, concepts,
//! ARI/NMI and memory as it goes.
//!
//! The stream's clock is the row index: row `i` is stored with timestamp `i` and the cycle after
//! row `r` runs at `now = r`. Each cycle clusters the episodes added since the previous one plus
//! a replay sample of older ones (see `engram::consolidation`), `--k` clusters (default: the
//! number of true clusters) or a discovered number (`--discover`). Forgetting is off unless
//! `--half-life` is given.
//!
//! Concept quality: each episode is labelled by the concept of its strongest binding (unbound
//! episodes form one extra cluster) and scored with ARI/NMI against the true labels — over a
//! uniform reservoir sample (Algorithm R, seeded) of `--sample` episode ids, so scoring costs
//! and holds the same at any stream length (all episodes when the stream is no longer).

use std::path::PathBuf;
use std::time::Instant;

use engram::consolidation::ForgettingCurve;
use engram::synth::Synth;
use engram::{
    ClusterCount, Config, ConsolidationConfig, CycleReport, Engram, EpisodeId, EpisodeMeta,
    Precision,
};
use rand::{Rng, SeedableRng};
use serde_json::{json, Value};

use crate::quality::{self, Quality};
use crate::synth::{read_npy_chunks, StreamSpec};
use crate::util::{
    gb, parse_precision, peak_rss_bytes, positive, print_json, rss_bytes, secs, usage_error,
    Common, Progress,
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
    /// Consolidate every this many rows (default: ten times over the stream, but at most
    /// every 128 MiB of f32 rows — 87,381 at dim 384 — since a cycle gathers its rows in f32).
    #[arg(long, value_parser = positive)]
    pub every: Option<usize>,
    /// Episodes in the reservoir sample ARI/NMI are measured on (all of them when the stream
    /// is no longer).
    #[arg(long, value_parser = positive, default_value = "100000")]
    pub sample: usize,
    /// Clusters consolidation looks for (`ClusterCount::Fixed`; default: the number of true
    /// clusters).
    #[arg(long, value_parser = positive, conflicts_with = "discover")]
    pub k: Option<usize>,
    /// Let consolidation discover the number of clusters (`ClusterCount::Discover`) instead.
    #[arg(long)]
    pub discover: bool,
    /// Forgetting: bindings and episodes not replayed halve in strength every this many rows
    /// (weak bindings are then pruned). Default: no forgetting.
    #[arg(long, value_parser = positive)]
    pub half_life: Option<usize>,
}

/// The default cycle holds at most this many bytes of f32 rows (its working copy).
const CYCLE_BYTES: usize = 128 << 20;

/// A uniform sample of the episodes seen so far (Algorithm R) with their true labels.
struct Reservoir {
    cap: usize,
    seen: usize,
    ids: Vec<EpisodeId>,
    labels: Vec<u32>,
    rng: rand_chacha::ChaCha8Rng,
}

impl Reservoir {
    fn new(cap: usize, seed: u64) -> Self {
        Self {
            cap,
            seen: 0,
            ids: Vec::with_capacity(cap.min(1 << 20)),
            labels: Vec::with_capacity(cap.min(1 << 20)),
            rng: rand_chacha::ChaCha8Rng::seed_from_u64(seed ^ 0x7e5e_4701),
        }
    }

    fn offer(&mut self, ids: &[EpisodeId], labels: &[u32]) {
        for (&id, &l) in ids.iter().zip(labels) {
            if self.ids.len() < self.cap {
                self.ids.push(id);
                self.labels.push(l);
            } else {
                let j = self.rng.random_range(0..=self.seen);
                if j < self.cap {
                    self.ids[j] = id;
                    self.labels[j] = l;
                }
            }
            self.seen += 1;
        }
    }
}

/// What one consolidation cycle did and found.
struct Cycle {
    rows: usize,
    report: CycleReport,
    concepts: usize,
    promoted: usize,
    bindings: usize,
    quality: Option<Quality>,
    secs: f64,
    quality_secs: f64,
    rss: u64,
}

fn cycle(mem: &mut Engram, res: &Reservoir, labelled: bool, rows: usize) -> anyhow::Result<Cycle> {
    let t = Instant::now();
    let report = mem.consolidate(rows as u64)?;
    let secs_cycle = secs(t);
    let t = Instant::now();
    let quality = if labelled && !res.ids.is_empty() {
        Some(quality::score(mem, &res.ids, &res.labels)?)
    } else {
        None
    };
    let concepts = mem.concepts();
    Ok(Cycle {
        rows,
        concepts: concepts.len(),
        promoted: concepts
            .iter()
            .filter(|c| c.state == engram::ConceptState::Promoted)
            .count(),
        bindings: mem.graph().binding_count(),
        report,
        quality,
        secs: secs_cycle,
        quality_secs: secs(t),
        rss: rss_bytes(),
    })
}

/// Runs `engram stream`.
pub fn run(c: &Common, a: Args) -> anyhow::Result<()> {
    let started = Instant::now();
    let plan = plan(c, &a)?;
    let mut mem = engine(c, &a, &plan)?;
    let backend = mem.backend().kind();
    log::info!("backend: {backend} ({})", mem.backend_reason());
    let (n, dim, every) = (plan.n, plan.dim, plan.every);
    let mut progress = Progress::new(c, n as u64, "episodes");
    progress.println(&format!(
        "stream: {n} × {dim} ({} clusters), {} storage ({} raw), consolidating every {every} rows ({}), backend {}",
        plan.clusters,
        a.precision.name(),
        gb(plan.raw_bytes),
        if a.discover { "discovered k".to_string() } else { format!("k = {}", plan.k) },
        mem.backend().describe()
    ));
    let fed = feed(c, &a, &plan, &mut mem, &mut progress)?;
    progress.finish();
    report(c, &a, &plan, &mem, &fed, backend, started)
}

/// The stream's shape and the run's settings.
struct Plan {
    n: usize,
    dim: usize,
    /// True clusters.
    clusters: usize,
    /// Clusters consolidation looks for (unless discovered).
    k: usize,
    /// Whether true labels are known.
    labelled: bool,
    /// Rows between consolidation cycles.
    every: usize,
    /// The bytes of the stored vectors at the chosen precision.
    raw_bytes: u64,
    /// The generator (`None` when the rows are read from `--input`).
    synth: Option<Synth>,
}

/// The shape of the stream, from the generator or from the file header, and the settings
/// that follow from it.
fn plan(c: &Common, a: &Args) -> anyhow::Result<Plan> {
    let (n, dim, clusters, synth) = match &a.input {
        None => {
            crate::util::check_rows_fit(
                a.spec.n,
                a.spec.dim,
                a.precision.bytes_per_component() as u64 + 1,
                crate::util::available_memory(),
                "the memory available",
            );
            let s = a.spec.synth(c.seed);
            (s.len(), s.dim(), a.spec.clusters, Some(s))
        }
        Some(p) => {
            let (n, dim) = npy_shape(p)?;
            (n, dim, a.k.unwrap_or(a.spec.clusters), None)
        }
    };
    let k = a.k.unwrap_or(clusters);
    if k > n {
        usage_error(format!("--k {k} is larger than the stream (--n {n})"));
    }
    let labelled = a.input.is_none() || a.labels.is_some();
    let every = a
        .every
        .unwrap_or_else(|| n.div_ceil(10).min(CYCLE_BYTES / (dim * 4)))
        .max(1);
    Ok(Plan {
        n,
        dim,
        clusters,
        k,
        labelled,
        every,
        raw_bytes: (n * dim * a.precision.bytes_per_component()) as u64,
        synth,
    })
}

/// The engine: the chosen precision and backend, consolidation with `k` or discovered
/// clusters and the chosen forgetting.
fn engine(c: &Common, a: &Args, plan: &Plan) -> anyhow::Result<Engram> {
    let count = if a.discover {
        ClusterCount::Discover { max_k: None }
    } else {
        ClusterCount::Fixed(plan.k)
    };
    let forgetting = a
        .half_life
        .map_or(ForgettingCurve::None, |h| ForgettingCurve::Exponential {
            half_life: h as f64,
        });
    let consolidation = ConsolidationConfig::default()
        .seed(c.seed)
        .clusters(count)
        .forgetting(forgetting);
    Ok(Engram::new(
        Config::new(plan.dim)
            .precision(a.precision)
            .backend(c.backend)
            .consolidation(consolidation),
    )?)
}

/// What pushing the stream through the engine gave.
struct Fed {
    res: Reservoir,
    cycles: Vec<Cycle>,
    /// Seconds in `remember_batch`.
    ingest_s: f64,
    /// Seconds making or reading the rows.
    source_s: f64,
}

/// Pushes the stream through the engine chunk by chunk, consolidating every `plan.every`
/// rows and after the last, with a line of progress per cycle.
fn feed(
    c: &Common,
    a: &Args,
    plan: &Plan,
    mem: &mut Engram,
    progress: &mut Progress,
) -> anyhow::Result<Fed> {
    let (n, dim, every, labelled) = (plan.n, plan.dim, plan.every, plan.labelled);
    let mut res = Reservoir::new(a.sample, c.seed);
    let mut cycles: Vec<Cycle> = Vec::new();
    let (mut ingest_s, mut source_s) = (0.0f64, 0.0f64);
    let mut next_cycle = every;
    let mut metas: Vec<EpisodeMeta> = Vec::with_capacity(a.chunk_rows);
    let mut t_source = Instant::now();
    let mut step = |start: usize, rows: &[f32], labels: &[u32]| -> anyhow::Result<()> {
        source_s += secs(t_source);
        let m = rows.len() / dim;
        metas.clear();
        metas.extend((start..start + m).map(|i| EpisodeMeta::at(i as u64)));
        let t = Instant::now();
        let ids = mem.remember_batch(rows, std::mem::take(&mut metas))?;
        ingest_s += secs(t);
        metas = Vec::with_capacity(a.chunk_rows);
        if labelled {
            res.offer(&ids, labels);
        }
        let done = start + m;
        if done >= next_cycle || done == n {
            let cy = cycle(mem, &res, labelled, done)?;
            let line = format!(
                "{done:>11} episodes  {:>9.0} episodes/s  {:>4} concepts  ARI {}  NMI {}  unbound {}  rss {}  (cycle {:.2} s)",
                done as f64 / ingest_s,
                cy.concepts,
                fmt_opt(cy.quality.map(|q| q.ari)),
                fmt_opt(cy.quality.map(|q| q.nmi)),
                fmt_opt(cy.quality.map(|q| q.unbound)),
                gb(cy.rss),
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
    match (&plan.synth, &a.input) {
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
    Ok(Fed {
        res,
        cycles,
        ingest_s,
        source_s,
    })
}

/// Prints the run's figures: JSON with every cycle's, or a line of text.
fn report(
    c: &Common,
    a: &Args,
    plan: &Plan,
    mem: &Engram,
    fed: &Fed,
    backend: &str,
    started: Instant,
) -> anyhow::Result<()> {
    let (n, raw_bytes, cycles, ingest_s) = (plan.n, plan.raw_bytes, &fed.cycles, fed.ingest_s);
    let last = cycles.last();
    let q = last.and_then(|c| c.quality);
    let peak = peak_rss_bytes();
    let consolidate_s: f64 = cycles.iter().map(|c| c.secs).sum();
    let quality_s: f64 = cycles.iter().map(|c| c.quality_secs).sum();
    let v = json!({
        "n": n, "dim": plan.dim, "clusters": plan.clusters, "seed": c.seed,
        "k": if a.discover { Value::Null } else { json!(plan.k) },
        "precision": a.precision.name(),
        "backend": backend, "backend_reason": mem.backend_reason(),
        "source": if a.input.is_some() { "npy" } else { "synth" },
        "episodes": mem.len(),
        "concepts": last.map_or(0, |c| c.concepts),
        "ari": q.map(|q| q.ari), "nmi": q.map(|q| q.nmi), "unbound": q.map(|q| q.unbound),
        "quality_sample_rows": fed.res.ids.len(),
        "quality": "each episode labelled by its strongest binding (unbound = one extra cluster), on a reservoir sample of episodes",
        "consolidation": if a.discover { "Engram::consolidate, ClusterCount::Discover" } else { "Engram::consolidate, ClusterCount::Fixed(k)" },
        "half_life_rows": a.half_life,
        "every": plan.every,
        "cycles": cycles.len(),
        "episodes_per_s": n as f64 / ingest_s,
        "ingest_s": ingest_s, "source_s": fed.source_s, "consolidate_s": consolidate_s,
        "quality_s": quality_s,
        "wall_s": secs(started),
        "bindings": mem.graph().binding_count(),
        "vector_bytes": mem.vector_bytes(), "raw_vector_bytes": raw_bytes,
        "peak_rss_bytes": peak, "peak_rss_over_raw": peak as f64 / raw_bytes as f64,
        "history": cycles.iter().map(cycle_json).collect::<Vec<_>>(),
    });
    if c.json {
        return print_json(&v);
    }
    println!(
        "{} episodes in {:.1} s ({:.0} episodes/s ingest, {} consolidation cycles in {:.1} s), {} concepts, ARI {}, NMI {} (on {} sampled episodes), peak memory {} ({:.2}× the raw {} vectors)",
        mem.len(),
        secs(started),
        n as f64 / ingest_s,
        cycles.len(),
        consolidate_s,
        last.map_or(0, |c| c.concepts),
        fmt_opt(q.map(|q| q.ari)),
        fmt_opt(q.map(|q| q.nmi)),
        fed.res.ids.len(),
        gb(peak),
        peak as f64 / raw_bytes as f64,
        a.precision.name(),
    );
    Ok(())
}

fn cycle_json(c: &Cycle) -> Value {
    let r = &c.report;
    let t = r.timings;
    json!({
        "rows": c.rows, "cycle": r.cycle, "episodes_new": r.episodes_new,
        "episodes_replayed": r.episodes_replayed, "clusters_found": r.clusters_found,
        "clusters_kept": r.clusters_kept, "concepts_created": r.concepts_created.len(),
        "concepts_updated": r.concepts_updated.len(), "concepts_promoted": r.concepts_promoted.len(),
        "concepts_removed": r.concepts_removed.len(), "bindings_created": r.bindings_created,
        "bindings_pruned": r.bindings_pruned,
        "concepts": c.concepts, "promoted": c.promoted, "bindings": c.bindings,
        "ari": c.quality.map(|q| q.ari), "nmi": c.quality.map(|q| q.nmi),
        "unbound": c.quality.map(|q| q.unbound),
        "secs": c.secs, "quality_secs": c.quality_secs, "rss_bytes": c.rss,
        "phases_s": {
            "sample": t.sample.as_secs_f64(), "cluster": t.cluster.as_secs_f64(),
            "matching": t.matching.as_secs_f64(), "apply": t.apply.as_secs_f64(),
            "decay": t.decay.as_secs_f64(), "prune": t.prune.as_secs_f64(), "lists": t.lists.as_secs_f64(),
        },
    })
}

fn fmt_opt(x: Option<f64>) -> String {
    x.map_or_else(|| "—".into(), |v| format!("{v:.3}"))
}

fn npy_shape(p: &std::path::Path) -> anyhow::Result<(usize, usize)> {
    let h = engram::migrate::source::open_npy(p)?;
    crate::util::expect_f32(&h, p)?;
    match h.shape() {
        [n, d] if *n >= 1 && *d >= 1 => Ok((*n as usize, *d as usize)),
        s => anyhow::bail!("{} has shape {s:?}; expected (n, dim)", p.display()),
    }
}
