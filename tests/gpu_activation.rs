//! Spreading activation on the GPU against the CPU path, on small graphs (lavapipe in CI, where
//! `ENGRAM_REQUIRE_GPU=1` turns a missing adapter into a failure instead of a loud skip).
//!
//! Every GPU run is forced (`spread_batch_with(.., 0)`) with `gpu_fallback(false)`, so a GPU
//! failure is an error rather than a silent CPU answer.

mod common;

use common::gpu::{gpu, gpu_engine, gpu_tiny, random_unit};
use engram::compute::Backend;
use engram::persist::testing::graph_mut;
use engram::recall::{Activation, RecallConfig};
use engram::{
    BackendChoice, ConceptId, Config, Engram, EpisodeId, EpisodeMeta, Error, GpuError, MemoryNode,
};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

const DIM: usize = 8;

fn recall_config(hops: usize, threshold: f32) -> RecallConfig {
    RecallConfig {
        max_hops: hops,
        spread_threshold: threshold,
        ..RecallConfig::default()
    }
}

/// What a fixture holds.
struct Fixture {
    episodes: Vec<EpisodeId>,
    concepts: Vec<ConceptId>,
    forgotten: Vec<EpisodeId>,
}

/// `n_eps` episodes over `streams` streams (temporal links), every 11th forgotten (relinked
/// streams, holes in the rows), `n_concepts` concepts with 0..=max_members bindings of random
/// strength, and `n_links` random concept–concept links.
fn populate(
    e: &mut Engram,
    n_eps: usize,
    streams: u64,
    n_concepts: usize,
    max_members: usize,
    n_links: usize,
    seed: u64,
) -> Fixture {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let rows = random_unit(n_eps, DIM, seed);
    let mut episodes = Vec::new();
    for (t, r) in rows.chunks(DIM).enumerate() {
        let meta = EpisodeMeta::at(t as u64).with_stream(t as u64 % streams);
        episodes.push(e.remember(r, meta).unwrap());
    }
    let mut forgotten = Vec::new();
    for i in (3..n_eps).step_by(11) {
        e.forget(episodes[i]).unwrap();
        forgotten.push(episodes[i]);
    }
    episodes.retain(|x| !forgotten.contains(x));
    let centroids = random_unit(n_concepts, DIM, seed + 1);
    let mut concepts = Vec::new();
    for c in centroids.chunks(DIM) {
        let k = rng.random_range(0..=max_members.min(episodes.len()));
        let mut members: Vec<(EpisodeId, f32)> = Vec::new();
        while members.len() < k {
            let ep = episodes[rng.random_range(0..episodes.len())];
            if !members.iter().any(|m| m.0 == ep) {
                members.push((ep, rng.random_range(0.05f32..1.0)));
            }
        }
        concepts.push(e.insert_concept_with_members(c, &members).unwrap());
    }
    if concepts.len() >= 2 {
        for _ in 0..n_links {
            let a = concepts[rng.random_range(0..concepts.len())];
            let b = concepts[rng.random_range(0..concepts.len())];
            graph_mut(e).link_concepts(a, b, rng.random_range(0.05f32..1.0));
        }
    }
    e.graph().check_invariants().unwrap();
    Fixture {
        episodes,
        concepts,
        forgotten,
    }
}

/// `n` random source sets of 1..=4 episodes and concepts, plus the awkward cases: a duplicate
/// source, a zero activation, an unknown (forgotten) episode and an unknown concept.
fn source_sets(f: &Fixture, n: usize, seed: u64) -> Vec<Vec<(MemoryNode, f32)>> {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let mut sets = Vec::new();
    for _ in 0..n {
        let k = rng.random_range(1..=4);
        let set: Vec<(MemoryNode, f32)> = (0..k)
            .map(|_| {
                let node = if f.concepts.is_empty() || rng.random_bool(0.5) {
                    MemoryNode::Episode(f.episodes[rng.random_range(0..f.episodes.len())])
                } else {
                    MemoryNode::Concept(f.concepts[rng.random_range(0..f.concepts.len())])
                };
                (node, rng.random_range(0.1f32..2.0))
            })
            .collect();
        sets.push(set);
    }
    let e0 = MemoryNode::Episode(f.episodes[0]);
    sets.push(vec![(e0, 0.5), (e0, 0.25)]);
    sets.push(vec![(MemoryNode::Episode(f.episodes[1]), 0.0)]);
    if let Some(&gone) = f.forgotten.first() {
        sets.push(vec![(MemoryNode::Episode(gone), 1.0), (e0, 1.0)]);
    }
    sets.push(vec![(MemoryNode::Concept(ConceptId(9_999_999)), 0.7)]);
    sets
}

