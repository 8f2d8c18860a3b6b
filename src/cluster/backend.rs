//! Spherical k-means on the engine's compute [`Backend`].
//!
//! The initialisation is always computed on the CPU from the seed (the same starting centroids
//! on both backends); the Lloyd iterations then run on the backend:
//!
//! - **CPU**: the crate's own steps ([`assign`](super::assign) through `gemm` tiles and the
//!   fixed-block partial sums) — exactly the iterations of [`KMeansValidParams::fit`].
//! - **GPU**: every iteration runs [`kmeans_assign`] (dot products fused with the arg-max) and
//!   [`kmeans_partial_sums`] (the deterministic two-phase reduction) on a [`GpuMatrix`] holding
//!   the rows; the sums come back (`k × dim` floats, never an `n × k` matrix) and [`reduce`]
//!   turns them into centroids on the host.
//!
//! The `*_on` functions take host rows and, on the GPU, upload them once per call. The
//! `*_resident` functions take the rows where they already are ([`Resident`]): a caller whose
//! rows live on the device (the engine's resident copy, gathered by index with
//! [`GpuMatrix::gather`]) clusters them without sending a row across the bus.
//!
//! Both backends stop by the same rule (labels stable, or an objective gain of at most
//! `tolerance × |objective|`), so they agree on labels except at exact ties and on centroids
//! to float rounding (the GPU sums in f32, the CPU in f64).
//!
//! ```
//! use engram::cluster::{fit_on, KMeansParams};
//! use engram::compute::{cpu::SimdLevel, Backend};
//! let data = [1.0f32, 0.0, 0.99, 0.141, 0.0, 1.0, 0.141, 0.99];
//! let params = KMeansParams::new(2).seed(7).check().unwrap();
//! let model = fit_on(&Backend::Cpu(SimdLevel::current()), &params, &data, 2).unwrap();
//! assert_eq!(model.labels[0], model.labels[1]);
//! ```

use super::discover::DiscoverValidParams;
use super::error::ClusterError;
use super::init::initial_centroids;
use super::lloyd::KMeansModel;
use super::params::{KMeansValidParams, Metric};
use super::steps::{accumulate, assign_raw, reduce, repair_empty, Assignment, PartialSums};
use super::steps::{assign_top2, CENTROID_BLOCK};
use super::{check_data, row_norms2, splitmix};
use crate::compute::gpu::{
    kmeans_assign, kmeans_assign_top2, kmeans_partial_sums, GpuContext, GpuLayout, GpuMatrix,
};
use crate::compute::Backend;
use crate::error::Error;

/// How Lloyd iterations run from given centroids (see [`lloyd_on`]).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct LloydOptions {
    /// The most iterations (update + assign). At least 1.
    pub max_iter: usize,
    /// Stop when labels are stable or the objective gains at most `tolerance × |objective|`.
    pub tolerance: f64,
    /// Re-seed empty clusters from the farthest rows (as batch k-means does); when false an
    /// empty cluster keeps its previous centroid.
    pub repair_empty: bool,
}

impl Default for LloydOptions {
    /// 50 iterations, tolerance 1e-6, repair on (the defaults of [`super::KMeansParams`]).
    fn default() -> Self {
        Self {
            max_iter: 50,
            tolerance: 1e-6,
            repair_empty: true,
        }
    }
}

/// Where a clustering's rows are computed on: the CPU (from the host copy), or the GPU on a
/// matrix that already holds them — row `i` of the matrix is row `i` of the host copy, which
/// the host-side parts (empty-cluster repair, seeding) still read.
#[derive(Debug, Clone, Copy)]
pub enum Resident<'a> {
    /// The CPU kernels, on the host rows.
    Cpu,
    /// The GPU kernels, on rows already on the device.
    Gpu {
        /// The device.
        ctx: &'a GpuContext,
        /// The rows, in the order of the host copy, none dead.
        rows: &'a GpuMatrix,
    },
}

