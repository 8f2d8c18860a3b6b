//! Exact search on the CPU, next to the machine's own limits measured in the same run.
//!
//! `cargo bench --bench search` (N from `ENGRAM_BENCH_N`, default 200,000; d = 384).
//! Groups: `limits` (sequential read, GEMM 2048³ — the peaks the figures are ratios to), `search_single` (one query: scalar loop, SIMD
//! f32, SIMD f16), `search_batch` (16, 32, 64 and 1,000 queries) and `search_singles`
//! (the same queries as separate single-query calls, for the batch speed-up), `search_batch_k`
//! (1,000 queries over 20,000 rows with k = 1, 10, 50, 128: the cost of large k).

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use engram::compute::cpu::gemm::{matmul, Threads};
use engram::compute::cpu::{search, SimdLevel};
use engram::{BackendChoice, Config, Engram, Layout, Precision};
use rand::{Rng, SeedableRng};

fn rows(n: usize, dim: usize, seed: u64) -> Vec<f32> {
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(seed);
    (0..n * dim).map(|_| rng.random::<f32>() - 0.5).collect()
}

fn bench_n() -> usize {
    std::env::var("ENGRAM_BENCH_N")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(200_000)
}

fn limits(c: &mut Criterion) {
    let mut g = c.benchmark_group("limits");
    g.sample_size(10);
    // The read probe of `engram bench`: a buffer of 4× the L3 cache, independent streams per
    // thread (the shape that was best in a quick probe), every thread.
    let bytes = engram::bench::read_probe_bytes(engram::bench::l3_bytes());
    let streams = engram::bench::read_bandwidth_probe(1, bytes, 2).streams;
    let data = vec![1.0f32; (bytes / 4) as usize];
    g.throughput(Throughput::Bytes((data.len() * 4) as u64));
    g.bench_function("read_seq_1t", |b| {
        b.iter(|| engram::bench::read_sum_streams(&data, streams))
    });
    g.bench_function("read_seq_all_threads", |b| {
        use rayon::prelude::*;
        let per = data.len().div_ceil(rayon::current_num_threads());
        b.iter(|| {
            data.par_chunks(per)
                .map(|c| engram::bench::read_sum_streams(c, streams))
                .sum::<f32>()
        })
    });
    // The FMA rates the batch figures are compared with: independent FMAs on registers, all
    // threads, at 256 bits and (with AVX-512) 512 bits; the peak is the larger.
    let threads = rayon::current_num_threads();
    for level in [SimdLevel::Avx2Fma, SimdLevel::Avx512] {
        if !level.supported() {
            continue;
        }
        let iters = 1 << 20;
        let flops = (0..threads)
            .map(|_| engram::compute::cpu::fma_loop(level, iters, 1.0).1)
            .sum::<f64>();
        g.throughput(Throughput::Elements(flops as u64));
        g.bench_function(format!("fma_peak_all_threads_{}", level.name()), |b| {
            use rayon::prelude::*;
            b.iter(|| {
                (0..threads)
                    .into_par_iter()
                    .map(|i| engram::compute::cpu::fma_loop(level, iters, 1.0 + i as f32).0)
                    .sum::<f32>()
            })
        });
    }
    // And a 2048³ f32 GEMM through the `gemm` crate (256-bit vectors), all threads.
    let m = 2048;
    let a = vec![0.5f32; m * m];
    let bm = vec![0.25f32; m * m];
    let mut c = vec![0.0f32; m * m];
    g.throughput(Throughput::Elements((2 * m * m * m) as u64));
    g.bench_function("gemm_2048_all_threads", |b| {
        b.iter(|| {
            matmul(m, m, m, &a, &bm, &mut c, Threads::Rayon(0));
        })
    });
    g.finish();
}

