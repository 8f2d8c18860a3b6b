//! Resuming killed imports and rolling back online ones:
//! - `engram import` (offline) killed with SIGKILL at random points and re-run gives the
//!   store of an uninterrupted import;
//! - an online import into a durable store, in a child process killed with SIGKILL at random
//!   points, resumes exactly where the store stands (the ledger is written with each batch):
//!   no record twice, none missing, even between checkpoints;
//! - online rollback removes exactly what the import added, finished or interrupted, and
//!   nothing another writer added meanwhile;
//! - a resumed online import refuses a tampered checkpoint, a changed source and a store
//!   that is not the one it began in.
//!
//! The online child is this test binary itself, re-run with `ENGRAM_ONLINE_CHILD` set so that
//! only [`online_child`] runs.

#[path = "migrate_util.rs"]
mod mutil;

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Duration;

use engram::migrate::{self, ImportOptions};
use engram::persist::{DurableEngram, StoreOptions, SyncPolicy};
use engram::{Config, Engram, EpisodeMeta, Error, InputError, SharedEngram, StoreError};
use mutil::{jsonl, DIM};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

/// What an import put in a store, by id: episodes (embedding bits, timestamp, confidence,
/// payload) and concepts (centroid bits, members). Equal contents, equal imports.
fn contents(e: &Engram) -> Vec<String> {
    let mut out = Vec::new();
    for (_, id, _) in e.graph().episodes() {
        let ep = e.get(id).unwrap();
        let bits: Vec<u32> = e
            .embedding(id)
            .unwrap()
            .iter()
            .map(|x| x.to_bits())
            .collect();
        out.push(format!(
            "{id} {} {} {:?} {bits:?}",
            ep.timestamp,
            ep.confidence.to_bits(),
            ep.payload
        ));
    }
    for c in e.graph().concept_ids() {
        let con = e.concept(c).unwrap();
        let bits: Vec<u32> = e.centroid(c).unwrap().iter().map(|x| x.to_bits()).collect();
        out.push(format!("{c} {} {bits:?}", con.members));
    }
    out
}

fn opts() -> ImportOptions {
    ImportOptions {
        batch_size: 100,
        checkpoint_every: 1000,
        ..ImportOptions::default()
    }
}

fn durable(dir: &Path) -> SharedEngram {
    let s = DurableEngram::open_or_create(
        dir,
        Config::new(DIM),
        StoreOptions::default().sync(SyncPolicy::EveryWrite),
    )
    .unwrap();
    SharedEngram::durable(s)
}

/// The whole source imported online in one run into a fresh in-memory engine.
fn uninterrupted(src: &Path, work: &Path) -> Vec<String> {
    let shared = SharedEngram::new(Engram::new(Config::new(DIM)).unwrap());
    let r = migrate::import_online(src, &shared, work, &opts()).unwrap();
    assert!(r.verification.unwrap().ok);
    shared.with(contents)
}

/// The child: imports online into the durable store `ENGRAM_ONLINE_CHILD`/store until killed.
#[test]
fn online_child() {
    let Ok(dir) = std::env::var("ENGRAM_ONLINE_CHILD") else {
        return;
    };
    let dir = Path::new(&dir);
    let shared = durable(&dir.join("store"));
    let mut o = opts();
    o.rate_limit = Some(4000.0);
    let _ = migrate::import_online(&dir.join("m.jsonl"), &shared, &dir.join("work"), &o);
}

#[test]
fn online_import_killed_at_random_points_resumes_exactly() {
    let t = tempfile::tempdir().unwrap();
    let src = t.path().join("m.jsonl");
    jsonl(&src, 6000, &[]);
    let expected = uninterrupted(&src, &t.path().join("work-ref"));
    let exe = std::env::current_exe().unwrap();
    let mut rng = ChaCha8Rng::seed_from_u64(77);
    let mut progress = Vec::new();
    for _ in 0..6 {
        let mut child = Command::new(&exe)
            .args(["--exact", "online_child", "--nocapture", "--test-threads=1"])
            .env("ENGRAM_ONLINE_CHILD", t.path())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        // The child imports about 4,000 records/s: 0.1–0.3 s is 400–1,200 records, so
        // most kills land between two file checkpoints (every 1,000 records).
        std::thread::sleep(Duration::from_millis(rng.random_range(100..300)));
        child.kill().unwrap(); // SIGKILL
        child.wait().unwrap();
        let shared = durable(&t.path().join("store"));
        progress.push(shared.len());
    }
    eprintln!("live episodes after each kill: {progress:?}");
    assert!(
        progress.windows(2).all(|w| w[0] <= w[1]),
        "the store went back: {progress:?}"
    );
    let shared = durable(&t.path().join("store"));
    let r = migrate::import_online(&src, &shared, &t.path().join("work"), &opts()).unwrap();
    let v = r.verification.clone().unwrap();
    assert!(v.ok && v.digest_ok, "{r:?}");
    assert_eq!(r.episodes + r.concepts, 6000, "{r:?}");
    assert_eq!(shared.with(contents), expected);
    // And after reopening.
    drop(shared);
    assert_eq!(durable(&t.path().join("store")).with(contents), expected);
}

