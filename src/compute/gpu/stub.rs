//! Stand-ins compiled without the `gpu` feature: the same names and signatures, and every
//! constructor or kernel returns [`GpuError::NotCompiled`].

use super::types::{Capabilities, GpuLayout, GpuOptions, TopTwo};
use crate::compute::error::GpuError;
use crate::compute::topk::Hit;

/// The largest `k` one GPU pass selects (unused without the `gpu` feature).
pub const GPU_MAX_K: usize = 1024;

/// The largest `k` the tiled batch kernel serves (unused without the `gpu` feature).
pub const K_TILED_MAX: usize = 128;

/// The smallest batch that takes the tiled kernel (unused without the `gpu` feature).
pub const TILED_MIN_BATCH: usize = 16;

/// Always `false`: there is no GPU kernel without the `gpu` feature.
pub fn uses_tiled_kernel(_ctx: &GpuContext, _dim: usize, _nq: usize, _k: usize) -> bool {
    false
}

/// The GPU context; cannot be created without the `gpu` feature.
#[derive(Debug)]
pub struct GpuContext {
    _never: std::convert::Infallible,
}

impl GpuContext {
    /// Always [`GpuError::NotCompiled`].
    pub fn new(_opts: &GpuOptions) -> Result<Self, GpuError> {
        Err(GpuError::NotCompiled)
    }

    /// What the device is and can do.
    pub fn capabilities(&self) -> &Capabilities {
        match self._never {}
    }

    /// The storage-binding limit in bytes.
    pub fn binding_limit(&self) -> u64 {
        match self._never {}
    }

    /// Always [`GpuError::NotCompiled`].
    pub fn try_allocate(&self, _bytes: u64) -> Result<(), GpuError> {
        Err(GpuError::NotCompiled)
    }

    /// Rows uploaded to the device.
    pub fn rows_uploaded(&self) -> u64 {
        match self._never {}
    }
}

/// Resident rows; cannot be created without the `gpu` feature.
#[derive(Debug)]
pub struct GpuMatrix {
    _never: std::convert::Infallible,
}

impl GpuMatrix {
    /// Always [`GpuError::NotCompiled`].
    pub fn new(_ctx: &GpuContext, _dim: usize, _layout: GpuLayout) -> Result<Self, GpuError> {
        Err(GpuError::NotCompiled)
    }

    /// Always [`GpuError::NotCompiled`].
    pub fn from_rows(
        _ctx: &GpuContext,
        _dim: usize,
        _layout: GpuLayout,
        _rows: &[f32],
    ) -> Result<Self, GpuError> {
        Err(GpuError::NotCompiled)
    }

    /// Components per row.
    pub fn dim(&self) -> usize {
        match self._never {}
    }

    /// The storage layout.
    pub fn layout(&self) -> GpuLayout {
        match self._never {}
    }

    /// Rows stored.
    pub fn len(&self) -> usize {
        match self._never {}
    }

    /// Whether no row is stored.
    pub fn is_empty(&self) -> bool {
        match self._never {}
    }

    /// Rows not marked dead.
    pub fn live(&self) -> usize {
        match self._never {}
    }

    /// Whether `row` is dead.
    pub fn is_dead(&self, _row: usize) -> bool {
        match self._never {}
    }

    /// Chunks.
    pub fn chunk_count(&self) -> usize {
        match self._never {}
    }

    /// Rows per chunk.
    pub fn rows_per_chunk(&self) -> usize {
        match self._never {}
    }

    /// Always [`GpuError::NotCompiled`].
    pub fn append(&mut self, _ctx: &GpuContext, _rows: &[f32]) -> Result<(), GpuError> {
        Err(GpuError::NotCompiled)
    }

    /// Always [`GpuError::NotCompiled`].
    pub fn set_dead(&mut self, _ctx: &GpuContext, _row: usize) -> Result<(), GpuError> {
        Err(GpuError::NotCompiled)
    }

    /// Always [`GpuError::NotCompiled`].
    pub fn gather(&self, _ctx: &GpuContext, _rows: &[u32]) -> Result<GpuMatrix, GpuError> {
        Err(GpuError::NotCompiled)
    }
}

/// Always [`GpuError::NotCompiled`].
pub fn search(
    _ctx: &GpuContext,
    _m: &GpuMatrix,
    _queries: &[f32],
    _k: usize,
) -> Result<Vec<Vec<Hit>>, GpuError> {
    Err(GpuError::NotCompiled)
}

/// Always [`GpuError::NotCompiled`].
pub fn kmeans_assign(
    _ctx: &GpuContext,
    _m: &GpuMatrix,
    _centroids: &[f32],
    _k: usize,
) -> Result<(Vec<u32>, Vec<f32>), GpuError> {
    Err(GpuError::NotCompiled)
}

/// Always [`GpuError::NotCompiled`].
pub fn kmeans_assign_top2(
    _ctx: &GpuContext,
    _m: &GpuMatrix,
    _centroids: &[f32],
    _k: usize,
) -> Result<TopTwo, GpuError> {
    Err(GpuError::NotCompiled)
}

/// Always [`GpuError::NotCompiled`].
pub fn kmeans_partial_sums(
    _ctx: &GpuContext,
    _m: &GpuMatrix,
    _labels: &[u32],
    _k: usize,
) -> Result<(Vec<f32>, Vec<u32>), GpuError> {
    Err(GpuError::NotCompiled)
}

/// Always [`GpuError::NotCompiled`].
pub fn measure_bandwidth(_ctx: &GpuContext) -> Result<f64, GpuError> {
    Err(GpuError::NotCompiled)
}

/// Always [`GpuError::NotCompiled`].
pub fn measure_fma_peak(_ctx: &GpuContext) -> Result<f64, GpuError> {
    Err(GpuError::NotCompiled)
}

/// Always [`GpuError::NotCompiled`].
pub fn spread_fits(_ctx: &GpuContext, _csr: &super::types::SpreadCsr) -> Result<(), GpuError> {
    Err(GpuError::NotCompiled)
}

/// Always [`GpuError::NotCompiled`].
pub fn spread(
    _ctx: &GpuContext,
    _csr: &super::types::SpreadCsr,
    _sets: &[Vec<(u32, f32)>],
    _params: super::types::SpreadParams,
    _read_nodes: usize,
) -> Result<Vec<f32>, GpuError> {
    Err(GpuError::NotCompiled)
}
