//! Engine configuration: `Config::new(dim)`, chainable setters, then [`Config::check`].

use crate::consolidation::ConsolidationConfig;
use crate::error::ConfigError;

/// The backend choice lives with the kernels ([`crate::compute`]); re-exported here, where
/// it is one setting of a [`Config`].
pub use crate::compute::BackendChoice;

impl BackendChoice {
    /// The value of `ENGRAM_BACKEND`, if set.
    pub fn from_env() -> Result<Option<Self>, ConfigError> {
        Ok(crate::compute::backend::choice_from_env()?)
    }
}

/// How embeddings are stored.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub enum Precision {
    /// f32 rows only (4 bytes a component). Exact search.
    #[default]
    F32,
    /// f32 rows plus an f16 copy (6 bytes a component); searches may use either.
    F32AndF16,
    /// f16 rows only (2 bytes a component): half the memory, scores within about 1e-3.
    F16,
}

impl Precision {
    /// Parses a precision name (case-insensitive): `f32` (or `float32`), `f16` (or
    /// `float16`), `f32+f16` (or `f32andf16`, `f32_and_f16`, `both`).
    pub fn parse(s: &str) -> Option<Self> {
        match s.trim().to_ascii_lowercase().as_str() {
            "f32" | "float32" => Some(Self::F32),
            "f16" | "float16" => Some(Self::F16),
            "f32+f16" | "f32andf16" | "f32_and_f16" | "both" => Some(Self::F32AndF16),
            _ => None,
        }
    }
    /// The name [`Precision::parse`] reads back: `f32`, `f16` or `f32+f16`.
    pub fn name(&self) -> &'static str {
        match self {
            Self::F32 => "f32",
            Self::F16 => "f16",
            Self::F32AndF16 => "f32+f16",
        }
    }
    /// Whether f32 rows are kept.
    pub fn has_f32(&self) -> bool {
        matches!(self, Self::F32 | Self::F32AndF16)
    }
    /// Whether f16 rows are kept.
    pub fn has_f16(&self) -> bool {
        matches!(self, Self::F16 | Self::F32AndF16)
    }
    /// Bytes stored per component.
    pub fn bytes_per_component(&self) -> usize {
        match self {
            Self::F32 => 4,
            Self::F32AndF16 => 6,
            Self::F16 => 2,
        }
    }
}

/// Engine configuration. Build with [`Config::new`], adjust with the setters, validate with
/// [`Config::check`] (the engine checks it again when built).
///
/// ```
/// use engram::{Config, Precision};
/// let cfg = Config::new(384).precision(Precision::F32AndF16).check().unwrap();
/// assert_eq!(cfg.dim(), 384);
/// ```
#[derive(Debug, Clone, PartialEq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub struct Config {
    dim: usize,
    chunk_bytes: usize,
    precision: Precision,
    backend: BackendChoice,
    consolidation: ConsolidationConfig,
    recall: crate::recall::RecallConfig,
    gpu_fallback: Option<bool>,
}

/// Default largest chunk of the embedding arena: 128 MiB, the WebGPU default binding limit.
pub const DEFAULT_CHUNK_BYTES: usize = 128 << 20;

impl Config {
    /// Defaults for embeddings of `dim` components.
    pub fn new(dim: usize) -> Self {
        Self {
            dim,
            chunk_bytes: DEFAULT_CHUNK_BYTES,
            precision: Precision::default(),
            backend: BackendChoice::default(),
            consolidation: ConsolidationConfig::default(),
            recall: crate::recall::RecallConfig::default(),
            gpu_fallback: None,
        }
    }

    /// Largest chunk of the embedding arena in bytes (default 128 MiB). The GPU backend
    /// lowers it to the device's `max_storage_buffer_binding_size` when that is smaller.
    pub fn chunk_bytes(mut self, bytes: usize) -> Self {
        self.chunk_bytes = bytes;
        self
    }

    /// Storage precision (default [`Precision::F32`]).
    pub fn precision(mut self, precision: Precision) -> Self {
        self.precision = precision;
        self
    }

    /// Backend choice (default [`BackendChoice::Auto`], overridable by `ENGRAM_BACKEND`).
    pub fn backend(mut self, backend: BackendChoice) -> Self {
        self.backend = backend;
        self
    }

    /// Consolidation thresholds (default [`ConsolidationConfig::default`]).
    pub fn consolidation(mut self, consolidation: ConsolidationConfig) -> Self {
        self.consolidation = consolidation;
        self
    }

    /// The consolidation thresholds.
    pub fn consolidation_config(&self) -> &ConsolidationConfig {
        &self.consolidation
    }

