//! A warm consolidation cycle over 100,000 new episodes of 384 dimensions (plus the 10 %
//! replay sample), next to one Lloyd iteration (assign + partial sums + reduce, the crate's
//! CPU steps) with the same k over the same 100,000 rows, measured in the same run.
//!
//! The engine first consolidates a first batch of N rows (the cold cycle, reported too), then
//! receives N new rows of the same clusters and consolidates them (the first warm cycle,
//! reported), then N more, and runs the measured cycle: the steady state of a running engine,
//! which reuses the previous cycle's row buffer. `ENGRAM_BENCH_N`
//! (default 100,000) and `ENGRAM_BENCH_K` (default 1,000) set the sizes. CPU backend.
//!
//! `cargo bench --bench consolidation`

use std::time::{Duration, Instant};

use engram::cluster::{assign, partial_sums, reduce};
use engram::consolidation::{ClusterCount, ConsolidationConfig};
use engram::synth::SynthParams;
use engram::{BackendChoice, Config, Engram, EpisodeMeta};

const DIM: usize = 384;

fn env(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn median(mut v: Vec<Duration>) -> Duration {
    v.sort();
    v[v.len() / 2]
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    if std::env::args().any(|a| a == "--list") {
        return Ok(());
    }
    let n = env("ENGRAM_BENCH_N", 100_000);
    let k = env("ENGRAM_BENCH_K", 1000);
    let synth = SynthParams::new(3 * n, DIM, k).seed(7).check()?;
    let old = synth.rows(0, n);
    let new = synth.rows(n, 2 * n);
    let newer = synth.rows(2 * n, 3 * n);

    let cc = ConsolidationConfig::default()
        .clusters(ClusterCount::Fixed(k))
        .seed(3);
    let mut e = Engram::new(
        Config::new(DIM)
            .backend(BackendChoice::Cpu)
            .consolidation(cc),
    )?;
    e.remember_batch(&old.data, vec![EpisodeMeta::at(0); n])?;
    let t = Instant::now();
    let cold = e.consolidate(10)?;
    let cold_time = t.elapsed();

    // The measured cycles: N new rows each time (a fresh engine clone per run).
    let mut cycles = Vec::new();
    let mut firsts = Vec::new();
    let mut last = None;
    for run in 0..3 {
        let mut e2 = e.clone();
        e2.remember_batch(&new.data, vec![EpisodeMeta::at(20); n])?;
        let t = Instant::now();
        e2.consolidate(30)?;
        firsts.push(t.elapsed());
        e2.remember_batch(&newer.data, vec![EpisodeMeta::at(40); n])?;
        let t = Instant::now();
        let r = e2.consolidate(50)?;
        cycles.push(t.elapsed());
        if run == 2 {
            last = Some(r);
        }
    }
    let warm = median(cycles);
    let first_warm = median(firsts);
    let r = last.ok_or("no run")?;

    // The peer: one Lloyd iteration with the same k over the same new rows.
    let centroids: Vec<f32> = e
        .concepts()
        .iter()
        .flat_map(|c| e.centroid(c.id).unwrap_or_default())
        .collect();
    let kk = centroids.len() / DIM;
    let mut iters = Vec::new();
    for _ in 0..3 {
        let t = Instant::now();
        let a = assign(&newer.data, DIM, &centroids)?;
        let s = partial_sums(&newer.data, DIM, &a.labels, kk)?;
        let c = reduce(&s, &centroids)?;
        std::hint::black_box(c);
        iters.push(t.elapsed());
    }
    let lloyd = median(iters);

    println!("consolidation bench: N = {n} new rows × {DIM}, k = {k} ({kk} concepts), 2 cores");
    println!(
        "  cold cycle (first {n} rows, k-means‖ + Lloyd to convergence): {:.3} s, {} concepts",
        cold_time.as_secs_f64(),
        cold.concepts_created.len()
    );
    println!(
        "  first warm cycle after the cold one (fresh row buffer): {:.3} s",
        first_warm.as_secs_f64()
    );
    println!(
        "  warm cycle ({} new + {} replayed rows): {:.3} s  [sample {:.3}, cluster {:.3}, matching {:.3}, apply {:.3}, decay {:.3}, prune {:.3}]",
        r.episodes_new,
        r.episodes_replayed,
        warm.as_secs_f64(),
        r.timings.sample.as_secs_f64(),
        r.timings.cluster.as_secs_f64(),
        r.timings.matching.as_secs_f64(),
        r.timings.apply.as_secs_f64(),
        r.timings.decay.as_secs_f64(),
        r.timings.prune.as_secs_f64(),
    );
    println!(
        "  one Lloyd iteration (assign + sums + reduce, same k, same {n} rows): {:.3} s",
        lloyd.as_secs_f64()
    );
    println!(
        "  ratio warm cycle / Lloyd iteration: {:.2} (target ≤ 3; first warm cycle {:.2}); created {}, updated {}, bindings created {}, strengthened {}",
        warm.as_secs_f64() / lloyd.as_secs_f64(),
        first_warm.as_secs_f64() / lloyd.as_secs_f64(),
        r.concepts_created.len(),
        r.concepts_updated.len(),
        r.bindings_created,
        r.bindings_strengthened
    );
    Ok(())
}
