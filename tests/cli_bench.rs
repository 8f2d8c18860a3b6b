//! `engram bench --quick`: the JSON report, the markdown table and a well-formed SVG plot with
//! one series per backend. GPU rows run on whatever adapter exists (lavapipe in CI, tiny).

use std::process::Command;

#[test]
fn bench_quick_writes_json_markdown_and_svg() {
    let dir = tempfile::tempdir().unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_engram"))
        .args(["bench", "--quick", "--k", "16", "--json", "--out"])
        .arg(dir.path())
        .env_remove("ENGRAM_BACKEND")
        .output()
        .expect("the engram binary runs");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).expect("one JSON document");
    assert!(v["limits"]["cpu"]["read_gbps"].as_f64().unwrap() > 0.0);
    assert!(v["limits"]["cpu"]["gemm_gflops"].as_f64().unwrap() > 0.0);
    // The FMA peak bounds every kernel's rate.
    let fma = v["limits"]["cpu"]["fma_gflops"].as_f64().unwrap();
    assert!(fma.is_finite() && fma > 0.0);
    let rows = v["results"].as_array().unwrap();
    let has = |op: &str, backend: &str| {
        rows.iter()
            .any(|r| r["op"].as_str().unwrap().starts_with(op) && r["backend"] == backend)
    };
    assert!(has("ingest", "cpu") && has("search", "cpu") && has("kmeans", "cpu"));
    for r in rows {
        assert!(r["ms"].as_f64().unwrap() > 0.0, "{r}");
        assert!(r["pct_of_limit"].as_f64().is_some(), "{r}");
    }
    // One warm consolidation cycle against one Lloyd iteration at the largest size.
    assert!(has("consolidation cycle (warm, k = 16)", "cpu"));
    let cons = &v["consolidation"][0];
    assert_eq!(cons["n_new"], 8000, "{cons}");
    assert_eq!(cons["concepts"], 16, "{cons}");
    assert!(cons["ratio"].as_f64().unwrap() > 0.0, "{cons}");
    assert!(v["notes"].to_string().contains("one warm cycle"));
    let gpu = !v["limits"]["gpu"].is_null();
    if gpu {
        assert!(has("search", "gpu") && has("kmeans", "gpu"));
        for r in rows
            .iter()
            .filter(|r| r["backend"] == "gpu" && r["op"] == "search")
        {
            assert!(r["gpu_over_cpu"].as_f64().unwrap() > 0.0, "{r}");
            assert!(
                r["agreement"].as_f64().unwrap() >= 0.9,
                "GPU agrees with the CPU: {r}"
            );
        }
        // The tiled batch kernel serves batches of 16 with k = 1, 10 and 128; k = 1 and
        // k = 128 rows agree with the CPU's.
        for op in ["search", "search (k = 1)", "search (k = 128)"] {
            let gpu_rows: Vec<_> = rows
                .iter()
                .filter(|r| r["backend"] == "gpu" && r["op"] == op)
                .collect();
            assert!(!gpu_rows.is_empty(), "{op}");
            for r in gpu_rows {
                let want = if r["batch"].as_u64().unwrap() >= 16 {
                    "tiled"
                } else {
                    "scan"
                };
                assert_eq!(r["kernel"], want, "{r}");
                assert!(r["agreement"].as_f64().unwrap() >= 0.9, "{r}");
            }
        }
        if v["gpu_software"] == true {
            let notes = v["notes"].to_string();
            assert!(notes.contains("GPU figures are from a software adapter: correctness only"));
            assert_eq!(v["crossover"]["found"], false);
        }
    }

    let md = std::fs::read_to_string(dir.path().join("bench.md")).unwrap();
    assert!(md.contains("| operation | backend |"));
    let svg = std::fs::read_to_string(dir.path().join("bench.svg")).unwrap();
    assert!(svg.starts_with("<svg"));
    let doc = roxmltree::Document::parse(&svg).expect("well-formed XML");
    let texts: Vec<&str> = doc
        .descendants()
        .filter(|n| n.has_tag_name("text"))
        .filter_map(|n| n.text().map(str::trim))
        .collect();
    // Each panel's legend names one series per backend.
    assert_eq!(
        texts.iter().filter(|t| **t == "cpu").count(),
        2,
        "{texts:?}"
    );
    if gpu {
        let g = texts.iter().filter(|t| t.starts_with("gpu")).count();
        assert_eq!(g, 2, "{texts:?}");
    }
    let lines = doc
        .descendants()
        .filter(|n| n.has_tag_name("polyline") || n.has_tag_name("path"))
        .count();
    assert!(lines >= 2, "at least one drawn line per backend");
}
