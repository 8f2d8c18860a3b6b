//! [`RecallParams`], [`RecallMode`] and the result type [`RecallHit`].

use crate::error::InputError;
use crate::memory::MemoryNode;

/// Which pathway(s) a recall uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum RecallMode {
    /// Exact top-k over every episode (the flat index). Use when exactness matters more than
    /// speed.
    Episodic,
    /// Top concepts for the cue, then only their bound episodes: an approximate search like an
    /// inverted-file index, whose recall and speed are set by [`RecallParams::probes`].
    Semantic,
    /// Both, fused with [`RecallParams::weights`]. The default.
    #[default]
    Blended,
}

/// Parameters of one recall. Build with [`RecallParams::new`] and the chainable setters.
#[derive(Debug, Clone, PartialEq)]
pub struct RecallParams {
    /// How many hits to return (at least 1).
    pub k: usize,
    /// The pathway(s).
    pub mode: RecallMode,
    /// Concepts probed by the semantic pathway (at least 1). Default 8.
    pub probes: usize,
    /// Fusion weights (episodic, semantic) of blended recall, each ≥ 0, not both 0.
    /// Default (0.5, 0.5).
    pub weights: (f32, f32),
    /// Weight of concept support (binding strength × coherence × cue–centroid cosine) in the
    /// semantic score `(1 − w)·cos(cue, episode) + w·support`, in [0, 1]. With 0 the semantic
    /// pathway ranks purely by cosine, so it is an approximation of exact search. Default 0.1.
    pub support_weight: f32,
    /// Pattern completion: when the best episode found has a cosine to the cue below this
    /// threshold, a reconstruction is returned as a [`MemoryNode::Concept`] hit (the best
    /// concept for the cue) if it matches the cue better than that episode: the echo of the
    /// cue over that concept's members (MINERVA 2; with the default exponent 0 the
    /// binding-weighted centroid of the members).
    /// `None` (the default) turns completion off.
    pub completion: Option<f32>,
    /// The caller's time of the recall: retention is computed for it, and
    /// [`crate::Engram::recall`] records it as the last access of what it recalls. Default 0.
    pub now: u64,
}

impl RecallParams {
    /// `k` hits, blended, 8 probes, weights (0.5, 0.5), support weight 0.1, no completion,
    /// `now` 0.
    pub fn new(k: usize) -> Self {
        Self {
            k,
            mode: RecallMode::Blended,
            probes: 8,
            weights: (0.5, 0.5),
            support_weight: 0.1,
            completion: None,
            now: 0,
        }
    }
    /// Sets the mode.
    pub fn mode(mut self, mode: RecallMode) -> Self {
        self.mode = mode;
        self
    }
    /// Sets the number of concepts probed.
    pub fn probes(mut self, probes: usize) -> Self {
        self.probes = probes;
        self
    }
    /// Sets the fusion weights (episodic, semantic).
    pub fn weights(mut self, episodic: f32, semantic: f32) -> Self {
        self.weights = (episodic, semantic);
        self
    }
    /// Sets the support weight of the semantic score.
    pub fn support_weight(mut self, w: f32) -> Self {
        self.support_weight = w;
        self
    }
    /// Turns pattern completion on with this threshold.
    pub fn completion(mut self, threshold: f32) -> Self {
        self.completion = Some(threshold);
        self
    }
    /// Turns pattern completion on with the configured threshold
    /// ([`crate::recall::RecallConfig::completion_threshold`], applied by the engine).
    pub fn with_completion(mut self) -> Self {
        self.completion = Some(f32::NAN);
        self
    }
    /// Sets the time of the recall.
    pub fn at(mut self, now: u64) -> Self {
        self.now = now;
        self
    }

    /// Validates the parameters.
    pub fn check(&self) -> Result<(), InputError> {
        if self.k == 0 {
            return Err(InputError::ZeroK);
        }
        let bad = |name, range, value: f64| {
            Err(InputError::OutOfRange {
                name,
                range,
                value,
                row: None,
            })
        };
        if self.probes == 0 {
            return bad("probes", "[1, ∞)", 0.0);
        }
        let (we, ws) = self.weights;
        if !(we.is_finite() && ws.is_finite() && we >= 0.0 && ws >= 0.0 && we + ws > 0.0) {
            return bad("weights", "≥ 0 each, not both 0", (we + ws) as f64);
        }
        if !(0.0..=1.0).contains(&self.support_weight) {
            return bad("support_weight", "[0, 1]", self.support_weight as f64);
        }
        if let Some(t) = self.completion {
            if !t.is_nan() && !(-1.0..=1.0).contains(&t) {
                return bad("completion", "[-1, 1]", t as f64);
            }
        }
        Ok(())
    }
}

/// Which pathways found a hit.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub struct Pathways {
    /// Found by exact episodic search.
    pub episodic: bool,
    /// Found through a probed concept.
    pub semantic: bool,
    /// A reconstruction by pattern completion (a concept's centroid).
    pub completion: bool,
}

impl Pathways {
    /// The names of the pathways that found a hit, in the order `episodic`, `semantic`,
    /// `completion`.
    pub fn names(&self) -> Vec<&'static str> {
        [
            (self.episodic, "episodic"),
            (self.semantic, "semantic"),
            (self.completion, "completion"),
        ]
        .into_iter()
        .filter_map(|(on, name)| on.then_some(name))
        .collect()
    }
}

/// One recalled memory.
#[derive(Debug, Clone, PartialEq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub struct RecallHit {
    /// A stored episode, or a concept returned as a reconstructed memory.
    pub node: MemoryNode,
    /// The fused score hits are ranked by (descending; ties by node).
    pub score: f32,
    /// Confidence in [0, 1]: the score clamped to [0, 1], times the retention.
    pub confidence: f32,
    /// Cosine between the cue and the episode's embedding or the concept's centroid.
    pub similarity: f32,
    /// The episodic pathway's score (the cosine), when that pathway found it.
    pub episodic: Option<f32>,
    /// The semantic pathway's score, when that pathway found it.
    pub semantic: Option<f32>,
    /// Which pathways found it.
    pub via: Pathways,
    /// Retention at the time of the recall, from the forgetting curve (1 for concepts).
    pub retention: f32,
    /// For a reconstruction, the concept's centroid: the memory as rebuilt.
    pub reconstruction: Option<Vec<f32>>,
}

impl RecallHit {
    /// Whether this hit is a reconstruction (pattern completion) rather than a stored episode.
    pub fn is_reconstruction(&self) -> bool {
        matches!(self.node, MemoryNode::Concept(_))
    }
}
