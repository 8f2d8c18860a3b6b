//! The concept lists of the semantic pathway (`search_semantic`, `search_semantic_batch`):
//! every list equals its concept's bindings after every kind of change, the unassigned tail
//! holds exactly the live unbound episodes, results equal an independent f64 reference of the
//! same inverted-file search, batches equal single queries, on real and overlapping synthetic
//! data.

mod common;

use std::collections::BTreeSet;

use engram::consolidation::{ClusterCount, ConsolidationConfig, ForgettingCurve};
use engram::synth::{Sizes, SynthData, SynthParams};
use engram::{BackendChoice, Config, Engram, EpisodeId, EpisodeMeta, IndexList, Scored};

fn engine(dim: usize, cc: ConsolidationConfig) -> Engram {
    Engram::new(
        Config::new(dim)
            .backend(BackendChoice::Cpu)
            .consolidation(cc),
    )
    .expect("engine")
}

/// Overlapping synthetic clusters: `σ² = spread / dim`, Zipf sizes (exponent `zipf`, or equal
/// sizes with `None`).
fn clusters(
    n: usize,
    dim: usize,
    k: usize,
    spread: f64,
    zipf: Option<f64>,
    seed: u64,
) -> SynthData {
    let mut p = SynthParams::new(n, dim, k)
        .sigma2(spread / dim as f64)
        .seed(seed);
    if let Some(exponent) = zipf {
        p = p.sizes(Sizes::Zipf { exponent });
    }
    p.check().expect("synth").generate()
}

/// Consolidation into exactly `k` concepts, every cluster kept.
fn fixed(k: usize, seed: u64) -> ConsolidationConfig {
    ConsolidationConfig::default()
        .clusters(ClusterCount::Fixed(k))
        .min_coherence(0.0)
        .min_cluster_size(1)
        .seed(seed)
}

fn feed(e: &mut Engram, rows: &[f32], t: u64) -> Vec<EpisodeId> {
    let n = rows.len() / e.dim();
    e.remember_batch(rows, vec![EpisodeMeta::at(t); n])
        .expect("remember")
}

/// Live episodes bound to no concept, from the graph.
fn unbound(e: &Engram) -> BTreeSet<u64> {
    e.graph()
        .episodes()
        .filter(|(_, _, n)| n.bindings().is_empty())
        .map(|(_, id, _)| id.0)
        .collect()
}

/// Checks every list against the graph through the public API: the index's lists of each
/// concept hold exactly its members, each once; searching from a list's own routing centroid
/// with one probe and `k` = everything returns exactly that list and the unbound episodes,
/// each once, with their exact cosines; the statistics count one entry per binding and the
/// tail.
fn check_lists(e: &Engram, what: &str) {
    let tail = unbound(e);
    let stats = e.concept_list_stats();
    assert!(stats.built, "{what}");
    assert_eq!(stats.lists, e.graph().concept_count(), "{what}: lists");
    assert_eq!(stats.entries, e.graph().binding_count(), "{what}: entries");
    assert_eq!(stats.tail, tail.len(), "{what}: tail");
    let index = e.concept_index();
    for c in e.concepts() {
        let mut got: Vec<u64> = index
            .iter()
            .filter(|l| l.concept == c.id)
            .flat_map(|l| l.episodes.iter().map(|id| id.0))
            .collect();
        got.sort_unstable();
        let want: Vec<u64> = e
            .members(c.id)
            .expect("members")
            .into_iter()
            .map(|(id, _)| id.0)
            .collect::<BTreeSet<u64>>()
            .into_iter()
            .collect();
        assert_eq!(got, want, "{what}: the lists of concept {:?}", c.id);
    }
    let all = e.graph().episode_count();
    for l in &index {
        // The probe must land on this list (skip lists whose centroid is as near another's).
        let ranked = rank_lists(&index, &l.centroid);
        if ranked.len() > 1 && ranked[1].1 >= ranked[0].1 - 1e-6 {
            continue;
        }
        assert!(std::ptr::eq(ranked[0].0, l), "{what}");
        let got = e
            .search_semantic(&l.centroid, all.max(1), 1)
            .expect("search");
        let ids: Vec<u64> = got.iter().map(|h| h.id.0).collect();
        let set: BTreeSet<u64> = ids.iter().copied().collect();
        assert_eq!(set.len(), ids.len(), "{what}: an episode returned twice");
        let mut want: BTreeSet<u64> = l.episodes.iter().map(|id| id.0).collect();
        want.extend(&tail);
        assert_eq!(set, want, "{what}: list {:?}/{:?}", l.concept, l.part);
        for h in got.iter().take(20) {
            let v = e.embedding(h.id).expect("row");
            let cos = common::gpu::dot64(&v, &l.centroid) / norm(&l.centroid);
            assert!((h.score as f64 - cos).abs() < 1e-5, "{what}: score");
        }
    }
}

