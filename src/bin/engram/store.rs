//! Commands on a durable store (`engram::persist::DurableEngram`): `search` (recall through the
//! episodic, semantic or blended pathway), `concepts` (every concept with its strongest
//! members) and `consolidate` (one cycle, checkpointed). Together with `import` they take a
//! user from a `.npy` of embeddings to concepts and recall without writing code:
//!
//! ```text
//! engram import vectors.npy --store mem
//! engram consolidate --store mem --now 1
//! engram concepts --store mem --members 5
//! engram search --store mem --episode 0 -k 10 --mode semantic
//! engram search --store mem --query-npy queries.npy -k 10 --mode index --probes 16
//! ```
//!
//! A store that does not exist, a query of the wrong dimension or an unknown episode is a
//! misuse (exit code 2); a damaged store is a failure (exit code 1).

use std::path::{Path, PathBuf};
use std::time::Instant;

use anyhow::Context;
use engram::persist::{DurableEngram, StoreOptions};
use engram::{
    ClusterCount, ConceptState, EpisodeId, MemoryNode, RecallHit, RecallMode, RecallParams,
};
use serde_json::{json, Value};

use crate::util::{clock, positive, print_json, secs, usage_error, use_backend, Common};

/// Opens the store in `dir` read-only (no lock, no byte changed: works on a read-only
/// directory and beside a writer); a directory without a store is a misuse.
pub fn open_read_only(dir: &Path) -> anyhow::Result<DurableEngram> {
    if !engram::persist::exists(dir) {
        usage_error(format!("no store in {}", dir.display()));
    }
    DurableEngram::open_read_only(dir)
        .with_context(|| format!("opening the store in {} (read-only)", dir.display()))
}

/// Opens the store in `dir` for writing (its lock held until the command ends); a directory
/// without a store is a misuse.
fn open_writable(dir: &Path) -> anyhow::Result<DurableEngram> {
    if !engram::persist::exists(dir) {
        usage_error(format!("no store in {}", dir.display()));
    }
    DurableEngram::open(dir, StoreOptions::default())
        .with_context(|| format!("opening the store in {}", dir.display()))
}

/// The recall pathway of `engram search`.
#[derive(Debug, Clone, Copy, clap::ValueEnum)]
pub enum Mode {
    /// Exact top-k over every episode.
    Episodic,
    /// The concepts nearest the query, then only their bound episodes (approximate).
    Semantic,
    /// Both, fused.
    Blended,
    /// The concept index alone (`search_semantic_batch`): every query row at once, each
    /// concept's list read once for the batch, plus the episodes bound to no concept; hits
    /// ranked by cosine.
    Index,
}

impl From<Mode> for RecallMode {
    fn from(m: Mode) -> Self {
        match m {
            Mode::Episodic => RecallMode::Episodic,
            Mode::Semantic => RecallMode::Semantic,
            Mode::Blended | Mode::Index => RecallMode::Blended,
        }
    }
}

/// Arguments of `engram search`.
#[derive(Debug, clap::Args)]
#[command(group(clap::ArgGroup::new("cue").required(true).args(["query_npy", "episode"])))]
pub struct SearchArgs {
    /// The store directory.
    #[arg(long)]
    pub store: PathBuf,
    /// Queries: a float32 `.npy` of shape (dim) or (m, dim); each row is one query.
    #[arg(long)]
    pub query_npy: Option<PathBuf>,
    /// Use this stored episode's embedding as the query (it finds itself first).
    #[arg(long)]
    pub episode: Option<u64>,
    /// Hits per query.
    #[arg(short, long, value_parser = positive, default_value = "10")]
    pub k: usize,
    /// Recall pathway: episodic (exact), semantic (through concepts) or blended.
    #[arg(long, value_enum, default_value = "episodic")]
    pub mode: Mode,
    /// Concepts probed by the semantic pathway.
    #[arg(long, value_parser = positive, default_value = "8")]
    pub probes: usize,
    /// The time of the recall (retention is computed for it), at most 2^63 − 1. Nothing is
    /// written to the store.
    #[arg(long, value_parser = clock, default_value = "0")]
    pub now: u64,
}

