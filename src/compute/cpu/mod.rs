//! CPU kernels: a scalar reference that is always compiled, AVX2/FMA and AVX-512 (x86-64) and
//! NEON (aarch64) kernels picked at run time, the blocked batch search on top of them, and one
//! safe door to the `gemm` crate ([`gemm`]).
//!
//! Dispatch follows qdrant's model: one module per instruction set (`scalar.rs`, `avx2.rs`,
//! `avx512.rs`, `neon.rs`), chosen at run time with
//! `is_x86_feature_detected!`, never `target-cpu=native`. Where the CPU has AVX-512F (besides
//! AVX2, FMA and F16C) the level is [`SimdLevel::Avx512`]: the 512-bit kernels run (the f16
//! scan, the panel kernel of batches and k-means), the rest are the 256-bit ones.
//! `ENGRAM_SIMD=scalar` forces the scalar kernels and `ENGRAM_SIMD=avx2` the 256-bit level
//! [`SimdLevel::Avx2Fma`] (for comparisons, and so that every path is tested on an AVX-512
//! machine).

#[cfg(target_arch = "x86_64")]
mod avx2;
#[cfg(target_arch = "x86_64")]
mod avx512;
mod batch;
pub mod gemm;
pub mod int8;
#[cfg(target_arch = "aarch64")]
mod neon;
pub mod scalar;
mod search;

use std::sync::OnceLock;

use half::f16;
use half::slice::HalfFloatSliceExt;

/// The row views, re-exported where the kernels' users have always found them.
pub use crate::compute::rows::{RowChunk, Rows};
pub(crate) use batch::{argmax_panels, pack_panels};
pub(crate) use search::{per_thread, search_blocks, IdBlock};
pub use search::{search, QUERY_SPLIT_MIN};

use crate::compute::rows::RowMask;
use crate::compute::TopK;

/// The instruction set a CPU kernel uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum SimdLevel {
    /// Plain Rust loops (always available; the reference).
    Scalar,
    /// x86-64 with AVX2, FMA and F16C: the 256-bit kernels.
    Avx2Fma,
    /// x86-64 with AVX-512F besides AVX2, FMA and F16C: the 512-bit kernels where there are
    /// some (the f16 scan, the panel kernel), the 256-bit ones elsewhere.
    Avx512,
    /// aarch64 NEON.
    Neon,
}

/// Runs `iters` steps of independent FMAs on registers with the widest vectors of `level`
/// (512-bit at [`SimdLevel::Avx512`], 256-bit at [`SimdLevel::Avx2Fma`], scalar otherwise);
/// returns (a value to keep, floating-point operations done). A level this CPU does not
/// support runs the scalar loop.
pub fn fma_loop(level: SimdLevel, iters: usize, seed: f32) -> (f32, f64) {
    #[cfg(target_arch = "x86_64")]
    if level.supported() {
        match level {
            // SAFETY: `supported` saw AVX-512F, AVX2 and FMA.
            SimdLevel::Avx512 => {
                return (
                    unsafe { avx512::fma_loop(iters, seed) },
                    iters as f64 * 16.0 * 16.0 * 2.0,
                )
            }
            // SAFETY: `supported` saw AVX2 and FMA.
            SimdLevel::Avx2Fma => {
                return (
                    unsafe { avx2::fma_loop(iters, seed) },
                    iters as f64 * 12.0 * 8.0 * 2.0,
                )
            }
            _ => {}
        }
    }
    let mut acc = [seed; 8];
    for _ in 0..iters {
        for x in acc.iter_mut() {
            *x = x.mul_add(0.999_999, seed * 1e-7);
        }
    }
    (acc.iter().sum(), iters as f64 * 8.0 * 2.0)
}

/// The level `ENGRAM_SIMD` asks for given the best one the CPU has: `scalar` → scalar,
/// `avx2` → at most [`SimdLevel::Avx2Fma`], anything else (or unset) → `best`.
pub(crate) fn level_for(best: SimdLevel, env: Option<&str>) -> SimdLevel {
    match env {
        Some("scalar") => SimdLevel::Scalar,
        Some("avx2") if best == SimdLevel::Avx512 => SimdLevel::Avx2Fma,
        _ => best,
    }
}

