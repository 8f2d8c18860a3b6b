//! [`RecallConfig`]: every constant of recall, spreading activation, latency, recognition and
//! the strength model, with documented defaults.

use crate::error::ConfigError;

/// Constants of recall, spreading activation, the latency model, recognition and memory
/// strength. Part of [`crate::Config`] (see [`crate::Config::recall`]).
///
/// Time values are in the caller's clock units; the defaults of the forgetting curve assume the
/// clock counts **seconds**.
#[derive(Debug, Clone, PartialEq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub struct RecallConfig {
    /// ACT-R latency intercept `I` in ms (encoding + response), in `T = I + F·e^(−A)`.
    /// Default 1,064 ms.
    pub latency_intercept_ms: f64,
    /// ACT-R latency factor `F` in ms. Default 385 ms.
    ///
    /// `I` and `F` were chosen once, for the default spreading constants, so that the scale of
    /// the fan experiment is right (a one-fact probe at about 1.16 s, about 146 ms more for
    /// three facts); the rise with fan comes from the division of activation among links.
    pub latency_factor_ms: f64,
    /// Total source activation `W` shared among the sources of a cue (ACT-R's `W`), in
    /// proportion to their similarity to the cue. Default 2.0.
    pub source_activation: f32,
    /// Fraction of activation passed on per hop (`0 < decay ≤ 1`). Default 0.7.
    pub spread_decay: f32,
    /// Activation below which a node does not spread further. Default 0.01.
    pub spread_threshold: f32,
    /// Largest number of hops from a source. Default 2.
    pub max_hops: usize,
    /// Least cosine between a cue and a concept centroid for the concept to be a source of
    /// activation. Default 0.3.
    pub source_min_similarity: f32,
    /// Most concepts a cue activates as sources. Default 4.
    pub max_sources: usize,
    /// Weight of the episodic match in familiarity (the semantic weight is `1 −` this).
    /// Default 0.5.
    pub familiarity_episodic_weight: f32,
    /// Familiarity at or above which a cue is judged "old". Default 0.6.
    pub familiarity_threshold: f32,
    /// Width of the logistic that turns familiarity into a confidence. Default 0.05.
    pub familiarity_slope: f32,
    /// Pattern completion happens when the best stored episode's cosine to the cue is below
    /// this (used by [`crate::RecallParams::with_completion`]). Default 0.9.
    pub completion_threshold: f32,
    /// Exponent `p` of the pattern-completion echo `Σ b·cos(cue, e)^p · e` over the members of
    /// the probed concepts. Default 0: the binding-weighted centroid of the members (the
    /// concept's prototype). MINERVA 2 uses 3, which favours the members most like the cue
    /// (in the DRM experiment it completes to the strongest studied associates rather than
    /// to the theme).
    pub completion_exponent: f32,
    /// Time scale `τ` of the forgetting curve `R(Δt) = (1 + Δt/(τ·s))^(−c)`, where `s` is the
    /// episode's strength. Default 20 (seconds).
    pub forgetting_scale: f64,
    /// Exponent `c` of the forgetting curve. Default 0.13 (with `τ` = 20 s this follows
    /// Ebbinghaus's savings from 20 minutes to 31 days within a few points).
    pub forgetting_exponent: f64,
    /// Strength gained by a rehearsal in proportion to what had been forgotten: a rehearsal
    /// adds `base + gain·(1 − R)` to the strength, `R` the retention just before it (the
    /// spacing effect: massed rehearsals find `R ≈ 1` and add little). Default 1.0.
    pub rehearsal_gain: f32,
    /// Strength every rehearsal adds regardless of retention. Default 0.05.
    pub rehearsal_base: f32,
}

impl Default for RecallConfig {
    fn default() -> Self {
        Self {
            latency_intercept_ms: 1064.0,
            latency_factor_ms: 385.0,
            source_activation: 2.0,
            spread_decay: 0.7,
            spread_threshold: 0.01,
            max_hops: 2,
            source_min_similarity: 0.3,
            max_sources: 4,
            familiarity_episodic_weight: 0.5,
            familiarity_threshold: 0.6,
            familiarity_slope: 0.05,
            completion_threshold: 0.9,
            completion_exponent: 0.0,
            forgetting_scale: 20.0,
            forgetting_exponent: 0.13,
            rehearsal_gain: 1.0,
            rehearsal_base: 0.05,
        }
    }
}

