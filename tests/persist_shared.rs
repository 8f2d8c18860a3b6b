//! `SharedEngram`: concurrent ingest and search from several threads loses nothing.

#[path = "persist_util.rs"]
mod util;

use engram::persist::{DurableEngram, StoreOptions, SyncPolicy};
use engram::{Config, Engram, EpisodeMeta, SharedEngram};
use std::time::Duration;

const DIM: usize = 16;
const WRITERS: u64 = 4;
const BATCHES: u64 = 50;
const PER_BATCH: u64 = 10;

fn hammer(shared: &SharedEngram) -> u64 {
    let mut handles = Vec::new();
    for w in 0..WRITERS {
        let h = shared.clone();
        handles.push(std::thread::spawn(move || {
            for b in 0..BATCHES {
                let rows: Vec<f32> = (0..PER_BATCH)
                    .flat_map(|i| util::vec_for(w * 1_000_000 + b * 100 + i, DIM))
                    .collect();
                let metas = (0..PER_BATCH)
                    .map(|i| {
                        EpisodeMeta::at(b)
                            .with_stream(w)
                            .with_payload(format!("{w}/{b}/{i}"))
                    })
                    .collect();
                h.remember_batch(&rows, metas).unwrap();
            }
            0u64
        }));
    }
    for r in 0..4u64 {
        let h = shared.clone();
        handles.push(std::thread::spawn(move || {
            let mut searches = 0;
            // Wait for the first write, then search a fixed number of times while the
            // writers go on (an empty store has nothing to find).
            while h.is_empty() {
                std::thread::yield_now();
            }
            for q in 0..200 {
                let hits = h.search(&util::vec_for(r * 7 + q, DIM), 5).unwrap();
                assert!(!hits.is_empty());
                searches += 1;
            }
            searches
        }));
    }
    handles.into_iter().map(|h| h.join().unwrap()).sum()
}

fn check(shared: &SharedEngram) {
    let total = (WRITERS * BATCHES * PER_BATCH) as usize;
    assert_eq!(shared.len(), total);
    shared.with(|e| {
        e.graph().check_invariants().unwrap();
        // Each writer's stream holds exactly its episodes, in its order.
        for w in 0..WRITERS {
            let n = e
                .graph()
                .episodes()
                .filter(|(_, _, n)| n.stream == w)
                .count();
            assert_eq!(n as u64, BATCHES * PER_BATCH);
        }
    });
}

#[test]
fn four_writers_four_readers_in_memory() {
    let shared = SharedEngram::new(Engram::new(Config::new(DIM)).unwrap());
    let searches = hammer(&shared);
    assert_eq!(searches, 4 * 200);
    check(&shared);
}

#[test]
fn four_writers_four_readers_durable() {
    let dir = tempfile::tempdir().unwrap();
    let opts = StoreOptions::default().sync(SyncPolicy::Interval(Duration::from_millis(10)));
    let store = DurableEngram::create(dir.path(), Config::new(DIM), opts).unwrap();
    let shared = SharedEngram::durable(store);
    assert!(shared.is_durable());
    hammer(&shared);
    check(&shared);
    let before = shared.with(util::dump);
    drop(shared);
    let reopened = SharedEngram::durable(DurableEngram::open(dir.path(), opts).unwrap());
    check(&reopened);
    assert_eq!(reopened.with(util::dump), before);
}

#[test]
fn handles_are_send_and_sync() {
    fn ok<T: Send + Sync>() {}
    ok::<SharedEngram>();
    ok::<DurableEngram>();
}

/// Eight episodes along the axes of `DIM`.
fn axes(shared: &SharedEngram) {
    let rows: Vec<f32> = (0..8)
        .flat_map(|i| (0..DIM).map(move |j| if j == i { 1.0 } else { 0.0 }))
        .collect();
    shared.remember_batch(&rows, vec![]).unwrap();
}

#[test]
fn recall_rehearses_and_a_durable_store_keeps_the_rehearsal() {
    use engram::{EpisodeId, RecallMode, RecallParams};
    let dir = tempfile::tempdir().unwrap();
    let opts = StoreOptions::default();
    let shared =
        SharedEngram::durable(DurableEngram::create(dir.path(), Config::new(DIM), opts).unwrap());
    assert_eq!(shared.dir().as_deref(), Some(dir.path()));
    axes(&shared);
    let mut cue = vec![0.0; DIM];
    cue[3] = 1.0;
    let params = RecallParams::new(1).mode(RecallMode::Episodic).at(50);
    // A view changes nothing; a recall rehearses exactly what it returns.
    let view = shared.recall_view(&cue, &params).unwrap();
    assert_eq!(shared.with(|e| e.get(EpisodeId(3)).unwrap().rehearsals), 0);
    let hits = shared.recall(&cue, &params).unwrap();
    assert_eq!(hits, view);
    let after = shared.with(|e| e.get(EpisodeId(3)).unwrap());
    assert_eq!((after.rehearsals, after.last_access), (1, 50));
    assert_eq!(shared.with(|e| e.get(EpisodeId(2)).unwrap().rehearsals), 0);
    // Durable: the rehearsal is in the store when the call returns.
    let before = shared.with(util::dump);
    drop(shared);
    let reopened = SharedEngram::durable(DurableEngram::open(dir.path(), opts).unwrap());
    assert_eq!(reopened.with(util::dump), before);
    assert_eq!(
        reopened.with(|e| e.get(EpisodeId(3)).unwrap().rehearsals),
        1
    );

    // In memory: the same rehearsal, no directory.
    let mem = SharedEngram::new(Engram::new(Config::new(DIM)).unwrap());
    assert_eq!(mem.dir(), None);
    axes(&mem);
    assert_eq!(mem.recall(&cue, &params).unwrap(), view);
    assert_eq!(mem.with(|e| e.get(EpisodeId(3)).unwrap().rehearsals), 1);
}

#[test]
fn recall_constants_are_replaced_whole_or_not_at_all() {
    use engram::RecallConfig;
    let dir = tempfile::tempdir().unwrap();
    let shared = SharedEngram::durable(
        DurableEngram::create(dir.path(), Config::new(DIM), StoreOptions::default()).unwrap(),
    );
    let rc = RecallConfig {
        max_hops: 1,
        ..RecallConfig::default()
    };
    shared.set_recall_config(rc.clone()).unwrap();
    assert_eq!(shared.with(|e| e.config().recall_config().clone()), rc);
    let bad = RecallConfig {
        spread_decay: 0.0,
        ..RecallConfig::default()
    };
    assert!(shared.set_recall_config(bad).is_err());
    assert_eq!(shared.with(|e| e.config().recall_config().clone()), rc);
}

#[test]
fn a_durable_cycle_reports_its_checkpoint_time() {
    let rows: Vec<f32> = (0..200u64)
        .flat_map(|i| util::vec_for(i % 4, DIM))
        .collect();
    let dir = tempfile::tempdir().unwrap();
    let durable = SharedEngram::durable(
        DurableEngram::create(dir.path(), Config::new(DIM), StoreOptions::default()).unwrap(),
    );
    durable.remember_batch(&rows, vec![]).unwrap();
    let r = durable.consolidate(10).unwrap();
    assert!(r.timings.checkpoint.is_some());
    let mem = SharedEngram::new(Engram::new(Config::new(DIM)).unwrap());
    mem.remember_batch(&rows, vec![]).unwrap();
    let r = mem.consolidate(10).unwrap();
    assert_eq!(r.timings.checkpoint, None);
}
