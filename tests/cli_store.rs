//! `engram import → consolidate → concepts → search` on a tiny store, from the shell: each
//! command's `--json` document, and misuse exiting with code 2.

use std::path::Path;
use std::process::{Command, Output};

fn run(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_engram"))
        .args(args)
        .env("ENGRAM_BACKEND", "cpu")
        .output()
        .expect("the engram binary runs")
}

fn json(args: &[&str]) -> serde_json::Value {
    let out = run(args);
    assert!(
        out.status.success(),
        "{args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).expect("one JSON document on stdout")
}

/// A store of 600 episodes in 3 well separated clusters of dimension 16, made with
/// `engram synth` + `engram import`; returns the rows' true labels.
fn make_store(dir: &Path) -> Vec<u32> {
    let npy = dir.join("rows.npy");
    json(&[
        "synth",
        "--n",
        "600",
        "--dim",
        "16",
        "--clusters",
        "3",
        "--sigma2",
        "0.002",
        "--seed",
        "9",
        "--out",
        npy.to_str().unwrap(),
        "--json",
    ]);
    let store = dir.join("store");
    let v = json(&[
        "import",
        npy.to_str().unwrap(),
        "--store",
        store.to_str().unwrap(),
        "--json",
    ]);
    assert_eq!(v["episodes"], 600, "{v}");
    let l = npyz::NpyFile::new(std::fs::File::open(dir.join("rows.labels.npy")).unwrap()).unwrap();
    l.into_vec().unwrap()
}

#[test]
fn import_consolidate_concepts_search() {
    let dir = tempfile::tempdir().unwrap();
    let labels = make_store(dir.path());
    let store = dir.path().join("store");
    let st = store.to_str().unwrap();

    // Before consolidation: no concepts.
    let v = json(&["concepts", "--store", st, "--json"]);
    assert_eq!(v["concepts"].as_array().unwrap().len(), 0);

    let v = json(&[
        "consolidate",
        "--store",
        st,
        "--now",
        "100",
        "--k",
        "3",
        "--json",
    ]);
    assert_eq!(v["cycle"], 1);
    assert_eq!(v["episodes_new"], 600);
    assert_eq!(v["concepts"], 3, "{v}");
    assert_eq!(v["concepts_created"].as_array().unwrap().len(), 3);

    // The cycle is durable: a fresh process sees the concepts with their members.
    let v = json(&["concepts", "--store", st, "--members", "4", "--json"]);
    assert_eq!(v["cycles"], 1);
    let concepts = v["concepts"].as_array().unwrap();
    assert_eq!(concepts.len(), 3);
    let mut total = 0;
    for c in concepts {
        let members = c["members"].as_array().unwrap();
        assert_eq!(members.len(), 4);
        // Strongest first, and all from one true cluster.
        let w: Vec<f64> = members
            .iter()
            .map(|m| m["binding"].as_f64().unwrap())
            .collect();
        assert!(w.windows(2).all(|p| p[0] >= p[1]), "{c}");
        let l0 = labels[members[0]["episode"].as_u64().unwrap() as usize];
        assert!(members
            .iter()
            .all(|m| labels[m["episode"].as_u64().unwrap() as usize] == l0));
        total += c["member_count"].as_u64().unwrap();
    }
    assert!(total >= 600, "every episode is bound: {total}");

    // Search by an episode, each mode: the episode finds itself first, then its cluster.
    for mode in ["episodic", "semantic", "blended", "index"] {
        let v = json(&[
            "search",
            "--store",
            st,
            "--episode",
            "7",
            "-k",
            "10",
            "--mode",
            mode,
            "--json",
        ]);
        assert_eq!(v["mode"], mode);
        let hits = v["results"][0]["hits"].as_array().unwrap();
        assert_eq!(hits.len(), 10, "{mode}: {v}");
        assert_eq!(hits[0]["episode"], 7, "{mode}");
        for h in hits {
            let e = h["episode"].as_u64().unwrap() as usize;
            assert_eq!(labels[e], labels[7], "{mode}: {h}");
        }
        let via = &hits[0]["via"];
        match mode {
            "episodic" => assert_eq!(via["semantic"], false),
            "semantic" => assert_eq!(via["episodic"], false),
            "index" => assert!((hits[0]["cosine"].as_f64().unwrap() - 1.0).abs() < 1e-5),
            _ => assert!(via["episodic"] == true && via["semantic"] == true),
        }
    }

    // Search by query vectors from a .npy: one result list per row.
    let v = json(&[
        "search",
        "--store",
        st,
        "--query-npy",
        dir.path().join("rows.npy").to_str().unwrap(),
        "-k",
        "3",
        "--json",
    ]);
    assert_eq!(v["queries"], 600);
    let results = v["results"].as_array().unwrap();
    assert_eq!(results.len(), 600);
    for (i, r) in results.iter().enumerate().step_by(97) {
        assert_eq!(r["hits"][0]["episode"], i as u64, "row {i} finds itself");
    }
    // The same rows through the concept index as one batch (every episode is bound: each
    // row's own list holds it).
    let v = json(&[
        "search",
        "--store",
        st,
        "--query-npy",
        dir.path().join("rows.npy").to_str().unwrap(),
        "-k",
        "3",
        "--mode",
        "index",
        "--probes",
        "1",
        "--json",
    ]);
    assert_eq!(v["queries"], 600);
    assert_eq!(v["unassigned"], 0, "{}", v["unassigned"]);
    for (i, r) in v["results"]
        .as_array()
        .unwrap()
        .iter()
        .enumerate()
        .step_by(97)
    {
        assert_eq!(
            r["hits"][0]["episode"], i as u64,
            "row {i} finds itself (index)"
        );
    }

    // A second cycle warm-starts from the stored concepts: same ids, updated.
    let v = json(&[
        "consolidate",
        "--store",
        st,
        "--now",
        "200",
        "--k",
        "3",
        "--json",
    ]);
    assert_eq!(v["cycle"], 2);
    assert_eq!(v["concepts"], 3, "{v}");
    assert_eq!(v["concepts_updated"].as_array().unwrap().len(), 3, "{v}");
}

fn assert_usage_error(args: &[&str], needle: &str) {
    let out = run(args);
    assert_eq!(out.status.code(), Some(2), "{args:?} exits with 2");
    assert!(out.stdout.is_empty(), "{args:?} prints nothing on stdout");
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains(needle), "{args:?}: {err} lacks {needle:?}");
}

