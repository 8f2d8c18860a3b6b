//! Concept formation through `Engram::consolidate`: quality against synthetic ground truth,
//! identity across cycles, one new concept for a new cluster, determinism.

use engram::cluster::adjusted_rand_index;
use engram::consolidation::{ClusterCount, ConsolidationConfig, ForgettingCurve};
use engram::synth::SynthParams;
use engram::{BackendChoice, ConceptId, ConceptState, Config, Engram, EpisodeMeta};

fn engine(dim: usize, cc: ConsolidationConfig) -> Engram {
    Engram::new(
        Config::new(dim)
            .backend(BackendChoice::Cpu)
            .consolidation(cc),
    )
    .expect("engine")
}

/// Each live episode's strongest concept (ties → lowest id), or a label of its own when unbound.
fn concept_labels(e: &Engram) -> Vec<u32> {
    let mut out = Vec::new();
    let mut next_free = 1_000_000u32;
    for (_, _, n) in e.graph().episodes() {
        let best = n
            .bindings()
            .iter()
            .max_by(|a, b| a.1.total_cmp(&b.1).then(b.0.cmp(&a.0)));
        match best {
            Some((c, _)) => out.push(c.0 as u32),
            None => {
                out.push(next_free);
                next_free += 1;
            }
        }
    }
    out
}

fn cos(a: &[f32], b: &[f32]) -> f64 {
    a.iter().zip(b).map(|(x, y)| *x as f64 * *y as f64).sum()
}

fn feed(e: &mut Engram, data: &[f32], t: u64) {
    let n = data.len() / e.dim();
    e.remember_batch(data, vec![EpisodeMeta::at(t); n])
        .expect("remember");
}

#[test]
fn k_given_20k_x_384_k100_ari() {
    let d = SynthParams::new(20_000, 384, 100)
        .seed(11)
        .check()
        .expect("synth")
        .generate();
    let mut e = engine(
        384,
        ConsolidationConfig::default().clusters(ClusterCount::Fixed(100)),
    );
    feed(&mut e, &d.data, 1);
    let r = e.consolidate(2).expect("cycle");
    let ari = adjusted_rand_index(&concept_labels(&e), &d.labels).expect("ari");
    println!(
        "k given: {} concepts, ARI {ari:.5}, timings {:?}",
        e.concepts().len(),
        r.timings
    );
    assert!(ari >= 0.99, "ARI {ari}");
    assert_eq!(r.concepts_created.len(), e.concepts().len());
    e.graph().check_invariants().expect("invariants");
}

#[test]
fn k_discovered_20k_x_384_k100_ari() {
    let d = SynthParams::new(20_000, 384, 100)
        .seed(12)
        .check()
        .expect("synth")
        .generate();
    let mut e = engine(384, ConsolidationConfig::default());
    feed(&mut e, &d.data, 1);
    let r = e.consolidate(2).expect("cycle");
    let ari = adjusted_rand_index(&concept_labels(&e), &d.labels).expect("ari");
    println!(
        "k discovered: {} concepts, ARI {ari:.5}, timings {:?}",
        e.concepts().len(),
        r.timings
    );
    assert!(ari >= 0.95, "ARI {ari}");
    e.graph().check_invariants().expect("invariants");
}

fn snapshot(e: &Engram) -> Vec<(ConceptId, Vec<f32>)> {
    e.concepts()
        .iter()
        .map(|c| (c.id, e.centroid(c.id).expect("centroid")))
        .collect()
}

#[test]
fn same_stream_in_10_cycles_keeps_concepts() {
    let dim = 128;
    let clusters = 20;
    let s = SynthParams::new(30_000, dim, clusters)
        .seed(3)
        .check()
        .expect("synth");
    let mut e = engine(dim, ConsolidationConfig::default().seed(5));
    let mut first: Option<Vec<(ConceptId, Vec<f32>)>> = None;
    for (i, chunk) in s.chunks(3000).enumerate() {
        let t = (i as u64 + 1) * 100;
        feed(&mut e, &chunk.data, t);
        let r = e.consolidate(t + 50).expect("cycle");
        e.graph().check_invariants().expect("invariants");
        let snap = snapshot(&e);
        match &first {
            None => {
                assert_eq!(r.concepts_created.len(), clusters, "first cycle: {r:?}");
                first = Some(snap);
            }
            Some(f) => {
                assert!(
                    r.concepts_created.is_empty(),
                    "cycle {}: created {:?}",
                    r.cycle,
                    r.concepts_created
                );
                assert!(r.concepts_removed.is_empty(), "cycle {}: removed", r.cycle);
                assert_eq!(r.concepts_updated.len(), clusters, "cycle {}", r.cycle);
                let ids: Vec<_> = snap.iter().map(|x| x.0).collect();
                let ids0: Vec<_> = f.iter().map(|x| x.0).collect();
                assert_eq!(ids, ids0, "cycle {}: ids changed", r.cycle);
            }
        }
        if r.cycle == 3 {
            assert_eq!(
                r.concepts_promoted.len(),
                clusters,
                "promotion after 3 confirmations"
            );
        }
    }
    let f = first.expect("first");
    let last = snapshot(&e);
    let mut worst = 0.0f64;
    for ((id, a), (id2, b)) in f.iter().zip(&last) {
        assert_eq!(id, id2);
        worst = worst.max(1.0 - cos(a, b));
    }
    println!("worst centroid drift over 10 cycles (1 - cosine): {worst:.5}");
    assert!(worst < 0.01, "drift {worst}");
    for c in e.concepts() {
        assert_eq!(c.state, ConceptState::Promoted);
        assert_eq!(c.confirmations, 10);
        assert_eq!(c.formed_cycle, 1);
        assert_eq!(c.updated_cycle, 10);
        assert!(
            c.coherence > 0.6 && c.coherence < 0.8,
            "coherence {}",
            c.coherence
        );
    }
    let ari = adjusted_rand_index(&concept_labels(&e), &s.generate().labels).expect("ari");
    println!("ARI after 10 cycles: {ari:.5}");
    assert!(ari >= 0.99);
}

