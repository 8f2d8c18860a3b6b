//! The CLI's contract on every command: `--help`, a single JSON document on stdout with
//! `--json`, and misuse exiting with code 2 and a one-line error.

use std::process::{Command, Output};

fn engram(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_engram"))
        .args(args)
        .env_remove("ENGRAM_BACKEND")
        .output()
        .expect("the engram binary runs")
}

#[test]
fn every_command_has_help() {
    for cmd in [
        "demo",
        "info",
        "synth",
        "stream",
        "bench",
        "search",
        "concepts",
        "consolidate",
    ] {
        let out = engram(&[cmd, "--help"]);
        assert!(out.status.success(), "{cmd} --help failed");
        let text = String::from_utf8_lossy(&out.stdout);
        assert!(text.contains("--json"), "{cmd} --help lists --json");
        assert!(text.contains("--backend"), "{cmd} --help lists --backend");
    }
}

fn assert_usage_error(args: &[&str], needle: &str) {
    let out = engram(args);
    assert_eq!(out.status.code(), Some(2), "{args:?} exits with 2");
    assert!(out.stdout.is_empty(), "{args:?} prints nothing on stdout");
    let err = String::from_utf8_lossy(&out.stderr);
    let first = err.lines().next().unwrap_or_default();
    assert!(first.starts_with("error:"), "{args:?}: {err}");
    assert!(err.contains(needle), "{args:?}: {err} lacks {needle:?}");
}

#[test]
fn bad_arguments_exit_with_2() {
    assert_usage_error(&["stream", "--n", "0"], "at least 1");
    assert_usage_error(&["stream", "--n", "ten"], "not a whole number");
    assert_usage_error(&["stream", "--precision", "f8"], "f32, f16, f32+f16");
    assert_usage_error(&["--backend", "tpu", "info"], "auto, cpu, gpu");
    assert_usage_error(&["bench", "--sizes", "100,0"], "at least 1");
    assert_usage_error(&["frobnicate"], "frobnicate");
    // Validation after parsing also exits with 2.
    assert_usage_error(
        &["stream", "--n", "10", "--clusters", "20"],
        "invalid stream",
    );
    assert_usage_error(
        &["stream", "--n", "1000", "--clusters", "4", "--k", "2000"],
        "--k 2000",
    );
    assert_usage_error(
        &["stream", "--n", "1000", "--k", "4", "--discover"],
        "cannot be used with",
    );
    assert_usage_error(&["demo", "--n", "10", "--clusters", "20"], "--clusters 20");
}

#[test]
fn info_reports_cpu_and_auto_choice() {
    let out = engram(&["info", "--json"]);
    assert!(out.status.success());
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).expect("one JSON document");
    assert!(v["cpu"]["simd"].is_string());
    assert!(v["cpu"]["threads"].as_u64().unwrap() >= 1);
    assert!(v["auto"]["reason"].is_string());
    // Either an adapter with its limits, or the reason there is none.
    let gpu = &v["gpu"];
    assert!(
        gpu["adapter"].is_string() || gpu["error"].is_string(),
        "{gpu}"
    );
    if gpu["adapter"].is_string() {
        assert!(
            gpu["limits"]["max_storage_buffer_binding_size"]
                .as_u64()
                .unwrap()
                > 0
        );
        // Auto never takes a software adapter.
        if gpu["software"] == true {
            assert_eq!(gpu["auto_takes_it"], false);
        }
    }
}

#[test]
fn demo_finds_the_clusters() {
    let out = engram(&[
        "demo",
        "--n",
        "3000",
        "--dim",
        "64",
        "--clusters",
        "4",
        "--backend",
        "cpu",
        "--json",
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["episodes"], 3000);
    assert_eq!(v["concepts"], 4);
    assert!(v["ari"].as_f64().unwrap() >= 0.9, "{v}");
    assert!(v["nmi"].as_f64().unwrap() >= 0.9, "{v}");
    assert_eq!(v["cycles"].as_array().unwrap().len(), 2);
    // The second cycle starts from the first one's concepts.
    assert_eq!(v["cycles"][1]["concepts_updated"], 4, "{v}");
    let shown = v["shown"].as_array().unwrap();
    assert_eq!(shown.len(), 3);
    for c in shown {
        assert!(c["purity"].as_f64().unwrap() >= 0.9, "{c}");
        assert_eq!(c["strongest_members"].as_array().unwrap().len(), 5);
    }
    for (key, mode) in [("recall", "blended"), ("recall_semantic", "semantic")] {
        let r = &v[key];
        assert_eq!(r["mode"], mode);
        assert_eq!(r["hits"].as_array().unwrap().len(), 5, "{r}");
        assert_eq!(r["same_cluster"], 5, "{r}");
        assert_eq!(r["hits"][0]["episode"], r["cue_episode"], "{r}");
        assert!(r["hits"][0]["via"].as_str().unwrap().contains("semantic"));
    }
}
