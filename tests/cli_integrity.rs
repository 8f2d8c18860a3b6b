//! The durability contract across processes, through the CLI: two writers at once are
//! serialised by the store's lock (the second is refused, nothing is lost), read commands
//! change no byte, and a kill at every fsync and rename of an import or a consolidation,
//! followed by the same command again, gives exactly the uninterrupted store.

#[path = "persist_util.rs"]
mod util;

use std::collections::BTreeMap;
use std::os::unix::process::ExitStatusExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use engram::persist::DurableEngram;

fn engram() -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_engram"));
    c.env_remove("ENGRAM_CRASH_AT")
        .env_remove("ENGRAM_CRASH_TRACE")
        .env_remove("ENGRAM_PAUSE_AT")
        .args(["--backend", "cpu"]);
    c
}

fn run(args: &[&str], env: &[(&str, &str)]) -> Output {
    let mut c = engram();
    c.args(args);
    for (k, v) in env {
        c.env(k, v);
    }
    c.output().expect("the engram binary runs")
}

fn ok(args: &[&str]) -> Output {
    let o = run(args, &[]);
    assert!(
        o.status.success(),
        "{args:?} failed: {}",
        String::from_utf8_lossy(&o.stderr)
    );
    o
}

fn s(p: &Path) -> &str {
    p.to_str().expect("utf-8 path")
}

/// A synthetic `.npy` of `n` rows of dimension 16.
fn npy(dir: &Path, name: &str, n: usize, seed: u64) -> PathBuf {
    let p = dir.join(name);
    ok(&[
        "--seed",
        &seed.to_string(),
        "synth",
        "--n",
        &n.to_string(),
        "--dim",
        "16",
        "--clusters",
        "4",
        "--out",
        s(&p),
    ]);
    p
}

fn dump(store: &Path) -> Vec<u8> {
    util::dump(&DurableEngram::open_read_only(store).expect("the store opens"))
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for e in std::fs::read_dir(from).unwrap() {
        let e = e.unwrap();
        let target = to.join(e.file_name());
        if e.path().is_dir() {
            copy_dir(&e.path(), &target);
        } else {
            std::fs::copy(e.path(), target).unwrap();
        }
    }
}

fn wait_for(p: &Path, limit: Duration) {
    let t = Instant::now();
    while !p.exists() {
        assert!(t.elapsed() < limit, "{} never appeared", p.display());
        std::thread::sleep(Duration::from_millis(10));
    }
}

/// A CLI process paused at a crash point (holding what it holds there) until released.
struct Paused {
    child: std::process::Child,
    release: PathBuf,
}

impl Paused {
    /// Starts `args` paused at `point`; returns once `sign` (a file the process writes just
    /// before the point) exists.
    fn start(args: &[&str], point: &str, sign: &Path, release: &Path) -> Self {
        let child = engram()
            .args(args)
            .env("ENGRAM_PAUSE_AT", format!("{point}:120000"))
            .env("ENGRAM_PAUSE_RELEASE", release)
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        wait_for(sign, Duration::from_secs(60));
        Self {
            child,
            release: release.to_path_buf(),
        }
    }

    /// Releases it and checks it then succeeds.
    fn finish(self) {
        std::fs::write(&self.release, b"").unwrap();
        let st = self.child.wait_with_output().unwrap();
        assert!(
            st.status.success(),
            "{}",
            String::from_utf8_lossy(&st.stderr)
        );
    }
}

fn assert_locked(o: &Output, what: &str) {
    let err = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(1), "{what}: {err}");
    assert!(err.contains("locked by another writer"), "{what}: {err}");
}

#[test]
fn two_writers_at_once_one_is_refused_and_nothing_is_lost() {
    let t = tempfile::tempdir().unwrap();
    let a = npy(t.path(), "a.npy", 2000, 1);
    let b = npy(t.path(), "b.npy", 1500, 2);
    let store = t.path().join("s");
    ok(&["import", s(&a), "--store", s(&store)]);

    // A consolidate paused in the middle of its checkpoint (lock held) until released...
    let slow = Paused::start(
        &["consolidate", "--store", s(&store), "--now", "10"],
        "fsync:snapshot.eng.tmp",
        &store.join("snapshot.eng.tmp"),
        &t.path().join("release-1"),
    );
    // ...refuses an import, another consolidate and a repair; readers read.
    assert_locked(
        &run(&["import", s(&b), "--store", s(&store)], &[]),
        "import",
    );
    assert_locked(
        &run(&["consolidate", "--store", s(&store), "--now", "11"], &[]),
        "consolidate",
    );
    assert_locked(&run(&["repair", "--store", s(&store)], &[]), "repair");
    let o = ok(&["--json", "concepts", "--store", s(&store)]);
    assert!(!o.stdout.is_empty());
    slow.finish();

    // An import paused just before its commit refuses a consolidate.
    let slow = Paused::start(
        &["import", s(&b), "--store", s(&store)],
        "import:rename-snapshot",
        &store.join("import/commit.json"),
        &t.path().join("release-2"),
    );
    assert_locked(
        &run(&["consolidate", "--store", s(&store), "--now", "12"], &[]),
        "consolidate during an import",
    );
    slow.finish();
    let e = DurableEngram::open_read_only(&store).unwrap();
    assert_eq!(e.len(), 3500, "every acknowledged episode is there");
    assert_eq!(e.cycle(), 1, "the consolidation cycle is there");
}

