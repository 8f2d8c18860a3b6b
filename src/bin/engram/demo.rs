//! `engram demo`: a small labelled stream end to end — ingest, consolidate into concepts
//! (`Engram::consolidate`), show a few concepts with their members (`concepts()`, `members()`),
//! and recall by a cue through the blended and semantic pathways (`recall_view`).
//!
//! The stream is ingested in two halves with a consolidation cycle after each: the first
//! forms the concepts from scratch, the second starts from them (a warm cycle), so concepts keep
//! their ids and gain members. Each episode is then labelled by its strongest binding and the
//! labelling is scored against the true clusters (ARI/NMI); each concept shown carries its
//! purity against the true labels and its strongest members.

use std::time::Instant;

use engram::synth::SynthData;
use engram::{
    ClusterCount, Config, ConsolidationConfig, Engram, EpisodeId, EpisodeMeta, MemoryNode,
    RecallHit, RecallMode, RecallParams,
};
use serde_json::{json, Value};

use crate::quality;
use crate::util::{positive, print_json, secs, Common};

/// Arguments of `engram demo`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// Episodes in the stream.
    #[arg(long, value_parser = positive, default_value = "20000")]
    pub n: usize,
    /// Dimension (1 to 65,536).
    #[arg(long, value_parser = crate::util::bounded(1 << 16), default_value = "384")]
    pub dim: usize,
    /// True clusters in the stream.
    #[arg(long, value_parser = positive, default_value = "8")]
    pub clusters: usize,
    /// Clusters consolidation looks for (default: discover the number).
    #[arg(long, value_parser = positive)]
    pub k: Option<usize>,
    /// Concepts to show.
    #[arg(long, default_value_t = 3)]
    pub show: usize,
    /// Strongest members shown per concept.
    #[arg(long, default_value_t = 5)]
    pub members: usize,
}

/// Runs `engram demo`.
pub fn run(c: &Common, a: Args) -> anyhow::Result<()> {
    let (stream, mut mem) = setup(c, &a)?;
    // 1. ingest and consolidate, twice.
    let ingested = ingest_twice(&mut mem, &stream, a.n, a.dim)?;
    let q = quality::score(&mem, &ingested.ids, &stream.labels)?;
    let label_of = |e: EpisodeId| stream.labels[e.0 as usize];
    // 2. concepts, largest first, with their strongest members.
    let shown = largest_concepts(&mem, &label_of, a.show, a.members)?;
    // 3. recall by the embedding of one episode: blended, then semantic only.
    let cue_id = ingested.ids[0];
    let cue = mem.embedding(cue_id)?;
    let blended = recall_json(&mem, cue_id, &cue, RecallMode::Blended, a.n, &label_of)?;
    let semantic = recall_json(&mem, cue_id, &cue, RecallMode::Semantic, a.n, &label_of)?;

    let v = json!({
        "n": a.n, "dim": a.dim, "clusters": a.clusters, "seed": c.seed,
        "k": a.k, "backend": mem.backend().kind(),
        "episodes": mem.len(), "ingest_s": ingested.ingest_s,
        "episodes_per_s": a.n as f64 / ingested.ingest_s,
        "consolidate_s": ingested.consolidate_s, "cycles": ingested.cycles,
        "concepts": mem.concepts().len(), "bindings": mem.graph().binding_count(),
        "ari": q.ari, "nmi": q.nmi, "unbound": q.unbound,
        "shown": shown,
        "recall": blended, "recall_semantic": semantic,
    });
    if c.json {
        return print_json(&v);
    }
    print_text(&a, &v, &mem);
    Ok(())
}

