//! The one device door ([`engram::compute::Device`]): every GPU caller — search, spreading
//! activation, clustering — goes through `Device::run_gpu`, so a device loss behaves the same
//! everywhere:
//!
//! - with fallback: the call succeeds with the CPU's results, the engine stays on the CPU, the
//!   resident GPU copy is dropped;
//! - without: the call is a typed `DeviceLost` error, nothing changes, and the next call runs
//!   on the GPU again.
//!
//! Each case is checked for each caller with the simulated failure. The GPU tests run on
//! whatever adapter exists, software ones included (`ENGRAM_REQUIRE_GPU=1` turns a missing
//! adapter into a failure instead of a loud skip).

mod common;

use common::gpu::gpu_engine;
use engram::compute::{select, Backend, Device, GpuFailure};
use engram::consolidation::{ClusterCount, ConsolidationConfig};
use engram::recall::Activation;
use engram::synth::SynthParams;
use engram::{
    BackendChoice, Concept, Config, Engram, EpisodeId, EpisodeMeta, Error, GpuError, InputError,
    Layout, MemoryNode, Precision, Scored,
};

const DIM: usize = 16;

fn config() -> Config {
    Config::new(DIM).consolidation(
        ConsolidationConfig::default()
            .clusters(ClusterCount::Fixed(4))
            .seed(5),
    )
}

/// 600 rows around 4 centres, remembered at clock 1 (one stream, so consecutive episodes are
/// temporally linked and spreading has edges to walk).
fn fill(e: &mut Engram) -> Vec<EpisodeId> {
    let data = SynthParams::new(600, DIM, 4)
        .seed(3)
        .check()
        .expect("synth")
        .generate()
        .data;
    e.remember_batch(&data, vec![EpisodeMeta::at(1); 600])
        .expect("remember")
}

fn queries() -> Vec<f32> {
    SynthParams::new(5, DIM, 4)
        .seed(9)
        .check()
        .expect("synth")
        .generate()
        .data
}

/// The three GPU callers.
#[derive(Debug, Clone, Copy)]
enum Caller {
    Search,
    Spread,
    Cluster,
}

const CALLERS: [Caller; 3] = [Caller::Search, Caller::Spread, Caller::Cluster];

/// What a caller returned, comparable across engines.
#[derive(Debug, PartialEq)]
enum Outcome {
    Hits(Vec<Vec<Scored<EpisodeId>>>),
    Spread(Vec<Activation>),
    Concepts(Vec<Concept>),
}

/// Runs `caller` on `e`, forcing the GPU route where there is a size threshold.
fn run(e: &mut Engram, caller: Caller, ids: &[EpisodeId]) -> Result<Outcome, Error> {
    match caller {
        Caller::Search => e.search_batch(&queries(), 5).map(Outcome::Hits),
        Caller::Spread => {
            let sets: Vec<Vec<(MemoryNode, f32)>> = ids
                .iter()
                .step_by(97)
                .map(|&id| vec![(MemoryNode::Episode(id), 1.0)])
                .collect();
            e.spread_batch_with(&sets, 0).map(Outcome::Spread)
        }
        Caller::Cluster => {
            e.consolidate(2)?;
            Ok(Outcome::Concepts(e.concepts()))
        }
    }
}

#[test]
fn a_device_loss_falls_back_the_same_way_in_every_caller() {
    for caller in CALLERS {
        let Some(mut e) = gpu_engine(config().gpu_fallback(true)) else {
            return;
        };
        let ids = fill(&mut e);
        // A first GPU search makes the resident copy.
        e.search(&queries()[..DIM], 3).expect("warm-up search");
        assert_eq!(e.device().uploaded_rows(), 600, "{caller:?}: resident rows");

        let mut cpu = Engram::new(config().backend(BackendChoice::Cpu)).expect("cpu engine");
        let cpu_ids = fill(&mut cpu);
        assert_eq!(ids, cpu_ids);
        let want = run(&mut cpu, caller, &cpu_ids).expect("cpu");

        e.simulate_gpu_failure();
        let got = run(&mut e, caller, &ids).unwrap_or_else(|err| panic!("{caller:?}: {err}"));
        assert_eq!(
            got, want,
            "{caller:?}: the CPU's results after the fallback"
        );
        assert!(
            matches!(e.backend(), Backend::Cpu(_)),
            "{caller:?}: stays on the CPU"
        );
        assert!(e.device().failed(), "{caller:?}");
        assert_eq!(
            e.device().uploaded_rows(),
            0,
            "{caller:?}: the GPU copy is dropped"
        );
        // From now on everything runs on the CPU: a second (simulated) loss is never reached.
        e.simulate_gpu_failure();
        for other in CALLERS {
            run(&mut e, other, &ids).unwrap_or_else(|err| panic!("{caller:?}/{other:?}: {err}"));
        }
        assert_eq!(
            e.device().uploaded_rows(),
            0,
            "{caller:?}: nothing uploaded again"
        );
    }
}

