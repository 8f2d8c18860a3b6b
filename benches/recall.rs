//! Semantic recall (probe concepts, score their members) against exact search on a synthetic
//! 200,000 × 384 stream with 2,000 concepts formed by one consolidation cycle
//! ([`engram::Engram::consolidate`], `ClusterCount::Fixed(2000)`, 3 Lloyd iterations), in the
//! same run: probing 0.5 %, 1 %, 2 % and 10 % of the concepts. `cargo bench --bench recall`
//! (set `RECALL_BENCH_N` for a smaller stream, `RECALL_BENCH_ITER` for the Lloyd iterations).
//! Prints a Markdown table too (see bench/results/recall-ann.md).

use engram::validate::semantic_ann::{build, measure, AnnParams};

fn env_or(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|x| x.parse().ok())
        .unwrap_or(default)
}

fn main() {
    let n = env_or("RECALL_BENCH_N", 200_000);
    let concepts = (n / 100).max(10);
    let p = AnnParams {
        n,
        dim: 384,
        clusters: concepts,
        concepts,
        queries: 200,
        k: 10,
        probes: [200, 100, 50, 10]
            .iter()
            .map(|d| (concepts / d).max(1))
            .collect(),
        max_iter: env_or("RECALL_BENCH_ITER", 3),
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
    let formed = mem.graph().concept_count();
    let sizes: Vec<usize> = mem.graph().concepts().map(|c| c.member_count()).collect();
    let bound = mem.graph().binding_count();
    println!(
        "recall bench: {n} x 384, {formed} concepts (built in {:.1} s, consolidation {:.1} s); \
         members per concept mean {:.1}, max {}; {:.3} bindings per episode",
        t.elapsed().as_secs_f64(),
        formation_s,
        bound as f64 / formed.max(1) as f64,
        sizes.iter().max().copied().unwrap_or(0),
        bound as f64 / n as f64,
    );
    let (points, exact_us) = match measure(&mem, &queries, p.k, &p.probes) {
        Ok(x) => x,
        Err(e) => {
            eprintln!("measure failed: {e}");
            std::process::exit(1);
        }
    };
    println!("exact search: {exact_us:.1} µs/query");
    let mut table = String::from(
        "| probes | % of concepts | recall@10 | µs/query | speed-up vs exact |\n|---:|---:|---:|---:|---:|\n",
    );
    table.push_str(&format!("| exact | — | 1.000 | {exact_us:.1} | 1.0× |\n"));
    for x in &points {
        let pct = 100.0 * x.probes as f64 / formed.max(1) as f64;
        println!(
            "semantic probes {:>4} ({pct:.1} % of concepts): recall@10 {:.3}, {:.1} µs/query, {:.1}x faster",
            x.probes, x.recall, x.semantic_us, x.speedup
        );
        table.push_str(&format!(
            "| {} | {pct:.1} % | {:.3} | {:.1} | {:.1}× |\n",
            x.probes, x.recall, x.semantic_us, x.speedup
        ));
    }
    println!("\n{table}");
}
