//! `engram synth` writes `.npy` files that read back with the right shape and labels, and
//! `engram stream` pushes a stream (generated or read back) through ingest and consolidation.

use std::process::Command;

fn engram(args: &[&str]) -> serde_json::Value {
    let out = Command::new(env!("CARGO_BIN_EXE_engram"))
        .args(args)
        .env_remove("ENGRAM_BACKEND")
        .output()
        .expect("the engram binary runs");
    assert!(
        out.status.success(),
        "{args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).expect("one JSON document on stdout")
}

#[test]
fn synth_writes_npy_that_reads_back() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("s.npy");
    let v = engram(&[
        "synth",
        "--n",
        "1000",
        "--dim",
        "24",
        "--clusters",
        "5",
        "--chunk-rows",
        "300",
        "--seed",
        "3",
        "--out",
        data.to_str().unwrap(),
        "--json",
    ]);
    assert_eq!(v["n"], 1000);
    let labels = dir.path().join("s.labels.npy");
    assert_eq!(v["labels"], labels.to_str().unwrap());

    let f = npyz::NpyFile::new(std::fs::File::open(&data).unwrap()).unwrap();
    assert_eq!(f.shape(), &[1000, 24]);
    let rows: Vec<f32> = f.into_vec().unwrap();
    for r in rows.chunks_exact(24) {
        let norm: f32 = r.iter().map(|x| x * x).sum::<f32>().sqrt();
        assert!((norm - 1.0).abs() < 1e-4, "rows are unit length");
    }
    let l = npyz::NpyFile::new(std::fs::File::open(&labels).unwrap()).unwrap();
    assert_eq!(l.shape(), &[1000]);
    let labels: Vec<u32> = l.into_vec().unwrap();
    assert!(labels.iter().all(|&x| x < 5));
    for j in 0..5 {
        assert_eq!(
            labels.iter().filter(|&&x| x == j).count(),
            200,
            "equal sizes"
        );
    }
    // The same rows as the library's generator with the same seed (chunking changes nothing).
    let s = engram::synth::SynthParams::new(1000, 24, 5)
        .seed(3)
        .check()
        .unwrap()
        .generate();
    assert_eq!(s.labels, labels);
    assert_eq!(s.data, rows);
}

#[test]
fn stream_json_contract() {
    let v = engram(&[
        "stream",
        "--n",
        "6000",
        "--dim",
        "32",
        "--clusters",
        "6",
        "--seed",
        "5",
        "--backend",
        "cpu",
        "--chunk-rows",
        "1000",
        "--every",
        "2000",
        "--json",
    ]);
    for key in [
        "n",
        "dim",
        "concepts",
        "ari",
        "nmi",
        "episodes_per_s",
        "peak_rss_bytes",
        "backend",
    ] {
        assert!(!v[key].is_null(), "stream --json has {key}: {v}");
    }
    assert_eq!(v["n"], 6000);
    assert_eq!(v["dim"], 32);
    assert_eq!(v["episodes"], 6000);
    assert_eq!(v["backend"], "cpu");
    assert_eq!(v["concepts"], 6);
    assert!(v["ari"].as_f64().unwrap() >= 0.9, "{v}");
    assert!(v["nmi"].as_f64().unwrap() >= 0.9, "{v}");
    assert!(v["episodes_per_s"].as_f64().unwrap() > 0.0);
    assert!(v["peak_rss_bytes"].as_u64().unwrap() > 0);
    assert_eq!(v["cycles"], 3);
    assert_eq!(v["unbound"], 0.0, "{v}");
    // Scored on every episode (the stream is shorter than the sample).
    assert_eq!(v["quality_sample_rows"], 6000);
    let h = v["history"].as_array().unwrap();
    assert_eq!(h.len(), 3);
    // Concepts form in the first cycle and are confirmed (not re-created) by the next ones.
    assert_eq!(h[0]["concepts_created"], 6, "{v}");
    for c in &h[1..] {
        assert_eq!(c["concepts_created"], 0, "{c}");
        assert_eq!(c["concepts_updated"], 6, "{c}");
        assert!(c["episodes_replayed"].as_u64().unwrap() > 0, "{c}");
    }
    assert_eq!(h[2]["promoted"], 6, "promoted after 3 confirmations: {v}");
    assert!(v["bindings"].as_u64().unwrap() >= 6000, "{v}");
}

#[test]
fn stream_f16_reads_npy_back() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("t.npy");
    engram(&[
        "synth",
        "--n",
        "3000",
        "--dim",
        "16",
        "--clusters",
        "3",
        "--out",
        data.to_str().unwrap(),
        "--json",
    ]);
    let labels = dir.path().join("t.labels.npy");
    let v = engram(&[
        "stream",
        "--input",
        data.to_str().unwrap(),
        "--labels",
        labels.to_str().unwrap(),
        "--k",
        "3",
        "--precision",
        "f16",
        "--backend",
        "cpu",
        "--json",
    ]);
    assert_eq!(v["source"], "npy");
    assert_eq!(v["n"], 3000);
    assert_eq!(v["dim"], 16);
    assert_eq!(v["precision"], "f16");
    // f16 episode rows plus the 3 concepts' f32 centroids.
    assert_eq!(v["vector_bytes"], 3000 * 16 * 2 + 3 * 16 * 4);
    assert_eq!(v["raw_vector_bytes"], 3000 * 16 * 2);
    assert_eq!(v["concepts"], 3);
    assert!(v["ari"].as_f64().unwrap() >= 0.9, "{v}");
}
