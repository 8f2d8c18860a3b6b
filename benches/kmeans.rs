//! One Lloyd iteration (assign through gemm tiles + partial sums + reduce) for N × 384 with
//! k = 100 and k = 1,000, in GFLOP/s counting 2·N·k·d, next to a plain `gemm` of the same
//! shape (a slab of rows, full output) and a 2048³ `gemm` as the machine's peak, measured in
//! the same run. `ENGRAM_BENCH_N` sets N (default 200,000).
//!
//! Criterion's "elem/s" figure is FLOP/s here.

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use engram::cluster::{assign, reduce};
use engram::compute::cpu::gemm::{matmul_t, Threads};
use engram::synth::SynthParams;

const DIM: usize = 384;

fn plain_gemm(m: usize, n: usize, k: usize, a: &[f32], b: &[f32], c: &mut [f32]) {
    matmul_t(m, n, k, a, b, c, Threads::Rayon(0));
}

fn bench(c: &mut Criterion) {
    let n: usize = std::env::var("ENGRAM_BENCH_N")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(200_000);
    let Ok(synth) = SynthParams::new(n, DIM, 100).seed(1).check() else {
        return;
    };
    let data = synth.generate().data;
    let mut g = c.benchmark_group("kmeans");
    g.sample_size(10);
    for k in [100usize, 1000] {
        let k = k.min(n);
        let centroids = data[..k * DIM].to_vec();
        let flops = 2 * n * k * DIM;
        g.throughput(Throughput::Elements(flops as u64));
        g.bench_with_input(
            BenchmarkId::new("lloyd_iteration", format!("n{n}_k{k}")),
            &k,
            |b, &k| {
                b.iter(|| {
                    let a = assign(&data, DIM, &centroids).expect("assign");
                    let sums = a.partial_sums(&data, DIM, k, 0).expect("sums");
                    reduce(&sums, &centroids).expect("reduce")
                })
            },
        );
        g.bench_with_input(
            BenchmarkId::new("assign_only", format!("n{n}_k{k}")),
            &k,
            |b, _| b.iter(|| assign(&data, DIM, &centroids).expect("assign")),
        );
        // The same shape as a plain gemm: a slab of rows times all centroids, full output.
        let m = n.min(16_384);
        let mut out = vec![0f32; m * k];
        g.throughput(Throughput::Elements((2 * m * k * DIM) as u64));
        g.bench_with_input(
            BenchmarkId::new("plain_gemm", format!("m{m}_k{k}_d{DIM}")),
            &k,
            |b, &k| b.iter(|| plain_gemm(m, k, DIM, &data[..m * DIM], &centroids, &mut out)),
        );
    }
    let s = 2048;
    let a: Vec<f32> = data.iter().cycle().take(s * s).copied().collect();
    let mut out = vec![0f32; s * s];
    g.throughput(Throughput::Elements((2 * s * s * s) as u64));
    g.bench_function("peak_gemm_2048", |b| {
        b.iter(|| plain_gemm(s, s, s, &a, &a, &mut out))
    });
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