/// Same nodes, activations within `1e-5` relative, and the same order except adjacent swaps of
/// near-ties. Returns the number of near-tie swaps.
fn assert_same(gpu: &[Activation], cpu: &[Activation]) -> usize {
    assert_eq!(gpu.len(), cpu.len(), "number of sets");
    let mut swaps = 0;
    for (s, (g, c)) in gpu.iter().zip(cpu).enumerate() {
        assert_eq!(
            g.nodes.len(),
            c.nodes.len(),
            "set {s}: nodes reached\ngpu {:?}\ncpu {:?}",
            g.nodes,
            c.nodes
        );
        for &(node, a) in &c.nodes {
            let b = g.get(node);
            assert!(
                (a - b).abs() <= 1e-5 * a.abs() + 1e-30,
                "set {s}, {node:?}: gpu {b} vs cpu {a}"
            );
            assert!(
                g.nodes.iter().any(|x| x.0 == node),
                "set {s}: {node:?} missing on the GPU"
            );
        }
        for (i, (x, y)) in g.nodes.iter().zip(&c.nodes).enumerate() {
            if x.0 != y.0 {
                swaps += 1;
                let cx = c.get(x.0);
                assert!(
                    (cx - y.1).abs() <= 1e-5 * y.1.abs(),
                    "set {s} rank {i}: gpu {:?} vs cpu {:?} is no near-tie",
                    x,
                    y
                );
            }
        }
    }
    swaps
}

fn compare(e: &Engram, sets: &[Vec<(MemoryNode, f32)>]) -> usize {
    let cpu = e.spread_batch_with(sets, usize::MAX).unwrap();
    let gpu = e.spread_batch_with(sets, 0).unwrap();
    // The CPU path is the reference implementation: spread one by one.
    for (s, c) in sets.iter().zip(&cpu) {
        assert_eq!(&e.spread(s).unwrap(), c);
    }
    assert!(cpu.iter().any(|a| a.nodes.len() > 3), "nothing spread");
    assert_same(&gpu, &cpu)
}

#[test]
fn bindings_temporal_and_concept_links_match_the_cpu() {
    for (hops, threshold) in [(2, 0.01), (4, 0.0), (3, 0.2)] {
        let cfg = Config::new(DIM)
            .gpu_fallback(false)
            .recall(recall_config(hops, threshold));
        let Some(mut e) = gpu_engine(cfg) else {
            return;
        };
        let f = populate(&mut e, 120, 3, 20, 8, 25, 7);
        let swaps = compare(&e, &source_sets(&f, 8, 11));
        eprintln!("hops {hops}, threshold {threshold}: {swaps} near-tie swaps");
    }
}

#[test]
fn temporal_links_only() {
    let cfg = Config::new(DIM)
        .gpu_fallback(false)
        .recall(recall_config(5, 0.0));
    let Some(mut e) = gpu_engine(cfg) else {
        return;
    };
    let f = populate(&mut e, 60, 2, 0, 0, 0, 3);
    assert_eq!(e.graph().concept_count(), 0);
    compare(&e, &source_sets(&f, 5, 4));
}

#[test]
fn concept_links_only() {
    let cfg = Config::new(DIM)
        .gpu_fallback(false)
        .recall(recall_config(3, 0.0));
    let Some(mut e) = gpu_engine(cfg) else {
        return;
    };
    // Every episode its own stream: no temporal links; concepts without members.
    let mut f = populate(&mut e, 10, 1_000, 30, 0, 60, 5);
    assert_eq!(e.graph().binding_count(), 0);
    f.episodes.truncate(2);
    let sets: Vec<_> = f
        .concepts
        .iter()
        .step_by(4)
        .map(|&c| vec![(MemoryNode::Concept(c), 1.0)])
        .collect();
    compare(&e, &sets);
}

