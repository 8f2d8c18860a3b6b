//! Spherical k-means on the GPU backend against the CPU backend from the same initial
//! centroids: labels identical except exact ties, centroids within 1e-4 relative.
//!
//! Runs on any adapter, software ones included (lavapipe in CI); without one it skips loudly,
//! or fails under `ENGRAM_REQUIRE_GPU=1`.

use std::sync::Arc;

use engram::cluster::{
    assign_on, discover_on, fit_on, lloyd_on, DiscoverParams, Init, KMeansParams, LloydOptions,
};
use engram::compute::cpu::SimdLevel;
use engram::compute::gpu::{GpuContext, GpuOptions};
use engram::compute::Backend;
use engram::synth::SynthParams;

fn gpu_backend() -> Option<Backend> {
    match GpuContext::new(&GpuOptions {
        allow_software: true,
        max_binding_override: None,
    }) {
        Ok(ctx) => Some(Backend::Gpu(Arc::new(ctx))),
        Err(e) => {
            if std::env::var("ENGRAM_REQUIRE_GPU").as_deref() == Ok("1") {
                panic!("ENGRAM_REQUIRE_GPU=1 but no GPU adapter: {e}");
            }
            eprintln!("SKIPPED: no GPU adapter: {e}");
            None
        }
    }
}

fn cpu() -> Backend {
    Backend::Cpu(SimdLevel::current())
}

fn dot64(a: &[f32], b: &[f32]) -> f64 {
    a.iter().zip(b).map(|(x, y)| *x as f64 * *y as f64).sum()
}

/// Labels equal except where the row is (within float rounding) equally close to both
/// centroids; centroids within `rel`.
fn assert_parity(
    data: &[f32],
    dim: usize,
    g: &engram::KMeansModel,
    c: &engram::KMeansModel,
    rel: f32,
) -> usize {
    assert_eq!(g.k, c.k);
    let mut ties = 0;
    for (i, (&lg, &lc)) in g.labels.iter().zip(&c.labels).enumerate() {
        if lg != lc {
            let x = &data[i * dim..(i + 1) * dim];
            let sg = dot64(x, &c.centroids[lg as usize * dim..][..dim]);
            let sc = dot64(x, &c.centroids[lc as usize * dim..][..dim]);
            assert!(
                (sg - sc).abs() < 1e-5,
                "row {i}: gpu label {lg} ({sg}) vs cpu {lc} ({sc}) is no tie"
            );
            ties += 1;
        }
    }
    for (j, (a, b)) in g
        .centroids
        .chunks(dim)
        .zip(c.centroids.chunks(dim))
        .enumerate()
    {
        let diff = a
            .iter()
            .zip(b)
            .map(|(x, y)| ((x - y) as f64).powi(2))
            .sum::<f64>()
            .sqrt();
        assert!(diff <= rel as f64, "centroid {j}: |gpu - cpu| = {diff}");
    }
    ties
}

#[test]
fn lloyd_gpu_matches_cpu_from_same_start() {
    let Some(gpu) = gpu_backend() else { return };
    let dim = 64;
    let d = SynthParams::new(3000, dim, 12)
        .seed(4)
        .check()
        .expect("synth")
        .generate();
    // Starting centroids: k-means++ on the CPU, shared by both runs.
    let start = {
        let m = KMeansParams::new(12)
            .init(Init::KMeansPlusPlus)
            .max_iter(1)
            .seed(9)
            .fit(&d.data, dim)
            .expect("init");
        m.centroids
    };
    let opts = LloydOptions {
        max_iter: 20,
        tolerance: 0.0,
        repair_empty: true,
    };
    let c = lloyd_on(&cpu(), &d.data, dim, start.clone(), &opts, None).expect("cpu");
    let g = lloyd_on(&gpu, &d.data, dim, start.clone(), &opts, None).expect("gpu");
    let ties = assert_parity(&d.data, dim, &g, &c, 1e-4);
    println!(
        "iterations cpu {} gpu {}, ties {ties}",
        c.iterations, g.iterations
    );
    assert_eq!(c.iterations, g.iterations);
    assert!((c.objective - g.objective).abs() <= 1e-4 * c.objective.abs());

    // The CPU backend is exactly the crate's batch k-means from the same start.
    let reference = KMeansParams::new(12)
        .init(Init::Precomputed(start))
        .max_iter(20)
        .tolerance(0.0)
        .fit(&d.data, dim)
        .expect("reference");
    assert_eq!(reference.labels, c.labels);
    assert_eq!(reference.centroids, c.centroids);
}

#[test]
fn fit_and_assign_on_gpu_match_cpu() {
    let Some(gpu) = gpu_backend() else { return };
    let dim = 48;
    let d = SynthParams::new(2000, dim, 8)
        .seed(2)
        .check()
        .expect("synth")
        .generate();
    let params = KMeansParams::new(8).seed(3).check().expect("params");
    let c = fit_on(&cpu(), &params, &d.data, dim).expect("cpu");
    let g = fit_on(&gpu, &params, &d.data, dim).expect("gpu");
    assert_parity(&d.data, dim, &g, &c, 1e-4);
    let ac = assign_on(&cpu(), &d.data, dim, &c.centroids).expect("cpu assign");
    let ag = assign_on(&gpu, &d.data, dim, &c.centroids).expect("gpu assign");
    assert_eq!(ac.labels, ag.labels);
    for (a, b) in ac.scores.iter().zip(&ag.scores) {
        assert!((a - b).abs() <= 1e-5, "{a} vs {b}");
    }
}

#[test]
fn discover_on_gpu_matches_cpu() {
    let Some(gpu) = gpu_backend() else { return };
    let dim = 128;
    let d = SynthParams::new(2000, dim, 6)
        .seed(8)
        .check()
        .expect("synth")
        .generate();
    let params = DiscoverParams::new().seed(1).check().expect("params");
    let c = discover_on(&cpu(), &params, &d.data, dim).expect("cpu");
    let g = discover_on(&gpu, &params, &d.data, dim).expect("gpu");
    println!("discovered k: cpu {} gpu {}", c.k, g.k);
    assert_eq!(c.k, g.k);
    assert_parity(&d.data, dim, &g, &c, 1e-4);
}

#[test]
fn backend_errors_are_typed() {
    let e = lloyd_on(
        &cpu(),
        &[1.0, 0.0, 0.0],
        2,
        vec![1.0, 0.0],
        &LloydOptions::default(),
        None,
    );
    assert!(matches!(e, Err(engram::Error::Cluster(_))));
    let e = lloyd_on(
        &cpu(),
        &[1.0, 0.0],
        2,
        vec![],
        &LloydOptions::default(),
        None,
    );
    assert!(matches!(e, Err(engram::Error::Cluster(_))));
}
