//! The fan effect (Anderson 1974): the more facts are known about a person or a place, the
//! slower a fact about them is recognised.
//!
//! Protocol. People and places are concepts (seeded random unit vectors as centroids); a fact
//! "person P is in place L" is an episode with embedding `normalise(P + L)`, in its own stream
//! (no temporal links), bound with strength 1 to P and to L. For fan `f` ∈ {1, 2, 3}, groups
//! of `f` people × `f` places learn all `f²` pairings, so every person and place of the group
//! is in exactly `f` facts. Recognition of a studied fact = [`Engram::retrieve`] with the cue
//! `normalise(P + L)`: the cue activates P and L (its two nearest concepts), activation spreads
//! and is divided among each concept's `f` facts, and the latency `I + F·e^(−A)` of the most
//! active fact is the recognition time. The concepts are inserted explicitly (the people and
//! places are known before the experiment), not formed by consolidation.
//!
//! Pass: the retrieved fact is the probed one for every probe, latency rises with fan, and its
//! correlation with 1,159 / 1,236 / 1,305 ms is ≥ 0.8.

use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;

use super::{correlation, r3, random_unit, ExperimentResult, ValidateError};
use crate::config::Config;
use crate::engine::Engram;
use crate::memory::{EpisodeId, EpisodeMeta};

/// Anderson (1974): mean recognition latency (ms) of studied facts by fan 1, 2, 3.
pub const PUBLISHED_MS: [f64; 3] = [1159.0, 1236.0, 1305.0];

/// Mean latencies by fan and the share of probes that retrieved the probed fact.
#[derive(Debug, Clone, PartialEq)]
pub struct FanFigures {
    /// Mean latency in ms for fans 1, 2, 3.
    pub latency_ms: [f64; 3],
    /// Share of probes whose retrieved episode is the probed fact.
    pub accuracy: f64,
}

/// Runs the protocol (4 groups per fan level, dimension 256).
pub fn measure(seed: u64) -> Result<FanFigures, ValidateError> {
    let dim = 256;
    let groups = 4;
    let mut rng = ChaCha8Rng::seed_from_u64(seed ^ 0xFA11);
    let mut mem = Engram::new(Config::new(dim).backend(super::backend()))?;
    // (fan, cue, fact id)
    let mut probes: Vec<(usize, Vec<f32>, EpisodeId)> = Vec::new();
    let mut stream = 0u64;
    for f in 1..=3usize {
        for _ in 0..groups {
            let people: Vec<Vec<f32>> = (0..f).map(|_| random_unit(&mut rng, dim)).collect();
            let places: Vec<Vec<f32>> = (0..f).map(|_| random_unit(&mut rng, dim)).collect();
            let mut facts_of_person = vec![Vec::new(); f];
            let mut facts_of_place = vec![Vec::new(); f];
            for (i, p) in people.iter().enumerate() {
                for (j, l) in places.iter().enumerate() {
                    let cue: Vec<f32> = p.iter().zip(l).map(|(a, b)| a + b).collect();
                    stream += 1;
                    let id = mem.remember(&cue, EpisodeMeta::at(stream).with_stream(stream))?;
                    facts_of_person[i].push((id, 1.0));
                    facts_of_place[j].push((id, 1.0));
                    probes.push((f, cue, id));
                }
            }
            for (v, m) in people.iter().zip(&facts_of_person) {
                mem.insert_concept_with_members(v, m)?;
            }
            for (v, m) in places.iter().zip(&facts_of_place) {
                mem.insert_concept_with_members(v, m)?;
            }
        }
    }
    let mut sum = [0.0f64; 3];
    let mut n = [0usize; 3];
    let mut correct = 0usize;
    let flat: Vec<f32> = probes.iter().flat_map(|p| p.1.iter().copied()).collect();
    let found = mem.retrieve_batch(&flat)?;
    for ((f, _, id), r) in probes.iter().zip(found) {
        let r = r.ok_or(crate::error::InputError::Empty("a probe activated no fact"))?;
        if r.episode == *id {
            correct += 1;
        }
        sum[f - 1] += r.latency_ms;
        n[f - 1] += 1;
    }
    let latency_ms = [0, 1, 2].map(|i| sum[i] / n[i].max(1) as f64);
    Ok(FanFigures {
        latency_ms,
        accuracy: correct as f64 / probes.len().max(1) as f64,
    })
}

/// Runs the experiment and scores it.
pub fn run(seed: u64) -> Result<ExperimentResult, ValidateError> {
    let m = measure(seed)?;
    let r = correlation(&m.latency_ms, &PUBLISHED_MS);
    let rising = m.latency_ms[0] < m.latency_ms[1] && m.latency_ms[1] < m.latency_ms[2];
    let slope = (m.latency_ms[2] - m.latency_ms[0]) / 2.0;
    Ok(ExperimentResult {
        name: "fan",
        ours: serde_json::json!({
            "fan1_ms": r3(m.latency_ms[0]), "fan2_ms": r3(m.latency_ms[1]),
            "fan3_ms": r3(m.latency_ms[2]), "ms_per_fact": r3(slope),
            "correlation": r3(r), "accuracy": r3(m.accuracy),
        }),
        published: serde_json::json!({
            "fan1_ms": PUBLISHED_MS[0], "fan2_ms": PUBLISHED_MS[1], "fan3_ms": PUBLISHED_MS[2],
            "ms_per_fact": 73.0,
        }),
        pass: rising && r >= 0.8 && m.accuracy == 1.0,
        criterion: "latency rises with fan, correlation ≥ 0.8, every probe retrieves its fact"
            .into(),
    })
}
