//! Backend selection and GPU-vs-CPU parity through the public `Engram` API.
//!
//! The GPU tests run on whatever adapter exists, software ones included (lavapipe in CI, where
//! `ENGRAM_REQUIRE_GPU=1` turns a missing adapter into a failure instead of a loud skip).

mod common;

use common::gpu::gpu_engine;
use common::*;
use engram::compute::Backend;
use engram::{BackendChoice, Config, Engram, EpisodeId, Error, GpuError, Layout, Precision};

/// Identical ids in identical order, except that two hits whose CPU scores are within float
/// rounding of each other (a near-tie summed in another order) may swap; scores within `tol`.
fn assert_same(
    gpu: &[Vec<engram::Scored<EpisodeId>>],
    cpu: &[Vec<engram::Scored<EpisodeId>>],
    tol: f32,
) {
    assert_eq!(gpu.len(), cpu.len());
    for (qi, (g, c)) in gpu.iter().zip(cpu).enumerate() {
        assert_eq!(g.len(), c.len(), "query {qi}: lengths");
        let cpu_score: std::collections::HashMap<EpisodeId, f32> =
            c.iter().map(|h| (h.id, h.score)).collect();
        let mut swaps = 0;
        for (i, (a, b)) in g.iter().zip(c).enumerate() {
            assert!(
                (a.score - b.score).abs() <= tol * b.score.abs().max(0.1),
                "query {qi} rank {i}: score {} vs {}",
                a.score,
                b.score
            );
            if a.id != b.id {
                swaps += 1;
                let s = cpu_score.get(&a.id).copied();
                assert!(
                    s.is_some_and(|s| (s - b.score).abs() <= 2e-6),
                    "query {qi} rank {i}: gpu {} vs cpu {} is no near-tie",
                    a.id,
                    b.id
                );
            }
        }
        // Near-ties are rare: most of the order is identical.
        assert!(swaps * 20 <= g.len().max(20), "query {qi}: {swaps} swaps");
    }
}

#[test]
fn cpu_backend_is_the_cpu() {
    let e = Engram::new(Config::new(8).backend(BackendChoice::Cpu)).unwrap();
    assert!(matches!(e.backend(), Backend::Cpu(_)));
    assert!(e.backend_reason().contains("CPU"));
}

#[test]
fn auto_never_takes_a_software_adapter() {
    let e = Engram::new(Config::new(8)).unwrap();
    if let Backend::Gpu(ctx) = e.backend() {
        assert!(
            !ctx.capabilities().is_software,
            "auto took a software adapter"
        );
    } else {
        assert!(
            e.backend_reason().starts_with("auto:"),
            "{}",
            e.backend_reason()
        );
    }
}

#[cfg(not(feature = "gpu"))]
#[test]
fn gpu_without_the_feature_is_not_compiled() {
    let err = Engram::new(Config::new(8).backend(BackendChoice::Gpu)).unwrap_err();
    assert!(matches!(err, Error::Gpu(GpuError::NotCompiled)));
}

#[cfg(feature = "gpu")]
#[test]
fn gpu_error_type_is_exposed() {
    // The variant exists with the feature on too (callers match without #[cfg]).
    let e = GpuError::NotCompiled;
    assert!(e.to_string().contains("gpu"));
}

#[test]
fn gpu_matches_cpu_on_real_vectors_with_forgets_and_compaction() {
    let dim = 384;
    let rows = read_f32("lexicon/vectors.f32");
    let rows = &rows[..4000 * dim];
    // 1 MiB chunks: the GPU copy spans several buffers.
    let cfg = Config::new(dim)
        .precision(Precision::F32AndF16)
        .chunk_bytes(1 << 20);
    let Some(mut g) = gpu_engine(cfg.clone()) else {
        return;
    };
    assert!(matches!(g.backend(), Backend::Gpu(_)));
    let mut c = Engram::new(cfg.backend(BackendChoice::Cpu)).unwrap();
    for part in rows.chunks(1000 * dim) {
        g.remember_batch(part, vec![]).unwrap();
        c.remember_batch(part, vec![]).unwrap();
    }
    let queries: Vec<f32> = rows.chunks(dim).step_by(577).flatten().copied().collect();
    for k in [1usize, 10, 1100] {
        assert_same(
            &g.search_batch(&queries, k).unwrap(),
            &c.search_batch(&queries, k).unwrap(),
            1e-5,
        );
    }
    assert_same(
        &g.search_batch_in(&queries, 10, Layout::F16).unwrap(),
        &c.search_batch_in(&queries, 10, Layout::F16).unwrap(),
        2e-3,
    );
    // Forget some rows, append more: the GPU masks and uploads only what changed.
    for id in (0..4000).step_by(7) {
        g.forget(EpisodeId(id)).unwrap();
        c.forget(EpisodeId(id)).unwrap();
    }
    let extra = random_rows(300, dim, 5);
    g.remember_batch(&extra, vec![]).unwrap();
    c.remember_batch(&extra, vec![]).unwrap();
    let q1 = &queries[..dim];
    assert_same(
        &[g.search(q1, 4300).unwrap()],
        &[c.search(q1, 4300).unwrap()],
        1e-5,
    );
    assert_eq!(g.search(q1, 10_000).unwrap().len(), g.len());
    g.compact();
    c.compact();
    assert_same(
        &g.search_batch(&queries, 10).unwrap(),
        &c.search_batch(&queries, 10).unwrap(),
        1e-5,
    );
}

#[test]
fn gpu_f16_only_store() {
    let dim = 37;
    let rows = random_rows(2000, dim, 11);
    let cfg = Config::new(dim).precision(Precision::F16);
    let Some(mut g) = gpu_engine(cfg.clone()) else {
        return;
    };
    let mut c = Engram::new(cfg.backend(BackendChoice::Cpu)).unwrap();
    g.remember_batch(&rows, vec![]).unwrap();
    c.remember_batch(&rows, vec![]).unwrap();
    let q = random_rows(5, dim, 12);
    assert_same(
        &g.search_batch(&q, 7).unwrap(),
        &c.search_batch(&q, 7).unwrap(),
        1e-4,
    );
}

#[test]
fn device_loss_is_an_error_or_a_cpu_fallback() {
    let dim = 16;
    let rows = random_rows(500, dim, 21);
    let q = random_rows(3, dim, 22);
    // Explicit GPU: the loss is a typed error, and nothing stored is affected.
    let Some(mut strict) = gpu_engine(Config::new(dim)) else {
        return;
    };
    strict.remember_batch(&rows, vec![]).unwrap();
    let want = strict.search_batch(&q, 5).unwrap();
    strict.simulate_gpu_failure();
    assert!(matches!(
        strict.search_batch(&q, 5).unwrap_err(),
        Error::Gpu(GpuError::DeviceLost(_))
    ));
    assert_eq!(strict.search_batch(&q, 5).unwrap(), want);
    // With fallback (the default under Auto): a warning, then the CPU with the same results.
    let Some(mut lenient) = gpu_engine(Config::new(dim).gpu_fallback(true)) else {
        return;
    };
    lenient.remember_batch(&rows, vec![]).unwrap();
    lenient.simulate_gpu_failure();
    let got = lenient.search_batch(&q, 5).unwrap();
    assert!(matches!(lenient.backend(), Backend::Cpu(_)));
    let cpu = Engram::new(Config::new(dim).backend(BackendChoice::Cpu)).unwrap();
    let mut cpu = cpu;
    cpu.remember_batch(&rows, vec![]).unwrap();
    assert_eq!(got, cpu.search_batch(&q, 5).unwrap());
    assert_same(&want, &got, 1e-5);
}
