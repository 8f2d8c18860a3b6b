//! Counts, lengths, counters and the backend read from a store are checked before they are
//! used (issue 14): a checksum-valid snapshot with a huge chunk size, dimension or count is
//! refused or opened — never a panic, never an abort; counters near `u64::MAX` give a typed
//! error with nothing changed, or a store that reopens; a store written with the GPU backend
//! opens on a machine without one.

#[path = "persist_util.rs"]
mod util;

use std::path::Path;
use std::time::{Duration, Instant};

use engram::persist::testing::{
    counters, decode_snapshot, fix_snapshot_checksums, raise_counters, snapshot_sections,
};
use engram::persist::{DurableEngram, StoreOptions, SyncPolicy};
use engram::{BackendChoice, Config, Engram, EpisodeMeta, Error, StoreError};

fn opts() -> StoreOptions {
    StoreOptions::default().sync(SyncPolicy::Never)
}

/// Offsets of the HEAD fields inside its payload.
const H_DIM: usize = 0;
const H_BACKEND: usize = 5;
const H_CHUNK: usize = 7;
const H_GENERATION: usize = 15;
const H_NEXT_EPISODE: usize = 23;
const H_NEXT_CONCEPT: usize = 31;
const H_CYCLE: usize = 39;
const H_EPISODES: usize = 47;
const H_CONCEPTS: usize = 55;
const H_BINDINGS: usize = 63;
const H_LINKS: usize = 71;

/// A snapshot of about 8 KB (episodes with payloads, concepts, bindings, links) made
/// through the public API.
fn snapshot_8k() -> Vec<u8> {
    let dir = tempfile::tempdir().unwrap();
    let mut s = DurableEngram::create(dir.path(), Config::new(8), opts()).unwrap();
    util::populate(&mut s, 3);
    s.checkpoint().unwrap();
    let mut bytes = std::fs::read(dir.path().join("snapshot.eng")).unwrap();
    let mut seed = 1000;
    while bytes.len() < 8 * 1024 {
        s.remember(
            &util::vec_for(seed, 8),
            EpisodeMeta::at(seed).with_payload("padding"),
        )
        .unwrap();
        seed += 1;
        if seed % 16 == 0 {
            s.checkpoint().unwrap();
            bytes = std::fs::read(dir.path().join("snapshot.eng")).unwrap();
        }
    }
    assert!(bytes.len() < 10 * 1024, "{} bytes", bytes.len());
    bytes
}

/// Where a section's payload starts.
fn payload_of(bytes: &[u8], tag: &[u8; 4]) -> usize {
    snapshot_sections(bytes)
        .into_iter()
        .find(|s| &s.tag == tag)
        .unwrap()
        .payload
}

fn put_u64(bytes: &mut [u8], at: usize, v: u64) {
    bytes[at..at + 8].copy_from_slice(&v.to_le_bytes());
}

fn put_u32(bytes: &mut [u8], at: usize, v: u32) {
    bytes[at..at + 4].copy_from_slice(&v.to_le_bytes());
}

/// Decodes bytes (checksums fixed up) and returns the outcome quickly, or fails the test.
fn decode_fixed(mut bytes: Vec<u8>) -> Result<Engram, Error> {
    assert_eq!(fix_snapshot_checksums(&mut bytes), 10);
    let t = Instant::now();
    let r = decode_snapshot(&bytes);
    assert!(
        t.elapsed() < Duration::from_secs(5),
        "decoding took {:?}",
        t.elapsed()
    );
    r
}

fn assert_corrupt(r: Result<Engram, Error>, section: &str) {
    match r {
        Err(Error::Store(StoreError::Corrupt { section: s, .. })) if s == section => {}
        other => panic!(
            "expected corrupt {section}, got {:?}",
            other.map(|e| e.len())
        ),
    }
}

#[test]
fn the_fixture_decodes_unchanged() {
    let bytes = snapshot_8k();
    let e = decode_fixed(bytes).expect("the unchanged snapshot decodes");
    assert!(e.len() > 10);
    assert!(!e.concepts().is_empty());
}

#[test]
fn huge_chunk_size_neither_panics_nor_aborts() {
    let base = snapshot_8k();
    let head = payload_of(&base, b"HEAD");
    for chunk in [u64::MAX, u64::MAX / 2, 1 << 62, 1 << 50, 1 << 40] {
        let mut b = base.clone();
        put_u64(&mut b, head + H_CHUNK, chunk);
        // The chunk size is a layout parameter, not data: the store opens (with a chunk
        // no larger than the file needs) and holds what it held.
        let e = decode_fixed(b).unwrap_or_else(|e| panic!("chunk {chunk}: {e}"));
        assert!(e.config().chunk_limit() <= 128 << 20, "chunk {chunk}");
        assert!(e.len() > 10);
    }
    // Smaller than one row: refused as corrupt.
    let mut b = base.clone();
    put_u64(&mut b, head + H_CHUNK, 3);
    assert_corrupt(decode_fixed(b), "HEAD");
}

