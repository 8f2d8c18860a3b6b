//! Recall, activation and familiarity through the public API.

use engram::{
    BackendChoice, Config, Engram, EpisodeMeta, MemoryNode, RecallConfig, RecallMode, RecallParams,
};

fn engine() -> (Engram, Vec<engram::EpisodeId>) {
    let mut m = Engram::new(Config::new(4).backend(BackendChoice::Cpu)).unwrap();
    let rows = [
        1.0, 0.1, 0.0, 0.0, //
        0.9, 0.2, 0.0, 0.0, //
        0.0, 0.0, 1.0, 0.1, //
        0.0, 0.0, 0.9, 0.2,
    ];
    let ids = m
        .remember_batch(
            &rows,
            (0..4).map(|t| EpisodeMeta::at(t).with_stream(t)).collect(),
        )
        .unwrap();
    m.insert_concept_with_members(&[1.0, 0.15, 0.0, 0.0], &[(ids[0], 1.0), (ids[1], 1.0)])
        .unwrap();
    m.insert_concept_with_members(&[0.0, 0.0, 1.0, 0.15], &[(ids[2], 1.0), (ids[3], 0.5)])
        .unwrap();
    (m, ids)
}

#[test]
fn pathways_and_blending() {
    let (m, ids) = engine();
    let cue = [1.0, 0.1, 0.0, 0.0];
    let e = m
        .recall_view(&cue, &RecallParams::new(2).mode(RecallMode::Episodic))
        .unwrap();
    assert_eq!(e[0].node, MemoryNode::Episode(ids[0]));
    assert!(e.iter().all(|h| h.via.episodic && !h.via.semantic));
    let s = m
        .recall_view(
            &cue,
            &RecallParams::new(2).mode(RecallMode::Semantic).probes(1),
        )
        .unwrap();
    assert!(s
        .iter()
        .all(|h| h.via.semantic && matches!(h.node, MemoryNode::Episode(_))));
    let b = m.recall_view(&cue, &RecallParams::new(2)).unwrap();
    assert!(b[0].via.episodic && b[0].via.semantic);
    assert!(b[0].confidence > 0.0 && b[0].confidence <= 1.0);
}

#[test]
fn completion_returns_a_reconstruction_when_nothing_matches_well() {
    let (m, _) = engine();
    // Between the two members of the first concept: closer to their centroid than to either.
    let cue = [0.989, 0.151, 0.0, 0.0];
    let h = m
        .recall_view(&cue, &RecallParams::new(3).completion(0.9999))
        .unwrap();
    assert!(h.iter().any(|x| x.is_reconstruction() && x.via.completion));
    let none = m
        .recall_view(&[1.0, 0.1, 0.0, 0.0], &RecallParams::new(3).completion(0.9))
        .unwrap();
    assert!(none.iter().all(|x| !x.is_reconstruction()));
}

#[test]
fn recall_strengthens_and_view_does_not() {
    let (mut m, ids) = engine();
    let p = RecallParams::new(1).mode(RecallMode::Episodic).at(1000);
    m.recall_view(&[1.0, 0.1, 0.0, 0.0], &p).unwrap();
    assert_eq!(m.get(ids[0]).unwrap().rehearsals, 0);
    m.recall(&[1.0, 0.1, 0.0, 0.0], &p).unwrap();
    let e = m.get(ids[0]).unwrap();
    assert_eq!((e.rehearsals, e.last_access), (1, 1000));
    assert!(e.strength > 1.0);
}

#[test]
fn activation_is_divided_by_fan_and_latency_follows_it() {
    let (m, ids) = engine();
    let a = m.activate(&[0.0, 0.0, 1.0, 0.15]).unwrap();
    assert!(a.get(MemoryNode::Episode(ids[2])) > a.get(MemoryNode::Episode(ids[3])));
    let r = m.retrieve(&[0.0, 0.0, 1.0, 0.15]).unwrap().unwrap();
    assert_eq!(r.episode, ids[2]);
    let cfg = RecallConfig::default();
    assert!((r.latency_ms - cfg.latency_ms(r.activation)).abs() < 1e-9);
    assert!(cfg.latency_ms(0.5) > cfg.latency_ms(1.0));
    let batch = m
        .spread_batch(&vec![vec![(MemoryNode::Episode(ids[0]), 1.0)]; 3])
        .unwrap();
    assert_eq!(batch.len(), 3);
    assert!(m.spread(&[(MemoryNode::Episode(ids[0]), -1.0)]).is_err());
}

#[test]
fn familiarity_rule() {
    let (m, _) = engine();
    let old = m.familiarity(&[1.0, 0.1, 0.0, 0.0]).unwrap();
    assert!(old.old && old.confidence > 0.5);
    let new = m.familiarity(&[0.0, 1.0, 0.0, 0.0]).unwrap();
    assert!(!new.old && new.confidence < 0.5);
}

