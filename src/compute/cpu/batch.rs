//! Multi-query kernels, none of which ever holds a full queries × rows score matrix:
//! - with AVX-512, a GEMM-style micro-kernel for every batch size: the queries are packed once
//!   into transposed panels of sixteen, and each step broadcasts one component of eight rows
//!   against a panel vector (eight rows × sixteen queries of scores in registers, no
//!   horizontal sums), offering the scores to each query's top-k as they come out — measured
//!   faster here than the `gemm` crate's tiles at every batch size;
//! - otherwise, a query-blocked SIMD kernel for small batches, and GEMM tiles (the `gemm`
//!   crate) with top-k selection from a small score block for large ones — as faiss does with
//!   BLAS.

use super::gemm::Threads;
use super::search::GEMM_MIN_QUERIES;
use super::{Pusher, RowChunk, Rows, SimdLevel};
use crate::compute::rows::RowMask;
use crate::compute::TopK;

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

/// Queries per panel of the panel kernel (one 512-bit vector of f32).
pub(crate) const PANEL: usize = 16;
/// Rows the panel kernel scores against every panel in turn: 384 KiB of f32 at 384
/// dimensions, held in L2 while each panel (pair) stays in L1.
const PANEL_ROW_BLOCK: usize = 256;

/// The queries packed for the panel kernel: panel `p` holds queries `16p..16p + 16`
/// transposed (`panels[p·dim·16 + k·16 + j]` = component `k` of query `16p + j`), the last
/// one zero-padded. `None` when the CPU has no AVX-512 (the other kernels are used).
pub(crate) fn pack_panels(level: SimdLevel, queries: &[f32], dim: usize) -> Option<Vec<f32>> {
    if !panel_kernel(level) || dim == 0 {
        return None;
    }
    let nq = queries.len() / dim;
    let mut packed = vec![0.0f32; nq.div_ceil(PANEL) * dim * PANEL];
    for (j, q) in queries.chunks_exact(dim).enumerate() {
        let panel = &mut packed[(j / PANEL) * dim * PANEL..(j / PANEL + 1) * dim * PANEL];
        for (k, &x) in q.iter().enumerate() {
            panel[k * PANEL + j % PANEL] = x;
        }
    }
    Some(packed)
}

/// Whether the panel kernel runs at this level on this CPU.
fn panel_kernel(level: SimdLevel) -> bool {
    level.wide()
}

/// What every block of a multi-query search shares: the queries and how to score them.
#[derive(Clone, Copy)]
pub(crate) struct BatchJob<'a> {
    pub(crate) level: SimdLevel,
    /// Normalised queries, row-major.
    pub(crate) queries: &'a [f32],
    pub(crate) dim: usize,
    pub(crate) dead: Option<&'a RowMask>,
    /// The id of each row of the block (hits carry ids, not rows), for concept lists.
    pub(crate) ids: Option<&'a [u64]>,
    /// The queries packed by [`pack_panels`], when the panel kernel runs.
    pub(crate) panels: Option<&'a [f32]>,
}

