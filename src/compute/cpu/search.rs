//! Exact top-k search over chunked rows, split across threads with rayon above the kernels.

use parking_lot::Mutex;
use rayon::prelude::*;

use super::batch::{pack_panels, BatchJob, Scratch, PANEL};
use super::{scan, Pusher, SimdLevel};
use crate::compute::rows::{RowChunk, RowMask, Rows};
use crate::compute::{Hit, TopK};

/// Without AVX-512, batches of at least this many queries go through GEMM tiles, smaller ones
/// through the query-blocked kernel (with AVX-512 the panel kernel takes every batch).
pub const GEMM_MIN_QUERIES: usize = 96;

/// Batches with at least this many queries per thread are split by queries across threads
/// (groups of at least this many queries each scan every row) rather than by rows: each query
/// then has one selection over all rows instead of one per thread, which matters when `k` is
/// large (every fresh selection admits about `k·(1 + ln(rows/k))` hits). Below it, a group
/// would be too few queries to reuse each row read from memory (and, without AVX-512, fewer
/// than the GEMM path takes: 96 queries).
pub const QUERY_SPLIT_MIN: usize = 128;

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
    if threads > 1 && nq >= threads * QUERY_SPLIT_MIN {
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
        ids: None,
        panels: packed.as_deref(),
    };
    // One selection per thread, not per rayon split: each fresh selection fills from an empty
    // threshold (most of a block's rows enter until k are held) and allocates its buffers, so
    // with a large k more of them cost more than the dot products.
    let run = |t: &RowChunk<'_>, (tops, scratch): &mut Slot| {
        if nq == 1 {
            let mut p = Pusher::new(&mut tops[0], dead);
            scan(level, queries, t.rows, dim, t.first_row, &mut p);
        } else {
            job.run(*t, tops, scratch);
        }
    };
    let tops = per_thread(&tasks, || (new_tops(), Scratch::default()), run)
        .into_iter()
        .map(|(tops, _)| tops)
        .reduce(|mut a, b| {
            for (x, y) in a.iter_mut().zip(b) {
                x.merge(y);
            }
            a
        })
        .unwrap_or_else(new_tops);
    tops.into_iter().map(TopK::into_sorted_vec).collect()
}

/// One thread's selections (one per query) and kernel buffers in a row-split search.
type Slot = (Vec<TopK>, Scratch);

/// Runs `run` over every task in parallel (rayon), with one state per thread rather than
/// per task, and returns the states. The tasks stay small units that idle threads steal (a
/// static split waits for the slowest thread); each thread works in its own slot (never
/// contended: one thread per slot). A task that finds every slot held (only if a kernel ever
/// waited inside rayon and its thread stole another task meanwhile) gets a state of its own:
/// never a deadlock. A single task runs on the calling thread.
pub(crate) fn per_thread<T: Sync, S: Send>(
    tasks: &[T],
    new_state: impl Fn() -> S + Sync,
    run: impl Fn(&T, &mut S) + Sync,
) -> Vec<S> {
    // One task (a small search): on this thread, without a trip through the pool.
    if let [t] = tasks {
        let mut s = new_state();
        run(t, &mut s);
        return vec![s];
    }
    let threads = rayon::current_num_threads().max(1);
    let slots: Vec<Mutex<Option<S>>> = (0..threads).map(|_| Mutex::new(None)).collect();
    let extra: Mutex<Vec<S>> = Mutex::new(Vec::new());
    tasks.par_iter().for_each(|t| {
        let own = rayon::current_thread_index().unwrap_or(0);
        let free = (0..threads).find_map(|i| slots[(own + i) % threads].try_lock());
        match free {
            Some(mut guard) => run(t, guard.get_or_insert_with(&new_state)),
            None => {
                let mut s = new_state();
                run(t, &mut s);
                extra.lock().push(s);
            }
        }
    });
    slots
        .into_iter()
        .filter_map(Mutex::into_inner)
        .chain(extra.into_inner())
        .collect()
}

