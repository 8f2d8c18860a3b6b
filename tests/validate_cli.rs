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

/// An installed binary has no repository next to it: `--data` names the data directory, and
/// a missing one stops the command at once with one line naming the file, the directory and
/// where to get the data.
#[test]
fn validate_missing_data_is_one_clear_error() {
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_engram"))
        .args(["validate", "--data", "/nonexistent"])
        .env_remove("ENGRAM_DATA_DIR")
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(out.stdout.is_empty(), "nothing ran");
    let err = String::from_utf8_lossy(&out.stderr);
    let lines: Vec<&str> = err.lines().filter(|l| !l.trim().is_empty()).collect();
    assert_eq!(lines.len(), 1, "one line: {err}");
    let line = lines[0];
    for want in [
        "/nonexistent/drm/lists.json",
        "searched /nonexistent",
        "--data",
        "clone the repository",
        "ENGRAM_DATA_DIR",
    ] {
        assert!(line.contains(want), "`{want}` in: {line}");
    }
    // ENGRAM_DATA_DIR is named as the source when it is the one searched.
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_engram"))
        .args(["validate", "--only", "drm"])
        .env("ENGRAM_DATA_DIR", "/nonexistent-env")
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("searched /nonexistent-env, from $ENGRAM_DATA_DIR"),
        "{err}"
    );
}

/// `--data` pointing at the repository's data/ runs the DRM experiment (and overrides a
/// wrong ENGRAM_DATA_DIR).
#[test]
fn validate_data_flag_overrides_the_environment() {
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_engram"))
        .args(["validate", "--json", "--only", "drm", "--data"])
        .arg(concat!(env!("CARGO_MANIFEST_DIR"), "/data"))
        .env("ENGRAM_DATA_DIR", "/nonexistent")
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["experiments"][0]["name"], "drm");
}
