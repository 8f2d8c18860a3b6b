//! The durability contract (docs/operations.md, "Durability contract"), clause by clause:
//! one writer per store, read-only opens that change no byte, damage that is corruption
//! (never a silent loss), a sealed log, and repair as the only way to drop records.

#[path = "persist_util.rs"]
mod util;

use std::path::Path;
use std::time::Duration;

use engram::persist::wal::{self, WalReader};
use engram::persist::{repair, DurableEngram, StoreOptions, SyncPolicy};
use engram::{Config, EpisodeMeta, Error, StoreError};
use util::{dump, files, populate, vec_for};

const DIM: usize = 8;

fn opts() -> StoreOptions {
    StoreOptions::default().sync(SyncPolicy::Never)
}

/// A closed store with a snapshot, a log of many records and a seal.
fn store(dir: &Path) -> Vec<u8> {
    let mut s = DurableEngram::create(dir, Config::new(DIM), opts()).unwrap();
    populate(&mut s, 3);
    for i in 0..40u64 {
        s.remember(&vec_for(1000 + i, DIM), EpisodeMeta::at(9000 + i))
            .unwrap();
    }
    let d = dump(&s);
    drop(s);
    d
}

fn record_offsets(path: &Path) -> Vec<u64> {
    let mut r = WalReader::open(path).unwrap();
    let mut v = Vec::new();
    while let Some((off, _)) = r.next_record().unwrap() {
        v.push(off);
    }
    v
}

fn corrupt_at(r: Result<DurableEngram, Error>) -> (String, u64) {
    match r {
        Err(Error::Store(StoreError::Corrupt {
            path,
            offset,
            detail,
            ..
        })) => (
            format!("{}: {detail}", path.file_name().unwrap().to_string_lossy()),
            offset,
        ),
        other => panic!("expected a corrupt store, got {other:?}"),
    }
}

/// Opens `dir` writable and read-only; both must fail as corrupt and leave every byte as it
/// was. Returns the offset the error names.
fn assert_corrupt_and_untouched(dir: &Path) -> u64 {
    let before = files(dir);
    let (_, off) = corrupt_at(DurableEngram::open_read_only(dir));
    assert_eq!(files(dir), before, "a read-only open changed the store");
    let (what, off2) = corrupt_at(DurableEngram::open(dir, opts()));
    assert_eq!(off, off2, "{what}");
    let mut after = files(dir);
    after.remove("LOCK");
    let mut b = before.clone();
    b.remove("LOCK");
    assert_eq!(after, b, "a failed open changed the store");
    off
}

#[test]
fn a_second_writer_is_refused_and_nothing_is_lost() {
    let t = tempfile::tempdir().unwrap();
    let mut a = DurableEngram::create(t.path(), Config::new(DIM), opts()).unwrap();
    a.remember(&vec_for(1, DIM), EpisodeMeta::at(1)).unwrap();
    match DurableEngram::open(t.path(), opts()) {
        Err(Error::Store(StoreError::Locked { holder_pid, .. })) => {
            assert_eq!(holder_pid, Some(std::process::id()));
        }
        other => panic!("expected Locked, got {other:?}"),
    }
    // Creating over it is refused: a store is there.
    let e = DurableEngram::create(t.path(), Config::new(DIM), opts()).unwrap_err();
    assert!(e.to_string().contains("already exists"), "{e}");
    // Readers need no lock and see every acknowledged write.
    let r = DurableEngram::open_read_only(t.path()).unwrap();
    assert_eq!(r.len(), 1);
    a.remember(&vec_for(2, DIM), EpisodeMeta::at(2)).unwrap();
    a.consolidate(10).unwrap();
    a.remember(&vec_for(3, DIM), EpisodeMeta::at(3)).unwrap();
    let want = dump(&a);
    assert_eq!(
        dump(&DurableEngram::open_read_only(t.path()).unwrap()),
        want
    );
    drop(r);
    drop(a);
    let b = DurableEngram::open(t.path(), opts()).unwrap();
    assert_eq!(dump(&b), want);
}

