//! `engram demo`: a small stream end to end.

use std::time::Instant;

use engram::{Config, Engram, EpisodeMeta};
use rand::{Rng, SeedableRng};
use serde_json::json;

use crate::util::{print_json, secs, Common};

/// Arguments of `engram demo`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// Episodes in the stream.
    #[arg(long, default_value_t = 50_000)]
    pub n: usize,
    /// Dimension.
    #[arg(long, default_value_t = 384)]
    pub dim: usize,
}

/// Runs `engram demo`.
pub fn run(c: &Common, a: Args) -> anyhow::Result<()> {
    anyhow::ensure!(a.n >= 1 && a.dim >= 1, "--n and --dim must be at least 1");
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(c.seed);
    let data: Vec<f32> = (0..a.n * a.dim)
        .map(|_| rng.random::<f32>() - 0.5)
        .collect();
    let metas = (0..a.n as u64).map(EpisodeMeta::at).collect();
    let mut mem = Engram::new(Config::new(a.dim).backend(c.backend))?;
    let t = Instant::now();
    mem.remember_batch(&data, metas)?;
    let ingest = secs(t);
    let t = Instant::now();
    let hits = mem.search(&data[..a.dim], 5)?;
    let search = secs(t);
    let v = json!({
        "episodes": mem.len(), "ingest_s": ingest, "episodes_per_s": a.n as f64 / ingest,
        "search_ms": search * 1e3,
        "top": hits.iter().map(|h| json!({"id": h.id.0, "score": h.score})).collect::<Vec<_>>(),
    });
    if c.json {
        return print_json(&v);
    }
    println!(
        "stored {} episodes of {} dimensions in {:.1} ms ({:.2} M episodes/s)",
        mem.len(),
        a.dim,
        ingest * 1e3,
        a.n as f64 / ingest / 1e6
    );
    println!("searched them for episode 0 in {:.2} ms:", search * 1e3);
    for h in hits {
        println!("  {}  cosine {:.4}", h.id, h.score);
    }
    Ok(())
}
