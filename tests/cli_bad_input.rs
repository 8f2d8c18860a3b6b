//! The CLI on hostile or careless input (issue 14): unbounded lines, absurd counts and
//! clocks, non-finite rates, clobbering paths, wrong dtypes, errors printed once, the backend
//! flag honoured by every command, stored thresholds kept, legacy fields kept, and exports
//! that never leave partial files.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use engram::persist::{DurableEngram, StoreOptions};
use engram::{ClusterCount, Config, ConsolidationConfig, EpisodeId, EpisodeMeta, Payload};

/// Runs the binary with `envs`, without `ENGRAM_BACKEND` from the caller, killing it (and
/// failing) after `limit`.
fn engram_env(args: &[&str], envs: &[(&str, &str)], limit: Duration) -> Output {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_engram"));
    cmd.args(args)
        .env_remove("ENGRAM_BACKEND")
        .env_remove("RUST_LOG")
        .env_remove("ENGRAM_MAX_LINE_BYTES")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    for (k, v) in envs {
        cmd.env(k, v);
    }
    let mut child = cmd.spawn().expect("the engram binary runs");
    let start = Instant::now();
    loop {
        if child.try_wait().expect("wait").is_some() {
            return child.wait_with_output().expect("output");
        }
        if start.elapsed() > limit {
            let _ = child.kill();
            let _ = child.wait();
            panic!("{args:?} did not finish within {limit:?}");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

fn engram(args: &[&str]) -> Output {
    engram_env(args, &[], Duration::from_secs(120))
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

fn s(p: &Path) -> &str {
    p.to_str().expect("utf-8 path")
}

/// A usage error: exit code 2, nothing on stdout, the message on stderr.
fn assert_usage(o: &Output, needle: &str) {
    let err = stderr(o);
    assert_eq!(o.status.code(), Some(2), "exit 2 expected: {err}");
    assert!(o.stdout.is_empty(), "nothing on stdout: {err}");
    assert!(err.contains(needle), "{err:?} lacks {needle:?}");
}

/// The embedding of record `i`: 4 components, never zero.
fn emb(i: u64) -> String {
    let x = i as f32;
    format!(
        "[{}, {}, {}, {}]",
        1.0 + (x * 0.37).sin(),
        (x * 0.11).cos(),
        0.5,
        (i % 3) as f32
    )
}

/// A JSON Lines source of `n` plain episodes.
fn jsonl(path: &Path, n: u64) {
    let mut f = std::fs::File::create(path).unwrap();
    for i in 0..n {
        writeln!(f, "{{\"embedding\": {}, \"timestamp\": {i}}}", emb(i)).unwrap();
    }
}

/// A store of `n` episodes made with `engram import`.
fn store(dir: &Path, n: u64) -> PathBuf {
    let src = dir.join("src.jsonl");
    jsonl(&src, n);
    let st = dir.join("store");
    let o = engram(&["import", s(&src), "--store", s(&st)]);
    assert!(o.status.success(), "{}", stderr(&o));
    st
}

#[test]
fn an_endless_line_is_refused_with_bounded_memory() {
    let t = tempfile::tempdir().unwrap();
    // A line longer than the limit (lowered for the test): a typed error naming the line.
    let src = t.path().join("long.jsonl");
    let mut f = std::fs::File::create(&src).unwrap();
    writeln!(f, "{{\"embedding\": [1, 2, 3]}}").unwrap();
    f.write_all(&vec![b' '; 5000]).unwrap();
    drop(f);
    let o = engram_env(
        &["import", s(&src), "--store", s(&t.path().join("a"))],
        &[("ENGRAM_MAX_LINE_BYTES", "1000")],
        Duration::from_secs(60),
    );
    let err = stderr(&o);
    assert_eq!(o.status.code(), Some(1), "{err}");
    assert!(err.contains("line 2 longer than 1000 bytes"), "{err}");

    // `/dev/zero` is one endless line: refused after the default 64 MiB, quickly, instead
    // of growing until the kernel kills the process.
    let zero = t.path().join("zero.jsonl");
    std::os::unix::fs::symlink("/dev/zero", &zero).unwrap();
    let o = engram_env(
        &["import", s(&zero), "--store", s(&t.path().join("b"))],
        &[],
        Duration::from_secs(60),
    );
    let err = stderr(&o);
    assert_eq!(o.status.code(), Some(1), "{err}");
    assert!(err.contains("line 1 longer than 67108864 bytes"), "{err}");
}

#[test]
fn absurd_counts_are_usage_errors() {
    let t = tempfile::tempdir().unwrap();
    let out = t.path().join("x.npy");
    let max = u64::MAX.to_string();
    let quick = Duration::from_secs(30);
    let o = engram_env(&["synth", "--n", &max, "--out", s(&out)], &[], quick);
    assert_usage(&o, "--n");
    assert!(!out.exists(), "nothing written");
    // Fits in 64 bits but not on any disk.
    let o = engram_env(
        &[
            "synth",
            "--n",
            "1000000000000",
            "--dim",
            "1000",
            "--out",
            s(&out),
        ],
        &[],
        quick,
    );
    assert_usage(&o, "free space");
    let o = engram_env(&["stream", "--n", &max], &[], quick);
    assert_usage(&o, "--n");
    let o = engram_env(&["demo", "--n", &max], &[], quick);
    assert_usage(&o, "--n");
    let o = engram_env(&["bench", "--sizes", &max], &[], quick);
    assert_usage(&o, "--n");
    let src = t.path().join("m.jsonl");
    jsonl(&src, 3);
    let st = s(&t.path().join("st")).to_owned();
    let o = engram_env(
        &["import", s(&src), "--store", &st, "--batch", &max],
        &[],
        quick,
    );
    assert_usage(&o, "at most");
    let o = engram_env(
        &["import", s(&src), "--store", &st, "--checkpoint-every", "0"],
        &[],
        quick,
    );
    assert_usage(&o, "at least 1");
}

#[test]
fn implausible_clocks_are_refused_and_the_store_stays_usable() {
    let t = tempfile::tempdir().unwrap();
    let st = store(t.path(), 40);
    let max = u64::MAX.to_string();
    let o = engram(&["consolidate", "--store", s(&st), "--now", &max]);
    assert_usage(&o, "plausible clock");
    let o = engram(&[
        "consolidate",
        "--store",
        s(&st),
        "--now",
        "9223372036854775808",
    ]);
    assert_usage(&o, "plausible clock");
    let o = engram(&["search", "--store", s(&st), "--episode", "0", "--now", &max]);
    assert_usage(&o, "plausible clock");
    // A real clock still works afterwards.
    let o = engram(&["consolidate", "--store", s(&st), "--now", "100"]);
    assert!(o.status.success(), "{}", stderr(&o));
}

#[test]
fn rates_must_be_finite_and_positive() {
    let t = tempfile::tempdir().unwrap();
    let src = t.path().join("m.jsonl");
    jsonl(&src, 3);
    let st = t.path().join("st");
    for rate in ["NaN", "inf", "-inf", "-5", "0", "x", "1e-300", "1e-10"] {
        let arg = format!("--rate={rate}");
        let o = engram(&["import", s(&src), "--store", s(&st), &arg]);
        assert_usage(&o, "--rate");
        assert!(!st.join("snapshot.eng").exists(), "--rate {rate}");
    }
    let o = engram(&["import", s(&src), "--store", s(&st), "--rate", "1e6"]);
    assert!(o.status.success(), "{}", stderr(&o));
}

#[test]
fn synth_refuses_one_path_for_rows_and_labels() {
    let t = tempfile::tempdir().unwrap();
    let out = t.path().join("a.npy");
    let sub = t.path().join("sub");
    std::fs::create_dir(&sub).unwrap();
    let same = sub.join("..").join("a.npy");
    let args = |labels: &Path| {
        engram(&[
            "synth",
            "--n",
            "100",
            "--dim",
            "4",
            "--clusters",
            "2",
            "--out",
            s(&out),
            "--labels",
            s(labels),
        ])
    };
    // Before the file exists, and after, and through another spelling of the path.
    assert_usage(&args(&out), "same file");
    assert!(!out.exists());
    std::fs::write(&out, b"keep").unwrap();
    assert_usage(&args(&same), "same file");
    assert_eq!(std::fs::read(&out).unwrap(), b"keep");
    // Different paths work.
    let o = args(&t.path().join("l.npy"));
    assert!(o.status.success(), "{}", stderr(&o));
}

/// A `.npy` of 3 records of the structured dtype `[('a','<f4'),('b','<f4')]`.
fn structured_npy(path: &Path) {
    let dict = "{'descr': [('a', '<f4'), ('b', '<f4')], 'fortran_order': False, 'shape': (3,), }";
    let mut header = dict.to_string();
    while !(10 + header.len() + 1).is_multiple_of(64) {
        header.push(' ');
    }
    header.push('\n');
    let mut b = b"\x93NUMPY\x01\x00".to_vec();
    b.extend_from_slice(&(header.len() as u16).to_le_bytes());
    b.extend_from_slice(header.as_bytes());
    for i in 0..6 {
        b.extend_from_slice(&(i as f32).to_le_bytes());
    }
    std::fs::write(path, b).unwrap();
}

#[test]
fn a_structured_dtype_is_one_clear_line() {
    let t = tempfile::tempdir().unwrap();
    let npy = t.path().join("rec.npy");
    structured_npy(&npy);
    let st = store(t.path(), 10);
    for args in [
        vec!["import", s(&npy), "--store", s(&t.path().join("x"))],
        vec!["search", "--store", s(&st), "--query-npy", s(&npy)],
        vec!["stream", "--input", s(&npy)],
    ] {
        let o = engram(&args);
        let err = stderr(&o);
        assert!(!o.status.success(), "{args:?}");
        assert_eq!(err.trim_end().lines().count(), 1, "{args:?}: {err}");
        assert!(
            err.contains("expected a 2-D little-endian float32 .npy, found dtype"),
            "{args:?}: {err}"
        );
        assert!(err.contains("('a', '<f4')"), "{args:?}: {err}");
    }
}

/// The first line of stderr, split at ": ", has no segment twice.
fn assert_printed_once(o: &Output) {
    let err = stderr(o);
    assert_eq!(o.status.code(), Some(1), "{err}");
    assert_eq!(err.trim_end().lines().count(), 1, "one line: {err}");
    let segs: Vec<&str> = err.trim_end().split(": ").collect();
    for (i, a) in segs.iter().enumerate() {
        assert!(
            !segs[i + 1..].contains(a),
            "{a:?} is printed twice in {err:?}"
        );
    }
}

#[test]
fn every_error_is_printed_once() {
    let t = tempfile::tempdir().unwrap();
    // An I/O error inside a store error inside the import.
    let missing = t.path().join("missing.jsonl");
    assert_printed_once(&engram(&[
        "import",
        s(&missing),
        "--store",
        s(&t.path().join("a")),
    ]));
    // A bad record.
    let bad = t.path().join("bad.jsonl");
    std::fs::write(
        &bad,
        "{\"embedding\": [1, 2]}\n{\"embedding\": [1, \"x\"]}\n",
    )
    .unwrap();
    assert_printed_once(&engram(&[
        "import",
        s(&bad),
        "--store",
        s(&t.path().join("b")),
    ]));
    // A corrupt store.
    let st = store(t.path(), 10);
    std::fs::write(st.join("snapshot.eng"), b"ENGRAMSNgarbage").unwrap();
    assert_printed_once(&engram(&["concepts", "--store", s(&st)]));
    // Export into a path that is a file.
    let st2 = {
        let d = t.path().join("two");
        std::fs::create_dir(&d).unwrap();
        store(&d, 10)
    };
    let file = t.path().join("afile");
    std::fs::write(&file, b"x").unwrap();
    assert_printed_once(&engram(&[
        "export",
        "--store",
        s(&st2),
        "--out",
        s(&file.join("out")),
    ]));
}

#[test]
fn every_command_honours_the_backend_flag() {
    let t = tempfile::tempdir().unwrap();
    let src = t.path().join("m.jsonl");
    jsonl(&src, 60);
    let st = t.path().join("st");
    let out = t.path().join("out");
    let runs: Vec<Vec<&str>> = vec![
        vec!["import", s(&src), "--store", s(&st), "--bootstrap-concepts"],
        vec!["consolidate", "--store", s(&st), "--now", "100"],
        vec!["concepts", "--store", s(&st)],
        vec!["search", "--store", s(&st), "--episode", "0"],
        vec!["export", "--store", s(&st), "--out", s(&out)],
        vec!["validate", "--only", "fan"],
    ];
    for args in runs {
        let mut all = vec!["-v", "--backend", "cpu"];
        all.extend(&args);
        // The flag wins over the environment.
        let o = engram_env(&all, &[("ENGRAM_BACKEND", "gpu")], Duration::from_secs(300));
        let err = stderr(&o);
        assert!(o.status.success(), "{args:?}: {err}");
        assert!(
            err.contains("backend: cpu"),
            "{args:?} logs its backend: {err}"
        );
    }
}

#[test]
fn consolidate_keeps_the_stored_thresholds() {
    let t = tempfile::tempdir().unwrap();
    let dir = t.path().join("st");
    let saved = ConsolidationConfig::default()
        .seed(9)
        .min_cluster_size(2)
        .min_coherence(0.1)
        .prune_below(0.01)
        .promote_after(5);
    {
        let cfg = Config::new(4).consolidation(saved.clone());
        let mut s = DurableEngram::create(&dir, cfg, StoreOptions::default()).unwrap();
        for i in 0..60u64 {
            let v: Vec<f32> = serde_json::from_str(&emb(i)).unwrap();
            s.remember(&v, EpisodeMeta::at(i)).unwrap();
        }
        s.checkpoint().unwrap();
    }
    let stored = || {
        DurableEngram::open(&dir, StoreOptions::default())
            .unwrap()
            .config()
            .consolidation_config()
            .clone()
    };
    let o = engram(&["--json", "consolidate", "--store", s(&dir), "--now", "100"]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert_eq!(stored(), saved, "no override: the saved settings stay");
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(v["settings"]["seed"], 9, "{v}");
    assert_eq!(v["settings"]["overridden"].as_array().unwrap().len(), 0);
    // Overrides replace only what was given.
    let o = engram(&[
        "--json",
        "consolidate",
        "--store",
        s(&dir),
        "--now",
        "200",
        "--k",
        "2",
        "--seed",
        "5",
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert_eq!(
        stored(),
        saved.clone().seed(5).clusters(ClusterCount::Fixed(2))
    );
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(
        v["settings"]["overridden"].as_array().unwrap().len(),
        2,
        "{v}"
    );
}

#[test]
fn legacy_ids_and_content_survive_import_get_and_export() {
    let t = tempfile::tempdir().unwrap();
    let src = t.path().join("legacy.jsonl");
    std::fs::write(
        &src,
        format!(
            "{{\"id\": \"m1\", \"content\": \"hello\", \"embedding\": {}}}\n\
             {{\"id\": 7, \"embedding\": {}}}\n\
             {{\"content\": \"only text\", \"embedding\": {}}}\n",
            emb(1),
            emb(2),
            emb(3)
        ),
    )
    .unwrap();
    let st = t.path().join("st");
    let o = engram(&["import", s(&src), "--store", s(&st)]);
    assert!(o.status.success(), "{}", stderr(&o));
    {
        let s = DurableEngram::open(&st, StoreOptions::default()).unwrap();
        let p = |i| s.get(EpisodeId(i)).unwrap().payload.unwrap();
        assert_eq!(
            p(0).as_legacy(),
            Some(("m1".to_string(), Some("hello".to_string())))
        );
        assert_eq!(p(1).as_legacy(), Some(("7".to_string(), None)));
        assert_eq!(p(2), Payload::Text("only text".into()));
    }
    let out = t.path().join("out");
    let o = engram(&["export", "--store", s(&st), "--out", s(&out)]);
    assert!(o.status.success(), "{}", stderr(&o));
    let lines: Vec<serde_json::Value> = std::fs::read_to_string(out.join("episodes.jsonl"))
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(lines[0]["legacy_id"], "m1");
    assert_eq!(lines[0]["content"], "hello");
    assert_eq!(lines[1]["legacy_id"], "7");
    assert_eq!(lines[2]["payload"]["text"], "only text");

    // A concept cannot keep an id or a content: refused, not dropped.
    for rec in [
        format!(
            "{{\"content\": \"Summary: a trip\", \"embedding\": {}}}",
            emb(4)
        ),
        format!(
            "{{\"id\": \"c1\", \"count\": 3, \"embedding\": {}}}",
            emb(5)
        ),
    ] {
        let src = t.path().join("concept.jsonl");
        std::fs::write(&src, rec).unwrap();
        let o = engram(&["import", s(&src), "--store", s(&t.path().join("c"))]);
        let err = stderr(&o);
        assert_eq!(o.status.code(), Some(1), "{err}");
        assert!(err.contains("concept record cannot keep"), "{err}");
    }
}

#[test]
fn a_failed_export_leaves_the_previous_files() {
    let t = tempfile::tempdir().unwrap();
    let st = store(t.path(), 20);
    let out = t.path().join("out");
    let o = engram(&["export", "--store", s(&st), "--out", s(&out)]);
    assert!(o.status.success(), "{}", stderr(&o));
    let before: Vec<Vec<u8>> = ["episodes.jsonl", "episodes.npy"]
        .iter()
        .map(|f| std::fs::read(out.join(f)).unwrap())
        .collect();
    // More episodes, then an export whose concepts file cannot be written (a full disk).
    let more = t.path().join("more.jsonl");
    jsonl(&more, 5);
    let o = engram(&["import", s(&more), "--store", s(&st)]);
    assert!(o.status.success(), "{}", stderr(&o));
    for name in ["concepts.npy", "concepts.npy.tmp"] {
        let p = out.join(name);
        let _ = std::fs::remove_file(&p);
        std::os::unix::fs::symlink("/dev/full", &p).unwrap();
    }
    let o = engram(&["export", "--store", s(&st), "--out", s(&out)]);
    let err = stderr(&o);
    assert_eq!(o.status.code(), Some(1), "{err}");
    assert!(err.contains("No space left"), "{err}");
    let after: Vec<Vec<u8>> = ["episodes.jsonl", "episodes.npy"]
        .iter()
        .map(|f| std::fs::read(out.join(f)).unwrap())
        .collect();
    assert_eq!(before, after, "the previous export is untouched");
    let leftovers: Vec<_> = std::fs::read_dir(&out)
        .unwrap()
        .filter_map(|e| e.ok())
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| n.ends_with(".tmp"))
        .collect();
    assert!(leftovers.is_empty(), "temporary files left: {leftovers:?}");
}

#[test]
fn a_huge_npy_header_is_refused_without_allocating_it() {
    let t = tempfile::tempdir().unwrap();
    let h = t.path().join("h.npy");
    let mut b = b"\x93NUMPY\x02\x00".to_vec();
    b.extend_from_slice(&0xFFFF_FFF0u32.to_le_bytes());
    b.extend_from_slice(b"{'descr': '<f4', 'fortran_order': False, 'shape': (2, 4), }");
    std::fs::write(&h, &b).unwrap();
    let st = t.path().join("st");
    let other = store(t.path(), 5);
    for args in [
        vec!["import", s(&h), "--store", s(&st)],
        vec!["search", "--store", s(&other), "--query-npy", s(&h)],
    ] {
        let o = engram(&args);
        let err = stderr(&o);
        assert!(
            matches!(o.status.code(), Some(1) | Some(2)),
            "{args:?}: {err}"
        );
        assert!(err.contains(".npy header of"), "{args:?}: {err}");
        assert_eq!(err.lines().count(), 1, "{err}");
    }
    assert!(!st.exists(), "a failed first import leaves no store behind");
}

#[test]
fn a_failed_import_into_a_new_directory_leaves_nothing_behind() {
    let t = tempfile::tempdir().unwrap();
    let src = t.path().join("bad.jsonl");
    let mut text = String::from("{\"embedding\": [1, 2, \"x\"]}\n");
    for i in 0..5 {
        text.push_str(&format!("{{\"embedding\": {}}}\n", emb(i)));
    }
    std::fs::write(&src, text).unwrap();
    let st = t.path().join("st");
    let o = engram(&["import", s(&src), "--store", s(&st)]);
    assert_eq!(o.status.code(), Some(1), "{}", stderr(&o));
    assert!(
        !st.exists(),
        "{:?}",
        std::fs::read_dir(&st).map(|d| d.count())
    );
}

#[test]
fn absurd_dimensions_are_usage_errors() {
    let t = tempfile::tempdir().unwrap();
    let out = t.path().join("z.npy");
    let o = engram(&[
        "synth",
        "--n",
        "100",
        "--dim",
        "18446744073709551615",
        "--clusters",
        "1",
        "--out",
        s(&out),
    ]);
    assert_usage(&o, "--dim");
}

#[test]
fn export_into_the_store_itself_is_refused() {
    let t = tempfile::tempdir().unwrap();
    let st = store(t.path(), 5);
    let o = engram(&["export", "--store", s(&st), "--out", s(&st)]);
    assert_usage(&o, "inside the store");
    let o = engram(&["export", "--store", s(&st), "--out", s(&st.join("sub"))]);
    assert_usage(&o, "inside the store");
}

#[test]
fn output_that_cannot_be_written_is_one_error_line_not_a_panic() {
    let t = tempfile::tempdir().unwrap();
    let st = store(t.path(), 5);
    let full = std::fs::File::create("/dev/full");
    let Ok(full) = full else {
        return; // no /dev/full on this system
    };
    let o = Command::new(env!("CARGO_BIN_EXE_engram"))
        .args(["--json", "concepts", "--store", s(&st)])
        .stdout(full)
        .output()
        .unwrap();
    let err = stderr(&o);
    assert_eq!(o.status.code(), Some(1), "{err}");
    assert!(err.starts_with("error: writing the output"), "{err}");
    assert_eq!(err.lines().count(), 1, "{err}");
}