#[test]
fn without_fallback_a_device_loss_is_an_error_in_every_caller_and_changes_nothing() {
    for caller in CALLERS {
        let Some(mut e) = gpu_engine(config().gpu_fallback(false)) else {
            return;
        };
        let ids = fill(&mut e);
        e.search(&queries()[..DIM], 3).expect("warm-up search");
        let uploaded = e.device().uploaded_rows();
        let (cycle, concepts) = (e.cycle(), e.concepts());

        e.simulate_gpu_failure();
        match run(&mut e, caller, &ids) {
            Err(Error::Gpu(GpuError::DeviceLost(msg))) => assert!(msg.contains("simulated")),
            other => panic!("{caller:?}: expected DeviceLost, got {other:?}"),
        }
        assert!(
            matches!(e.backend(), Backend::Gpu(_)),
            "{caller:?}: still on the GPU"
        );
        assert!(!e.device().failed(), "{caller:?}");
        assert_eq!(
            e.device().uploaded_rows(),
            uploaded,
            "{caller:?}: the GPU copy is kept"
        );
        assert_eq!(e.cycle(), cycle, "{caller:?}: no cycle was applied");
        assert_eq!(e.concepts(), concepts, "{caller:?}: no concept changed");

        // The switch was consumed: the next call runs on the GPU.
        run(&mut e, caller, &ids).unwrap_or_else(|err| panic!("{caller:?} after: {err}"));
        assert!(matches!(e.backend(), Backend::Gpu(_)));
        if let Caller::Cluster = caller {
            assert_eq!(e.cycle(), cycle + 1);
            assert_eq!(e.concepts().len(), 4);
        }
    }
}

#[test]
fn only_gpu_failures_fall_back() {
    let Some(mut e) = gpu_engine(config().gpu_fallback(true)) else {
        return;
    };
    fill(&mut e);
    e.search(&queries()[..DIM], 3).expect("warm-up search");
    let d = e.device();
    // An error that is not the device's passes through, and the GPU stays.
    let r = d.run_gpu("a test", |_| Err::<(), Error>(InputError::ZeroK.into()));
    assert!(matches!(r, Err(Error::Input(InputError::ZeroK))), "{r:?}");
    assert!(!d.failed());
    assert!(d.gpu().is_some());
    assert_eq!(d.uploaded_rows(), 600);
    // Work that succeeds returns its value.
    assert!(matches!(
        d.run_gpu("a test", |_| Ok::<_, Error>(7)),
        Ok(Some(7))
    ));
    // A GPU error reported by the work (not simulated) falls back as well.
    let r = d.run_gpu("a test", |_| {
        Err::<(), _>(GpuError::OutOfMemory("a test".into()))
    });
    assert_eq!(r, Ok(None));
    assert!(d.failed());
    assert!(d.gpu().is_none());
    assert_eq!(d.uploaded_rows(), 0);
    // After the fallback the work is not even run.
    let r = d.run_gpu("a test", |_| -> Result<(), GpuError> {
        panic!("ran on a failed GPU")
    });
    assert_eq!(r, Ok(None));
    // `set_backend` forgets the failure.
    e.set_backend(BackendChoice::Gpu).expect("back to the GPU");
    assert!(!e.device().failed());
    assert!(matches!(e.backend(), Backend::Gpu(_)));
}

#[test]
fn on_the_cpu_nothing_runs_on_the_gpu_and_a_simulated_loss_stays_pending() {
    let d = Device::new(select(BackendChoice::Cpu).expect("cpu"), true);
    assert!(d.gpu().is_none());
    d.simulate_failure();
    let r = d.run_gpu("a test", |_| -> Result<(), GpuError> {
        panic!("ran on the CPU device")
    });
    assert_eq!(r, Ok(None));
    assert!(!d.failed(), "nothing failed");
    // Not consumed by a call that never reached a GPU.
    assert!(matches!(
        d.take_simulated_failure(),
        Err(GpuError::DeviceLost(_))
    ));
    assert_eq!(d.take_simulated_failure(), Ok(()));
    // Which errors are GPU failures.
    assert!(Error::Gpu(GpuError::NotCompiled).gpu_failure().is_some());
    assert!(Error::from(InputError::ZeroK).gpu_failure().is_none());
}