#[test]
fn huge_dimension_or_counts_are_refused_quickly() {
    let base = snapshot_8k();
    let head = payload_of(&base, b"HEAD");
    for dim in [u32::MAX, 1 << 30, 1 << 20, 9, 7] {
        let mut b = base.clone();
        put_u32(&mut b, head + H_DIM, dim);
        assert!(decode_fixed(b).is_err(), "dim {dim}");
    }
    let cases = [
        (H_EPISODES, "EMET"),
        (H_CONCEPTS, "CONC"),
        (H_BINDINGS, "BIND"),
        (H_LINKS, "LINK"),
    ];
    for (field, section) in cases {
        for v in [u64::MAX, u64::MAX / 20 + 1, 1 << 61, 1 << 40, 1 << 20] {
            let mut b = base.clone();
            put_u64(&mut b, head + field, v);
            assert_corrupt(decode_fixed(b), section);
        }
    }
    // Counts inside sections: the first u64 of IMPT (the ledger count).
    let impt = payload_of(&base, b"IMPT");
    for v in [u64::MAX, 1 << 40] {
        let mut b = base.clone();
        put_u64(&mut b, impt, v);
        assert_corrupt(decode_fixed(b), "IMPT");
    }
    // An empty store with a huge dimension is not data: it is refused or opened, without
    // allocating rows it does not hold.
    let dir = tempfile::tempdir().unwrap();
    drop(DurableEngram::create(dir.path(), Config::new(4), opts()).unwrap());
    let empty = std::fs::read(dir.path().join("snapshot.eng")).unwrap();
    let head = payload_of(&empty, b"HEAD");
    for dim in [u32::MAX, 1 << 30] {
        let mut b = empty.clone();
        put_u32(&mut b, head + H_DIM, dim);
        put_u64(&mut b, head + H_CHUNK, u64::MAX);
        match decode_fixed(b) {
            Ok(e) => assert_eq!(e.dim(), dim as usize),
            Err(Error::Store(StoreError::Corrupt { .. })) => {}
            Err(e) => panic!("dim {dim}: {e}"),
        }
    }
}

#[test]
fn inconsistent_counters_in_a_snapshot_are_corrupt() {
    let base = snapshot_8k();
    let head = payload_of(&base, b"HEAD");
    // Ids at or past their next-id counters.
    for (field, section) in [(H_NEXT_EPISODE, "EMET"), (H_NEXT_CONCEPT, "CONC")] {
        let mut b = base.clone();
        put_u64(&mut b, head + field, 1);
        assert_corrupt(decode_fixed(b), section);
    }
    // The generation u64::MAX leaves no next one.
    let mut b = base.clone();
    put_u64(&mut b, head + H_GENERATION, u64::MAX);
    assert_corrupt(decode_fixed(b), "HEAD");
    // Concepts updated in a cycle past the store's: make the store's cycle smaller than a
    // concept's by consolidating first.
    let dir = tempfile::tempdir().unwrap();
    let mut s = DurableEngram::create(dir.path(), Config::new(8), opts()).unwrap();
    clustered_episodes(&mut s, 0);
    s.consolidate(10).unwrap();
    assert!(!s.concepts().is_empty());
    drop(s);
    let snap = std::fs::read(dir.path().join("snapshot.eng")).unwrap();
    let head = payload_of(&snap, b"HEAD");
    let mut b = snap.clone();
    put_u64(&mut b, head + H_CYCLE, 0);
    assert_corrupt(decode_fixed(b), "CONC");
}

/// Two tight, well separated groups of episodes (so a cycle forms concepts).
fn clustered_episodes(s: &mut DurableEngram, at: u64) {
    let dim = s.dim();
    let mut rows = Vec::new();
    let mut metas = Vec::new();
    for g in 0..2usize {
        for i in 0..12u64 {
            let mut v = vec![0.0f32; dim];
            v[g * 3] = 1.0;
            v[g * 3 + 1] = 0.01 * i as f32;
            v[7] = 0.02 * (i % 3) as f32;
            rows.extend(v);
            metas.push(EpisodeMeta::at(at + i));
        }
    }
    s.remember_batch(&rows, metas).unwrap();
}

fn read_snapshot(dir: &Path) -> Vec<u8> {
    std::fs::read(dir.join("snapshot.eng")).unwrap()
}

