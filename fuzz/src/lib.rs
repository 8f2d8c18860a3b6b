//! Shared pieces of the fuzz targets: the engine records are replayed into, and the check
//! that an error is one a damaged file may give.

use engram::persist::NewConcept;
use engram::{Config, Engram, EpisodeMeta, Error, StoreError};

/// Whether `e` is a typed error a damaged file may give (anything else is a finding).
pub fn typed(e: &Error) -> bool {
    matches!(
        e,
        Error::Store(StoreError::Corrupt { .. } | StoreError::Version { .. })
    )
}

/// The dimension of the fuzzed stores.
pub const DIM: usize = 4;

/// A small engine (episodes with payloads, two concepts) that log records are replayed
/// into; record payloads made by [`make_corpus`](../make_corpus) fit it.
pub fn base_engine() -> Engram {
    let mut e = match Engram::new(Config::new(DIM).backend(engram::BackendChoice::Cpu)) {
        Ok(e) => e,
        Err(err) => panic!("engine: {err}"),
    };
    for i in 0..6u64 {
        let v = [1.0, i as f32, 0.5, -(i as f32)];
        let meta = EpisodeMeta::at(i).with_payload(format!("episode {i}"));
        if let Err(err) = e.remember(&v, meta) {
            panic!("remember: {err}");
        }
    }
    for c in [[1.0, 0.0, 0.0, 0.0], [0.0, 1.0, 0.0, 0.0]] {
        if let Err(err) = engram::persist::add_concept(&mut e, &c, NewConcept::default()) {
            panic!("concept: {err}");
        }
    }
    e
}
