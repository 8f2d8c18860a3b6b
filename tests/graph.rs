//! Graph invariants under random sequences of edits.

use engram::graph::Graph;
use engram::{Concept, ConceptId, ConceptState, EpisodeId, EpisodeMeta, MemoryNode};
use proptest::prelude::*;

#[derive(Debug, Clone)]
enum Op {
    AddEpisode(u64),
    AddConcept,
    Bind(usize, usize, f32),
    Strengthen(usize, usize, f32),
    Unbind(usize, usize),
    Prune(f32),
    RemoveEpisode(usize),
    RemoveConcept(usize),
    Link(usize, usize),
    Scale(usize, f32),
    ScaleEpisodes(Vec<(usize, f32)>),
    Compact,
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        4 => (0u64..3).prop_map(Op::AddEpisode),
        1 => Just(Op::AddConcept),
        4 => (0usize..64, 0usize..16, 0.0f32..1.0).prop_map(|(a, b, s)| Op::Bind(a, b, s)),
        2 => (0usize..64, 0usize..16, -0.5f32..0.5).prop_map(|(a, b, s)| Op::Strengthen(a, b, s)),
        1 => (0usize..64, 0usize..16).prop_map(|(a, b)| Op::Unbind(a, b)),
        1 => (0.0f32..0.5).prop_map(Op::Prune),
        2 => (0usize..64).prop_map(Op::RemoveEpisode),
        1 => (0usize..16).prop_map(Op::RemoveConcept),
        1 => (0usize..16, 0usize..16).prop_map(|(a, b)| Op::Link(a, b)),
        1 => (0usize..16, 0.0f32..1.0).prop_map(|(a, f)| Op::Scale(a, f)),
        1 => prop::collection::vec((0usize..64, 0.0f32..1.0), 0..8).prop_map(Op::ScaleEpisodes),
        1 => Just(Op::Compact),
    ]
}

fn concept(id: u64) -> Concept {
    Concept {
        id: ConceptId(id),
        coherence: 0.5,
        members: 0,
        strength: 1.0,
        state: ConceptState::Proto,
        confirmations: 1,
        formed_cycle: 0,
        updated_cycle: 0,
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(300))]

    #[test]
    fn invariants_hold(ops in prop::collection::vec(op(), 1..200)) {
        let mut g = Graph::new();
        let mut next_e = 0u64;
        let mut next_c = 0u64;
        // A model of what must be there: (episode, concept) -> strength.
        let mut model = std::collections::BTreeMap::<(u64, u64), f32>::new();
        let mut live_e = std::collections::BTreeSet::new();
        let mut live_c = std::collections::BTreeSet::new();
        for o in ops {
            match o {
                Op::AddEpisode(stream) => {
                    g.push_episode(EpisodeId(next_e), EpisodeMeta::at(next_e).with_stream(stream), 1.0);
                    live_e.insert(next_e);
                    next_e += 1;
                }
                Op::AddConcept => {
                    g.add_concept(concept(next_c), next_c as usize);
                    live_c.insert(next_c);
                    next_c += 1;
                }
                Op::Bind(e, c, s) => {
                    let ok = g.bind(EpisodeId(e as u64), ConceptId(c as u64), s);
                    let should = live_e.contains(&(e as u64)) && live_c.contains(&(c as u64));
                    prop_assert_eq!(ok, should);
                    if should { model.insert((e as u64, c as u64), s); }
                }
                Op::Strengthen(e, c, d) => {
                    let r = g.strengthen(EpisodeId(e as u64), ConceptId(c as u64), d);
                    if let Some(old) = model.get_mut(&(e as u64, c as u64)) {
                        *old = (*old + d).clamp(0.0, 1.0);
                        prop_assert_eq!(r, Some(*old));
                    } else {
                        prop_assert_eq!(r, None);
                    }
                }
                Op::Unbind(e, c) => {
                    let r = g.unbind(EpisodeId(e as u64), ConceptId(c as u64));
                    prop_assert_eq!(r, model.remove(&(e as u64, c as u64)));
                }
                Op::Prune(t) => {
                    let before = model.len();
                    model.retain(|_, s| *s >= t);
                    prop_assert_eq!(g.prune_bindings(t), before - model.len());
                }
                Op::RemoveEpisode(e) => {
                    let r = g.remove_episode(EpisodeId(e as u64));
                    prop_assert_eq!(r.is_some(), live_e.remove(&(e as u64)));
                    model.retain(|(me, _), _| *me != e as u64);
                }
                Op::RemoveConcept(c) => {
                    let r = g.remove_concept(ConceptId(c as u64));
                    prop_assert_eq!(r.is_some(), live_c.remove(&(c as u64)));
                    model.retain(|(_, mc), _| *mc != c as u64);
                }
                Op::Link(a, b) => {
                    let ok = g.link_concepts(ConceptId(a as u64), ConceptId(b as u64), 0.5);
                    prop_assert_eq!(ok, a != b && live_c.contains(&(a as u64)) && live_c.contains(&(b as u64)));
                }
                Op::Scale(c, f) => {
                    g.scale_concept_bindings(ConceptId(c as u64), f);
                    for ((_, mc), s) in model.iter_mut() {
                        if *mc == c as u64 { *s = (*s * f).clamp(0.0, 1.0); }
                    }
                }
                Op::ScaleEpisodes(list) => {
                    // By row: each episode at most once (a row maps to one episode).
                    let mut seen = std::collections::BTreeSet::new();
                    let mut rows = Vec::new();
                    for (r, f) in list {
                        if !seen.insert(r) { continue; }
                        rows.push((r, f));
                        if let Some((_, id, _)) = g.episodes().find(|(row, _, _)| *row == r) {
                            for ((me, _), s) in model.iter_mut() {
                                if *me == id.0 { *s = (*s * f).clamp(0.0, 1.0); }
                            }
                        }
                    }
                    g.scale_episode_bindings(&rows);
                }
                Op::Compact => {
                    let remap = g.compact();
                    prop_assert_eq!(remap.iter().flatten().count(), live_e.len());
                }
            }
            if let Err(e) = g.check_invariants() {
                prop_assert!(false, "invariant broken: {}", e);
            }
            prop_assert_eq!(g.episode_count(), live_e.len());
            prop_assert_eq!(g.binding_count(), model.len());
        }
        // Both directions agree with the model.
        for (&(e, c), &s) in &model {
            prop_assert_eq!(g.binding(EpisodeId(e), ConceptId(c)), Some(s));
            let n = g.episode_node(EpisodeId(e)).unwrap();
            prop_assert!(n.bindings().contains(&(ConceptId(c), s)));
        }
        // Temporal links: each stream's live episodes are chained in id order.
        for stream in 0..3u64 {
            let chain: Vec<u64> = g.episodes().filter(|(_, _, n)| n.stream == stream).map(|(_, id, _)| id.0).collect();
            for w in chain.windows(2) {
                let n = g.episode_node(EpisodeId(w[0])).unwrap();
                prop_assert_eq!(n.next(), Some(EpisodeId(w[1])));
            }
            if let Some(first) = chain.first() {
                prop_assert_eq!(g.episode_node(EpisodeId(*first)).unwrap().prev(), None);
                let nb = g.neighbours(MemoryNode::Episode(EpisodeId(*first)));
                let ok = nb.iter().all(|(n, _)| match n {
                    MemoryNode::Episode(x) => live_e.contains(&x.0),
                    MemoryNode::Concept(c) => live_c.contains(&c.0),
                });
                prop_assert!(ok);
            }
        }
    }
}