/// Everything a cycle may change, for "nothing changed" checks.
fn state(s: &DurableEngram) -> String {
    let mut out = format!(
        "{:?} len {} cycle {} last {:?} bindings {}",
        counters(s),
        s.len(),
        s.cycle(),
        s.last_consolidation(),
        s.graph().binding_count()
    );
    for c in s.concepts() {
        out.push_str(&format!(" {c:?}"));
    }
    for (_, id, n) in s.graph().episodes() {
        out.push_str(&format!(" {id}:{:08x}", n.strength.to_bits()));
    }
    out
}

/// Sets counters through the testing hook and checkpoints them.
fn store_with_counters(next_episode: u64, next_concept: u64, cycle: u64) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    let mut s = DurableEngram::create(dir.path(), Config::new(8), opts()).unwrap();
    clustered_episodes(&mut s, 0);
    s.mutate_and_checkpoint(|e| raise_counters(e, next_episode, next_concept, cycle))
        .unwrap();
    drop(s);
    dir
}

/// Runs a consolidation: either a typed counter error with nothing changed in memory or on
/// disk, or success and a store that reopens with the same state.
fn consolidate_or_refuse(dir: &Path, now: u64) -> Option<&'static str> {
    let mut s = DurableEngram::open(dir, opts()).unwrap();
    let before = state(&s);
    let snap_before = read_snapshot(dir);
    match s.consolidate(now) {
        Err(Error::CounterOverflow { what, .. }) => {
            assert_eq!(state(&s), before, "{what}: memory changed");
            assert_eq!(read_snapshot(dir), snap_before, "{what}: disk changed");
            drop(s);
            let s = DurableEngram::open(dir, opts()).expect("reopens after the refusal");
            assert_eq!(state(&s), before);
            Some(what)
        }
        Err(e) => panic!("not a counter error: {e}"),
        Ok(_) => {
            let after = state(&s);
            drop(s);
            let s = DurableEngram::open(dir, opts()).expect("the store written reopens");
            assert_eq!(state(&s), after);
            None
        }
    }
}

#[test]
fn concept_ids_near_the_limit_refuse_or_reopen() {
    // No concept id left: the cycle that would create concepts is refused.
    let dir = store_with_counters(0, u64::MAX, 0);
    assert_eq!(consolidate_or_refuse(dir.path(), 10), Some("concept id"));
    // One left: the cycle creates at most one concept or is refused; either way the store
    // reopens.
    let dir = store_with_counters(0, u64::MAX - 1, 0);
    let r = consolidate_or_refuse(dir.path(), 10);
    assert!(matches!(r, None | Some("concept id")), "{r:?}");
    // Room for a few: cycles run and the store reopens after each.
    let dir = store_with_counters(0, u64::MAX - 32, 0);
    assert_eq!(consolidate_or_refuse(dir.path(), 10), None);
    let s = DurableEngram::open(dir.path(), opts()).unwrap();
    assert!(s.concepts().iter().all(|c| c.id.0 >= u64::MAX - 32));
    assert!(!s.concepts().is_empty());
    // Adding concepts by hand stops at the limit, with a typed error.
    drop(s);
    let mut s = DurableEngram::open(dir.path(), opts()).unwrap();
    let mut refused = false;
    for i in 0..40 {
        match s.add_concept(&util::vec_for(i, 8), Default::default()) {
            Ok(_) => {}
            Err(Error::CounterOverflow { what, .. }) => {
                assert_eq!(what, "concept id");
                refused = true;
                break;
            }
            Err(e) => panic!("{e}"),
        }
    }
    assert!(refused);
    let before = state(&s);
    drop(s);
    let s = DurableEngram::open(dir.path(), opts()).expect("log replays");
    assert_eq!(state(&s), before);
}

#[test]
fn cycle_count_near_the_limit_refuses_or_reopens() {
    let dir = store_with_counters(0, 0, u64::MAX);
    assert_eq!(
        consolidate_or_refuse(dir.path(), 10),
        Some("consolidation cycle")
    );
    let dir = store_with_counters(0, 0, u64::MAX - 1);
    assert_eq!(consolidate_or_refuse(dir.path(), 10), None);
    let s = DurableEngram::open(dir.path(), opts()).unwrap();
    assert_eq!(s.cycle(), u64::MAX);
    drop(s);
    assert_eq!(
        consolidate_or_refuse(dir.path(), 20),
        Some("consolidation cycle")
    );
}