/// The lists of the index by f64 cosine of their routing centroids to `q`, nearest first
/// (ties by concept, then part).
fn rank_lists<'a>(index: &'a [IndexList], q: &[f32]) -> Vec<(&'a IndexList, f64)> {
    let qn = norm(q);
    let mut v: Vec<(&IndexList, f64)> = index
        .iter()
        .map(|l| {
            (
                l,
                common::gpu::dot64(&l.centroid, q) / (qn * norm(&l.centroid)),
            )
        })
        .collect();
    v.sort_by(|a, b| {
        b.1.total_cmp(&a.1)
            .then(a.0.concept.cmp(&b.0.concept))
            .then(a.0.part.cmp(&b.0.part))
    });
    v
}

fn norm(v: &[f32]) -> f64 {
    v.iter().map(|&x| x as f64 * x as f64).sum::<f64>().sqrt()
}

#[test]
fn lists_follow_every_kind_of_change() {
    let dim = 24;
    let data = clusters(1_200, dim, 8, 2.0, Some(1.0), 3);
    let cc = fixed(8, 5)
        // Fast decay, so that bindings are pruned within a few cycles.
        .forgetting(ForgettingCurve::Exponential { half_life: 10.0 })
        .prune_below(0.2);
    let mut e = engine(dim, cc);
    let rows = &data.data;
    // Episodes before any concept: everything is the tail, and the first search builds.
    let first = feed(&mut e, &rows[..300 * dim], 0);
    assert!(!e.concept_list_stats().built || e.concept_list_stats().tail == 300);
    check_lists(&e, "before any cycle");
    // A cold cycle creates concepts (soft membership puts some episodes in two lists).
    e.consolidate(1).expect("cycle");
    check_lists(&e, "after the first cycle");
    // Appends between cycles join the tail; a warm cycle updates the concepts.
    feed(&mut e, &rows[300 * dim..700 * dim], 2);
    check_lists(&e, "appends before a cycle");
    e.consolidate(3).expect("cycle");
    check_lists(&e, "after a warm cycle");
    // Forgotten episodes leave their lists (and the tail).
    for id in first.iter().step_by(7) {
        e.forget(*id).expect("forget");
    }
    check_lists(&e, "after forgetting");
    e.compact();
    check_lists(&e, "after compaction");
    // Cycles long after: bindings decay below the threshold and are pruned (asserted below);
    // new rows form or update concepts. (Whether a proto-concept fades away here is not
    // forced; if one does, `check_lists` checks that its list is gone.)
    let mut pruned = false;
    for (i, t) in [200u64, 400, 600].into_iter().enumerate() {
        let before = e.graph().binding_count();
        let lo = 700 + i * 150;
        feed(&mut e, &rows[lo * dim..(lo + 150) * dim], t);
        let report = e.consolidate(t + 1).expect("cycle");
        pruned |= report.bindings_pruned > 0 || e.graph().binding_count() < before;
        check_lists(&e, &format!("after late cycle {i}"));
    }
    assert!(
        pruned,
        "the decay never pruned a binding: the test does not test pruning"
    );
    // Several kinds of change between two searches: forget, a cycle, compaction.
    let live: Vec<EpisodeId> = e.graph().episodes().map(|(_, id, _)| id).collect();
    for id in live.iter().step_by(5) {
        e.forget(*id).expect("forget");
    }
    feed(&mut e, &rows[1_150 * dim..1_200 * dim], 700);
    e.consolidate(701).expect("cycle");
    for id in live.iter().skip(1).step_by(9) {
        let _ = e.forget(*id);
    }
    e.compact();
    feed(&mut e, &rows[..10 * dim], 702);
    check_lists(&e, "after forget, a cycle, forget, compaction and appends");
    assert!(e.graph().binding_count() > 0);
}