#[test]
fn online_import_stopped_between_checkpoints_imports_nothing_twice() {
    let t = tempfile::tempdir().unwrap();
    let src = t.path().join("m.jsonl");
    jsonl(&src, 3000, &[]);
    let expected = uninterrupted(&src, &t.path().join("work-ref"));
    let (store, work) = (t.path().join("s"), t.path().join("work"));
    let mut o = opts();
    o.checkpoint_every = 1000;
    o.stop_after = Some(1700); // the file checkpoint says 1,000; the store holds 1,700
    let r1 = migrate::import_online(&src, &durable(&store), &work, &o).unwrap();
    assert!(!r1.completed);
    let shared = durable(&store);
    let r2 = migrate::import_online(&src, &shared, &work, &opts()).unwrap();
    assert_eq!(r2.resumed_after, Some(1700));
    assert!(r2.verification.unwrap().ok);
    assert_eq!(shared.with(contents), expected);
}

/// Needs the `engram` binary (the `cli` feature).
#[cfg(feature = "cli")]
#[test]
fn offline_cli_import_killed_at_random_points_resumes_exactly() {
    let t = tempfile::tempdir().unwrap();
    let src = t.path().join("m.jsonl");
    jsonl(&src, 6000, &[]);
    let exe = env!("CARGO_BIN_EXE_engram");
    let import = |store: &Path, rate: &str| {
        let mut c = Command::new(exe);
        c.arg("import")
            .arg(&src)
            .arg("--store")
            .arg(store)
            .args([
                "--batch",
                "100",
                "--checkpoint-every",
                "500",
                "--rate",
                rate,
            ])
            .stdout(Stdio::null())
            .stderr(Stdio::null());
        c
    };
    let reference = t.path().join("ref");
    assert!(import(&reference, "1e9").status().unwrap().success());
    let store = t.path().join("s");
    let mut rng = ChaCha8Rng::seed_from_u64(99);
    let mut finished_early = false;
    for _ in 0..6 {
        let mut child = import(&store, "5000").spawn().unwrap();
        std::thread::sleep(Duration::from_millis(rng.random_range(100..400)));
        let _ = child.kill(); // SIGKILL (a no-op if it already finished)
        let status = child.wait().unwrap();
        finished_early |= status.success();
        if finished_early {
            break;
        }
    }
    if !finished_early {
        assert!(import(&store, "1e9").status().unwrap().success());
    }
    let open = |d: &Path| DurableEngram::open(d, StoreOptions::default()).unwrap();
    assert_eq!(contents(&open(&store)), contents(&open(&reference)));
    assert_eq!(open(&store).len(), open(&reference).len());
}

/// A store with 300 episodes and a concept of its own.
fn seeded_store(dir: &Path) -> SharedEngram {
    let shared = durable(dir);
    let rows: Vec<f32> = (0..300u64)
        .flat_map(|i| mutil::vec_for(500_000 + i, DIM))
        .collect();
    shared.remember_batch(&rows, vec![]).unwrap();
    shared
        .add_concept(&mutil::vec_for(9, DIM), Default::default())
        .unwrap();
    shared
}

#[test]
fn online_rollback_removes_exactly_the_import() {
    let t = tempfile::tempdir().unwrap();
    let src = t.path().join("m.jsonl");
    jsonl(&src, 2000, &[]); // episodes and concepts (every 10th line is a concept)
    let store = t.path().join("s");
    let shared = seeded_store(&store);
    let before = shared.with(contents);

    // Another writer adds episodes while the import runs.
    let other = {
        let h = shared.clone();
        std::thread::spawn(move || {
            let mut ids = Vec::new();
            for i in 0..40u64 {
                let v = mutil::vec_for(900_000 + i, DIM);
                ids.push(h.remember(&v, EpisodeMeta::at(i)).unwrap());
                std::thread::sleep(Duration::from_millis(2));
            }
            ids
        })
    };
    let mut o = opts();
    o.rate_limit = Some(20_000.0);
    let work = t.path().join("work");
    let r = migrate::import_online(&src, &shared, &work, &o).unwrap();
    let others = other.join().unwrap();
    assert!(r.verification.unwrap().ok);
    assert_eq!(shared.len() as u64, 300 + 40 + r.episodes);
    let rb = migrate::rollback_online(&shared, &work).unwrap();
    assert_eq!((rb.episodes, rb.concepts), (r.episodes, r.concepts));
    // What remains: the store before, plus the other writer's episodes.
    let mut expected = before.clone();
    let mut with_others = shared.with(contents);
    let other_lines: Vec<String> = with_others
        .iter()
        .filter(|l| {
            let id = l.split(' ').next().unwrap();
            others.iter().any(|o| o.to_string() == id)
        })
        .cloned()
        .collect();
    assert_eq!(other_lines.len(), 40);
    expected.extend(other_lines.iter().cloned());
    expected.sort();
    with_others.sort();
    assert_eq!(with_others, expected);
    assert!(shared.with(|e| e.import_ids().is_empty()));
    shared.with(|e| e.graph().check_invariants().unwrap());
    // The rollback is durable.
    drop(shared);
    let mut reopened = durable(&store).with(contents);
    reopened.sort();
    assert_eq!(reopened, expected);
    // The work directory is free for a new import; a second rollback has nothing to do.
    assert!(migrate::rollback_online(&durable(&store), &work).is_err());
}

