//! Consolidation: concept formation from the episodes of a cycle, and the bookkeeping that
//! follows (bindings, replay, decay, promotion, pruning, concept links).
//!
//! A cycle ([`Engram::consolidate`]) is split in two so that the expensive part runs under a
//! read lock:
//!
//! 1. [`Engram::prepare_cycle`] (`&self`): the rows are the episodes added since the last cycle
//!    plus a seeded replay sample of older ones; they are clustered with spherical k-means on
//!    the engine's backend — with the number of clusters given ([`ClusterCount::Fixed`]) or
//!    discovered ([`ClusterCount::Discover`], the default). The first cycle clusters from
//!    scratch; later cycles start from the existing concepts' centroids (plus seeds for rows
//!    no concept explains), so a concept keeps its id and clustering costs a couple of
//!    assignment passes. Clusters below the coherence or size thresholds are dropped; the rest
//!    are matched one-to-one to existing concepts by centroid cosine (greedy by similarity,
//!    deterministic).
//! 2. [`Engram::apply_cycle`] (`&mut self`): updates or creates concepts, binds episodes
//!    (soft membership included), applies replay and the forgetting curve, promotes and prunes.
//!
//! Every threshold is in [`ConsolidationConfig`] (reached through
//! [`crate::Config::consolidation`]). Same seed + same backend ⇒ identical concepts.
//! [`spawn_background_consolidation`] runs cycles on a thread with the two locks.
//!
//! ```
//! use engram::{Config, Engram, EpisodeMeta};
//! use engram::consolidation::{ClusterCount, ConsolidationConfig};
//! let cfg = Config::new(2).consolidation(ConsolidationConfig::default().clusters(ClusterCount::Fixed(2)));
//! let mut mem = Engram::new(cfg).unwrap();
//! for i in 0..20 {
//!     let t = i as f32 * 0.01;
//!     mem.remember(&[1.0, t], EpisodeMeta::at(i)).unwrap();
//!     mem.remember(&[t, 1.0], EpisodeMeta::at(i)).unwrap();
//! }
//! let report = mem.consolidate(100).unwrap();
//! assert_eq!(report.concepts_created.len(), 2);
//! assert_eq!(mem.concepts().len(), 2);
//! ```

mod apply;
mod background;
mod config;
mod plan;
mod report;

pub use background::{
    spawn_background_consolidation, BackgroundHandle, BackgroundPhase, ConsolidationTarget,
};
pub use config::{ClusterCount, ConsolidationConfig, ForgettingCurve};
pub use plan::CyclePlan;
pub use report::{CycleReport, PhaseTimings};

use rustc_hash::FxHashMap;

use crate::engine::Engram;
use crate::error::Result;
use crate::memory::ConceptId;

/// Consolidation bookkeeping kept by the engine between cycles.
#[derive(Debug, Clone, Default, PartialEq)]
pub(crate) struct State {
    /// Episodes with an id at or above this have not been in a cycle yet.
    pub(crate) watermark: u64,
    /// The clock value of the last cycle.
    pub(crate) last_time: Option<u64>,
    /// When each concept was last confirmed (its forgetting curve starts there).
    pub(crate) concept_time: FxHashMap<ConceptId, u64>,
}

/// A consolidation step could not be applied.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ConsolidationError {
    /// The plan was prepared before another cycle was applied; prepare a new one.
    #[error("the plan was prepared at cycle {planned} but the engine is at cycle {current}")]
    StalePlan {
        /// The engine's cycle when the plan was prepared.
        planned: u64,
        /// The engine's cycle now.
        current: u64,
    },
    /// The plan belongs to an engine of another dimension.
    #[error("the plan's centroids have dimension {got}, the engine {expected}")]
    DimensionMismatch {
        /// The engine's dimension.
        expected: usize,
        /// The plan's.
        got: usize,
    },
}

impl Engram {
    /// One consolidation cycle at clock `now`: [`Engram::prepare_cycle`] then
    /// [`Engram::apply_cycle`]. Returns what changed.
    ///
    /// # Errors
    /// As [`Engram::prepare_cycle`]; nothing is changed on error.
    pub fn consolidate(&mut self, now: u64) -> Result<CycleReport> {
        let plan = self.prepare_cycle(now)?;
        let mut report = self.apply_cycle(plan)?;
        // Concept lists in use follow the cycle now (only the lists whose members changed
        // are rewritten), so the next semantic search does not pay for it. (A cycle applied
        // by `apply_cycle` alone — under a shared engine's write lock — leaves that to the
        // next semantic search, which rebuilds outside any lock.)
        let t = std::time::Instant::now();
        self.sync_lists_if_used();
        report.timings.lists = t.elapsed();
        Ok(report)
    }

    /// Replaces the consolidation thresholds of this engine (checked first). A durable store's
    /// snapshot keeps them (from format version 2), so a reopened store cycles with the
    /// thresholds it was given; set them only to change them.
    ///
    /// # Errors
    /// [`crate::ConfigError::OutOfRange`] naming the first field out of range; nothing is
    /// changed then.
    pub fn set_consolidation_config(&mut self, config: ConsolidationConfig) -> Result<()> {
        let config = config.check()?;
        self.config = self.config.clone().consolidation(config);
        Ok(())
    }

    /// Consolidation cycles applied so far (0 before the first).
    pub fn cycle(&self) -> u64 {
        self.cycle
    }

    /// The clock value of the last consolidation cycle, if any ran.
    pub fn last_consolidation(&self) -> Option<u64> {
        self.consolidation.last_time
    }
}