#[test]
fn retrieve_batch_matches_the_cpu() {
    let cfg = Config::new(DIM).gpu_fallback(false).recall(RecallConfig {
        source_min_similarity: 0.0,
        ..recall_config(3, 0.001)
    });
    let Some(mut e) = gpu_engine(cfg) else {
        return;
    };
    populate(&mut e, 150, 4, 25, 10, 30, 21);
    let cues = random_unit(12, DIM, 99);
    let cpu = e.retrieve_batch_with(&cues, usize::MAX).unwrap();
    let gpu = e.retrieve_batch_with(&cues, 0).unwrap();
    assert!(cpu.iter().flatten().count() >= 6, "too few retrievals");
    for (i, (g, c)) in gpu.iter().zip(&cpu).enumerate() {
        match (g, c) {
            (None, None) => {}
            (Some(g), Some(c)) => {
                assert!(
                    (g.activation - c.activation).abs() <= 1e-5 * c.activation,
                    "cue {i}: {g:?} vs {c:?}"
                );
                if g.episode != c.episode {
                    // A near-tie: the CPU activation of the GPU's pick is within rounding.
                    let act = e.activate(&cues[i * DIM..(i + 1) * DIM]).unwrap();
                    let other = act.get(MemoryNode::Episode(g.episode));
                    assert!((other - c.activation).abs() <= 1e-5 * c.activation);
                }
                assert!((g.latency_ms - c.latency_ms).abs() <= 1e-3 * c.latency_ms);
            }
            _ => panic!("cue {i}: gpu {g:?} vs cpu {c:?}"),
        }
    }
}

#[test]
fn chunked_edges_and_grouped_sets_on_a_tiny_binding_limit() {
    let Some(ctx) = gpu_tiny() else {
        return;
    };
    let mut e = Engram::new(
        Config::new(DIM)
            .backend(BackendChoice::Cpu)
            .recall(recall_config(3, 0.001)),
    )
    .unwrap();
    let f = populate(&mut e, 1500, 3, 150, 12, 200, 17);
    let nodes = e.graph().episode_count() + e.graph().concept_count();
    let edges: usize = e
        .graph()
        .episodes()
        .map(|(_, id, _)| e.graph().neighbours(MemoryNode::Episode(id)).len())
        .sum::<usize>()
        + f.concepts
            .iter()
            .map(|&c| e.graph().neighbours(MemoryNode::Concept(c)).len())
            .sum::<usize>();
    let words = (ctx.binding_limit() / 4) as usize;
    assert!(
        edges > words,
        "{edges} edges fit one binding of {words} words"
    );
    let sets = source_sets(&f, 7, 23);
    // One set's state fits a binding, the batch's does not: sets run in groups.
    assert!(
        nodes <= words && nodes * sets.len() > words,
        "{nodes} nodes"
    );
    let gpu = e.spread_batch_on(ctx, &sets).unwrap();
    let cpu = e.spread_batch(&sets).unwrap();
    assert_same(&gpu, &cpu);
}

#[test]
fn a_graph_beyond_the_binding_limit_is_refused() {
    let Some(ctx) = gpu_tiny() else {
        return;
    };
    let mut e = Engram::new(Config::new(4).backend(BackendChoice::Cpu)).unwrap();
    let words = (ctx.binding_limit() / 4) as usize;
    let rows = random_unit(words + 1, 4, 1);
    e.remember_batch(&rows, vec![]).unwrap();
    let sets = vec![vec![(MemoryNode::Episode(EpisodeId(0)), 1.0)]];
    match e.spread_batch_on(ctx, &sets) {
        Err(Error::Gpu(GpuError::Unsupported(msg))) => assert!(msg.contains("binding")),
        other => panic!("expected Unsupported, got {other:?}"),
    }
}

#[test]
fn the_full_context_matches_too() {
    let Some(ctx) = gpu() else {
        return;
    };
    let mut e = Engram::new(
        Config::new(DIM)
            .backend(BackendChoice::Cpu)
            .recall(recall_config(2, 0.01)),
    )
    .unwrap();
    let f = populate(&mut e, 300, 5, 40, 10, 40, 31);
    let sets = source_sets(&f, 40, 37);
    assert_same(
        &e.spread_batch_on(ctx, &sets).unwrap(),
        &e.spread_batch(&sets).unwrap(),
    );
}

