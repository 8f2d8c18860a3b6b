//! `engram demo`: a small labelled stream end to end — ingest, consolidate into concepts, show a
//! few concepts with their members, and recall by similarity.
//!
//! Consolidation here is spherical k-means over the stored episodes (`Engram::consolidate` is
//! not yet on main); each cluster is shown as a concept with its size, coherence (mean cosine of
//! its members to the centroid), purity against the true labels and its most central members.

use std::time::Instant;

use engram::cluster::{adjusted_rand_index, normalized_mutual_info};
use engram::{Config, Engram, EpisodeMeta, KMeansParams};
use serde_json::{json, Value};

use crate::util::{positive, print_json, secs, Common};

/// Arguments of `engram demo`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// Episodes in the stream.
    #[arg(long, value_parser = positive, default_value = "20000")]
    pub n: usize,
    /// Dimension.
    #[arg(long, value_parser = positive, default_value = "384")]
    pub dim: usize,
    /// True clusters in the stream.
    #[arg(long, value_parser = positive, default_value = "8")]
    pub clusters: usize,
    /// Concepts to show.
    #[arg(long, default_value_t = 3)]
    pub show: usize,
}

/// Runs `engram demo`.
pub fn run(c: &Common, a: Args) -> anyhow::Result<()> {
    if a.clusters > a.n {
        crate::util::usage_error(format!(
            "--clusters {} is larger than --n {}",
            a.clusters, a.n
        ));
    }
    let spec = crate::synth::StreamSpec {
        n: a.n,
        dim: a.dim,
        clusters: a.clusters,
        sigma2: None,
        zipf: None,
        drift: 0.0,
        blocked: false,
    };
    let stream = spec.synth(c.seed).generate();
    let metas = (0..a.n as u64).map(EpisodeMeta::at).collect();
    let mut mem = Engram::new(Config::new(a.dim).backend(c.backend))?;
    let t = Instant::now();
    let ids = mem.remember_batch(&stream.data, metas)?;
    let ingest = secs(t);

    let t = Instant::now();
    let model = KMeansParams::new(a.clusters)
        .seed(c.seed)
        .fit(&stream.data, a.dim)?;
    let consolidate = secs(t);
    let ari = adjusted_rand_index(&stream.labels, &model.labels)?;
    let nmi = normalized_mutual_info(&stream.labels, &model.labels)?;

    // Concepts, largest first: members are the episodes of the cluster; the most central ones
    // are found by recall with the centroid as the cue.
    let sizes = model.sizes();
    let mut order: Vec<usize> = (0..model.k).collect();
    order.sort_by_key(|&j| (std::cmp::Reverse(sizes[j]), j));
    let mut concepts = Vec::new();
    for &j in order.iter().take(a.show) {
        let centroid = &model.centroids[j * a.dim..(j + 1) * a.dim];
        let members: Vec<usize> = (0..a.n)
            .filter(|&i| model.labels[i] as usize == j)
            .collect();
        let coherence = members
            .iter()
            .map(|&i| dot(&stream.data[i * a.dim..(i + 1) * a.dim], centroid))
            .sum::<f32>()
            / members.len().max(1) as f32;
        let mut counts = std::collections::BTreeMap::<u32, usize>::new();
        for &i in &members {
            *counts.entry(stream.labels[i]).or_default() += 1;
        }
        let (true_label, hits) = counts
            .iter()
            .max_by_key(|(l, c)| (**c, std::cmp::Reverse(**l)))
            .map_or((0, 0), |(l, c)| (*l, *c));
        let central = mem.search(centroid, 5)?;
        concepts.push(json!({
            "concept": j, "members": members.len(), "coherence": coherence,
            "true_label": true_label, "purity": hits as f64 / members.len().max(1) as f64,
            "central_members": central.iter().map(|h| json!({"episode": h.id.0, "cosine": h.score})).collect::<Vec<_>>(),
        }));
    }

    let cue = 0usize;
    let t = Instant::now();
    let hits = mem.search(&stream.data[cue * a.dim..(cue + 1) * a.dim], 5)?;
    let recall_s = secs(t);
    let same = hits
        .iter()
        .filter(|h| stream.labels[h.id.0 as usize] == stream.labels[cue])
        .count();
    let v = json!({
        "n": a.n, "dim": a.dim, "clusters": a.clusters, "seed": c.seed,
        "backend": mem.backend().kind(),
        "episodes": mem.len(), "ingest_s": ingest, "episodes_per_s": a.n as f64 / ingest,
        "consolidate_s": consolidate, "concepts": sizes.iter().filter(|&&s| s > 0).count(),
        "ari": ari, "nmi": nmi,
        "shown": concepts,
        "recall": {
            "cue_episode": ids[cue].0, "ms": recall_s * 1e3, "same_cluster": same,
            "hits": hits.iter().map(|h| json!({"episode": h.id.0, "cosine": h.score,
                "true_label": stream.labels[h.id.0 as usize]})).collect::<Vec<_>>(),
        },
    });
    if c.json {
        return print_json(&v);
    }
    print_text(&a, &v, &mem);
    Ok(())
}

fn print_text(a: &Args, v: &Value, mem: &Engram) {
    println!(
        "1. ingest: stored {} episodes of {} dimensions in {:.1} ms ({:.2} M episodes/s) on {}",
        mem.len(),
        a.dim,
        v["ingest_s"].as_f64().unwrap_or(0.0) * 1e3,
        v["episodes_per_s"].as_f64().unwrap_or(0.0) / 1e6,
        mem.backend().describe()
    );
    println!(
        "2. consolidate: {} concepts in {:.2} s; against the {} true clusters ARI {:.3}, NMI {:.3}",
        v["concepts"],
        v["consolidate_s"].as_f64().unwrap_or(0.0),
        a.clusters,
        v["ari"].as_f64().unwrap_or(0.0),
        v["nmi"].as_f64().unwrap_or(0.0)
    );
    for cpt in v["shown"].as_array().into_iter().flatten() {
        let central: Vec<String> = cpt["central_members"]
            .as_array()
            .into_iter()
            .flatten()
            .map(|m| {
                format!(
                    "e{} ({:.3})",
                    m["episode"],
                    m["cosine"].as_f64().unwrap_or(0.0)
                )
            })
            .collect();
        println!(
            "   concept {}: {} members, coherence {:.3}, {:.0} % from true cluster {}; most central: {}",
            cpt["concept"],
            cpt["members"],
            cpt["coherence"].as_f64().unwrap_or(0.0),
            100.0 * cpt["purity"].as_f64().unwrap_or(0.0),
            cpt["true_label"],
            central.join(", ")
        );
    }
    let r = &v["recall"];
    println!(
        "3. recall: the 5 episodes nearest episode {} ({:.2} ms), {} of them from its true cluster:",
        r["cue_episode"],
        r["ms"].as_f64().unwrap_or(0.0),
        r["same_cluster"]
    );
    for h in r["hits"].as_array().into_iter().flatten() {
        println!(
            "   e{}  cosine {:.4}  true cluster {}",
            h["episode"],
            h["cosine"].as_f64().unwrap_or(0.0),
            h["true_label"]
        );
    }
}

fn dot(a: &[f32], b: &[f32]) -> f32 {
    a.iter().zip(b).map(|(x, y)| x * y).sum()
}
