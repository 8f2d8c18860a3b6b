//! Every bad input gets a typed error and changes nothing.

use engram::{Config, ConfigError, Engram, EpisodeId, EpisodeMeta, Error, InputError};

fn store() -> Engram {
    let mut e = Engram::new(Config::new(4)).unwrap();
    e.remember_batch(&[1.0, 0.0, 0.0, 0.0, 0.0, 1.0, 0.0, 0.0], vec![])
        .unwrap();
    e
}

#[test]
fn config_errors() {
    assert!(matches!(
        Engram::new(Config::new(0)),
        Err(Error::Config(ConfigError::ZeroDimension))
    ));
    assert!(matches!(
        Config::new(100).chunk_bytes(10).check(),
        Err(ConfigError::ChunkTooSmall { .. })
    ));
}

#[test]
fn wrong_dimension() {
    let mut e = store();
    let err = e.remember(&[1.0, 2.0], EpisodeMeta::default()).unwrap_err();
    assert!(matches!(
        err,
        Error::Input(InputError::DimensionMismatch {
            expected: 4,
            got: 2,
            ..
        })
    ));
    assert!(matches!(
        e.remember_batch(&[1.0; 7], vec![]).unwrap_err(),
        Error::Input(InputError::RaggedBatch { len: 7, dim: 4 })
    ));
    assert!(matches!(
        e.search(&[1.0; 3], 1).unwrap_err(),
        Error::Input(InputError::DimensionMismatch { .. })
    ));
    assert!(e.search_batch(&[1.0; 9], 1).is_err());
    assert!(e.search_batch(&[], 1).is_err());
    assert_eq!(e.len(), 2);
}

#[test]
fn non_finite_and_zero_rows_reject_the_whole_batch() {
    let mut e = store();
    let mut rows = vec![0.5f32; 4 * 5];
    rows[3 * 4 + 2] = f32::NAN;
    let err = e.remember_batch(&rows, vec![]).unwrap_err();
    assert!(
        matches!(
            err,
            Error::Input(InputError::NonFinite { row: 3, col: 2, .. })
        ),
        "{err}"
    );
    assert!(err.to_string().contains("row 3"));
    rows[3 * 4 + 2] = f32::INFINITY;
    assert!(matches!(
        e.remember_batch(&rows, vec![]).unwrap_err(),
        Error::Input(InputError::NonFinite { row: 3, .. })
    ));
    rows[3 * 4 + 2] = 0.5;
    rows[4 * 4..].fill(0.0);
    assert!(matches!(
        e.remember_batch(&rows, vec![]).unwrap_err(),
        Error::Input(InputError::ZeroVector { row: 4 })
    ));
    assert_eq!(e.len(), 2, "nothing from a bad batch is stored");
    assert_eq!(e.episode_vectors().len(), 2);
    // The next good batch gets the next ids.
    rows[4 * 4] = 1.0;
    let ids = e.remember_batch(&rows, vec![]).unwrap();
    assert_eq!(ids[0], EpisodeId(2));
    // Tiny and huge but finite vectors are normalised, not rejected.
    e.remember(&[1e-30, 0.0, 0.0, 0.0], EpisodeMeta::default())
        .unwrap();
    e.remember(&[3e38, 3e38, 0.0, 0.0], EpisodeMeta::default())
        .unwrap();
    let v = e.embedding(EpisodeId(8)).unwrap();
    assert!((v[0] - std::f32::consts::FRAC_1_SQRT_2).abs() < 1e-6);
    assert!(matches!(
        e.search(&[0.0; 4], 1).unwrap_err(),
        Error::Input(InputError::ZeroVector { row: 0 })
    ));
    assert!(matches!(
        e.search(&[f32::NAN, 0.0, 0.0, 0.0], 1).unwrap_err(),
        Error::Input(InputError::NonFinite { .. })
    ));
}

#[test]
fn k_zero_and_k_too_large() {
    let e = store();
    assert!(matches!(
        e.search(&[1.0, 0.0, 0.0, 0.0], 0).unwrap_err(),
        Error::Input(InputError::ZeroK)
    ));
    assert_eq!(e.search(&[1.0, 0.0, 0.0, 0.0], 100).unwrap().len(), 2);
}

