//! Concept quality against true labels: each episode is labelled by the concept of its
//! strongest binding (ties: the smaller concept id), and the labelling is scored with ARI and
//! NMI against the true clusters.
//!
//! An episode bound to no concept gets a label of its own kind, [`UNBOUND`]: all unbound
//! episodes form one extra cluster, so leaving episodes out lowers the scores.

use engram::cluster::{adjusted_rand_index, normalized_mutual_info};
use engram::{ConceptId, Engram, EpisodeId};

/// The label of an episode bound to no concept.
pub const UNBOUND: u64 = u64::MAX;

/// The concept of an episode's strongest binding, if it has any.
pub fn strongest_binding(mem: &Engram, id: EpisodeId) -> Option<ConceptId> {
    let node = mem.graph().episode_node(id)?;
    node.bindings()
        .iter()
        .max_by(|a, b| a.1.total_cmp(&b.1).then(b.0.cmp(&a.0)))
        .map(|b| b.0)
}

/// ARI and NMI of the strongest-binding labelling of `ids` against `truth`, and the fraction
/// of `ids` bound to no concept.
pub fn score(mem: &Engram, ids: &[EpisodeId], truth: &[u32]) -> anyhow::Result<Quality> {
    let labels: Vec<u64> = ids
        .iter()
        .map(|&id| strongest_binding(mem, id).map_or(UNBOUND, |c| c.0))
        .collect();
    let unbound = labels.iter().filter(|&&l| l == UNBOUND).count();
    Ok(Quality {
        ari: adjusted_rand_index(truth, &labels)?,
        nmi: normalized_mutual_info(truth, &labels)?,
        unbound: unbound as f64 / ids.len().max(1) as f64,
    })
}

/// Concept quality of a labelling.
#[derive(Debug, Clone, Copy)]
pub struct Quality {
    /// Adjusted Rand index against the true labels.
    pub ari: f64,
    /// Normalised mutual information against the true labels.
    pub nmi: f64,
    /// Fraction of the episodes scored that no concept binds.
    pub unbound: f64,
}
