//! Crash test: a child process ingests with sync-every-write and is killed with SIGKILL at
//! random points; every acknowledged episode must be there after reopening, and nothing but
//! acknowledged episodes and the one batch in flight.
//!
//! The child is this test binary itself, re-run with `ENGRAM_CRASH_CHILD` set so that only
//! [`crash_child`] runs; it prints what it acknowledges to stdout, flushed line by line.

#[path = "persist_util.rs"]
mod util;

use std::collections::{BTreeMap, BTreeSet};
use std::io::{BufRead, BufReader, Write};
use std::process::{Command, Stdio};
use std::time::Duration;

use engram::persist::{DurableEngram, StoreOptions, SyncPolicy};
use engram::{Config, EpisodeId, EpisodeMeta, Payload};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use util::vec_for;

const DIM: usize = 32;

fn token_of(p: &Option<Payload>) -> u64 {
    match p {
        Some(Payload::Text(t)) => t.trim_start_matches("tok").parse().unwrap(),
        other => panic!("unexpected payload {other:?}"),
    }
}

/// The child: ingests until killed.
#[test]
fn crash_child() {
    let Ok(dir) = std::env::var("ENGRAM_CRASH_CHILD") else {
        return;
    };
    let seed: u64 = std::env::var("ENGRAM_CRASH_SEED").unwrap().parse().unwrap();
    let opts = StoreOptions::default().sync(SyncPolicy::EveryWrite);
    let mut s = DurableEngram::open_or_create(dir.as_ref(), Config::new(DIM), opts).unwrap();
    let mut r = ChaCha8Rng::seed_from_u64(seed);
    let mut out = std::io::stdout().lock();
    let mut live: Vec<EpisodeId> = s.graph().episodes().map(|(_, id, _)| id).collect();
    for op in 0u64.. {
        if op % 50 == 49 {
            s.checkpoint().unwrap();
        } else if op % 5 == 4 && !live.is_empty() {
            let id = live.swap_remove(r.random_range(0..live.len()));
            writeln!(out, "FORGET? {}", id.0).unwrap();
            out.flush().unwrap();
            s.forget(id).unwrap();
            writeln!(out, "FORGOT {}", id.0).unwrap();
            out.flush().unwrap();
        } else {
            let n = r.random_range(1..20);
            let mut rows = Vec::new();
            let mut metas = Vec::new();
            for _ in 0..n {
                let tok: u64 = r.random::<u64>() >> 1;
                rows.extend(vec_for(tok, DIM));
                metas.push(EpisodeMeta::at(op).with_payload(format!("tok{tok}")));
            }
            let ids = s.remember_batch(&rows, metas).unwrap();
            let list: Vec<String> = ids.iter().map(|i| i.0.to_string()).collect();
            writeln!(out, "ACK {}", list.join(",")).unwrap();
            out.flush().unwrap();
            live.extend(ids);
        }
    }
}

#[test]
fn sigkill_at_random_points_loses_nothing_acknowledged() {
    let dir = tempfile::tempdir().unwrap();
    let exe = std::env::current_exe().unwrap();
    let mut rng = ChaCha8Rng::seed_from_u64(2024);
    // Every id ever seen present, and those acknowledged as forgotten.
    let mut known: BTreeSet<u64> = BTreeSet::new();
    let mut forgotten: BTreeSet<u64> = BTreeSet::new();
    let mut acked_total = 0usize;
    let mut torn = 0;
    for round in 0..24 {
        let mut child = Command::new(&exe)
            .args(["--exact", "crash_child", "--nocapture", "--test-threads=1"])
            .env("ENGRAM_CRASH_CHILD", dir.path())
            .env("ENGRAM_CRASH_SEED", (round as u64 * 7919).to_string())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let stdout = child.stdout.take().unwrap();
        let reader = std::thread::spawn(move || {
            BufReader::new(stdout)
                .lines()
                .map_while(Result::ok)
                .collect::<Vec<String>>()
        });
        std::thread::sleep(Duration::from_millis(rng.random_range(30..200)));
        child.kill().unwrap(); // SIGKILL
        child.wait().unwrap();
        let lines = reader.join().unwrap();

        let mut acked: BTreeSet<u64> = BTreeSet::new();
        let mut forget_maybe: Option<u64> = None;
        for l in &lines {
            // The harness may print "test crash_child ... " before the first line.
            let l = ["ACK ", "FORGET? ", "FORGOT "]
                .iter()
                .filter_map(|m| l.find(m).map(|i| &l[i..]))
                .next()
                .unwrap_or("");
            if let Some(ids) = l.strip_prefix("ACK ") {
                acked.extend(ids.split(',').map(|x| x.parse::<u64>().unwrap()));
            } else if let Some(id) = l.strip_prefix("FORGET? ") {
                forget_maybe = Some(id.parse().unwrap());
            } else if let Some(id) = l.strip_prefix("FORGOT ") {
                let id: u64 = id.parse().unwrap();
                forgotten.insert(id);
                forget_maybe = None;
            }
        }
        acked_total += acked.len();
        known.extend(&acked);

        // A child killed before its create finished leaves no store (nothing was acknowledged,
        // so nothing can be lost); once anything was acknowledged the store must be there.
        let s = if acked_total == 0 {
            DurableEngram::open_or_create(dir.path(), Config::new(DIM), StoreOptions::default())
        } else {
            DurableEngram::open(dir.path(), StoreOptions::default())
        }
        .unwrap();
        torn += s.recovery().torn_tail_offset.is_some() as usize;
        s.graph().check_invariants().unwrap();
        let present: BTreeMap<u64, _> = s
            .graph()
            .episodes()
            .map(|(_, id, _)| (id.0, s.get(id).unwrap()))
            .collect();
        for id in &known {
            if forgotten.contains(id) || forget_maybe == Some(*id) {
                continue;
            }
            assert!(
                present.contains_key(id),
                "round {round}: acknowledged {id} lost"
            );
        }
        for id in &forgotten {
            assert!(
                !present.contains_key(id),
                "round {round}: forgotten {id} is back"
            );
        }
        if let Some(f) = forget_maybe {
            if !present.contains_key(&f) {
                forgotten.insert(f);
            }
        }
        // Anything not acknowledged must be the one batch in flight: ids after every known
        // id, contiguous, at most one batch long.
        let extra: Vec<u64> = present
            .keys()
            .filter(|k| !known.contains(k))
            .copied()
            .collect();
        if !extra.is_empty() {
            let max_known = known.iter().next_back().copied().unwrap_or(0);
            assert!(
                extra[0] > max_known || known.is_empty(),
                "round {round}: stray {extra:?}"
            );
            assert!(extra.len() < 20 && extra.windows(2).all(|w| w[1] == w[0] + 1));
            known.extend(&extra);
        }
        for (id, ep) in &present {
            let want = vec_for(token_of(&ep.payload), DIM);
            let norm = want.iter().map(|x| x * x).sum::<f32>().sqrt();
            let got = s.embedding(EpisodeId(*id)).unwrap();
            for (g, w) in got.iter().zip(&want) {
                assert!(
                    (g - w / norm).abs() < 1e-5,
                    "round {round}: {id} content differs"
                );
            }
        }
    }
    assert!(
        acked_total > 100,
        "the child acknowledged too little ({acked_total})"
    );
    eprintln!("acknowledged {acked_total} episodes over 24 kills; {torn} torn tails dropped");
}
