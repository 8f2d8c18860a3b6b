//! Consolidation and the store: the consolidation state survives a checkpoint and a reopen
//! (the next cycle is bit-exact that of an engine never saved), durable cycles, background
//! consolidation on a durable `SharedEngram`, and version 1 snapshots.

#[path = "persist_util.rs"]
mod util;

use std::time::{Duration, Instant};

use engram::consolidation::{ClusterCount, ConsolidationConfig, ForgettingCurve};
use engram::persist::{DurableEngram, StoreOptions, SyncPolicy};
use engram::synth::SynthParams;
use engram::{BackendChoice, ConceptState, Config, CycleReport, Engram, EpisodeMeta, SharedEngram};
use util::dump;

const DIM: usize = 32;

fn opts() -> StoreOptions {
    StoreOptions::default().sync(SyncPolicy::Never)
}

/// A configuration unlike the default in every field the cycles depend on, so a reopened
/// store that fell back to the defaults would diverge.
fn cc() -> ConsolidationConfig {
    ConsolidationConfig::default()
        .seed(0x5eed)
        .clusters(ClusterCount::Discover { max_k: Some(24) })
        .replay_fraction(0.25)
        .replay_min(16)
        .promote_after(2)
        .link_threshold(0.2)
        .forgetting(ForgettingCurve::Power {
            scale: 50.0,
            exponent: 0.6,
        })
}

fn config() -> Config {
    Config::new(DIM)
        .backend(BackendChoice::Cpu)
        .consolidation(cc())
}

/// Four chunks of a clustered stream (drifting centres), with timestamps.
fn stream() -> Vec<(Vec<f32>, Vec<EpisodeMeta>)> {
    let d = SynthParams::new(1600, DIM, 8)
        .seed(11)
        .drift(0.2)
        .check()
        .expect("synth")
        .generate();
    d.data
        .chunks(400 * DIM)
        .enumerate()
        .map(|(c, rows)| {
            let metas = (0..400)
                .map(|i| EpisodeMeta::at(c as u64 * 1000 + i).with_stream(i % 3))
                .collect();
            (rows.to_vec(), metas)
        })
        .collect()
}

fn clean(mut r: CycleReport) -> CycleReport {
    r.timings = Default::default();
    r
}

/// `dump` plus the cycle count and the last cycle's time.
fn state(e: &Engram) -> Vec<u8> {
    let mut d = dump(e);
    d.extend(format!("cycle {} last {:?}", e.cycle(), e.last_consolidation()).bytes());
    d
}

