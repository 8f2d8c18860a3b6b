//! GPU k-means steps against a CPU reference written here.

mod common;

use common::gpu::*;
use engram::compute::gpu::{
    kmeans_assign, kmeans_assign_top2, kmeans_partial_sums, GpuContext, GpuLayout, GpuMatrix,
};

/// Reference second-best score of each row (any centroid but `label`), −∞ when k = 1.
fn ref_second(rows: &[f32], dim: usize, cents: &[f32], labels: &[u32]) -> Vec<f64> {
    rows.chunks_exact(dim)
        .zip(labels)
        .map(|(r, &l)| {
            cents
                .chunks_exact(dim)
                .enumerate()
                .filter(|&(c, _)| c as u32 != l)
                .map(|(_, cv)| dot64(r, cv))
                .fold(f64::NEG_INFINITY, f64::max)
        })
        .collect()
}

/// Reference assignment: (label, score) with ties to the lowest centroid index.
fn ref_assign(rows: &[f32], dim: usize, cents: &[f32]) -> Vec<(u32, f64)> {
    rows.chunks_exact(dim)
        .map(|r| {
            let mut best = (u32::MAX, f64::NEG_INFINITY);
            for (c, cv) in cents.chunks_exact(dim).enumerate() {
                let s = dot64(r, cv);
                if s > best.1 {
                    best = (c as u32, s);
                }
            }
            best
        })
        .collect()
}

fn check(ctx: &GpuContext, rows: &[f32], dim: usize, k: usize, layout: GpuLayout, dead: &[usize]) {
    let n = rows.len() / dim;
    let mut m = GpuMatrix::from_rows(ctx, dim, layout, rows).expect("upload");
    for &r in dead {
        m.set_dead(ctx, r).expect("dead");
    }
    let stored = match layout {
        GpuLayout::F32 => rows.to_vec(),
        GpuLayout::F16 => round_f16(rows),
    };
    // Centroids: every (n / k)-th row, so some rows tie exactly with their own centroid.
    let cents: Vec<f32> = (0..k)
        .flat_map(|c| rows[c * (n / k) * dim..][..dim].iter().copied())
        .collect();
    let t = std::time::Instant::now();
    let (labels, scores) = kmeans_assign(ctx, &m, &cents, k).expect("assign");
    let t_assign = t.elapsed().as_secs_f64();
    let want = ref_assign(&stored, dim, &cents);
    let mut ties = 0;
    for r in 0..n {
        if dead.contains(&r) {
            assert_eq!(labels[r], u32::MAX);
            assert_eq!(scores[r], f32::NEG_INFINITY);
            continue;
        }
        let (wl, ws) = want[r];
        if labels[r] != wl {
            let s = dot64(
                &stored[r * dim..][..dim],
                &cents[labels[r] as usize * dim..][..dim],
            );
            assert!(
                (s - ws).abs() < 1e-6,
                "row {r}: gpu label {} vs {wl}",
                labels[r]
            );
            ties += 1;
        }
        assert!(
            (f64::from(scores[r]) - ws).abs() < 1e-5,
            "row {r}: score {} vs {ws}",
            scores[r]
        );
    }
    // The top-2 pass: the same labels and scores, and each row's second-best score.
    let top2 = kmeans_assign_top2(ctx, &m, &cents, k).expect("assign top2");
    assert_eq!(top2.labels, labels);
    assert_eq!(top2.scores, scores);
    let want2 = ref_second(&stored, dim, &cents, &labels);
    for (r, (&got, want)) in top2.second.iter().zip(&want2).enumerate() {
        if dead.contains(&r) {
            assert_eq!(got, f32::NEG_INFINITY);
            continue;
        }
        if want.is_infinite() {
            assert_eq!(f64::from(got), *want, "row {r}: second {got} vs {want}");
        } else {
            assert!(
                (f64::from(got) - want).abs() < 1e-5,
                "row {r}: second {got} vs {want}"
            );
        }
    }
    let t = std::time::Instant::now();
    let (sums, counts) = kmeans_partial_sums(ctx, &m, &labels, k).expect("sums");
    let t_sums = t.elapsed().as_secs_f64();
    let mut rs = vec![0f64; k * dim];
    let mut rc = vec![0u32; k];
    for r in 0..n {
        if dead.contains(&r) {
            continue;
        }
        let l = labels[r] as usize;
        rc[l] += 1;
        for d in 0..dim {
            rs[l * dim + d] += f64::from(stored[r * dim + d]);
        }
    }
    assert_eq!(counts, rc);
    for (i, (g, w)) in sums.iter().zip(&rs).enumerate() {
        assert!(
            (f64::from(*g) - w).abs() <= 1e-4 * w.abs().max(1.0),
            "sum {i}: gpu {g} vs {w}"
        );
    }
    // Deterministic: the same call gives bit-identical sums.
    let (again, _) = kmeans_partial_sums(ctx, &m, &labels, k).expect("sums again");
    assert!(sums
        .iter()
        .zip(&again)
        .all(|(a, b)| a.to_bits() == b.to_bits()));
    eprintln!(
        "{layout:?} n={n} dim={dim} k={k} chunks={}: assign {t_assign:.3}s, sums {t_sums:.3}s, \
         {ties} exact ties",
        m.chunk_count()
    );
}

