//! Device handling: capabilities, typed errors instead of panics, limit probes.

mod common;

use common::gpu::*;
use engram::compute::gpu::{
    measure_bandwidth, measure_fma_peak, GpuContext, GpuLayout, GpuMatrix, GpuOptions,
};
use engram::GpuError;

#[test]
fn public_types_are_send_and_sync() {
    fn assert_send_sync<T: Send + Sync>() {}
    assert_send_sync::<GpuContext>();
    assert_send_sync::<GpuMatrix>();
}

#[test]
fn capabilities_are_reported() {
    let Some(ctx) = gpu() else { return };
    let c = ctx.capabilities();
    eprintln!("{c:#?}");
    assert!(!c.adapter_name.is_empty());
    assert!(c.max_storage_buffer_binding_size >= 4096);
    assert!(c.max_buffer_size >= c.max_storage_buffer_binding_size);
    assert_eq!(c.is_software, c.device_type == "Cpu");
}

#[test]
fn impossible_allocation_is_a_typed_error() {
    let Some(ctx) = gpu() else { return };
    let max = ctx.capabilities().max_buffer_size;
    for bytes in [max + 1, u64::MAX / 2] {
        match ctx.try_allocate(bytes) {
            Err(GpuError::OutOfMemory(msg)) => eprintln!("{bytes} bytes: {msg}"),
            other => panic!("expected OutOfMemory for {bytes} bytes, got {other:?}"),
        }
    }
    // The context is still usable afterwards.
    ctx.try_allocate(1 << 20).expect("a small allocation");
    let m = GpuMatrix::from_rows(ctx, 4, GpuLayout::F32, &random_unit(3, 4, 1)).expect("matrix");
    assert_eq!(m.len(), 3);
}

#[test]
fn software_adapter_refused_unless_allowed() {
    let Some(ctx) = gpu() else { return };
    if !ctx.capabilities().is_software {
        return;
    }
    if std::env::var("WGPU_ADAPTER_NAME").is_ok() {
        return;
    }
    match GpuContext::new(&GpuOptions::default()) {
        Err(GpuError::NoAdapter(reason)) => assert!(reason.contains("software"), "{reason}"),
        Ok(c) => panic!("a software adapter was accepted: {:?}", c.capabilities()),
        Err(e) => panic!("unexpected error {e}"),
    }
}

#[test]
fn limit_probes_run() {
    let Some(ctx) = gpu() else { return };
    let t = std::time::Instant::now();
    let bw = measure_bandwidth(ctx).expect("bandwidth");
    let fma = measure_fma_peak(ctx).expect("fma");
    eprintln!(
        "bandwidth {bw:.1} GB/s, fma peak {fma:.1} GFLOP/s ({:.2}s)",
        t.elapsed().as_secs_f64()
    );
    assert!(bw > 0.0 && bw.is_finite());
    assert!(fma > 0.0 && fma.is_finite());
}
