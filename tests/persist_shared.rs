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