impl<'a> Resident<'a> {
    /// Checks that the device rows match a host copy of `n` rows of `dim` components.
    fn check(&self, n: usize, dim: usize) -> Result<(), Error> {
        match self {
            Resident::Cpu => Ok(()),
            Resident::Gpu { rows, .. } => {
                if rows.dim() != dim {
                    Err(ClusterError::LengthMismatch {
                        what: "components per resident GPU row",
                        expected: dim,
                        got: rows.dim(),
                    }
                    .into())
                } else if rows.len() != n || rows.live() != n {
                    Err(ClusterError::LengthMismatch {
                        what: "live resident GPU rows",
                        expected: n,
                        got: rows.live(),
                    }
                    .into())
                } else {
                    Ok(())
                }
            }
        }
    }

    /// Rows `rows` of these (in that order), where they are: on the GPU gathered on the device
    /// (nothing uploaded but the indices), `None` on the CPU.
    ///
    /// # Errors
    /// [`Error::Gpu`] when an index is out of range or the device fails.
    pub fn gather(&self, rows: &[u32]) -> Result<Option<GpuMatrix>, Error> {
        match self {
            Resident::Cpu => Ok(None),
            Resident::Gpu { ctx, rows: m } => Ok(Some(m.gather(ctx, rows)?)),
        }
    }

    /// These rows' device, on `rows` (a matrix from [`Resident::gather`]); the CPU stays the
    /// CPU.
    pub fn with<'b>(&self, rows: Option<&'b GpuMatrix>) -> Resident<'b>
    where
        'a: 'b,
    {
        match (self, rows) {
            (Resident::Gpu { ctx, .. }, Some(m)) => Resident::Gpu { ctx, rows: m },
            _ => Resident::Cpu,
        }
    }

    fn steps<'b>(&self, data: &'b [f32], dim: usize) -> Box<dyn Steps + 'b>
    where
        'a: 'b,
    {
        match *self {
            Resident::Cpu => Box::new(CpuSteps { data, dim }),
            Resident::Gpu { ctx, rows } => Box::new(GpuSteps { ctx, rows, dim }),
        }
    }
}

/// Runs `f` on `data` where `backend` computes: uploaded once into a temporary matrix on the
/// GPU, from the host on the CPU.
fn uploaded<T>(
    backend: &Backend,
    data: &[f32],
    dim: usize,
    f: impl FnOnce(Resident<'_>) -> Result<T, Error>,
) -> Result<T, Error> {
    match backend {
        Backend::Cpu(_) => f(Resident::Cpu),
        Backend::Gpu(ctx) => {
            let rows = GpuMatrix::from_rows(ctx, dim, GpuLayout::F32, data)?;
            f(Resident::Gpu { ctx, rows: &rows })
        }
    }
}

/// One backend's two Lloyd steps over a fixed set of rows.
trait Steps {
    fn assign(&mut self, centroids: &[f32], k: usize) -> Result<Assignment, Error>;
    fn sums(&mut self, labels: &[u32], k: usize) -> Result<PartialSums, Error>;
}

struct CpuSteps<'a> {
    data: &'a [f32],
    dim: usize,
}

impl Steps for CpuSteps<'_> {
    fn assign(&mut self, centroids: &[f32], _k: usize) -> Result<Assignment, Error> {
        Ok(assign_raw(self.data, self.dim, centroids, None))
    }
    fn sums(&mut self, labels: &[u32], k: usize) -> Result<PartialSums, Error> {
        Ok(accumulate(self.data, self.dim, labels, None, k))
    }
}

struct GpuSteps<'a> {
    ctx: &'a GpuContext,
    rows: &'a GpuMatrix,
    dim: usize,
}

impl Steps for GpuSteps<'_> {
    fn assign(&mut self, centroids: &[f32], k: usize) -> Result<Assignment, Error> {
        let (labels, scores) = kmeans_assign(self.ctx, self.rows, centroids, k)?;
        Ok(Assignment { labels, scores })
    }
    fn sums(&mut self, labels: &[u32], k: usize) -> Result<PartialSums, Error> {
        let (sums, counts) = kmeans_partial_sums(self.ctx, self.rows, labels, k)?;
        Ok(PartialSums {
            k,
            dim: self.dim,
            sums: sums.into_iter().map(f64::from).collect(),
            counts: counts.into_iter().map(u64::from).collect(),
            objective: 0.0,
        })
    }
}

