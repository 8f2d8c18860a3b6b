//! Spherical k-means over unit-normalised embeddings (the CPU reference path).
//!
//! Data is always a flat `&[f32]`, row-major, `n` rows × `dim`; for the spherical metric the
//! rows are unit vectors so cosine is a dot product.
//!
//! - [`KMeansParams`] → [`KMeansParams::check`] → [`KMeansValidParams::fit`] gives a
//!   [`KMeansModel`] (k-means++, k-means‖, random or precomputed initialisation; Lloyd
//!   iterations; restarts; empty-cluster repair). Seeded and deterministic, also across thread
//!   counts.
//! - [`steps`]: the pure, shardable steps Lloyd is written in: [`assign`] → [`partial_sums`]
//!   (mergeable) → [`reduce`].
//! - [`MiniBatchParams`] / [`MiniBatchKMeans`]: mini-batch and streaming updates.
//! - [`DiscoverParams`]: k-means when the number of clusters is not known.
//! - [`fit_on`] / [`lloyd_on`] / [`discover_on`]: the same on the engine's compute backend
//!   (CPU or GPU).
//! - [`metrics`]: adjusted Rand index and normalised mutual information.
//!
//! ```
//! use engram::cluster::KMeansParams;
//! let data = [1.0f32, 0.0, 0.99, 0.141, 0.0, 1.0, 0.141, 0.99];
//! let model = KMeansParams::new(2).seed(7).fit(&data, 2).unwrap();
//! assert_eq!(model.labels[0], model.labels[1]);
//! assert_ne!(model.labels[0], model.labels[2]);
//! ```

mod backend;
pub(crate) use backend::partial_sums_unchecked;
mod discover;
mod error;
mod init;
mod lloyd;
pub mod metrics;
mod minibatch;
mod params;
pub mod steps;

pub use backend::{
    assign_on, assign_resident, assign_top2_resident, discover_on, discover_resident, fit_on,
    fit_resident, lloyd_on, lloyd_resident, partial_sums_resident, top2_is_free, LloydOptions,
    Resident,
};
pub use discover::{DiscoverParams, DiscoverValidParams};
pub use error::{ClusterError, ParamsError};
pub use lloyd::KMeansModel;
pub use metrics::{adjusted_rand_index, normalized_mutual_info};
pub use minibatch::{MiniBatchKMeans, MiniBatchParams, MiniBatchValidParams};
pub use params::{Init, KMeansParams, KMeansValidParams, Metric};
pub use steps::{
    assign, assign_with, partial_sums, reduce, reduce_with, repair_empty, Assignment, PartialSums,
};

use rayon::prelude::*;

/// Rows per block for the per-row passes whose results are summed (fixed, so that sums do not
/// depend on the number of threads).
pub(crate) const SUM_ROWS: usize = 8192;

/// Dot product through the runtime-dispatched SIMD kernel (`f32::mul_add` in a plain loop
/// compiles to a libm call without FMA in the target features, which is 20× slower).
#[inline]
pub(crate) fn dot(a: &[f32], b: &[f32]) -> f32 {
    crate::compute::cpu::dot(a, b)
}

/// Checks the shape of flat data and returns the number of rows (0 allowed).
pub(crate) fn check_shape(data: &[f32], dim: usize) -> Result<usize, ClusterError> {
    if dim == 0 {
        return Err(ClusterError::ZeroDimension);
    }
    if !data.len().is_multiple_of(dim) {
        return Err(ClusterError::RaggedData {
            len: data.len(),
            dim,
        });
    }
    Ok(data.len() / dim)
}

/// Checks shape and finiteness; returns the number of rows (at least 1).
pub(crate) fn check_data(data: &[f32], dim: usize) -> Result<usize, ClusterError> {
    let n = check_shape(data, dim)?;
    if n == 0 {
        return Err(ClusterError::EmptyData);
    }
    check_finite(data, dim)?;
    Ok(n)
}

/// The first non-finite value, as an error.
pub(crate) fn check_finite(data: &[f32], dim: usize) -> Result<(), ClusterError> {
    let bad = data
        .par_chunks(SUM_ROWS * dim)
        .enumerate()
        .filter_map(|(b, block)| {
            block
                .iter()
                .position(|v| !v.is_finite())
                .map(|p| b * SUM_ROWS * dim + p)
        })
        .min();
    match bad {
        Some(p) => Err(ClusterError::NonFinite {
            row: p / dim,
            col: p % dim,
            value: data[p],
        }),
        None => Ok(()),
    }
}

/// Squared norms of the rows.
pub(crate) fn row_norms2(data: &[f32], dim: usize) -> Vec<f32> {
    data.par_chunks(dim).map(|r| dot(r, r)).collect()
}

/// Normalises every row to unit length in place.
///
/// # Errors
/// [`ClusterError::ZeroVector`] for a zero row (nothing is changed then), shape errors and
/// [`ClusterError::NonFinite`].
pub fn normalize_rows(data: &mut [f32], dim: usize) -> Result<(), ClusterError> {
    check_shape(data, dim)?;
    check_finite(data, dim)?;
    if let Some(row) = data.chunks(dim).position(|r| dot(r, r) == 0.0) {
        return Err(ClusterError::ZeroVector { row });
    }
    data.par_chunks_mut(dim).for_each(|r| {
        let inv = 1.0 / (dot(r, r) as f64).sqrt();
        r.iter_mut().for_each(|v| *v = (*v as f64 * inv) as f32);
    });
    Ok(())
}

/// SplitMix64: derives independent seeds and per-item uniforms.
#[inline]
pub(crate) fn splitmix(mut z: u64) -> u64 {
    z = z.wrapping_add(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// A uniform in [0, 1) from a hash of the inputs.
#[inline]
pub(crate) fn hash_uniform(seed: u64, a: u64, b: u64) -> f64 {
    let h = splitmix(splitmix(splitmix(seed) ^ a) ^ b);
    (h >> 11) as f64 * (1.0 / (1u64 << 53) as f64)
}
