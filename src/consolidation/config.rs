//! [`ConsolidationConfig`]: every threshold of concept formation and consolidation, with its
//! documented default.

use crate::error::ConfigError;

/// How many clusters a cycle looks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub enum ClusterCount {
    /// Exactly `k` clusters in the first cycle (capped at the rows available); later cycles start
    /// from the existing concepts and add seeds (the rows worst explained by them, farthest
    /// first) until there are `k`. Use when the number of concepts is known.
    Fixed(usize),
    /// Discover the number (see [`crate::cluster::DiscoverParams`]: over-cluster, merge
    /// near-parallel centroids, drop tiny clusters, refine). The first cycle discovers over all
    /// its rows; later cycles start from the existing concepts and run discovery only over the
    /// *novel* rows (best cosine to every concept below
    /// [`ConsolidationConfig::novelty_threshold`]), so a new cluster becomes one new concept
    /// while the known ones keep theirs. The default.
    Discover {
        /// The over-clustering's `k'`; `None` = ⌈2√n⌉ of the rows clustered. Set it above
        /// the number of clusters expected (e.g. 2× that) when that exceeds ⌈2√n⌉.
        max_k: Option<usize>,
    },
}

impl Default for ClusterCount {
    /// `Discover { max_k: None }`.
    fn default() -> Self {
        ClusterCount::Discover { max_k: None }
    }
}

/// The forgetting curve: the fraction `f(Δ)` of its strength a memory keeps `Δ` clock units
/// after its last access (`f(0) = 1`, decreasing).
///
/// Decay is applied at every cycle as `f(now − last) / f(prev − last)` (where `prev` is the
/// later of the last access and the previous cycle), which telescopes: after any number of
/// cycles, a memory not accessed since `last` holds exactly `s · f(now − last)`.
#[derive(Debug, Clone, Copy, PartialEq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub enum ForgettingCurve {
    /// `f(Δ) = 2^(−Δ / half_life)` (Ebbinghaus-style exponential).
    Exponential {
        /// Clock units for the strength to halve (> 0).
        half_life: f64,
    },
    /// `f(Δ) = (1 + Δ / scale)^(−exponent)` (Wixted's power law: fast early loss, long tail).
    Power {
        /// The time scale in clock units (> 0).
        scale: f64,
        /// The exponent (> 0).
        exponent: f64,
    },
    /// No decay.
    None,
}

impl Default for ForgettingCurve {
    /// Exponential with a half-life of 604,800 clock units (one week if the clock counts
    /// seconds).
    fn default() -> Self {
        ForgettingCurve::Exponential {
            half_life: 604_800.0,
        }
    }
}

impl ForgettingCurve {
    /// `f(Δ)`: the fraction kept after `elapsed` clock units.
    pub fn retention(&self, elapsed: u64) -> f64 {
        let d = elapsed as f64;
        match *self {
            ForgettingCurve::Exponential { half_life } => (-d / half_life).exp2(),
            ForgettingCurve::Power { scale, exponent } => (1.0 + d / scale).powf(-exponent),
            ForgettingCurve::None => 1.0,
        }
    }

    /// The factor that takes a strength decayed up to `prev` to its value at `now`, for a
    /// memory last accessed at `last`: `f(now − last) / f(prev − last)` (1 when `now ≤ prev`).
    pub fn step(&self, last: u64, prev: u64, now: u64) -> f32 {
        let prev = prev.max(last);
        if now <= prev {
            return 1.0;
        }
        let a = self.retention(prev - last);
        if a <= 0.0 {
            return 0.0;
        }
        (self.retention(now - last) / a) as f32
    }
}

/// Every threshold of consolidation, with defaults (see each setter). Build with
/// [`ConsolidationConfig::default`], chain setters, validate with
/// [`ConsolidationConfig::check`] (the engine checks it with its [`crate::Config`]).
#[derive(Debug, Clone, PartialEq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub struct ConsolidationConfig {
    pub(crate) seed: u64,
    pub(crate) clusters: ClusterCount,
    pub(crate) max_iter: usize,
    pub(crate) warm_iter: usize,
    pub(crate) replay_fraction: f32,
    pub(crate) replay_min: usize,
    pub(crate) min_coherence: f32,
    pub(crate) min_cluster_size: usize,
    pub(crate) match_threshold: f32,
    pub(crate) novelty_threshold: f32,
    pub(crate) soft_margin: f32,
    pub(crate) soft_candidates: usize,
    pub(crate) binding_gain: f32,
    pub(crate) prune_below: f32,
    pub(crate) replay_gain: f32,
    pub(crate) proto_strength: f32,
    pub(crate) confirm_gain: f32,
    pub(crate) promote_after: u32,
    pub(crate) concept_min_strength: f32,
    pub(crate) link_threshold: f32,
    pub(crate) forgetting: ForgettingCurve,
}