fn objective(a: &Assignment) -> f64 {
    a.scores.iter().map(|&s| s as f64).sum()
}

/// The Lloyd loop shared by both backends (spherical metric). `first` is an assignment to
/// `centroids` already computed (saves one pass).
fn drive(
    steps: &mut dyn Steps,
    data: &[f32],
    dim: usize,
    mut centroids: Vec<f32>,
    opts: &LloydOptions,
    first: Option<Assignment>,
) -> Result<KMeansModel, Error> {
    let k = centroids.len() / dim;
    let mut a = match first {
        Some(a) => a,
        None => steps.assign(&centroids, k)?,
    };
    let mut obj = objective(&a);
    let mut iterations = 0;
    let mut converged = false;
    while iterations < opts.max_iter {
        let mut sums = steps.sums(&a.labels, k)?;
        if opts.repair_empty {
            repair_empty(&mut sums, data, &mut a, Metric::Spherical)?;
        }
        centroids = reduce(&sums, &centroids)?;
        iterations += 1;
        let next = steps.assign(&centroids, k)?;
        let next_obj = objective(&next);
        let stable = next.labels == a.labels;
        let gain = next_obj - obj;
        a = next;
        obj = next_obj;
        if stable || gain.abs() <= opts.tolerance * obj.abs() {
            converged = true;
            break;
        }
    }
    Ok(KMeansModel {
        k,
        dim,
        centroids,
        labels: a.labels,
        objective: obj,
        iterations,
        converged,
        metric: Metric::Spherical,
    })
}

/// Spherical Lloyd iterations on `backend` from `centroids` (`k × dim`, unit rows) over unit
/// rows `data` (`n × dim`). `first`, if given, must be the assignment of `data` to
/// `centroids` (it saves the first pass).
///
/// On the GPU the rows are uploaded once for the whole run.
///
/// # Errors
/// Shape and finiteness errors ([`Error::Cluster`]); [`Error::Gpu`] when the device fails.
pub fn lloyd_on(
    backend: &Backend,
    data: &[f32],
    dim: usize,
    centroids: Vec<f32>,
    opts: &LloydOptions,
    first: Option<Assignment>,
) -> Result<KMeansModel, Error> {
    // `lloyd_resident` checks the rows; the shape is checked before anything is uploaded.
    super::check_shape(data, dim)?;
    uploaded(backend, data, dim, |on| {
        lloyd_resident(on, data, dim, centroids, opts, first)
    })
}

/// [`lloyd_on`] on rows that are already where they are computed ([`Resident`]); `data` is
/// their host copy.
///
/// # Errors
/// As [`lloyd_on`]; a [`ClusterError::LengthMismatch`] when the device rows do not match
/// `data`.
pub fn lloyd_resident(
    on: Resident<'_>,
    data: &[f32],
    dim: usize,
    centroids: Vec<f32>,
    opts: &LloydOptions,
    first: Option<Assignment>,
) -> Result<KMeansModel, Error> {
    let n = check_data(data, dim)?;
    on.check(n, dim)?;
    let k = super::check_shape(&centroids, dim)?;
    if k == 0 {
        return Err(ClusterError::EmptyData.into());
    }
    if opts.max_iter == 0 {
        return Err(ClusterError::Params(super::ParamsError::ZeroMaxIter).into());
    }
    if let Some(f) = &first {
        if f.labels.len() != n || f.scores.len() != f.labels.len() {
            return Err(ClusterError::LengthMismatch {
                what: "first assignment",
                expected: n,
                got: f.labels.len(),
            }
            .into());
        }
    }
    drive(&mut *on.steps(data, dim), data, dim, centroids, opts, first)
}