#[test]
fn a_writer_can_wait_for_the_lock() {
    let t = tempfile::tempdir().unwrap();
    let a = DurableEngram::create(t.path(), Config::new(DIM), opts()).unwrap();
    let h = std::thread::spawn(move || {
        std::thread::sleep(Duration::from_millis(300));
        drop(a);
    });
    let b = DurableEngram::open(t.path(), opts().wait_for_lock(Duration::from_secs(20)));
    h.join().unwrap();
    assert!(b.is_ok(), "{b:?}");
}

#[test]
fn a_read_only_handle_refuses_writes_and_changes_nothing() {
    let t = tempfile::tempdir().unwrap();
    let want = store(t.path());
    std::fs::remove_file(t.path().join("LOCK")).unwrap();
    let before = files(t.path());
    let mut r = DurableEngram::open_read_only(t.path()).unwrap();
    assert!(r.is_read_only());
    assert_eq!(dump(&r), want);
    for e in [
        r.remember(&vec_for(5, DIM), EpisodeMeta::at(5))
            .unwrap_err(),
        r.forget(engram::EpisodeId(0)).unwrap_err(),
        r.consolidate(100).unwrap_err(),
        r.checkpoint().unwrap_err(),
    ] {
        assert!(
            matches!(e, Error::Store(StoreError::ReadOnly { .. })),
            "{e:?}"
        );
    }
    r.sync().unwrap();
    drop(r);
    assert_eq!(files(t.path()), before, "no file created or changed");
    assert!(!t.path().join("LOCK").exists());
}

#[test]
fn a_read_only_open_works_on_a_read_only_directory() {
    use std::os::unix::fs::PermissionsExt;
    let t = tempfile::tempdir().unwrap();
    let want = store(t.path());
    // A torn tail too: a reader leaves it alone (a writer would cut it).
    let wal_path = t.path().join("wal.log");
    let mut log = std::fs::read(&wal_path).unwrap();
    log.extend_from_slice(&[7, 0, 0, 0, 1, 2, 3]);
    std::fs::write(&wal_path, &log).unwrap();
    std::fs::remove_file(t.path().join("wal.seal")).unwrap();
    let before = files(t.path());
    for f in std::fs::read_dir(t.path()).unwrap() {
        let p = f.unwrap().path();
        std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o444)).unwrap();
    }
    std::fs::set_permissions(t.path(), std::fs::Permissions::from_mode(0o555)).unwrap();
    let r = DurableEngram::open_read_only(t.path());
    std::fs::set_permissions(t.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
    let r = r.unwrap();
    assert_eq!(dump(&r), want);
    assert_eq!(r.recovery().torn_tail_bytes, 7);
    assert_eq!(files(t.path()), before);
}

#[test]
fn an_erased_or_zeroed_header_mid_log_is_corruption_not_a_torn_tail() {
    for fill in [0xFFu8, 0x00] {
        let t = tempfile::tempdir().unwrap();
        store(t.path());
        let wal_path = t.path().join("wal.log");
        let recs = record_offsets(&wal_path);
        assert!(recs.len() > 40, "{} records", recs.len());
        let mid = recs[recs.len() / 3] as usize;
        let mut b = std::fs::read(&wal_path).unwrap();
        b[mid..mid + 8].fill(fill);
        std::fs::write(&wal_path, &b).unwrap();
        let off = assert_corrupt_and_untouched(t.path());
        assert_eq!(off, mid as u64, "fill {fill:#x}");
    }
}

#[test]
fn a_valid_header_with_a_huge_length_mid_log_is_corruption() {
    let t = tempfile::tempdir().unwrap();
    store(t.path());
    let wal_path = t.path().join("wal.log");
    let recs = record_offsets(&wal_path);
    let mid = recs[10] as usize;
    let mut b = std::fs::read(&wal_path).unwrap();
    // A self-consistent header (its check passes) whose payload runs past the end.
    let crafted = wal::record_header(u32::MAX - 7, 0x1234_5678);
    b[mid..mid + 12].copy_from_slice(&crafted);
    std::fs::write(&wal_path, &b).unwrap();
    assert_eq!(assert_corrupt_and_untouched(t.path()), mid as u64);
}

