//! GPU top-k search against an independent f64 reference.

mod common;

use common::gpu::*;
use engram::compute::gpu::{
    search, uses_tiled_kernel, GpuContext, GpuLayout, GpuMatrix, K_TILED_MAX,
};
use std::time::Instant;

/// Runs `search` and checks every query against the reference.
#[allow(clippy::too_many_arguments)]
fn run_case(
    ctx: &GpuContext,
    m: &GpuMatrix,
    rows: &[f32],
    dim: usize,
    dead: &[bool],
    queries: &[f32],
    k: usize,
    layout: GpuLayout,
) {
    let t = Instant::now();
    let got = search(ctx, m, queries, k).expect("gpu search");
    let secs = t.elapsed().as_secs_f64();
    let nq = queries.len() / dim;
    assert_eq!(got.len(), nq);
    let id_rows = match layout {
        GpuLayout::F32 => rows.to_vec(),
        GpuLayout::F16 => round_f16(rows),
    };
    let (rel, abs) = match layout {
        GpuLayout::F32 => (1e-5, 1e-6),
        GpuLayout::F16 => (0.0, 2e-3),
    };
    let mut ties = 0;
    for (qi, hits) in got.iter().enumerate() {
        let q = &queries[qi * dim..(qi + 1) * dim];
        let want = reference(&id_rows, dim, dead, q, k);
        ties += check_hits(hits, &want, &id_rows, rows, dim, q, rel, abs);
        for h in hits {
            assert!(
                !dead.get(h.id as usize).copied().unwrap_or(false),
                "dead row returned"
            );
        }
    }
    eprintln!(
        "{layout:?} n={} dim={dim} nq={nq} k={k} chunks={}: {secs:.3}s, {ties} near-ties",
        m.len(),
        m.chunk_count()
    );
}

#[test]
fn random_batches_f32() {
    let Some(ctx) = gpu() else { return };
    let (n, dim) = (3000, 64);
    let rows = random_unit(n, dim, 1);
    let m = GpuMatrix::from_rows(ctx, dim, GpuLayout::F32, &rows).expect("upload");
    for nq in [1, 7, 64] {
        let q = random_unit(nq, dim, 100 + nq as u64);
        run_case(ctx, &m, &rows, dim, &[], &q, 10, GpuLayout::F32);
    }
    let q = random_unit(7, dim, 5);
    run_case(ctx, &m, &rows, dim, &[], &q, 128, GpuLayout::F32);
}

#[test]
fn chunked_odd_dim_all_k_with_dead_rows() {
    let Some(ctx) = gpu_tiny() else { return };
    let (n, dim) = (1700, 37);
    let rows = random_unit(n, dim, 2);
    for layout in [GpuLayout::F32, GpuLayout::F16] {
        // Appended in uneven pieces so appends and chunk boundaries interleave.
        let mut m = GpuMatrix::new(ctx, dim, layout).expect("matrix");
        let mut start = 0;
        for piece in [1, 150, 333, 1216] {
            m.append(ctx, &rows[start * dim..(start + piece) * dim])
                .expect("append");
            start += piece;
        }
        assert_eq!(m.len(), n);
        assert!(
            m.chunk_count() > 5,
            "expected many chunks, got {}",
            m.chunk_count()
        );
        let mut dead = vec![false; n];
        for r in (0..n).step_by(7).chain([0, n - 1, m.rows_per_chunk()]) {
            m.set_dead(ctx, r).expect("set_dead");
            dead[r] = true;
        }
        let live = dead.iter().filter(|d| !**d).count();
        assert_eq!(m.live(), live);
        let q1 = random_unit(1, dim, 20);
        let q7 = random_unit(7, dim, 21);
        for k in [1, 33, 1100, live, live + 50] {
            run_case(ctx, &m, &rows, dim, &dead, &q1, k, layout);
        }
        run_case(ctx, &m, &rows, dim, &dead, &q7, 10, layout);
    }
}