#[test]
fn the_resident_copy_uploads_only_rows_it_lacks() {
    let Some(mut e) = gpu_engine(Config::new(DIM).precision(Precision::F32AndF16)) else {
        return;
    };
    let ids = fill(&mut e);
    let q = &queries()[..DIM];
    let d = |e: &Engram| e.device().uploaded_rows();
    assert_eq!(d(&e), 0, "nothing before the first GPU call");
    e.search(q, 3).expect("search");
    assert_eq!(d(&e), 600);
    e.search(q, 3).expect("search");
    assert_eq!(d(&e), 600, "an unchanged store uploads nothing");
    let more = SynthParams::new(50, DIM, 2)
        .seed(21)
        .check()
        .expect("synth")
        .generate()
        .data;
    e.remember_batch(&more, vec![]).expect("remember");
    e.search(q, 3).expect("search");
    assert_eq!(d(&e), 650, "an append uploads only the new rows");
    // A forgotten row is masked on the device, never uploaded again, never found.
    let best = e.search(q, 1).expect("search")[0].id;
    e.forget(best).expect("forget");
    let hits = e.search(q, 5).expect("search");
    assert!(hits.iter().all(|h| h.id != best));
    assert_eq!(d(&e), 650);
    // The f16 copy is a second resident layout of its own.
    e.search_batch_in(q, 3, Layout::F16).expect("f16 search");
    assert_eq!(d(&e), 1300);
    // Compaction moves rows: the copy is dropped and rebuilt from the live rows.
    e.compact();
    assert_eq!(d(&e), 0);
    let after = e.search(q, 5).expect("search");
    assert_eq!(d(&e), 649);
    assert_eq!(
        after.iter().map(|h| h.id).collect::<Vec<_>>(),
        hits.iter().map(|h| h.id).collect::<Vec<_>>()
    );
    assert_eq!(ids.len(), 600);
}

/// Searches on an unchanged store share the resident copy: one search holding it does not
/// keep another from running (a read lock, not a mutex), and concurrent searches give the
/// sequential results.
#[test]
fn concurrent_searches_share_the_resident_copy() {
    use engram::compute::gpu::GpuLayout;
    use std::sync::Arc;
    use std::time::{Duration, Instant};

    let Some(mut e) = gpu_engine(config()) else {
        return;
    };
    fill(&mut e);
    let q = queries();
    let want = e.search_batch(&q, 5).expect("search");
    let e = Arc::new(e);
    // Inside one search's hold on the resident rows, another thread searches to the end.
    let rows = e.episode_vectors().row_set();
    let inner = e
        .device()
        .run_gpu("an outer search", |g| {
            g.with_rows(&rows, GpuLayout::F32, |_ctx, m| {
                assert_eq!(m.len(), 600);
                let (e2, q2) = (Arc::clone(&e), q.clone());
                let h = std::thread::spawn(move || e2.search_batch(&q2, 5));
                let deadline = Instant::now() + Duration::from_secs(120);
                while !h.is_finished() {
                    if Instant::now() > deadline {
                        return Err(GpuError::Unsupported(
                            "a concurrent search was blocked by the resident rows".into(),
                        ));
                    }
                    std::thread::sleep(Duration::from_millis(5));
                }
                h.join()
                    .map_err(|_| GpuError::Unsupported("the inner search panicked".into()))
            })
        })
        .expect("outer")
        .expect("on the GPU")
        .expect("inner search");
    assert_eq!(inner, want);
    assert!(!e.device().failed());
    // Four threads at once: the sequential results, and nothing uploaded twice.
    let got: Vec<_> = (0..4)
        .map(|_| {
            let (e2, q2) = (Arc::clone(&e), q.clone());
            std::thread::spawn(move || e2.search_batch(&q2, 5))
        })
        .collect::<Vec<_>>()
        .into_iter()
        .map(|h| h.join().expect("thread").expect("search"))
        .collect();
    for g in got {
        assert_eq!(g, want);
    }
    assert_eq!(e.device().uploaded_rows(), 600);
}