#[test]
fn a_flipped_bit_in_the_last_acknowledged_record_is_corruption() {
    let t = tempfile::tempdir().unwrap();
    store(t.path());
    let wal_path = t.path().join("wal.log");
    let last = *record_offsets(&wal_path).last().unwrap() as usize;
    let mut b = std::fs::read(&wal_path).unwrap();
    let at = last + 20;
    b[at] ^= 0x10;
    std::fs::write(&wal_path, &b).unwrap();
    assert_eq!(assert_corrupt_and_untouched(t.path()), last as u64);
    // Even without the seal (a crash skipped it): a complete record failing its checksum
    // is damage, not a torn tail.
    std::fs::remove_file(t.path().join("wal.seal")).unwrap();
    assert_eq!(assert_corrupt_and_untouched(t.path()), last as u64);
}

#[test]
fn a_missing_swapped_or_shortened_log_is_detected() {
    let t = tempfile::tempdir().unwrap();
    store(t.path());
    let wal_path = t.path().join("wal.log");
    let log = std::fs::read(&wal_path).unwrap();

    // Missing.
    std::fs::remove_file(&wal_path).unwrap();
    assert_corrupt_and_untouched(t.path());

    // Swapped for an empty log of the same generation and dimension (another store's).
    let other = tempfile::tempdir().unwrap();
    let o = DurableEngram::create(other.path(), Config::new(DIM), opts()).unwrap();
    let gen = o.generation();
    drop(o);
    let mine = DurableEngram::open_read_only(t.path());
    assert!(mine.is_err());
    std::fs::write(&wal_path, &log).unwrap();
    let my_gen = DurableEngram::open_read_only(t.path())
        .unwrap()
        .generation();
    let mut g = DurableEngram::open(other.path(), opts()).unwrap();
    while g.generation() < my_gen {
        g.checkpoint().unwrap();
    }
    drop(g);
    assert!(gen <= my_gen);
    std::fs::copy(other.path().join("wal.log"), &wal_path).unwrap();
    assert_corrupt_and_untouched(t.path());

    // Shortened at a record boundary: the seal knows the length at the last close.
    let recs = record_offsets_of(&log);
    let cut = recs[recs.len() - 5] as usize;
    std::fs::write(&wal_path, &log[..cut]).unwrap();
    assert_corrupt_and_untouched(t.path());

    // Restored, it opens as it was.
    std::fs::write(&wal_path, &log).unwrap();
    DurableEngram::open(t.path(), opts()).unwrap();
}

fn record_offsets_of(log: &[u8]) -> Vec<u64> {
    let t = tempfile::tempdir().unwrap();
    let p = t.path().join("wal.log");
    std::fs::write(&p, log).unwrap();
    record_offsets(&p)
}

#[test]
fn every_byte_flip_in_a_sealed_log_is_an_error_or_the_whole_store() {
    let t = tempfile::tempdir().unwrap();
    let dir = t.path();
    let mut s = DurableEngram::create(dir, Config::new(4), opts()).unwrap();
    for i in 0..5u64 {
        s.remember(&vec_for(i, 4), EpisodeMeta::at(i).with_payload("p"))
            .unwrap();
    }
    s.forget(engram::EpisodeId(1)).unwrap();
    let want = dump(&s);
    drop(s);
    let wal_path = dir.join("wal.log");
    let log = std::fs::read(&wal_path).unwrap();
    let mut errors = 0;
    for i in 0..log.len() {
        for bit in [0x01u8, 0x80] {
            let mut b = log.clone();
            b[i] ^= bit;
            std::fs::write(&wal_path, &b).unwrap();
            let before = files(dir);
            match DurableEngram::open_read_only(dir) {
                Ok(r) => assert_eq!(dump(&r), want, "flip {bit:#x} at {i} opened differently"),
                Err(Error::Store(_)) => errors += 1,
                Err(e) => panic!("flip at {i}: not a store error: {e:?}"),
            }
            assert_eq!(files(dir), before);
        }
    }
    assert_eq!(errors, 2 * log.len(), "every flip is detected");
}

