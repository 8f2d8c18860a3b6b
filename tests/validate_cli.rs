//! `engram validate --json` prints one document and exits 0 when everything passes.

#[test]
fn validate_json() {
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_engram"))
        .args([
            "validate",
            "--json",
            "--only",
            "fan,drm,spacing,forgetting,prototype",
        ])
        .output()
        .unwrap();
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let ex = v["experiments"].as_array().unwrap();
    assert_eq!(ex.len(), 5);
    for e in ex {
        assert_eq!(e["pass"], true, "{e}");
    }
    assert!(out.status.success());
    let bad = std::process::Command::new(env!("CARGO_BIN_EXE_engram"))
        .args(["validate", "--only", "drm", "--drm-dir", "/nonexistent"])
        .output()
        .unwrap();
    assert!(!bad.status.success());
}
