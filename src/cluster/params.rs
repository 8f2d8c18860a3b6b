//! Parameters of batch k-means: defaults, chainable setters, `check()`.

use super::error::{ClusterError, ParamsError};
use super::lloyd::{self, KMeansModel};

/// How to pick the starting centroids.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub enum Init {
    /// Greedy k-means++ (Arthur & Vassilvitskii 2007, with `2 + ln k` candidate draws per centre
    /// as scikit-learn does, plus the row of largest D² as one more candidate — without it,
    /// clusters whose inner noise is as large as the gaps between them are often missed). The
    /// default of scikit-learn. Good seeding, but it makes `k` sequential passes over the data,
    /// so it is slow when both `n` and `k` are large.
    KMeansPlusPlus,
    /// k-means‖ (Bahmani et al. 2012): a few rounds that each sample about `2k` candidates in one
    /// parallel pass; one Lloyd step over the data with the candidates as centroids (turning
    /// each into the mean of its nearest rows, weighted by their number); then weighted
    /// k-means++ and a few weighted Lloyd steps over the candidates.
    /// The default (5 rounds, ℓ = 2k, see [`Init::kmeans_parallel`]): the rounds cost about
    /// `rounds × oversampling` assignment passes at `k` (ten with the defaults, all of it
    /// parallel; each row's nearest candidate is kept as they go, so the candidates' weights
    /// need no further pass), the reclustering of the ≈ `rounds × oversampling × k`
    /// candidates three to four more; it gave the best seeds in our tests (digits: mean ARI
    /// 0.649 against 0.630 for k-means++ with one initialisation).
    KMeansParallel {
        /// Sampling rounds (Spark uses 2, the paper 5).
        rounds: usize,
        /// Oversampling factor ℓ as a multiple of `k` (the paper's ℓ = 2k is `2.0`).
        oversampling: f64,
    },
    /// `k` distinct rows drawn uniformly. Cheap, but often a worse local optimum: pair it with
    /// several restarts (`n_init`).
    Random,
    /// Start from these centroids (`k × dim`, row-major). Use to continue from an earlier
    /// model or to make runs comparable. Normalised first for the spherical metric.
    Precomputed(Vec<f32>),
}

impl Default for Init {
    /// [`Init::kmeans_parallel`].
    fn default() -> Self {
        Init::kmeans_parallel()
    }
}

impl Init {
    /// k-means‖ with the paper's defaults (5 rounds, ℓ = 2k).
    pub fn kmeans_parallel() -> Self {
        Init::KMeansParallel {
            rounds: 5,
            oversampling: 2.0,
        }
    }
}

/// The similarity the clustering uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum Metric {
    /// Spherical k-means: rows and centroids are unit vectors, a row goes to the centroid of
    /// highest cosine, and a centroid is the normalised sum of its members. The objective is the
    /// sum of the cosines (maximised). The default, and the engine's metric.
    #[default]
    Spherical,
    /// Classical (Euclidean) k-means for data that is not normalised: a row goes to the nearest
    /// centroid, a centroid is the mean of its members, and the objective is the sum of squared
    /// distances (the inertia, minimised).
    Euclidean,
}

/// Unchecked parameters of batch k-means. Build with [`KMeansParams::new`], chain setters,
/// then [`check`](Self::check) (or call [`fit`](Self::fit), which checks).
#[derive(Debug, Clone, PartialEq)]
pub struct KMeansParams {
    pub(crate) k: usize,
    pub(crate) max_iter: usize,
    pub(crate) tolerance: f64,
    pub(crate) n_init: usize,
    pub(crate) init: Init,
    pub(crate) seed: u64,
    pub(crate) metric: Metric,
    pub(crate) repair_empty: bool,
}

/// Parameters that passed [`KMeansParams::check`].
#[derive(Debug, Clone, PartialEq)]
pub struct KMeansValidParams(pub(crate) KMeansParams);