#[test]
fn repair_keeps_the_clean_prefix_and_saves_what_it_drops() {
    let t = tempfile::tempdir().unwrap();
    store(t.path());
    let wal_path = t.path().join("wal.log");
    let log = std::fs::read(&wal_path).unwrap();
    let recs = record_offsets(&wal_path);
    let bad = recs[recs.len() / 2] as usize;

    // The state the clean prefix gives, for comparison.
    let p = tempfile::tempdir().unwrap();
    std::fs::copy(t.path().join("snapshot.eng"), p.path().join("snapshot.eng")).unwrap();
    std::fs::write(p.path().join("wal.log"), &log[..bad]).unwrap();
    let prefix = dump(&DurableEngram::open(p.path(), opts()).unwrap());

    let mut b = log.clone();
    b[bad + 14] ^= 0xFF;
    std::fs::write(&wal_path, &b).unwrap();
    assert_corrupt_and_untouched(t.path());
    let r = repair(t.path()).unwrap();
    assert!(!r.clean);
    assert_eq!(r.log_bytes, bad as u64);
    assert_eq!(r.dropped_bytes, (b.len() - bad) as u64);
    let saved = std::fs::read(r.saved_to.as_ref().unwrap()).unwrap();
    assert_eq!(saved, &b[bad..], "every dropped byte is saved");
    let s = DurableEngram::open(t.path(), opts()).unwrap();
    assert_eq!(dump(&s), prefix);
    drop(s);
    // A sound store: repair changes nothing.
    let before = files(t.path());
    assert!(repair(t.path()).unwrap().clean);
    let mut after = files(t.path());
    after.remove("LOCK");
    let mut bb = before;
    bb.remove("LOCK");
    assert_eq!(after, bb);
}

#[test]
fn repair_of_a_missing_log_starts_an_empty_one_and_says_so() {
    let t = tempfile::tempdir().unwrap();
    store(t.path());
    std::fs::remove_file(t.path().join("wal.log")).unwrap();
    let r = repair(t.path()).unwrap();
    assert!(r.new_log && !r.clean);
    let s = DurableEngram::open(t.path(), opts()).unwrap();
    assert!(!s.is_empty(), "the snapshot's episodes are kept");
}

#[test]
fn a_torn_tail_without_a_seal_is_cut_but_never_below_the_sealed_length() {
    let t = tempfile::tempdir().unwrap();
    store(t.path());
    let wal_path = t.path().join("wal.log");
    let log = std::fs::read(&wal_path).unwrap();
    let last = *record_offsets(&wal_path).last().unwrap() as usize;
    // The last record cut short: it was sealed (acknowledged and closed) — corruption.
    std::fs::write(&wal_path, &log[..log.len() - 3]).unwrap();
    assert_corrupt_and_untouched(t.path());
    // After a crash (no seal for this length), the same bytes are a torn tail.
    let s = DurableEngram::open(t.path(), opts());
    assert!(s.is_err());
    std::fs::remove_file(t.path().join("wal.seal")).unwrap();
    let s = DurableEngram::open(t.path(), opts()).unwrap();
    assert_eq!(s.recovery().torn_tail_offset, Some(last as u64));
    drop(s);
    assert_eq!(std::fs::read(&wal_path).unwrap(), &log[..last]);
}