/// One assignment of `data` to `centroids` on `backend` (labels and cosines; ties → the lowest
/// index).
///
/// # Errors
/// As [`lloyd_on`].
pub fn assign_on(
    backend: &Backend,
    data: &[f32],
    dim: usize,
    centroids: &[f32],
) -> Result<Assignment, Error> {
    super::check_shape(data, dim)?;
    let k = super::check_shape(centroids, dim)?;
    if k == 0 {
        return Err(ClusterError::EmptyData.into());
    }
    if data.is_empty() {
        return Ok(Assignment::default());
    }
    uploaded(backend, data, dim, |on| {
        assign_resident(on, data, dim, centroids)
    })
}

/// [`assign_on`] on rows that are already where they are computed ([`Resident`]).
///
/// # Errors
/// As [`lloyd_resident`].
pub fn assign_resident(
    on: Resident<'_>,
    data: &[f32],
    dim: usize,
    centroids: &[f32],
) -> Result<Assignment, Error> {
    let n = super::check_shape(data, dim)?;
    let k = super::check_shape(centroids, dim)?;
    if k == 0 {
        return Err(ClusterError::EmptyData.into());
    }
    if n == 0 {
        return Ok(Assignment::default());
    }
    on.check(n, dim)?;
    on.steps(data, dim).assign(centroids, k)
}

/// [`assign_resident`] that also returns each row's second-best cosine (−∞ when k = 1), in
/// the same pass: what the certified warm step of a consolidation cycle bounds rows by.
///
/// # Errors
/// As [`lloyd_resident`].
pub fn assign_top2_resident(
    on: Resident<'_>,
    data: &[f32],
    dim: usize,
    centroids: &[f32],
) -> Result<(Assignment, Vec<f32>), Error> {
    let n = super::check_shape(data, dim)?;
    let k = super::check_shape(centroids, dim)?;
    if k == 0 {
        return Err(ClusterError::EmptyData.into());
    }
    if n == 0 {
        return Ok((Assignment::default(), Vec::new()));
    }
    on.check(n, dim)?;
    match on {
        Resident::Cpu => Ok(assign_top2(data, dim, centroids)),
        Resident::Gpu { ctx, rows } => {
            let t = kmeans_assign_top2(ctx, rows, centroids, k)?;
            Ok((
                Assignment {
                    labels: t.labels,
                    scores: t.scores,
                },
                t.second,
            ))
        }
    }
}

/// Per-cluster sums and counts of the rows labelled `labels` (one label `< k` per row), where
/// the rows are: f64 sums on the CPU, f32 sums of the deterministic reduction on the GPU (the
/// two steps of a Lloyd iteration are [`assign_resident`] and this).
///
/// # Errors
/// As [`lloyd_resident`]; a length mismatch when `labels` does not have one label per row.
pub fn partial_sums_resident(
    on: Resident<'_>,
    data: &[f32],
    dim: usize,
    labels: &[u32],
    k: usize,
) -> Result<PartialSums, Error> {
    let n = check_data(data, dim)?;
    on.check(n, dim)?;
    if labels.len() != n {
        return Err(ClusterError::LengthMismatch {
            what: "labels",
            expected: n,
            got: labels.len(),
        }
        .into());
    }
    if let Some(&l) = labels.iter().find(|&&l| l as usize >= k) {
        return Err(ClusterError::LengthMismatch {
            what: "clusters (a label is out of range)",
            expected: k,
            got: l as usize + 1,
        }
        .into());
    }
    on.steps(data, dim).sums(labels, k)
}

/// [`partial_sums_resident`] without the checks, for callers whose rows and labels come from
/// an assignment of the same rows (the certified warm step of a consolidation cycle): no
/// extra pass over the data.
pub(crate) fn partial_sums_unchecked(
    on: Resident<'_>,
    data: &[f32],
    dim: usize,
    labels: &[u32],
    k: usize,
) -> Result<PartialSums, Error> {
    on.steps(data, dim).sums(labels, k)
}

/// Whether [`assign_top2_resident`] costs about what a plain assignment costs here: always on
/// the GPU (one pass keeps both), on the CPU while the centroids fit one panel block.
pub fn top2_is_free(on: &Resident<'_>, k: usize) -> bool {
    matches!(on, Resident::Gpu { .. }) || k <= CENTROID_BLOCK
}