#[test]
fn lexicon_ties_and_large_k() {
    let Some(ctx) = gpu() else { return };
    let Some(rows) = lexicon() else {
        eprintln!("SKIPPED: lexicon vectors absent");
        return;
    };
    let dim = 384;
    let n = rows.len() / dim;
    // Find identical rows: queries equal to them must rank the copies by ascending id.
    let mut seen = std::collections::HashMap::new();
    let mut dups = Vec::new();
    for (i, r) in rows.chunks_exact(dim).enumerate() {
        let key: Vec<u32> = r.iter().map(|x| x.to_bits()).collect();
        if let Some(&j) = seen.get(&key) {
            dups.push((j, i));
        } else {
            seen.insert(key, i);
        }
    }
    assert!(!dups.is_empty(), "the lexicon has identical rows");
    let mut qrows = vec![dups[0].0, dups[0].1, 17, 4242, 9999, 123, 5000];
    qrows.truncate(7);
    let q: Vec<f32> = qrows
        .iter()
        .flat_map(|&r| rows[r * dim..(r + 1) * dim].iter().copied())
        .collect();
    let m = GpuMatrix::from_rows(ctx, dim, GpuLayout::F32, &rows).expect("upload");
    run_case(ctx, &m, &rows, dim, &[], &q, 10, GpuLayout::F32);
    let got = search(ctx, &m, &q[..dim], 4).expect("search");
    let ids: Vec<u64> = got[0].iter().map(|h| h.id).collect();
    let (a, b) = dups[0];
    let pa = ids.iter().position(|&x| x == a as u64).expect("copy a");
    let pb = ids.iter().position(|&x| x == b as u64).expect("copy b");
    assert!(
        pa < pb,
        "identical rows must come out by ascending id: {ids:?}"
    );
    assert_eq!(got[0][pa].score, got[0][pb].score);
    run_case(ctx, &m, &rows, dim, &[], &q[..dim], 1500, GpuLayout::F32);
    let mf16 = GpuMatrix::from_rows(ctx, dim, GpuLayout::F16, &rows).expect("upload f16");
    run_case(ctx, &mf16, &rows, dim, &[], &q, 10, GpuLayout::F16);
    assert_eq!(m.len(), n);
}

#[test]
fn empty_inputs_and_zero_k() {
    let Some(ctx) = gpu() else { return };
    let dim = 8;
    let m = GpuMatrix::new(ctx, dim, GpuLayout::F32).expect("matrix");
    let q = random_unit(2, dim, 3);
    assert_eq!(search(ctx, &m, &q, 5).expect("empty"), vec![vec![], vec![]]);
    let m = GpuMatrix::from_rows(ctx, dim, GpuLayout::F32, &random_unit(10, dim, 4)).expect("m");
    assert_eq!(search(ctx, &m, &q, 0).expect("k=0"), vec![vec![], vec![]]);
    assert!(
        search(ctx, &m, &q[..5], 1).is_err(),
        "ragged queries are an error"
    );
}

/// Rows with exact duplicates far apart (row 5 copied to 1999 and `n - 1`), so ties must come
/// out by ascending id across row blocks and chunks.
fn rows_with_copies(n: usize, dim: usize, seed: u64) -> Vec<f32> {
    let mut rows = random_unit(n, dim, seed);
    let r5: Vec<f32> = rows[5 * dim..6 * dim].to_vec();
    for r in [1999, n - 1] {
        rows[r * dim..(r + 1) * dim].copy_from_slice(&r5);
    }
    rows
}

/// `nq` random queries, the first of which is row 5 (so it has three exact ties).
fn queries_with_copy(rows: &[f32], dim: usize, nq: usize, seed: u64) -> Vec<f32> {
    let mut q = random_unit(nq, dim, seed);
    q[..dim].copy_from_slice(&rows[5 * dim..6 * dim]);
    q
}