/// [`search`] for a large batch: the queries in one contiguous group per thread (whole panels
/// of the panel kernel), each group scanning every row block in order with one selection per
/// query. (Several groups per thread would let idle threads steal, but each group reads every
/// row: measured slower at 200,000 rows with four.)
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
    let group = nq
        .div_ceil(threads)
        .next_multiple_of(PANEL)
        .max(QUERY_SPLIT_MIN);
    queries
        .par_chunks(group * dim)
        .flat_map_iter(|qs| {
            let packed = pack_panels(level, qs, dim);
            let job = BatchJob {
                level,
                queries: qs,
                dim,
                dead,
                ids: None,
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

/// A block of rows with the id of each row, scanned by a subset of a batch's queries (an
/// inverted list and the queries that probe it).
#[derive(Debug, Clone)]
pub(crate) struct IdBlock<'a> {
    /// The rows.
    pub(crate) rows: Rows<'a>,
    /// The id of each row (hits carry these).
    pub(crate) ids: &'a [u64],
    /// The queries (indices into the batch) that scan it, ascending.
    pub(crate) queries: Vec<u32>,
}

/// Rows of one task of [`search_blocks`] (a larger block is split).
const BLOCK_TASK_ROWS: usize = 2_048;

/// Top-`k` of every query over the blocks it scans: each block is read once for all its
/// queries, which are scored together by the batch kernels (the panel kernel with AVX-512,
/// else the small-batch or GEMM kernels; one query: the fused scan). Returns one
/// [`TopK::unique`] per query (an id may appear in several blocks: its best score is kept).
pub(crate) fn search_blocks(
    level: SimdLevel,
    queries: &[f32],
    dim: usize,
    blocks: &[IdBlock<'_>],
    k: usize,
) -> Vec<TopK> {
    let nq = queries.len().checked_div(dim).unwrap_or(0);
    let new_tops = || vec![TopK::unique(k); nq];
    if nq == 0 || k == 0 {
        return new_tops();
    }
    let mut tasks: Vec<(Rows<'_>, &[u64], &[u32])> = Vec::new();
    for b in blocks.iter().filter(|b| !b.queries.is_empty()) {
        let n = b.ids.len().min(b.rows.count(dim));
        let mut s = 0;
        while s < n {
            let e = (s + BLOCK_TASK_ROWS).min(n);
            tasks.push((b.rows.slice(dim, s, e), &b.ids[s..e], &b.queries));
            s = e;
        }
    }
    // Largest first, so that the last tasks to run are short.
    tasks.sort_by_key(|(_, ids, qs)| std::cmp::Reverse(ids.len() * qs.len()));
    type State = (Vec<TopK>, Scratch, Vec<f32>, Vec<TopK>);
    let run = |&(rows, ids, qs): &(Rows<'_>, &[u64], &[u32]), st: &mut State| {
        let (tops, scratch, qbuf, sub) = st;
        if let [j] = qs {
            let j = *j as usize;
            let mut p = Pusher::with_ids(&mut tops[j], None, Some(ids));
            scan(
                level,
                &queries[j * dim..(j + 1) * dim],
                rows,
                dim,
                0,
                &mut p,
            );
            return;
        }
        qbuf.clear();
        sub.clear();
        for &j in qs {
            let j = j as usize;
            qbuf.extend_from_slice(&queries[j * dim..(j + 1) * dim]);
            sub.push(std::mem::take(&mut tops[j]));
        }
        let packed = pack_panels(level, qbuf, dim);
        let job = BatchJob {
            level,
            queries: qbuf,
            dim,
            dead: None,
            ids: Some(ids),
            panels: packed.as_deref(),
        };
        job.run(RowChunk { first_row: 0, rows }, sub, scratch);
        for (&j, t) in qs.iter().zip(sub.drain(..)) {
            tops[j as usize] = t;
        }
    };
    let new_state = || (new_tops(), Scratch::default(), Vec::new(), Vec::new());
    per_thread(&tasks, new_state, run)
        .into_iter()
        .map(|(tops, ..)| tops)
        .reduce(|mut a, b| {
            for (x, y) in a.iter_mut().zip(b) {
                x.merge(y);
            }
            a
        })
        .unwrap_or_else(new_tops)
}