/// Checks the arguments and the memory, generates the stream and makes the engine.
fn setup(c: &Common, a: &Args) -> anyhow::Result<(SynthData, Engram)> {
    if a.clusters > a.n {
        crate::util::usage_error(format!(
            "--clusters {} is larger than --n {}",
            a.clusters, a.n
        ));
    }
    // The stream and the engine's copy of it: 8 bytes per component.
    crate::util::check_rows_fit(
        a.n,
        a.dim,
        8,
        crate::util::available_memory(),
        "the memory available",
    );
    let spec = crate::synth::StreamSpec {
        n: a.n,
        dim: a.dim,
        clusters: a.clusters,
        sigma2: None,
        zipf: None,
        drift: 0.0,
        blocked: false,
    };
    let stream = spec.synth(c.seed).generate();
    let count =
        a.k.map_or(ClusterCount::Discover { max_k: None }, ClusterCount::Fixed);
    let cfg = Config::new(a.dim)
        .backend(c.backend)
        .consolidation(ConsolidationConfig::default().seed(c.seed).clusters(count));
    let mem = Engram::new(cfg)?;
    log::info!(
        "backend: {} ({})",
        mem.backend().kind(),
        mem.backend_reason()
    );
    Ok((stream, mem))
}

/// The stream stored and consolidated in two halves.
struct Ingested {
    ids: Vec<EpisodeId>,
    ingest_s: f64,
    consolidate_s: f64,
    /// Each cycle's report (JSON).
    cycles: Vec<Value>,
}

/// Ingests the `n` rows of `stream` in two halves, with a consolidation cycle after each.
fn ingest_twice(
    mem: &mut Engram,
    stream: &SynthData,
    n: usize,
    dim: usize,
) -> anyhow::Result<Ingested> {
    let half = n / 2;
    let mut ingest = 0.0;
    let mut consolidate = 0.0;
    let mut ids: Vec<EpisodeId> = Vec::with_capacity(n);
    let mut cycles = Vec::new();
    for (lo, hi) in [(0, half), (half, n)] {
        let metas = (lo as u64..hi as u64).map(EpisodeMeta::at).collect();
        let t = Instant::now();
        ids.extend(mem.remember_batch(&stream.data[lo * dim..hi * dim], metas)?);
        ingest += secs(t);
        let t = Instant::now();
        let r = mem.consolidate(hi as u64)?;
        consolidate += secs(t);
        cycles.push(json!({
            "cycle": r.cycle, "now": r.now, "episodes_new": r.episodes_new,
            "episodes_replayed": r.episodes_replayed, "clusters_kept": r.clusters_kept,
            "concepts_created": r.concepts_created.len(),
            "concepts_updated": r.concepts_updated.len(),
            "bindings_created": r.bindings_created, "secs": secs(t),
        }));
    }
    Ok(Ingested {
        ids,
        ingest_s: ingest,
        consolidate_s: consolidate,
        cycles,
    })
}

/// The `show` concepts with the most members (JSON), each with its purity against the true
/// labels and its strongest members (`strongest` of them).
fn largest_concepts(
    mem: &Engram,
    label_of: &impl Fn(EpisodeId) -> u32,
    show: usize,
    strongest: usize,
) -> anyhow::Result<Vec<Value>> {
    let mut concepts: Vec<(engram::Concept, Vec<(EpisodeId, f32)>)> = mem
        .concepts()
        .into_iter()
        .map(|cpt| {
            let m = mem.members(cpt.id)?;
            Ok((cpt, m))
        })
        .collect::<anyhow::Result<_>>()?;
    concepts.sort_by_key(|(cpt, m)| (std::cmp::Reverse(m.len()), cpt.id));
    Ok(concepts
        .iter()
        .take(show)
        .map(|(cpt, members)| {
            let mut counts = std::collections::BTreeMap::<u32, usize>::new();
            for &(e, _) in members {
                *counts.entry(label_of(e)).or_default() += 1;
            }
            let (true_label, hits) = counts
                .iter()
                .max_by_key(|(l, c)| (**c, std::cmp::Reverse(**l)))
                .map_or((0, 0), |(l, c)| (*l, *c));
            json!({
                "concept": cpt.id.0, "state": format!("{:?}", cpt.state).to_lowercase(),
                "members": members.len(), "coherence": cpt.coherence, "strength": cpt.strength,
                "confirmations": cpt.confirmations,
                "true_label": true_label, "purity": hits as f64 / members.len().max(1) as f64,
                "strongest_members": members.iter().take(strongest).map(|&(e, s)| json!({
                    "episode": e.0, "binding": s, "true_label": label_of(e)})).collect::<Vec<_>>(),
            })
        })
        .collect())
}