#[test]
fn stores_of_format_3_are_read_and_upgraded_by_a_writer() {
    // A store whose snapshot names no log id and whose log is version 1 is what the
    // previous release wrote; build one by rewriting the current files.
    let t = tempfile::tempdir().unwrap();
    let want = store(t.path());
    let snap = t.path().join("snapshot.eng");
    let b = std::fs::read(&snap).unwrap();
    let mut out = b[..12].to_vec();
    out[8..12].copy_from_slice(&3u32.to_le_bytes());
    let mut pos = 12;
    while pos < b.len() {
        let len = u64::from_le_bytes(b[pos + 4..pos + 12].try_into().unwrap()) as usize;
        let end = pos + 12 + len + 4;
        match &b[pos..pos + 4] {
            b"WLOG" => {}
            b"END_" => {
                let mut s = b"END_".to_vec();
                s.extend_from_slice(&4u64.to_le_bytes());
                s.extend_from_slice(&8u32.to_le_bytes());
                let c = crc32c::crc32c(&s);
                s.extend_from_slice(&c.to_le_bytes());
                out.extend_from_slice(&s);
            }
            _ => out.extend_from_slice(&b[pos..end]),
        }
        pos = end;
    }
    std::fs::write(&snap, out).unwrap();
    // The log as version 1: a 28-byte header, records `len | crc(len) | crc(payload)`.
    let wal_path = t.path().join("wal.log");
    let log = std::fs::read(&wal_path).unwrap();
    let mut v1 = log[..24].to_vec();
    v1[8..12].copy_from_slice(&1u32.to_le_bytes());
    let c = crc32c::crc32c(&v1);
    v1.extend_from_slice(&c.to_le_bytes());
    let mut pos = wal::HEADER_BYTES as usize;
    while pos < log.len() {
        let len = u32::from_le_bytes(log[pos..pos + 4].try_into().unwrap());
        let pcrc = &log[pos + 4..pos + 8];
        v1.extend_from_slice(&len.to_le_bytes());
        v1.extend_from_slice(&crc32c::crc32c(&len.to_le_bytes()).to_le_bytes());
        v1.extend_from_slice(pcrc);
        v1.extend_from_slice(&log[pos + 12..pos + 12 + len as usize]);
        pos += 12 + len as usize;
    }
    std::fs::write(&wal_path, &v1).unwrap();
    std::fs::remove_file(t.path().join("wal.seal")).unwrap();
    let r = DurableEngram::open_read_only(t.path()).unwrap();
    assert_eq!(dump(&r), want);
    drop(r);
    let gen = {
        let s = DurableEngram::open(t.path(), opts()).unwrap();
        assert_eq!(dump(&s), want);
        s.generation()
    };
    // The writer checkpointed: a version 4 snapshot naming a version 2 log.
    let s = DurableEngram::open(t.path(), opts()).unwrap();
    assert_eq!(s.generation(), gen);
    assert_eq!(dump(&s), want);
    let r = WalReader::open(&wal_path).unwrap();
    assert_eq!(r.version, 2);
    assert!(r.log_id.is_some());
}

#[test]
fn readers_see_a_consistent_state_while_a_writer_appends_and_checkpoints() {
    let t = tempfile::tempdir().unwrap();
    let dir = t.path().to_path_buf();
    let mut w = DurableEngram::create(&dir, Config::new(DIM), opts()).unwrap();
    w.remember(&vec_for(0, DIM), EpisodeMeta::at(0)).unwrap();
    let writer = std::thread::spawn(move || {
        for i in 1..400u64 {
            // Batches of 3: a reader sees all of a batch or none of it.
            let rows: Vec<f32> = (0..3).flat_map(|j| vec_for(i * 3 + j, DIM)).collect();
            w.remember_batch(&rows, vec![EpisodeMeta::at(i); 3])
                .unwrap();
            if i % 50 == 0 {
                w.checkpoint().unwrap();
            }
        }
        w.len()
    });
    let mut opened = 0;
    let mut last = 0;
    while !writer.is_finished() {
        let r = DurableEngram::open_read_only(&dir).unwrap();
        let n = r.len();
        assert_eq!((n - 1) % 3, 0, "a batch was seen in part: {n}");
        assert!(n >= last, "a later reader saw less: {n} < {last}");
        r.graph().check_invariants().unwrap();
        last = n;
        opened += 1;
    }
    let total = writer.join().unwrap();
    assert_eq!(DurableEngram::open_read_only(&dir).unwrap().len(), total);
    assert!(opened > 3, "{opened} reads");
}

#[test]
fn every_byte_flip_in_a_snapshot_is_an_error() {
    let t = tempfile::tempdir().unwrap();
    let dir = t.path();
    let mut s = DurableEngram::create(dir, Config::new(4), opts()).unwrap();
    for i in 0..6u64 {
        s.remember(&vec_for(i, 4), EpisodeMeta::at(i).with_payload("x"))
            .unwrap();
    }
    s.add_concept(&vec_for(99, 4), Default::default()).unwrap();
    s.consolidate(10).unwrap();
    drop(s);
    let snap_path = dir.join("snapshot.eng");
    let snap = std::fs::read(&snap_path).unwrap();
    for i in 0..snap.len() {
        let mut b = snap.clone();
        b[i] ^= 0x04;
        std::fs::write(&snap_path, &b).unwrap();
        let before = files(dir);
        match DurableEngram::open_read_only(dir) {
            Err(Error::Store(StoreError::Corrupt { .. } | StoreError::Version { .. })) => {}
            other => panic!("flip at {i} of {}: {other:?}", snap.len()),
        }
        assert_eq!(files(dir), before);
    }
}

