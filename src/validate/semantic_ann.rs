//! Semantic recall as an approximate nearest-neighbour search.
//!
//! Protocol: a labelled synthetic stream ([`crate::synth`]) is stored; one consolidation cycle
//! ([`Engram::consolidate`], settings of [`ann_consolidation`]) forms the concepts; held-out
//! rows of the same stream are the queries. For each
//! number of probed concepts, [`Engram::search_semantic`] (probe the nearest concepts, score
//! only their members) is compared with exact [`Engram::search`]: recall@10 and the time per
//! query of both, measured in the same run.
//!
//! Pass: recall@10 never falls as probes grow, and is 1.0 when every concept is probed.

use std::time::Instant;

use super::{r3, ExperimentResult, ValidateError};
use crate::config::Config;
use crate::consolidation::{ClusterCount, ConsolidationConfig};
use crate::engine::Engram;
use crate::synth::SynthParams;

/// Parameters of the experiment.
#[derive(Debug, Clone, PartialEq)]
pub struct AnnParams {
    /// Stored rows.
    pub n: usize,
    /// Dimension.
    pub dim: usize,
    /// True clusters of the stream.
    pub clusters: usize,
    /// Concepts formed.
    pub concepts: usize,
    /// Held-out queries.
    pub queries: usize,
    /// k of recall@k.
    pub k: usize,
    /// Probe counts to measure.
    pub probes: Vec<usize>,
    /// Lloyd iterations of concept formation ([`ConsolidationConfig::max_iter`]).
    pub max_iter: usize,
    /// Seed.
    pub seed: u64,
}

impl AnnParams {
    /// A small configuration for `engram validate` and the tests: 20,000 × 128, 200 clusters
    /// and concepts, 200 queries, probes 1, 2, 5, 20, 200.
    pub fn small(seed: u64) -> Self {
        Self {
            n: 20_000,
            dim: 128,
            clusters: 200,
            concepts: 200,
            queries: 200,
            k: 10,
            probes: vec![1, 2, 5, 20, 200],
            max_iter: 20,
            seed,
        }
    }
}

/// One probe count's figures.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct AnnPoint {
    /// Concepts probed.
    pub probes: usize,
    /// Mean recall@k against exact search.
    pub recall: f64,
    /// Mean time per query of the semantic search, in µs.
    pub semantic_us: f64,
    /// Exact time per query / semantic time per query.
    pub speedup: f64,
}

/// The experiment's output.
#[derive(Debug, Clone, PartialEq)]
pub struct AnnReport {
    /// One point per probe count.
    pub points: Vec<AnnPoint>,
    /// Mean time per query of exact search, in µs.
    pub exact_us: f64,
    /// Seconds spent forming concepts.
    pub formation_s: f64,
    /// The scored result.
    pub result: ExperimentResult,
}

/// The consolidation settings of the experiment: [`ClusterCount::Fixed`]`(concepts)`, the
/// given Lloyd iterations and seed, otherwise the defaults (soft membership included).
pub fn ann_consolidation(p: &AnnParams) -> ConsolidationConfig {
    ConsolidationConfig::default()
        .seed(p.seed)
        .clusters(ClusterCount::Fixed(p.concepts))
        .max_iter(p.max_iter)
}

/// Builds an engine holding the first `n` rows of the stream with concepts formed; returns it
/// with the held-out queries.
pub fn build(p: &AnnParams) -> Result<(Engram, Vec<f32>, f64), ValidateError> {
    let synth = SynthParams::new(p.n + p.queries, p.dim, p.clusters)
        .seed(p.seed)
        .check()
        .map_err(crate::cluster::ClusterError::from)?;
    let mut mem = Engram::new(
        Config::new(p.dim)
            .backend(super::backend())
            .consolidation(ann_consolidation(p)),
    )?;
    let mut queries = Vec::with_capacity(p.queries * p.dim);
    for chunk in synth.chunks(50_000) {
        let rows = chunk.data.len() / p.dim;
        let keep = p.n.saturating_sub(chunk.start).min(rows);
        mem.remember_batch(&chunk.data[..keep * p.dim], Vec::new())?;
        queries.extend_from_slice(&chunk.data[keep * p.dim..]);
    }
    let t = Instant::now();
    mem.consolidate(p.n as u64)?;
    Ok((mem, queries, t.elapsed().as_secs_f64()))
}

/// Measures recall@k and speed on an engine built by [`build`].
pub fn measure(
    mem: &Engram,
    queries: &[f32],
    k: usize,
    probes: &[usize],
) -> Result<(Vec<AnnPoint>, f64), ValidateError> {
    let dim = mem.dim();
    let nq = queries.len() / dim;
    let t = Instant::now();
    let mut exact = Vec::with_capacity(nq);
    for q in queries.chunks_exact(dim) {
        exact.push(mem.search(q, k)?);
    }
    let exact_us = t.elapsed().as_secs_f64() * 1e6 / nq.max(1) as f64;
    let mut points = Vec::new();
    for &pr in probes {
        let t = Instant::now();
        let mut approx = Vec::with_capacity(nq);
        for q in queries.chunks_exact(dim) {
            approx.push(mem.search_semantic(q, k, pr)?);
        }
        let us = t.elapsed().as_secs_f64() * 1e6 / nq.max(1) as f64;
        let mut found = 0usize;
        let mut total = 0usize;
        for (e, a) in exact.iter().zip(&approx) {
            total += e.len();
            found += e.iter().filter(|h| a.iter().any(|x| x.id == h.id)).count();
        }
        points.push(AnnPoint {
            probes: pr,
            recall: found as f64 / total.max(1) as f64,
            semantic_us: us,
            speedup: exact_us / us.max(1e-9),
        });
    }
    Ok((points, exact_us))
}

/// Runs the experiment.
pub fn run(p: &AnnParams) -> Result<AnnReport, ValidateError> {
    let (mem, queries, formation_s) = build(p)?;
    let (points, exact_us) = measure(&mem, &queries, p.k, &p.probes)?;
    let concepts = mem.graph().concept_count();
    let rising = points.windows(2).all(|w| w[1].recall >= w[0].recall);
    let all = points
        .iter()
        .filter(|x| x.probes >= concepts)
        .all(|x| x.recall == 1.0)
        && points.iter().any(|x| x.probes >= concepts);
    let result = ExperimentResult {
        name: "semantic_ann",
        ours: serde_json::json!({
            "n": p.n, "dim": p.dim, "concepts": concepts, "exact_us": r3(exact_us),
            "points": points.iter().map(|x| serde_json::json!({
                "probes": x.probes, "recall_at_10": r3(x.recall),
                "semantic_us": r3(x.semantic_us), "speedup": r3(x.speedup),
            })).collect::<Vec<_>>(),
        }),
        published: serde_json::json!({
            "expected": "recall rises with probes and is 1.0 with every concept probed \
                         (inverted-file index, Jégou et al. 2011)",
        }),
        pass: rising && all,
        criterion: "recall@10 non-decreasing in probes; 1.0 when all concepts are probed".into(),
    };
    Ok(AnnReport {
        points,
        exact_us,
        formation_s,
        result,
    })
}
