//! The log-record codec: encoding the write-ahead log's records and replaying them into an
//! engine (the log's framing is in [`super::wal`]), with the report of what opening a store
//! found.

use super::format::{Dec, Enc};
use crate::engine::Engram;
use crate::error::Result;
use crate::memory::{Concept, ConceptId, ConceptState, EpisodeId, EpisodeMeta};
use crate::vectors::validate_one;

const REC_BATCH: u8 = 1;
const REC_FORGET: u8 = 2;
const REC_CONCEPT: u8 = 3;
const REC_IMPORT: u8 = 4;

/// What opening a store found and did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub struct RecoveryReport {
    /// The generation of the snapshot loaded.
    pub snapshot_generation: u64,
    /// The snapshot's size in bytes.
    pub snapshot_bytes: u64,
    /// Log records replayed on top of it.
    pub records_replayed: u64,
    /// The log's size after recovery.
    pub wal_bytes: u64,
    /// Where a torn last record began (it was dropped), if there was one.
    pub torn_tail_offset: Option<u64>,
    /// Bytes dropped with the torn tail.
    pub torn_tail_bytes: u64,
    /// Whether the log was from the generation before the snapshot (a checkpoint was
    /// interrupted after its snapshot was in place) and was discarded as already folded in.
    pub stale_wal_discarded: bool,
    /// Temporary files of interrupted writes that were removed.
    pub temp_files_removed: u32,
}

impl RecoveryReport {
    /// Whether anything was dropped or repaired (a torn tail, a stale log, leftover files).
    pub fn repaired(&self) -> bool {
        self.torn_tail_offset.is_some() || self.stale_wal_discarded || self.temp_files_removed > 0
    }
}

/// A new concept's record, without the fields the engine assigns (its id).
#[derive(Debug, Clone, PartialEq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub struct NewConcept {
    /// Mean cosine of its members to the centroid.
    pub coherence: f32,
    /// How many episodes it summarises.
    pub members: u64,
    /// Concept strength.
    pub strength: f32,
    /// Proto or promoted.
    pub state: ConceptState,
    /// Confirmations so far.
    pub confirmations: u32,
}

impl Default for NewConcept {
    fn default() -> Self {
        Self {
            coherence: 1.0,
            members: 0,
            strength: 1.0,
            state: ConceptState::Promoted,
            confirmations: 1,
        }
    }
}

/// Adds a concept with its centroid (normalised here) to an in-memory engine, stamped with
/// the current cycle. Returns its id.
pub fn add_concept(engine: &mut Engram, centroid: &[f32], c: NewConcept) -> Result<ConceptId> {
    let inv = validate_one(centroid, engine.dim())?;
    let unit: Vec<f32> = centroid.iter().map(|x| x * inv).collect();
    let id = engine.take_concept_id()?;
    let concept = Concept {
        id,
        coherence: c.coherence,
        members: c.members,
        strength: c.strength,
        state: c.state,
        confirmations: c.confirmations,
        formed_cycle: engine.cycle,
        updated_cycle: engine.cycle,
    };
    insert_concept(engine, concept, &unit);
    Ok(id)
}

/// Inserts a concept whose centroid is already unit length (stored bit-exact). The caller
/// checked that its id is below `u64::MAX` (see [`decode_concept`]).
pub(crate) fn insert_concept(engine: &mut Engram, concept: Concept, unit: &[f32]) {
    let row = engine.centroids.push_scaled(unit, &[1.0]);
    engine.next_concept = engine.next_concept.max(concept.id.0.saturating_add(1));
    engine.graph.add_concept(concept, row);
}

/// The smallest encoded episode metadata: timestamp u64, confidence f32, stream u64 and an
/// empty payload tag.
const MIN_META_BYTES: usize = 21;