#[test]
fn erased_or_zeroed_runs_anywhere_are_errors_in_a_sealed_store() {
    let t = tempfile::tempdir().unwrap();
    store(t.path());
    for name in ["wal.log", "snapshot.eng"] {
        let path = t.path().join(name);
        let orig = std::fs::read(&path).unwrap();
        let step = (orig.len() / 37).max(1);
        for fill in [0x00u8, 0xFF] {
            for len in [1usize, 8, 100, usize::MAX] {
                for start in (0..orig.len()).step_by(step) {
                    let mut b = orig.clone();
                    let end = start.saturating_add(len).min(b.len());
                    if b[start..end].iter().all(|&x| x == fill) {
                        continue; // nothing changed
                    }
                    b[start..end].fill(fill);
                    std::fs::write(&path, &b).unwrap();
                    let before = files(t.path());
                    let r = DurableEngram::open_read_only(t.path());
                    assert!(
                        matches!(r, Err(Error::Store(_))),
                        "{name}: {fill:#x} × {len} at {start} opened"
                    );
                    assert_eq!(files(t.path()), before);
                }
            }
        }
        std::fs::write(&path, &orig).unwrap();
    }
}

#[test]
fn repair_reopens_a_log_shortened_below_its_seal() {
    let t = tempfile::tempdir().unwrap();
    store(t.path());
    let wal_path = t.path().join("wal.log");
    let log = std::fs::read(&wal_path).unwrap();
    let recs = record_offsets(&wal_path);
    // At a record boundary, and in the middle of a record.
    for cut in [
        recs[recs.len() - 3] as usize,
        recs[recs.len() - 3] as usize + 5,
    ] {
        std::fs::write(&wal_path, &log[..cut]).unwrap();
        assert_corrupt_and_untouched(t.path());
        let r = repair(t.path()).unwrap();
        assert!(!r.clean, "{r:?}");
        assert!(
            r.problem
                .as_deref()
                .unwrap()
                .contains("records were removed"),
            "{r:?}"
        );
        let s = DurableEngram::open(t.path(), opts()).unwrap();
        assert_eq!(s.wal_bytes(), recs[recs.len() - 3]);
        drop(s);
        // Back to the whole log (its seal is now shorter: still a lower bound); a writer's
        // clean close seals the whole length again.
        std::fs::write(&wal_path, &log).unwrap();
        assert!(repair(t.path()).unwrap().clean);
        drop(DurableEngram::open(t.path(), opts()).unwrap());
    }
}

#[test]
fn an_older_log_put_back_after_a_checkpoint_is_detected() {
    let t = tempfile::tempdir().unwrap();
    store(t.path());
    let wal_path = t.path().join("wal.log");
    let old = std::fs::read(&wal_path).unwrap();
    let mut s = DurableEngram::open(t.path(), opts()).unwrap();
    s.checkpoint().unwrap();
    s.remember(&vec_for(77, DIM), EpisodeMeta::at(77)).unwrap();
    drop(s);
    // The log of the generation before: its records are folded in, but the one written
    // after the checkpoint is not.
    std::fs::write(&wal_path, &old).unwrap();
    assert_corrupt_and_untouched(t.path());
    let r = repair(t.path()).unwrap();
    assert!(r.new_log, "{r:?}");
    assert_eq!(std::fs::read(r.saved_to.unwrap()).unwrap(), old);
    DurableEngram::open(t.path(), opts()).unwrap();
}

