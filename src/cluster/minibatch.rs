//! Mini-batch and streaming k-means (Sculley 2010).
//!
//! Each centroid keeps the number of rows it has absorbed, `v`; a batch's members `x` move it
//! with the per-centroid learning rate `1/v` — `c ← c + (x − c)/v` for each member in turn —
//! which is the running mean of everything the centroid has absorbed. The members of one batch
//! are applied together (`c ← (v·c + Σx)/(v + m)`, exactly the result of the per-row rule),
//! then the centroid is renormalised (spherical metric). All rows of a batch are assigned to
//! the centroids as they were at the start of the batch, as in Sculley's algorithm.

use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;

use super::error::{ClusterError, ParamsError};
use super::init::{gather, initial_centroids};
use super::params::{Init, Metric};
use super::steps::{accumulate, assign_raw, half_norms2, Assignment};
use super::{check_data, check_finite, check_shape, row_norms2};

/// Unchecked parameters of mini-batch k-means.
#[derive(Debug, Clone, PartialEq)]
pub struct MiniBatchParams {
    k: usize,
    batch_size: usize,
    max_iter: usize,
    init: Init,
    seed: u64,
    metric: Metric,
}

/// Parameters that passed [`MiniBatchParams::check`].
#[derive(Debug, Clone, PartialEq)]
pub struct MiniBatchValidParams(MiniBatchParams);

impl MiniBatchParams {
    /// `k` clusters with the defaults: `batch_size` 1024, `max_iter` 100 batches,
    /// k-means‖ ([`Init::kmeans_parallel`]) on a sample of `max(3·batch_size, 3k)` rows, `seed` 0,
    /// [`Metric::Spherical`].
    pub fn new(k: usize) -> Self {
        Self {
            k,
            batch_size: 1024,
            max_iter: 100,
            init: Init::default(),
            seed: 0,
            metric: Metric::default(),
        }
    }
    /// Rows per batch (drawn without replacement within a batch). Default 1024.
    pub fn batch_size(mut self, batch_size: usize) -> Self {
        self.batch_size = batch_size;
        self
    }
    /// Number of batches [`fit`](MiniBatchValidParams::fit) draws. Default 100.
    pub fn max_iter(mut self, max_iter: usize) -> Self {
        self.max_iter = max_iter;
        self
    }
    /// The initialisation, run on the initial sample. Default [`Init::kmeans_parallel`].
    pub fn init(mut self, init: Init) -> Self {
        self.init = init;
        self
    }
    /// The random seed (initial sample, seeding and batches).
    pub fn seed(mut self, seed: u64) -> Self {
        self.seed = seed;
        self
    }
    /// The metric. Default [`Metric::Spherical`].
    pub fn metric(mut self, metric: Metric) -> Self {
        self.metric = metric;
        self
    }
    /// Validates the parameters.
    ///
    /// # Errors
    /// The first broken invariant.
    pub fn check(self) -> Result<MiniBatchValidParams, ParamsError> {
        if self.k == 0 {
            return Err(ParamsError::ZeroK);
        }
        if self.batch_size == 0 {
            return Err(ParamsError::ZeroBatchSize);
        }
        if self.max_iter == 0 {
            return Err(ParamsError::ZeroMaxIter);
        }
        Ok(MiniBatchValidParams(self))
    }
    /// Checks, then fits (see [`MiniBatchValidParams::fit`]).
    ///
    /// # Errors
    /// As [`check`](Self::check) and [`MiniBatchValidParams::fit`].
    pub fn fit(self, data: &[f32], dim: usize) -> Result<MiniBatchKMeans, ClusterError> {
        self.check()?.fit(data, dim)
    }
}