/// An independent reference of the same search: the `probes` lists whose routing centroids
/// are nearest (f64), the union of their episodes and every unbound episode, the exact f64
/// top-k.
fn reference(
    e: &Engram,
    index: &[IndexList],
    q: &[f32],
    k: usize,
    probes: usize,
) -> Vec<(u64, f64)> {
    let qn = norm(q);
    let mut cand: BTreeSet<u64> = unbound(e);
    for (l, _) in rank_lists(index, q).into_iter().take(probes) {
        cand.extend(l.episodes.iter().map(|id| id.0));
    }
    let mut s: Vec<(u64, f64)> = cand
        .into_iter()
        .map(|id| {
            // The stored row as it is (an f16 row is not renormalised, as the engine scores it).
            let v = e.embedding(EpisodeId(id)).expect("row");
            (id, common::gpu::dot64(&v, q) / qn)
        })
        .collect();
    s.sort_by(|a, b| b.1.total_cmp(&a.1).then(a.0.cmp(&b.0)));
    s.truncate(k);
    s
}

/// `got` equals the reference: the same scores within 1e-5 rank by rank, the same ids except
/// where the reference's scores are within 1e-5 of a tie.
fn assert_matches(got: &[Scored<EpisodeId>], want: &[(u64, f64)], what: &str) {
    assert_eq!(got.len(), want.len(), "{what}: length");
    for (i, (g, w)) in got.iter().zip(want).enumerate() {
        assert!(
            (g.score as f64 - w.1).abs() < 1e-5,
            "{what}: rank {i}: {} vs {}",
            g.score,
            w.1
        );
        if g.id.0 != w.0 {
            let tie = want
                .iter()
                .any(|x| x.0 == g.id.0 && (x.1 - w.1).abs() < 1e-5);
            let last = (want[want.len() - 1].1 - g.score as f64).abs() < 1e-5;
            assert!(tie || last, "{what}: rank {i}: id {} vs {}", g.id.0, w.0);
        }
    }
}

/// The semantic search equals the reference, single and batched, at several probe counts and
/// k; recall against exact search never falls as probes rise, and is 1 with every concept.
fn check_against_reference(e: &Engram, queries: &[f32], what: &str) {
    let dim = e.dim();
    let index = e.concept_index();
    let n_concepts = index.len();
    for &k in &[1usize, 10, 100] {
        for &probes in &[1usize, 3, n_concepts / 4, n_concepts] {
            let probes = probes.max(1);
            let batch = e.search_semantic_batch(queries, k, probes).expect("batch");
            for (j, q) in queries.chunks_exact(dim).enumerate() {
                let want = reference(e, &index, q, k, probes);
                let single = e.search_semantic(q, k, probes).expect("single");
                let w = format!("{what}, k {k}, probes {probes}, query {j}");
                assert_matches(&single, &want, &format!("{w} (single)"));
                assert_matches(&batch[j], &want, &format!("{w} (batch)"));
            }
        }
    }
    // Recall@10 against exact search: monotone in probes, 1 when every concept is probed.
    let mut last = vec![0.0f64; queries.len() / dim];
    for probes in [1, 2, 4, 8, n_concepts] {
        let got = e
            .search_semantic_batch(queries, 10, probes.min(n_concepts))
            .expect("batch");
        for (j, q) in queries.chunks_exact(dim).enumerate() {
            let exact: Vec<u64> = e
                .search(q, 10)
                .expect("exact")
                .iter()
                .map(|h| h.id.0)
                .collect();
            let ids: Vec<u64> = got[j].iter().map(|h| h.id.0).collect();
            let r = common::recall(&exact, &ids);
            assert!(r + 1e-9 >= last[j], "{what}: recall fell with more probes");
            last[j] = r;
        }
    }
    assert!(
        last.iter().all(|&r| r == 1.0),
        "{what}: every concept probed"
    );
}

#[test]
fn equals_the_reference_on_real_vectors() {
    // 10,000 MiniLM word vectors (real data): the first 3,000, 40 concepts.
    let lex = common::read_f32("lexicon/vectors.f32");
    let dim = 384;
    let n = 3_000;
    let cc = fixed(40, 1).max_iter(10);
    let mut e = engine(dim, cc);
    feed(&mut e, &lex[..n * dim], 0);
    e.consolidate(1).expect("cycle");
    // Appends after the cycle stay in the tail and must be found.
    feed(&mut e, &lex[n * dim..(n + 100) * dim], 2);
    assert_eq!(e.concept_list_stats().tail, unbound(&e).len());
    assert!(e.concept_list_stats().tail >= 100);
    // Queries: other words of the lexicon (never stored).
    let queries = &lex[5_000 * dim..5_012 * dim];
    check_against_reference(&e, queries, "lexicon");
}

