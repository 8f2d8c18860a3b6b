//! Recognition: is a cue old or new?
//!
//! Decision rule (a global-matching model, after Clark & Gronlund 1996):
//!
//! - `episodic` = the best cosine between the cue and a stored episode (exact search);
//! - `semantic` = the best cosine between the cue and a concept centroid (when the store has
//!   no concept, `semantic = episodic`);
//! - familiarity `f = w·episodic + (1 − w)·semantic`, `w` =
//!   [`familiarity_episodic_weight`](super::RecallConfig::familiarity_episodic_weight)
//!   (default 0.5);
//! - the cue is judged **old** when `f ≥ θ`, `θ` =
//!   [`familiarity_threshold`](super::RecallConfig::familiarity_threshold) (default 0.6);
//! - `confidence` (that the cue is old) = `1 / (1 + e^(−(f − θ)/s))`, `s` =
//!   [`familiarity_slope`](super::RecallConfig::familiarity_slope).
//!
//! A never-seen item close to a concept (a DRM lure, a prototype) is therefore familiar
//! through the semantic term even though no episode matches it exactly.

use crate::engine::Engram;
use crate::error::Result;

/// A recognition judgement.
#[derive(Debug, Clone, Copy, PartialEq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub struct Familiarity {
    /// Judged old (`familiarity ≥ threshold`).
    pub old: bool,
    /// Confidence that the cue is old, in (0, 1).
    pub confidence: f32,
    /// Best cosine to a stored episode.
    pub episodic: f32,
    /// Best cosine to a concept centroid.
    pub semantic: f32,
    /// The combined familiarity.
    pub familiarity: f32,
}

impl Engram {
    /// Recognition of a cue from episodic match and concept support together (see the
    /// [module docs](crate::recall::familiarity) for the rule). An empty store gives
    /// familiarity 0 (new).
    pub fn familiarity(&self, cue: &[f32]) -> Result<Familiarity> {
        let cfg = &self.config.recall_config();
        let q = self.prepare_cue(cue)?;
        let episodic = if self.is_empty() {
            0.0
        } else {
            self.search(&q, 1)?.first().map_or(0.0, |h| h.score)
        };
        let semantic = if self.graph.concept_count() == 0 {
            episodic
        } else {
            self.search_concepts(&q, 1)?
                .first()
                .map_or(episodic, |c| c.score)
        };
        let w = cfg.familiarity_episodic_weight;
        let f = w * episodic + (1.0 - w) * semantic;
        let confidence =
            1.0 / (1.0 + (-(f - cfg.familiarity_threshold) / cfg.familiarity_slope).exp());
        Ok(Familiarity {
            old: f >= cfg.familiarity_threshold,
            confidence,
            episodic,
            semantic,
            familiarity: f,
        })
    }
}