#[test]
fn episode_ids_near_the_limit_refuse_or_reopen() {
    let dir = store_with_counters(u64::MAX - 1, 0, 0);
    let mut s = DurableEngram::open(dir.path(), opts()).unwrap();
    let before = state(&s);
    // Two rows need two ids: refused as a whole.
    let two = [util::vec_for(1, 8), util::vec_for(2, 8)].concat();
    match s.remember_batch(&two, vec![]) {
        Err(Error::CounterOverflow { what, .. }) => assert_eq!(what, "episode id"),
        other => panic!("{other:?}"),
    }
    assert_eq!(state(&s), before);
    let id = s
        .remember(&util::vec_for(3, 8), EpisodeMeta::at(3))
        .unwrap();
    assert_eq!(id.0, u64::MAX - 1);
    assert!(matches!(
        s.remember(&util::vec_for(4, 8), EpisodeMeta::at(4)),
        Err(Error::CounterOverflow { .. })
    ));
    assert!(matches!(
        s.import_batch("imp", "{}", &util::vec_for(5, 8), vec![], &[]),
        Err(Error::CounterOverflow { .. })
    ));
    let before = state(&s);
    drop(s);
    // The log replays; a cycle and its snapshot work and reopen.
    let s = DurableEngram::open(dir.path(), opts()).unwrap();
    assert_eq!(state(&s), before);
    drop(s);
    assert_eq!(consolidate_or_refuse(dir.path(), 10), None);
}

#[test]
fn generation_near_the_limit_refuses_the_checkpoint_and_reopens() {
    let dir = tempfile::tempdir().unwrap();
    let mut s = DurableEngram::create(dir.path(), Config::new(8), opts()).unwrap();
    clustered_episodes(&mut s, 0);
    s.checkpoint().unwrap();
    drop(s);
    let mut b = read_snapshot(dir.path());
    let head = payload_of(&b, b"HEAD");
    put_u64(&mut b, head + H_GENERATION, u64::MAX - 1);
    fix_snapshot_checksums(&mut b);
    std::fs::write(dir.path().join("snapshot.eng"), &b).unwrap();
    // The log no longer follows this snapshot: start an empty one, as an operator would.
    engram::persist::repair(dir.path()).unwrap();
    let mut s = DurableEngram::open(dir.path(), opts()).unwrap();
    assert_eq!(s.generation(), u64::MAX - 1);
    s.remember(&util::vec_for(9, 8), EpisodeMeta::at(9))
        .unwrap();
    match s.checkpoint() {
        Err(Error::CounterOverflow { what, .. }) => assert_eq!(what, "snapshot generation"),
        other => panic!("{other:?}"),
    }
    let before = state(&s);
    drop(s);
    assert_eq!(read_snapshot(dir.path()), b);
    let s = DurableEngram::open(dir.path(), opts()).unwrap();
    assert_eq!(state(&s), before);
}

/// Whether the process asks for a backend explicitly (then its errors are the process's).
fn env_backend() -> Option<String> {
    std::env::var("ENGRAM_BACKEND")
        .ok()
        .filter(|v| !v.trim().is_empty())
}

#[test]
fn a_store_written_with_the_gpu_backend_opens_anywhere() {
    let dir = tempfile::tempdir().unwrap();
    // With a GPU (CI's lavapipe) the store is written on it; without one, a CPU store's
    // recorded backend is set to GPU (checksums fixed up): the same file either way.
    match Engram::new(Config::new(8).backend(BackendChoice::Gpu)) {
        Ok(e) => {
            let mut s = DurableEngram::create_from(dir.path(), e, opts()).unwrap();
            clustered_episodes(&mut s, 0);
            s.checkpoint().unwrap();
        }
        Err(_) => {
            let cfg = Config::new(8).backend(BackendChoice::Cpu);
            let mut s = DurableEngram::create(dir.path(), cfg, opts()).unwrap();
            clustered_episodes(&mut s, 0);
            s.checkpoint().unwrap();
            drop(s);
            let mut b = read_snapshot(dir.path());
            let head = payload_of(&b, b"HEAD");
            b[head + H_BACKEND] = 2;
            fix_snapshot_checksums(&mut b);
            std::fs::write(dir.path().join("snapshot.eng"), &b).unwrap();
        }
    }
    let b = read_snapshot(dir.path());
    assert_eq!(b[payload_of(&b, b"HEAD") + H_BACKEND], 2, "recorded as GPU");
    match DurableEngram::open(dir.path(), opts()) {
        Ok(s) => {
            // The process decides: the recorded choice is not restored.
            assert_eq!(s.config().backend_choice(), BackendChoice::Auto);
            assert_eq!(s.len(), 24);
            assert_eq!(s.search(&util::vec_for(1, 8), 3).unwrap().len(), 3);
        }
        // Only when the process itself asks for a GPU it does not have.
        Err(Error::Gpu(e)) if env_backend().is_some() => {
            eprintln!("ENGRAM_BACKEND={:?}: {e}", env_backend());
        }
        Err(e) => panic!("opening a GPU-written store failed: {e}"),
    }
}
