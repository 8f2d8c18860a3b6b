//! Probes of the device's limits for the benchmark: memory bandwidth and FMA throughput, timed
//! on the wall clock around submit and poll-to-completion.

use std::time::Instant;

use super::context::GpuContext;
use crate::compute::error::GpuError;

const COPY_SRC: &str = super::shaders::COPY_BW.source;
const FMA_SRC: &str = super::shaders::FMA_PEAK.source;
const WG: u32 = 256;

#[repr(C)]
#[derive(Clone, Copy, Debug, bytemuck::Pod, bytemuck::Zeroable)]
struct CopyParams {
    n: u32,
    threads: u32,
    _pad: [u32; 2],
}

#[repr(C)]
#[derive(Clone, Copy, Debug, bytemuck::Pod, bytemuck::Zeroable)]
struct FmaParams {
    iters: u32,
    _pad: [u32; 3],
}

/// Device memory bandwidth in GB/s (bytes read plus bytes written per second) of a copy kernel
/// over a buffer sized from the device limits (32 MiB on a software adapter, up to 256 MiB).
pub fn measure_bandwidth(ctx: &GpuContext) -> Result<f64, GpuError> {
    let caps = ctx.capabilities();
    let cap: u64 = if caps.is_software {
        32 << 20
    } else {
        256 << 20
    };
    let bytes = cap
        .min(ctx.binding_limit())
        .min(caps.max_buffer_size)
        .min(u64::from(u32::MAX) * 16)
        / 16
        * 16;
    let reps: u32 = if caps.is_software { 4 } else { 20 };
    let n = (bytes / 16) as u32;
    let groups = n
        .div_ceil(WG)
        .clamp(1, caps.max_workgroups_per_dimension.min(4096));
    ctx.scoped(|| {
        let pipe = ctx.pipeline("copy_bw", COPY_SRC, &[("WG", f64::from(WG))])?;
        let src = ctx.storage_buffer("engram bw src", bytes, false)?;
        let dst = ctx.storage_buffer("engram bw dst", bytes, false)?;
        let p = ctx.uniform(
            "engram bw params",
            &CopyParams {
                n,
                threads: groups * WG,
                _pad: [0; 2],
            },
        );
        let run = |reps: u32| -> Result<f64, GpuError> {
            let mut enc = ctx.encoder();
            for _ in 0..reps {
                ctx.dispatch(&mut enc, &pipe, &[&src, &dst, &p], (groups, 1, 1));
            }
            let t = Instant::now();
            ctx.submit_wait(enc)?;
            Ok(t.elapsed().as_secs_f64())
        };
        run(1)?;
        let secs = run(reps)?;
        Ok(2.0 * bytes as f64 * f64::from(reps) / secs / 1e9)
    })
}

/// Arithmetic throughput in GFLOP/s (an FMA counts as two) of independent FMA chains, sized
/// to run well under a second on a software adapter.
pub fn measure_fma_peak(ctx: &GpuContext) -> Result<f64, GpuError> {
    let caps = ctx.capabilities();
    let (groups, iters): (u32, u32) = if caps.is_software {
        (64, 2048)
    } else {
        (4096, 16384)
    };
    let groups = groups.min(caps.max_workgroups_per_dimension);
    let threads = u64::from(groups) * u64::from(WG);
    ctx.scoped(|| {
        let pipe = ctx.pipeline("fma_peak", FMA_SRC, &[("WG", f64::from(WG))])?;
        let out = ctx.storage_buffer("engram fma out", threads * 4, false)?;
        let p = ctx.uniform(
            "engram fma params",
            &FmaParams {
                iters,
                _pad: [0; 3],
            },
        );
        let run = || -> Result<f64, GpuError> {
            let mut enc = ctx.encoder();
            ctx.dispatch(&mut enc, &pipe, &[&out, &p], (groups, 1, 1));
            let t = Instant::now();
            ctx.submit_wait(enc)?;
            Ok(t.elapsed().as_secs_f64())
        };
        run()?;
        let secs = run()?;
        // 8 vec4 FMAs per iteration, 2 FLOP each.
        Ok(threads as f64 * f64::from(iters) * 8.0 * 4.0 * 2.0 / secs / 1e9)
    })
}
