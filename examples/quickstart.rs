//! The README's tour in one program: store episodes, search them, consolidate them into
//! concepts, recall through either tier, and keep it all in a durable store.
//!
//! `cargo run --release --example quickstart`

use engram::consolidation::{ClusterCount, ConsolidationConfig};
use engram::persist::{DurableEngram, StoreOptions};
use engram::recall::{RecallMode, RecallParams};
use engram::synth::SynthParams;
use engram::{Config, Engram, EpisodeMeta, MemoryNode, Precision};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    // A labelled synthetic stream: 20 clusters on the sphere, 384 dimensions.
    let stream = SynthParams::new(20_000, 384, 20)
        .seed(7)
        .check()?
        .generate();

    let config = Config::new(384)
        .precision(Precision::F32AndF16) // keep an f16 copy for faster scans
        .consolidation(
            ConsolidationConfig::default().clusters(ClusterCount::Discover { max_k: None }),
        );
    let mut mem = Engram::new(config)?;
    println!(
        "backend: {} ({})",
        mem.backend().describe(),
        mem.backend_reason()
    );

    // Thousands of rows per call; one bad row would reject the whole batch.
    let metas = (0..20_000u64)
        .map(|t| EpisodeMeta::at(t).with_stream(t % 4))
        .collect();
    let ids = mem.remember_batch(&stream.data, metas)?;

    // Exact search: score descending, then id ascending, on every backend.
    let hits = mem.search(&stream.data[..384], 5)?;
    assert_eq!(hits[0].id, ids[0]);

    // One consolidation cycle: clusters become concepts bound to their episodes.
    let report = mem.consolidate(20_000)?;
    println!(
        "cycle {}: {} concepts created, {} bindings",
        report.cycle,
        report.concepts_created.len(),
        report.bindings_created
    );

    // Recall through the semantic pathway (probing 2 concepts), and recognition.
    let params = RecallParams::new(5)
        .mode(RecallMode::Semantic)
        .probes(2)
        .at(20_001);
    for hit in mem.recall(&stream.data[..384], &params)? {
        if let MemoryNode::Episode(id) = hit.node {
            println!("  recalled {id} score {:.3} via {:?}", hit.score, hit.via);
        }
    }
    let f = mem.familiarity(&stream.data[..384])?;
    println!("familiar: {} (confidence {:.2})", f.old, f.confidence);

    // The same engine, durable: snapshot + write-ahead log in a directory.
    let dir = std::env::temp_dir().join(format!("engram-quickstart-{}", std::process::id()));
    let mut store = DurableEngram::create_from(&dir, mem, StoreOptions::default())?;
    store.remember(&stream.data[384..768], EpisodeMeta::at(20_002))?;
    drop(store);
    let reopened = DurableEngram::open(&dir, StoreOptions::default())?;
    println!(
        "reopened: {} episodes, {} concepts",
        reopened.len(),
        reopened.concepts().len()
    );
    std::fs::remove_dir_all(&dir)?;
    Ok(())
}
