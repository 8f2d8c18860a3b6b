//! The top-k selection against a full sort (the independent reference): random scores with
//! many exact ties, any k (0, 1, small, larger than the input), hits offered one at a time
//! or merged from partial selections, always the same hits in the same order; and the entry
//! threshold never above the k-th best.

use engram::compute::{merge_sorted, Hit, TopK};
use proptest::prelude::*;

/// The best `k` of `hits` by sorting everything: score descending, then id ascending.
fn reference(hits: &[Hit], k: usize) -> Vec<Hit> {
    let mut v = hits.to_vec();
    v.sort_by(Hit::rank_cmp);
    v.truncate(k);
    v
}

/// Hits with scores on a coarse grid (so exact ties are common) and distinct ids.
fn hits() -> impl Strategy<Value = Vec<Hit>> {
    prop::collection::vec(-20i32..20, 0..600).prop_map(|s| {
        s.into_iter()
            .enumerate()
            .map(|(i, x)| Hit {
                score: x as f32 / 16.0,
                id: (i as u64).wrapping_mul(2_654_435_761) % 1_000_003,
            })
            .collect()
    })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(300))]

    #[test]
    fn one_at_a_time_equals_a_full_sort(hits in hits(), k in 0usize..300) {
        let mut t = TopK::new(k);
        for (i, h) in hits.iter().enumerate() {
            t.push(h.score, h.id);
            // The threshold never exceeds the k-th best so far (nothing that belongs is cut).
            let so_far = reference(&hits[..=i], k);
            if so_far.len() == k && k > 0 {
                prop_assert!(t.threshold() <= so_far[k - 1].score);
                prop_assert_eq!(t.worst(), Some(so_far[k - 1]));
            } else {
                prop_assert_eq!(t.threshold(), f32::NEG_INFINITY);
                prop_assert_eq!(t.worst(), None);
            }
            prop_assert_eq!(t.len(), so_far.len());
            prop_assert_eq!(t.is_full(), so_far.len() >= k);
        }
        prop_assert_eq!(t.into_sorted_vec(), reference(&hits, k));
    }

    #[test]
    fn merged_parts_equal_a_full_sort(hits in hits(), k in 1usize..200, parts in 1usize..6) {
        let size = hits.len().div_ceil(parts).max(1);
        let mut whole = TopK::new(k);
        let mut sorted_parts = Vec::new();
        for part in hits.chunks(size) {
            let mut t = TopK::new(k);
            t.extend_hits(part);
            sorted_parts.push(t.clone().into_sorted_vec());
            whole.merge(t);
        }
        let want = reference(&hits, k);
        prop_assert_eq!(whole.into_sorted_vec(), want.clone());
        prop_assert_eq!(merge_sorted(sorted_parts, k), want);
    }
}

/// The best `k` distinct ids of `hits`, each with its best score (the reference of
/// [`TopK::unique`]).
fn reference_unique(hits: &[Hit], k: usize) -> Vec<Hit> {
    let mut v = hits.to_vec();
    v.sort_by(|a, b| a.id.cmp(&b.id).then(a.rank_cmp(b)));
    v.dedup_by_key(|h| h.id);
    reference(&v, k)
}

/// Hits whose ids repeat (an episode bound to several probed concepts), scores on a grid.
fn repeated_hits() -> impl Strategy<Value = Vec<Hit>> {
    prop::collection::vec((-20i32..20, 0u64..80), 0..600).prop_map(|s| {
        s.into_iter()
            .map(|(x, id)| Hit {
                score: x as f32 / 16.0,
                id,
            })
            .collect()
    })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(300))]

    #[test]
    fn unique_keeps_each_ids_best_and_equals_a_full_sort(
        hits in repeated_hits(),
        k in 0usize..100,
        parts in 1usize..4,
    ) {
        let mut t = TopK::unique(k);
        for (i, h) in hits.iter().enumerate() {
            t.push(h.score, h.id);
            let so_far = reference_unique(&hits[..=i], k);
            if so_far.len() == k && k > 0 {
                prop_assert!(t.threshold() <= so_far[k - 1].score);
            }
        }
        prop_assert_eq!(t.into_sorted_vec(), reference_unique(&hits, k));
        // Merged from partial selections (the per-thread selections of a search).
        let size = hits.len().div_ceil(parts).max(1);
        let mut whole = TopK::unique(k);
        for part in hits.chunks(size) {
            let mut p = TopK::unique(k);
            p.extend_hits(part);
            whole.merge(p);
        }
        prop_assert_eq!(whole.into_sorted_vec(), reference_unique(&hits, k));
    }
}
