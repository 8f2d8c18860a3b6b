//! Every SIMD kernel equals the scalar kernel within tolerance, for many lengths.

use engram::compute::cpu::{scalar, search, RowChunk, Rows, SimdLevel};
use half::f16;
use proptest::prelude::*;

fn tol(a: &[f32], b: &[f32]) -> f32 {
    // Rounding of a length-n sum is bounded by n·eps·Σ|a_i b_i|.
    let mag: f32 = a.iter().zip(b).map(|(x, y)| (x * y).abs()).sum();
    1e-6 + a.len() as f32 * f32::EPSILON * mag
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn dot_matches_scalar(v in (0usize..700).prop_flat_map(|n| (
        prop::collection::vec(-10.0f32..10.0, n),
        prop::collection::vec(-10.0f32..10.0, n),
    ))) {
        let (a, b) = v;
        let want = scalar::dot(&a, &b);
        for level in SimdLevel::available() {
            let got = level.dot(&a, &b);
            prop_assert!((got - want).abs() <= tol(&a, &b), "{level:?} n={} {got} vs {want}", a.len());
        }
    }

    #[test]
    fn dot_f16_matches_scalar(v in (0usize..700).prop_flat_map(|n| (
        prop::collection::vec(-4.0f32..4.0, n),
        prop::collection::vec(-4.0f32..4.0, n),
    ))) {
        let (a, b) = v;
        let h: Vec<f16> = b.iter().map(|&x| f16::from_f32(x)).collect();
        let bw: Vec<f32> = h.iter().map(|x| x.to_f32()).collect();
        let want = scalar::dot_f16(&a, &h);
        for level in SimdLevel::available() {
            let got = level.dot_f16(&a, &h);
            prop_assert!((got - want).abs() <= tol(&a, &bw), "{level:?} n={}", a.len());
        }
        let mut conv = vec![0.0; h.len()];
        for level in SimdLevel::available() {
            level.f16_to_f32(&h, &mut conv);
            prop_assert_eq!(&conv, &bw);
        }
    }

    /// The scan, the query-blocked kernel and the GEMM tiles agree with scalar scoring.
    #[test]
    fn batch_kernels_match_scalar(dim in 1usize..70, n in 1usize..300, nq in prop::sample::select(vec![1usize, 2, 3, 9, 96, 101]), seed in 0u64..1000) {
        let mut x = seed.wrapping_mul(6364136223846793005).wrapping_add(1);
        let mut next = || { x = x.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407); ((x >> 40) as f32 / (1u64 << 24) as f32) - 0.5 };
        let rows: Vec<f32> = (0..n * dim).map(|_| next()).collect();
        let queries: Vec<f32> = (0..nq * dim).map(|_| next()).collect();
        let half: Vec<f16> = rows.iter().map(|&v| f16::from_f32(v)).collect();
        let split = n / 2;
        for (name, chunks) in [
            ("f32", vec![
                RowChunk { first_row: 0, rows: Rows::F32(&rows[..split * dim]) },
                RowChunk { first_row: split, rows: Rows::F32(&rows[split * dim..]) },
            ]),
            ("f16", vec![
                RowChunk { first_row: 0, rows: Rows::F16(&half[..split * dim]) },
                RowChunk { first_row: split, rows: Rows::F16(&half[split * dim..]) },
            ]),
        ] {
            let k = 7.min(n);
            let want = search(SimdLevel::Scalar, &chunks, dim, &queries, k, None);
            for level in SimdLevel::available() {
                let got = search(level, &chunks, dim, &queries, k, None);
                for (g, w) in got.iter().zip(&want) {
                    prop_assert_eq!(g.len(), w.len());
                    for (gh, wh) in g.iter().zip(w) {
                        prop_assert!((gh.score - wh.score).abs() <= 1e-5 * dim as f32, "{name} {level:?}");
                        if gh.id != wh.id {
                            // only near-ties may swap
                            prop_assert!((gh.score - wh.score).abs() <= 1e-5 * dim as f32);
                        }
                    }
                }
            }
        }
    }
}
