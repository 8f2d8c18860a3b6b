//! Helpers shared by the persistence tests (included with `#[path]`).
#![allow(dead_code)]

use engram::persist::{testing::graph_mut, DurableEngram, NewConcept};
use engram::{ConceptId, Engram, EpisodeId, EpisodeMeta, MemoryNode, Payload};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

/// A canonical dump of everything observable in an engine: equal dumps, equal stores.
pub fn dump(e: &Engram) -> Vec<u8> {
    let mut out = Vec::new();
    let g = e.graph();
    g.check_invariants().expect("graph invariants");
    let mut push = |s: String| {
        out.extend_from_slice(s.as_bytes());
        out.push(b'\n');
    };
    push(format!(
        "dim {} len {} bindings {}",
        e.dim(),
        e.len(),
        g.binding_count()
    ));
    for (_, id, n) in g.episodes() {
        let ep = e.get(id).unwrap();
        let emb: Vec<u32> = e
            .embedding(id)
            .unwrap()
            .iter()
            .map(|x| x.to_bits())
            .collect();
        push(format!(
            "{id} ts{} s{} str{:08x} c{:08x} r{} la{} p{:?} prev{:?} next{:?} b{:?} v{:?}",
            ep.timestamp,
            ep.stream,
            ep.strength.to_bits(),
            ep.confidence.to_bits(),
            ep.rehearsals,
            ep.last_access,
            ep.payload,
            n.prev(),
            n.next(),
            n.bindings(),
            emb
        ));
    }
    for c in g.concept_ids() {
        let con = e.concept(c).unwrap();
        let cen: Vec<u32> = e.centroid(c).unwrap().iter().map(|x| x.to_bits()).collect();
        let n = g.concept_node(c).unwrap();
        let mut members: Vec<_> = n.members().map(|(e, s)| (e, s.to_bits())).collect();
        members.sort();
        let mut links: Vec<_> = n.links().iter().map(|(o, w)| (*o, w.to_bits())).collect();
        links.sort();
        push(format!("{con:?} {cen:?} m{members:?} l{links:?}"));
    }
    // Ids are never reused: the next ids are part of the state.
    let mut probe = e.clone();
    let v = vec![1.0; e.dim()];
    push(format!(
        "next {:?}",
        probe.remember(&v, EpisodeMeta::default()).unwrap()
    ));
    let c = engram::persist::add_concept(&mut probe, &v, NewConcept::default()).unwrap();
    push(format!("next {c:?}"));
    for id in e.import_ids() {
        push(format!("import {id} {:?}", e.import_ledger(&id)));
    }
    let _ = MemoryNode::Episode(EpisodeId(0));
    out
}

/// A deterministic embedding for an id.
pub fn vec_for(id: u64, dim: usize) -> Vec<f32> {
    let mut r = ChaCha8Rng::seed_from_u64(id ^ 0x9e37_79b9);
    (0..dim).map(|_| r.random_range(-1.0f32..1.0)).collect()
}

/// Fills a store with episodes (payloads, several streams, some forgotten), concepts,
/// bindings, links and changed node fields; some of it checkpointed, some only logged.
pub fn populate(s: &mut DurableEngram, seed: u64) {
    let dim = s.dim();
    let mut r = ChaCha8Rng::seed_from_u64(seed);
    let mut ids = Vec::new();
    for b in 0..6 {
        let n = r.random_range(1..20);
        let mut rows = Vec::new();
        let mut metas = Vec::new();
        for i in 0..n {
            rows.extend(vec_for(r.random(), dim));
            let mut m = EpisodeMeta::at(b * 100 + i).with_stream(r.random_range(0..3));
            m.confidence = r.random_range(0.0..1.0);
            m.payload = match i % 3 {
                0 => None,
                1 => Some(Payload::Text(format!("text {b}/{i} ✓"))),
                _ => Some(Payload::Bytes(vec![b as u8, i as u8, 0, 255])),
            };
            metas.push(m);
        }
        ids.extend(s.remember_batch(&rows, metas).unwrap());
    }
    for k in (0..ids.len()).step_by(7) {
        s.forget(ids[k]).unwrap();
    }
    let mut concepts = Vec::new();
    for _ in 0..4 {
        let c = NewConcept {
            coherence: r.random(),
            members: r.random_range(0..100),
            strength: r.random(),
            ..NewConcept::default()
        };
        concepts.push(s.add_concept(&vec_for(r.random(), dim), c).unwrap());
    }
    // An import batch before the checkpoint (saved in the snapshot's ledger section).
    s.import_batch(
        "import-a",
        r#"{"at":1}"#,
        &[vec_for(11, dim), vec_for(12, dim)].concat(),
        vec![
            EpisodeMeta::at(700),
            EpisodeMeta::at(701).with_payload("imported"),
        ],
        &[(vec_for(13, dim), NewConcept::default())],
    )
    .unwrap();
    let live: Vec<EpisodeId> = ids
        .iter()
        .copied()
        .filter(|id| s.get(*id).is_ok())
        .collect();
    let seed2 = r.random::<u64>();
    let (live2, concepts2) = (live.clone(), concepts.clone());
    s.mutate_and_checkpoint(move |e| {
        let mut r = ChaCha8Rng::seed_from_u64(seed2);
        let g = graph_mut(e);
        for (i, id) in live2.iter().enumerate() {
            for c in &concepts2 {
                if r.random_bool(0.4) {
                    g.bind(*id, *c, r.random());
                }
            }
            if let Some(n) = g.episode_node_mut(*id) {
                n.strength = r.random();
                n.rehearsals = i as u32;
                n.last_access += 1000;
            }
        }
        g.link_concepts(concepts2[0], concepts2[1], 0.5);
        g.link_concepts(concepts2[2], concepts2[1], 0.25);
        if let Some(c) = g.concept_node_mut(ConceptId(concepts2[3].0)) {
            c.concept.confirmations = 9;
        }
    })
    .unwrap();
    // After the checkpoint: logged changes only.
    let more = s
        .remember_batch(
            &[vec_for(1, dim), vec_for(2, dim)].concat(),
            vec![
                EpisodeMeta::at(5000).with_payload("after"),
                EpisodeMeta::at(5001).with_stream(2),
            ],
        )
        .unwrap();
    s.forget(live[1]).unwrap();
    s.forget(more[0]).unwrap();
    s.add_concept(&vec_for(3, dim), NewConcept::default())
        .unwrap();
    // Import batches after it (logged only): one continues import-a, one only adds concepts.
    s.import_batch(
        "import-a",
        r#"{"at":2}"#,
        &vec_for(14, dim),
        vec![EpisodeMeta::at(702)],
        &[],
    )
    .unwrap();
    s.import_batch(
        "import-b",
        "{}",
        &[],
        vec![],
        &[(vec_for(15, dim), NewConcept::default())],
    )
    .unwrap();
}

/// Every file of a directory (name → bytes), to prove a path changed nothing.
pub fn files(dir: &std::path::Path) -> std::collections::BTreeMap<String, Vec<u8>> {
    std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap())
        .filter(|e| e.path().is_file())
        .map(|e| {
            (
                e.file_name().to_string_lossy().into_owned(),
                std::fs::read(e.path()).unwrap(),
            )
        })
        .collect()
}
