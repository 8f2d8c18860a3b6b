//! # engram — a dual memory engine
//!
//! Applications store *episodes* (an embedding, a timestamp and a payload); the engine
//! consolidates them into *concepts* (clusters with a centroid, a coherence and a lifecycle)
//! linked to episodes by weighted *bindings*, and recalls from either tier or both.
//!
//! Similarity search runs on a SIMD CPU path that is always available (AVX2/FMA or NEON chosen
//! at run time, GEMM tiles for large batches) and, with the `gpu` feature, as WGSL compute
//! shaders through `wgpu`. Embeddings are normalised on insert, so cosine is a dot product.
//!
//! ```
//! use engram::{Config, Engram, EpisodeMeta};
//! let mut mem = Engram::new(Config::new(4)).unwrap();
//! let rows = [1.0, 0.0, 0.0, 0.0, 0.0, 1.0, 0.0, 0.0, 0.7, 0.7, 0.0, 0.0];
//! let ids = mem.remember_batch(&rows, vec![]).unwrap();
//! let hits = mem.search(&[1.0, 0.1, 0.0, 0.0], 2).unwrap();
//! assert_eq!(hits[0].id, ids[0]);
//! assert_eq!(hits[1].id, ids[2]);
//! ```
//!
//! ## Features
//!
//! - `gpu` (default): the wgpu backend.
//! - `serde`: `Serialize`/`Deserialize` on the public data types.
//! - `research` (default): the memory-research experiments (`engram::validate`) and the
//!   machine-limit probes (`engram::bench`) behind `engram validate` and `engram bench`.
//! - `cli` (default, implies `research`): the `engram` binary and the crates only it uses.
//!   A library user turns default features off (`default-features = false,
//!   features = ["gpu"]`); the library reports progress through callbacks
//!   ([`migrate::import_with_progress`], [`persist::export::export_with_progress`]).
#![warn(missing_docs)]

#[cfg(feature = "research")]
pub mod bench;
pub mod cluster;
pub mod compute;
pub mod config;
pub mod consolidation;
mod engine;
pub mod error;
pub mod graph;
pub mod ledger;
pub mod memory;
pub mod migrate;
pub mod persist;
pub mod recall;
mod shared;
pub mod synth;
#[cfg(feature = "research")]
pub mod validate;
pub mod vectors;

pub use cluster::{ClusterError, KMeansModel, KMeansParams};
pub use compute::{Hit, TopK};
pub use config::{BackendChoice, Config, Precision};
pub use consolidation::{
    spawn_background_consolidation, BackgroundHandle, ClusterCount, ConsolidationConfig,
    CycleReport,
};
pub use engine::{Engram, Layout, Scored};
pub use persist::{DurableEngram, StoreOptions, SyncPolicy};
pub use shared::SharedEngram;

pub use error::{ConfigError, Error, GpuError, InputError, Result, StoreError};
pub use memory::{
    Binding, Concept, ConceptId, ConceptState, Episode, EpisodeId, EpisodeMeta, MemoryNode, Payload,
};
pub use recall::{
    Activation, Familiarity, IndexList, ListStats, Pathways, RecallConfig, RecallHit, RecallMode,
    RecallParams, Retrieval,
};
