//! A bounded fuzz of the snapshot and log-record decoders, run by `cargo test`: real
//! snapshots and record payloads (made through the public API: episodes with payloads,
//! concepts, bindings, links, import ledgers, after a consolidation) are mutated — byte
//! flips, u32/u64 fields overwritten with huge values, 0x00/0xFF runs, truncations — and the
//! snapshot's checksums are recomputed so the mutated bytes reach the decoders. Every decode
//! must return `Ok` or a typed `Corrupt`/`Version` error: no panic, no abort, no huge
//! allocation (a counting allocator checks the largest single request), and quickly. A
//! snapshot that decodes is written and read back (what the reader accepts, the writer can
//! write and the reader read again).
//!
//! The unbounded version is `fuzz/` (`cargo fuzz run snapshot_decode`).

#[path = "persist_util.rs"]
mod util;

use std::alloc::{GlobalAlloc, Layout, System};
use std::panic::AssertUnwindSafe;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use engram::persist::testing::{
    decode_snapshot, fix_snapshot_checksums, replay_record, snapshot_sections,
};
use engram::persist::wal::WalReader;
use engram::persist::{DurableEngram, NewConcept, StoreOptions, SyncPolicy};
use engram::{Config, Engram, EpisodeMeta, Error, StoreError};
use proptest::prelude::*;
use proptest::sample::Index;

/// Records the largest single allocation request of the process.
struct Counting;

static LARGEST: AtomicUsize = AtomicUsize::new(0);

unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        LARGEST.fetch_max(layout.size(), Ordering::Relaxed);
        // SAFETY: forwarded unchanged to the system allocator.
        unsafe { System.alloc(layout) }
    }
    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        LARGEST.fetch_max(layout.size(), Ordering::Relaxed);
        // SAFETY: forwarded unchanged to the system allocator.
        unsafe { System.alloc_zeroed(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: forwarded unchanged to the system allocator.
        unsafe { System.dealloc(ptr, layout) }
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        LARGEST.fetch_max(new_size, Ordering::Relaxed);
        // SAFETY: forwarded unchanged to the system allocator.
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static ALLOC: Counting = Counting;

/// The most any single allocation may ask for while decoding these small files: the
/// arena's default chunk reservation (128 MiB of virtual memory, as for any new engine).
const MAX_ALLOC: usize = 128 << 20;

fn opts() -> StoreOptions {
    StoreOptions::default().sync(SyncPolicy::Never)
}

struct Fixture {
    /// A snapshot after a consolidation (every section populated).
    snapshot: Vec<u8>,
    /// The engine each record applies to (the snapshot's, plus the records before it).
    bases: Vec<Engram>,
    /// The log's record payloads.
    records: Vec<Vec<u8>>,
}

fn fixture() -> &'static Fixture {
    static F: std::sync::OnceLock<Fixture> = std::sync::OnceLock::new();
    F.get_or_init(|| {
        let dir = tempfile::tempdir().unwrap();
        let mut s = DurableEngram::create(dir.path(), Config::new(8), opts()).unwrap();
        util::populate(&mut s, 7);
        s.consolidate(10_000).unwrap();
        // Logged records of every kind after the snapshot.
        s.remember_batch(
            &[util::vec_for(40, 8), util::vec_for(41, 8)].concat(),
            vec![
                EpisodeMeta::at(1).with_payload("a payload"),
                EpisodeMeta::at(2).with_stream(3),
            ],
        )
        .unwrap();
        s.remember(&util::vec_for(42, 8), EpisodeMeta::default())
            .unwrap();
        let first = s.graph().episodes().next().map(|(_, id, _)| id).unwrap();
        s.forget(first).unwrap();
        s.add_concept(&util::vec_for(43, 8), NewConcept::default())
            .unwrap();
        s.import_batch(
            "fuzz-import",
            r#"{"at":9}"#,
            &[util::vec_for(44, 8), util::vec_for(45, 8)].concat(),
            vec![EpisodeMeta::at(9), EpisodeMeta::at(10).with_payload("x")],
            &[(util::vec_for(46, 8), NewConcept::default())],
        )
        .unwrap();
        drop(s);
        let snapshot = std::fs::read(dir.path().join("snapshot.eng")).unwrap();
        let wal_path = dir.path().join("wal.log");
        let mut r = WalReader::open(&wal_path).unwrap();
        let mut records = Vec::new();
        while let Some((_, rec)) = r.next_record().unwrap() {
            records.push(rec);
        }
        assert_eq!(records.len(), 5);
        let mut e = decode_snapshot(&snapshot).unwrap();
        assert!(e.graph().binding_count() > 0 && !e.concepts().is_empty());
        let mut bases = Vec::new();
        for rec in &records {
            bases.push(e.clone());
            replay_record(&mut e, rec).unwrap();
        }
        Fixture {
            snapshot,
            bases,
            records,
        }
    })
}

/// One change to a file's bytes.
#[derive(Debug, Clone)]
enum Mutation {
    Flip(Index, u8),
    U32(Index, u32),
    U64(Index, u64),
    /// A u64 written at any offset inside a chosen section (by its index) of a snapshot.
    SectionU64(Index, Index, u64),
    Run(Index, usize, u8),
    Truncate(Index),
}

fn huge_u64() -> impl Strategy<Value = u64> {
    prop_oneof![
        Just(u64::MAX),
        Just(u64::MAX - 1),
        Just(u64::MAX / 2),
        Just(1u64 << 62),
        Just(1u64 << 40),
        Just(1u64 << 32),
        Just(u64::from(u32::MAX)),
        Just(0),
        Just(1),
        any::<u64>(),
    ]
}

fn huge_u32() -> impl Strategy<Value = u32> {
    prop_oneof![
        Just(u32::MAX),
        Just(u32::MAX - 1),
        Just(1u32 << 31),
        Just(1u32 << 24),
        Just(0),
        any::<u32>(),
    ]
}

fn mutation() -> impl Strategy<Value = Mutation> {
    prop_oneof![
        3 => (any::<Index>(), 1..=255u8).prop_map(|(i, x)| Mutation::Flip(i, x)),
        2 => (any::<Index>(), huge_u32()).prop_map(|(i, v)| Mutation::U32(i, v)),
        2 => (any::<Index>(), huge_u64()).prop_map(|(i, v)| Mutation::U64(i, v)),
        4 => (any::<Index>(), any::<Index>(), huge_u64())
            .prop_map(|(s, i, v)| Mutation::SectionU64(s, i, v)),
        2 => (any::<Index>(), 1..64usize, prop_oneof![Just(0u8), Just(0xFF)])
            .prop_map(|(i, n, b)| Mutation::Run(i, n, b)),
        1 => any::<Index>().prop_map(Mutation::Truncate),
    ]
}

fn apply(bytes: &mut Vec<u8>, m: &Mutation, sections: bool) {
    if bytes.is_empty() {
        return;
    }
    let put = |bytes: &mut Vec<u8>, at: usize, v: &[u8]| {
        for (k, b) in v.iter().enumerate() {
            if let Some(x) = bytes.get_mut(at + k) {
                *x = *b;
            }
        }
    };
    match m {
        Mutation::Flip(i, x) => {
            let at = i.index(bytes.len());
            bytes[at] ^= x;
        }
        Mutation::U32(i, v) => put(bytes, i.index(bytes.len()), &v.to_le_bytes()),
        Mutation::U64(i, v) => put(bytes, i.index(bytes.len()), &v.to_le_bytes()),
        Mutation::SectionU64(s, i, v) => {
            let spans = if sections {
                snapshot_sections(bytes)
            } else {
                Vec::new()
            };
            let (start, len) = match spans.get(s.index(spans.len().max(1))) {
                Some(sp) if sp.len > 0 => (sp.payload, sp.len),
                _ => (0, bytes.len()),
            };
            // Fields are mostly u64 at 8-byte steps after a short prefix: try both.
            let at = start + i.index(len);
            put(bytes, at, &v.to_le_bytes());
        }
        Mutation::Run(i, n, b) => {
            let at = i.index(bytes.len());
            let end = (at + n).min(bytes.len());
            bytes[at..end].fill(*b);
        }
        Mutation::Truncate(i) => {
            let at = i.index(bytes.len());
            bytes.truncate(at);
        }
    }
}

/// Runs `f` with the backstop of `catch_unwind`, checking time and the largest allocation.
fn guarded<T>(what: &str, f: impl FnOnce() -> T) -> T {
    LARGEST.store(0, Ordering::Relaxed);
    let t = Instant::now();
    let r = std::panic::catch_unwind(AssertUnwindSafe(f))
        .unwrap_or_else(|_| panic!("{what}: the decoder panicked"));
    let took = t.elapsed();
    assert!(took < Duration::from_secs(5), "{what}: took {took:?}");
    let largest = LARGEST.load(Ordering::Relaxed);
    assert!(
        largest <= MAX_ALLOC,
        "{what}: allocated {largest} bytes at once"
    );
    r
}

/// A typed error a damaged file may give.
fn typed(e: &Error) -> bool {
    matches!(
        e,
        Error::Store(StoreError::Corrupt { .. } | StoreError::Version { .. })
    )
}

fn check_snapshot(bytes: &[u8]) -> Result<(), TestCaseError> {
    match guarded("snapshot", || decode_snapshot(bytes)) {
        Err(e) => prop_assert!(typed(&e), "untyped error: {e}"),
        Ok(engine) => {
            // What the reader accepted, the writer writes and the reader reads back.
            let dir = tempfile::tempdir().unwrap();
            let path = dir.path().join("snapshot.eng");
            engram::persist::snapshot::write(&engine, &path, 1, 7)
                .map_err(|e| TestCaseError::fail(format!("rewrite failed: {e}")))?;
            let again = std::fs::read(&path).unwrap();
            prop_assert!(
                decode_snapshot(&again).is_ok(),
                "the rewritten snapshot fails"
            );
        }
    }
    Ok(())
}

fn check_record(base: &Engram, rec: &[u8]) -> Result<(), TestCaseError> {
    let mut e = base.clone();
    match guarded("record", || replay_record(&mut e, rec)) {
        Err(err) => prop_assert!(typed(&err), "untyped error: {err}"),
        Ok(()) => {
            // A record that replays leaves a store that can be written and read again.
            let dir = tempfile::tempdir().unwrap();
            let path = dir.path().join("snapshot.eng");
            engram::persist::snapshot::write(&e, &path, 1, 7)
                .map_err(|err| TestCaseError::fail(format!("rewrite failed: {err}")))?;
            let again = std::fs::read(&path).unwrap();
            let r = decode_snapshot(&again);
            prop_assert!(
                r.is_ok(),
                "the replayed store does not read back: {:?}",
                r.err()
            );
        }
    }
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig {
        cases: 400,
        failure_persistence: None,
        ..ProptestConfig::default()
    })]

    #[test]
    fn mutated_snapshots_decode_or_give_typed_errors(
        ms in proptest::collection::vec(mutation(), 1..4)
    ) {
        let f = fixture();
        let mut b = f.snapshot.clone();
        for m in &ms {
            apply(&mut b, m, true);
        }
        fix_snapshot_checksums(&mut b);
        check_snapshot(&b)?;
    }

    #[test]
    fn mutated_records_replay_or_give_typed_errors(
        which in any::<Index>(),
        ms in proptest::collection::vec(mutation(), 1..4)
    ) {
        let f = fixture();
        let k = which.index(f.records.len());
        let mut rec = f.records[k].clone();
        for m in &ms {
            apply(&mut rec, m, false);
        }
        check_record(&f.bases[k], &rec)?;
    }
}

