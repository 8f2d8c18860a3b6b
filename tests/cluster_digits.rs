//! Handwritten digits (UCI / scikit-learn): k = 10 on the raw pixels, mean ARI over 10 seeds.
//! The published reference (scikit-learn Euclidean k-means++, one init) is ARI ≈ 0.64.

use engram::cluster::{
    adjusted_rand_index, normalize_rows, normalized_mutual_info, KMeansParams, Metric,
};

mod common;

/// The digits from the repository's `data/digits` (a missing file fails the test).
fn load() -> (Vec<f32>, Vec<i32>) {
    let px = common::read_f32("digits/pixels.f32");
    let lb = std::fs::read(common::data_dir().join("digits/labels.i32")).expect("labels.i32");
    let lb = lb
        .chunks_exact(4)
        .map(|b| i32::from_le_bytes([b[0], b[1], b[2], b[3]]))
        .collect();
    (px, lb)
}

fn mean_scores(data: &[f32], truth: &[i32], metric: Metric) -> (f64, f64) {
    let (mut ari, mut nmi) = (0.0, 0.0);
    for seed in 0..10 {
        let m = KMeansParams::new(10)
            .metric(metric)
            .seed(seed)
            .fit(data, 64)
            .expect("fit");
        ari += adjusted_rand_index(&m.labels, truth).expect("ari");
        nmi += normalized_mutual_info(&m.labels, truth).expect("nmi");
    }
    (ari / 10.0, nmi / 10.0)
}

#[test]
fn digits_k10_mean_ari_over_10_seeds() {
    let (pixels, truth) = load();
    assert_eq!(pixels.len(), 1797 * 64);
    let (e_ari, e_nmi) = mean_scores(&pixels, &truth, Metric::Euclidean);
    let mut unit = pixels.clone();
    normalize_rows(&mut unit, 64).expect("normalise");
    let (s_ari, s_nmi) = mean_scores(&unit, &truth, Metric::Spherical);
    println!(
        "digits Euclidean: ARI {e_ari:.4} NMI {e_nmi:.4}; spherical: ARI {s_ari:.4} NMI {s_nmi:.4}"
    );
    // Default init (k-means‖), one initialisation, as the reference.
    assert!(e_ari >= 0.64, "Euclidean mean ARI {e_ari}");
    assert!(s_ari >= 0.64, "spherical mean ARI {s_ari}");
    assert!(e_nmi >= 0.70 && s_nmi >= 0.70);
}
