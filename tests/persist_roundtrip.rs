//! Round trips through the on-disk store: everything saved comes back bit-exact.

#[path = "persist_util.rs"]
mod util;

use engram::persist::{DurableEngram, StoreOptions, SyncPolicy};
use engram::{Config, Error, Precision, StoreError};
use util::{dump, populate};

fn opts() -> StoreOptions {
    StoreOptions::default().sync(SyncPolicy::Never)
}

#[test]
fn round_trip_equal_every_precision() {
    for p in [Precision::F32, Precision::F32AndF16, Precision::F16] {
        let dir = tempfile::tempdir().unwrap();
        let cfg = Config::new(24).precision(p).chunk_bytes(24 * 4 * 10);
        let mut s = DurableEngram::create(dir.path(), cfg, opts()).unwrap();
        populate(&mut s, 7);
        let before = dump(&s);
        assert!(s.wal_bytes() > 28, "some changes are only in the log");
        drop(s);
        let s = DurableEngram::open(dir.path(), opts()).unwrap();
        assert!(s.recovery().records_replayed >= 4);
        assert!(!s.recovery().repaired());
        assert_eq!(dump(&s), before, "{p:?}: reopened store differs");
        assert_eq!(s.config().storage(), p);
        // Checkpoint (the snapshot compacts rows) and reopen again.
        let mut s = s;
        s.checkpoint().unwrap();
        assert_eq!(dump(&s), before);
        drop(s);
        let s = DurableEngram::open(dir.path(), opts()).unwrap();
        assert_eq!(s.recovery().records_replayed, 0);
        assert_eq!(dump(&s), before, "{p:?}: after checkpoint");
    }
}

#[test]
fn interrupted_checkpoint_leaves_a_stale_log_that_is_discarded() {
    let dir = tempfile::tempdir().unwrap();
    let mut s = DurableEngram::create(dir.path(), Config::new(8), opts()).unwrap();
    populate(&mut s, 3);
    let before = dump(&s);
    let old_wal = std::fs::read(dir.path().join("wal.log")).unwrap();
    let old_seal = std::fs::read(dir.path().join("wal.seal")).unwrap();
    s.checkpoint().unwrap();
    drop(s);
    // As if the process died after the new snapshot was renamed in, before the log reset
    // (and so before the new log's seal).
    std::fs::write(dir.path().join("wal.log"), &old_wal).unwrap();
    std::fs::write(dir.path().join("wal.seal"), &old_seal).unwrap();
    std::fs::write(dir.path().join("snapshot.eng.tmp"), b"half written").unwrap();
    let s = DurableEngram::open(dir.path(), opts()).unwrap();
    assert!(s.recovery().stale_wal_discarded);
    assert_eq!(s.recovery().temp_files_removed, 1);
    assert_eq!(dump(&s), before);
}

#[test]
fn other_versions_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let mut s = DurableEngram::create(dir.path(), Config::new(4), opts()).unwrap();
    s.remember(&[1.0, 2.0, 3.0, 4.0], Default::default())
        .unwrap();
    drop(s);
    for (file, at) in [("snapshot.eng", 8), ("wal.log", 8)] {
        let p = dir.path().join(file);
        let orig = std::fs::read(&p).unwrap();
        let mut b = orig.clone();
        b[at..at + 4].copy_from_slice(&99u32.to_le_bytes());
        std::fs::write(&p, &b).unwrap();
        match DurableEngram::open(dir.path(), opts()) {
            Err(Error::Store(StoreError::Version {
                found: 99, path, ..
            })) => {
                assert!(path.ends_with(file));
            }
            other => panic!("{file}: expected a version error, got {other:?}"),
        }
        std::fs::write(&p, &orig).unwrap();
    }
    assert_eq!(DurableEngram::open(dir.path(), opts()).unwrap().len(), 1);
}

#[test]
fn dimension_mismatch_and_existing_store_are_errors() {
    let dir = tempfile::tempdir().unwrap();
    drop(DurableEngram::create(dir.path(), Config::new(4), opts()).unwrap());
    assert!(matches!(
        DurableEngram::open_with(dir.path(), &Config::new(5), opts()),
        Err(Error::Store(StoreError::DimensionMismatch {
            stored: 4,
            configured: 5,
            ..
        }))
    ));
    assert!(DurableEngram::create(dir.path(), Config::new(4), opts()).is_err());
    let empty = tempfile::tempdir().unwrap();
    assert!(DurableEngram::open(empty.path(), opts()).is_err());
}

#[test]
fn sync_policies_all_persist_on_close() {
    for sync in [
        SyncPolicy::EveryWrite,
        SyncPolicy::Interval(std::time::Duration::from_millis(5)),
        SyncPolicy::Never,
    ] {
        let dir = tempfile::tempdir().unwrap();
        let o = StoreOptions::default().sync(sync);
        let mut s = DurableEngram::create(dir.path(), Config::new(16), o).unwrap();
        populate(&mut s, 11);
        let before = dump(&s);
        drop(s);
        assert_eq!(dump(&DurableEngram::open(dir.path(), o).unwrap()), before);
    }
}
