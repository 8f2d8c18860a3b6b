//! Concept formation at full size: 200,000 × 384 synthetic rows in 1,000 clusters at σ² = 1/d,
//! one consolidation cycle with k given and one with k discovered; prints the ARI of each
//! episode's strongest concept against the truth, and the phase timings. Then the same two
//! cycles on real data from the repository's `data/` (the synthetic clusters barely overlap and
//! flatter every method): the 16 word categories (`data/categories`, 400 MiniLM vectors) and the
//! handwritten digits (`data/digits`, 1,797 × 64, 10 classes).
//!
//! `cargo run --release --example concepts_full [-- N K]` (defaults 200000 1000).

use engram::cluster::adjusted_rand_index;
use engram::consolidation::{ClusterCount, ConsolidationConfig};
use engram::synth::SynthParams;
use engram::{BackendChoice, Config, Engram, EpisodeMeta};

fn labels(e: &Engram) -> Vec<u32> {
    let mut free = u32::MAX / 2;
    e.graph()
        .episodes()
        .map(|(_, _, n)| {
            match n
                .bindings()
                .iter()
                .max_by(|a, b| a.1.total_cmp(&b.1).then(b.0.cmp(&a.0)))
            {
                Some((c, _)) => c.0 as u32,
                None => {
                    free += 1;
                    free
                }
            }
        })
        .collect()
}

/// A CPU engine with the default consolidation, `clusters` and seed 1.
fn engine(dim: usize, clusters: ClusterCount) -> Result<Engram, engram::Error> {
    let cc = ConsolidationConfig::default().clusters(clusters).seed(1);
    Engram::new(
        Config::new(dim)
            .backend(BackendChoice::Cpu)
            .consolidation(cc),
    )
}

/// A file of the repository's `data/` (or `ENGRAM_DATA_DIR`), as little-endian 4-byte words.
fn data_words(rel: &str) -> Result<Vec<[u8; 4]>, Box<dyn std::error::Error>> {
    let dir = std::env::var_os("ENGRAM_DATA_DIR")
        .map(std::path::PathBuf::from)
        .unwrap_or_else(|| std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("data"));
    let path = dir.join(rel);
    let bytes = std::fs::read(&path).map_err(|e| format!("cannot read {}: {e}", path.display()))?;
    Ok(bytes
        .chunks_exact(4)
        .map(|c| [c[0], c[1], c[2], c[3]])
        .collect())
}

/// One cycle with k given and one with k discovered on `rows`; prints the ARI of each.
fn cycles(
    name: &str,
    rows: &[f32],
    dim: usize,
    truth: &[u32],
    k: usize,
) -> Result<(), Box<dyn std::error::Error>> {
    let n = truth.len();
    for (how, clusters) in [
        ("k given", ClusterCount::Fixed(k)),
        ("k discovered", ClusterCount::Discover { max_k: None }),
    ] {
        let mut e = engine(dim, clusters)?;
        e.remember_batch(rows, vec![EpisodeMeta::at(0); n])?;
        e.consolidate(1)?;
        let ari = adjusted_rand_index(&labels(&e), truth)?;
        println!(
            "real {name} {how}: n {n} × {dim}, {k} true classes → {} concepts, ARI {ari:.5}",
            e.concepts().len()
        );
    }
    Ok(())
}

fn real_data() -> Result<(), Box<dyn std::error::Error>> {
    let f32s = |w: Vec<[u8; 4]>| w.into_iter().map(f32::from_le_bytes).collect::<Vec<f32>>();
    let labels = |w: Vec<[u8; 4]>| {
        w.into_iter()
            .map(|b| i32::from_le_bytes(b) as u32)
            .collect::<Vec<u32>>()
    };
    let rows = f32s(data_words("categories/vectors.f32")?);
    let truth = labels(data_words("categories/labels.i32")?);
    cycles("categories", &rows, 384, &truth, 16)?;
    let rows = f32s(data_words("digits/pixels.f32")?);
    let truth = labels(data_words("digits/labels.i32")?);
    cycles("digits", &rows, 64, &truth, 10)
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<usize> = std::env::args()
        .skip(1)
        .filter_map(|a| a.parse().ok())
        .collect();
    let n = args.first().copied().unwrap_or(200_000);
    let k = args.get(1).copied().unwrap_or(1000);
    let dim = 384;
    let d = SynthParams::new(n, dim, k).seed(42).check()?.generate();
    for (name, clusters) in [
        ("k given", ClusterCount::Fixed(k)),
        (
            "k discovered",
            ClusterCount::Discover { max_k: Some(2 * k) },
        ),
    ] {
        let mut e = engine(dim, clusters)?;
        e.remember_batch(&d.data, vec![EpisodeMeta::at(0); n])?;
        let r = e.consolidate(1)?;
        let ari = adjusted_rand_index(&labels(&e), &d.labels)?;
        println!(
            "{name}: n {n} × {dim}, {k} true clusters → {} concepts, ARI {ari:.5}; cycle {:.2} s \
             (sample {:.3}, cluster {:.2}, matching {:.3}, apply {:.3}, decay {:.3}, prune {:.3})",
            e.concepts().len(),
            r.timings.total().as_secs_f64(),
            r.timings.sample.as_secs_f64(),
            r.timings.cluster.as_secs_f64(),
            r.timings.matching.as_secs_f64(),
            r.timings.apply.as_secs_f64(),
            r.timings.decay.as_secs_f64(),
            r.timings.prune.as_secs_f64(),
        );
    }
    real_data()
}