#[test]
fn unknown_ids_and_meta() {
    let mut e = store();
    assert!(matches!(
        e.get(EpisodeId(99)).unwrap_err(),
        Error::Input(InputError::UnknownEpisode(99))
    ));
    assert!(e.forget(EpisodeId(99)).is_err());
    e.forget(EpisodeId(0)).unwrap();
    assert!(matches!(
        e.forget(EpisodeId(0)).unwrap_err(),
        Error::Input(InputError::UnknownEpisode(0))
    ));
    assert!(e.embedding(EpisodeId(0)).is_err());
    assert!(e.concept(engram::ConceptId(0)).is_err());
    let err = e
        .remember_batch(&[1.0; 8], vec![EpisodeMeta::default()])
        .unwrap_err();
    assert!(matches!(
        err,
        Error::Input(InputError::MetaCount { rows: 2, metas: 1 })
    ));
    let err = e
        .remember(&[1.0; 4], EpisodeMeta::default().with_confidence(2.0))
        .unwrap_err();
    assert!(matches!(err, Error::Input(InputError::OutOfRange { .. })));
    assert_eq!(e.len(), 1);
}

#[test]
fn payloads_and_metadata_round_trip() {
    let mut e = Engram::new(Config::new(2)).unwrap();
    let id = e
        .remember(
            &[3.0, 4.0],
            EpisodeMeta::at(42).with_payload("hello").with_stream(7),
        )
        .unwrap();
    let ep = e.get(id).unwrap();
    assert_eq!(ep.timestamp, 42);
    assert_eq!(ep.stream, 7);
    assert_eq!(ep.payload, Some(engram::Payload::Text("hello".into())));
    let v = e.embedding(id).unwrap();
    assert!((v[0] - 0.6).abs() < 1e-7 && (v[1] - 0.8).abs() < 1e-7);
}

#[test]
fn public_types_are_send_and_sync() {
    fn check<T: Send + Sync>() {}
    check::<Engram>();
    check::<Error>();
    check::<engram::graph::Graph>();
    check::<engram::TopK>();
}

#[test]
fn concept_queries_on_an_engine_without_concepts() {
    let e = store();
    assert!(e.concepts().is_empty());
    assert!(e
        .search_concepts(&[1.0, 0.0, 0.0, 0.0], 3)
        .unwrap()
        .is_empty());
    assert!(matches!(
        e.search_concepts(&[1.0, 0.0], 3).unwrap_err(),
        Error::Input(InputError::DimensionMismatch { .. })
    ));
    assert!(matches!(
        e.members(engram::ConceptId(3)).unwrap_err(),
        Error::Input(InputError::UnknownConcept(3))
    ));
}

#[test]
fn a_bad_row_deep_in_a_large_batch_leaves_the_store_unchanged() {
    // Large enough to be written in parallel blocks and to cross a chunk boundary.
    let dim = 8;
    let mut e = Engram::new(Config::new(dim).chunk_bytes(3000 * dim * 4)).unwrap();
    let good: Vec<f32> = (0..5000 * dim)
        .map(|i| ((i % 7) as f32) - 3.0 + 0.5)
        .collect();
    e.remember_batch(&good, vec![]).unwrap();
    let before = e.search(&good[..dim], 5).unwrap();
    let mut bad = good.clone();
    bad[4321 * dim + 3] = f32::NAN;
    let err = e.remember_batch(&bad, vec![]).unwrap_err();
    assert!(
        matches!(
            err,
            Error::Input(InputError::NonFinite {
                row: 4321,
                col: 3,
                ..
            })
        ),
        "{err}"
    );
    assert_eq!(e.len(), 5000);
    assert_eq!(e.episode_vectors().len(), 5000);
    assert_eq!(e.search(&good[..dim], 5).unwrap(), before);
    let ids = e.remember_batch(&good, vec![]).unwrap();
    assert_eq!(ids[0], EpisodeId(5000));
    assert_eq!(
        e.embedding(EpisodeId(9999)).unwrap(),
        e.embedding(EpisodeId(4999)).unwrap()
    );
}

#[test]
fn a_bad_confidence_names_its_row() {
    let mut e = Engram::new(Config::new(2)).unwrap();
    let metas = vec![
        EpisodeMeta::default(),
        EpisodeMeta::default(),
        EpisodeMeta::default().with_confidence(1.5),
    ];
    let err = e.remember_batch(&[1.0; 6], metas).unwrap_err();
    assert!(
        matches!(
            err,
            Error::Input(InputError::OutOfRange {
                name: "confidence",
                row: Some(2),
                ..
            })
        ),
        "{err:?}"
    );
    assert!(err.to_string().contains("row 2"), "{err}");
    assert_eq!(e.len(), 0, "the batch is all or nothing");
    // A single episode is row 0; a call's parameter names no row.
    let err = e
        .remember(&[1.0, 0.0], EpisodeMeta::default().with_confidence(-0.5))
        .unwrap_err();
    assert!(
        matches!(
            err,
            Error::Input(InputError::OutOfRange { row: Some(0), .. })
        ),
        "{err:?}"
    );
}