impl SimdLevel {
    /// The best level this CPU supports (checked once): [`SimdLevel::Avx512`] with AVX-512F,
    /// AVX2, FMA and F16C (what the 512-bit kernels' `#[target_feature]`s name),
    /// [`SimdLevel::Avx2Fma`] with AVX2, FMA and F16C, NEON on aarch64, else scalar.
    pub fn detect() -> Self {
        static BEST: OnceLock<SimdLevel> = OnceLock::new();
        *BEST.get_or_init(|| {
            #[cfg(target_arch = "x86_64")]
            {
                if is_x86_feature_detected!("avx2")
                    && is_x86_feature_detected!("fma")
                    && is_x86_feature_detected!("f16c")
                {
                    if is_x86_feature_detected!("avx512f") {
                        return SimdLevel::Avx512;
                    }
                    return SimdLevel::Avx2Fma;
                }
            }
            #[cfg(target_arch = "aarch64")]
            {
                return SimdLevel::Neon;
            }
            #[allow(unreachable_code)]
            SimdLevel::Scalar
        })
    }

    /// Whether this CPU can run the level's kernels.
    #[inline]
    pub fn supported(&self) -> bool {
        let best = Self::detect();
        match self {
            SimdLevel::Scalar => true,
            SimdLevel::Avx2Fma => matches!(best, SimdLevel::Avx2Fma | SimdLevel::Avx512),
            SimdLevel::Avx512 | SimdLevel::Neon => best == *self,
        }
    }

    /// The level in use (checked once): [`SimdLevel::detect`], lowered by `ENGRAM_SIMD`
    /// (`scalar`: the scalar kernels; `avx2`: [`SimdLevel::Avx2Fma`] on an AVX-512 CPU).
    pub fn current() -> Self {
        static LEVEL: OnceLock<SimdLevel> = OnceLock::new();
        *LEVEL
            .get_or_init(|| level_for(Self::detect(), std::env::var("ENGRAM_SIMD").ok().as_deref()))
    }

    /// Every level this CPU can run, from the scalar one up.
    pub fn available() -> Vec<Self> {
        [
            SimdLevel::Scalar,
            SimdLevel::Avx2Fma,
            SimdLevel::Avx512,
            SimdLevel::Neon,
        ]
        .into_iter()
        .filter(|l| l.supported())
        .collect()
    }

    /// Whether the level runs 512-bit kernels (and this CPU has them).
    #[inline]
    pub(crate) fn wide(&self) -> bool {
        *self == SimdLevel::Avx512 && self.supported()
    }

    /// A short name: `scalar`, `avx2+fma`, `avx512`, `neon`.
    pub fn name(&self) -> &'static str {
        match self {
            SimdLevel::Scalar => "scalar",
            SimdLevel::Avx2Fma => "avx2+fma",
            SimdLevel::Avx512 => "avx512",
            SimdLevel::Neon => "neon",
        }
    }

    /// Dot product of two slices of equal length at this level.
    ///
    /// # Panics
    /// Never for equal lengths; unequal lengths use the shorter one.
    #[inline]
    pub fn dot(&self, a: &[f32], b: &[f32]) -> f32 {
        match self {
            // SAFETY: `supported` checked that the CPU has AVX2 and FMA.
            #[cfg(target_arch = "x86_64")]
            SimdLevel::Avx2Fma | SimdLevel::Avx512 if self.supported() => unsafe {
                avx2::dot(a, b)
            },
            #[cfg(target_arch = "aarch64")]
            SimdLevel::Neon => unsafe { neon::dot(a, b) },
            _ => scalar::dot(a, b),
        }
    }

    /// Dot product of an f32 query with an f16 row at this level.
    #[inline]
    pub fn dot_f16(&self, a: &[f32], b: &[f16]) -> f32 {
        match self {
            // SAFETY: as in `dot`.
            #[cfg(target_arch = "x86_64")]
            SimdLevel::Avx2Fma | SimdLevel::Avx512 if self.supported() => unsafe {
                avx2::dot_f16(a, b)
            },
            #[cfg(target_arch = "aarch64")]
            SimdLevel::Neon => unsafe { neon::dot_f16(a, b) },
            _ => scalar::dot_f16(a, b),
        }
    }

    /// Converts f16 components to f32 (`half`'s F16C path above the scalar level).
    pub fn f16_to_f32(&self, src: &[f16], dst: &mut [f32]) {
        let n = src.len().min(dst.len());
        match self {
            SimdLevel::Scalar => {
                for (d, s) in dst.iter_mut().zip(src) {
                    *d = s.to_f32();
                }
            }
            _ => src[..n].convert_to_f32_slice(&mut dst[..n]),
        }
    }
}