#[test]
fn store_commands_misuse_exits_with_2() {
    let dir = tempfile::tempdir().unwrap();
    make_store(dir.path());
    let st = dir.path().join("store");
    let st = st.to_str().unwrap();
    let missing = dir.path().join("nothing");
    let missing = missing.to_str().unwrap();
    assert_usage_error(&["search", "--store", st], "--query-npy");
    assert_usage_error(
        &[
            "search",
            "--store",
            st,
            "--episode",
            "1",
            "--query-npy",
            "q.npy",
        ],
        "cannot be used with",
    );
    assert_usage_error(
        &["search", "--store", st, "--episode", "1", "-k", "0"],
        "at least 1",
    );
    assert_usage_error(
        &[
            "search",
            "--store",
            st,
            "--episode",
            "1",
            "--mode",
            "psychic",
        ],
        "psychic",
    );
    assert_usage_error(
        &["search", "--store", st, "--episode", "5000"],
        "no episode 5000",
    );
    assert_usage_error(
        &["search", "--store", missing, "--episode", "1"],
        "no store",
    );
    assert_usage_error(&["concepts", "--store", missing], "no store");
    assert_usage_error(&["consolidate", "--store", st], "--now");
    assert_usage_error(
        &["consolidate", "--store", missing, "--now", "1"],
        "no store",
    );
    // A query of the wrong dimension.
    let q = dir.path().join("q.npy");
    use npyz::WriterBuilder;
    let mut w = npyz::WriteOptions::<f32>::new()
        .default_dtype()
        .shape(&[2, 8])
        .writer(std::fs::File::create(&q).unwrap())
        .begin_nd()
        .unwrap();
    w.extend(vec![0.5f32; 16]).unwrap();
    w.finish().unwrap();
    assert_usage_error(
        &["search", "--store", st, "--query-npy", q.to_str().unwrap()],
        "dim = 16",
    );
}
