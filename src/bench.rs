//! Measuring the machine's own limits and timing work, for `engram bench` and `cargo bench`.
//!
//! Every performance figure engram reports is a ratio to a limit measured in the same run
//! (these machines are shared and noisy): the memory read bandwidth of a large sequential
//! read, the f32 FMA peak (independent FMAs on registers, with the widest vectors the kernels
//! use) and the f32 GEMM rate of the `gemm` crate on a square product.

use std::time::{Duration, Instant};

use rayon::prelude::*;

/// The CPU limits measured in one run.
#[derive(Debug, Clone, Copy, PartialEq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub struct CpuLimits {
    /// Threads used for the multi-threaded figures.
    pub threads: usize,
    /// Sequential read bandwidth with one thread, GB/s.
    pub read_gbps_1t: f64,
    /// Sequential read bandwidth with all threads, GB/s.
    pub read_gbps: f64,
    /// f32 GEMM rate of a 2048³ product with all threads, GFLOP/s (the `gemm` crate, which
    /// uses 256-bit vectors).
    pub gemm_gflops: f64,
    /// f32 FMA peak with all threads, GFLOP/s: independent FMAs on registers with the widest
    /// vectors the kernels use (512-bit where the CPU has AVX-512). No kernel can exceed it.
    pub fma_gflops: f64,
}

/// The median of `reps` timings of `f` (after one warm-up call).
pub fn median_time<T>(reps: usize, mut f: impl FnMut() -> T) -> Duration {
    std::hint::black_box(f());
    let mut t: Vec<Duration> = (0..reps.max(1))
        .map(|_| {
            let s = Instant::now();
            std::hint::black_box(f());
            s.elapsed()
        })
        .collect();
    t.sort();
    t[t.len() / 2]
}

/// Sums a slice with eight independent accumulators (a pure streaming read).
pub fn read_sum(data: &[f32]) -> f32 {
    let mut acc = [0.0f32; 16];
    let mut it = data.chunks_exact(16);
    for c in &mut it {
        for j in 0..16 {
            acc[j] += c[j];
        }
    }
    acc.iter().sum::<f32>() + it.remainder().iter().sum::<f32>()
}

/// Read bandwidth in GB/s of a sequential read of `bytes` bytes split over `threads` threads
/// (median of several passes).
pub fn read_bandwidth(threads: usize, bytes: usize) -> f64 {
    let n = bytes / 4;
    let data: Vec<f32> = (0..n).map(|i| (i % 7) as f32).collect();
    let pool = match rayon::ThreadPoolBuilder::new().num_threads(threads).build() {
        Ok(p) => p,
        Err(_) => return 0.0,
    };
    let per = n.div_ceil(threads.max(1));
    let t = pool.install(|| median_time(7, || data.par_chunks(per).map(read_sum).sum::<f32>()));
    (n * 4) as f64 / t.as_secs_f64() / 1e9
}

/// GEMM rate in GFLOP/s of an `m`³ f32 product through the `gemm` crate with `threads`
/// threads (median of several runs).
pub fn gemm_rate(m: usize, threads: usize) -> f64 {
    let a: Vec<f32> = (0..m * m).map(|i| ((i % 13) as f32) * 0.1).collect();
    let b: Vec<f32> = (0..m * m).map(|i| ((i % 11) as f32) * 0.1).collect();
    let mut c = vec![0.0f32; m * m];
    let par = if threads <= 1 {
        gemm::Parallelism::None
    } else {
        gemm::Parallelism::Rayon(threads)
    };
    let t = median_time(5, || {
        // SAFETY: a, b and c are m × m row-major with the strides given.
        unsafe {
            gemm::gemm(
                m,
                m,
                m,
                c.as_mut_ptr(),
                1,
                m as isize,
                false,
                a.as_ptr(),
                1,
                m as isize,
                b.as_ptr(),
                1,
                m as isize,
                0.0f32,
                1.0f32,
                false,
                false,
                false,
                par,
            )
        }
    });
    2.0 * (m as f64).powi(3) / t.as_secs_f64() / 1e9
}

/// The f32 FMA peak in GFLOP/s with `threads` threads: each runs independent FMAs on
/// registers ([`crate::compute::cpu::fma_loop`]) for about 50 ms; median of 5 runs.
pub fn fma_peak(threads: usize) -> f64 {
    let level = crate::compute::cpu::SimdLevel::current();
    let pool = match rayon::ThreadPoolBuilder::new()
        .num_threads(threads.max(1))
        .build()
    {
        Ok(p) => p,
        Err(_) => return 0.0,
    };
    // Calibrate the iterations to about 50 ms on one thread.
    let mut iters = 1 << 16;
    loop {
        let s = Instant::now();
        std::hint::black_box(crate::compute::cpu::fma_loop(level, iters, 1.0));
        if s.elapsed() >= Duration::from_millis(25) || iters >= 1 << 30 {
            iters = (iters as f64 * 0.05 / s.elapsed().as_secs_f64().max(1e-9)) as usize;
            break;
        }
        iters *= 4;
    }
    let iters = iters.max(1);
    let mut flops = 0.0;
    let t = pool.install(|| {
        median_time(5, || {
            let r: Vec<(f32, f64)> = (0..threads.max(1))
                .into_par_iter()
                .map(|i| crate::compute::cpu::fma_loop(level, iters, 1.0 + i as f32))
                .collect();
            flops = r.iter().map(|x| x.1).sum();
            r.iter().map(|x| x.0).sum::<f32>()
        })
    });
    flops / t.as_secs_f64() / 1e9
}

/// Measures the CPU limits: read bandwidth (512 MiB, one and all threads), the FMA peak and
/// GEMM (2048³).
pub fn cpu_limits() -> CpuLimits {
    let threads = rayon::current_num_threads();
    CpuLimits {
        threads,
        read_gbps_1t: read_bandwidth(1, 512 << 20),
        read_gbps: read_bandwidth(threads, 512 << 20),
        gemm_gflops: gemm_rate(2048, threads),
        fma_gflops: fma_peak(threads),
    }
}
