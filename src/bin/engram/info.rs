//! `engram info`: what this machine offers — the CPU's SIMD level and the GPU adapter with its
//! driver, limits and features, and which backend `auto` would take.

use engram::compute::backend::{select, shared_context};
use engram::compute::cpu::SimdLevel;
use engram::compute::gpu::Capabilities;
use engram::BackendChoice;
use serde_json::{json, Value};

use crate::util::{print_json, Common};

/// Arguments of `engram info`.
#[derive(Debug, clap::Args)]
pub struct Args {}

/// The capabilities record as JSON.
pub fn caps_json(c: &Capabilities) -> Value {
    json!({
        "adapter": c.adapter_name, "api": c.backend, "device_type": c.device_type,
        "driver": c.driver, "software": c.is_software,
        "features": { "shader_f16": c.shader_f16, "subgroup": c.subgroup,
                      "timestamp_query": c.timestamp_query },
        "limits": {
            "max_storage_buffer_binding_size": c.max_storage_buffer_binding_size,
            "max_buffer_size": c.max_buffer_size,
            "max_compute_workgroup_storage_size": c.max_workgroup_storage,
            "max_compute_invocations_per_workgroup": c.max_invocations,
            "max_compute_workgroups_per_dimension": c.max_workgroups_per_dimension,
        },
    })
}

/// Runs `engram info`.
pub fn run(c: &Common, _a: Args) -> anyhow::Result<()> {
    // The level the kernels run at (`ENGRAM_SIMD` may lower the CPU's best).
    let simd = SimdLevel::current();
    let threads = rayon::current_num_threads();
    let gpu = shared_context(true);
    let auto = select(BackendChoice::Auto)?;
    let chosen = select(c.backend)
        .map(|s| json!({"backend": s.backend.describe(), "reason": s.reason}))
        .unwrap_or_else(|e| json!({"backend": Value::Null, "reason": e.to_string()}));
    let gpu_json = match &gpu {
        Ok(ctx) => {
            let mut v = caps_json(ctx.capabilities());
            v["auto_takes_it"] = json!(auto.backend.kind() == "gpu");
            v
        }
        Err(e) => json!({ "error": e.to_string() }),
    };
    let v = json!({
        "cpu": {
            "simd": simd.name(), "simd_best": SimdLevel::detect().name(), "threads": threads,
            "simd_available": SimdLevel::available().iter().map(|l| l.name()).collect::<Vec<_>>(),
        },
        "gpu": gpu_json,
        "auto": { "backend": auto.backend.describe(), "reason": auto.reason },
        "backend_requested": c.backend.name(),
        "backend_selected": chosen,
    });
    if c.json {
        return print_json(&v);
    }
    println!("CPU: {} SIMD, {threads} threads", simd.name());
    match &gpu {
        Ok(ctx) => {
            let k = ctx.capabilities();
            println!(
                "GPU: {} ({}, {}{}), driver {}",
                k.adapter_name,
                k.backend,
                k.device_type,
                if k.is_software { ", software" } else { "" },
                k.driver
            );
            println!(
                "     binding limit {} MiB, max buffer {} MiB, workgroup storage {} KiB, {} invocations/workgroup",
                k.max_storage_buffer_binding_size >> 20,
                k.max_buffer_size >> 20,
                k.max_workgroup_storage >> 10,
                k.max_invocations
            );
            println!(
                "     features: shader-f16 {}, subgroups {}, timestamp queries {}",
                k.shader_f16, k.subgroup, k.timestamp_query
            );
            println!(
                "     auto would {}take it",
                if auto.backend.kind() == "gpu" {
                    ""
                } else {
                    "not "
                }
            );
        }
        Err(e) => println!("GPU: none ({e})"),
    }
    println!("auto: {} — {}", auto.backend.describe(), auto.reason);
    Ok(())
}
