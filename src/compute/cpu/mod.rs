//! CPU kernels: a scalar reference that is always compiled, AVX2/FMA (x86-64) and NEON
//! (aarch64) kernels picked at run time, and the blocked batch search on top of them.
//!
//! Dispatch follows qdrant's model: one module per instruction set, chosen at run time with
//! `is_x86_feature_detected!`, never `target-cpu=native`. Where the CPU has AVX-512F/DQ, the
//! x86-64 level also uses 512-bit kernels (the f16 scan, the panel kernel of batches).
//! `ENGRAM_SIMD=scalar` forces the scalar kernels and `ENGRAM_SIMD=avx2` the 256-bit ones
//! (for comparisons, and so that every path is tested on an AVX-512 machine).

#[cfg(target_arch = "x86_64")]
mod avx2;
mod batch;
#[cfg(target_arch = "aarch64")]
mod neon;
pub mod scalar;
mod search;

use std::sync::OnceLock;

use half::f16;
use half::slice::HalfFloatSliceExt;

pub(crate) use batch::{argmax_panels, pack_panels};
pub use search::{search, RowChunk};

use crate::compute::TopK;
use crate::vectors::RowMask;

/// The instruction set a CPU kernel uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum SimdLevel {
    /// Plain Rust loops (always available; the reference).
    Scalar,
    /// x86-64 with AVX2, FMA and F16C.
    Avx2Fma,
    /// aarch64 NEON.
    Neon,
}

/// Whether the 512-bit kernels run: the CPU has AVX-512F and AVX-512DQ and `ENGRAM_SIMD` is
/// neither `avx2` nor `scalar` (checked once).
pub(crate) fn avx512() -> bool {
    static ON: OnceLock<bool> = OnceLock::new();
    *ON.get_or_init(|| {
        #[cfg(target_arch = "x86_64")]
        {
            !matches!(
                std::env::var("ENGRAM_SIMD").as_deref(),
                Ok("avx2" | "scalar")
            ) && is_x86_feature_detected!("avx512f")
                && is_x86_feature_detected!("avx512dq")
        }
        #[cfg(not(target_arch = "x86_64"))]
        {
            false
        }
    })
}

/// Runs `iters` steps of independent FMAs on registers with the widest vectors the kernels
/// use at `level`; returns (a value to keep, floating-point operations done).
pub fn fma_loop(level: SimdLevel, iters: usize, seed: f32) -> (f32, f64) {
    #[cfg(target_arch = "x86_64")]
    if level == SimdLevel::Avx2Fma && SimdLevel::detect() == SimdLevel::Avx2Fma {
        // SAFETY: the features were detected (AVX-512 by `avx512`, AVX2/FMA by `detect`).
        return unsafe {
            if avx512() {
                (
                    avx2::fma_loop_avx512(iters, seed),
                    iters as f64 * 16.0 * 16.0 * 2.0,
                )
            } else {
                (
                    avx2::fma_loop_avx2(iters, seed),
                    iters as f64 * 12.0 * 8.0 * 2.0,
                )
            }
        };
    }
    let mut acc = [seed; 8];
    for _ in 0..iters {
        for x in acc.iter_mut() {
            *x = x.mul_add(0.999_999, seed * 1e-7);
        }
    }
    (acc.iter().sum(), iters as f64 * 8.0 * 2.0)
}

impl SimdLevel {
    /// The best level this CPU supports.
    pub fn detect() -> Self {
        #[cfg(target_arch = "x86_64")]
        {
            if is_x86_feature_detected!("avx2")
                && is_x86_feature_detected!("fma")
                && is_x86_feature_detected!("f16c")
            {
                return SimdLevel::Avx2Fma;
            }
        }
        #[cfg(target_arch = "aarch64")]
        {
            return SimdLevel::Neon;
        }
        #[allow(unreachable_code)]
        SimdLevel::Scalar
    }

    /// The level in use: [`SimdLevel::detect`], or scalar when `ENGRAM_SIMD=scalar`
    /// (`ENGRAM_SIMD=avx2` keeps the level and turns the 512-bit kernels off).
    pub fn current() -> Self {
        static LEVEL: OnceLock<SimdLevel> = OnceLock::new();
        *LEVEL.get_or_init(|| match std::env::var("ENGRAM_SIMD").as_deref() {
            Ok("scalar") => SimdLevel::Scalar,
            _ => SimdLevel::detect(),
        })
    }

    /// Every level this CPU can run (the scalar one first).
    pub fn available() -> Vec<Self> {
        let mut v = vec![SimdLevel::Scalar];
        let best = Self::detect();
        if best != SimdLevel::Scalar {
            v.push(best);
        }
        v
    }

    /// A short name: `scalar`, `avx2+fma`, `neon`.
    pub fn name(&self) -> &'static str {
        match self {
            SimdLevel::Scalar => "scalar",
            SimdLevel::Avx2Fma => "avx2+fma",
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
            // SAFETY: the level is only constructed when the CPU has the features.
            #[cfg(target_arch = "x86_64")]
            SimdLevel::Avx2Fma if Self::detect() == SimdLevel::Avx2Fma => unsafe {
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
            SimdLevel::Avx2Fma if Self::detect() == SimdLevel::Avx2Fma => unsafe {
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

/// A block of stored rows, in either layout.
#[derive(Debug, Clone, Copy)]
pub enum Rows<'a> {
    /// f32 rows, row-major.
    F32(&'a [f32]),
    /// f16 rows, row-major.
    F16(&'a [f16]),
}

impl Rows<'_> {
    /// Number of rows for a dimension.
    pub fn count(&self, dim: usize) -> usize {
        match self {
            Rows::F32(r) => r.len() / dim,
            Rows::F16(r) => r.len() / dim,
        }
    }

    /// Rows `start..end` of this block.
    pub fn slice(&self, dim: usize, start: usize, end: usize) -> Self {
        match self {
            Rows::F32(r) => Rows::F32(&r[start * dim..end * dim]),
            Rows::F16(r) => Rows::F16(&r[start * dim..end * dim]),
        }
    }
}

/// Offers scores to a [`TopK`], skipping dead rows, with the entry threshold cached locally.
pub(crate) struct Pusher<'a> {
    top: &'a mut TopK,
    thr: f32,
    dead: Option<&'a RowMask>,
}

impl<'a> Pusher<'a> {
    pub(crate) fn new(top: &'a mut TopK, dead: Option<&'a RowMask>) -> Self {
        let thr = top.threshold();
        Self { top, thr, dead }
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
            self.top.push(score, row as u64);
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
    match level {
        // SAFETY: `Avx2Fma` is only used when detected (checked again here, once per block).
        #[cfg(target_arch = "x86_64")]
        SimdLevel::Avx2Fma if SimdLevel::detect() == SimdLevel::Avx2Fma => unsafe {
            avx2::scan(query, rows, dim, first_row, out)
        },
        _ => match rows {
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
        },
    }
}
