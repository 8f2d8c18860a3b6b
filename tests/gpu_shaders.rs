//! Every shader parses and validates with naga (no GPU needed).

use std::path::Path;

#[test]
fn every_shader_validates() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("shaders");
    let mut n = 0;
    for entry in std::fs::read_dir(&dir).expect("shaders directory") {
        let path = entry.expect("dir entry").path();
        if path.extension().and_then(|e| e.to_str()) != Some("wgsl") {
            continue;
        }
        let src = std::fs::read_to_string(&path).expect("read shader");
        let module = naga::front::wgsl::parse_str(&src)
            .unwrap_or_else(|e| panic!("{}: {}", path.display(), e.emit_to_string(&src)));
        naga::valid::Validator::new(
            naga::valid::ValidationFlags::all(),
            naga::valid::Capabilities::all(),
        )
        .validate(&module)
        .unwrap_or_else(|e| panic!("{}: {}", path.display(), e.emit_to_string(&src)));
        n += 1;
    }
    assert!(n >= 8, "expected at least 8 shaders, found {n}");
}

/// The tiled search kernel validates with the override values the host picks (every query block
/// and list length it can choose, f32 and f16): naga rejects e.g. a division by a constant zero
/// only once the overrides are known.
#[test]
fn tiled_search_validates_with_host_overrides() {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("shaders/search_tiled.wgsl");
    let src = std::fs::read_to_string(&path).expect("read shader");
    let module = naga::front::wgsl::parse_str(&src).expect("parse");
    let info = naga::valid::Validator::new(
        naga::valid::ValidationFlags::all(),
        naga::valid::Capabilities::all(),
    )
    .validate(&module)
    .expect("validate");
    for q in [8u32, 16, 32, 64] {
        for kp in [1u32, 2, 16, 128] {
            for f16 in [0.0, 1.0] {
                let buf = ((q + 64) * 16).max(q * 64);
                let mut c = naga::back::PipelineConstants::default();
                c.insert("Q".into(), f64::from(q));
                c.insert("KP".into(), f64::from(kp));
                c.insert("BUF".into(), f64::from(buf));
                c.insert("LSLOTS".into(), f64::from(q * kp));
                c.insert("F16".into(), f16);
                let (m, _) = naga::back::pipeline_constants::process_overrides(
                    &module,
                    &info,
                    Some((naga::ShaderStage::Compute, "main")),
                    &c,
                )
                .unwrap_or_else(|e| panic!("Q={q} KP={kp} F16={f16}: {e:?}"));
                naga::valid::Validator::new(
                    naga::valid::ValidationFlags::all(),
                    naga::valid::Capabilities::all(),
                )
                .validate(&m)
                .unwrap_or_else(|e| panic!("Q={q} KP={kp} F16={f16}: {e:?}"));
            }
        }
    }
}
