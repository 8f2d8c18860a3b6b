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
