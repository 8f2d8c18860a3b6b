//! Validation experiments: the engine against published findings of memory research.
//!
//! Each experiment runs through the engine's public API (the only exception is the fan
//! experiment's explicit concepts, see [`fan`]) and returns an [`ExperimentResult`]: our figure, the published figure and whether ours
//! passes. `engram validate` prints them as a table or as JSON and exits with code 1 when one
//! fails.
//!
//! | name | what | published |
//! |---|---|---|
//! | `fan` | recognition latency by fan 1/2/3 from spreading activation | Anderson 1974 |
//! | `drm` | false recall and recognition of DRM lures | Roediger & McDermott 1995 |
//! | `prototype` | recognition of a never-seen prototype | Posner & Keele 1968 |
//! | `spacing` | spaced vs massed rehearsal | Cepeda et al. 2006 |
//! | `forgetting` | retention over time | Ebbinghaus 1885 |
//! | `semantic_ann` | semantic recall as an approximate search | (IVF, Jégou et al. 2011) |
//!
//! Where the protocol is "study, then consolidate" (`drm`, `prototype`, `semantic_ann`),
//! concepts come from the engine's own consolidation ([`Engram::consolidate`]) with the
//! [`crate::consolidation::ConsolidationConfig`] each experiment documents; the engine never
//! sees a lure or a prototype.

mod data;
pub mod drm;
pub mod fan;
pub mod prototype;
pub mod retention;
pub mod semantic_ann;

use std::path::PathBuf;
use std::sync::atomic::{AtomicU8, Ordering};

use crate::config::BackendChoice;

/// The backend of every experiment's engine: [`BackendChoice::Cpu`] (the reference path)
/// unless [`set_backend`] chose another.
static BACKEND: AtomicU8 = AtomicU8::new(1);

/// Runs the experiments of this process on `choice` (default [`BackendChoice::Cpu`]; `engram
/// validate --backend` sets it).
pub fn set_backend(choice: BackendChoice) {
    let code = match choice {
        BackendChoice::Auto => 0,
        BackendChoice::Cpu => 1,
        BackendChoice::Gpu => 2,
    };
    BACKEND.store(code, Ordering::Relaxed);
}

/// The backend the experiments run on (see [`set_backend`]).
pub fn backend() -> BackendChoice {
    match BACKEND.load(Ordering::Relaxed) {
        0 => BackendChoice::Auto,
        2 => BackendChoice::Gpu,
        _ => BackendChoice::Cpu,
    }
}

pub use data::{default_data_dir, DrmData, DrmList, Lexicon, WORD_DIM};

#[cfg(doc)]
use crate::engine::Engram;
use crate::error::Error;

/// What can go wrong running an experiment.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ValidateError {
    /// A data file could not be read.
    #[error("{path}: {message}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The reason.
        message: String,
    },
    /// A data file is malformed.
    #[error("{path}: {message}")]
    Data {
        /// The file.
        path: PathBuf,
        /// What is wrong.
        message: String,
    },
    /// The engine failed.
    #[error(transparent)]
    Engine(#[from] Error),
}

impl From<crate::cluster::ClusterError> for ValidateError {
    fn from(e: crate::cluster::ClusterError) -> Self {
        ValidateError::Engine(e.into())
    }
}

impl From<crate::error::InputError> for ValidateError {
    fn from(e: crate::error::InputError) -> Self {
        ValidateError::Engine(e.into())
    }
}

/// The outcome of one experiment.
#[derive(Debug, Clone, PartialEq)]
pub struct ExperimentResult {
    /// `fan`, `drm`, `prototype`, `spacing`, `forgetting` or `semantic_ann`.
    pub name: &'static str,
    /// Our figures (a JSON object of named numbers).
    pub ours: serde_json::Value,
    /// The published figures.
    pub published: serde_json::Value,
    /// Whether ours passes the criterion.
    pub pass: bool,
    /// The pass criterion, in words.
    pub criterion: String,
}

impl ExperimentResult {
    /// The result as one JSON object `{name, ours, published, pass, criterion}`.
    pub fn to_json(&self) -> serde_json::Value {
        serde_json::json!({
            "name": self.name,
            "ours": self.ours,
            "published": self.published,
            "pass": self.pass,
            "criterion": self.criterion,
        })
    }
}

/// Options of [`run_all`].
#[derive(Debug, Clone, PartialEq)]
pub struct Options {
    /// The DRM directory (`lists.json`, `vectors.f32`).
    pub drm_dir: PathBuf,
    /// The lexicon directory (`words.txt`, `vectors.f32`).
    pub lexicon_dir: PathBuf,
    /// The seed of the synthetic experiments.
    pub seed: u64,
}

impl Default for Options {
    fn default() -> Self {
        let d = default_data_dir();
        Self {
            drm_dir: d.join("drm"),
            lexicon_dir: d.join("lexicon"),
            seed: 7,
        }
    }
}

/// Runs every experiment in table order.
pub fn run_all(opts: &Options) -> Result<Vec<ExperimentResult>, ValidateError> {
    let drm = drm::run(&drm::DrmParams::new(&opts.drm_dir, &opts.lexicon_dir))?;
    Ok(vec![
        fan::run(opts.seed)?,
        drm,
        prototype::run(opts.seed)?,
        retention::spacing(opts.seed)?,
        retention::forgetting(opts.seed)?,
        semantic_ann::run(&semantic_ann::AnnParams::small(opts.seed))?.result,
    ])
}

/// Pearson correlation of two equal-length series (0 when either is constant).
pub fn correlation(a: &[f64], b: &[f64]) -> f64 {
    let n = a.len().min(b.len());
    if n < 2 {
        return 0.0;
    }
    let ma = a[..n].iter().sum::<f64>() / n as f64;
    let mb = b[..n].iter().sum::<f64>() / n as f64;
    let (mut sab, mut saa, mut sbb) = (0.0, 0.0, 0.0);
    for i in 0..n {
        let (x, y) = (a[i] - ma, b[i] - mb);
        sab += x * y;
        saa += x * x;
        sbb += y * y;
    }
    if saa == 0.0 || sbb == 0.0 {
        0.0
    } else {
        sab / (saa * sbb).sqrt()
    }
}

/// A seeded random unit vector.
pub(crate) fn random_unit(rng: &mut rand_chacha::ChaCha8Rng, dim: usize) -> Vec<f32> {
    use rand::Rng;
    let mut v: Vec<f32> = (0..dim)
        .map(|_| rng.sample::<f32, _>(rand_distr::StandardNormal))
        .collect();
    normalize(&mut v);
    v
}

/// Normalises in place (leaves a zero vector alone).
pub(crate) fn normalize(v: &mut [f32]) {
    let n = v.iter().map(|x| x * x).sum::<f32>().sqrt();
    if n > 0.0 {
        v.iter_mut().for_each(|x| *x /= n);
    }
}

/// Rounds to 3 decimals for reports.
pub(crate) fn r3(x: f64) -> f64 {
    (x * 1000.0).round() / 1000.0
}