impl MiniBatchValidParams {
    /// Seeds on a random sample, then applies `max_iter` random batches of `data`.
    ///
    /// # Errors
    /// Shape and finiteness errors, [`ClusterError::TooFewRows`] if `k > n`.
    pub fn fit(&self, data: &[f32], dim: usize) -> Result<MiniBatchKMeans, ClusterError> {
        let p = &self.0;
        let n = check_data(data, dim)?;
        if p.k > n {
            return Err(ClusterError::TooFewRows { k: p.k, n });
        }
        let mut rng = ChaCha8Rng::seed_from_u64(p.seed);
        let init_n = n.min((3 * p.batch_size).max(3 * p.k));
        let mut idx = rand::seq::index::sample(&mut rng, n, init_n).into_vec();
        idx.sort_unstable();
        let sample = gather(data, dim, &idx);
        let norms2 = row_norms2(&sample, dim);
        let start = initial_centroids(&p.init, p.metric, &sample, dim, &norms2, p.k, p.seed)?;
        let mut model = MiniBatchKMeans {
            k: p.k,
            dim,
            centroids: start,
            counts: vec![0; p.k],
            metric: p.metric,
        };
        let b = p.batch_size.min(n);
        for _ in 0..p.max_iter {
            let mut idx = rand::seq::index::sample(&mut rng, n, b).into_vec();
            idx.sort_unstable();
            model.update(&gather(data, dim, &idx));
        }
        Ok(model)
    }
}

/// Centroids with per-centroid counts, updated batch by batch.
#[derive(Debug, Clone, PartialEq)]
pub struct MiniBatchKMeans {
    /// Number of clusters.
    pub k: usize,
    /// Dimension.
    pub dim: usize,
    /// `k × dim` centroids.
    pub centroids: Vec<f32>,
    /// Rows absorbed by each centroid so far.
    pub counts: Vec<u64>,
    /// The metric.
    pub metric: Metric,
}

impl MiniBatchKMeans {
    /// Starts streaming from existing centroids (`k × dim`) with zero counts: the first batch
    /// that reaches a centroid replaces it by the mean of its members.
    ///
    /// # Errors
    /// Shape and finiteness errors; [`ClusterError::EmptyData`] if there is no centroid.
    pub fn from_centroids(
        centroids: Vec<f32>,
        dim: usize,
        metric: Metric,
    ) -> Result<Self, ClusterError> {
        let k = check_data(&centroids, dim)?;
        Ok(Self {
            k,
            dim,
            centroids,
            counts: vec![0; k],
            metric,
        })
    }

    /// Updates the centroids from a batch of new rows and returns the batch's assignment (to
    /// the centroids before the update). An empty batch changes nothing.
    ///
    /// # Errors
    /// Shape and finiteness errors (nothing is changed then).
    pub fn partial_fit(&mut self, batch: &[f32]) -> Result<Assignment, ClusterError> {
        check_shape(batch, self.dim)?;
        check_finite(batch, self.dim)?;
        Ok(self.update(batch))
    }

    /// Assigns rows to the current centroids.
    ///
    /// # Errors
    /// Shape errors.
    pub fn predict(&self, data: &[f32]) -> Result<Assignment, ClusterError> {
        super::steps::assign_with(data, self.dim, &self.centroids, self.metric)
    }

    fn update(&mut self, batch: &[f32]) -> Assignment {
        let dim = self.dim;
        let bias = (self.metric == Metric::Euclidean).then(|| half_norms2(&self.centroids, dim));
        let a = assign_raw(batch, dim, &self.centroids, bias.as_deref());
        let sums = accumulate(batch, dim, &a.labels, None, self.k);
        for j in 0..self.k {
            let m = sums.counts[j];
            if m == 0 {
                continue;
            }
            let v = self.counts[j] as f64;
            let total = v + m as f64;
            let c = &mut self.centroids[j * dim..(j + 1) * dim];
            let s = &sums.sums[j * dim..(j + 1) * dim];
            let mut new: Vec<f64> = c
                .iter()
                .zip(s)
                .map(|(&c, &s)| (v * c as f64 + s) / total)
                .collect();
            if self.metric == Metric::Spherical {
                let norm = new.iter().map(|x| x * x).sum::<f64>().sqrt();
                if norm > 0.0 {
                    new.iter_mut().for_each(|x| *x /= norm);
                }
            }
            c.iter_mut().zip(&new).for_each(|(c, &x)| *c = x as f32);
            self.counts[j] += m;
        }
        a
    }
}
