//! GPU k-means steps against a CPU reference written here.

mod common;

use common::gpu::*;
use engram::compute::gpu::{kmeans_assign, kmeans_partial_sums, GpuContext, GpuLayout, GpuMatrix};

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
