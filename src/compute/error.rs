//! The errors of the compute layer: [`GpuError`] (a device failed or is unavailable) and
//! [`SelectError`] (a backend could not be selected, e.g. for a bad [`EnvError`]). The crate's `Error` wraps both.

/// The GPU backend failed or is unavailable.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[non_exhaustive]
pub enum GpuError {
    /// The crate was built without the `gpu` feature.
    #[error("engram was built without the `gpu` feature")]
    NotCompiled,
    /// No adapter matched the request.
    #[error("no GPU adapter found: {0}")]
    NoAdapter(String),
    /// The device could not be created.
    #[error("could not create a device on {adapter}: {reason}")]
    RequestDevice {
        /// The adapter's name.
        adapter: String,
        /// What wgpu said.
        reason: String,
    },
    /// The device ran out of memory.
    #[error("the GPU ran out of memory: {0}")]
    OutOfMemory(String),
    /// The device was lost (driver reset, removal).
    #[error("the GPU device was lost: {0}")]
    DeviceLost(String),
    /// wgpu reported a validation error: a bug in engram, please report it.
    #[error("GPU validation error (a bug in engram): {0}")]
    Validation(String),
    /// Reading results back failed.
    #[error("GPU readback failed: {0}")]
    Readback(String),
    /// The request exceeds what this device can do.
    #[error("the device cannot do this: {0}")]
    Unsupported(String),
}

/// An environment variable holds a value that is not understood.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("environment variable {name}={value:?} is not one of {expected}")]
pub struct EnvError {
    /// The variable's name.
    pub name: &'static str,
    /// Its value.
    pub value: String,
    /// What it may hold.
    pub expected: &'static str,
}

/// A backend could not be selected ([`select`](super::select)).
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[non_exhaustive]
pub enum SelectError {
    /// `ENGRAM_BACKEND` holds a value that is not a backend's name.
    #[error(transparent)]
    BadEnv(#[from] EnvError),
    /// The GPU was asked for and cannot be had.
    #[error(transparent)]
    Gpu(#[from] GpuError),
}
