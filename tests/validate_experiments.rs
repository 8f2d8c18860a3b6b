//! Every validation experiment through the library, with its figures asserted.

use engram::validate::{self, drm, fan, prototype, retention, semantic_ann};

#[test]
fn fan_latency_rises_about_70ms_per_fact() {
    let m = fan::measure(7).unwrap();
    assert_eq!(m.accuracy, 1.0);
    let l = m.latency_ms;
    assert!(l[0] < l[1] && l[1] < l[2], "{l:?}");
    let r = validate::correlation(&l, &fan::PUBLISHED_MS);
    assert!(r >= 0.8, "correlation {r}");
    let per_fact = (l[2] - l[0]) / 2.0;
    assert!((40.0..=110.0).contains(&per_fact), "{per_fact} ms per fact");
    for (a, b) in l.iter().zip(fan::PUBLISHED_MS) {
        assert!((a - b).abs() < 40.0, "{a} vs {b}");
    }
    assert!(fan::run(7).unwrap().pass);
}

#[test]
fn drm_lures_recalled_and_recognised() {
    let o = validate::Options::default();
    let m = drm::measure(&drm::DrmParams::new(&o.drm_dir, &o.lexicon_dir)).unwrap();
    assert!((0.40..=0.65).contains(&m.lure_recall), "{m:?}");
    assert!(
        m.lure_old >= 0.6 && (m.lure_old - m.studied_old).abs() <= 0.3,
        "{m:?}"
    );
    assert!(m.unrelated_old < 0.2 && m.unrelated_tested > 100, "{m:?}");
    assert!(!m.lures_recalled.contains(&"man".to_string()), "{m:?}");
}

#[test]
fn prototype_recognised_like_studied_items() {
    let m = prototype::measure(7).unwrap();
    assert!(m.prototype.0 >= m.new_distortion.0 + 0.1, "{m:?}");
    assert!(m.prototype.0 >= m.studied.0 - 0.15, "{m:?}");
    assert!(m.unrelated.1 < 0.2, "{m:?}");
}

#[test]
fn spaced_rehearsal_beats_massed() {
    let ((rm, sm), (rs, ss)) = retention::spacing_figures(7).unwrap();
    assert!(rs > rm && ss > sm, "massed {rm}/{sm} spaced {rs}/{ss}");
}

#[test]
fn forgetting_follows_the_configured_curve() {
    let (ours, curve) = retention::forgetting_curve(7).unwrap();
    for (a, b) in ours.iter().zip(&curve) {
        assert!((a - b).abs() < 1e-4);
    }
    assert!(ours.windows(2).all(|w| w[1] < w[0]));
    let r = validate::correlation(&ours, &retention::EBBINGHAUS_SAVINGS);
    assert!(r >= 0.95, "{r}");
}

#[test]
fn semantic_recall_rises_with_probes_to_exact() {
    let mut p = semantic_ann::AnnParams::small(3);
    p.n = 10_000;
    p.clusters = 100;
    p.concepts = 100;
    p.queries = 100;
    p.probes = vec![1, 3, 10, 100];
    let rep = semantic_ann::run(&p).unwrap();
    let r: Vec<f64> = rep.points.iter().map(|x| x.recall).collect();
    assert!(r.windows(2).all(|w| w[1] >= w[0]), "{r:?}");
    assert_eq!(*r.last().unwrap(), 1.0);
    assert!(r[0] >= 0.5, "{r:?}");
    assert!(rep.result.pass);
}
