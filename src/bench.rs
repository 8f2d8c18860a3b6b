//! Measuring the machine's own limits and timing work, for `engram bench` and `cargo bench`.
//!
//! Every performance figure engram reports is a ratio to a limit measured in the same run
//! (these machines are shared and noisy): the memory read bandwidth of a large sequential
//! read, the f32 FMA peak (independent FMAs on registers, with the widest vectors the kernels
//! use) and the f32 GEMM rate of the `gemm` crate on a square product.

use std::time::{Duration, Instant};

use rayon::prelude::*;

use crate::compute::cpu::gemm::{matmul, Threads};

/// How the CPU issues 512-bit FMAs, from the measured FMA rates at both widths.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub enum Fma512 {
    /// No AVX-512 (or not measured).
    Absent,
    /// 512-bit FMAs run at about twice the 256-bit FLOP rate: full-width units.
    FullWidth,
    /// 512-bit FMAs run at about the 256-bit FLOP rate: each is split into two 256-bit halves
    /// (AMD Zen 4) or issued on one fused port, so the wider vectors save instructions, not
    /// time.
    DoublePumped,
}

impl Fma512 {
    /// The decision from the two rates (GFLOP/s): full width when the 512-bit rate is at
    /// least 1.5× the 256-bit one (the midpoint of the two hypotheses, 1× and 2×).
    pub fn classify(gflops_256: f64, gflops_512: Option<f64>) -> Self {
        match gflops_512 {
            Some(w) if w.is_finite() && w > 0.0 && gflops_256 > 0.0 => {
                if w >= 1.5 * gflops_256 {
                    Fma512::FullWidth
                } else {
                    Fma512::DoublePumped
                }
            }
            _ => Fma512::Absent,
        }
    }

    /// `none`, `full width` or `double-pumped`.
    pub fn name(&self) -> &'static str {
        match self {
            Fma512::Absent => "none",
            Fma512::FullWidth => "full width",
            Fma512::DoublePumped => "double-pumped",
        }
    }
}

/// The CPU limits measured in one run.
#[derive(Debug, Clone, Copy, PartialEq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub struct CpuLimits {
    /// Threads used for the multi-threaded figures.
    pub threads: usize,
    /// Sequential read bandwidth with one thread, GB/s (see [`read_bandwidth`]).
    pub read_gbps_1t: f64,
    /// Sequential read bandwidth with all threads, GB/s (see [`read_bandwidth`]): the limit
    /// of every memory-bound figure.
    pub read_gbps: f64,
    /// Bytes of the buffer the read bandwidth was measured on (at least 4× the L3 cache).
    pub read_bytes: u64,
    /// Independent read streams per thread of the best all-thread pass.
    pub read_streams: usize,
    /// f32 GEMM rate of a 2048³ product with all threads, GFLOP/s (the `gemm` crate, which
    /// uses 256-bit vectors).
    pub gemm_gflops: f64,
    /// f32 FMA peak with all threads, GFLOP/s: the larger of [`CpuLimits::fma_gflops_256`]
    /// and [`CpuLimits::fma_gflops_512`]. No kernel can exceed it.
    pub fma_gflops: f64,
    /// f32 FMA rate with 256-bit vectors (AVX2; the scalar loop on a CPU without AVX2), all
    /// threads, GFLOP/s.
    pub fma_gflops_256: f64,
    /// f32 FMA rate with 512-bit vectors, all threads, GFLOP/s (`None` without AVX-512).
    pub fma_gflops_512: Option<f64>,
    /// How the CPU issues 512-bit FMAs (from the two rates).
    pub fma512: Fma512,
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

/// Sums a slice with sixteen independent accumulators (portable; the probe's fallback).
fn read_sum_portable(data: &[f32]) -> f32 {
    let mut acc = [0.0f32; 16];
    let mut it = data.chunks_exact(16);
    for c in &mut it {
        for j in 0..16 {
            acc[j] += c[j];
        }
    }
    acc.iter().sum::<f32>() + it.remainder().iter().sum::<f32>()
}

#[cfg(target_arch = "x86_64")]
mod probe {
    //! The read kernels of the bandwidth probe: `S` independent streams (consecutive equal
    //! parts of the slice read side by side), eight vector accumulators, unrolled.
    use std::arch::x86_64::*;

    /// f32 per step of one stream: eight 512-bit vectors (eight cache lines).
    pub const STEP: usize = 128;