impl KMeansParams {
    /// `k` clusters with the defaults: `max_iter` 50, `tolerance` 1e-6, `n_init` 1,
    /// k-means‖ ([`Init::kmeans_parallel`]), `seed` 0, [`Metric::Spherical`], empty-cluster repair on.
    pub fn new(k: usize) -> Self {
        Self {
            k,
            max_iter: 50,
            tolerance: 1e-6,
            n_init: 1,
            init: Init::default(),
            seed: 0,
            metric: Metric::default(),
            repair_empty: true,
        }
    }
    /// The most Lloyd iterations (assign + update) per run. Default 50.
    pub fn max_iter(mut self, max_iter: usize) -> Self {
        self.max_iter = max_iter;
        self
    }
    /// Stop when no label changes, or when the objective improves by at most
    /// `tolerance × |objective|` in one iteration. Default 1e-6; 0 waits for stable labels.
    pub fn tolerance(mut self, tolerance: f64) -> Self {
        self.tolerance = tolerance;
        self
    }
    /// Independent runs (seeds derived from `seed`); the best objective is kept, the earliest
    /// run on ties. Default 1.
    pub fn n_init(mut self, n_init: usize) -> Self {
        self.n_init = n_init;
        self
    }
    /// The initialisation. Default [`Init::kmeans_parallel`].
    pub fn init(mut self, init: Init) -> Self {
        self.init = init;
        self
    }
    /// The random seed. Same seed and data ⇒ identical result, whatever the thread count.
    pub fn seed(mut self, seed: u64) -> Self {
        self.seed = seed;
        self
    }
    /// The metric. Default [`Metric::Spherical`].
    pub fn metric(mut self, metric: Metric) -> Self {
        self.metric = metric;
        self
    }
    /// Whether a cluster that loses all members is re-seeded from the row farthest from its
    /// centroid (default `true`); otherwise it keeps its previous centroid.
    pub fn repair_empty(mut self, on: bool) -> Self {
        self.repair_empty = on;
        self
    }

    /// Validates the parameters that do not depend on the data.
    ///
    /// # Errors
    /// A [`ParamsError`] naming the first broken invariant.
    pub fn check(self) -> Result<KMeansValidParams, ParamsError> {
        if self.k == 0 {
            return Err(ParamsError::ZeroK);
        }
        if self.max_iter == 0 {
            return Err(ParamsError::ZeroMaxIter);
        }
        if self.n_init == 0 {
            return Err(ParamsError::ZeroNInit);
        }
        if !(self.tolerance.is_finite() && self.tolerance >= 0.0) {
            return Err(ParamsError::OutOfRange {
                name: "tolerance",
                range: "[0, ∞)",
                value: self.tolerance,
            });
        }
        match &self.init {
            Init::KMeansParallel {
                rounds,
                oversampling,
            } => {
                if *rounds == 0 {
                    return Err(ParamsError::OutOfRange {
                        name: "k-means‖ rounds",
                        range: "[1, ∞)",
                        value: 0.0,
                    });
                }
                if !(oversampling.is_finite() && *oversampling > 0.0) {
                    return Err(ParamsError::OutOfRange {
                        name: "k-means‖ oversampling",
                        range: "(0, ∞)",
                        value: *oversampling,
                    });
                }
            }
            Init::Precomputed(c) if c.is_empty() || c.len() % self.k != 0 => {
                return Err(ParamsError::PrecomputedShape {
                    expected: self.k,
                    got: c.len(),
                });
            }
            _ => {}
        }
        Ok(KMeansValidParams(self))
    }

    /// Checks the parameters, then fits (see [`KMeansValidParams::fit`]).
    ///
    /// # Errors
    /// As [`check`](Self::check) and [`KMeansValidParams::fit`].
    pub fn fit(self, data: &[f32], dim: usize) -> Result<KMeansModel, ClusterError> {
        self.check()?.fit(data, dim)
    }
}

impl KMeansValidParams {
    /// The number of clusters.
    pub fn k(&self) -> usize {
        self.0.k
    }
    /// The checked parameters.
    pub fn params(&self) -> &KMeansParams {
        &self.0
    }

    /// Clusters `data` (`n × dim`, row-major; unit rows for the spherical metric).
    ///
    /// # Errors
    /// [`ClusterError::ZeroDimension`], [`ClusterError::RaggedData`],
    /// [`ClusterError::EmptyData`], [`ClusterError::TooFewRows`] (k > n),
    /// [`ClusterError::NonFinite`], or a precomputed-centroid shape error.
    pub fn fit(&self, data: &[f32], dim: usize) -> Result<KMeansModel, ClusterError> {
        lloyd::fit(&self.0, data, dim)
    }
}