/// Reads the row count of a batch (`n` u32, then `n` metadata entries and `n × dim` floats)
/// and checks that many rows can fit in what is left of the record before anything is
/// allocated for them.
fn batch_rows(d: &mut Dec<'_>, dim: usize, what: &str) -> Result<usize, String> {
    let n = d.u32()?;
    let each = dim
        .checked_mul(4)
        .and_then(|b| b.checked_add(MIN_META_BYTES))
        .ok_or_else(|| format!("dimension {dim} overflows"))?;
    d.count(u64::from(n), each, what)
}

/// Decodes the fields of a concept record after its kind byte and checks them against the
/// engine they are replayed into: a fresh id (not below the next concept id, not
/// `u64::MAX`, which would leave no next id), a known state, and cycles not past the
/// engine's (what the snapshot reader also requires, so a replayed store can be written
/// and read again).
fn decode_concept(d: &mut Dec<'_>, engine: &Engram) -> Result<(Concept, Vec<f32>), String> {
    let (c, unit) = d.concept(engine.dim())?;
    let (id, formed_cycle, updated_cycle) = (c.id, c.formed_cycle, c.updated_cycle);
    if id.0 < engine.next_concept || id.0 == u64::MAX {
        return Err(format!(
            "concept id {id} is not a fresh id (the next concept id is {})",
            engine.next_concept
        ));
    }
    if formed_cycle > updated_cycle || updated_cycle > engine.cycle {
        return Err(format!(
            "concept {id}: formed in cycle {formed_cycle}, updated in {updated_cycle}, but \
             the store is at cycle {}",
            engine.cycle
        ));
    }
    Ok((c, unit))
}

/// Encodes a batch record: the first id it gets, the metadata and the caller's rows.
pub(crate) fn encode_batch(buf: &mut Vec<u8>, first: u64, metas: &[u8], n: usize, rows: &[f32]) {
    let mut e = Enc {
        buf: std::mem::take(buf),
    };
    e.u8(REC_BATCH);
    e.u64(first);
    e.u32(n as u32);
    e.buf.extend_from_slice(metas);
    e.f32s(rows);
    *buf = e.buf;
}

/// Encodes a forget record.
pub(crate) fn encode_forget(buf: &mut Vec<u8>, id: EpisodeId) {
    buf.push(REC_FORGET);
    buf.extend_from_slice(&id.0.to_le_bytes());
}

/// Encodes a concept record (the centroid as stored).
pub(crate) fn encode_concept(buf: &mut Vec<u8>, c: &Concept, unit: &[f32]) {
    let mut e = Enc {
        buf: std::mem::take(buf),
    };
    e.u8(REC_CONCEPT);
    e.u64(c.id.0);
    e.f32(c.coherence);
    e.u64(c.members);
    e.f32(c.strength);
    e.u8(matches!(c.state, ConceptState::Promoted) as u8);
    e.u32(c.confirmations);
    e.u64(c.formed_cycle);
    e.u64(c.updated_cycle);
    e.f32s(unit);
    *buf = e.buf;
}

/// Encodes an import batch record: the import id, its progress, then the batch's episodes
/// (first id, count, metadata, rows) and its concepts (count, then each as a concept record).
/// One record, so replay restores the batch and the ledger together or not at all.
#[allow(clippy::too_many_arguments)]
pub(crate) fn encode_import(
    buf: &mut Vec<u8>,
    id: &str,
    progress: &str,
    first: u64,
    metas: &[u8],
    n: usize,
    rows: &[f32],
    concepts: &[(Concept, Vec<f32>)],
) {
    let mut e = Enc {
        buf: std::mem::take(buf),
    };
    e.u8(REC_IMPORT);
    e.bytes(id.as_bytes());
    e.bytes(progress.as_bytes());
    e.u64(first);
    e.u32(n as u32);
    e.buf.extend_from_slice(metas);
    e.f32s(rows);
    e.u32(concepts.len() as u32);
    let mut sub = Vec::new();
    for (c, unit) in concepts {
        sub.clear();
        encode_concept(&mut sub, c, unit);
        e.bytes(&sub);
    }
    *buf = e.buf;
}