    /// Sums `data` with 512-bit loads from `S` streams.
    ///
    /// # Safety
    /// The CPU must support AVX-512F.
    #[target_feature(enable = "avx512f")]
    pub unsafe fn sum512<const S: usize>(data: &[f32]) -> f32 {
        let per = data.len() / S / STEP * STEP;
        let p = data.as_ptr();
        let mut acc = [_mm512_setzero_ps(); 8];
        let mut i = 0;
        while i < per {
            for s in 0..S {
                let q = p.add(s * per + i);
                for (j, a) in acc.iter_mut().enumerate() {
                    *a = _mm512_add_ps(*a, _mm512_loadu_ps(q.add(16 * j)));
                }
            }
            i += STEP;
        }
        let mut v = acc[0];
        for a in &acc[1..] {
            v = _mm512_add_ps(v, *a);
        }
        _mm512_reduce_add_ps(v) + data[S * per..].iter().sum::<f32>()
    }

    /// Sums `data` with 256-bit loads from `S` streams.
    ///
    /// # Safety
    /// The CPU must support AVX.
    #[target_feature(enable = "avx")]
    pub unsafe fn sum256<const S: usize>(data: &[f32]) -> f32 {
        let per = data.len() / S / STEP * STEP;
        let p = data.as_ptr();
        let mut acc = [_mm256_setzero_ps(); 8];
        let mut i = 0;
        while i < per {
            for s in 0..S {
                let q = p.add(s * per + i);
                for (j, a) in acc.iter_mut().enumerate() {
                    *a = _mm256_add_ps(*a, _mm256_loadu_ps(q.add(8 * j)));
                    *a = _mm256_add_ps(*a, _mm256_loadu_ps(q.add(64 + 8 * j)));
                }
            }
            i += STEP;
        }
        let mut v = acc[0];
        for a in &acc[1..] {
            v = _mm256_add_ps(v, *a);
        }
        let mut out = [0.0f32; 8];
        _mm256_storeu_ps(out.as_mut_ptr(), v);
        out.iter().sum::<f32>() + data[S * per..].iter().sum::<f32>()
    }
}

/// The numbers of independent streams per thread the probe tries.
pub const READ_STREAMS: [usize; 3] = [1, 2, 4];

/// Sums a slice as a pure streaming read: `streams` independent sequential streams (1, 2, 4
/// or 8; others are read as 1) over consecutive equal parts, eight vector accumulators, the
/// widest loads the CPU has (512-bit with AVX-512F, else 256-bit with AVX, else portable).
pub fn read_sum_streams(data: &[f32], streams: usize) -> f32 {
    #[cfg(target_arch = "x86_64")]
    {
        macro_rules! pick {
            ($f:ident) => {
                // SAFETY: the caller checked the feature `$f` needs.
                unsafe {
                    match streams {
                        2 => probe::$f::<2>(data),
                        4 => probe::$f::<4>(data),
                        8 => probe::$f::<8>(data),
                        _ => probe::$f::<1>(data),
                    }
                }
            };
        }
        if is_x86_feature_detected!("avx512f") {
            return pick!(sum512);
        }
        if is_x86_feature_detected!("avx") {
            return pick!(sum256);
        }
    }
    let _ = streams;
    read_sum_portable(data)
}

/// Sums a slice as a pure streaming read with the probe's default shape (two streams; see
/// [`read_sum_streams`]).
pub fn read_sum(data: &[f32]) -> f32 {
    read_sum_streams(data, 2)
}

/// The L3 cache size in bytes from sysfs (`/sys/devices/system/cpu/cpu0/cache/index3/size`),
/// `None` where it cannot be read.
pub fn l3_bytes() -> Option<u64> {
    let s = std::fs::read_to_string("/sys/devices/system/cpu/cpu0/cache/index3/size").ok()?;
    parse_cache_size(&s)
}

/// Parses a sysfs cache size: `32768K`, `32M`, `1G` or plain bytes.
pub fn parse_cache_size(s: &str) -> Option<u64> {
    let s = s.trim();
    let (num, mult) = match s.char_indices().last()? {
        (i, 'K' | 'k') => (&s[..i], 1u64 << 10),
        (i, 'M' | 'm') => (&s[..i], 1 << 20),
        (i, 'G' | 'g') => (&s[..i], 1 << 30),
        _ => (s, 1),
    };
    num.trim().parse::<u64>().ok()?.checked_mul(mult)
}

/// The size of the read-bandwidth buffer: 4× the L3 cache (at least 64 MiB, at most 4 GiB)
/// when sysfs tells the L3 size, else 256 MiB.
pub fn read_probe_bytes(l3: Option<u64>) -> u64 {
    match l3 {
        Some(b) if b > 0 => (4 * b).clamp(64 << 20, 4 << 30),
        _ => 256 << 20,
    }
}

