//! Consolidation cycles: decay against the closed form, the report, the prepare/apply split,
//! background consolidation, and CPU vs GPU consolidation.

mod common;

use common::gpu::gpu_engine;
use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant};

use engram::consolidation::{
    spawn_background_consolidation, BackgroundPhase, ClusterCount, ConsolidationConfig,
    ForgettingCurve,
};
use engram::synth::SynthParams;
use engram::{BackendChoice, Config, Engram, EpisodeMeta, Error};

fn engine(dim: usize, cc: ConsolidationConfig) -> Engram {
    Engram::new(
        Config::new(dim)
            .backend(BackendChoice::Cpu)
            .consolidation(cc),
    )
    .expect("engine")
}

fn feed(e: &mut Engram, data: &[f32], t: u64) -> Vec<engram::EpisodeId> {
    let n = data.len() / e.dim();
    e.remember_batch(data, vec![EpisodeMeta::at(t); n])
        .expect("remember")
}

#[test]
fn episode_and_binding_decay_follow_the_power_law() {
    let dim = 32;
    let d = SynthParams::new(400, dim, 4)
        .seed(1)
        .check()
        .expect("synth")
        .generate();
    let curve = ForgettingCurve::Power {
        scale: 5.0,
        exponent: 0.7,
    };
    let cc = ConsolidationConfig::default()
        .replay_fraction(0.0)
        .replay_min(0)
        .clusters(ClusterCount::Fixed(4))
        .prune_below(0.001)
        .concept_min_strength(0.0)
        .forgetting(curve);
    let mut e = engine(dim, cc);
    let ids = feed(&mut e, &d.data, 0);
    e.consolidate(0).expect("cycle 1");
    let b0: Vec<_> = e.graph().all_bindings();
    assert!(!b0.is_empty());
    for t in [7u64, 19, 60, 61, 200] {
        let r = e.consolidate(t).expect("cycle");
        e.graph().check_invariants().expect("invariants");
        let f = (1.0 + t as f64 / 5.0).powf(-0.7);
        assert_eq!(r.episodes_decayed, ids.len());
        assert!(
            (r.min_decay_factor as f64 - f / (1.0 + prev(t) as f64 / 5.0).powf(-0.7)).abs() < 1e-5
        );
        for id in &ids {
            let s = e.get(*id).expect("episode").strength as f64;
            assert!(
                (s - f).abs() < 1e-5,
                "t {t}: strength {s} vs closed form {f}"
            );
        }
        for c in e.concepts() {
            assert!(
                (c.strength as f64 - 0.5 * f).abs() < 1e-5,
                "concept {} vs {}",
                c.strength,
                0.5 * f
            );
        }
        for b in &b0 {
            let s = e.graph().binding(b.episode, b.concept).expect("binding") as f64;
            let want = b.strength as f64 * f;
            assert!((s - want).abs() < 1e-5, "t {t}: binding {s} vs {want}");
        }
    }
    assert_eq!(curve.retention(0), 1.0);
}

fn prev(t: u64) -> u64 {
    match t {
        7 => 0,
        19 => 7,
        60 => 19,
        61 => 60,
        _ => 61,
    }
}

#[test]
fn replay_strengthens_and_report_counts_changes() {
    let dim = 32;
    let s = SynthParams::new(2000, dim, 4)
        .seed(5)
        .check()
        .expect("synth");
    let cc = ConsolidationConfig::default()
        .clusters(ClusterCount::Fixed(4))
        .seed(3);
    let mut e = engine(dim, cc);
    let mut chunks = s.chunks(1000);
    feed(&mut e, &chunks.next().expect("c").data, 0);
    let r1 = e.consolidate(10).expect("cycle 1");
    assert_eq!(r1.cycle, 1);
    assert_eq!(e.cycle(), 1);
    assert_eq!(r1.episodes_new, 1000);
    assert_eq!(r1.episodes_replayed, 0);
    assert_eq!(r1.concepts_created.len(), 4);
    assert_eq!(r1.bindings_created, e.graph().binding_count());
    feed(&mut e, &chunks.next().expect("c").data, 20);
    let r2 = e.consolidate(30).expect("cycle 2");
    assert_eq!(r2.episodes_new, 1000);
    assert_eq!(r2.episodes_replayed, 100, "10 % of the new ones");
    assert_eq!(r2.concepts_updated.len(), 4);
    assert!(r2.concepts_created.is_empty());
    assert!(r2.bindings_strengthened >= 100, "{r2:?}");
    assert!(r2.timings.cluster > Duration::ZERO);
    let replayed: Vec<_> = e
        .graph()
        .episodes()
        .filter(|(_, _, n)| n.rehearsals == 1)
        .map(|(_, _, n)| (n.last_access, n.strength))
        .collect();
    assert_eq!(replayed.len(), 100);
    assert!(replayed.iter().all(|&(t, s)| t == 30 && s > 0.99));
    for c in e.concepts() {
        assert_eq!(c.members as usize, e.members(c.id).expect("m").len());
        assert_eq!(c.confirmations, 2);
    }
    e.graph().check_invariants().expect("invariants");
}