/// Batch spherical k-means on `backend`: the initialisation of `params` on the CPU (same seed ⇒
/// same starting centroids on both backends), then Lloyd on the backend; restarts as
/// [`KMeansValidParams::fit`]. On the CPU backend the result equals
/// [`KMeansValidParams::fit`].
///
/// # Errors
/// As [`KMeansValidParams::fit`]; [`Error::Gpu`] when the device fails. Only
/// [`Metric::Spherical`] is supported (another metric is an out-of-range parameter error).
pub fn fit_on(
    backend: &Backend,
    params: &KMeansValidParams,
    data: &[f32],
    dim: usize,
) -> Result<KMeansModel, Error> {
    check_spherical(params)?;
    if matches!(backend, Backend::Cpu(_)) {
        return Ok(params.fit(data, dim)?);
    }
    check_data(data, dim)?;
    uploaded(backend, data, dim, |on| fit_resident(on, params, data, dim))
}

fn check_spherical(params: &KMeansValidParams) -> Result<(), Error> {
    if params.params().metric != Metric::Spherical {
        return Err(ClusterError::Params(super::ParamsError::OutOfRange {
            name: "metric (only spherical runs on a backend)",
            range: "spherical",
            value: 0.0,
        })
        .into());
    }
    Ok(())
}

/// [`fit_on`] on rows that are already where they are computed ([`Resident`]).
///
/// # Errors
/// As [`fit_on`]; a [`ClusterError::LengthMismatch`] when the device rows do not match `data`.
pub fn fit_resident(
    on: Resident<'_>,
    params: &KMeansValidParams,
    data: &[f32],
    dim: usize,
) -> Result<KMeansModel, Error> {
    check_spherical(params)?;
    if matches!(on, Resident::Cpu) {
        return Ok(params.fit(data, dim)?);
    }
    let p = params.params();
    let n = check_data(data, dim)?;
    on.check(n, dim)?;
    if p.k > n {
        return Err(ClusterError::TooFewRows { k: p.k, n }.into());
    }
    let norms2 = row_norms2(data, dim);
    let opts = LloydOptions {
        max_iter: p.max_iter,
        tolerance: p.tolerance,
        repair_empty: p.repair_empty,
    };
    let mut best: Option<KMeansModel> = None;
    for run in 0..p.n_init {
        let seed = if run == 0 {
            p.seed
        } else {
            splitmix(p.seed ^ splitmix(run as u64))
        };
        let start = initial_centroids(&p.init, p.metric, data, dim, &norms2, p.k, seed)?;
        let model = lloyd_resident(on, data, dim, start, &opts, None)?;
        if best.as_ref().is_none_or(|b| model.objective > b.objective) {
            best = Some(model);
        }
    }
    best.ok_or_else(|| ClusterError::EmptyData.into())
}

/// k discovery ([`DiscoverValidParams`]) with every k-means run on `backend` (on the GPU the
/// rows are uploaded once for all of them).
///
/// # Errors
/// As [`DiscoverValidParams::fit`]; [`Error::Gpu`] when the device fails.
pub fn discover_on(
    backend: &Backend,
    params: &DiscoverValidParams,
    data: &[f32],
    dim: usize,
) -> Result<KMeansModel, Error> {
    check_data(data, dim)?;
    uploaded(backend, data, dim, |on| {
        discover_resident(on, params, data, dim)
    })
}

/// [`discover_on`] on rows that are already where they are computed ([`Resident`]).
///
/// # Errors
/// As [`discover_on`].
pub fn discover_resident(
    on: Resident<'_>,
    params: &DiscoverValidParams,
    data: &[f32],
    dim: usize,
) -> Result<KMeansModel, Error> {
    // Every k-means run of discovery is over all of `data` (the rows `on` holds).
    params.fit_with(data, dim, |p, d| {
        if d.len() == data.len() {
            fit_resident(on, p, d, dim)
        } else {
            fit_resident(Resident::Cpu, p, d, dim)
        }
    })
}