#[test]
fn equals_the_reference_on_overlapping_clusters() {
    // Overlapping clusters (σ² = 3/d, Zipf sizes), f32 and f16 storage.
    let dim = 48;
    let data = clusters(4_000, dim, 30, 3.0, Some(1.0), 11);
    let cc = fixed(30, 2).max_iter(10);
    for storage in [engram::Precision::F32, engram::Precision::F16] {
        let mut e = Engram::new(
            Config::new(dim)
                .backend(BackendChoice::Cpu)
                .precision(storage)
                .consolidation(cc.clone()),
        )
        .expect("engine");
        feed(&mut e, &data.data[..3_900 * dim], 0);
        e.consolidate(1).expect("cycle");
        // 8,192+ candidate rows take the parallel single-query path at every-concept probes.
        let queries = &data.data[3_900 * dim..3_916 * dim];
        check_against_reference(&e, queries, &format!("synthetic {storage:?}"));
    }
}

#[test]
fn giant_concepts_are_split_for_routing() {
    // 20 overlapping clusters of 150; the first eight form one giant concept of 1,200 members
    // (more than four times the mean list size), the others one concept each.
    let dim = 48;
    let data = clusters(3_000, dim, 20, 2.0, None, 4);
    let mut e = engine(dim, ConsolidationConfig::default());
    let ids = feed(&mut e, &data.data, 0);
    let groups = 13;
    let group = |label: u32| (label as usize).saturating_sub(7);
    for g in 0..groups {
        let members: Vec<(EpisodeId, f32)> = ids
            .iter()
            .zip(&data.labels)
            .filter(|(_, &l)| group(l) == g)
            .map(|(&id, _)| (id, 1.0))
            .collect();
        let mut centroid = vec![0.0f32; dim];
        for (id, _) in &members {
            let v = e.embedding(*id).expect("row");
            centroid.iter_mut().zip(&v).for_each(|(c, x)| *c += x);
        }
        e.insert_concept_with_members(&centroid, &members)
            .expect("concept");
    }
    let stats = e.concept_list_stats();
    assert_eq!(stats.split_lists, 1, "{stats:?}");
    assert_eq!(stats.size_max, 1_200, "{stats:?}");
    // The giant's parts are about the mean size: no probe reads a fifth of the store.
    let index = e.concept_index();
    let parts: Vec<usize> = index
        .iter()
        .filter(|l| l.part.is_some())
        .map(|l| l.episodes.len())
        .collect();
    assert_eq!(
        parts.len(),
        1_200usize.div_ceil(3_000usize.div_ceil(groups))
    );
    assert!(stats.max_probe_share < 0.2, "{stats:?} {parts:?}");
    check_lists(&e, "a split giant");
    check_against_reference(&e, &data.data[..16 * dim], "split giant");
    check_int8(&e, &data.data[..8 * dim], "split giant");
    // Any number of probes: everything (no overflow past the lists there are).
    let q = &data.data[..dim];
    let all = e.search_semantic(q, 50, index.len()).expect("all");
    assert_eq!(e.search_semantic(q, 50, usize::MAX).expect("huge"), all);
    assert_eq!(
        e.search_semantic_batch(q, 50, usize::MAX).expect("huge")[0],
        all
    );
    // Forgetting half of the giant's members shrinks it below the cap: it is whole again.
    for (id, l) in ids.iter().zip(&data.labels) {
        if *l < 8 && id.0 % 2 == 0 {
            e.forget(*id).expect("forget");
        }
    }
    let stats = e.concept_list_stats();
    assert_eq!(stats.split_lists, 0, "{stats:?}");
    check_lists(&e, "after the giant shrank");
}

#[test]
fn concurrent_searches_on_stale_lists_do_not_deadlock() {
    use rayon::prelude::*;
    let dim = 32;
    let data = clusters(3_000, dim, 12, 2.0, None, 9);
    let cc = fixed(12, 3);
    let mut e = engine(dim, cc);
    feed(&mut e, &data.data[..2_500 * dim], 0);
    e.consolidate(1).expect("cycle");
    // Lists never built, then stale after appends: many searches at once on the rayon pool,
    // each of which may rebuild them (in parallel, stealing the others' jobs).
    for round in 0..3 {
        if round > 0 {
            let lo = 2_500 + round * 100;
            feed(&mut e, &data.data[lo * dim..(lo + 100) * dim], round as u64);
        }
        let shared = &e;
        let got: Vec<Vec<Scored<EpisodeId>>> = (0..64)
            .into_par_iter()
            .map(|j| {
                let q = &data.data[j * dim..(j + 1) * dim];
                if j % 3 == 0 {
                    shared.search_semantic_int8(q, 10, 3, 4).expect("int8")
                } else {
                    shared.search_semantic(q, 10, 3).expect("search")
                }
            })
            .collect();
        for (j, g) in got.iter().enumerate() {
            let q = &data.data[j * dim..(j + 1) * dim];
            let want = e.search_semantic(q, 10, 3).expect("search");
            if j % 3 != 0 {
                assert_eq!(g, &want, "round {round}, query {j}");
            }
        }
        check_lists(&e, &format!("round {round}"));
    }
}