impl Default for ConsolidationConfig {
    fn default() -> Self {
        Self {
            seed: 0,
            clusters: ClusterCount::default(),
            max_iter: 50,
            warm_iter: 1,
            replay_fraction: 0.1,
            replay_min: 64,
            min_coherence: 0.3,
            min_cluster_size: 5,
            match_threshold: 0.8,
            novelty_threshold: 0.5,
            soft_margin: 0.05,
            soft_candidates: 8,
            binding_gain: 0.2,
            prune_below: 0.05,
            replay_gain: 0.2,
            proto_strength: 0.5,
            confirm_gain: 0.25,
            promote_after: 3,
            concept_min_strength: 0.1,
            link_threshold: 0.5,
            forgetting: ForgettingCurve::default(),
        }
    }
}

macro_rules! setter {
    ($(#[$doc:meta])* $name:ident: $t:ty) => {
        $(#[$doc])*
        pub fn $name(mut self, $name: $t) -> Self {
            self.$name = $name;
            self
        }
    };
}

macro_rules! getter {
    ($(#[$doc:meta])* $get:ident => $name:ident: $t:ty) => {
        $(#[$doc])*
        pub fn $get(&self) -> $t {
            self.$name
        }
    };
}

impl ConsolidationConfig {
    setter!(
        /// The seed of every random choice of a cycle (replay sample, initialisation); cycle
        /// `c` uses a seed derived from this and `c`. Default 0.
        seed: u64
    );
    setter!(
        /// Given or discovered number of clusters. Default [`ClusterCount::Discover`].
        clusters: ClusterCount
    );
    setter!(
        /// Lloyd iterations of a cold clustering (no concept yet, or discovery). Default 50.
        max_iter: usize
    );
    setter!(
        /// Lloyd iterations of a warm cycle, which starts from the existing concepts' centroids
        /// (a step of online k-means: concepts converge across cycles). Default 1, which makes
        /// a warm cycle cost about two assignment passes.
        warm_iter: usize
    );
    setter!(
        /// Older episodes replayed per cycle, as a fraction of the new ones. Default 0.1.
        replay_fraction: f32
    );
    setter!(
        /// At least this many older episodes are replayed (when that many exist). Default 64.
        replay_min: usize
    );
    setter!(
        /// A cluster becomes or confirms a concept only if the mean cosine of its members to its
        /// centroid is at least this. Default 0.3.
        min_coherence: f32
    );
    setter!(
        /// …and if it has at least this many members. Default 5.
        min_cluster_size: usize
    );
    setter!(
        /// A cluster is the same concept as an existing one if their centroids have at least this
        /// cosine (matched one-to-one, greedily by similarity). Default 0.8.
        match_threshold: f32
    );
    setter!(
        /// In a warm cycle with [`ClusterCount::Discover`], rows whose best cosine to every
        /// concept is below this are novel and clustered afresh. Default 0.5.
        novelty_threshold: f32
    );
    setter!(
        /// Soft membership: an episode is also bound to its second-best concept when that
        /// cosine is within this margin of the best. Default 0.05.
        soft_margin: f32
    );
    setter!(
        /// The second-best concept is searched among this many nearest concepts of the best one
        /// (0 turns soft membership off). Default 8.
        soft_candidates: usize
    );
    setter!(
        /// An existing binding seen again gains `gain · (1 − s)`. Default 0.2.
        binding_gain: f32
    );
    setter!(
        /// Bindings weaker than this are pruned at the end of a cycle. Default 0.05.
        prune_below: f32
    );
    setter!(
        /// A replayed episode's strength gains `gain · (1 − s)`. Default 0.2.
        replay_gain: f32
    );
    setter!(
        /// The strength of a new proto-concept. Default 0.5.
        proto_strength: f32
    );
    setter!(
        /// A confirmed concept's strength gains `gain · (1 − s)`. Default 0.25.
        confirm_gain: f32
    );
    setter!(
        /// A proto-concept is promoted once found by this many cycles (its first included).
        /// Default 3.
        promote_after: u32
    );
    setter!(
        /// A proto-concept whose strength falls below this is removed. Default 0.1. (Promoted
        /// concepts decay too but are never removed by consolidation.)
        concept_min_strength: f32
    );
    setter!(
        /// Concepts whose centroids have at least this cosine are linked (weight = cosine).
        /// Default 0.5.
        link_threshold: f32
    );
    setter!(
        /// The forgetting curve of episodes, bindings and concepts not replayed. Default
        /// exponential with a half-life of 604,800 clock units.
        forgetting: ForgettingCurve
    );

    getter!(/// The seed.
        seed_value => seed: u64);
    getter!(/// The cluster count.
        cluster_count => clusters: ClusterCount);
    getter!(/// Cold Lloyd iterations.
        max_iterations => max_iter: usize);
    getter!(/// Warm Lloyd iterations.
        warm_iterations => warm_iter: usize);
    getter!(/// The forgetting curve.
        forgetting_curve => forgetting: ForgettingCurve);
    getter!(/// The proto-concept removal threshold.
        concept_min => concept_min_strength: f32);
    getter!(/// The binding prune threshold.
        prune_threshold => prune_below: f32);
    getter!(/// Confirmations needed for promotion.
        promotion_after => promote_after: u32);

    /// Validates every invariant.
    ///
    /// # Errors
    /// [`ConfigError::OutOfRange`] naming the first field out of range.
    pub fn check(self) -> Result<Self, ConfigError> {
        let bad = |name, range, value: f64| Err(ConfigError::OutOfRange { name, range, value });
        match self.clusters {
            ClusterCount::Fixed(0) => return bad("consolidation clusters", "[1, ∞)", 0.0),
            ClusterCount::Discover { max_k: Some(0) } => {
                return bad("consolidation max_k", "[1, ∞)", 0.0)
            }
            _ => {}
        }
        if self.max_iter == 0 {
            return bad("consolidation max_iter", "[1, ∞)", 0.0);
        }
        if self.warm_iter == 0 {
            return bad("consolidation warm_iter", "[1, ∞)", 0.0);
        }
        if self.promote_after == 0 {
            return bad("consolidation promote_after", "[1, ∞)", 0.0);
        }
        let unit = [
            ("consolidation replay_fraction", self.replay_fraction),
            ("consolidation soft_margin", self.soft_margin),
            ("consolidation binding_gain", self.binding_gain),
            ("consolidation prune_below", self.prune_below),
            ("consolidation replay_gain", self.replay_gain),
            ("consolidation confirm_gain", self.confirm_gain),
            (
                "consolidation concept_min_strength",
                self.concept_min_strength,
            ),
        ];
        for (name, v) in unit {
            if !(v.is_finite() && (0.0..=1.0).contains(&v)) {
                return bad(name, "[0, 1]", v as f64);
            }
        }
        if !(self.proto_strength.is_finite()
            && self.proto_strength > 0.0
            && self.proto_strength <= 1.0)
        {
            return bad(
                "consolidation proto_strength",
                "(0, 1]",
                self.proto_strength as f64,
            );
        }
        let cosines = [
            ("consolidation min_coherence", self.min_coherence),
            ("consolidation match_threshold", self.match_threshold),
            ("consolidation novelty_threshold", self.novelty_threshold),
            ("consolidation link_threshold", self.link_threshold),
        ];
        for (name, v) in cosines {
            if !(v.is_finite() && (-1.0..=1.0).contains(&v)) {
                return bad(name, "[-1, 1]", v as f64);
            }
        }
        match self.forgetting {
            ForgettingCurve::Exponential { half_life }
                if !(half_life.is_finite() && half_life > 0.0) =>
            {
                return bad("forgetting half_life", "(0, ∞)", half_life)
            }
            ForgettingCurve::Power { scale, .. } if !(scale.is_finite() && scale > 0.0) => {
                return bad("forgetting scale", "(0, ∞)", scale)
            }
            ForgettingCurve::Power { exponent, .. }
                if !(exponent.is_finite() && exponent > 0.0) =>
            {
                return bad("forgetting exponent", "(0, ∞)", exponent)
            }
            _ => {}
        }
        Ok(self)
    }
}