fn single(c: &mut Criterion) {
    let (n, dim) = (bench_n(), 384);
    let e = store(n, dim);
    let q = rows(1, dim, 99);
    let mut g = c.benchmark_group("search_single");
    g.sample_size(20);
    g.throughput(Throughput::Bytes((n * dim * 4) as u64));
    g.bench_function(BenchmarkId::new("cpu-simd-f32", n), |b| {
        b.iter(|| e.search_batch_in(&q, 10, Layout::F32).unwrap())
    });
    let chunks = e.episode_vectors().row_chunks(false);
    g.bench_function(BenchmarkId::new("cpu-scalar-f32", n), |b| {
        b.iter(|| search(SimdLevel::Scalar, &chunks, dim, &q, 10, None))
    });
    g.throughput(Throughput::Bytes((n * dim * 2) as u64));
    g.bench_function(BenchmarkId::new("cpu-simd-f16", n), |b| {
        b.iter(|| e.search_batch_in(&q, 10, Layout::F16).unwrap())
    });
    g.finish();
}

fn batch(c: &mut Criterion) {
    let (n, dim) = (bench_n(), 384);
    let e = store(n, dim);
    let mut g = c.benchmark_group("search_batch");
    g.sample_size(10);
    for nq in [16usize, 32, 64, 1000] {
        let q = rows(nq, dim, nq as u64);
        g.throughput(Throughput::Elements((2 * n * dim * nq) as u64));
        g.bench_function(BenchmarkId::new("cpu-simd-f32", nq), |b| {
            b.iter(|| e.search_batch_in(&q, 10, Layout::F32).unwrap())
        });
    }
    g.finish();
    let mut g = c.benchmark_group("search_singles");
    g.sample_size(10);
    for nq in [16usize, 64] {
        let q = rows(nq, dim, nq as u64);
        g.throughput(Throughput::Elements((2 * n * dim * nq) as u64));
        g.bench_function(BenchmarkId::new("cpu-simd-f32", nq), |b| {
            b.iter(|| {
                q.chunks(dim)
                    .map(|x| e.search(x, 10).unwrap())
                    .collect::<Vec<_>>()
            })
        });
    }
    g.finish();
}

/// A batch of 1,000 queries over 20,000 rows (the L3-resident batch of `engram bench`) with
/// k = 1, 10, 50 and 128: what the top-k bookkeeping costs on top of the dot products
/// (target of issue #20: k = 128 within 15 % of k = 10).
fn batch_k(c: &mut Criterion) {
    let (n, dim, nq) = (20_000, 384, 1000);
    let e = store(n, dim);
    let q = rows(nq, dim, 77);
    let mut g = c.benchmark_group("search_batch_k");
    g.sample_size(10);
    g.throughput(Throughput::Elements((2 * n * dim * nq) as u64));
    for k in [1usize, 10, 50, 128] {
        g.bench_function(BenchmarkId::new("cpu-simd-f32-1000q-20k", k), |b| {
            b.iter(|| e.search_batch_in(&q, k, Layout::F32).unwrap())
        });
    }
    g.finish();
}

fn store(n: usize, dim: usize) -> Engram {
    let mut e = Engram::new(
        Config::new(dim)
            .precision(Precision::F32AndF16)
            .backend(BackendChoice::Cpu),
    )
    .unwrap();
    for start in (0..n).step_by(50_000) {
        let m = (n - start).min(50_000);
        e.remember_batch(&rows(m, dim, start as u64), vec![])
            .unwrap();
    }
    e
}

fn ingest(c: &mut Criterion) {
    let dim = 384;
    let n = 100_000;
    let data = rows(n, dim, 5);
    let mut g = c.benchmark_group("ingest");
    g.sample_size(10);
    g.throughput(Throughput::Elements(n as u64));
    for (name, p) in [("f32", Precision::F32), ("f16", Precision::F16)] {
        g.bench_function(BenchmarkId::new(format!("remember_batch-{name}"), n), |b| {
            b.iter_batched(
                || {
                    Engram::new(
                        Config::new(dim)
                            .precision(p)
                            .backend(engram::BackendChoice::Cpu),
                    )
                    .unwrap()
                },
                |mut e| {
                    e.remember_batch(&data, vec![]).unwrap();
                    e
                },
                criterion::BatchSize::LargeInput,
            )
        });
    }
    g.finish();
}

criterion_group!(benches, limits, ingest, single, batch, batch_k);
criterion_main!(benches);
