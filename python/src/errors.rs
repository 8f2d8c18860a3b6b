//! The Python exception tree, mirroring `engram::Error`'s layers.

use pyo3::create_exception;
use pyo3::exceptions::PyException;
use pyo3::prelude::*;

create_exception!(
    engram,
    EngramError,
    PyException,
    "Base class of every error raised by engram."
);
create_exception!(
    engram,
    ConfigError,
    EngramError,
    "The configuration is invalid (dimension, precision, backend name...)."
);
create_exception!(
    engram,
    InputError,
    EngramError,
    "An argument or input row is invalid (dtype, shape, dimension, NaN/Inf, k < 1, unknown id). \
     Nothing was stored or changed."
);
create_exception!(
    engram,
    GpuError,
    EngramError,
    "The GPU backend failed or is unavailable."
);
create_exception!(engram, StoreError, EngramError, "The on-disk store failed.");
create_exception!(
    engram,
    ClusterError,
    EngramError,
    "Clustering failed: invalid parameters or data."
);

pub(crate) fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    let py = m.py();
    m.add("EngramError", py.get_type::<EngramError>())?;
    m.add("ConfigError", py.get_type::<ConfigError>())?;
    m.add("InputError", py.get_type::<InputError>())?;
    m.add("GpuError", py.get_type::<GpuError>())?;
    m.add("StoreError", py.get_type::<StoreError>())?;
    m.add("ClusterError", py.get_type::<ClusterError>())?;
    Ok(())
}

/// The Python exception for a Rust error, with the Rust message.
pub(crate) fn to_py(e: engram::Error) -> PyErr {
    let msg = e.to_string();
    match e {
        engram::Error::Config(_) => ConfigError::new_err(msg),
        engram::Error::Input(_) => InputError::new_err(msg),
        engram::Error::Gpu(_) => GpuError::new_err(msg),
        engram::Error::Store(_) => StoreError::new_err(msg),
        engram::Error::Cluster(_) => ClusterError::new_err(msg),
        _ => EngramError::new_err(msg),
    }
}

/// The Python exception for a clustering error.
pub(crate) fn cluster(e: engram::ClusterError) -> PyErr {
    ClusterError::new_err(format!("clustering: {e}"))
}

/// An [`InputError`] with this message.
pub(crate) fn input(msg: impl Into<String>) -> PyErr {
    InputError::new_err(msg.into())
}

/// Checks that `k` is at least 1 and returns it as `usize`.
pub(crate) fn check_k(k: i64, name: &str) -> PyResult<usize> {
    if k < 1 {
        return Err(input(format!("{name} must be at least 1, got {k}")));
    }
    usize::try_from(k).map_err(|_| input(format!("{name} = {k} is too large")))
}