#[test]
fn online_rollback_of_an_interrupted_import() {
    let t = tempfile::tempdir().unwrap();
    let src = t.path().join("m.jsonl");
    jsonl(&src, 2000, &[]);
    let store = t.path().join("s");
    let shared = seeded_store(&store);
    let before = shared.with(contents);
    let work = t.path().join("work");
    let mut o = opts();
    o.stop_after = Some(1200);
    let r = migrate::import_online(&src, &shared, &work, &o).unwrap();
    assert!(!r.completed && shared.len() > 300);
    migrate::rollback_online(&shared, &work).unwrap();
    assert_eq!(shared.with(contents), before);
    // Unknown imports are a typed error.
    let e = shared
        .mutate(|e| e.rollback_import("no-such-import"))
        .unwrap()
        .unwrap_err();
    assert!(
        matches!(e, Error::Input(InputError::UnknownImport(_))),
        "{e}"
    );
    // A new import into the same work directory starts from scratch.
    let r = migrate::import_online(&src, &shared, &work, &opts()).unwrap();
    assert_eq!(r.resumed_after, None);
    assert_eq!(r.episodes + r.concepts, 2000);
}

#[test]
fn online_resume_refuses_tampering_changed_sources_and_other_stores() {
    let t = tempfile::tempdir().unwrap();
    let src = t.path().join("m.jsonl");
    jsonl(&src, 2000, &[]);
    let store = t.path().join("s");
    let work = t.path().join("work");
    let mut o = opts();
    o.stop_after = Some(1000);
    let shared = durable(&store);
    migrate::import_online(&src, &shared, &work, &o).unwrap();
    let refused = |r: engram::Result<migrate::ImportReport>| match r {
        Err(Error::Store(StoreError::Refused { reason, .. })) => reason,
        other => panic!("expected a refusal, got {other:?}"),
    };
    // A tampered checkpoint.
    let ck = work.join("checkpoint.json");
    let orig = std::fs::read_to_string(&ck).unwrap();
    std::fs::write(&ck, orig.replace("\"skipped\": 0", "\"skipped\": 1")).unwrap();
    let why = refused(migrate::import_online(&src, &shared, &work, &opts()));
    assert!(why.contains("seal"), "{why}");
    std::fs::write(&ck, &orig).unwrap();
    // A changed byte inside the imported part of the source.
    let bytes = std::fs::read(&src).unwrap();
    let mut changed = bytes.clone();
    let at = changed.iter().position(|&b| b == b'9').unwrap();
    changed[at] = b'8';
    std::fs::write(&src, &changed).unwrap();
    let why = refused(migrate::import_online(&src, &shared, &work, &opts()));
    assert!(why.contains("changed"), "{why}");
    std::fs::write(&src, &bytes).unwrap();
    // Another store.
    let elsewhere = durable(&t.path().join("other"));
    let why = refused(migrate::import_online(&src, &elsewhere, &work, &opts()));
    assert!(why.contains("no ledger"), "{why}");
    // The right store and source resume.
    let r = migrate::import_online(&src, &shared, &work, &opts()).unwrap();
    assert_eq!(r.resumed_after, Some(1000));
    assert!(r.verification.unwrap().ok);
    assert_eq!(r.episodes + r.concepts, 2000);
}

#[test]
fn a_store_without_the_ledger_is_refused_even_before_the_first_checkpoint() {
    let t = tempfile::tempdir().unwrap();
    let src = t.path().join("m.jsonl");
    jsonl(&src, 2000, &[]);
    let shared = durable(&t.path().join("s"));
    let work = t.path().join("work");
    let mut o = opts();
    o.stop_after = Some(100); // one batch, long before the first periodic checkpoint
    let r = migrate::import_online(&src, &shared, &work, &o).unwrap();
    assert!(!r.completed);
    let id = r.import_id.clone();
    assert!(shared.mutate(|e| e.forget_import(&id)).unwrap());
    // The records of that batch are in the store; importing from the start would duplicate
    // them.
    match migrate::import_online(&src, &shared, &work, &opts()) {
        Err(Error::Store(StoreError::Refused { reason, .. })) => {
            assert!(reason.contains("no ledger"), "{reason}")
        }
        other => panic!("expected a refusal, got {other:?}"),
    }
}