/// Every u64 and u32 position of the real snapshot set to huge values, one at a time.
#[test]
fn every_field_position_with_huge_values() {
    let f = fixture();
    let spans = snapshot_sections(&f.snapshot);
    // Skip the big float sections' interiors (they are data, not counts): their first
    // bytes are still covered.
    let mut positions = Vec::new();
    for s in &spans {
        let limit = if &s.tag == b"EVEC" { 16 } else { s.len };
        positions.extend((s.start..s.payload + limit.min(s.len)).step_by(1));
    }
    for &at in &positions {
        for v in [u64::MAX, 1 << 40] {
            let mut b = f.snapshot.clone();
            let end = (at + 8).min(b.len());
            b[at..end].copy_from_slice(&v.to_le_bytes()[..end - at]);
            fix_snapshot_checksums(&mut b);
            check_snapshot(&b).unwrap_or_else(|e| panic!("at {at}, {v}: {e}"));
        }
    }
    for (k, rec) in f.records.iter().enumerate() {
        for at in 0..rec.len() {
            let u32s = [u32::MAX, 1 << 28].map(|v| v.to_le_bytes().to_vec());
            let u64s = [u64::MAX, 1 << 40].map(|v| v.to_le_bytes().to_vec());
            for v in u32s.iter().chain(&u64s) {
                let mut r = rec.clone();
                let end = (at + v.len()).min(r.len());
                r[at..end].copy_from_slice(&v[..end - at]);
                check_record(&f.bases[k], &r)
                    .unwrap_or_else(|e| panic!("record {k} at {at}, {v:?}: {e}"));
            }
        }
    }
}
