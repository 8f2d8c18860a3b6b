//! Multi-query kernels: a query-blocked SIMD kernel for small batches, and GEMM tiles (the
//! `gemm` crate) with top-k selection from a small score block for large ones — as faiss does
//! with BLAS. Neither ever holds a full queries × rows score matrix.

use super::search::GEMM_MIN_QUERIES;
use super::{Pusher, RowChunk, Rows, SimdLevel};
use crate::compute::TopK;
use crate::vectors::RowMask;

/// Rows converted or scored together in the small-batch kernel (kept in L1/L2 across queries).
const SMALL_ROW_BLOCK: usize = 16;
/// Rows of one GEMM tile (one rayon task's rows: one call per task).
const GEMM_ROW_TILE: usize = 2048;
/// Queries of one GEMM call: the score block is at most 1,024 × 2,048 (8 MiB, in L3), large
/// enough that the GEMM's packing is amortised (measured: about 0.9 of a square 2048³ GEMM).
const GEMM_QUERY_BLOCK: usize = 1024;

/// Reusable buffers of one worker.
#[derive(Default)]
pub(crate) struct Scratch {
    rows: Vec<f32>,
    scores: Vec<f32>,
}

/// Rows `start..end` of a block as f32: borrowed when stored as f32, converted into `buf`
/// when stored as f16.
fn rows_f32<'a>(
    level: SimdLevel,
    rows: Rows<'a>,
    dim: usize,
    start: usize,
    end: usize,
    buf: &'a mut Vec<f32>,
) -> &'a [f32] {
    match rows {
        Rows::F32(r) => &r[start * dim..end * dim],
        Rows::F16(r) => {
            let src = &r[start * dim..end * dim];
            buf.resize(src.len(), 0.0);
            level.f16_to_f32(src, buf);
            &buf[..]
        }
    }
}

/// What every block of a multi-query search shares: the queries and how to score them.
#[derive(Clone, Copy)]
pub(crate) struct BatchJob<'a> {
    pub(crate) level: SimdLevel,
    /// Normalised queries, row-major.
    pub(crate) queries: &'a [f32],
    pub(crate) dim: usize,
    pub(crate) dead: Option<&'a RowMask>,
}