#[test]
fn read_commands_change_no_byte_and_need_no_lock() {
    let t = tempfile::tempdir().unwrap();
    let a = npy(t.path(), "a.npy", 800, 3);
    let store = t.path().join("s");
    ok(&["import", s(&a), "--store", s(&store)]);
    ok(&["consolidate", "--store", s(&store), "--now", "5"]);
    std::fs::remove_file(store.join("LOCK")).unwrap();
    // A torn tail, which a writer would cut: readers leave it.
    let wal = store.join("wal.log");
    let mut log = std::fs::read(&wal).unwrap();
    log.extend_from_slice(&[9, 9, 9]);
    std::fs::write(&wal, &log).unwrap();
    let before = util::files(&store);
    let out = t.path().join("out");
    ok(&["search", "--store", s(&store), "--episode", "3", "-k", "5"]);
    ok(&["concepts", "--store", s(&store)]);
    ok(&["export", "--store", s(&store), "--out", s(&out)]);
    assert_eq!(
        util::files(&store),
        before,
        "a read command changed the store"
    );
    assert!(!store.join("LOCK").exists());
}

/// The crash points an uninterrupted run passes, each with its occurrence (`NAME#N`).
fn crash_points(trace: &Path) -> Vec<String> {
    let text = std::fs::read_to_string(trace).unwrap_or_default();
    let mut seen = BTreeMap::<String, u32>::new();
    let mut points = Vec::new();
    for line in text.lines() {
        let n = seen.entry(line.to_string()).or_default();
        *n += 1;
        points.push(format!("{line}#{n}"));
    }
    points
}

fn killed(o: &Output) -> bool {
    o.status.signal() == Some(9)
}

#[test]
fn a_kill_at_every_point_of_an_import_then_the_same_command_gives_the_same_store() {
    kill_every_import_point(false);
}

#[test]
fn a_kill_at_every_point_of_a_bootstrapped_import_then_the_same_command_gives_the_same_store() {
    kill_every_import_point(true);
}

