//! Python bindings of `engram`: the engine, the shardable k-means steps, the synthetic stream
//! and the mergeable top-k, numpy in and out.
//!
//! Conventions (see `python/README.md`):
//! - Float inputs: a C-contiguous `float32` array is read in place; any other float layout or
//!   dtype (`float64`, Fortran order, strided views, lists of floats) is converted once to a
//!   C-contiguous `float32` copy. Integer, boolean and complex arrays are rejected.
//! - Every computation, lock wait and fsync runs with the GIL released; locking, durability
//!   and consolidation retries are the library's (`engram::SharedEngram`).
//! - Errors are `engram.EngramError` subclasses carrying the Rust message.

use pyo3::prelude::*;

mod arrays;
mod engine;
mod errors;
mod kmeans;
mod memory;

/// The native part of the `engram` package (imported as `engram._engram`).
#[pymodule]
fn _engram(m: &Bound<'_, PyModule>) -> PyResult<()> {
    errors::register(m)?;
    m.add_class::<engine::PyEngram>()?;
    m.add_class::<kmeans::KMeansResult>()?;
    m.add_function(wrap_pyfunction!(kmeans::kmeans_assign, m)?)?;
    m.add_function(wrap_pyfunction!(kmeans::kmeans_partial_sums, m)?)?;
    m.add_function(wrap_pyfunction!(kmeans::kmeans_reduce, m)?)?;
    m.add_function(wrap_pyfunction!(kmeans::kmeans_fit, m)?)?;
    m.add_function(wrap_pyfunction!(kmeans::synth, m)?)?;
    m.add_function(wrap_pyfunction!(kmeans::merge_topk, m)?)?;
    m.add("NO_ID", u64::MAX)?;
    // The options `consolidation=dict(...)` and `recall=dict(...)` take: the library's field
    // lists (tests check the `.pyi` stub against them).
    m.add("CONSOLIDATION_KEYS", memory::consolidation_keys()?)?;
    m.add("RECALL_KEYS", memory::recall_keys()?)?;
    m.add("__version__", env!("CARGO_PKG_VERSION"))?;
    Ok(())
}
