//! [`CycleReport`]: everything one consolidation cycle changed, and how long each phase took.

use std::time::Duration;

use crate::memory::ConceptId;

/// Wall time of each phase of a cycle (measured, never used by the logic).
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct PhaseTimings {
    /// Choosing and gathering the cycle's rows (new episodes + replay sample).
    pub sample: Duration,
    /// Clustering on the backend (initialisation, discovery, Lloyd).
    pub cluster: Duration,
    /// Cluster statistics, soft-membership candidates and matching to concepts.
    pub matching: Duration,
    /// Concept updates and creations, bindings (the write-locked part begins here).
    pub apply: Duration,
    /// Decay of everything not replayed.
    pub decay: Duration,
    /// Pruning of weak bindings and faded proto-concepts, and concept links.
    pub prune: Duration,
    /// Bringing the concept lists of the semantic pathway up to date at the end of
    /// [`crate::Engram::consolidate`] (zero until the semantic pathway first built them, and
    /// for a cycle applied by `apply_cycle` alone; only the lists whose members changed are
    /// rewritten).
    pub lists: Duration,
    /// The checkpoint that made the cycle durable (a durable store's log sync and snapshot
    /// write after the cycle); `None` in memory. Not part of [`PhaseTimings::total`].
    pub checkpoint: Option<Duration>,
}

impl PhaseTimings {
    /// The sum of every phase.
    pub fn total(&self) -> Duration {
        self.sample
            + self.cluster
            + self.matching
            + self.apply
            + self.decay
            + self.prune
            + self.lists
    }
    /// The part that runs under a read lock ([`crate::Engram::prepare_cycle`]).
    pub fn prepare(&self) -> Duration {
        self.sample + self.cluster + self.matching
    }
}

/// What one consolidation cycle changed.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct CycleReport {
    /// The cycle number (1 for the first cycle).
    pub cycle: u64,
    /// The clock value the cycle ran at.
    pub now: u64,
    /// Episodes added since the previous cycle that took part.
    pub episodes_new: usize,
    /// Older episodes replayed (their strength rose, `rehearsals` + 1, `last_access` = now).
    pub episodes_replayed: usize,
    /// Clusters the clustering produced.
    pub clusters_found: usize,
    /// Clusters that met the coherence and size thresholds.
    pub clusters_kept: usize,
    /// Concepts formed this cycle (as proto-concepts).
    pub concepts_created: Vec<ConceptId>,
    /// Existing concepts confirmed and updated in place.
    pub concepts_updated: Vec<ConceptId>,
    /// Proto-concepts promoted this cycle.
    pub concepts_promoted: Vec<ConceptId>,
    /// Proto-concepts that faded below the threshold and were removed.
    pub concepts_removed: Vec<ConceptId>,
    /// Bindings created.
    pub bindings_created: usize,
    /// Existing bindings strengthened.
    pub bindings_strengthened: usize,
    /// Bindings pruned (weaker than the threshold).
    pub bindings_pruned: usize,
    /// Episodes whose strength decayed.
    pub episodes_decayed: usize,
    /// Bindings that decayed (those of episodes not in the cycle).
    pub bindings_decayed: usize,
    /// Concepts that decayed (not confirmed this cycle).
    pub concepts_decayed: usize,
    /// The smallest decay factor applied to any episode (1 when none decayed).
    pub min_decay_factor: f32,
    /// Concept–concept links set (or updated).
    pub links_set: usize,
    /// Concept–concept links removed (their centroids moved apart).
    pub links_removed: usize,
    /// Planned rows skipped because their episode was forgotten between prepare and apply.
    pub rows_skipped: usize,
    /// Time per phase.
    pub timings: PhaseTimings,
}