fn kill_every_import_point(bootstrap: bool) {
    let t = tempfile::tempdir().unwrap();
    let a = npy(t.path(), "a.npy", 300, 4);
    let b = npy(t.path(), "b.npy", 700, 5);
    let template = t.path().join("template");
    ok(&["import", s(&a), "--store", s(&template)]);
    let before = dump(&template);
    let import = |store: &Path, env: &[(&str, &str)]| {
        let mut args = vec![
            "import",
            s(&b),
            "--store",
            s(store),
            "--batch",
            "100",
            "--checkpoint-every",
            "200",
        ];
        if bootstrap {
            args.push("--bootstrap-concepts");
        }
        run(&args, env)
    };

    let reference = t.path().join("reference");
    copy_dir(&template, &reference);
    let trace = t.path().join("trace.txt");
    let o = import(&reference, &[("ENGRAM_CRASH_TRACE", s(&trace))]);
    assert!(o.status.success());
    let after = dump(&reference);
    let points = crash_points(&trace);
    for needed in [
        "rename:checkpoint.json#1",
        "import:rename-snapshot#1",
        "import:renamed-snapshot#1",
        "import:record-commit#1",
        "rename:committed.json#1",
        "import:clean-up#1",
        "import:removed-intent#1",
        "import:removed-stage#1",
        "rename:wal.log#1",
    ] {
        assert!(points.iter().any(|p| p == needed), "{needed} in {points:?}");
    }

    let mut kills = 0;
    for (i, p) in points.iter().enumerate() {
        let d = t.path().join(format!("k{i}"));
        copy_dir(&template, &d);
        let o = import(&d, &[("ENGRAM_CRASH_AT", p)]);
        assert!(
            killed(&o),
            "{p}: not killed: {}",
            String::from_utf8_lossy(&o.stderr)
        );
        kills += 1;
        // The documented recovery: run the same command again.
        let o = import(&d, &[]);
        assert!(
            o.status.success(),
            "{p}: the re-run failed: {}",
            String::from_utf8_lossy(&o.stderr)
        );
        assert!(
            String::from_utf8_lossy(&o.stderr).contains("verified: true"),
            "{p}: {}",
            String::from_utf8_lossy(&o.stderr)
        );
        assert!(dump(&d) == after, "{p}: the re-run gave another store");
        // And once more: a no-op.
        let o = import(&d, &[]);
        let err = String::from_utf8_lossy(&o.stderr);
        assert!(o.status.success(), "{p}: {err}");
        assert!(err.contains("already imported"), "{p}: {err}");
        assert!(dump(&d) == after, "{p}: importing again changed the store");

        // The same kill, then --discard: the truth either way.
        let d = t.path().join(format!("d{i}"));
        copy_dir(&template, &d);
        assert!(killed(&import(&d, &[("ENGRAM_CRASH_AT", p)])));
        let o = run(&["import", "--discard", "--store", s(&d)], &[]);
        if o.status.success() {
            assert!(dump(&d) == before, "{p}: discarded, yet the store changed");
        } else {
            let err = String::from_utf8_lossy(&o.stderr);
            assert!(err.contains("committed"), "{p}: {err}");
            assert!(
                dump(&d) == after,
                "{p}: refused discard, store not imported"
            );
            ok(&["import", "--rollback", "--store", s(&d)]);
            assert!(dump(&d) == before, "{p}: rollback after a refused discard");
        }
        std::fs::remove_dir_all(&d).unwrap();
        std::fs::remove_dir_all(t.path().join(format!("k{i}"))).unwrap();
    }
    assert!(kills >= 20, "{kills} crash points");
}

#[test]
fn a_kill_at_every_point_of_a_consolidation_leaves_the_store_before_or_after_it() {
    let t = tempfile::tempdir().unwrap();
    let a = npy(t.path(), "a.npy", 600, 6);
    let template = t.path().join("template");
    ok(&["import", s(&a), "--store", s(&template)]);
    ok(&["consolidate", "--store", s(&template), "--now", "5"]);
    let before = dump(&template);
    let reference = t.path().join("reference");
    copy_dir(&template, &reference);
    let trace = t.path().join("trace.txt");
    let cycle = |store: &Path, env: &[(&str, &str)]| {
        run(&["consolidate", "--store", s(store), "--now", "9"], env)
    };
    assert!(cycle(&reference, &[("ENGRAM_CRASH_TRACE", s(&trace))])
        .status
        .success());
    let after = dump(&reference);
    assert!(before != after);
    let points = crash_points(&trace);
    assert!(
        points.iter().any(|p| p == "rename:snapshot.eng#1"),
        "{points:?}"
    );
    for (i, p) in points.iter().enumerate() {
        let d = t.path().join(format!("c{i}"));
        copy_dir(&template, &d);
        assert!(killed(&cycle(&d, &[("ENGRAM_CRASH_AT", p)])), "{p}");
        let now = dump(&d);
        if now == before {
            assert!(cycle(&d, &[]).status.success());
            assert!(dump(&d) == after, "{p}: the cycle run again differs");
        } else {
            assert!(now == after, "{p}: neither before nor after the cycle");
        }
        // A writer opens it too (a stale log is replaced, nothing else changes).
        drop(DurableEngram::open(&d, Default::default()).unwrap());
        assert!(dump(&d) == after, "{p}");
        std::fs::remove_dir_all(&d).unwrap();
    }
}

#[test]
fn another_source_after_an_interrupted_commit_finishes_that_commit_and_says_so() {
    let t = tempfile::tempdir().unwrap();
    let a = npy(t.path(), "a.npy", 300, 7);
    let b = npy(t.path(), "b.npy", 200, 8);
    let store = t.path().join("s");
    let o = run(
        &["import", s(&a), "--store", s(&store)],
        &[("ENGRAM_CRASH_AT", "import:renamed-snapshot")],
    );
    assert!(killed(&o));
    let o = run(&["import", s(&b), "--store", s(&store)], &[]);
    let err = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(1), "{err}");
    assert!(err.contains("was not imported"), "{err}");
    assert_eq!(DurableEngram::open_read_only(&store).unwrap().len(), 300);
    // Run again: now it is imported.
    ok(&["import", s(&b), "--store", s(&store)]);
    assert_eq!(DurableEngram::open_read_only(&store).unwrap().len(), 500);
}
