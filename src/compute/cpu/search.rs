//! Exact top-k search over chunked rows, split across threads with rayon above the kernels.

use rayon::prelude::*;

use super::batch::{pack_panels, BatchJob, Scratch, PANEL};
use super::{scan, Pusher, SimdLevel};
use crate::compute::rows::{RowChunk, RowMask};
use crate::compute::{Hit, TopK};

/// Without AVX-512, batches of at least this many queries go through GEMM tiles, smaller ones
/// through the query-blocked kernel (with AVX-512 the panel kernel takes every batch).
pub const GEMM_MIN_QUERIES: usize = 96;

/// Batches of at least this many queries are split by queries across threads (each thread
/// scans every row for its share of the queries) rather than by rows: each query then has one
/// selection over all rows instead of one per thread, which matters when `k` is large (every
/// fresh selection admits about `k·(1 + ln(rows/k))` hits). Below it, a thread's share would
/// be too few queries to reuse each row read from memory.
pub const QUERY_SPLIT_MIN: usize = 256;

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
    let threads = rayon::current_num_threads().max(1);
    if nq >= QUERY_SPLIT_MIN && threads > 1 {
        return by_query_groups(level, &tasks, dim, queries, k, dead, threads);
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
    // One selection per thread, not per rayon split: each fresh selection fills from an empty
    // threshold (most of a block's rows enter until k are held) and allocates its buffers, so
    // with a large k more of them cost more than the dot products.
    let per_thread = tasks.len().div_ceil(threads).max(1);
    let tops = tasks
        .par_chunks(per_thread)
        .map(|group| {
            let mut tops = new_tops();
            let mut scratch = Scratch::default();
            for t in group {
                if nq == 1 {
                    let mut p = Pusher::new(&mut tops[0], dead);
                    scan(level, queries, t.rows, dim, t.first_row, &mut p);
                } else {
                    job.run(*t, &mut tops, &mut scratch);
                }
            }
            tops
        })
        .reduce(new_tops, |mut a, b| {
            for (x, y) in a.iter_mut().zip(b) {
                x.merge(y);
            }
            a
        });
    tops.into_iter().map(TopK::into_sorted_vec).collect()
}

/// [`search`] for a large batch: the queries in one contiguous group per thread (whole panels
/// of the panel kernel), each group scanning every row block in order with one selection per
/// query.
fn by_query_groups(
    level: SimdLevel,
    tasks: &[RowChunk<'_>],
    dim: usize,
    queries: &[f32],
    k: usize,
    dead: Option<&RowMask>,
    threads: usize,
) -> Vec<Vec<Hit>> {
    let nq = queries.len() / dim;
    let group = nq.div_ceil(threads).next_multiple_of(PANEL);
    queries
        .par_chunks(group * dim)
        .flat_map_iter(|qs| {
            let packed = pack_panels(level, qs, dim);
            let job = BatchJob {
                level,
                queries: qs,
                dim,
                dead,
                panels: packed.as_deref(),
            };
            let mut tops = vec![TopK::new(k); qs.len() / dim];
            let mut scratch = Scratch::default();
            for t in tasks {
                job.run(*t, &mut tops, &mut scratch);
            }
            tops.into_iter().map(TopK::into_sorted_vec)
        })
        .collect()
}