impl BatchJob<'_> {
    /// Scores the queries against one block of rows with the kernel suited to the batch size.
    pub(crate) fn run(&self, chunk: RowChunk<'_>, tops: &mut [TopK], scratch: &mut Scratch) {
        if tops.len() < GEMM_MIN_QUERIES {
            self.small_batch(chunk, tops, scratch)
        } else {
            self.gemm_batch(chunk, tops, scratch)
        }
    }

    /// Scores the queries against every row of a block with the query-blocked kernel
    /// (two queries × four rows per step), offering each score to its query's top-k.
    fn small_batch(&self, chunk: RowChunk<'_>, tops: &mut [TopK], scratch: &mut Scratch) {
        let BatchJob {
            level,
            queries,
            dim,
            dead,
        } = *self;
        let RowChunk { first_row, rows } = chunk;
        let nq = tops.len();
        let n = rows.count(dim);
        let mut pushers: Vec<Pusher<'_>> = tops.iter_mut().map(|t| Pusher::new(t, dead)).collect();
        let mut start = 0;
        while start < n {
            let end = (start + SMALL_ROW_BLOCK).min(n);
            let block = rows_f32(level, rows, dim, start, end, &mut scratch.rows);
            let nrows = end - start;
            let mut q = 0;
            while q < nq {
                let q1 = if q + 1 < nq { q + 1 } else { q };
                let qa = &queries[q * dim..(q + 1) * dim];
                let qb = &queries[q1 * dim..(q1 + 1) * dim];
                let mut r = 0;
                while r + 4 <= nrows {
                    let rr = [
                        &block[r * dim..(r + 1) * dim],
                        &block[(r + 1) * dim..(r + 2) * dim],
                        &block[(r + 2) * dim..(r + 3) * dim],
                        &block[(r + 3) * dim..(r + 4) * dim],
                    ];
                    let s = block_2x4(level, [qa, qb], rr, dim);
                    let base = first_row + start + r;
                    for (i, &score) in s[..4].iter().enumerate() {
                        pushers[q].offer(score, base + i);
                    }
                    if q1 != q {
                        for (i, &score) in s[4..].iter().enumerate() {
                            pushers[q1].offer(score, base + i);
                        }
                    }
                    r += 4;
                }
                while r < nrows {
                    let row = &block[r * dim..(r + 1) * dim];
                    pushers[q].offer(level.dot(qa, row), first_row + start + r);
                    if q1 != q {
                        pushers[q1].offer(level.dot(qb, row), first_row + start + r);
                    }
                    r += 1;
                }
                q += 2;
            }
            start = end;
        }
    }

    /// Scores the queries against every row of a block through GEMM tiles and selects the
    /// top-k of each query from each small score block.
    fn gemm_batch(&self, chunk: RowChunk<'_>, tops: &mut [TopK], scratch: &mut Scratch) {
        let BatchJob {
            level,
            queries,
            dim,
            dead,
        } = *self;
        let RowChunk { first_row, rows } = chunk;
        let nq = tops.len();
        let n = rows.count(dim);
        let Scratch {
            rows: row_buf,
            scores,
        } = scratch;
        let mut start = 0;
        while start < n {
            let end = (start + GEMM_ROW_TILE).min(n);
            let tile = end - start;
            let block = rows_f32(level, rows, dim, start, end, row_buf);
            let mut q0 = 0;
            while q0 < nq {
                let qn = (nq - q0).min(GEMM_QUERY_BLOCK);
                scores.resize(qn * tile, 0.0);
                let lhs = &queries[q0 * dim..(q0 + qn) * dim];
                // SAFETY: every pointer covers the extent implied by its dimensions and strides:
                // dst is qn × tile row-major, lhs is qn × dim row-major, rhs is the transpose of
                // the tile × dim row-major block (element (kk, j) at j * dim + kk).
                unsafe {
                    gemm::gemm(
                        qn,
                        tile,
                        dim,
                        scores.as_mut_ptr(),
                        1,
                        tile as isize,
                        false,
                        lhs.as_ptr(),
                        1,
                        dim as isize,
                        block.as_ptr(),
                        dim as isize,
                        1,
                        0.0f32,
                        1.0f32,
                        false,
                        false,
                        false,
                        gemm::Parallelism::None,
                    );
                }
                for (qi, top) in tops[q0..q0 + qn].iter_mut().enumerate() {
                    let mut p = Pusher::new(top, dead);
                    select_row(
                        &scores[qi * tile..(qi + 1) * tile],
                        first_row + start,
                        &mut p,
                    );
                }
                q0 += qn;
            }
            start = end;
        }
    }
}

/// Offers one query's block of scores, skipping groups of 16 whose maximum cannot enter
/// (a vectorised max keeps the common case free of branches).
#[inline]
fn select_row(scores: &[f32], first: usize, p: &mut Pusher<'_>) {
    let mut groups = scores.chunks_exact(16);
    let mut base = first;
    for g in &mut groups {
        let mut m = [f32::NEG_INFINITY; 16];
        for (a, &b) in m.iter_mut().zip(g) {
            *a = if b > *a { b } else { *a };
        }
        let mx = m
            .iter()
            .fold(f32::NEG_INFINITY, |a, &b| if b > a { b } else { a });
        if mx >= p.threshold() {
            for (j, &s) in g.iter().enumerate() {
                p.offer(s, base + j);
            }
        }
        base += 16;
    }
    for (j, &s) in groups.remainder().iter().enumerate() {
        p.offer(s, base + j);
    }
}

/// Whether the CPU has AVX-512F and AVX-512DQ (checked once).
#[cfg(target_arch = "x86_64")]
fn avx512() -> bool {
    static HAS: std::sync::OnceLock<bool> = std::sync::OnceLock::new();
    *HAS.get_or_init(|| {
        std::arch::is_x86_feature_detected!("avx512f")
            && std::arch::is_x86_feature_detected!("avx512dq")
    })
}

#[inline]
fn block_2x4(level: SimdLevel, q: [&[f32]; 2], r: [&[f32]; 4], dim: usize) -> [f32; 8] {
    let mut out = [0.0f32; 8];
    match level {
        // SAFETY: `Avx2Fma` is only acted on when the CPU has the features.
        #[cfg(target_arch = "x86_64")]
        SimdLevel::Avx2Fma if SimdLevel::detect() == SimdLevel::Avx2Fma => unsafe {
            if avx512() {
                super::avx2::block_2x4_avx512(q, r, dim, &mut out)
            } else {
                super::avx2::block_2x4(q, r, dim, &mut out)
            }
        },
        _ => {
            for qi in 0..2 {
                for ri in 0..4 {
                    out[qi * 4 + ri] = level.dot(q[qi], r[ri]);
                }
            }
        }
    }
    out
}