#[test]
fn next_cycle_after_reopen_is_bit_exact() {
    let chunks = stream();
    let dir = tempfile::tempdir().expect("tempdir");
    let mut mem = Engram::new(config()).expect("engine");
    let mut s = DurableEngram::create(dir.path(), config(), opts()).expect("create");
    // Three cycles, each durable.
    for (c, (rows, metas)) in chunks.iter().take(3).enumerate() {
        let a = mem.remember_batch(rows, metas.clone()).expect("remember");
        let b = s.remember_batch(rows, metas.clone()).expect("remember");
        assert_eq!(a, b);
        let now = c as u64 * 1000 + 900;
        let gen = s.generation();
        let ra = clean(mem.consolidate(now).expect("cycle"));
        let rb = clean(s.consolidate(now).expect("durable cycle"));
        assert_eq!(ra, rb, "cycle {}", c + 1);
        assert_eq!(s.generation(), gen + 1, "a durable cycle checkpoints");
        assert_eq!(
            s.wal_bytes(),
            engram::persist::wal::HEADER_BYTES,
            "and starts an empty log"
        );
    }
    assert_eq!(mem.cycle(), 3);
    let concepts = mem.concepts();
    assert!(concepts.len() >= 4, "{} concepts", concepts.len());
    assert!(concepts.iter().any(|c| c.state == ConceptState::Promoted));
    assert!(concepts.iter().any(|c| c.confirmations >= 2));
    assert!(mem.graph().binding_count() > 1000);
    assert!(mem.concepts().iter().any(|c| !mem
        .graph()
        .concept_node(c.id)
        .expect("node")
        .links()
        .is_empty()));
    assert_eq!(state(&s), state(&mem));

    // After the checkpoint, logged changes: the fourth chunk and some forgets.
    let (rows, metas) = &chunks[3];
    mem.remember_batch(rows, metas.clone()).expect("remember");
    s.remember_batch(rows, metas.clone()).expect("remember");
    for id in [3u64, 401, 1203, 1500] {
        mem.forget(engram::EpisodeId(id)).expect("forget");
        s.forget(engram::EpisodeId(id)).expect("forget");
    }
    drop(s);
    let mut s = DurableEngram::open(dir.path(), opts()).expect("reopen");
    assert_eq!(s.recovery().records_replayed, 5);
    assert_eq!(s.config().consolidation_config(), &cc());
    assert_eq!(state(&s), state(&mem));

    // The next cycle: same report, same concepts (ids, centroids bit-exact, states,
    // strengths), same everything.
    let ra = clean(mem.consolidate(3900).expect("cycle 4"));
    let rb = clean(s.consolidate(3900).expect("cycle 4 on the reopened store"));
    assert_eq!(ra, rb);
    assert!(ra.episodes_new >= 396 && !ra.concepts_updated.is_empty());
    let bits = |e: &Engram| -> Vec<(u64, Vec<u32>, String)> {
        e.concepts()
            .iter()
            .map(|c| {
                let v = e.centroid(c.id).expect("centroid");
                (
                    c.id.0,
                    v.iter().map(|x| x.to_bits()).collect(),
                    format!(
                        "{:?} {:08x} {}",
                        c.state,
                        c.strength.to_bits(),
                        c.confirmations
                    ),
                )
            })
            .collect()
    };
    assert_eq!(bits(&s), bits(&mem));
    assert_eq!(state(&s), state(&mem));
    // And once more after a plain reopen (no log): a fifth cycle still agrees.
    drop(s);
    let mut s = DurableEngram::open(dir.path(), opts()).expect("reopen");
    assert_eq!(s.recovery().records_replayed, 0);
    let ra = clean(mem.consolidate(5000).expect("cycle 5"));
    let rb = clean(s.consolidate(5000).expect("cycle 5"));
    assert_eq!(ra, rb);
    assert_eq!(state(&s), state(&mem));
}

#[test]
fn round_trip_of_concepts_formed_by_consolidation() {
    let chunks = stream();
    let dir = tempfile::tempdir().expect("tempdir");
    let mut s = DurableEngram::create(dir.path(), config(), opts()).expect("create");
    for (c, (rows, metas)) in chunks.iter().enumerate() {
        s.remember_batch(rows, metas.clone()).expect("remember");
        s.consolidate(c as u64 * 1000 + 900).expect("cycle");
    }
    // Unlogged consolidation by hand on the engine, then an explicit checkpoint.
    let before = s
        .mutate_and_checkpoint(|e| {
            e.consolidate(4500).expect("cycle");
            state(e)
        })
        .expect("checkpoint");
    let concepts = s.concepts();
    assert!(concepts.iter().any(|c| c.state == ConceptState::Proto) || concepts.len() >= 4);
    assert!(s.graph().binding_count() > 0);
    drop(s);
    let s = DurableEngram::open(dir.path(), opts()).expect("reopen");
    assert_eq!(state(&s), before);
    for c in s.concepts() {
        assert!(c.formed_cycle >= 1 && c.updated_cycle >= c.formed_cycle);
        assert_eq!(c.members as usize, s.members(c.id).expect("members").len());
    }
}

#[test]
fn consolidation_config_is_saved_and_can_be_changed() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut s = DurableEngram::create(dir.path(), config(), opts()).expect("create");
    assert!(s
        .set_consolidation_config(ConsolidationConfig::default().promote_after(0))
        .is_err());
    let other = cc().seed(99).clusters(ClusterCount::Fixed(5));
    s.set_consolidation_config(other.clone()).expect("set");
    s.checkpoint().expect("checkpoint");
    drop(s);
    let s = DurableEngram::open(dir.path(), opts()).expect("reopen");
    assert_eq!(s.config().consolidation_config(), &other);
}