/// One read-bandwidth measurement (see [`read_bandwidth`]).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ReadBandwidth {
    /// The best rate, GB/s.
    pub gbps: f64,
    /// Streams per thread of the best pass.
    pub streams: usize,
    /// Bytes read per pass.
    pub bytes: u64,
}

/// A buffer of `n` f32 backed by transparent huge pages where the kernel gives them (as the
/// engine's arena is), touched before use.
fn probe_buffer(n: usize) -> Vec<f32> {
    let mut v: Vec<f32> = Vec::with_capacity(n);
    crate::vectors::advise_huge(v.as_ptr() as *const u8, n * 4);
    v.resize(n, 1.0);
    v
}

/// The read bandwidth of `threads` threads (one per core) streaming through a buffer of
/// `bytes` bytes, STREAM-style: each thread reads its own consecutive part with every stream
/// count of [`READ_STREAMS`]; all threads start together at a barrier and the time is taken
/// from the first barrier to the last thread's end; the best of `reps` passes per shape.
/// A kernel reading the same volume can approach this rate but not pass it.
pub fn read_bandwidth_probe(threads: usize, bytes: u64, reps: usize) -> ReadBandwidth {
    let threads = threads.max(1);
    // Whole steps of 8 streams × 128 f32 per thread, so no part has a tail.
    let unit = 8 * 128 * threads;
    let n = ((bytes / 4) as usize / unit).max(1) * unit;
    let data = probe_buffer(n);
    let per = n / threads;
    let barrier = std::sync::Barrier::new(threads);
    let mut best = ReadBandwidth {
        gbps: 0.0,
        streams: 1,
        bytes: (n * 4) as u64,
    };
    for &streams in &READ_STREAMS {
        let times = std::thread::scope(|sc| {
            let handles: Vec<_> = data
                .chunks(per)
                .map(|part| {
                    let barrier = &barrier;
                    sc.spawn(move || {
                        std::hint::black_box(read_sum_streams(part, streams));
                        let mut t = Vec::with_capacity(reps);
                        for _ in 0..reps.max(1) {
                            barrier.wait();
                            let s = Instant::now();
                            std::hint::black_box(read_sum_streams(part, streams));
                            barrier.wait();
                            t.push(s.elapsed());
                        }
                        t
                    })
                })
                .collect();
            handles
                .into_iter()
                .filter_map(|h| h.join().ok())
                .collect::<Vec<_>>()
        });
        // Pass i took the longest of the threads' times for it (they all start at the
        // first barrier and the pass ends when the last one reaches the second).
        let passes = times.first().map_or(0, Vec::len);
        for i in 0..passes {
            let t = times.iter().map(|v| v[i]).max().unwrap_or_default();
            let gbps = (n * 4) as f64 / t.as_secs_f64().max(1e-9) / 1e9;
            if gbps > best.gbps {
                best.gbps = gbps;
                best.streams = streams;
            }
        }
    }
    best
}

/// Read bandwidth in GB/s of `threads` threads over a buffer of `bytes` bytes (see
/// [`read_bandwidth_probe`]; best of 7 passes per shape).
pub fn read_bandwidth(threads: usize, bytes: usize) -> f64 {
    read_bandwidth_probe(threads, bytes as u64, 7).gbps
}

/// GEMM rate in GFLOP/s of an `m`³ f32 product through the `gemm` crate with `threads`
/// threads (median of several runs).
pub fn gemm_rate(m: usize, threads: usize) -> f64 {
    let a: Vec<f32> = (0..m * m).map(|i| ((i % 13) as f32) * 0.1).collect();
    let b: Vec<f32> = (0..m * m).map(|i| ((i % 11) as f32) * 0.1).collect();
    let mut c = vec![0.0f32; m * m];
    let par = if threads <= 1 {
        Threads::One
    } else {
        Threads::Rayon(threads)
    };
    let t = median_time(5, || matmul(m, m, m, &a, &b, &mut c, par));
    2.0 * (m as f64).powi(3) / t.as_secs_f64() / 1e9
}

/// The f32 FMA rate in GFLOP/s at `level` with `threads` threads: each runs independent
/// FMAs on registers ([`crate::compute::cpu::fma_loop`]: sixteen 512-bit or twelve 256-bit
/// accumulator chains, enough to hide the latency) for about 50 ms; median of 5 runs.
pub fn fma_rate(level: crate::compute::cpu::SimdLevel, threads: usize) -> f64 {
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

/// The FMA rates at both vector widths the CPU has (see [`CpuLimits`]).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct FmaPeak {
    /// 256-bit rate (the scalar loop without AVX2), GFLOP/s.
    pub gflops_256: f64,
    /// 512-bit rate, GFLOP/s (`None` without AVX-512).
    pub gflops_512: Option<f64>,
}