impl BatchJob<'_> {
    /// Scores the queries against one block of rows with the kernel suited to the CPU and the
    /// batch size.
    pub(crate) fn run(&self, chunk: RowChunk<'_>, tops: &mut [TopK], scratch: &mut Scratch) {
        if let Some(panels) = self.panels {
            self.panel_batch(panels, chunk, tops, scratch)
        } else if tops.len() < GEMM_MIN_QUERIES {
            self.small_batch(chunk, tops, scratch)
        } else {
            self.gemm_batch(chunk, tops, scratch)
        }
    }

    /// Scores the queries against every row of a block with the panel kernel: for each block
    /// of rows (kept in L1), every panel of sixteen queries, eight rows per kernel call.
    fn panel_batch(
        &self,
        panels: &[f32],
        chunk: RowChunk<'_>,
        tops: &mut [TopK],
        scratch: &mut Scratch,
    ) {
        let BatchJob {
            level,
            queries,
            dim,
            dead,
            ids,
            ..
        } = *self;
        let RowChunk { first_row, rows } = chunk;
        let nq = tops.len();
        let n = rows.count(dim);
        let mut pushers: Vec<Pusher<'_>> = tops
            .iter_mut()
            .map(|t| Pusher::with_ids(t, dead, ids))
            .collect();
        let mut out = [0.0f32; 8 * PANEL];
        let mut out2 = [0.0f32; 16 * PANEL];
        // Each query's threshold in one dense array, so a row's scores are checked against
        // all of them in a few vector compares.
        // Padded with +∞ to whole panels (the padding lanes never qualify).
        let mut thr: Vec<f32> = pushers.iter().map(Pusher::threshold).collect();
        thr.resize(nq.div_ceil(PANEL) * PANEL, f32::INFINITY);
        let mut start = 0;
        while start < n {
            let end = (start + PANEL_ROW_BLOCK).min(n);
            let block = rows_f32(level, rows, dim, start, end, &mut scratch.rows);
            let nrows = end - start;
            let all: Vec<&[f32]> = panels.chunks_exact(dim * PANEL).collect();
            // Pairs of full panels through the two-panel kernel.
            let pairs = nq / (2 * PANEL);
            for pair in 0..pairs {
                let q0 = pair * 2 * PANEL;
                let mut r = 0;
                while r + 8 <= nrows {
                    let rr: [&[f32]; 8] =
                        std::array::from_fn(|i| &block[(r + i) * dim..(r + i + 1) * dim]);
                    let th = &thr[q0..q0 + 2 * PANEL];
                    let flags =
                        block_8x32(rr, [all[2 * pair], all[2 * pair + 1]], th, dim, &mut out2);
                    let base = first_row + start + r;
                    offer_rows(&out2, flags, 2 * PANEL, q0, &mut pushers, &mut thr, base);
                    r += 8;
                }
                let tail = &block[r * dim..nrows * dim];
                let span = q0..q0 + 2 * PANEL;
                offer_dots(
                    level,
                    tail,
                    queries,
                    span,
                    &mut pushers,
                    &mut thr,
                    first_row + start + r,
                );
            }
            for (p, &panel) in all.iter().enumerate().skip(2 * pairs) {
                let q0 = p * PANEL;
                let width = (nq - q0).min(PANEL);
                let mut r = 0;
                while r + 8 <= nrows {
                    let rr: [&[f32]; 8] =
                        std::array::from_fn(|i| &block[(r + i) * dim..(r + i + 1) * dim]);
                    let flags = block_8x16(rr, panel, &thr[q0..q0 + PANEL], dim, &mut out);
                    let base = first_row + start + r;
                    offer_rows(
                        &out,
                        flags,
                        PANEL,
                        q0,
                        &mut pushers[..q0 + width],
                        &mut thr,
                        base,
                    );
                    r += 8;
                }
                let tail = &block[r * dim..nrows * dim];
                let span = q0..q0 + width;
                offer_dots(
                    level,
                    tail,
                    queries,
                    span,
                    &mut pushers,
                    &mut thr,
                    first_row + start + r,
                );
            }
            start = end;
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
            ids,
            ..
        } = *self;
        let RowChunk { first_row, rows } = chunk;
        let nq = tops.len();
        let n = rows.count(dim);
        let mut pushers: Vec<Pusher<'_>> = tops
            .iter_mut()
            .map(|t| Pusher::with_ids(t, dead, ids))
            .collect();
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
            ids,
            ..
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
                super::gemm::matmul_t(qn, tile, dim, lhs, block, scores, Threads::One);
                for (qi, top) in tops[q0..q0 + qn].iter_mut().enumerate() {
                    let mut p = Pusher::with_ids(top, dead, ids);
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

/// Offers each flagged row's scores (row `i`'s at `scores[i·stride..]`, one per query from
/// `q0` on, as many as `pushers` has past `q0`, at most `stride`) to those queries' top-k.
/// The kernel flagged the rows (bit `i`) with a score at or above its query's threshold in
/// `thr`; only those reach the pushers (after the first rows, almost none is flagged), and
/// `thr` follows the pushers' thresholds as they rise.
#[inline]
fn offer_rows(
    scores: &[f32],
    flags: u32,
    stride: usize,
    q0: usize,
    pushers: &mut [Pusher<'_>],
    thr: &mut [f32],
    base: usize,
) {
    let width = (pushers.len() - q0).min(stride);
    debug_assert!(width <= 64, "the entry mask holds 64 queries");
    let th = &mut thr[q0..q0 + width];
    let mut rest = flags;
    while rest != 0 {
        let i = rest.trailing_zeros() as usize;
        rest &= rest - 1;
        let row = &scores[i * stride..i * stride + width];
        // Which queries this row can enter, as a mask computed without branches (one vector
        // compare when it vectorises); then only those queries are visited.
        let mut enter = row
            .iter()
            .zip(th.iter())
            .enumerate()
            .fold(0u64, |m, (j, (&s, &t))| m | (u64::from(s >= t) << j));
        while enter != 0 {
            let j = enter.trailing_zeros() as usize;
            enter &= enter - 1;
            let p = &mut pushers[q0 + j];
            p.offer(row[j], base + i);
            th[j] = p.threshold();
        }
    }
}

/// Offers the dot products of a few `rows` (fewer than a kernel call takes; the first is row
/// `first`) with the queries `span` to their top-k, keeping `thr` current.
fn offer_dots(
    level: SimdLevel,
    rows: &[f32],
    queries: &[f32],
    span: std::ops::Range<usize>,
    pushers: &mut [Pusher<'_>],
    thr: &mut [f32],
    first: usize,
) {
    let dim = queries.len() / pushers.len().max(1);
    if dim == 0 {
        return;
    }
    for (i, row) in rows.chunks_exact(dim).enumerate() {
        for j in span.clone() {
            let p = &mut pushers[j];
            p.offer(level.dot(&queries[j * dim..(j + 1) * dim], row), first + i);
            thr[j] = p.threshold();
        }
    }
}

/// Portable scores and flags of the panel kernels (never reached: panels are only packed
/// with AVX-512); `out[r · 16·panels.len() + h · 16 + j]` is row `r` against query `j` of
/// panel `h`.
#[cfg(not(target_arch = "x86_64"))]
fn panels_portable(
    rows: [&[f32]; 8],
    panels: &[&[f32]],
    thr: &[f32],
    dim: usize,
    out: &mut [f32],
) -> u32 {
    let w = panels.len() * PANEL;
    let mut flags = 0;
    for (r, row) in rows.iter().enumerate() {
        for (h, panel) in panels.iter().enumerate() {
            for j in 0..PANEL {
                let s = (0..dim).map(|k| row[k] * panel[k * PANEL + j]).sum();
                out[r * w + h * PANEL + j] = s;
                if s >= thr[h * PANEL + j] {
                    flags |= 1 << r;
                }
            }
        }
    }
    flags
}

/// The panel kernel (`avx512::block_8x16`); only called when [`panel_kernel`] said yes.
///
/// # Panics
/// When a row is shorter than `dim`, the panel than `dim × 16` or `thr` than 16.
#[inline]
fn block_8x16(
    rows: [&[f32]; 8],
    panel: &[f32],
    thr: &[f32],
    dim: usize,
    out: &mut [f32; 8 * PANEL],
) -> u32 {
    assert!(
        rows.iter().all(|r| r.len() >= dim) && panel.len() >= dim * PANEL && thr.len() >= PANEL,
        "panel kernel: rows of {dim}, a panel of {} and {} thresholds are too short",
        panel.len(),
        thr.len()
    );
    #[cfg(target_arch = "x86_64")]
    // SAFETY: `pack_panels` returned panels only after `panel_kernel` saw the `Avx512` level
    // (AVX-512F, AVX2, FMA); the lengths were checked above.
    unsafe {
        super::avx512::block_8x16(rows, panel, thr, dim, out)
    }
    #[cfg(not(target_arch = "x86_64"))]
    {
        panels_portable(rows, &[panel], thr, dim, out)
    }
}

/// The two-panel kernel (`avx512::block_8x32`), under the same conditions as [`block_8x16`].
///
/// # Panics
/// When a row is shorter than `dim`, a panel than `dim × 16` or `thr` than 32.
#[inline]
fn block_8x32(
    rows: [&[f32]; 8],
    panels: [&[f32]; 2],
    thr: &[f32],
    dim: usize,
    out: &mut [f32; 16 * PANEL],
) -> u32 {
    assert!(
        rows.iter().all(|r| r.len() >= dim)
            && panels.iter().all(|p| p.len() >= dim * PANEL)
            && thr.len() >= 2 * PANEL,
        "two-panel kernel: rows of {dim}, panels or {} thresholds are too short",
        thr.len()
    );
    #[cfg(target_arch = "x86_64")]
    // SAFETY: as in `block_8x16`; the lengths were checked above.
    unsafe {
        super::avx512::block_8x32(rows, panels, thr, dim, out)
    }
    #[cfg(not(target_arch = "x86_64"))]
    {
        panels_portable(rows, &panels, thr, dim, out)
    }
}

/// Scores of two queries against four rows (`out[q * 4 + r]`).
///
/// # Panics
/// When a query or a row is shorter than `dim`.
#[inline]
fn block_2x4(level: SimdLevel, q: [&[f32]; 2], r: [&[f32]; 4], dim: usize) -> [f32; 8] {
    assert!(
        q.iter().chain(&r).all(|v| v.len() >= dim),
        "2×4 kernel: a query or row is shorter than {dim}"
    );
    let mut out = [0.0f32; 8];
    match level {
        // SAFETY: the x86-64 levels are only acted on when the CPU has the features; the
        // lengths were checked above.
        #[cfg(target_arch = "x86_64")]
        SimdLevel::Avx2Fma | SimdLevel::Avx512 if level.supported() => unsafe {
            super::avx2::block_2x4(q, r, dim, &mut out)
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

/// Thresholds that flag nothing (the arg-max does not use the kernels' flags).
const NO_FLAGS: [f32; 2 * PANEL] = [f32::INFINITY; 2 * PANEL];

/// The arg-max of every row of `rows` over `k` vectors packed by [`pack_panels`] (for k-means:
/// the centroids), scoring `x·c − bias[c]` when `bias` is given: `labels`, `best` and, if
/// asked, `second` (the second-best score, −∞ when `k = 1`). Ties keep the lowest index, as
/// the other assignment kernels do. Only called with panels (AVX-512).
#[allow(clippy::too_many_arguments)]
pub(crate) fn argmax_panels(
    level: SimdLevel,
    rows: &[f32],
    dim: usize,
    panels: &[f32],
    k: usize,
    bias: Option<&[f32]>,
    labels: &mut [u32],
    best: &mut [f32],
    mut second: Option<&mut [f32]>,
) {
    let n = labels.len();
    labels.fill(0);
    best.fill(f32::NEG_INFINITY);
    if let Some(s) = second.as_deref_mut() {
        s.fill(f32::NEG_INFINITY);
    }
    let all: Vec<&[f32]> = panels.chunks_exact(dim * PANEL).collect();
    let pairs = k / (2 * PANEL);
    let mut out = [0.0f32; 16 * PANEL];
    // Offers one row's scores for columns `c0..c0 + width`.
    let mut take = |i: usize, scores: &[f32], c0: usize, width: usize| {
        let (mut b, mut l) = (best[i], labels[i] as usize);
        let mut s2 = match second.as_deref() {
            Some(s) => s[i],
            None => f32::NEG_INFINITY,
        };
        for (j, &v) in scores[..width].iter().enumerate() {
            let v = match bias {
                Some(h) => v - h[c0 + j],
                None => v,
            };
            if v > b {
                s2 = b;
                b = v;
                l = c0 + j;
            } else if v > s2 {
                s2 = v;
            }
        }
        best[i] = b;
        labels[i] = l as u32;
        if let Some(s) = second.as_deref_mut() {
            s[i] = s2;
        }
    };
    let mut r = 0;
    while r + 8 <= n {
        let rr: [&[f32]; 8] = std::array::from_fn(|i| &rows[(r + i) * dim..(r + i + 1) * dim]);
        for p in 0..pairs {
            block_8x32(rr, [all[2 * p], all[2 * p + 1]], &NO_FLAGS, dim, &mut out);
            for i in 0..8 {
                take(
                    r + i,
                    &out[i * 2 * PANEL..(i + 1) * 2 * PANEL],
                    p * 2 * PANEL,
                    2 * PANEL,
                );
            }
        }
        for (p, &panel) in all.iter().enumerate().skip(2 * pairs) {
            let mut one = [0.0f32; 8 * PANEL];
            block_8x16(rr, panel, &NO_FLAGS[..PANEL], dim, &mut one);
            let c0 = p * PANEL;
            for i in 0..8 {
                take(
                    r + i,
                    &one[i * PANEL..(i + 1) * PANEL],
                    c0,
                    (k - c0).min(PANEL),
                );
            }
        }
        r += 8;
    }
    // The last rows, one dot product at a time (unpacked from the panels' columns).
    let mut col = vec![0.0f32; dim];
    let mut scores = vec![0.0f32; k];
    for i in r..n {
        let x = &rows[i * dim..(i + 1) * dim];
        for (c, s) in scores.iter_mut().enumerate() {
            let panel = all[c / PANEL];
            for (kk, v) in col.iter_mut().enumerate() {
                *v = panel[kk * PANEL + c % PANEL];
            }
            *s = level.dot(x, &col);
        }
        take(i, &scores, 0, k);
    }
}