/// Reads the query rows of a `.npy` file: shape (dim) or (m, dim), float32.
fn read_queries(p: &Path, dim: usize) -> anyhow::Result<Vec<f32>> {
    let npy = engram::migrate::source::open_npy(p)?;
    crate::util::expect_f32(&npy, p)?;
    let shape = npy.shape().to_vec();
    let ok = match shape.as_slice() {
        [d] => *d as usize == dim,
        [m, d] => *m >= 1 && *d as usize == dim,
        _ => false,
    };
    if !ok {
        usage_error(format!(
            "{} has shape {shape:?}; the store's queries are (dim) or (m, dim) with dim = {dim}",
            p.display()
        ));
    }
    npy.into_vec::<f32>()
        .map_err(|e| anyhow::anyhow!("{}: {e} (expected float32)", p.display()))
}

fn hit_json(h: &RecallHit) -> Value {
    json!({
        h.node.kind(): h.node.raw_id(), "score": h.score, "cosine": h.similarity,
        "episodic": h.episodic, "semantic": h.semantic,
        "via": { "episodic": h.via.episodic, "semantic": h.via.semantic },
        "retention": h.retention,
    })
}

/// Runs `engram search`.
pub fn search(c: &Common, a: SearchArgs) -> anyhow::Result<()> {
    let mut s = open_read_only(&a.store)?;
    use_backend(c, &mut s)?;
    let dim = s.dim();
    let (queries, cue_episode) = match (&a.query_npy, a.episode) {
        (Some(p), None) => (read_queries(p, dim)?, None),
        (None, Some(id)) => match s.embedding(EpisodeId(id)) {
            Ok(e) => (e, Some(id)),
            Err(_) => usage_error(format!(
                "no episode {id} in {} (ids are 0..{})",
                a.store.display(),
                s.graph().episode_slots()
            )),
        },
        _ => unreachable!("clap requires exactly one cue"),
    };
    if matches!(a.mode, Mode::Index) {
        return search_index(c, &a, &s, &queries, cue_episode);
    }
    let mode: RecallMode = a.mode.into();
    if !matches!(mode, RecallMode::Episodic) && s.concepts().is_empty() {
        log::warn!(
            "the store has no concepts: the semantic pathway finds nothing until `engram consolidate` runs"
        );
    }
    let params = RecallParams::new(a.k).mode(mode).probes(a.probes).at(a.now);
    let t = Instant::now();
    let mut results = Vec::new();
    for (i, q) in queries.chunks_exact(dim).enumerate() {
        let hits = s
            .recall_view(q, &params)
            .with_context(|| format!("query {i}"))?;
        results.push(hits);
    }
    let elapsed = secs(t);
    if c.json {
        return print_json(&json!({
            "store": a.store.display().to_string(), "dim": dim, "episodes": s.len(),
            "concepts": s.concepts().len(),
            "mode": format!("{mode:?}").to_lowercase(), "k": a.k, "probes": a.probes,
            "cue_episode": cue_episode, "queries": results.len(), "secs": elapsed,
            "results": results.iter().enumerate().map(|(i, hits)| json!({
                "query": i, "hits": hits.iter().map(hit_json).collect::<Vec<_>>(),
            })).collect::<Vec<_>>(),
        }));
    }
    for (i, hits) in results.iter().enumerate() {
        println!("query {i}:");
        for h in hits {
            let node = match h.node {
                MemoryNode::Episode(e) => format!("e{}", e.0),
                MemoryNode::Concept(c) => format!("c{}", c.0),
            };
            println!(
                "  {node:>10}  score {:.4}  cosine {:.4}",
                h.score, h.similarity
            );
        }
    }
    Ok(())
}

/// `engram search --mode index`: the concept index over the whole batch.
fn search_index(
    c: &Common,
    a: &SearchArgs,
    s: &DurableEngram,
    queries: &[f32],
    cue_episode: Option<u64>,
) -> anyhow::Result<()> {
    let t = Instant::now();
    let results = s.search_semantic_batch(queries, a.k, a.probes)?;
    let elapsed = secs(t);
    let stats = s.concept_list_stats();
    if c.json {
        return print_json(&json!({
            "store": a.store.display().to_string(), "dim": s.dim(), "episodes": s.len(),
            "concepts": s.concepts().len(), "mode": "index", "k": a.k, "probes": a.probes,
            "unassigned": stats.tail, "list_bytes": stats.bytes,
            "cue_episode": cue_episode, "queries": results.len(), "secs": elapsed,
            "results": results.iter().enumerate().map(|(i, hits)| json!({
                "query": i,
                "hits": hits.iter().map(|h| json!({"episode": h.id.0, "cosine": h.score}))
                    .collect::<Vec<_>>(),
            })).collect::<Vec<_>>(),
        }));
    }
    for (i, hits) in results.iter().enumerate() {
        println!("query {i}:");
        for h in hits {
            println!("  {:>10}  cosine {:.4}", format!("e{}", h.id.0), h.score);
        }
    }
    Ok(())
}

