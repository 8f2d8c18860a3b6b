//! `engram info`: what this machine offers.

use engram::compute::cpu::SimdLevel;
use serde_json::json;

use crate::util::{print_json, Common};

/// Arguments of `engram info`.
#[derive(Debug, clap::Args)]
pub struct Args {}

/// Runs `engram info`.
pub fn run(c: &Common, _a: Args) -> anyhow::Result<()> {
    let simd = SimdLevel::detect();
    let threads = rayon::current_num_threads();
    let v = json!({
        "cpu": { "simd": simd.name(), "threads": threads },
        "backend_requested": c.backend.name(),
    });
    if c.json {
        print_json(&v)
    } else {
        println!("CPU: {} SIMD, {threads} threads", simd.name());
        Ok(())
    }
}
