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
pub mod recovery;
mod repair;
pub mod seal;
pub mod snapshot;
mod store;
pub mod wal;

pub use recovery::{add_concept, NewConcept, RecoveryReport};
pub use repair::{repair, RepairReport};
pub(crate) use store::new_log_id;
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
