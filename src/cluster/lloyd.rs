//! Lloyd's algorithm written in the shardable steps, with restarts.

use super::error::ClusterError;
use super::init::initial_centroids;
use super::params::{KMeansParams, Metric};
use super::steps::{accumulate, assign_raw, half_norms2, reduce_with, repair_empty, Assignment};
use super::{check_data, row_norms2, splitmix};

/// A fitted k-means model.
#[derive(Debug, Clone, PartialEq)]
pub struct KMeansModel {
    /// Number of clusters.
    pub k: usize,
    /// Dimension.
    pub dim: usize,
    /// `k × dim` centroids, row-major (unit vectors for the spherical metric).
    pub centroids: Vec<f32>,
    /// The cluster of each row (the arg-max for `centroids`; ties → lowest index).
    pub labels: Vec<u32>,
    /// Spherical: the sum over rows of the cosine to their centroid (higher is better).
    /// Euclidean: the sum of squared distances (the inertia, lower is better).
    pub objective: f64,
    /// Lloyd iterations (assign + update) run by the kept run.
    pub iterations: usize,
    /// Whether the kept run stopped because labels stopped changing or the objective stopped
    /// improving (rather than by reaching `max_iter`).
    pub converged: bool,
    /// The metric used.
    pub metric: Metric,
}

impl KMeansModel {
    /// Assigns new rows to the model's centroids.
    ///
    /// # Errors
    /// Shape errors ([`ClusterError::RaggedData`] when the rows do not match the model's dim).
    pub fn predict(&self, data: &[f32]) -> Result<Assignment, ClusterError> {
        super::steps::assign_with(data, self.dim, &self.centroids, self.metric)
    }

    /// Members per cluster.
    pub fn sizes(&self) -> Vec<usize> {
        let mut s = vec![0; self.k];
        self.labels.iter().for_each(|&l| s[l as usize] += 1);
        s
    }
}

/// Fits with checked parameters.
pub(crate) fn fit(p: &KMeansParams, data: &[f32], dim: usize) -> Result<KMeansModel, ClusterError> {
    let n = check_data(data, dim)?;
    if p.k > n {
        return Err(ClusterError::TooFewRows { k: p.k, n });
    }
    let norms2 = row_norms2(data, dim);
    let mut best: Option<KMeansModel> = None;
    for run in 0..p.n_init {
        let seed = if run == 0 {
            p.seed
        } else {
            splitmix(p.seed ^ splitmix(run as u64))
        };
        let start = initial_centroids(&p.init, p.metric, data, dim, &norms2, p.k, seed)?;
        let model = lloyd(p, data, dim, &norms2, start);
        let better = match (&best, p.metric) {
            (None, _) => true,
            (Some(b), Metric::Spherical) => model.objective > b.objective,
            (Some(b), Metric::Euclidean) => model.objective < b.objective,
        };
        if better {
            best = Some(model);
        }
    }
    best.ok_or(ClusterError::EmptyData)
}

/// Objective of an assignment: Σ cos (spherical), Σ‖x − c‖² (Euclidean).
fn objective(a: &Assignment, norms2: &[f32], metric: Metric) -> f64 {
    match metric {
        Metric::Spherical => a.scores.iter().map(|&s| s as f64).sum(),
        Metric::Euclidean => a
            .scores
            .iter()
            .zip(norms2)
            .map(|(&s, &x)| (x as f64 - 2.0 * s as f64).max(0.0))
            .sum(),
    }
}

fn assign_metric(data: &[f32], dim: usize, c: &[f32], metric: Metric) -> Assignment {
    let bias = (metric == Metric::Euclidean).then(|| half_norms2(c, dim));
    assign_raw(data, dim, c, bias.as_deref())
}

/// One Lloyd run from `centroids`. Invariant: the returned labels are the assignment to the
/// returned centroids.
fn lloyd(
    p: &KMeansParams,
    data: &[f32],
    dim: usize,
    norms2: &[f32],
    mut centroids: Vec<f32>,
) -> KMeansModel {
    let (k, metric) = (p.k, p.metric);
    let mut a = assign_metric(data, dim, &centroids, metric);
    let mut obj = objective(&a, norms2, metric);
    let mut iterations = 0;
    let mut converged = false;
    while iterations < p.max_iter {
        let mut sums = accumulate(data, dim, &a.labels, None, k);
        if p.repair_empty {
            // Shapes are consistent by construction; an error cannot occur here.
            let _ = repair_empty(&mut sums, data, &mut a, metric);
        }
        if let Ok(c) = reduce_with(&sums, &centroids, metric) {
            centroids = c;
        }
        iterations += 1;
        let next = assign_metric(data, dim, &centroids, metric);
        let next_obj = objective(&next, norms2, metric);
        let stable = next.labels == a.labels;
        let gain = match metric {
            Metric::Spherical => next_obj - obj,
            Metric::Euclidean => obj - next_obj,
        };
        a = next;
        obj = next_obj;
        if stable || gain.abs() <= p.tolerance * obj.abs() {
            converged = true;
            break;
        }
    }
    KMeansModel {
        k,
        dim,
        centroids,
        labels: a.labels,
        objective: obj,
        iterations,
        converged,
        metric,
    }
}
