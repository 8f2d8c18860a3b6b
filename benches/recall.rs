//! Semantic recall (probe concepts, score their members) against exact search on a synthetic
//! 200,000 × 384 stream with 2,000 concepts, in the same run. `cargo bench --bench recall`
//! (set `RECALL_BENCH_N` for a smaller stream).

use engram::validate::semantic_ann::{build, measure, AnnParams};

fn main() {
    let n: usize = std::env::var("RECALL_BENCH_N")
        .ok()
        .and_then(|x| x.parse().ok())
        .unwrap_or(200_000);
    let concepts = (n / 100).max(10);
    let p = AnnParams {
        n,
        dim: 384,
        clusters: concepts,
        concepts,
        queries: 200,
        k: 10,
        probes: vec![concepts / 200, concepts / 100, concepts / 50, concepts / 10]
            .into_iter()
            .map(|x| x.max(1))
            .collect(),
        max_iter: 5,
        seed: 11,
    };
    let t = std::time::Instant::now();
    let (mem, queries, formation_s) = match build(&p) {
        Ok(x) => x,
        Err(e) => {
            eprintln!("build failed: {e}");
            std::process::exit(1);
        }
    };
    println!(
        "recall bench: {n} x 384, {} concepts (built in {:.1} s, concept formation {:.1} s)",
        mem.graph().concept_count(),
        t.elapsed().as_secs_f64(),
        formation_s
    );
    let (points, exact_us) = match measure(&mem, &queries, p.k, &p.probes) {
        Ok(x) => x,
        Err(e) => {
            eprintln!("measure failed: {e}");
            std::process::exit(1);
        }
    };
    println!("exact search: {exact_us:.1} µs/query");
    for x in points {
        println!(
            "semantic probes {:>4} ({:.1} % of concepts): recall@10 {:.3}, {:.1} µs/query, {:.1}x faster",
            x.probes,
            100.0 * x.probes as f64 / concepts as f64,
            x.recall,
            x.semantic_us,
            x.speedup
        );
    }
}
