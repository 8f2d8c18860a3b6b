//! The shardable steps: shards equal the whole, gemm assignment equals brute force.

use engram::cluster::{
    assign, partial_sums, reduce, ClusterError, Init, KMeansParams, PartialSums,
};
use engram::synth::SynthParams;
use proptest::prelude::*;

#[test]
fn four_shards_equal_the_whole() {
    let dim = 128;
    let k = 30;
    let d = SynthParams::new(12_000, dim, k)
        .seed(21)
        .check()
        .expect("params")
        .generate();
    let data = &d.data;
    let start = data[..k * dim].to_vec();
    let iters = 15;
    let whole = KMeansParams::new(k)
        .init(Init::Precomputed(start.clone()))
        .max_iter(iters)
        .tolerance(0.0)
        .repair_empty(false)
        .fit(data, dim)
        .expect("fit");
    // Four unequal shards.
    let bounds = [0, 2_500, 6_100, 9_000, 12_000];
    let shards: Vec<&[f32]> = bounds
        .windows(2)
        .map(|w| &data[w[0] * dim..w[1] * dim])
        .collect();
    let mut centroids = start;
    let mut labels = Vec::new();
    for it in 0..=iters {
        let parts: Vec<_> = shards
            .iter()
            .map(|s| assign(s, dim, &centroids).expect("assign"))
            .collect();
        let new_labels: Vec<u32> = parts.iter().flat_map(|a| a.labels.clone()).collect();
        let stable = new_labels == labels;
        labels = new_labels;
        if stable || it == iters {
            break;
        }
        let mut total = PartialSums::zeros(k, dim);
        for (s, a) in shards.iter().zip(&parts) {
            total
                .merge(&a.partial_sums(s, dim, k, 0).expect("sums"))
                .expect("merge");
        }
        centroids = reduce(&total, &centroids).expect("reduce");
    }
    assert_eq!(labels, whole.labels);
    for (a, b) in centroids.chunks(dim).zip(whole.centroids.chunks(dim)) {
        let diff: f32 = a
            .iter()
            .zip(b)
            .map(|(x, y)| (x - y) * (x - y))
            .sum::<f32>()
            .sqrt();
        assert!(diff <= 1e-5, "centroid differs by {diff}");
    }
}

#[test]
fn partial_sums_errors_and_reduce_keeps_empty() {
    let data = [1.0f32, 0.0, 0.0, 1.0];
    assert!(matches!(
        partial_sums(&data, 2, &[0], 2),
        Err(ClusterError::LengthMismatch { .. })
    ));
    assert!(matches!(
        partial_sums(&data, 2, &[0, 5], 2),
        Err(ClusterError::LabelOutOfRange {
            row: 1,
            label: 5,
            k: 2
        })
    ));
    let mut a = PartialSums::zeros(2, 2);
    assert!(matches!(
        a.merge(&PartialSums::zeros(3, 2)),
        Err(ClusterError::ShapeMismatch { .. })
    ));
    let s = partial_sums(&data, 2, &[0, 0], 2).expect("sums");
    assert_eq!(s.counts, vec![2, 0]);
    let prev = [0.0f32, 1.0, 0.6, 0.8];
    let c = reduce(&s, &prev).expect("reduce");
    assert!(
        (c[0] - std::f32::consts::FRAC_1_SQRT_2).abs() < 1e-6
            && (c[1] - std::f32::consts::FRAC_1_SQRT_2).abs() < 1e-6
    );
    assert_eq!(&c[2..], &[0.6, 0.8]);
    assert!(matches!(
        reduce(&s, &prev[..2]),
        Err(ClusterError::LengthMismatch { .. })
    ));
    assert!(matches!(
        assign(&data, 2, &[]),
        Err(ClusterError::EmptyData)
    ));
    assert!(matches!(
        assign(&data, 2, &[1.0]),
        Err(ClusterError::RaggedData { .. })
    ));
    assert_eq!(
        assign(&[], 2, &prev).expect("empty").labels,
        Vec::<u32>::new()
    );
}

#[test]
fn exact_ties_go_to_the_lowest_index_across_tiles() {
    // 600 rows (three row tiles) and 1,500 centroids (two centroid tiles) where centroid 1,200
    // duplicates centroid 3.
    let dim = 16;
    let d = SynthParams::new(2_100, dim, 7)
        .seed(4)
        .check()
        .expect("params")
        .generate();
    let (rows, cents) = d.data.split_at(600 * dim);
    let mut cents = cents[..1500 * dim].to_vec();
    let dup = cents[3 * dim..4 * dim].to_vec();
    cents[1200 * dim..1201 * dim].copy_from_slice(&dup);
    let a = assign(rows, dim, &cents).expect("assign");
    assert!(a.labels.iter().all(|&l| l != 1200));
    let only = assign(&dup, dim, &cents).expect("assign");
    assert_eq!(only.labels, vec![3]);
    brute_force_agrees(rows, dim, &cents, &a.labels);
}

fn brute_force_agrees(rows: &[f32], dim: usize, cents: &[f32], labels: &[u32]) {
    for (i, x) in rows.chunks(dim).enumerate() {
        let scores: Vec<f64> = cents
            .chunks(dim)
            .map(|c| x.iter().zip(c).map(|(a, b)| *a as f64 * *b as f64).sum())
            .collect();
        let (mut best, mut arg) = (f64::NEG_INFINITY, 0);
        for (j, &s) in scores.iter().enumerate() {
            if s > best {
                best = s;
                arg = j;
            }
        }
        let got = labels[i] as usize;
        if got != arg {
            // Allowed only for a tie within f32 rounding of the dot products.
            let gap = best - scores[got];
            assert!(
                gap <= 1e-5,
                "row {i}: gemm picked {got}, brute force {arg}, gap {gap}"
            );
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]
    #[test]
    fn gemm_assignment_equals_brute_force(
        n in 1usize..300,
        dim in 1usize..48,
        k in 1usize..40,
        seed in any::<u64>(),
        unit in any::<bool>(),
    ) {
        use rand::{Rng, SeedableRng};
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(seed);
        let mut rows: Vec<f32> = (0..n * dim).map(|_| rng.random_range(-1.0f32..1.0)).collect();
        let mut cents: Vec<f32> = (0..k * dim).map(|_| rng.random_range(-1.0f32..1.0)).collect();
        if unit {
            let _ = engram::cluster::normalize_rows(&mut rows, dim);
            let _ = engram::cluster::normalize_rows(&mut cents, dim);
        }
        let a = assign(&rows, dim, &cents).expect("assign");
        prop_assert_eq!(a.labels.len(), n);
        brute_force_agrees(&rows, dim, &cents, &a.labels);
    }
}
