//! Digests of imported data, recomputable from the store.

use crate::engine::Engram;
use crate::memory::{ConceptId, EpisodeId, Payload};

/// The zero link a hash chain starts from.
pub const CHAIN_START: [u8; 32] = [0; 32];

/// Extends a hash chain with one stored episode: BLAKE3(previous ‖ id ‖ embedding bits ‖
/// timestamp ‖ confidence bits ‖ stream ‖ payload). `None` if the episode is missing.
pub fn chain_episode(prev: [u8; 32], e: &Engram, id: EpisodeId) -> Option<[u8; 32]> {
    let ep = e.get(id).ok()?;
    let v = e.embedding(id).ok()?;
    let mut h = blake3::Hasher::new();
    h.update(&prev);
    h.update(&id.0.to_le_bytes());
    for x in &v {
        h.update(&x.to_bits().to_le_bytes());
    }
    h.update(&ep.timestamp.to_le_bytes());
    h.update(&ep.confidence.to_bits().to_le_bytes());
    h.update(&ep.stream.to_le_bytes());
    match &ep.payload {
        None => h.update(&[0]),
        Some(Payload::Text(t)) => h.update(&[2]).update(t.as_bytes()),
        Some(Payload::Bytes(b)) => h.update(&[1]).update(b),
    };
    Some(*h.finalize().as_bytes())
}

/// Extends a hash chain with one stored concept: BLAKE3(previous ‖ id ‖ centroid bits ‖
/// member count).
pub fn chain_concept(prev: [u8; 32], e: &Engram, id: ConceptId) -> Option<[u8; 32]> {
    let c = e.concept(id).ok()?;
    let v = e.centroid(id).ok()?;
    let mut h = blake3::Hasher::new();
    h.update(&prev);
    h.update(&id.0.to_le_bytes());
    for x in &v {
        h.update(&x.to_bits().to_le_bytes());
    }
    h.update(&c.members.to_le_bytes());
    Some(*h.finalize().as_bytes())
}

/// Hex of a digest.
pub fn hex(d: &[u8; 32]) -> String {
    blake3::Hash::from_bytes(*d).to_hex().to_string()
}

/// A digest from hex.
pub fn unhex(s: &str) -> Option<[u8; 32]> {
    blake3::Hash::from_hex(s).ok().map(|h| *h.as_bytes())
}

/// What verification found.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Verification {
    /// Whether every check passed.
    pub ok: bool,
    /// Live episodes in the store.
    pub store_episodes: u64,
    /// Live episodes expected (before + imported).
    pub expected_episodes: u64,
    /// Live concepts in the store.
    pub store_concepts: u64,
    /// Live concepts expected.
    pub expected_concepts: u64,
    /// The episode digest recomputed from the store.
    pub episode_digest: String,
    /// The concept digest recomputed from the store.
    pub concept_digest: String,
    /// Whether both digests equal those computed while importing.
    pub digest_ok: bool,
    /// Records re-read from the source and compared with the store.
    pub spot_checked: u64,
    /// Spot checks that failed (line numbers).
    pub spot_failures: Vec<u64>,
}
