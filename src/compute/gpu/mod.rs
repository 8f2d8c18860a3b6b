//! The GPU backend (wgpu): a device context, resident embeddings (and the mirror that keeps
//! them up to date) and the search, k-means, limit-probe and spreading-activation kernels.
//!
//! Without the `gpu` feature the same names exist and every constructor or kernel returns
//! [`GpuError::NotCompiled`](crate::compute::GpuError::NotCompiled), so callers never need `#[cfg]`.

mod mirror;
pub mod shaders;
mod types;
pub use mirror::GpuMirror;
pub use types::{Capabilities, GpuLayout, GpuOptions, SpreadCsr, SpreadParams, TopTwo};

#[cfg(feature = "gpu")]
mod activation;
#[cfg(feature = "gpu")]
mod context;
#[cfg(feature = "gpu")]
mod kmeans;
#[cfg(feature = "gpu")]
mod limits;
#[cfg(feature = "gpu")]
mod matrix;
#[cfg(feature = "gpu")]
mod search;

#[cfg(feature = "gpu")]
pub use activation::{spread, spread_fits};
#[cfg(feature = "gpu")]
pub use context::GpuContext;
#[cfg(feature = "gpu")]
pub use kmeans::{kmeans_assign, kmeans_assign_top2, kmeans_partial_sums};
#[cfg(feature = "gpu")]
pub use limits::{measure_bandwidth, measure_fma_peak};
#[cfg(feature = "gpu")]
pub use matrix::GpuMatrix;
#[cfg(feature = "gpu")]
pub use search::{search, uses_tiled_kernel, GPU_MAX_K, K_TILED_MAX, TILED_MIN_BATCH};

#[cfg(not(feature = "gpu"))]
mod stub;
#[cfg(not(feature = "gpu"))]
pub use stub::*;
