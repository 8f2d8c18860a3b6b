//! A cold consolidation (the build of the concept-routed index) timed phase by phase, next to
//! the k-means inside it timed as initialisation and Lloyd iterations.
//!
//! `ENGRAM_BENCH_N` rows (default 200,000) × 384 of `engram.synth`'s mixture (100 clusters,
//! seed 0, as `bench/peers/`) into `ENGRAM_BENCH_K` concepts (default 2,000) with
//! `ENGRAM_BENCH_ITERS` Lloyd iterations (default 10, as faiss IVF trains its coarse
//! quantiser); `ENGRAM_BENCH_DATA=lexicon` uses `data/lexicon` instead. CPU backend.
//!
//! `cargo bench --bench build`

use std::time::Instant;

use engram::cluster::KMeansParams;
use engram::consolidation::{ClusterCount, ConsolidationConfig};
use engram::synth::SynthParams;
use engram::{BackendChoice, Config, Engram, EpisodeMeta};

fn env(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn lexicon() -> Result<Vec<f32>, Box<dyn std::error::Error>> {
    let dir = std::env::var("ENGRAM_DATA_DIR").unwrap_or_else(|_| "data".into());
    let bytes = std::fs::read(format!("{dir}/lexicon/vectors.f32"))?;
    Ok(bytes
        .chunks_exact(4)
        .map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]]))
        .collect())
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    if std::env::args().any(|a| a == "--list") {
        return Ok(());
    }
    let dim = 384;
    let lex = std::env::var("ENGRAM_BENCH_DATA").as_deref() == Ok("lexicon");
    let (data, k) = if lex {
        (lexicon()?, env("ENGRAM_BENCH_K", 100))
    } else {
        let n = env("ENGRAM_BENCH_N", 200_000);
        let s = SynthParams::new(n, dim, 100).seed(0).check()?;
        (s.rows(0, n).data, env("ENGRAM_BENCH_K", 2000))
    };
    let n = data.len() / dim;
    let iters = env("ENGRAM_BENCH_ITERS", 10);
    let threads = rayon::current_num_threads();
    println!(
        "cold build: {n} x {dim} ({}) into {k} concepts, {iters} Lloyd iterations, {threads} threads",
        if lex { "lexicon" } else { "synthetic" }
    );

    let cc = ConsolidationConfig::default()
        .clusters(ClusterCount::Fixed(k))
        .max_iter(iters)
        .min_coherence(0.0)
        .min_cluster_size(1)
        .seed(0);
    let mut e = Engram::new(
        Config::new(dim)
            .backend(BackendChoice::Cpu)
            .consolidation(cc),
    )?;
    e.remember_batch(&data, vec![EpisodeMeta::at(0); n])?;
    let t = Instant::now();
    let r = e.consolidate(1)?;
    let total = t.elapsed();
    let tm = r.timings;
    println!(
        "consolidate {:.2} s: sample {:.2}, cluster {:.2}, matching {:.2}, apply {:.2}, decay {:.2}, prune {:.2}; {} concepts",
        total.as_secs_f64(),
        tm.sample.as_secs_f64(),
        tm.cluster.as_secs_f64(),
        tm.matching.as_secs_f64(),
        tm.apply.as_secs_f64(),
        tm.decay.as_secs_f64(),
        tm.prune.as_secs_f64(),
        r.concepts_created.len()
    );

    // The k-means alone: the initialisation (max_iter 1 minus one iteration) and the rest.
    let t = Instant::now();
    let one = KMeansParams::new(k)
        .seed(0)
        .max_iter(1)
        .tolerance(0.0)
        .fit(&data, dim)?;
    let t_one = t.elapsed();
    let t = Instant::now();
    let full = KMeansParams::new(k)
        .seed(0)
        .max_iter(iters)
        .tolerance(0.0)
        .fit(&data, dim)?;
    let t_full = t.elapsed();
    let per_iter = (t_full - t_one).as_secs_f64() / (full.iterations.max(2) - 1) as f64;
    println!(
        "k-means fit: {:.2} s ({} iterations, {:.3} s each ⇒ init ≈ {:.2} s); objective {:.1} (mean cosine {:.4})",
        t_full.as_secs_f64(),
        full.iterations,
        per_iter,
        t_one.as_secs_f64() - 2.0 * per_iter,
        full.objective,
        full.objective / n as f64
    );
    let _ = one;
    Ok(())
}