/// Dot product with the current SIMD level.
#[inline]
pub fn dot(a: &[f32], b: &[f32]) -> f32 {
    SimdLevel::current().dot(a, b)
}

/// Offers scores to a [`TopK`], skipping dead rows, with the entry threshold cached locally.
pub(crate) struct Pusher<'a> {
    top: &'a mut TopK,
    thr: f32,
    dead: Option<&'a RowMask>,
    /// The id of each row (a concept list's episode ids), when hits carry ids, not rows.
    ids: Option<&'a [u64]>,
}

impl<'a> Pusher<'a> {
    pub(crate) fn new(top: &'a mut TopK, dead: Option<&'a RowMask>) -> Self {
        Self::with_ids(top, dead, None)
    }

    /// A pusher whose hits carry `ids[row]` instead of the row (rows past `ids` are never
    /// offered: the kernels only score rows of the block, and `ids` covers the block).
    pub(crate) fn with_ids(
        top: &'a mut TopK,
        dead: Option<&'a RowMask>,
        ids: Option<&'a [u64]>,
    ) -> Self {
        let thr = top.threshold();
        Self {
            top,
            thr,
            dead,
            ids,
        }
    }

    /// The score a hit must reach to be offered.
    #[inline(always)]
    pub(crate) fn threshold(&self) -> f32 {
        self.thr
    }

    #[inline(always)]
    pub(crate) fn offer(&mut self, score: f32, row: usize) {
        if score >= self.thr {
            if let Some(d) = self.dead {
                if d.contains(row) {
                    return;
                }
            }
            let id = match self.ids {
                Some(ids) => {
                    // Blocks with ids are scanned from row 0, so every row has one.
                    debug_assert!(row < ids.len(), "row {row} past the block's ids");
                    ids.get(row).copied().unwrap_or(u64::MAX)
                }
                None => row as u64,
            };
            self.top.push(score, id);
            self.thr = self.top.threshold();
        }
    }
}

/// Fused single-query scan over a block of rows at a level.
pub(crate) fn scan(
    level: SimdLevel,
    query: &[f32],
    rows: Rows<'_>,
    dim: usize,
    first_row: usize,
    out: &mut Pusher<'_>,
) {
    #[cfg(target_arch = "x86_64")]
    {
        if let (true, Rows::F16(r)) = (level.wide(), rows) {
            // SAFETY: `wide` is true only at `Avx512` on a CPU that has AVX-512F.
            unsafe { avx512::scan_f16(query, r, dim, first_row, out) };
            return;
        }
        if matches!(level, SimdLevel::Avx2Fma | SimdLevel::Avx512) && level.supported() {
            // SAFETY: the CPU has AVX2, FMA and F16C (checked here, once per block).
            unsafe { avx2::scan(query, rows, dim, first_row, out) };
            return;
        }
    }
    match rows {
        Rows::F32(r) => {
            for (i, row) in r.chunks_exact(dim).enumerate() {
                out.offer(level.dot(query, row), first_row + i);
            }
        }
        Rows::F16(r) => {
            for (i, row) in r.chunks_exact(dim).enumerate() {
                out.offer(level.dot_f16(query, row), first_row + i);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::{level_for, SimdLevel};

    #[test]
    fn engram_simd_lowers_the_level() {
        use SimdLevel::*;
        assert_eq!(level_for(Avx512, None), Avx512);
        assert_eq!(level_for(Avx512, Some("avx2")), Avx2Fma);
        assert_eq!(level_for(Avx512, Some("scalar")), Scalar);
        assert_eq!(level_for(Avx512, Some("something")), Avx512);
        assert_eq!(level_for(Avx2Fma, Some("avx2")), Avx2Fma);
        assert_eq!(level_for(Avx2Fma, None), Avx2Fma);
        assert_eq!(level_for(Neon, Some("avx2")), Neon);
        assert_eq!(level_for(Neon, Some("scalar")), Scalar);
    }

    #[test]
    fn available_levels_are_supported_and_ordered() {
        let v = SimdLevel::available();
        assert_eq!(v[0], SimdLevel::Scalar);
        assert!(v.iter().all(|l| l.supported()));
        assert!(v.contains(&SimdLevel::detect()));
        assert_eq!(v.last(), Some(&SimdLevel::detect()));
    }
}