/// Rewrites a current (version 4) snapshot as version 3 (no WLOG section, END counts 8),
/// version 2 (no IMPT either, END counts 7) or version 1 (no CONS either, END counts 6).
fn downgrade(path: &std::path::Path, version: u32) {
    let b = std::fs::read(path).expect("read");
    assert_eq!(u32::from_le_bytes(b[8..12].try_into().expect("v")), 4);
    let mut out = b[..12].to_vec();
    out[8..12].copy_from_slice(&version.to_le_bytes());
    let mut pos = 12;
    while pos < b.len() {
        let tag = &b[pos..pos + 4];
        let len = u64::from_le_bytes(b[pos + 4..pos + 12].try_into().expect("len")) as usize;
        let end = pos + 12 + len + 4;
        match tag {
            b"WLOG" if version < 4 => {}
            b"IMPT" if version < 3 => {}
            b"CONS" if version < 2 => {}
            b"END_" => {
                let mut s = b"END_".to_vec();
                s.extend_from_slice(&4u64.to_le_bytes());
                s.extend_from_slice(&(version + 5).to_le_bytes());
                let c = crc32c::crc32c(&s);
                s.extend_from_slice(&c.to_le_bytes());
                out.extend_from_slice(&s);
            }
            _ => out.extend_from_slice(&b[pos..end]),
        }
        pos = end;
    }
    std::fs::write(path, out).expect("write");
}

#[test]
fn version_1_snapshots_open_with_a_fresh_consolidation_state() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut s = DurableEngram::create(dir.path(), config(), opts()).expect("create");
    let (rows, metas) = &stream()[0];
    s.remember_batch(rows, metas.clone()).expect("remember");
    s.checkpoint().expect("checkpoint");
    let before = dump(&s);
    drop(s);
    downgrade(&dir.path().join("snapshot.eng"), 1);
    let mut s = DurableEngram::open(dir.path(), opts()).expect("v1 opens");
    assert_eq!(dump(&s), before);
    assert_eq!(s.last_consolidation(), None);
    assert_eq!(
        s.config().consolidation_config(),
        &ConsolidationConfig::default()
    );
    // A v1 store never consolidated: fresh state is exactly right.
    let mut mem = Engram::new(Config::new(DIM).backend(BackendChoice::Cpu)).expect("engine");
    mem.remember_batch(rows, metas.clone()).expect("remember");
    let ra = clean(mem.consolidate(900).expect("cycle"));
    let rb = clean(s.consolidate(900).expect("cycle"));
    assert_eq!(ra, rb);
    // The checkpoint of the cycle wrote version 3.
    let b = std::fs::read(dir.path().join("snapshot.eng")).expect("read");
    assert_eq!(u32::from_le_bytes(b[8..12].try_into().expect("v")), 4);
}

#[test]
fn version_2_snapshots_open_without_import_ledgers() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut s = DurableEngram::create(dir.path(), config(), opts()).expect("create");
    let (rows, metas) = &stream()[0];
    s.remember_batch(rows, metas.clone()).expect("remember");
    s.consolidate(900).expect("cycle");
    let before = dump(&s);
    let last = s.last_consolidation();
    drop(s);
    downgrade(&dir.path().join("snapshot.eng"), 2);
    let s = DurableEngram::open(dir.path(), opts()).expect("v2 opens");
    assert_eq!(dump(&s), before);
    // v2 kept the consolidation state.
    assert_eq!(s.last_consolidation(), last);
    assert!(s.import_ids().is_empty());
}

