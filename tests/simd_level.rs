//! `SimdLevel` names what runs: `Avx512` where the CPU has AVX-512F (with AVX2, FMA, F16C),
//! lowered to `Avx2Fma` by `ENGRAM_SIMD=avx2` and to scalar by `ENGRAM_SIMD=scalar`; `engram
//! info` prints the level in use.

#[cfg(feature = "cli")]
use std::process::Command;

use engram::compute::cpu::SimdLevel;

#[cfg(target_arch = "x86_64")]
fn cpu_has_avx512() -> bool {
    is_x86_feature_detected!("avx512f")
        && is_x86_feature_detected!("avx2")
        && is_x86_feature_detected!("fma")
        && is_x86_feature_detected!("f16c")
}

#[cfg(target_arch = "x86_64")]
#[test]
fn detect_is_avx512_when_the_cpu_has_it() {
    if cpu_has_avx512() {
        assert_eq!(SimdLevel::detect(), SimdLevel::Avx512);
        assert_eq!(SimdLevel::detect().name(), "avx512");
        let v = SimdLevel::available();
        assert!(v.contains(&SimdLevel::Avx2Fma) && v.contains(&SimdLevel::Avx512));
    } else {
        assert_ne!(SimdLevel::detect(), SimdLevel::Avx512);
        assert!(!SimdLevel::Avx512.supported());
    }
}

/// `engram info --json`'s `cpu.simd` with `ENGRAM_SIMD` set to `env` (or unset); needs the
/// binary (the `cli` feature).
#[cfg(feature = "cli")]
fn info_simd(env: Option<&str>) -> String {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_engram"));
    cmd.args(["info", "--json", "--backend", "cpu"]);
    match env {
        Some(v) => cmd.env("ENGRAM_SIMD", v),
        None => cmd.env_remove("ENGRAM_SIMD"),
    };
    let out = cmd.output().expect("the engram binary runs");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).expect("one JSON document");
    v["cpu"]["simd"].as_str().expect("cpu.simd").to_string()
}

#[cfg(feature = "cli")]
#[test]
fn engram_simd_chooses_the_level_info_reports() {
    let best = SimdLevel::detect();
    assert_eq!(info_simd(None), best.name());
    assert_eq!(info_simd(Some("scalar")), "scalar");
    let want_avx2 = match best {
        SimdLevel::Avx512 => SimdLevel::Avx2Fma,
        other => other,
    };
    assert_eq!(info_simd(Some("avx2")), want_avx2.name());
    #[cfg(target_arch = "x86_64")]
    if cpu_has_avx512() {
        assert_eq!(info_simd(None), "avx512");
        assert_eq!(info_simd(Some("avx2")), "avx2+fma");
    }
}
