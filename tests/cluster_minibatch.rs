//! Mini-batch / streaming k-means.

use engram::cluster::{
    adjusted_rand_index, KMeansParams, Metric, MiniBatchKMeans, MiniBatchParams,
};
use engram::synth::SynthParams;

#[test]
fn minibatch_converges_toward_batch_solution() {
    let d = SynthParams::new(20_000, 128, 40)
        .seed(8)
        .check()
        .expect("params")
        .generate();
    let batch = KMeansParams::new(40)
        .seed(1)
        .fit(&d.data, 128)
        .expect("batch");
    let mb = MiniBatchParams::new(40)
        .batch_size(1024)
        .max_iter(60)
        .seed(1)
        .fit(&d.data, 128)
        .expect("mb");
    let labels = mb.predict(&d.data).expect("predict").labels;
    let vs_batch = adjusted_rand_index(&labels, &batch.labels).expect("ari");
    let vs_truth = adjusted_rand_index(&labels, &d.labels).expect("ari");
    println!("mini-batch ARI vs batch {vs_batch:.4}, vs truth {vs_truth:.4}");
    assert!(vs_batch >= 0.95, "ARI vs batch {vs_batch}");
    // Deterministic.
    let again = MiniBatchParams::new(40)
        .batch_size(1024)
        .max_iter(60)
        .seed(1)
        .fit(&d.data, 128)
        .expect("mb");
    assert_eq!(mb, again);
}

#[test]
fn streaming_updates_from_existing_centroids() {
    let s = SynthParams::new(12_000, 64, 10)
        .seed(2)
        .check()
        .expect("params");
    let mut chunks = s.chunks(2_000);
    let first = chunks.next().expect("chunk");
    let start = KMeansParams::new(10)
        .seed(0)
        .fit(&first.data, 64)
        .expect("fit");
    let mut model =
        MiniBatchKMeans::from_centroids(start.centroids, 64, Metric::Spherical).expect("model");
    for c in chunks {
        let a = model.partial_fit(&c.data).expect("partial_fit");
        assert_eq!(a.labels.len(), c.labels.len());
    }
    assert_eq!(model.counts.iter().sum::<u64>(), 10_000);
    let all = s.generate();
    let labels = model.predict(&all.data).expect("predict").labels;
    let ari = adjusted_rand_index(&labels, &all.labels).expect("ari");
    assert!(ari >= 0.95, "ARI {ari}");
    assert!(model.partial_fit(&[1.0; 63]).is_err());
    assert!(MiniBatchParams::new(3).batch_size(0).check().is_err());
}
