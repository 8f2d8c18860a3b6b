//! Layered error types.
//!
//! [`Error`] is what every public function returns. It wraps one enum per concern
//! ([`ConfigError`], [`InputError`], [`GpuError`], [`StoreError`]) so a caller can match on the
//! layer first and on the exact invariant second. Every message says what was expected and what
//! was got.

use std::path::PathBuf;

/// The GPU error lives with the kernels ([`crate::compute`]); re-exported here, where it is
/// one layer of [`Error`].
pub use crate::compute::GpuError;

/// The result type of this crate.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Every error the library returns.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The configuration is invalid (see [`crate::Config::check`]).
    #[error("invalid configuration: {0}")]
    Config(#[from] ConfigError),
    /// An argument or input row is invalid; nothing was changed.
    #[error("invalid input: {0}")]
    Input(#[from] InputError),
    /// The GPU backend failed or is unavailable.
    #[error("gpu: {0}")]
    Gpu(#[from] GpuError),
    /// The on-disk store failed.
    #[error("store: {0}")]
    Store(#[from] StoreError),
    /// Clustering failed (invalid parameters or data).
    #[error("clustering: {0}")]
    Cluster(#[from] crate::cluster::ClusterError),
    /// A consolidation step could not be applied.
    #[error("consolidation: {0}")]
    Consolidation(#[from] crate::consolidation::ConsolidationError),
    /// A counter the engine keeps (episode ids, concept ids, consolidation cycles, snapshot
    /// generations) would pass `u64::MAX`. Ids are never reused, so the operation is refused;
    /// nothing was changed.
    #[error(
        "the {what} counter is exhausted: it is at {value} and {needed} more do not fit in \
         64 bits; nothing was changed"
    )]
    CounterOverflow {
        /// Which counter: `"episode id"`, `"concept id"`, `"consolidation cycle"` or
        /// `"snapshot generation"`.
        what: &'static str,
        /// Its current value.
        value: u64,
        /// How many the operation needed.
        needed: u64,
    },
}

impl Error {
    /// Checks that `value + needed` fits in a `u64` (the counter `what` can hand out
    /// `needed` more values and still hold the next one), else [`Error::CounterOverflow`].
    pub(crate) fn check_counter(what: &'static str, value: u64, needed: u64) -> Result<u64> {
        value.checked_add(needed).ok_or(Error::CounterOverflow {
            what,
            value,
            needed,
        })
    }
}

impl From<crate::compute::SelectError> for Error {
    /// A bad `ENGRAM_BACKEND` is a configuration error, a missing GPU a GPU error.
    fn from(e: crate::compute::SelectError) -> Self {
        match e {
            crate::compute::SelectError::BadEnv(e) => Error::Config(e.into()),
            crate::compute::SelectError::Gpu(e) => Error::Gpu(e),
        }
    }
}

impl crate::compute::GpuFailure for Error {
    /// [`Error::Gpu`] is a GPU failure; every other error is not.
    fn gpu_failure(&self) -> Option<&GpuError> {
        match self {
            Error::Gpu(e) => Some(e),
            _ => None,
        }
    }
}

/// A configuration value breaks one of its invariants.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[non_exhaustive]
pub enum ConfigError {
    /// The embedding dimension must be at least 1.
    #[error("dimension must be at least 1, got 0")]
    ZeroDimension,
    /// A chunk must hold at least one row.
    #[error("chunk limit of {chunk_bytes} bytes cannot hold one row of {row_bytes} bytes")]
    ChunkTooSmall {
        /// The configured chunk limit in bytes.
        chunk_bytes: usize,
        /// The size of one row in bytes.
        row_bytes: usize,
    },
    /// A value must lie in a range.
    #[error("{name} must be in {range}, got {value}")]
    OutOfRange {
        /// The parameter's name.
        name: &'static str,
        /// The allowed range, for the message.
        range: &'static str,
        /// The value given.
        value: f64,
    },
    /// An environment variable holds a value that is not understood.
    #[error("environment variable {name}={value:?} is not one of {expected}")]
    BadEnv {
        /// The variable's name.
        name: &'static str,
        /// Its value.
        value: String,
        /// What it may hold.
        expected: &'static str,
    },
}

impl From<crate::compute::EnvError> for ConfigError {
    fn from(e: crate::compute::EnvError) -> Self {
        ConfigError::BadEnv {
            name: e.name,
            value: e.value,
            expected: e.expected,
        }
    }
}

/// A call's arguments are invalid. Nothing was stored or changed.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[non_exhaustive]
pub enum InputError {
    /// A vector has the wrong number of components.
    #[error("row {row}: expected dimension {expected}, got {got}")]
    DimensionMismatch {
        /// The store's dimension.
        expected: usize,
        /// The length given.
        got: usize,
        /// Which row of a batch (0 for a single vector).
        row: usize,
    },
    /// A flat batch's length is not a multiple of the dimension.
    #[error("a batch of {len} floats is not a whole number of rows of dimension {dim}")]
    RaggedBatch {
        /// The flat length given.
        len: usize,
        /// The store's dimension.
        dim: usize,
    },
    /// The number of metadata entries does not match the number of rows.
    #[error("{rows} rows but {metas} metadata entries")]
    MetaCount {
        /// Rows in the batch.
        rows: usize,
        /// Metadata entries given.
        metas: usize,
    },
    /// A component is NaN or infinite.
    #[error("row {row}, component {col}: value {value} is not finite")]
    NonFinite {
        /// Which row of a batch.
        row: usize,
        /// Which component.
        col: usize,
        /// The value found.
        value: f32,
    },
    /// A vector has zero length and cannot be normalised.
    #[error("row {row}: the vector has zero length and cannot be normalised")]
    ZeroVector {
        /// Which row of a batch.
        row: usize,
    },
    /// `k` must be at least 1.
    #[error("k must be at least 1, got 0")]
    ZeroK,
    /// The id names no live episode.
    #[error("unknown episode id {0}")]
    UnknownEpisode(u64),
    /// The id names no live concept.
    #[error("unknown concept id {0}")]
    UnknownConcept(u64),
    /// The store holds no ledger for this import id.
    #[error("the store holds no import {0:?} (never started here, or rolled back)")]
    UnknownImport(String),
    /// A parameter, or a field of an input row's metadata, is outside its range.
    #[error(
        "{}{name} must be in {range}, got {value}",
        .row.map(|r| format!("row {r}: ")).unwrap_or_default()
    )]
    OutOfRange {
        /// The parameter's name.
        name: &'static str,
        /// The allowed range, for the message.
        range: &'static str,
        /// The value given.
        value: f64,
        /// Which row of a batch holds the value (0 for a single episode), when it is a
        /// field of an input row (an episode's confidence); `None` for a call's parameter.
        row: Option<usize>,
    },
    /// The operation needs data that is not there.
    #[error("{0}")]
    Empty(&'static str),
}

/// The on-disk store failed. Nothing already stored was changed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StoreError {
    /// An I/O operation failed.
    #[error("{op} {path}: {source}")]
    Io {
        /// What was being done.
        op: &'static str,
        /// The file concerned.
        path: PathBuf,
        /// The underlying error.
        source: std::io::Error,
    },
    /// A checksum did not match: the file is corrupt at this place.
    #[error("{path}: corrupt {section} at byte offset {offset}: {detail}")]
    Corrupt {
        /// The file concerned.
        path: PathBuf,
        /// The section or record kind.
        section: String,
        /// The byte offset of the bad section or record.
        offset: u64,
        /// What was wrong.
        detail: String,
    },
    /// The file was written by a format version this build does not read.
    #[error("{path}: format version {found} is not supported (this build reads {supported})")]
    Version {
        /// The file concerned.
        path: PathBuf,
        /// The version in the file.
        found: u32,
        /// The versions supported, for the message.
        supported: String,
    },
    /// The store's dimension differs from the configuration's.
    #[error("{path}: the store holds dimension {stored}, the configuration asks for {configured}")]
    DimensionMismatch {
        /// The store's directory.
        path: PathBuf,
        /// The stored dimension.
        stored: usize,
        /// The configured dimension.
        configured: usize,
    },
    /// A record of an import source is malformed (and the import was told to stop on bad
    /// records).
    #[error("{path}:{line}: bad record: {detail}")]
    BadRecord {
        /// The source file.
        path: PathBuf,
        /// The 1-based line (JSON Lines) or record number (.npy, .fvecs).
        line: u64,
        /// What is wrong with it.
        detail: String,
    },
    /// An operation was refused to protect the store (a tampered import checkpoint, a changed
    /// source, nothing to roll back...).
    #[error("{path}: refused: {reason}")]
    Refused {
        /// The file or directory concerned.
        path: PathBuf,
        /// Why, and what to do.
        reason: String,
    },
    /// Another handle (in this process or another) has the store open for writing.
    #[error(
        "{path}: the store is locked by another writer{}",
        match holder_pid { Some(p) => format!(" (process {p})"), None => String::new() }
    )]
    Locked {
        /// The store's directory.
        path: PathBuf,
        /// The process holding the lock, when it could be read.
        holder_pid: Option<u32>,
    },
    /// A write was attempted through a read-only handle.
    #[error("{path}: the store was opened read-only")]
    ReadOnly {
        /// The store's directory.
        path: PathBuf,
    },
    /// Anything else, described.
    #[error("{0}")]
    Other(String),
}