#[test]
fn random_chunked_odd_dim() {
    let Some(ctx) = gpu_tiny() else { return };
    let (n, dim) = (1500, 37);
    let rows = random_unit(n, dim, 7);
    let dead = [0, 3, 500, 1499];
    check(ctx, &rows, dim, 13, GpuLayout::F32, &dead);
    check(ctx, &rows, dim, 13, GpuLayout::F16, &dead);
    // One centroid: no second best.
    check(ctx, &rows[..200 * dim], dim, 1, GpuLayout::F16, &[3]);
    // More centroids than fit one binding: assignment continues across centroid blocks.
    check(ctx, &rows[..300 * dim], dim, 150, GpuLayout::F32, &[]);
}

#[test]
fn lexicon_assign_and_sums() {
    let Some(ctx) = gpu() else { return };
    let Some(rows) = lexicon() else {
        eprintln!("SKIPPED: lexicon vectors absent");
        return;
    };
    check(ctx, &rows, 384, 50, GpuLayout::F32, &[1, 2, 9999]);
}

/// Gathering rows on the device gives the matrix an upload of the same rows gives (compared
/// through the assignment kernel, bit for bit), across chunks, in both layouts, without
/// uploading a row; a dead or out-of-range index is a typed error.
#[test]
fn gather_copies_rows_on_the_device() {
    let Some(ctx) = gpu_tiny_own() else { return };
    let ctx = &ctx;
    let (n, dim, k) = (900, 37, 9);
    let rows = random_unit(n, dim, 11);
    let cents = random_unit(k, dim, 12);
    // Out of order, repeated, spanning every chunk (16 KiB bindings: ~110 rows per chunk).
    let index: Vec<u32> = (0..700u32).map(|i| (i * 7919 + 13) % n as u32).collect();
    let host: Vec<f32> = index
        .iter()
        .flat_map(|&r| rows[r as usize * dim..][..dim].iter().copied())
        .collect();
    for layout in [GpuLayout::F32, GpuLayout::F16] {
        let mut m = GpuMatrix::from_rows(ctx, dim, layout, &rows).expect("upload");
        assert!(m.chunk_count() >= 4, "the test must span chunks");
        let before = ctx.rows_uploaded();
        let g = m.gather(ctx, &index).expect("gather");
        assert_eq!(ctx.rows_uploaded(), before, "a gather uploads no row");
        assert_eq!((g.len(), g.live(), g.dim()), (700, 700, dim));
        let direct = GpuMatrix::from_rows(ctx, dim, layout, &host).expect("upload");
        assert_eq!(ctx.rows_uploaded(), before + 700);
        let a = kmeans_assign_top2(ctx, &g, &cents, k).expect("assign gathered");
        let b = kmeans_assign_top2(ctx, &direct, &cents, k).expect("assign uploaded");
        assert_eq!(a, b, "{layout:?}: gathered rows differ from uploaded ones");
        let (sa, ca) = kmeans_partial_sums(ctx, &g, &a.labels, k).expect("sums");
        let (sb, cb) = kmeans_partial_sums(ctx, &direct, &b.labels, k).expect("sums");
        assert_eq!((sa, ca), (sb, cb));
        // Nothing gathered is a valid empty matrix.
        assert!(m.gather(ctx, &[]).expect("empty gather").is_empty());
        // A dead row or one out of range is refused.
        m.set_dead(ctx, 5).expect("dead");
        assert!(m.gather(ctx, &[1, 5]).is_err());
        assert!(m.gather(ctx, &[n as u32]).is_err());
    }
}
