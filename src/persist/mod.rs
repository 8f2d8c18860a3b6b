//! The on-disk store: a versioned snapshot plus a write-ahead log, every section and record
//! checksummed (CRC-32C), snapshots replaced atomically, and recovery that drops a torn last
//! record but reports any other damage as [`crate::StoreError::Corrupt`].
//!
//! Start with [`DurableEngram`]; [`SyncPolicy`] says what a crash can lose. The file layouts
//! are documented in [`snapshot`] and [`wal`].

pub mod export;
pub mod format;
pub mod recovery;
pub mod snapshot;
mod store;
pub mod wal;

pub use recovery::{add_concept, NewConcept, RecoveryReport};
pub use store::{exists, DurableEngram, StoreOptions};
pub use wal::SyncPolicy;

/// Direct access for tests and tools that build fixtures (bindings, links, node fields).
/// Changes made through it are not logged: persist them with
/// [`DurableEngram::mutate_and_checkpoint`].
#[doc(hidden)]
pub mod testing {
    use crate::engine::Engram;
    use crate::graph::Graph;

    /// The engine's graph, mutably.
    pub fn graph_mut(engine: &mut Engram) -> &mut Graph {
        &mut engine.graph
    }
}