#[test]
fn bad_input_is_a_typed_error() {
    let mut e = engine(4, ConsolidationConfig::default());
    feed(&mut e, &[1.0, 0.0, 0.0, 0.0, 0.0, 1.0, 0.0, 0.0], 0);
    assert!(e
        .search_semantic_batch(&[1.0, 0.0, 0.0, 0.0], 0, 1)
        .is_err());
    assert!(e
        .search_semantic_batch(&[1.0, 0.0, 0.0, 0.0], 1, 0)
        .is_err());
    assert!(e.search_semantic_batch(&[1.0, 0.0, 0.0], 1, 1).is_err());
    assert!(e.search_semantic_batch(&[], 1, 1).is_err());
    assert!(e
        .search_semantic_batch(&[1.0, 0.0, f32::NAN, 0.0], 1, 1)
        .is_err());
    assert!(e.search_semantic_batch(&[0.0; 4], 1, 1).is_err());
    // No concept yet: the tail (everything) answers, exactly.
    let hits = e
        .search_semantic(&[1.0, 0.1, 0.0, 0.0], 2, 5)
        .expect("search");
    assert_eq!(hits.len(), 2);
    assert_eq!(hits[0].id, EpisodeId(0));
}

/// int8 lists: with every probed entry re-ranked the result is the f32 lists' result; with
/// fewer, every hit carries its exact cosine, none beats the f32 result, and recall against it
/// never falls as more candidates are re-ranked; codes follow consolidation.
fn check_int8(e: &Engram, queries: &[f32], what: &str) {
    let dim = e.dim();
    let entries = e.concept_list_stats().entries.max(1);
    for &probes in &[1usize, 4] {
        for (j, q) in queries.chunks_exact(dim).enumerate() {
            let w = format!("{what}, probes {probes}, query {j}");
            let exact = e.search_semantic(q, 10, probes).expect("f32 lists");
            let all = e
                .search_semantic_int8(q, 10, probes, entries)
                .expect("int8");
            let ids = |v: &[Scored<EpisodeId>]| v.iter().map(|h| h.id.0).collect::<Vec<_>>();
            assert_eq!(ids(&all), ids(&exact), "{w}: everything re-ranked");
            let mut last = 0.0;
            for rerank in [1usize, 2, 4, 16] {
                let got = e.search_semantic_int8(q, 10, probes, rerank).expect("int8");
                assert_eq!(got.len(), exact.len(), "{w}");
                for (g, x) in got.iter().zip(&exact) {
                    let v = e.embedding(g.id).expect("row");
                    let cos = common::gpu::dot64(&v, q) / norm(q);
                    assert!(
                        (g.score as f64 - cos).abs() < 1e-5,
                        "{w}: re-ranked exactly"
                    );
                    assert!(g.score <= x.score + 1e-6, "{w}: beats the exact lists");
                }
                let r = common::recall(&ids(&exact), &ids(&got));
                assert!(
                    r + 1e-9 >= last,
                    "{w}: recall fell from {last} to {r} at {rerank}"
                );
                last = r;
            }
        }
    }
}

#[test]
fn int8_lists_rerank_to_the_exact_result() {
    let lex = common::read_f32("lexicon/vectors.f32");
    let dim = 384;
    let cc = fixed(40, 1).max_iter(10);
    let mut e = engine(dim, cc);
    feed(&mut e, &lex[..2_500 * dim], 0);
    e.consolidate(1).expect("cycle");
    let queries = &lex[5_000 * dim..5_008 * dim];
    check_int8(&e, queries, "lexicon");
    let before = e.concept_list_stats().bytes;
    // A warm cycle: the codes of the changed lists are rewritten with the lists.
    feed(&mut e, &lex[2_500 * dim..3_500 * dim], 2);
    e.consolidate(3).expect("cycle");
    assert!(e.concept_list_stats().bytes > before);
    check_int8(&e, queries, "lexicon after a warm cycle");
    assert!(e.search_semantic_int8(&lex[..dim], 10, 1, 0).is_err());
}
