//! Shared helpers of the GPU tests: context creation that skips loudly without an adapter, an
//! independent f64 reference, and test data.

use std::sync::OnceLock;

use engram::compute::gpu::{GpuContext, GpuOptions};
use engram::compute::Hit;
use rand::{Rng, SeedableRng};

fn open(opts: &GpuOptions) -> Option<GpuContext> {
    match GpuContext::new(opts) {
        Ok(ctx) => Some(ctx),
        Err(e) => {
            if std::env::var("ENGRAM_REQUIRE_GPU").as_deref() == Ok("1") {
                panic!("ENGRAM_REQUIRE_GPU=1 but no GPU adapter: {e}");
            }
            eprintln!("SKIPPED: no GPU adapter: {e}");
            None
        }
    }
}

/// A shared context (software adapters allowed), or `None` after a loud skip.
pub fn gpu() -> Option<&'static GpuContext> {
    static CTX: OnceLock<Option<GpuContext>> = OnceLock::new();
    CTX.get_or_init(|| {
        open(&GpuOptions {
            allow_software: true,
            max_binding_override: None,
        })
    })
    .as_ref()
}

/// A shared context whose binding limit is forced down to 16 KiB, so data spans many chunks.
pub fn gpu_tiny() -> Option<&'static GpuContext> {
    static CTX: OnceLock<Option<GpuContext>> = OnceLock::new();
    CTX.get_or_init(|| {
        open(&GpuOptions {
            allow_software: true,
            max_binding_override: Some(16 << 10),
        })
    })
    .as_ref()
}

/// A context of its own (not shared with other tests) whose binding limit is forced down to
/// 16 KiB: for counting what crosses the bus while other tests run. `None` after a loud skip.
pub fn gpu_tiny_own() -> Option<GpuContext> {
    open(&GpuOptions {
        allow_software: true,
        max_binding_override: Some(16 << 10),
    })
}

/// `n` random unit rows of `dim` components.
pub fn random_unit(n: usize, dim: usize, seed: u64) -> Vec<f32> {
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(seed);
    let mut v: Vec<f32> = (0..n * dim)
        .map(|_| rng.random_range(-1.0f32..1.0))
        .collect();
    normalise(&mut v, dim);
    v
}

/// Normalises every row to unit length.
pub fn normalise(v: &mut [f32], dim: usize) {
    for row in v.chunks_exact_mut(dim) {
        let n = row
            .iter()
            .map(|x| f64::from(*x) * f64::from(*x))
            .sum::<f64>()
            .sqrt();
        if n > 0.0 {
            for x in row {
                *x = (f64::from(*x) / n) as f32;
            }
        }
    }
}

/// Rows rounded through f16, as the f16 layout stores them.
pub fn round_f16(v: &[f32]) -> Vec<f32> {
    v.iter().map(|x| half::f16::from_f32(*x).to_f32()).collect()
}

/// The lexicon vectors (10,000 × 384), unit-normalised. Always `Some`: a missing data
/// directory fails the test (see `super::data_dir`) rather than skipping it.
pub fn lexicon() -> Option<Vec<f32>> {
    let mut v = super::read_f32("lexicon/vectors.f32");
    normalise(&mut v, 384);
    Some(v)
}

/// f64 dot product.
pub fn dot64(a: &[f32], b: &[f32]) -> f64 {
    a.iter()
        .zip(b)
        .map(|(x, y)| f64::from(*x) * f64::from(*y))
        .sum()
}

/// Reference top-k: f64 brute force over live rows, score descending then id ascending.
pub fn reference(rows: &[f32], dim: usize, dead: &[bool], q: &[f32], k: usize) -> Vec<(f64, u64)> {
    let mut all: Vec<(f64, u64)> = rows
        .chunks_exact(dim)
        .enumerate()
        .filter(|(i, _)| !dead.get(*i).copied().unwrap_or(false))
        .map(|(i, r)| (dot64(r, q), i as u64))
        .collect();
    all.sort_by(|a, b| b.0.total_cmp(&a.0).then(a.1.cmp(&b.1)));
    all.truncate(k);
    all
}

/// Checks GPU hits against the reference.
///
/// Ids must be identical; the only exception is two rows whose reference scores differ by less
/// than 1e-6 (a tie at f32 precision), reported by count. `score_ref` gives the reference score
/// a GPU score is compared to (within `rel` relative plus `abs` absolute).
#[allow(clippy::too_many_arguments)]
pub fn check_hits(
    gpu: &[Hit],
    want: &[(f64, u64)],
    id_rows: &[f32],
    score_rows: &[f32],
    dim: usize,
    q: &[f32],
    rel: f64,
    abs: f64,
) -> usize {
    assert_eq!(gpu.len(), want.len(), "number of hits");
    let mut near_ties = 0;
    for (i, (h, w)) in gpu.iter().zip(want).enumerate() {
        if h.id != w.1 {
            let s = dot64(&id_rows[h.id as usize * dim..][..dim], q);
            assert!(
                (s - w.0).abs() < 1e-6,
                "position {i}: gpu id {} (ref score {s}) vs reference id {} (score {})",
                h.id,
                w.1,
                w.0
            );
            near_ties += 1;
        }
        let s = dot64(&score_rows[h.id as usize * dim..][..dim], q);
        assert!(
            (f64::from(h.score) - s).abs() <= rel * s.abs() + abs,
            "position {i}, id {}: gpu score {} vs reference {s}",
            h.id,
            h.score
        );
    }
    // Order must be exactly the result order on the returned scores.
    for w in gpu.windows(2) {
        assert!(
            w[0].ranks_before(&w[1]),
            "out of order: {:?} then {:?}",
            w[0],
            w[1]
        );
    }
    near_ties
}

/// An engine on the GPU backend (software adapters included), or `None` after a loud skip (a
/// failure under `ENGRAM_REQUIRE_GPU=1`).
pub fn gpu_engine(config: engram::Config) -> Option<engram::Engram> {
    use engram::{BackendChoice, Engram, Error, GpuError};
    match Engram::new(config.backend(BackendChoice::Gpu)) {
        Ok(e) => {
            assert!(matches!(e.backend(), engram::compute::Backend::Gpu(_)));
            Some(e)
        }
        Err(Error::Gpu(GpuError::NotCompiled)) => {
            eprintln!("SKIPPED: built without the `gpu` feature");
            None
        }
        Err(Error::Gpu(e)) => {
            if std::env::var("ENGRAM_REQUIRE_GPU").as_deref() == Ok("1") {
                panic!("ENGRAM_REQUIRE_GPU=1 but the GPU backend is unavailable: {e}");
            }
            eprintln!("SKIPPED: no GPU adapter: {e}");
            None
        }
        Err(e) => panic!("unexpected error: {e}"),
    }
}