#[test]
fn bad_input_is_an_error() {
    let (m, _) = engine();
    assert!(m.recall_view(&[1.0, 0.0], &RecallParams::new(1)).is_err());
    assert!(m
        .recall_view(&[f32::NAN, 0.0, 0.0, 0.0], &RecallParams::new(1))
        .is_err());
    assert!(m
        .recall_view(&[1.0, 0.0, 0.0, 0.0], &RecallParams::new(0))
        .is_err());
    assert!(m
        .recall_view(&[1.0, 0.0, 0.0, 0.0], &RecallParams::new(1).probes(0))
        .is_err());
    let bad = RecallConfig {
        spread_decay: 0.0,
        ..RecallConfig::default()
    };
    assert!(Config::new(4).recall(bad).check().is_err());
    let empty = Engram::new(Config::new(4).backend(BackendChoice::Cpu)).unwrap();
    assert!(empty
        .recall_view(&[1.0, 0.0, 0.0, 0.0], &RecallParams::new(1))
        .unwrap()
        .is_empty());
}

/// A clustered store with real concepts, soft membership forced on (every episode bound to
/// two concepts), large enough for the parallel scoring path (≥ 512 candidates).
fn consolidated() -> (Engram, Vec<f32>) {
    use engram::consolidation::{ClusterCount, ConsolidationConfig};
    let (n, dim) = (3_000usize, 32usize);
    let s = engram::synth::SynthParams::new(n + 20, dim, 6)
        .seed(5)
        .check()
        .unwrap()
        .generate();
    let cfg = Config::new(dim).backend(BackendChoice::Cpu).consolidation(
        ConsolidationConfig::default()
            .clusters(ClusterCount::Fixed(6))
            .soft_margin(1.0)
            .prune_below(0.0)
            .seed(5),
    );
    let mut m = Engram::new(cfg).unwrap();
    m.remember_batch(&s.data[..n * dim], Vec::new()).unwrap();
    m.consolidate(1).unwrap();
    (m, s.data[n * dim..].to_vec())
}

#[test]
fn semantic_search_matches_a_reference_scoring() {
    let (m, queries) = consolidated();
    let dim = m.dim();
    let concepts = m.graph().concept_count();
    assert_eq!(concepts, 6);
    assert!(
        m.graph().binding_count() > m.len(),
        "soft membership should double-bind"
    );
    let dot = |a: &[f32], b: &[f32]| a.iter().zip(b).map(|(x, y)| x * y).sum::<f32>();
    for q in queries.chunks_exact(dim) {
        // Every concept probed, support weight 0: exactly the exact search, each id once.
        let exact = m.search(q, 10).unwrap();
        let sem = m.search_semantic(q, 10, concepts).unwrap();
        assert_eq!(
            exact.iter().map(|h| h.id).collect::<Vec<_>>(),
            sem.iter().map(|h| h.id).collect::<Vec<_>>()
        );
        for (a, b) in exact.iter().zip(&sem) {
            assert!((a.score - b.score).abs() < 1e-5);
        }
        // Support weight 0.3 over 2 probes: the best support over the probed concepts.
        let w = 0.3f32;
        let qn: Vec<f32> = {
            let n = dot(q, q).sqrt();
            q.iter().map(|x| x / n).collect()
        };
        let probed = m.search_concepts(&qn, 2).unwrap();
        let mut best: std::collections::BTreeMap<u64, f32> = Default::default();
        for c in &probed {
            let coh = m.concept(c.id).unwrap().coherence.max(0.0);
            for (e, b) in m.members(c.id).unwrap() {
                let s = b * coh * c.score;
                let x = best.entry(e.0).or_insert(f32::NEG_INFINITY);
                *x = x.max(s);
            }
        }
        let mut want: Vec<(f32, u64)> = best
            .iter()
            .map(|(&e, &s)| {
                let v = m.embedding(engram::EpisodeId(e)).unwrap();
                ((1.0 - w) * dot(&qn, &v) + w * s, e)
            })
            .collect();
        want.sort_by(|a, b| b.0.total_cmp(&a.0).then(a.1.cmp(&b.1)));
        want.truncate(10);
        let got = m
            .recall_view(
                q,
                &RecallParams::new(10)
                    .mode(RecallMode::Semantic)
                    .probes(2)
                    .support_weight(w),
            )
            .unwrap();
        assert_eq!(got.len(), want.len());
        for (h, (s, e)) in got.iter().zip(&want) {
            assert_eq!(h.node, MemoryNode::Episode(engram::EpisodeId(*e)));
            assert!((h.semantic.unwrap() - s).abs() < 1e-5, "{h:?} vs {s}");
            let v = m.embedding(engram::EpisodeId(*e)).unwrap();
            assert!((h.similarity - dot(&qn, &v)).abs() < 1e-5);
        }
    }
}