#[test]
fn background_cycles_on_a_durable_shared_engine_while_readers_search() {
    let chunks = stream();
    let dir = tempfile::tempdir().expect("tempdir");
    let s = DurableEngram::create(dir.path(), config(), opts()).expect("create");
    let shared = SharedEngram::durable(s);
    for (rows, metas) in &chunks {
        shared
            .remember_batch(rows, metas.clone())
            .expect("remember");
    }
    let start = Instant::now();
    let clock = move || 4000 + start.elapsed().as_millis() as u64;
    let handle = shared.spawn_background_consolidation(Duration::from_millis(20), clock);
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let mut readers = Vec::new();
    for r in 0..4u64 {
        let (h, stop) = (shared.clone(), stop.clone());
        let q = chunks[r as usize].0[..DIM].to_vec();
        readers.push(std::thread::spawn(move || {
            let mut n = 0u64;
            let mut worst = Duration::ZERO;
            while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                let t = Instant::now();
                let hits = h.search(&q, 5).expect("search");
                worst = worst.max(t.elapsed());
                assert_eq!(hits.len(), 5);
                n += 1;
            }
            (n, worst)
        }));
    }
    let t0 = Instant::now();
    while handle.cycles() < 3 {
        assert!(
            t0.elapsed() < Duration::from_secs(60),
            "no cycles: {:?}",
            handle.last_error()
        );
        std::thread::sleep(Duration::from_millis(5));
    }
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    let searches: Vec<(u64, Duration)> = readers
        .into_iter()
        .map(|r| r.join().expect("reader"))
        .collect();
    let cycles = handle.stop();
    assert!(cycles >= 3);
    println!("{cycles} background cycles; searches (count, slowest): {searches:?}");
    assert!(searches.iter().all(|(n, _)| *n > 0));
    let (before, generation, concepts) = shared.with(|e| (state(e), e.cycle(), e.concepts()));
    assert_eq!(generation, cycles);
    assert!(!concepts.is_empty());
    assert_eq!(
        shared.with_store(|d| d.generation()),
        Some(cycles),
        "one checkpoint per cycle"
    );
    drop(shared);
    let s = DurableEngram::open(dir.path(), opts()).expect("reopen");
    assert_eq!(s.recovery().records_replayed, 0);
    assert_eq!(s.concepts(), concepts);
    assert_eq!(state(&s), before);
}

#[test]
fn shared_consolidate_in_memory_and_durable_agree() {
    let chunks = stream();
    let dir = tempfile::tempdir().expect("tempdir");
    let mem = SharedEngram::new(Engram::new(config()).expect("engine"));
    let dur =
        SharedEngram::durable(DurableEngram::create(dir.path(), config(), opts()).expect("create"));
    for (c, (rows, metas)) in chunks.iter().take(2).enumerate() {
        mem.remember_batch(rows, metas.clone()).expect("remember");
        dur.remember_batch(rows, metas.clone()).expect("remember");
        let now = c as u64 * 1000 + 900;
        let a = clean(mem.consolidate(now).expect("cycle"));
        let b = clean(dur.consolidate(now).expect("cycle"));
        assert_eq!(a, b);
    }
    drop(dur);
    let s = DurableEngram::open(dir.path(), opts()).expect("reopen");
    assert_eq!(state(&s), mem.with(state));
}

/// The snapshot codec against the struct's own field list (its serde derive): every field of
/// `ConsolidationConfig`, each moved off its default, survives a checkpoint and a reopen. A
/// field added to the struct but not to the codec fails here. (`--features serde`; `.ci/run`
/// runs it.)
#[cfg(feature = "serde")]
#[test]
fn every_consolidation_field_survives_a_snapshot() {
    use serde_json::Value;
    let Value::Object(defaults) = serde_json::to_value(ConsolidationConfig::default()).unwrap()
    else {
        panic!("the configuration serialises to an object");
    };
    let mut moved = serde_json::Map::new();
    for (key, v) in &defaults {
        let m = match key.as_str() {
            "clusters" => serde_json::to_value(ClusterCount::Fixed(7)).unwrap(),
            "forgetting" => serde_json::to_value(ForgettingCurve::Power {
                scale: 40.0,
                exponent: 0.4,
            })
            .unwrap(),
            _ if v.is_u64() => Value::from(v.as_u64().unwrap() + 1),
            _ if v.is_f64() => Value::from(v.as_f64().unwrap() * 0.75),
            _ => panic!("{key}: a field of a kind this test does not move: {v}"),
        };
        assert_ne!(&m, v, "{key} did not move");
        moved.insert(key.clone(), m);
    }
    let other: ConsolidationConfig = serde_json::from_value(Value::Object(moved)).unwrap();
    let dir = tempfile::tempdir().expect("tempdir");
    let mut s = DurableEngram::create(dir.path(), config(), opts()).expect("create");
    s.set_consolidation_config(other.clone())
        .expect("a valid configuration");
    s.checkpoint().expect("checkpoint");
    drop(s);
    let s = DurableEngram::open(dir.path(), opts()).expect("reopen");
    let back = serde_json::to_value(s.config().consolidation_config()).unwrap();
    assert_eq!(back, serde_json::to_value(&other).unwrap());
    assert_eq!(s.config().consolidation_config(), &other);
}