fn check_copies_first(ctx: &GpuContext, m: &GpuMatrix, q: &[f32], n: usize, dead: &[bool]) {
    let dim = m.dim();
    let got = search(ctx, m, q, 3).expect("search");
    let want: Vec<u64> = [5, 1999, n - 1]
        .into_iter()
        .filter(|&r| !dead[r])
        .map(|r| r as u64)
        .collect();
    let ids: Vec<u64> = got[0].iter().take(want.len()).map(|h| h.id).collect();
    assert_eq!(ids, want, "identical rows must come out by ascending id");
    assert!(got[0]
        .windows(2)
        .take(want.len() - 1)
        .all(|w| w[0].score == w[1].score));
    assert_eq!(q.len() / dim, got.len());
}

#[test]
fn tiled_batches_f32_f16_dead_rows() {
    let Some(ctx) = gpu() else { return };
    let t = Instant::now();
    let n = 3000;
    for (dim, layout) in [(64, GpuLayout::F32), (37, GpuLayout::F16)] {
        let rows = rows_with_copies(n, dim, 7);
        let mut m = GpuMatrix::from_rows(ctx, dim, layout, &rows).expect("upload");
        let mut dead = vec![false; n];
        for r in (3..n).step_by(11).chain([1999]) {
            m.set_dead(ctx, r).expect("set_dead");
            dead[r] = true;
        }
        for nq in [16, 33, 100] {
            let q = queries_with_copy(&rows, dim, nq, 300 + nq as u64);
            for k in [1, 10, K_TILED_MAX] {
                assert!(
                    uses_tiled_kernel(ctx, dim, nq, k),
                    "nq={nq} k={k} not tiled"
                );
                run_case(ctx, &m, &rows, dim, &dead, &q, k, layout);
            }
            check_copies_first(ctx, &m, &q, n, &dead);
        }
        // Below the batch threshold and above K_TILED_MAX the other kernel serves; same answers.
        let q = queries_with_copy(&rows, dim, 16, 9);
        assert!(!uses_tiled_kernel(ctx, dim, 15, 10));
        assert!(!uses_tiled_kernel(ctx, dim, 16, K_TILED_MAX + 1));
        run_case(ctx, &m, &rows, dim, &dead, &q, K_TILED_MAX + 1, layout);
    }
    eprintln!(
        "tiled_batches_f32_f16_dead_rows: {:.2}s",
        t.elapsed().as_secs_f64()
    );
}

#[test]
fn tiled_chunked_odd_dim() {
    let Some(ctx) = gpu_tiny() else { return };
    let t = Instant::now();
    let (n, dim) = (3000, 37);
    let rows = rows_with_copies(n, dim, 8);
    for layout in [GpuLayout::F32, GpuLayout::F16] {
        let mut m = GpuMatrix::new(ctx, dim, layout).expect("matrix");
        for piece in rows.chunks(977 * dim) {
            m.append(ctx, piece).expect("append");
        }
        assert!(m.chunk_count() > 10, "chunks: {}", m.chunk_count());
        let mut dead = vec![false; n];
        for r in (0..n).step_by(13).chain([m.rows_per_chunk(), n - 2]) {
            m.set_dead(ctx, r).expect("set_dead");
            dead[r] = true;
        }
        for (nq, k) in [(16, 1), (33, 10), (33, K_TILED_MAX), (100, 10)] {
            let q = queries_with_copy(&rows, dim, nq, 400 + nq as u64);
            assert!(
                uses_tiled_kernel(ctx, dim, nq, k),
                "nq={nq} k={k} not tiled"
            );
            run_case(ctx, &m, &rows, dim, &dead, &q, k, layout);
            if k == 10 {
                check_copies_first(ctx, &m, &q, n, &dead);
            }
        }
    }
    eprintln!("tiled_chunked_odd_dim: {:.2}s", t.elapsed().as_secs_f64());
}