#[test]
fn prepare_apply_split_and_stale_plans() {
    let dim = 16;
    let d = SynthParams::new(600, dim, 3)
        .seed(2)
        .check()
        .expect("synth")
        .generate();
    let mut e = engine(
        dim,
        ConsolidationConfig::default().clusters(ClusterCount::Fixed(3)),
    );
    feed(&mut e, &d.data, 0);
    let plan = e.prepare_cycle(5).expect("plan");
    assert_eq!(plan.rows(), 600);
    assert_eq!(plan.clusters_kept(), 3);
    assert_eq!(e.cycle(), 0, "prepare changes nothing");
    assert!(e.concepts().is_empty());
    let stale = plan.clone();
    // Episodes forgotten between prepare and apply are skipped.
    let first = e.graph().episodes().next().map(|x| x.1).expect("ep");
    e.forget(first).expect("forget");
    let r = e.apply_cycle(plan).expect("apply");
    assert_eq!(r.rows_skipped, 1);
    assert_eq!(e.concepts().len(), 3);
    match e.apply_cycle(stale) {
        Err(Error::Consolidation(_)) => {}
        other => panic!("expected a stale-plan error, got {other:?}"),
    }
    assert_eq!(e.cycle(), 1);
    e.graph().check_invariants().expect("invariants");
    // An empty engine consolidates to an empty report.
    let mut empty = engine(dim, ConsolidationConfig::default());
    let r = empty.consolidate(1).expect("empty");
    assert_eq!(r.clusters_found, 0);
    assert!(empty.concepts().is_empty());
    // Bad thresholds are configuration errors.
    let bad = Config::new(4).consolidation(ConsolidationConfig::default().match_threshold(2.0));
    assert!(matches!(Engram::new(bad), Err(Error::Config(_))));
    let bad = Config::new(4)
        .consolidation(ConsolidationConfig::default().clusters(ClusterCount::Fixed(0)));
    assert!(matches!(Engram::new(bad), Err(Error::Config(_))));
}

#[test]
fn readers_search_while_a_background_cycle_prepares() {
    let dim = 384;
    let d = SynthParams::new(10_000, dim, 50)
        .seed(4)
        .check()
        .expect("synth")
        .generate();
    let mut e = engine(dim, ConsolidationConfig::default());
    feed(&mut e, &d.data, 0);
    let query = d.data[..dim].to_vec();
    let shared = Arc::new(RwLock::new(e));
    let clock = {
        let start = Instant::now();
        move || start.elapsed().as_millis() as u64
    };
    let handle = spawn_background_consolidation(shared.clone(), Duration::from_millis(5), clock);
    // Wait for the clustering to start.
    let t0 = Instant::now();
    while handle.phase() != BackgroundPhase::Preparing {
        assert!(
            t0.elapsed() < Duration::from_secs(10),
            "the cycle never started"
        );
        std::thread::sleep(Duration::from_millis(1));
    }
    let mut searches = 0;
    let mut overlapped = 0;
    while handle.phase() == BackgroundPhase::Preparing {
        let t = Instant::now();
        let hits = shared
            .read()
            .expect("lock")
            .search(&query, 5)
            .expect("search");
        assert_eq!(hits.len(), 5);
        searches += 1;
        if handle.phase() == BackgroundPhase::Preparing {
            overlapped += 1;
            assert!(
                t.elapsed() < Duration::from_millis(500),
                "search took {:?}",
                t.elapsed()
            );
        }
    }
    println!("{searches} searches, {overlapped} completed while the cycle was preparing");
    assert!(overlapped >= 1);
    let t0 = Instant::now();
    while handle.cycles() == 0 {
        assert!(t0.elapsed() < Duration::from_secs(60), "no cycle applied");
        std::thread::sleep(Duration::from_millis(5));
    }
    let cycles = handle.stop();
    assert!(cycles >= 1);
    let e = shared.read().expect("lock");
    assert_eq!(e.concepts().len(), 50);
    e.graph().check_invariants().expect("invariants");
}

#[test]
fn cpu_and_gpu_consolidation_form_the_same_concepts() {
    let dim = 64;
    let s = SynthParams::new(3000, dim, 8)
        .seed(13)
        .check()
        .expect("synth");
    for cc in [
        ConsolidationConfig::default()
            .clusters(ClusterCount::Fixed(8))
            .seed(4),
        ConsolidationConfig::default().seed(4),
    ] {
        let Some(mut g) = gpu_engine(Config::new(dim).consolidation(cc.clone())) else {
            return;
        };
        let mut c = engine(dim, cc);
        for (i, chunk) in s.chunks(1000).enumerate() {
            let t = i as u64 * 10;
            feed(&mut g, &chunk.data, t);
            feed(&mut c, &chunk.data, t);
            let rg = g.consolidate(t + 1).expect("gpu cycle");
            let rc = c.consolidate(t + 1).expect("cpu cycle");
            assert_eq!(rg.concepts_created, rc.concepts_created);
            assert_eq!(rg.concepts_updated, rc.concepts_updated);
        }
        let (cg, cc) = (g.concepts(), c.concepts());
        assert_eq!(cg.len(), 8);
        assert_eq!(
            cg.iter().map(|x| x.id).collect::<Vec<_>>(),
            cc.iter().map(|x| x.id).collect::<Vec<_>>()
        );
        for (a, b) in cg.iter().zip(&cc) {
            let (va, vb) = (g.centroid(a.id).expect("g"), c.centroid(b.id).expect("c"));
            let diff = va
                .iter()
                .zip(&vb)
                .map(|(x, y)| (x - y).abs())
                .fold(0.0f32, f32::max);
            assert!(diff <= 1e-4, "{}: centroids differ by {diff}", a.id);
            assert_eq!(a.members, b.members);
            assert_eq!(a.state, b.state);
        }
        g.graph().check_invariants().expect("invariants");
    }
}