impl RecallConfig {
    /// Validates every field.
    pub fn check(&self) -> Result<(), ConfigError> {
        let range = |name, range, ok: bool, value: f64| {
            if ok {
                Ok(())
            } else {
                Err(ConfigError::OutOfRange { name, range, value })
            }
        };
        let pos = |x: f64| x.is_finite() && x > 0.0;
        let nonneg = |x: f64| x.is_finite() && x >= 0.0;
        let unit = |x: f64| x.is_finite() && (0.0..=1.0).contains(&x);
        let c = self;
        range(
            "recall.latency_intercept_ms",
            "[0, ∞)",
            nonneg(c.latency_intercept_ms),
            c.latency_intercept_ms,
        )?;
        range(
            "recall.latency_factor_ms",
            "(0, ∞)",
            pos(c.latency_factor_ms),
            c.latency_factor_ms,
        )?;
        range(
            "recall.source_activation",
            "(0, ∞)",
            pos(c.source_activation as f64),
            c.source_activation as f64,
        )?;
        range(
            "recall.spread_decay",
            "(0, 1]",
            pos(c.spread_decay as f64) && c.spread_decay <= 1.0,
            c.spread_decay as f64,
        )?;
        range(
            "recall.spread_threshold",
            "[0, ∞)",
            nonneg(c.spread_threshold as f64),
            c.spread_threshold as f64,
        )?;
        range(
            "recall.max_hops",
            "[1, 16]",
            (1..=16).contains(&c.max_hops),
            c.max_hops as f64,
        )?;
        range(
            "recall.source_min_similarity",
            "[-1, 1]",
            (-1.0..=1.0).contains(&c.source_min_similarity),
            c.source_min_similarity as f64,
        )?;
        range(
            "recall.max_sources",
            "[1, ∞)",
            c.max_sources >= 1,
            c.max_sources as f64,
        )?;
        range(
            "recall.familiarity_episodic_weight",
            "[0, 1]",
            unit(c.familiarity_episodic_weight as f64),
            c.familiarity_episodic_weight as f64,
        )?;
        range(
            "recall.familiarity_threshold",
            "[-1, 1]",
            (-1.0..=1.0).contains(&c.familiarity_threshold),
            c.familiarity_threshold as f64,
        )?;
        range(
            "recall.familiarity_slope",
            "(0, ∞)",
            pos(c.familiarity_slope as f64),
            c.familiarity_slope as f64,
        )?;
        range(
            "recall.completion_threshold",
            "[-1, 1]",
            (-1.0..=1.0).contains(&c.completion_threshold),
            c.completion_threshold as f64,
        )?;
        range(
            "recall.completion_exponent",
            "[0, 16]",
            (0.0..=16.0).contains(&c.completion_exponent),
            c.completion_exponent as f64,
        )?;
        range(
            "recall.forgetting_scale",
            "(0, ∞)",
            pos(c.forgetting_scale),
            c.forgetting_scale,
        )?;
        range(
            "recall.forgetting_exponent",
            "(0, ∞)",
            pos(c.forgetting_exponent),
            c.forgetting_exponent,
        )?;
        range(
            "recall.rehearsal_gain",
            "[0, ∞)",
            nonneg(c.rehearsal_gain as f64),
            c.rehearsal_gain as f64,
        )?;
        range(
            "recall.rehearsal_base",
            "[0, ∞)",
            nonneg(c.rehearsal_base as f64),
            c.rehearsal_base as f64,
        )?;
        Ok(())
    }

    /// The ACT-R retrieval latency in ms for activation `a`: `I + F·e^(−a)`.
    pub fn latency_ms(&self, activation: f32) -> f64 {
        self.latency_intercept_ms + self.latency_factor_ms * (-(activation as f64)).exp()
    }

    /// Retention after `dt` time units for an episode of strength `strength`:
    /// `(1 + dt/(τ·s))^(−c)`, in (0, 1]; 1 at `dt = 0`.
    pub fn retention(&self, dt: u64, strength: f32) -> f32 {
        let s = (strength as f64).max(1e-6);
        (1.0 + dt as f64 / (self.forgetting_scale * s)).powf(-self.forgetting_exponent) as f32
    }
}

impl crate::engine::Engram {
    /// Replaces the recall constants (checked first; nothing changes on error). They are not
    /// saved in stores: a reopened store starts from [`RecallConfig::default`].
    ///
    /// # Errors
    /// [`ConfigError::OutOfRange`] naming the first field out of range.
    pub fn set_recall_config(&mut self, config: RecallConfig) -> crate::error::Result<()> {
        config.check()?;
        self.config = self.config.clone().recall(config);
        Ok(())
    }
}
