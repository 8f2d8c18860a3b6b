//! Concept formation at full size: 200,000 × 384 synthetic rows in 1,000 clusters at σ² = 1/d,
//! one consolidation cycle with k given and one with k discovered; prints the ARI of each
//! episode's strongest concept against the truth, and the phase timings.
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
        let cc = ConsolidationConfig::default().clusters(clusters).seed(1);
        let mut e = Engram::new(
            Config::new(dim)
                .backend(BackendChoice::Cpu)
                .consolidation(cc),
        )?;
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
    Ok(())
}
