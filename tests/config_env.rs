//! `Config::check` resolves `ENGRAM_BACKEND`: a bad value fails the check itself, with the
//! error `Engram::new` gives for it.
//!
//! Environment variables are process-global and tests run in parallel threads, so this binary
//! holds a single test that sets the variable.

use engram::{
    BackendChoice, Config, ConfigError, DurableEngram, Engram, Error, StoreOptions, SyncPolicy,
};

#[test]
fn check_rejects_a_bad_engram_backend_only_for_auto() {
    // A store written before the variable goes bad.
    std::env::remove_var("ENGRAM_BACKEND");
    let dir = tempfile::tempdir().unwrap();
    let opts = || StoreOptions::default().sync(SyncPolicy::Never);
    let mut s = DurableEngram::create(dir.path(), Config::new(8), opts()).unwrap();
    s.remember(&[1.0; 8], Default::default()).unwrap();
    s.checkpoint().unwrap();
    drop(s);

    let bad = ConfigError::BadEnv {
        name: "ENGRAM_BACKEND",
        value: "quantum".into(),
        expected: "cpu, gpu, auto",
    };
    std::env::set_var("ENGRAM_BACKEND", "quantum");
    assert_eq!(Config::new(8).check().unwrap_err(), bad);
    assert_eq!(
        Config::new(8)
            .backend(BackendChoice::Auto)
            .check()
            .unwrap_err(),
        bad
    );
    // The same typed error as selecting the backend gives.
    match Engram::new(Config::new(8)) {
        Err(Error::Config(e)) => assert_eq!(e, bad),
        Err(e) => panic!("expected a configuration error, got {e}"),
        Ok(_) => panic!("a bad ENGRAM_BACKEND was accepted"),
    }
    // A store opens under `Auto`: the bad variable is the process's configuration error,
    // not a damaged snapshot.
    match DurableEngram::open(dir.path(), opts()) {
        Err(Error::Config(e)) => assert_eq!(e, bad),
        Err(e) => panic!("expected a configuration error, got {e}"),
        Ok(_) => panic!("a bad ENGRAM_BACKEND was accepted"),
    }
    // The value's own invariants are checked first.
    assert_eq!(
        Config::new(0).check().unwrap_err(),
        ConfigError::ZeroDimension
    );
    // An explicit choice does not read the variable.
    assert!(Config::new(8).backend(BackendChoice::Cpu).check().is_ok());
    assert!(Config::new(8).backend(BackendChoice::Gpu).check().is_ok());
    assert!(Engram::new(Config::new(8).backend(BackendChoice::Cpu)).is_ok());

    // Good values, any case and padded, and blank ones pass.
    for v in ["cpu", " CPU ", "auto", "Gpu", "", "  "] {
        std::env::set_var("ENGRAM_BACKEND", v);
        assert!(Config::new(8).check().is_ok(), "ENGRAM_BACKEND={v:?}");
    }
    std::env::remove_var("ENGRAM_BACKEND");
    assert!(Config::new(8).check().is_ok());
    assert_eq!(DurableEngram::open(dir.path(), opts()).unwrap().len(), 1);
}
