//! Discovering k on synthetic data.

use engram::cluster::{adjusted_rand_index, normalized_mutual_info, DiscoverParams, ParamsError};
use engram::synth::SynthParams;

#[test]
fn discovers_k_on_20k_x_384_with_100_clusters() {
    let d = SynthParams::new(20_000, 384, 100)
        .seed(11)
        .check()
        .expect("params")
        .generate();
    let model = DiscoverParams::new()
        .seed(3)
        .fit(&d.data, 384)
        .expect("fit");
    let ari = adjusted_rand_index(&model.labels, &d.labels).expect("ari");
    let nmi = normalized_mutual_info(&model.labels, &d.labels).expect("nmi");
    println!("discovered k = {}, ARI {ari:.4}, NMI {nmi:.4}", model.k);
    assert!(ari >= 0.95, "ARI {ari} with k = {}", model.k);
}

#[test]
fn discovers_k_with_zipf_sizes() {
    let d = SynthParams::new(10_000, 128, 20)
        .sizes(engram::synth::Sizes::Zipf { exponent: 1.0 })
        .seed(5)
        .check()
        .expect("params")
        .generate();
    let model = DiscoverParams::new()
        .seed(1)
        .fit(&d.data, 128)
        .expect("fit");
    let ari = adjusted_rand_index(&model.labels, &d.labels).expect("ari");
    println!("zipf: discovered k = {}, ARI {ari:.4}", model.k);
    assert!(ari >= 0.95, "ARI {ari} with k = {}", model.k);
}

#[test]
fn discover_params_errors() {
    assert_eq!(
        DiscoverParams::new().max_k(0).check().err(),
        Some(ParamsError::ZeroK)
    );
    assert!(matches!(
        DiscoverParams::new().merge_threshold(1.5).check(),
        Err(ParamsError::OutOfRange {
            name: "merge_threshold",
            ..
        })
    ));
}