/// Arguments of `engram concepts`.
#[derive(Debug, clap::Args)]
pub struct ConceptsArgs {
    /// The store directory.
    #[arg(long)]
    pub store: PathBuf,
    /// Strongest members listed per concept.
    #[arg(long, default_value_t = 5)]
    pub members: usize,
}

/// Runs `engram concepts`.
pub fn concepts(c: &Common, a: ConceptsArgs) -> anyhow::Result<()> {
    let mut s = open_read_only(&a.store)?;
    use_backend(c, &mut s)?;
    let mut out = Vec::new();
    for cpt in s.concepts() {
        let members = s.members(cpt.id)?;
        out.push(json!({
            "concept": cpt.id.0,
            "state": match cpt.state { ConceptState::Proto => "proto", _ => "promoted" },
            "coherence": cpt.coherence, "strength": cpt.strength,
            "confirmations": cpt.confirmations, "formed_cycle": cpt.formed_cycle,
            "updated_cycle": cpt.updated_cycle, "member_count": members.len(),
            "members": members.iter().take(a.members)
                .map(|(e, w)| json!({"episode": e.0, "binding": w})).collect::<Vec<_>>(),
        }));
    }
    if c.json {
        return print_json(&json!({
            "store": a.store.display().to_string(), "episodes": s.len(),
            "cycles": s.cycle(), "bindings": s.graph().binding_count(),
            "concepts": out,
        }));
    }
    println!(
        "{} concepts over {} episodes ({} bindings, {} cycles)",
        out.len(),
        s.len(),
        s.graph().binding_count(),
        s.cycle()
    );
    for v in &out {
        let members: Vec<String> = v["members"]
            .as_array()
            .into_iter()
            .flatten()
            .map(|m| {
                format!(
                    "e{} ({:.3})",
                    m["episode"],
                    m["binding"].as_f64().unwrap_or(0.0)
                )
            })
            .collect();
        println!(
            "c{:<6} {:<8} {:>8} members  coherence {:.3}  strength {:.3}  {}",
            v["concept"],
            v["state"].as_str().unwrap_or(""),
            v["member_count"],
            v["coherence"].as_f64().unwrap_or(0.0),
            v["strength"].as_f64().unwrap_or(0.0),
            members.join(", ")
        );
    }
    Ok(())
}

/// Arguments of `engram consolidate`.
#[derive(Debug, clap::Args)]
pub struct ConsolidateArgs {
    /// The store directory.
    #[arg(long)]
    pub store: PathBuf,
    /// The clock value of the cycle (the unit of the episodes' timestamps), at most
    /// 2^63 − 1.
    #[arg(long, value_parser = clock)]
    pub now: u64,
    /// Look for exactly this many clusters (default: discover the number).
    #[arg(long, value_parser = positive)]
    pub k: Option<usize>,
}