impl FmaPeak {
    /// Measures both widths with `threads` threads (whatever `ENGRAM_SIMD` says: this is the
    /// CPU's limit, not the kernels' level).
    pub fn measure(threads: usize) -> Self {
        use crate::compute::cpu::SimdLevel;
        let narrow = if SimdLevel::Avx2Fma.supported() {
            SimdLevel::Avx2Fma
        } else {
            SimdLevel::Scalar
        };
        Self {
            gflops_256: fma_rate(narrow, threads),
            gflops_512: SimdLevel::Avx512
                .supported()
                .then(|| fma_rate(SimdLevel::Avx512, threads)),
        }
    }

    /// The peak: the larger of the two rates.
    pub fn gflops(&self) -> f64 {
        self.gflops_256.max(self.gflops_512.unwrap_or(0.0))
    }

    /// How 512-bit FMAs issue ([`Fma512::classify`]).
    pub fn fma512(&self) -> Fma512 {
        Fma512::classify(self.gflops_256, self.gflops_512)
    }
}

/// The f32 FMA peak in GFLOP/s with `threads` threads: the larger of the 256-bit and 512-bit
/// rates ([`FmaPeak`]).
pub fn fma_peak(threads: usize) -> f64 {
    FmaPeak::measure(threads).gflops()
}

/// Measures the CPU limits: read bandwidth (a buffer of 4× the L3 cache, one and all
/// threads), the FMA rates at both widths and GEMM (2048³).
pub fn cpu_limits() -> CpuLimits {
    let threads = rayon::current_num_threads();
    let bytes = read_probe_bytes(l3_bytes());
    let one = read_bandwidth_probe(1, bytes, 10);
    let all = read_bandwidth_probe(threads, bytes, 10);
    let fma = FmaPeak::measure(threads);
    CpuLimits {
        threads,
        read_gbps_1t: one.gbps,
        read_gbps: all.gbps,
        read_bytes: all.bytes,
        read_streams: all.streams,
        gemm_gflops: gemm_rate(2048, threads),
        fma_gflops: fma.gflops(),
        fma_gflops_256: fma.gflops_256,
        fma_gflops_512: fma.gflops_512,
        fma512: fma.fma512(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn double_pumped_when_512_is_no_faster() {
        assert_eq!(Fma512::classify(100.0, Some(104.0)), Fma512::DoublePumped);
        assert_eq!(Fma512::classify(100.0, Some(90.0)), Fma512::DoublePumped);
        assert_eq!(Fma512::classify(100.0, Some(149.0)), Fma512::DoublePumped);
        assert_eq!(Fma512::classify(100.0, Some(150.0)), Fma512::FullWidth);
        assert_eq!(Fma512::classify(100.0, Some(196.0)), Fma512::FullWidth);
        assert_eq!(Fma512::classify(100.0, None), Fma512::Absent);
        assert_eq!(Fma512::classify(0.0, Some(10.0)), Fma512::Absent);
        assert_eq!(Fma512::classify(100.0, Some(f64::NAN)), Fma512::Absent);
        let p = FmaPeak {
            gflops_256: 100.0,
            gflops_512: Some(98.0),
        };
        assert_eq!(p.gflops(), 100.0);
        assert_eq!(p.fma512().name(), "double-pumped");
    }

    #[test]
    fn cache_sizes_parse() {
        assert_eq!(parse_cache_size("32768K\n"), Some(32 << 20));
        assert_eq!(parse_cache_size("32M"), Some(32 << 20));
        assert_eq!(parse_cache_size("1G"), Some(1 << 30));
        assert_eq!(parse_cache_size("4096"), Some(4096));
        assert_eq!(parse_cache_size(""), None);
        assert_eq!(parse_cache_size("lots"), None);
        assert_eq!(read_probe_bytes(Some(32 << 20)), 128 << 20);
        assert_eq!(read_probe_bytes(Some(1 << 20)), 64 << 20);
        assert_eq!(read_probe_bytes(None), 256 << 20);
    }

    #[test]
    fn every_stream_shape_reads_everything() {
        let data: Vec<f32> = (0..10_000).map(|i| (i % 5) as f32).collect();
        let want: f32 = data.iter().sum();
        for s in [1, 2, 3, 4, 8] {
            assert_eq!(read_sum_streams(&data, s), want, "{s} streams");
        }
        let r = read_bandwidth_probe(2, 4 << 20, 2);
        assert!(r.gbps > 0.0 && r.bytes >= 4 << 20, "{r:?}");
    }
}