#[test]
fn a_stale_log_with_records_is_kept_beside_the_store() {
    let t = tempfile::tempdir().unwrap();
    let want = store(t.path());
    let wal_path = t.path().join("wal.log");
    let log = std::fs::read(&wal_path).unwrap();
    // A checkpoint interrupted after its snapshot's rename: write the next snapshot by hand.
    let s = DurableEngram::open_read_only(t.path()).unwrap();
    let gen = s.generation();
    engram::persist::snapshot::write(&s, &t.path().join("snapshot.eng"), gen + 1, 42).unwrap();
    drop(s);
    let w = DurableEngram::open(t.path(), opts()).unwrap();
    assert!(w.recovery().stale_wal_discarded);
    assert_eq!(dump(&w), want);
    drop(w);
    let kept = t.path().join(format!("wal.log.folded-gen-{gen}"));
    assert_eq!(std::fs::read(kept).unwrap(), log);
}

#[test]
fn a_writer_whose_lock_file_was_removed_refuses_to_checkpoint() {
    let t = tempfile::tempdir().unwrap();
    let mut s = DurableEngram::create(t.path(), Config::new(DIM), opts()).unwrap();
    s.remember(&vec_for(1, DIM), EpisodeMeta::at(1)).unwrap();
    std::fs::remove_file(t.path().join("LOCK")).unwrap();
    // Another writer can now get in; this one must not overwrite its snapshot.
    let other = DurableEngram::open(t.path(), opts()).unwrap();
    let e = s.checkpoint().unwrap_err();
    assert!(e.to_string().contains("lock file was removed"), "{e}");
    drop(other);
}

/// A log with its record headers made self-consistent again after `f` changed its records:
/// every header's check is recomputed, so the reader gets past the header checks and must
/// judge the lengths and payloads themselves.
fn refit_headers(log: &[u8], mut f: impl FnMut(usize, &mut u32, &mut Vec<u8>)) -> Vec<u8> {
    let h = wal::HEADER_BYTES as usize;
    let mut out = log[..h].to_vec();
    let mut pos = h;
    let mut i = 0;
    while pos + 12 <= log.len() {
        let len = u32::from_le_bytes(log[pos..pos + 4].try_into().unwrap());
        let end = (pos + 12 + len as usize).min(log.len());
        let mut payload = log[pos + 12..end].to_vec();
        let mut claimed = len;
        f(i, &mut claimed, &mut payload);
        let c = crc32c::crc32c(&payload);
        out.extend_from_slice(&wal::record_header(claimed, c));
        out.extend_from_slice(&payload);
        pos = end;
        i += 1;
    }
    out
}

mod framing {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        #![proptest_config(ProptestConfig { cases: 48, ..ProptestConfig::default() })]

        /// Records whose lengths and payloads were changed with their checksums fixed up:
        /// opening gives a typed error or a store, never a panic, quickly, and changes no byte.
        #[test]
        fn refitted_lengths_and_payloads(
            target in 0usize..60,
            claimed in prop_oneof![Just(0u32), Just(1), Just(u32::MAX), 0u32..5000],
            cut in 0usize..64,
            flip in any::<(usize, u8)>(),
        ) {
            let t = tempfile::tempdir().unwrap();
            store(t.path());
            let wal_path = t.path().join("wal.log");
            let log = std::fs::read(&wal_path).unwrap();
            let bad = refit_headers(&log, |i, len, payload| {
                if i == target % 45 {
                    *len = claimed;
                    payload.truncate(payload.len().saturating_sub(cut));
                    if !payload.is_empty() {
                        let at = flip.0 % payload.len();
                        payload[at] ^= flip.1 | 1;
                    }
                }
            });
            std::fs::write(&wal_path, &bad).unwrap();
            let before = files(t.path());
            let started = std::time::Instant::now();
            let r = std::panic::catch_unwind(|| DurableEngram::open_read_only(t.path()).map(|s| s.len()));
            prop_assert!(r.is_ok(), "panicked");
            match r.unwrap() {
                Ok(_) | Err(Error::Store(_)) => {}
                Err(e) => prop_assert!(false, "not a store error: {e:?}"),
            }
            prop_assert!(started.elapsed() < Duration::from_secs(10));
            prop_assert_eq!(files(t.path()), before);
        }
    }
}
