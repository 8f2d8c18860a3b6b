//! Shared helpers of the integration tests: data loading and independent references.
#![allow(dead_code)]

pub mod gpu;

use std::path::PathBuf;

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

/// The repository's own `data/`, or `ENGRAM_DATA_DIR`.
pub fn data_dir() -> PathBuf {
    match std::env::var_os("ENGRAM_DATA_DIR") {
        Some(d) if !d.is_empty() => PathBuf::from(d),
        _ => PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("data"),
    }
}

/// Reads a raw little-endian f32 file.
pub fn read_f32(rel: &str) -> Vec<f32> {
    let p = data_dir().join(rel);
    let bytes = std::fs::read(&p).unwrap_or_else(|e| panic!("cannot read {}: {e}", p.display()));
    bytes
        .chunks_exact(4)
        .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]))
        .collect()
}

/// Gaussian random rows (not normalised).
pub fn random_rows(n: usize, dim: usize, seed: u64) -> Vec<f32> {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    (0..n * dim)
        .map(|_| {
            // Box–Muller, enough for tests.
            let u1: f64 = rng.random::<f64>().max(1e-12);
            let u2: f64 = rng.random::<f64>();
            ((-2.0 * u1.ln()).sqrt() * (std::f64::consts::TAU * u2).cos()) as f32
        })
        .collect()
}

/// Rows scaled to unit length in f64, as the engine stores them (up to rounding).
pub fn normalised(rows: &[f32], dim: usize) -> Vec<f64> {
    rows.chunks_exact(dim)
        .flat_map(|r| {
            let n = r.iter().map(|&x| x as f64 * x as f64).sum::<f64>().sqrt();
            r.iter().map(move |&x| x as f64 / n)
        })
        .collect()
}

/// Exact top-k by an f64 brute force: (index, score), score descending then index ascending.
pub fn brute_topk(rows: &[f64], dim: usize, q: &[f64], k: usize) -> Vec<(usize, f64)> {
    let mut s: Vec<(usize, f64)> = rows
        .chunks_exact(dim)
        .enumerate()
        .map(|(i, r)| (i, r.iter().zip(q).map(|(a, b)| a * b).sum()))
        .collect();
    s.sort_by(|a, b| b.1.total_cmp(&a.1).then(a.0.cmp(&b.0)));
    s.truncate(k);
    s
}

/// Fraction of `reference` ids found in `got`.
pub fn recall(reference: &[u64], got: &[u64]) -> f64 {
    if reference.is_empty() {
        return 1.0;
    }
    let hit = reference.iter().filter(|r| got.contains(r)).count();
    hit as f64 / reference.len() as f64
}