#[test]
fn device_loss_is_an_error_or_a_cpu_fallback() {
    let Some(mut strict) = gpu_engine(Config::new(DIM).gpu_fallback(false)) else {
        return;
    };
    let f = populate(&mut strict, 40, 2, 6, 5, 4, 41);
    let sets = source_sets(&f, 3, 43);
    strict.simulate_gpu_failure();
    match strict.spread_batch_with(&sets, 0) {
        Err(Error::Gpu(GpuError::DeviceLost(_))) => {}
        other => panic!("expected DeviceLost, got {other:?}"),
    }
    let Some(mut lenient) = gpu_engine(Config::new(DIM).gpu_fallback(true)) else {
        return;
    };
    populate(&mut lenient, 40, 2, 6, 5, 4, 41);
    let want = lenient.spread_batch_with(&sets, usize::MAX).unwrap();
    lenient.simulate_gpu_failure();
    assert_eq!(lenient.spread_batch_with(&sets, 0).unwrap(), want);
    assert!(matches!(lenient.backend(), Backend::Cpu(_)));
}

#[test]
fn bad_sources_are_the_same_error_on_both_paths() {
    let Some(mut e) = gpu_engine(Config::new(DIM).gpu_fallback(false)) else {
        return;
    };
    let f = populate(&mut e, 20, 1, 2, 3, 0, 51);
    let sets = vec![vec![(MemoryNode::Episode(f.episodes[0]), -1.0)]];
    let cpu = e.spread_batch_with(&sets, usize::MAX).unwrap_err();
    let gpu = e.spread_batch_with(&sets, 0).unwrap_err();
    assert_eq!(cpu.to_string(), gpu.to_string());
}

/// Wall-clock comparison for the report (`--ignored --nocapture`); not a test of speed.
#[test]
#[ignore]
fn timing() {
    for (n_eps, sets) in [(20_000usize, 64usize), (100_000, 64)] {
        let cfg = Config::new(DIM)
            .gpu_fallback(false)
            .recall(recall_config(2, 0.01));
        let Some(mut e) = gpu_engine(cfg) else {
            return;
        };
        let f = populate(&mut e, n_eps, 8, n_eps / 10, 20, n_eps / 10, 61);
        let batch = source_sets(&f, sets, 67);
        let nodes = e.graph().episode_count() + e.graph().concept_count();
        let _ = e.spread_batch_with(&batch, 0).unwrap();
        let t = std::time::Instant::now();
        let cpu = e.spread_batch_with(&batch, usize::MAX).unwrap();
        let tc = t.elapsed();
        let t = std::time::Instant::now();
        let gpu = e.spread_batch_with(&batch, 0).unwrap();
        let tg = t.elapsed();
        let t = std::time::Instant::now();
        let _ = e.spread_batch_with(&batch[..1], 0).unwrap();
        let t1 = t.elapsed();
        assert_same(&gpu, &cpu);
        eprintln!(
            "{nodes} nodes, {} sets: cpu {tc:?}, gpu {tg:?} (one set {t1:?})",
            batch.len()
        );
    }
}

#[test]
fn graph_changes_between_gpu_calls_are_seen() {
    let cfg = Config::new(DIM)
        .gpu_fallback(false)
        .recall(recall_config(3, 0.0));
    let Some(mut e) = gpu_engine(cfg) else {
        return;
    };
    let f = populate(&mut e, 80, 2, 10, 8, 12, 5);
    let sets = source_sets(&f, 6, 3);
    compare(&e, &sets);
    // Each kind of change, then the GPU again (its CSR is cached by graph version).
    graph_mut(&mut e).strengthen(f.episodes[0], f.concepts[0], 0.5);
    compare(&e, &sets);
    e.forget(f.episodes[1]).unwrap();
    compare(&e, &sets);
    graph_mut(&mut e).link_concepts(f.concepts[1], f.concepts[2], 0.9);
    compare(&e, &sets);
    let v: Vec<f32> = random_unit(1, DIM, 99);
    let id = e.remember(&v, EpisodeMeta::at(1000)).unwrap();
    graph_mut(&mut e).bind(id, f.concepts[0], 0.7);
    let mut more = sets.clone();
    more.push(vec![(MemoryNode::Episode(id), 1.0)]);
    compare(&e, &more);
}