    /// Recall, spreading-activation, recognition and strength constants (default
    /// [`crate::recall::RecallConfig::default`]).
    pub fn recall(mut self, recall: crate::recall::RecallConfig) -> Self {
        self.recall = recall;
        self
    }

    /// The recall constants.
    pub fn recall_config(&self) -> &crate::recall::RecallConfig {
        &self.recall
    }

    /// Whether a GPU failure (device lost, out of memory) makes the engine continue on the CPU
    /// with a warning and the same results, instead of returning the error. Default: yes under
    /// [`BackendChoice::Auto`], no under [`BackendChoice::Gpu`].
    pub fn gpu_fallback(mut self, fallback: bool) -> Self {
        self.gpu_fallback = Some(fallback);
        self
    }

    /// Whether GPU failures fall back to the CPU (see [`Config::gpu_fallback`]).
    pub fn falls_back_to_cpu(&self) -> bool {
        self.gpu_fallback
            .unwrap_or(self.backend == BackendChoice::Auto)
    }

    /// The embedding dimension.
    pub fn dim(&self) -> usize {
        self.dim
    }

    /// The chunk limit in bytes.
    pub fn chunk_limit(&self) -> usize {
        self.chunk_bytes
    }

    /// The storage precision.
    pub fn storage(&self) -> Precision {
        self.precision
    }

    /// The backend choice.
    pub fn backend_choice(&self) -> BackendChoice {
        self.backend
    }

    /// Validates every invariant and returns the config unchanged if all hold.
    ///
    /// The backend is resolved against the environment here as well, so a bad setting fails
    /// at once rather than when an engine selects its backend: with [`BackendChoice::Auto`]
    /// (the default), `ENGRAM_BACKEND` holding anything but `cpu`, `gpu` or `auto` (any case;
    /// blank or unset is fine) is [`ConfigError::BadEnv`], the error
    /// [`Engram::new`](crate::Engram::new) gives for it. An explicit `Cpu` or `Gpu` choice does
    /// not read the variable. Whether a GPU exists is not checked here.
    pub fn check(self) -> Result<Self, ConfigError> {
        let config = self.check_values()?;
        if config.backend == BackendChoice::Auto {
            BackendChoice::from_env()?;
        }
        Ok(config)
    }

    /// [`Config::check`] without the environment: the invariants of the values themselves
    /// (what a snapshot records, so a bad `ENGRAM_BACKEND` is not taken for corruption).
    pub(crate) fn check_values(self) -> Result<Self, ConfigError> {
        if self.dim == 0 {
            return Err(ConfigError::ZeroDimension);
        }
        let row_bytes = self.dim * 4;
        if self.chunk_bytes < row_bytes {
            return Err(ConfigError::ChunkTooSmall {
                chunk_bytes: self.chunk_bytes,
                row_bytes,
            });
        }
        self.recall.check()?;
        let consolidation = self.consolidation.check()?;
        Ok(Self {
            consolidation,
            ..self
        })
    }
}

/// The backend is a property of the running process, not of the data: an engine built or
/// opened with one choice can be moved to another.
impl crate::engine::Engram {
    /// Runs this engine's numeric work on `choice` from now on (`Auto` still honours
    /// `ENGRAM_BACKEND`). The choice is selected as [`Engram::new`](crate::Engram::new) does
    /// (an error, and no change, if it cannot be had, e.g. `Gpu` without an adapter); the
    /// resident GPU copies are dropped (rebuilt on the next GPU call), and a previous GPU
    /// failure is forgotten. The configuration's [`Config::backend_choice`] becomes `choice`.
    /// Stored data is not touched. Returns the selection made (backend and reason).
    pub fn set_backend(
        &mut self,
        choice: BackendChoice,
    ) -> crate::error::Result<&crate::compute::Selection> {
        let selection = crate::compute::select(choice)?;
        self.config = self.config.clone().backend(choice);
        self.device
            .reset(selection, self.config.falls_back_to_cpu());
        *self.spread_graph.lock() = None;
        Ok(self.device.selection())
    }
}

impl crate::persist::DurableEngram {
    /// Runs the store's engine on `choice` from now on ([`Engram::set_backend`]); nothing is
    /// written to the store. A store opens whatever backend it was last used with, and each
    /// process chooses its own.
    ///
    /// [`Engram::set_backend`]: crate::Engram::set_backend
    pub fn set_backend(
        &mut self,
        choice: BackendChoice,
    ) -> crate::error::Result<&crate::compute::Selection> {
        self.engine_mut_unlogged().set_backend(choice)
    }
}
