//! Spreading activation over the dual graph and the ACT-R latency model.
//!
//! Sources get activation; each hop, every node whose activation from the previous hop is at
//! least [`RecallConfig::spread_threshold`] passes `decay ×` that activation on to its
//! neighbours (bindings, temporal links, concept links), **divided among its links** in
//! proportion to their weights — so a concept bound to three facts gives each a third of what
//! a concept bound to one fact gives it (the fan effect). Activation arriving at a node adds
//! up; spreading stops after [`RecallConfig::max_hops`] hops. Retrieval latency is
//! `T = I + F·e^(−A)` (ACT-R), `A` the activation of the node retrieved.
//!
//! Runs on the CPU; [`Engram::spread_batch`] spreads many source sets in parallel (rayon).
//!
//! [`RecallConfig::spread_threshold`]: super::RecallConfig::spread_threshold
//! [`RecallConfig::max_hops`]: super::RecallConfig::max_hops

use rayon::prelude::*;
use rustc_hash::FxHashMap;

use crate::engine::Engram;
use crate::error::{InputError, Result};
use crate::memory::{EpisodeId, MemoryNode};

/// The activation of every node reached, strongest first (ties by node).
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Activation {
    /// Nodes with their total activation (sources included), descending.
    pub nodes: Vec<(MemoryNode, f32)>,
}

impl Activation {
    /// The activation of one node (0 when not reached).
    pub fn get(&self, node: MemoryNode) -> f32 {
        self.nodes
            .iter()
            .find(|(n, _)| *n == node)
            .map_or(0.0, |x| x.1)
    }

    /// The most active episode.
    pub fn best_episode(&self) -> Option<(EpisodeId, f32)> {
        self.nodes.iter().find_map(|(n, a)| match n {
            MemoryNode::Episode(e) => Some((*e, *a)),
            MemoryNode::Concept(_) => None,
        })
    }
}

/// A retrieval by spreading activation: the most active episode and how long it took.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Retrieval {
    /// The episode retrieved.
    pub episode: EpisodeId,
    /// Its activation `A`.
    pub activation: f32,
    /// `I + F·e^(−A)` in milliseconds.
    pub latency_ms: f64,
}

impl Engram {
    /// Spreads activation from `sources` (node, initial activation) over the dual graph (see
    /// the [module docs](crate::recall::activation)).
    ///
    /// # Errors
    /// [`InputError::OutOfRange`] for a negative or non-finite source activation. Unknown
    /// nodes simply spread nothing.
    pub fn spread(&self, sources: &[(MemoryNode, f32)]) -> Result<Activation> {
        for (_, a) in sources {
            if !a.is_finite() || *a < 0.0 {
                return Err(InputError::OutOfRange {
                    name: "source activation",
                    range: "[0, ∞)",
                    value: *a as f64,
                    row: None,
                }
                .into());
            }
        }
        Ok(self.spread_unchecked(sources))
    }

    /// [`Engram::spread`] for many source sets at once, in parallel.
    pub fn spread_batch(&self, batch: &[Vec<(MemoryNode, f32)>]) -> Result<Vec<Activation>> {
        // Large batches on the GPU backend spread there (see `activation_gpu`).
        if let Some(out) = self.spread_batch_gpu(batch, super::GPU_SPREAD_MIN_WORK)? {
            return Ok(out);
        }
        batch.par_iter().map(|s| self.spread(s)).collect()
    }

    fn spread_unchecked(&self, sources: &[(MemoryNode, f32)]) -> Activation {
        let cfg = &self.config.recall_config();
        let mut total: FxHashMap<MemoryNode, f32> = FxHashMap::default();
        let mut frontier: FxHashMap<MemoryNode, f32> = FxHashMap::default();
        for &(n, a) in sources {
            *total.entry(n).or_default() += a;
            *frontier.entry(n).or_default() += a;
        }
        for _ in 0..cfg.max_hops {
            let mut next: FxHashMap<MemoryNode, f32> = FxHashMap::default();
            let mut order: Vec<_> = frontier.into_iter().collect();
            order.sort_by_key(|a| a.0);
            for (node, a) in order {
                if a < cfg.spread_threshold || a <= 0.0 {
                    continue;
                }
                let nbrs = self.graph.neighbours(node);
                let sum: f32 = nbrs.iter().map(|x| x.1.max(0.0)).sum();
                if sum <= 0.0 {
                    continue;
                }
                let out = a * cfg.spread_decay / sum;
                for (m, w) in nbrs {
                    if w > 0.0 {
                        *next.entry(m).or_default() += out * w;
                    }
                }
            }
            if next.is_empty() {
                break;
            }
            for (&m, &a) in &next {
                *total.entry(m).or_default() += a;
            }
            frontier = next;
        }
        let mut nodes: Vec<_> = total.into_iter().collect();
        nodes.sort_by(|a, b| b.1.total_cmp(&a.1).then(a.0.cmp(&b.0)));
        Activation { nodes }
    }

    /// The sources a cue activates: the concepts (at most
    /// [`max_sources`](super::RecallConfig::max_sources)) whose centroid has cosine at least
    /// [`source_min_similarity`](super::RecallConfig::source_min_similarity) to the cue,
    /// sharing the total source activation `W` in proportion to that cosine.
    pub fn cue_sources(&self, cue: &[f32]) -> Result<Vec<(MemoryNode, f32)>> {
        let cfg = &self.config.recall_config();
        let q = self.prepare_cue(cue)?;
        if self.graph.concept_count() == 0 {
            return Ok(Vec::new());
        }
        let found: Vec<_> = self
            .search_concepts(&q, cfg.max_sources)?
            .into_iter()
            .filter(|c| c.score >= cfg.source_min_similarity && c.score > 0.0)
            .collect();
        let sum: f32 = found.iter().map(|c| c.score).sum();
        Ok(found
            .into_iter()
            .map(|c| {
                (
                    MemoryNode::Concept(c.id),
                    cfg.source_activation * c.score / sum,
                )
            })
            .collect())
    }

    /// Spreads activation from the concepts a cue activates ([`Engram::cue_sources`]).
    pub fn activate(&self, cue: &[f32]) -> Result<Activation> {
        let sources = self.cue_sources(cue)?;
        Ok(self.spread_unchecked(&sources))
    }

    /// Retrieves by spreading activation from a cue: the most active episode, with its
    /// ACT-R latency. `None` when activation reaches no episode.
    pub fn retrieve(&self, cue: &[f32]) -> Result<Option<Retrieval>> {
        let act = self.activate(cue)?;
        Ok(act.best_episode().map(|(episode, a)| Retrieval {
            episode,
            activation: a,
            latency_ms: self.config.recall_config().latency_ms(a),
        }))
    }

    /// [`Engram::retrieve`] for a batch of cues (flat, row-major), in parallel.
    pub fn retrieve_batch(&self, cues: &[f32]) -> Result<Vec<Option<Retrieval>>> {
        let dim = self.dim();
        if cues.is_empty() || !cues.len().is_multiple_of(dim) {
            return Err(InputError::RaggedBatch {
                len: cues.len(),
                dim,
            }
            .into());
        }
        if let Some(out) = self.retrieve_batch_gpu(cues, super::GPU_SPREAD_MIN_WORK)? {
            return Ok(out);
        }
        cues.par_chunks(dim).map(|c| self.retrieve(c)).collect()
    }
}