#[test]
fn new_cluster_mid_stream_becomes_one_concept() {
    let dim = 128;
    let s = SynthParams::new(24_000, dim, 21)
        .seed(9)
        .check()
        .expect("synth");
    let d = s.generate();
    let mut e = engine(dim, ConsolidationConfig::default().seed(1));
    let chunk = 3000;
    let mut created_after = Vec::new();
    for (i, start) in (0..d.labels.len()).step_by(chunk).enumerate() {
        let end = (start + chunk).min(d.labels.len());
        // Cluster 20 appears from the fifth cycle on.
        let mut rows = Vec::new();
        for r in start..end {
            if i >= 4 || d.labels[r] != 20 {
                rows.extend_from_slice(&d.data[r * dim..(r + 1) * dim]);
            }
        }
        let t = (i as u64 + 1) * 10;
        feed(&mut e, &rows, t);
        let r = e.consolidate(t).expect("cycle");
        e.graph().check_invariants().expect("invariants");
        if i == 0 {
            assert_eq!(r.concepts_created.len(), 20);
        } else {
            created_after.extend(r.concepts_created.iter().map(|c| (i, *c)));
        }
    }
    println!("created after the first cycle: {created_after:?}");
    assert_eq!(created_after.len(), 1, "{created_after:?}");
    assert_eq!(created_after[0].0, 4);
    assert_eq!(e.concepts().len(), 21);
    // Its members are the new cluster's rows.
    let new = created_after[0].1;
    let members = e.members(new).expect("members");
    let mut hits = 0;
    for (ep, _) in &members {
        let v = e.embedding(*ep).expect("embedding");
        let centre = &s.centres()[20 * dim..21 * dim];
        if cos(&v, centre) > 0.5 {
            hits += 1;
        }
    }
    assert!(
        hits * 100 >= members.len() * 99,
        "{hits} of {}",
        members.len()
    );
}

#[test]
fn same_seed_twice_gives_identical_concepts() {
    let dim = 64;
    let s = SynthParams::new(6000, dim, 10)
        .seed(21)
        .check()
        .expect("synth");
    let run = || {
        let mut e = engine(dim, ConsolidationConfig::default().seed(77));
        for (i, c) in s.chunks(2000).enumerate() {
            feed(&mut e, &c.data, i as u64 * 10);
            e.consolidate(i as u64 * 10 + 5).expect("cycle");
        }
        let bindings = e.graph().all_bindings();
        (e.concepts(), snapshot(&e), bindings)
    };
    let a = run();
    let b = run();
    assert_eq!(a.0, b.0);
    assert_eq!(a.1, b.1);
    assert_eq!(a.2, b.2);
}

#[test]
fn unconfirmed_proto_concept_fades_and_is_removed() {
    let dim = 64;
    let d = SynthParams::new(3000, dim, 3)
        .seed(2)
        .check()
        .expect("synth")
        .generate();
    let rows_of = |l: u32| -> Vec<f32> {
        (0..d.labels.len())
            .filter(|&r| d.labels[r] == l)
            .flat_map(|r| d.data[r * dim..(r + 1) * dim].to_vec())
            .collect()
    };
    let cc = ConsolidationConfig::default()
        .replay_fraction(0.0)
        .replay_min(0)
        .forgetting(ForgettingCurve::Exponential { half_life: 10.0 });
    let mut e = engine(dim, cc);
    feed(&mut e, &rows_of(0), 0);
    feed(&mut e, &rows_of(1), 0);
    let r = e.consolidate(0).expect("cycle 1");
    assert_eq!(r.concepts_created.len(), 2);
    let ids = r.concepts_created.clone();
    let mut removed = Vec::new();
    // Later cycles confirm cluster 0 only: the concept of cluster 1 fades.
    let half = rows_of(0);
    for (i, t) in [10u64, 20, 30, 40].into_iter().enumerate() {
        feed(
            &mut e,
            &half[(i % 2) * 64 * dim..((i % 2) * 64 + 64) * dim],
            t,
        );
        let r = e.consolidate(t).expect("cycle");
        e.graph().check_invariants().expect("invariants");
        removed.extend(r.concepts_removed.clone());
        for c in e.concepts() {
            if !r.concepts_updated.contains(&c.id) {
                // Closed form: 0.5 · 2^(−t/10) since its formation at t = 0.
                let want = 0.5 * (-(t as f64) / 10.0).exp2();
                assert!(
                    (c.strength as f64 - want).abs() < 1e-6,
                    "t {t}: {} vs {want}",
                    c.strength
                );
                assert_eq!(c.state, ConceptState::Proto);
            }
        }
    }
    // 0.5 → 0.25 → 0.125 → 0.0625 < 0.1 at t = 30.
    assert_eq!(removed.len(), 1);
    let live: Vec<_> = e.concepts().iter().map(|c| c.id).collect();
    assert_eq!(live.len(), 1);
    assert!(ids.contains(&live[0]) && ids.contains(&removed[0]));
    assert_eq!(e.concept(live[0]).expect("c").state, ConceptState::Promoted);
}
