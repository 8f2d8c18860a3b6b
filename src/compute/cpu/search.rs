//! Exact top-k search over chunked rows, split across threads with rayon above the kernels.

use rayon::prelude::*;

use super::batch::{pack_panels, BatchJob, Scratch};
use super::{scan, Pusher, SimdLevel};
use crate::compute::rows::{RowChunk, RowMask};
use crate::compute::{Hit, TopK};

/// Without AVX-512, batches of at least this many queries go through GEMM tiles, smaller ones
/// through the query-blocked kernel (with AVX-512 the panel kernel takes every batch).
pub const GEMM_MIN_QUERIES: usize = 96;

/// Exact top-`k` of every query (row-major, `dim` components each) over the rows of
/// `chunks`, skipping rows marked in `dead`. Hits carry global row indices and are ordered by
/// score descending, then row ascending. `k` larger than the rows returns all rows.
pub fn search(
    level: SimdLevel,
    chunks: &[RowChunk<'_>],
    dim: usize,
    queries: &[f32],
    k: usize,
    dead: Option<&RowMask>,
) -> Vec<Vec<Hit>> {
    let nq = queries.len().checked_div(dim).unwrap_or(0);
    if nq == 0 || k == 0 {
        return vec![Vec::new(); nq];
    }
    // Rows per rayon task: large for the bandwidth-bound scan (but small enough that a small
    // store still spreads over every thread), one GEMM tile for batches.
    let task_rows = if nq == 1 {
        let total: usize = chunks.iter().map(|c| c.rows.count(dim)).sum();
        total
            .div_ceil(rayon::current_num_threads().max(1))
            .clamp(1_024, 16_384)
    } else {
        2_048
    };
    let mut tasks = Vec::new();
    for c in chunks {
        let n = c.rows.count(dim);
        let mut s = 0;
        while s < n {
            let e = (s + task_rows).min(n);
            tasks.push(RowChunk {
                first_row: c.first_row + s,
                rows: c.rows.slice(dim, s, e),
            });
            s = e;
        }
    }
    let new_tops = || vec![TopK::new(k); nq];
    let packed = if nq > 1 {
        pack_panels(level, queries, dim)
    } else {
        None
    };
    let job = BatchJob {
        level,
        queries,
        dim,
        dead,
        panels: packed.as_deref(),
    };
    let tops = tasks
        .par_iter()
        .fold(
            || (new_tops(), Scratch::default()),
            |(mut tops, mut scratch), t| {
                if nq == 1 {
                    let mut p = Pusher::new(&mut tops[0], dead);
                    scan(level, queries, t.rows, dim, t.first_row, &mut p);
                } else {
                    job.run(*t, &mut tops, &mut scratch);
                }
                (tops, scratch)
            },
        )
        .map(|(tops, _)| tops)
        .reduce(new_tops, |mut a, b| {
            for (x, y) in a.iter_mut().zip(b) {
                x.merge(y);
            }
            a
        });
    tops.into_iter().map(TopK::into_sorted_vec).collect()
}
