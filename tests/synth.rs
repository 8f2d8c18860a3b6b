//! Synthetic streams: determinism, chunking, sizes, geometry.

use engram::synth::{Order, Sizes, SynthParams};

#[test]
fn chunking_does_not_change_rows_and_seed_matters() {
    let s = SynthParams::new(5_003, 32, 7)
        .drift(0.3)
        .drift_step(1_000)
        .seed(9)
        .check()
        .expect("p");
    let whole = s.generate();
    for chunk in [1usize, 17, 1_000, 10_000] {
        let mut data = Vec::new();
        let mut labels = Vec::new();
        let mut next = 0;
        for c in s.chunks(chunk) {
            assert_eq!(c.start, next);
            next += c.labels.len();
            data.extend(c.data);
            labels.extend(c.labels);
        }
        assert_eq!(data, whole.data);
        assert_eq!(labels, whole.labels);
    }
    let other = SynthParams::new(5_003, 32, 7)
        .seed(10)
        .check()
        .expect("p")
        .generate();
    assert_ne!(other.data, whole.data);
}

#[test]
fn sizes_order_and_geometry() {
    let dim = 256;
    let s = SynthParams::new(10_000, dim, 10)
        .seed(1)
        .check()
        .expect("p");
    assert_eq!(s.sizes(), vec![1_000; 10]);
    let d = s.generate();
    let mut counts = [0usize; 10];
    d.labels.iter().for_each(|&l| counts[l as usize] += 1);
    assert_eq!(counts, [1_000; 10]);
    // Shuffled: the first 100 rows are not all one cluster.
    assert!(d.labels[..100].iter().any(|&l| l != d.labels[0]));
    // Unit rows; cosine to their centre about 1/√2 with σ² = 1/dim.
    let mut mean_cos = 0.0;
    for (x, &l) in d.data.chunks(dim).zip(&d.labels) {
        let norm: f32 = x.iter().map(|v| v * v).sum::<f32>().sqrt();
        assert!((norm - 1.0).abs() < 1e-5);
        let c = &s.centres()[l as usize * dim..(l as usize + 1) * dim];
        mean_cos += x.iter().zip(c).map(|(a, b)| a * b).sum::<f32>() as f64;
    }
    mean_cos /= 10_000.0;
    assert!(
        (mean_cos - std::f64::consts::FRAC_1_SQRT_2).abs() < 0.02,
        "mean cosine {mean_cos}"
    );
    let blocked = SynthParams::new(10_000, dim, 10)
        .order(Order::Blocked)
        .check()
        .expect("p")
        .generate();
    assert!(blocked.labels.windows(2).all(|w| w[0] <= w[1]));
    let zipf = SynthParams::new(1_000, 8, 4)
        .sizes(Sizes::Zipf { exponent: 1.0 })
        .check()
        .expect("p");
    assert_eq!(zipf.sizes().iter().sum::<usize>(), 1_000);
    assert_eq!(zipf.sizes(), vec![480, 240, 160, 120]);
}

#[test]
fn bad_params() {
    assert!(SynthParams::new(0, 4, 1).check().is_err());
    assert!(SynthParams::new(10, 0, 1).check().is_err());
    assert!(SynthParams::new(10, 4, 11).check().is_err());
    assert!(SynthParams::new(10, 4, 0).check().is_err());
    assert!(SynthParams::new(10, 4, 2).sigma2(-1.0).check().is_err());
}
