//! # engram — a dual memory engine
//!
//! Applications store *episodes* (an embedding, a timestamp and a payload); the engine
//! consolidates them into *concepts* (clusters with a centroid, a coherence and a lifecycle)
//! linked to episodes by weighted *bindings*, and recalls from either tier or both.
#![warn(missing_docs)]

pub mod cluster;
pub mod compute;
pub mod config;
pub mod error;
pub mod memory;
pub mod synth;

pub use cluster::{ClusterError, KMeansModel, KMeansParams};
pub use compute::{Hit, TopK};
pub use config::{BackendChoice, Config, Precision};
pub use error::{ConfigError, Error, GpuError, InputError, Result, StoreError};
pub use memory::{
    Binding, Concept, ConceptId, ConceptState, Episode, EpisodeId, EpisodeMeta, MemoryNode, Payload,
};