/// Recalls 5 memories for `cue` (the embedding of episode `cue_id`) in `mode` at time `now`
/// (JSON), counting those from the cue's true cluster.
fn recall_json(
    mem: &Engram,
    cue_id: EpisodeId,
    cue: &[f32],
    mode: RecallMode,
    now: usize,
    label_of: &impl Fn(EpisodeId) -> u32,
) -> anyhow::Result<Value> {
    let t = Instant::now();
    let hits = mem.recall_view(cue, &RecallParams::new(5).mode(mode).at(now as u64))?;
    let ms = secs(t) * 1e3;
    let same = hits
        .iter()
        .filter(|h| hit_label(h, label_of) == Some(label_of(cue_id)))
        .count();
    Ok(json!({
        "mode": format!("{mode:?}").to_lowercase(), "cue_episode": cue_id.0, "ms": ms,
        "same_cluster": same, "hits": hits.iter().map(|h| hit_json(h, label_of)).collect::<Vec<_>>(),
    }))
}

fn hit_label(h: &RecallHit, label_of: &impl Fn(EpisodeId) -> u32) -> Option<u32> {
    match h.node {
        MemoryNode::Episode(e) => Some(label_of(e)),
        MemoryNode::Concept(_) => None,
    }
}

fn hit_json(h: &RecallHit, label_of: &impl Fn(EpisodeId) -> u32) -> Value {
    json!({
        h.node.kind(): h.node.raw_id(), "score": h.score, "cosine": h.similarity, "episodic": h.episodic,
        "semantic": h.semantic, "via": via(h), "true_label": hit_label(h, label_of),
    })
}

fn via(h: &RecallHit) -> String {
    h.via.names().join("+")
}

fn f(v: &Value) -> f64 {
    v.as_f64().unwrap_or(0.0)
}

fn print_text(a: &Args, v: &Value, mem: &Engram) {
    println!(
        "1. ingest: stored {} episodes of {} dimensions in {:.1} ms ({:.2} M episodes/s) on {}",
        mem.len(),
        a.dim,
        f(&v["ingest_s"]) * 1e3,
        f(&v["episodes_per_s"]) / 1e6,
        mem.backend().describe()
    );
    println!(
        "2. consolidate: 2 cycles in {:.2} s ({}) → {} concepts, {} bindings; labelling each episode by its strongest binding, against the {} true clusters ARI {:.3}, NMI {:.3}",
        f(&v["consolidate_s"]),
        a.k.map_or("k discovered".into(), |k| format!("k = {k}")),
        v["concepts"],
        v["bindings"],
        a.clusters,
        f(&v["ari"]),
        f(&v["nmi"])
    );
    for cpt in v["shown"].as_array().into_iter().flatten() {
        let members: Vec<String> = cpt["strongest_members"]
            .as_array()
            .into_iter()
            .flatten()
            .map(|m| format!("e{} ({:.3})", m["episode"], f(&m["binding"])))
            .collect();
        println!(
            "   concept c{} ({}): {} members, coherence {:.3}, {:.0} % from true cluster {}; strongest: {}",
            cpt["concept"],
            cpt["state"].as_str().unwrap_or(""),
            cpt["members"],
            f(&cpt["coherence"]),
            100.0 * f(&cpt["purity"]),
            cpt["true_label"],
            members.join(", ")
        );
    }
    for (i, key) in [(3, "recall"), (4, "recall_semantic")] {
        let r = &v[key];
        println!(
            "{i}. recall ({}): 5 memories for the embedding of episode {} ({:.2} ms), {} from its true cluster:",
            r["mode"].as_str().unwrap_or(""),
            r["cue_episode"],
            f(&r["ms"]),
            r["same_cluster"]
        );
        for h in r["hits"].as_array().into_iter().flatten() {
            println!(
                "   e{}  score {:.4}  cosine {:.4}  via {}  true cluster {}",
                h["episode"],
                f(&h["score"]),
                f(&h["cosine"]),
                h["via"].as_str().unwrap_or(""),
                h["true_label"]
            );
        }
    }
}
