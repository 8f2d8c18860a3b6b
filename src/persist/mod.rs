//! The on-disk store: a versioned snapshot plus a write-ahead log, every section and record
//! checksummed (CRC-32C), snapshots replaced atomically, one writer at a time (an OS lock),
//! read-only opens that change nothing, and recovery that leaves out only an incomplete,
//! never-acknowledged last record and reports any other damage as
//! [`crate::StoreError::Corrupt`] ([`repair`] is the explicit way past it).
//!
//! Start with [`DurableEngram`]; [`SyncPolicy`] says what a crash can lose. The file layouts
//! are documented in [`snapshot`] and [`wal`].

#[doc(hidden)]
pub mod crash;
pub mod export;
pub mod format;
pub mod lock;
pub mod record;
/// The former name of [`record`] (it holds the log-record codec), kept so paths through it
/// still compile.
#[doc(hidden)]
pub use record as recovery;
mod repair;
pub mod seal;
pub mod snapshot;
mod store;
pub mod wal;

pub use record::{add_concept, NewConcept, RecoveryReport};
pub use repair::{repair, RepairReport};
pub(crate) use store::new_log_id;
pub use store::{exists, DurableEngram, StoreOptions};
pub use wal::SyncPolicy;

/// Direct access for tests and tools that build fixtures (bindings, links, node fields).
/// Changes made through it are not logged: persist them with
/// [`DurableEngram::mutate_and_checkpoint`].
#[doc(hidden)]
pub mod testing {
    use std::path::Path;

    use crate::engine::Engram;
    use crate::error::{Error, StoreError};
    use crate::graph::Graph;

    /// The engine's graph, mutably.
    pub fn graph_mut(engine: &mut Engram) -> &mut Graph {
        &mut engine.graph
    }

    /// Raises the engine's counters (the next episode id, the next concept id, the cycle
    /// count) to at least these values; never lowers them, so every id stays below its
    /// counter. For tests of counters near `u64::MAX`.
    pub fn raise_counters(engine: &mut Engram, next_episode: u64, next_concept: u64, cycle: u64) {
        engine.next_episode = engine.next_episode.max(next_episode);
        engine.next_concept = engine.next_concept.max(next_concept);
        engine.cycle = engine.cycle.max(cycle);
    }

    /// The engine's counters: (next episode id, next concept id, cycle count).
    pub fn counters(engine: &Engram) -> (u64, u64, u64) {
        (engine.next_episode, engine.next_concept, engine.cycle)
    }

    /// One section of a snapshot file's bytes: its tag, where its payload starts and its
    /// length (the checksum follows the payload).
    #[derive(Debug, Clone, PartialEq, Eq)]
    pub struct SectionSpan {
        /// The four-byte tag.
        pub tag: [u8; 4],
        /// Offset of the section header (the tag).
        pub start: usize,
        /// Offset of the payload.
        pub payload: usize,
        /// Length of the payload.
        pub len: usize,
    }

    /// The sections of a snapshot's bytes, in order, as far as their lengths are
    /// well-formed (a length running past the end stops the walk).
    pub fn snapshot_sections(bytes: &[u8]) -> Vec<SectionSpan> {
        let mut out = Vec::new();
        let mut at = 12usize;
        while let Some(h) = bytes.get(at..at.saturating_add(12)) {
            let mut tag = [0u8; 4];
            tag.copy_from_slice(&h[..4]);
            let mut l = [0u8; 8];
            l.copy_from_slice(&h[4..12]);
            let Ok(len) = usize::try_from(u64::from_le_bytes(l)) else {
                break;
            };
            let payload = at + 12;
            let Some(end) = payload.checked_add(len).filter(|&e| e <= bytes.len()) else {
                break;
            };
            if end.checked_add(4).is_none_or(|e| e > bytes.len()) {
                break;
            }
            out.push(SectionSpan {
                tag,
                start: at,
                payload,
                len,
            });
            at = end + 4;
        }
        out
    }

    /// Recomputes the checksum of every well-formed section of a snapshot's bytes (see
    /// [`snapshot_sections`]), so that mutated bytes pass the CRC and reach the decoders.
    /// Returns how many sections were fixed.
    pub fn fix_snapshot_checksums(bytes: &mut [u8]) -> usize {
        let spans = snapshot_sections(bytes);
        for s in &spans {
            let end = s.payload + s.len;
            let c = super::format::crc(0, &bytes[s.start..end]);
            bytes[end..end + 4].copy_from_slice(&c.to_le_bytes());
        }
        spans.len()
    }

    /// Decodes a snapshot from bytes (as [`super::snapshot::read`] does from a file).
    pub fn decode_snapshot(bytes: &[u8]) -> Result<Engram, Error> {
        let (engine, _) = super::snapshot::read_from(
            std::io::Cursor::new(bytes),
            bytes.len() as u64,
            Path::new("<snapshot bytes>"),
        )?;
        Ok(engine)
    }

    /// Applies one log record's payload (what [`super::wal::WalReader::next_record`] returns)
    /// to an engine, as opening a store replays it; a record that does not decode or does
    /// not fit the engine is a [`StoreError::Corrupt`].
    pub fn replay_record(engine: &mut Engram, payload: &[u8]) -> Result<(), Error> {
        super::record::apply(engine, payload).map_err(|d| {
            Error::Store(StoreError::Corrupt {
                path: "<record bytes>".into(),
                section: "log record".into(),
                offset: 0,
                detail: d,
            })
        })
    }
}
