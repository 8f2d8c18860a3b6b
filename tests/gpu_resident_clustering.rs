//! Consolidation on the GPU clusters the rows already resident there: the cycle's rows are
//! gathered by index on the device from the engine's resident copy, which uploads only rows it
//! lacks. Counted by the device context (shared by every engine of the process), so this file
//! holds one test: nothing else uploads while it counts.

mod common;

use common::gpu::gpu_engine;
use engram::compute::Backend;
use engram::consolidation::{ClusterCount, ConsolidationConfig};
use engram::synth::SynthParams;
use engram::{BackendChoice, Concept, Config, Engram, EpisodeMeta, Precision};

const DIM: usize = 16;

/// `n` rows around `centres` centres (seeded), remembered at clock `at`.
fn add(e: &mut Engram, n: usize, centres: usize, seed: u64, at: u64) {
    let data = SynthParams::new(n, DIM, centres)
        .seed(seed)
        .check()
        .expect("synth")
        .generate()
        .data;
    e.remember_batch(&data, vec![EpisodeMeta::at(at); n])
        .expect("remember");
}

/// Rows uploaded from the host to the engine's GPU context so far (any matrix).
fn uploads(e: &Engram) -> u64 {
    match e.backend() {
        Backend::Gpu(ctx) => ctx.rows_uploaded(),
        Backend::Cpu(_) => panic!("expected the GPU backend"),
    }
}

/// Concepts compared across backends: the GPU sums in f32 and the CPU in f64, so member
/// counts and states must agree and coherences to float rounding.
fn assert_same_concepts(gpu: &[Concept], cpu: &[Concept], what: &str) {
    assert_eq!(gpu.len(), cpu.len(), "{what}: concept count");
    for (g, c) in gpu.iter().zip(cpu) {
        assert_eq!(
            (g.id, g.members, g.state),
            (c.id, c.members, c.state),
            "{what}"
        );
        assert!(
            (g.coherence - c.coherence).abs() < 1e-4,
            "{what}: {g:?} vs {c:?}"
        );
    }
}

/// Over a cold cycle, a warm one and one that discovers new concepts among novel rows,
/// exactly the stored rows cross the bus, once each (fails if clustering uploads its rows
/// itself, as it once did: twice per warm cycle) — and the concepts are the CPU's.
#[test]
fn consolidation_uploads_only_rows_it_has_not_uploaded_before() {
    // The f32 rows, and a store that keeps only f16 rows (clustered from its f16 copy).
    for (clusters, precision) in [
        (ClusterCount::Fixed(4), Precision::F32),
        (ClusterCount::Discover { max_k: None }, Precision::F32),
        (ClusterCount::Discover { max_k: None }, Precision::F16),
    ] {
        let cfg = || {
            Config::new(DIM)
                .precision(precision)
                .consolidation(ConsolidationConfig::default().clusters(clusters).seed(5))
        };
        let Some(mut e) = gpu_engine(cfg()) else {
            return;
        };
        let mut cpu = Engram::new(cfg().backend(BackendChoice::Cpu)).expect("cpu engine");
        let start = uploads(&e);
        add(&mut e, 600, 4, 3, 1);
        add(&mut cpu, 600, 4, 3, 1);
        e.consolidate(2).expect("cold cycle");
        cpu.consolidate(2).expect("cold cycle");
        assert_eq!(
            uploads(&e) - start,
            600,
            "{clusters:?} {precision:?}: the cold cycle uploads each row once"
        );
        assert_eq!(e.device().uploaded_rows(), 600, "through the resident copy");
        assert_same_concepts(&e.concepts(), &cpu.concepts(), "cold");
        // More of the same clusters (a warm cycle), then rows of new clusters (novel rows).
        for (seed, centres) in [(21, 4), (33, 3)] {
            add(&mut e, 150, centres, seed, 3);
            add(&mut cpu, 150, centres, seed, 3);
            let before = uploads(&e);
            e.consolidate(4).expect("cycle");
            cpu.consolidate(4).expect("cycle");
            assert_eq!(
                uploads(&e),
                before + 150,
                "{clusters:?}: a cycle uploads only the rows added since the last"
            );
            assert_same_concepts(&e.concepts(), &cpu.concepts(), "after new rows");
        }
        assert!(!e.device().failed());
        // Searching afterwards shares the same resident copy: nothing more crosses.
        let before = uploads(&e);
        e.search(&[1.0; DIM], 3).expect("search");
        assert_eq!(uploads(&e), before);
    }
}
