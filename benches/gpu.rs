//! GPU benchmark: the adapter's measured limits first, then search against them.
//!
//! `ENGRAM_BENCH_N` sets the number of rows (default 4096, small enough for lavapipe, where the
//! figures only show that everything runs). GPU time is counted with the device polled to
//! completion before the clock stops (`search` reads its results back, which waits).

use std::time::{Duration, Instant};

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use engram::compute::gpu::{
    measure_bandwidth, measure_fma_peak, search, uses_tiled_kernel, GpuContext, GpuLayout,
    GpuMatrix, GpuOptions, K_TILED_MAX,
};
use rand::{Rng, SeedableRng};

const DIM: usize = 384;

fn unit_rows(n: usize, seed: u64) -> Vec<f32> {
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(seed);
    let mut v: Vec<f32> = (0..n * DIM)
        .map(|_| rng.random_range(-1.0f32..1.0))
        .collect();
    for r in v.chunks_exact_mut(DIM) {
        let norm = r.iter().map(|x| x * x).sum::<f32>().sqrt();
        r.iter_mut().for_each(|x| *x /= norm);
    }
    v
}

fn time_search(ctx: &GpuContext, m: &GpuMatrix, q: &[f32], k: usize, iters: u64) -> Duration {
    let t = Instant::now();
    for _ in 0..iters {
        let hits = search(ctx, m, q, k).expect("search");
        std::hint::black_box(hits);
    }
    t.elapsed()
}

fn bench(c: &mut Criterion) {
    let ctx = match GpuContext::new(&GpuOptions {
        allow_software: true,
        max_binding_override: None,
    }) {
        Ok(ctx) => ctx,
        Err(e) => {
            eprintln!("SKIPPED: no GPU adapter: {e}");
            return;
        }
    };
    let caps = ctx.capabilities();
    let n: usize = std::env::var("ENGRAM_BENCH_N")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(4096);
    let bw = measure_bandwidth(&ctx).expect("bandwidth");
    let peak = measure_fma_peak(&ctx).expect("fma peak");
    eprintln!(
        "gpu: {} ({}, {}), software={} | measured bandwidth {bw:.1} GB/s, FMA peak {peak:.1} \
         GFLOP/s | N={n} x {DIM}",
        caps.adapter_name, caps.backend, caps.device_type, caps.is_software
    );
    let rows = unit_rows(n, 1);
    let queries = unit_rows(1000, 2);
    let mut g = c.benchmark_group("gpu");
    g.sample_size(10);
    g.warm_up_time(Duration::from_millis(300));
    g.measurement_time(Duration::from_secs(2));
    let mut report = Vec::new();
    for layout in [GpuLayout::F32, GpuLayout::F16] {
        let m = GpuMatrix::from_rows(&ctx, DIM, layout, &rows).expect("upload");
        let bytes_per_row = match layout {
            GpuLayout::F32 => DIM * 4,
            GpuLayout::F16 => DIM * 2,
        };
        // Batch 1, top-10: bandwidth-bound.
        let name = format!("gpu_{layout:?}_batch1_top10");
        g.throughput(Throughput::Bytes((n * bytes_per_row) as u64));
        g.bench_function(&name, |b| {
            b.iter_custom(|iters| time_search(&ctx, &m, &queries[..DIM], 10, iters))
        });
        let t = time_search(&ctx, &m, &queries[..DIM], 10, 5).as_secs_f64() / 5.0;
        let gbs = (n * bytes_per_row) as f64 / t / 1e9;
        report.push(format!(
            "{name}: {:.3} ms, {gbs:.2} GB/s read = {:.1} % of measured bandwidth",
            t * 1e3,
            100.0 * gbs / bw
        ));
        // Batches of 1000 queries (100 on a software adapter), k = 1 and k = K_TILED_MAX: the
        // tiled kernel, compute-bound. "top-k costs <= 15 % over k = 1" reads off the ratio.
        let nq = if caps.is_software { 100 } else { 1000 };
        let q = &queries[..nq * DIM];
        let mut k1_secs = None;
        for k in [1usize, K_TILED_MAX] {
            assert!(
                uses_tiled_kernel(&ctx, DIM, nq, k),
                "batch {nq}, k = {k} must take the tiled kernel"
            );
            let name = format!("gpu_{layout:?}_batch{nq}_top{k}");
            g.throughput(Throughput::Elements((n * nq) as u64));
            g.bench_function(&name, |b| {
                b.iter_custom(|iters| time_search(&ctx, &m, q, k, iters))
            });
            let t = time_search(&ctx, &m, q, k, 2).as_secs_f64() / 2.0;
            let gflops = 2.0 * (n * nq * DIM) as f64 / t / 1e9;
            let over = k1_secs.map_or(String::new(), |t1: f64| {
                format!(", {:+.1} % over k = 1", 100.0 * (t / t1 - 1.0))
            });
            k1_secs.get_or_insert(t);
            report.push(format!(
                "{name} (tiled): {:.3} ms, {gflops:.2} GFLOP/s = {:.1} % of measured FMA peak{over}",
                t * 1e3,
                100.0 * gflops / peak
            ));
        }
        // The same batch through the 8-query kernel (k just above K_TILED_MAX), for comparison.
        let k = K_TILED_MAX + 1;
        let t = time_search(&ctx, &m, q, k, 1).as_secs_f64();
        let gflops = 2.0 * (n * nq * DIM) as f64 / t / 1e9;
        report.push(format!(
            "gpu_{layout:?}_batch{nq}_top{k} (8-query kernel): {:.3} ms, {gflops:.2} GFLOP/s = \
             {:.1} % of measured FMA peak",
            t * 1e3,
            100.0 * gflops / peak
        ));
    }
    g.finish();
    for line in report {
        eprintln!("{line}");
    }
    if caps.is_software {
        eprintln!("(software adapter: figures show correctness only)");
    }
}

criterion_group!(benches, bench);
criterion_main!(benches);