/// Runs `engram consolidate`: one cycle, made durable by a checkpoint.
///
/// The cycle runs with the consolidation configuration saved in the store (its snapshot keeps
/// every threshold); only what was given on the command line replaces a saved value: `--k`
/// (the cluster count) and `--seed`. The settings used and the overrides are logged, printed
/// and part of the `--json` document.
pub fn consolidate(c: &Common, a: ConsolidateArgs) -> anyhow::Result<()> {
    let mut s = open_writable(&a.store)?;
    use_backend(c, &mut s)?;
    if let Some(last) = s.last_consolidation() {
        if a.now < last {
            usage_error(format!(
                "--now {} is before the last cycle's clock {last}",
                a.now
            ));
        }
    }
    let saved = s.config().consolidation_config().clone();
    let mut cfg = saved.clone();
    let mut overridden = Vec::new();
    if let Some(k) = a.k {
        cfg = cfg.clusters(ClusterCount::Fixed(k));
        overridden.push(format!(
            "clusters = {k} (saved: {:?})",
            saved.cluster_count()
        ));
    }
    if c.seed_given {
        cfg = cfg.seed(c.seed);
        overridden.push(format!("seed = {} (saved: {})", c.seed, saved.seed_value()));
    }
    let settings = format!(
        "the store's saved consolidation settings (seed {}, clusters {:?})",
        cfg.seed_value(),
        cfg.cluster_count()
    );
    let overrides = if overridden.is_empty() {
        "no override".to_string()
    } else {
        format!("overridden: {}", overridden.join(", "))
    };
    log::info!("consolidate: {settings}; {overrides}");
    let t = Instant::now();
    let spinner = crate::util::Progress::spinner(
        c,
        &format!("consolidating {} episodes, then checkpointing", s.len()),
    );
    let report = s
        .mutate_and_checkpoint(|e| {
            if cfg != saved {
                e.set_consolidation_config(cfg.clone())?;
            }
            e.consolidate(a.now)
        })
        .context("checkpointing the store")?
        .context("consolidating")?;
    spinner.finish();
    let elapsed = secs(t);
    let v = json!({
        "store": a.store.display().to_string(), "cycle": report.cycle, "now": report.now,
        "episodes": s.len(), "concepts": s.concepts().len(),
        "bindings": s.graph().binding_count(),
        "episodes_new": report.episodes_new, "episodes_replayed": report.episodes_replayed,
        "clusters_found": report.clusters_found, "clusters_kept": report.clusters_kept,
        "concepts_created": report.concepts_created.iter().map(|c| c.0).collect::<Vec<_>>(),
        "concepts_updated": report.concepts_updated.iter().map(|c| c.0).collect::<Vec<_>>(),
        "concepts_promoted": report.concepts_promoted.iter().map(|c| c.0).collect::<Vec<_>>(),
        "concepts_removed": report.concepts_removed.iter().map(|c| c.0).collect::<Vec<_>>(),
        "bindings_created": report.bindings_created,
        "bindings_strengthened": report.bindings_strengthened,
        "bindings_pruned": report.bindings_pruned,
        "generation": s.generation(), "secs": elapsed,
        "settings": {
            "source": "store", "seed": cfg.seed_value(),
            "clusters": format!("{:?}", cfg.cluster_count()), "overridden": overridden,
        },
    });
    if c.json {
        return print_json(&v);
    }
    println!("settings: {settings}; {overrides}");
    println!(
        "cycle {} at {}: {} new + {} replayed episodes → {} clusters kept; {} concepts created, {} updated, {} promoted, {} removed; {} concepts, {} bindings ({:.2} s, checkpointed)",
        report.cycle,
        report.now,
        report.episodes_new,
        report.episodes_replayed,
        report.clusters_kept,
        report.concepts_created.len(),
        report.concepts_updated.len(),
        report.concepts_promoted.len(),
        report.concepts_removed.len(),
        s.concepts().len(),
        s.graph().binding_count(),
        elapsed
    );
    Ok(())
}

/// Arguments of `engram repair`.
#[derive(Debug, clap::Args)]
pub struct RepairArgs {
    /// The store directory.
    #[arg(long)]
    pub store: PathBuf,
}

/// Runs `engram repair`: keeps the snapshot and the longest prefix of the log that replays
/// cleanly, saves every byte removed to a file beside the log, and says how much was lost.
pub fn repair(c: &Common, a: RepairArgs) -> anyhow::Result<()> {
    if !engram::persist::exists(&a.store) {
        usage_error(format!("no store in {}", a.store.display()));
    }
    let r = engram::persist::repair(&a.store)
        .with_context(|| format!("repairing the store in {}", a.store.display()))?;
    let saved = r.saved_to.as_ref().map(|p| p.display().to_string());
    if c.json {
        return print_json(&json!({
            "clean": r.clean,
            "problem": r.problem,
            "records_kept": r.records_kept,
            "log_bytes": r.log_bytes,
            "dropped_bytes": r.dropped_bytes,
            "saved_to": saved,
            "new_log": r.new_log,
        }));
    }
    if r.clean {
        println!(
            "the store is sound: {} log records replay cleanly; nothing changed",
            r.records_kept
        );
        return Ok(());
    }
    println!("found: {}", r.problem.as_deref().unwrap_or("damage"));
    println!(
        "kept {} log records ({} bytes); dropped {} bytes{}",
        r.records_kept,
        r.log_bytes,
        r.dropped_bytes,
        saved.map(|p| format!(", saved to {p}")).unwrap_or_default()
    );
    if r.new_log {
        println!("started an empty log: the records since the last checkpoint are lost");
    }
    Ok(())
}
