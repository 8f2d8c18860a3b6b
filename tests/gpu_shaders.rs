//! Every shader, as loaded (behind the prelude), parses and validates with naga (no GPU
//! needed).

use std::path::Path;

use engram::compute::gpu::shaders;

fn validate(name: &str, src: &str) -> (naga::Module, naga::valid::ModuleInfo) {
    let module = naga::front::wgsl::parse_str(src)
        .unwrap_or_else(|e| panic!("{name}: {}", e.emit_to_string(src)));
    let info = naga::valid::Validator::new(
        naga::valid::ValidationFlags::all(),
        naga::valid::Capabilities::all(),
    )
    .validate(&module)
    .unwrap_or_else(|e| panic!("{name}: {}", e.emit_to_string(src)));
    (module, info)
}

/// Every kernel, as loaded (its file behind the prelude and the library parts it uses),
/// validates; and every `.wgsl` file in `shaders/` is part of some kernel, so none escapes
/// validation.
#[test]
fn every_shader_validates() {
    for s in shaders::ALL {
        validate(s.name, s.source);
    }
    assert!(shaders::ALL.len() >= 11, "expected at least 11 kernels");
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("shaders");
    let mut files = Vec::new();
    for dir in [root.clone(), root.join("lib")] {
        for entry in std::fs::read_dir(&dir).expect("shaders directory") {
            let path = entry.expect("dir entry").path();
            if path.extension().and_then(|e| e.to_str()) == Some("wgsl") {
                let rel = path.strip_prefix(&root).expect("under shaders/");
                files.push(rel.to_string_lossy().replace('\\', "/"));
            }
        }
    }
    for f in &files {
        assert!(
            shaders::ALL.iter().any(|s| s.files.contains(&f.as_str())),
            "shaders/{f} is not part of any kernel"
        );
    }
    // The source is exactly its files, in order.
    for s in shaders::ALL {
        let mut want = String::new();
        for (i, f) in s.files.iter().enumerate() {
            if i > 0 {
                want.push('\n');
            }
            want.push_str(&std::fs::read_to_string(root.join(f)).expect("read shader"));
        }
        assert_eq!(s.source, want, "{}: not its files", s.name);
    }
}

/// The tiled search kernel validates with the override values the host picks (every query block
/// and list length it can choose, f32 and f16): naga rejects e.g. a division by a constant zero
/// only once the overrides are known.
#[test]
fn tiled_search_validates_with_host_overrides() {
    for q in [8u32, 16, 32, 64] {
        for kp in [1u32, 2, 16, 128] {
            for f16 in [0.0, 1.0] {
                let buf = ((q + 64) * 16).max(q * 64);
                validate_with(
                    "search_tiled",
                    shaders::SEARCH_TILED.source,
                    &[
                        ("Q", f64::from(q)),
                        ("KP", f64::from(kp)),
                        ("BUF", f64::from(buf)),
                        ("LSLOTS", f64::from(q * kp)),
                        ("F16", f16),
                    ],
                );
            }
        }
    }
}

/// Validates `src` after substituting the override values `consts` (naga rejects some
/// mistakes, e.g. a zero-sized array or a division by zero, only once they are known).
fn validate_with(name: &str, src: &str, consts: &[(&str, f64)]) {
    let (module, info) = validate(name, src);
    let mut c = naga::back::PipelineConstants::default();
    for (k, v) in consts {
        c.insert((*k).into(), *v);
    }
    let (m, _) = naga::back::pipeline_constants::process_overrides(
        &module,
        &info,
        Some((naga::ShaderStage::Compute, "main")),
        &c,
    )
    .unwrap_or_else(|e| panic!("{name} {consts:?}: {e:?}"));
    naga::valid::Validator::new(
        naga::valid::ValidationFlags::all(),
        naga::valid::Capabilities::all(),
    )
    .validate(&m)
    .unwrap_or_else(|e| panic!("{name} {consts:?}: {e:?}"));
}

/// The top-k scan and merge kernels with every shape the host picks (`search.rs::shape`:
/// power-of-two workgroups and lists, tile = max(list, workgroup), 1–8 queries per group),
/// k-means assignment in both layouts with and without the second best, and the gather.
#[test]
fn kernels_validate_with_host_overrides() {
    for wg in [32u32, 64, 128, 256] {
        for kp in [1u32, 2, 16, 128, 1024] {
            let t = kp.max(wg);
            for qt in [1u32, 2, 8] {
                for f16 in [0.0, 1.0] {
                    validate_with(
                        "search_topk",
                        shaders::SEARCH_TOPK.source,
                        &[
                            ("WG", f64::from(wg)),
                            ("KP", f64::from(kp)),
                            ("T", f64::from(t)),
                            ("QT", f64::from(qt)),
                            ("SLOTS", f64::from(qt * (kp + t))),
                            ("QSLOTS", f64::from(qt * 64)),
                            ("F16", f16),
                        ],
                    );
                }
            }
            validate_with(
                "topk_merge",
                shaders::TOPK_MERGE.source,
                &[
                    ("WG", f64::from(wg)),
                    ("KP", f64::from(kp)),
                    ("T", f64::from(t)),
                    ("SLOTS", f64::from(kp + t)),
                ],
            );
        }
    }
    for f16 in [0.0, 1.0] {
        for top2 in [0.0, 1.0] {
            validate_with(
                "kmeans_assign",
                shaders::KMEANS_ASSIGN.source,
                &[("WG", 64.0), ("F16", f16), ("TOP2", top2)],
            );
        }
        validate_with(
            "kmeans_sums",
            shaders::KMEANS_SUMS.source,
            &[("WG", 64.0), ("F16", f16)],
        );
    }
    validate_with("gather_rows", shaders::GATHER_ROWS.source, &[("WG", 64.0)]);
}

/// Every kernel is loaded through `compute/gpu/shaders.rs` (behind the prelude, and listed
/// for validation): no other source file embeds a `.wgsl` file itself.
#[test]
fn shaders_are_loaded_only_through_the_shader_list() {
    fn walk(dir: &Path, out: &mut Vec<std::path::PathBuf>) {
        for entry in std::fs::read_dir(dir).expect("read dir") {
            let path = entry.expect("dir entry").path();
            if path.is_dir() {
                walk(&path, out);
            } else if path.extension().and_then(|e| e.to_str()) == Some("rs") {
                out.push(path);
            }
        }
    }
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut files = Vec::new();
    walk(&root.join("src"), &mut files);
    let mut checked = 0;
    for f in files {
        let text = std::fs::read_to_string(&f).expect("read source");
        if f.ends_with("compute/gpu/shaders.rs") {
            continue;
        }
        checked += 1;
        assert!(
            !(text.contains("include_str!") && text.contains(".wgsl")),
            "{} embeds a shader itself: load it through compute/gpu/shaders.rs",
            f.display()
        );
    }
    assert!(
        checked > 50,
        "expected the crate's sources, found {checked}"
    );
}
