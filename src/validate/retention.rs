//! Forgetting (Ebbinghaus 1885) and spacing (Cepeda et al. 2006), through recall.
//!
//! **Forgetting.** 50 episodes are stored at t = 0 (the clock counts seconds) and recalled
//! read-only ([`Engram::recall_view`], each by its own embedding) after each of Ebbinghaus's
//! delays, from 20 minutes to 31 days. Our figure is the mean retention of the recalled hits;
//! it must equal the configured curve (within 1e-4), fall monotonically, and correlate ≥ 0.95
//! with Ebbinghaus's savings, within 0.08 at every delay.
//!
//! **Spacing.** Two sets of 50 episodes each get 4 rehearsals through [`Engram::recall`]
//! (which strengthens what it recalls): massed (1 s apart, right after study) or spaced (one
//! day apart). Retention is then read a week after each set's last rehearsal. Pass: spaced
//! retention and strength exceed massed ones.

use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;

use super::{correlation, r3, random_unit, ExperimentResult, ValidateError};
use crate::config::Config;
use crate::engine::Engram;
use crate::memory::{EpisodeId, EpisodeMeta};
use crate::recall::{RecallMode, RecallParams};

/// Ebbinghaus's delays in seconds: 20 min, 1 h, 9 h, 1 d, 2 d, 6 d, 31 d.
pub const EBBINGHAUS_DELAYS_S: [u64; 7] = [1200, 3600, 32_400, 86_400, 172_800, 518_400, 2_678_400];
/// Ebbinghaus's savings at those delays.
pub const EBBINGHAUS_SAVINGS: [f64; 7] = [0.582, 0.442, 0.358, 0.337, 0.278, 0.254, 0.211];

const DAY: u64 = 86_400;

fn store(
    mem: &mut Engram,
    n: usize,
    rng: &mut ChaCha8Rng,
) -> Result<Vec<(EpisodeId, Vec<f32>)>, ValidateError> {
    let dim = mem.dim();
    let mut out = Vec::with_capacity(n);
    for _ in 0..n {
        let v = random_unit(rng, dim);
        let id = mem.remember(&v, EpisodeMeta::at(0))?;
        out.push((id, v));
    }
    Ok(out)
}

fn mean_retention(
    mem: &Engram,
    items: &[(EpisodeId, Vec<f32>)],
    now: u64,
) -> Result<f64, ValidateError> {
    let p = RecallParams::new(1).mode(RecallMode::Episodic).at(now);
    let mut sum = 0.0;
    for (id, v) in items {
        let hits = mem.recall_view(v, &p)?;
        let h = hits
            .first()
            .filter(|h| h.node == crate::memory::MemoryNode::Episode(*id))
            .ok_or(crate::error::InputError::Empty(
                "an episode was not recalled by itself",
            ))?;
        sum += h.retention as f64;
    }
    Ok(sum / items.len().max(1) as f64)
}

/// Mean retention at each of Ebbinghaus's delays.
pub fn forgetting_curve(seed: u64) -> Result<(Vec<f64>, Vec<f64>), ValidateError> {
    let mut rng = ChaCha8Rng::seed_from_u64(seed ^ 0xEB);
    let mut mem = Engram::new(Config::new(64).backend(super::backend()))?;
    let items = store(&mut mem, 50, &mut rng)?;
    let cfg = mem.config().recall_config().clone();
    let mut ours = Vec::new();
    let mut curve = Vec::new();
    for &d in &EBBINGHAUS_DELAYS_S {
        ours.push(mean_retention(&mem, &items, d)?);
        curve.push(cfg.retention(d, 1.0) as f64);
    }
    Ok((ours, curve))
}

/// Runs the forgetting experiment.
pub fn forgetting(seed: u64) -> Result<ExperimentResult, ValidateError> {
    let (ours, curve) = forgetting_curve(seed)?;
    let on_curve = ours.iter().zip(&curve).all(|(a, b)| (a - b).abs() < 1e-4);
    let falling = ours.windows(2).all(|w| w[1] < w[0]);
    let r = correlation(&ours, &EBBINGHAUS_SAVINGS);
    let max_err = ours
        .iter()
        .zip(&EBBINGHAUS_SAVINGS)
        .map(|(a, b)| (a - b).abs())
        .fold(0.0, f64::max);
    Ok(ExperimentResult {
        name: "forgetting",
        ours: serde_json::json!({
            "delays_s": EBBINGHAUS_DELAYS_S,
            "retention": ours.iter().map(|&x| r3(x)).collect::<Vec<_>>(),
            "correlation": r3(r), "max_abs_error": r3(max_err),
        }),
        published: serde_json::json!({ "savings": EBBINGHAUS_SAVINGS }),
        pass: on_curve && falling && r >= 0.95 && max_err <= 0.08,
        criterion: "on the configured curve, monotone, correlation ≥ 0.95, within 0.08".into(),
    })
}

/// (mean retention, mean strength).
pub type RetentionStrength = (f64, f64);

/// Mean retention and strength a week after the last of 4 rehearsals: (massed, spaced).
pub fn spacing_figures(seed: u64) -> Result<(RetentionStrength, RetentionStrength), ValidateError> {
    let mut rng = ChaCha8Rng::seed_from_u64(seed ^ 0x5BAC);
    let mut mem = Engram::new(Config::new(64).backend(super::backend()))?;
    let massed = store(&mut mem, 50, &mut rng)?;
    let spaced = store(&mut mem, 50, &mut rng)?;
    let replays = 4u64;
    for i in 1..=replays {
        for (set, t) in [(&massed, i), (&spaced, i * DAY)] {
            let p = RecallParams::new(1).mode(RecallMode::Episodic).at(t);
            for (_, v) in set.iter() {
                mem.recall(v, &p)?;
            }
        }
    }
    let week = 7 * DAY;
    let strength = |items: &[(EpisodeId, Vec<f32>)]| -> Result<f64, ValidateError> {
        let mut s = 0.0;
        for (id, _) in items {
            s += mem.get(*id)?.strength as f64;
        }
        Ok(s / items.len().max(1) as f64)
    };
    Ok((
        (
            mean_retention(&mem, &massed, replays + week)?,
            strength(&massed)?,
        ),
        (
            mean_retention(&mem, &spaced, replays * DAY + week)?,
            strength(&spaced)?,
        ),
    ))
}

/// Runs the spacing experiment.
pub fn spacing(seed: u64) -> Result<ExperimentResult, ValidateError> {
    let ((rm, sm), (rs, ss)) = spacing_figures(seed)?;
    Ok(ExperimentResult {
        name: "spacing",
        ours: serde_json::json!({
            "retention_massed": r3(rm), "retention_spaced": r3(rs),
            "strength_massed": r3(sm), "strength_spaced": r3(ss),
        }),
        published: serde_json::json!({ "recall_massed": 0.367, "recall_spaced": 0.473 }),
        pass: rs > rm && ss > sm,
        criterion: "spaced retention and strength > massed".into(),
    })
}