/// Applies one log record to the engine. An error means the record does not fit the state
/// it follows (the caller reports it as corruption).
pub(crate) fn apply(engine: &mut Engram, payload: &[u8]) -> Result<(), String> {
    let dim = engine.dim();
    let mut d = Dec::new(payload);
    match d.u8()? {
        REC_BATCH => {
            let first = d.u64()?;
            let n = batch_rows(&mut d, dim, "batch rows")?;
            if first != engine.next_episode {
                return Err(format!(
                    "batch starts at id {first}, the store is at {}",
                    engine.next_episode
                ));
            }
            let mut metas = Vec::with_capacity(n);
            for _ in 0..n {
                metas.push(d.meta()?);
            }
            let rows = d.f32s(n * dim)?;
            d.finish()?;
            engine
                .remember_batch(&rows, metas)
                .map_err(|e| format!("batch does not replay: {e}"))?;
        }
        REC_FORGET => {
            let id = EpisodeId(d.u64()?);
            d.finish()?;
            engine
                .forget(id)
                .map_err(|e| format!("forget does not replay: {e}"))?;
        }
        REC_CONCEPT => {
            let (concept, unit) = decode_concept(&mut d, engine)?;
            d.finish()?;
            if engine.graph.concept_node(concept.id).is_some() {
                return Err(format!("concept {} already exists", concept.id));
            }
            insert_concept(engine, concept, &unit);
        }
        REC_IMPORT => {
            let text = |b: &[u8]| {
                std::str::from_utf8(b)
                    .map(str::to_owned)
                    .map_err(|e| format!("import text is not UTF-8: {e}"))
            };
            let id = text(d.bytes()?)?;
            let progress = text(d.bytes()?)?;
            let first = d.u64()?;
            let n = batch_rows(&mut d, dim, "import batch rows")?;
            if n > 0 && first != engine.next_episode {
                return Err(format!(
                    "import batch starts at id {first}, the store is at {}",
                    engine.next_episode
                ));
            }
            let mut metas = Vec::with_capacity(n);
            for _ in 0..n {
                metas.push(d.meta()?);
            }
            let rows = d.f32s(n * dim)?;
            let nc = d.u32()?;
            // Each concept is a length-prefixed record of at least its kind byte.
            let nc = d.count(u64::from(nc), 5, "import concepts")?;
            let mut concepts = Vec::with_capacity(nc);
            for _ in 0..nc {
                let sub = d.bytes()?;
                if sub.first() != Some(&REC_CONCEPT) {
                    return Err("an import record holds a record that is not a concept".into());
                }
                concepts.push(sub);
            }
            d.finish()?;
            if n > 0 {
                engine
                    .remember_batch(&rows, metas)
                    .map_err(|e| format!("import batch does not replay: {e}"))?;
            }
            let mut ids = Vec::with_capacity(concepts.len());
            for sub in concepts {
                let cid = ConceptId(Dec::new(sub.get(1..).unwrap_or_default()).u64()?);
                apply(engine, sub)?;
                ids.push(cid);
            }
            let ledger = engine.imports.entry(id).or_default();
            if n > 0 {
                ledger.episode_runs.push((first, n as u64));
            }
            ledger.concepts.extend(ids);
            ledger.progress = progress;
        }
        k => return Err(format!("unknown record kind {k}")),
    }
    Ok(())
}

/// Encodes metadata for a batch record.
pub(crate) fn encode_metas(metas: &[EpisodeMeta]) -> Vec<u8> {
    let mut e = Enc::default();
    for m in metas {
        e.meta(m);
    }
    e.buf
}

/// The error for a mutation refused because an earlier log write failed.
pub(crate) fn poisoned() -> crate::error::Error {
    crate::error::StoreError::Other(
        "an earlier log write failed, so memory and disk may differ: reopen the store".into(),
    )
    .into()
}
