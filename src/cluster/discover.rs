//! Finding the number of clusters: over-cluster, merge, drop tiny clusters, refine.
//!
//! The method, when `k` is not known:
//!
//! 1. **Over-cluster**: spherical k-means with `k' = max_k` clusters (default `⌈2√n⌉`, at most
//!    `n`), a generous upper bound, so that every real cluster gets at least one centroid
//!    (greedy k-means++ seeding rarely misses a well-separated cluster when `k'` exceeds the
//!    true count).
//! 2. **Merge**: centroids whose cosine is at least `merge_threshold` (default 0.9) are joined
//!    (single linkage, union–find over the pairs); a merged centroid is the normalised sum of
//!    its parts' member sums. A real cluster split in pieces yields pieces whose centroids are
//!    almost parallel; distinct clusters are much further apart.
//! 3. **Drop tiny clusters**: merged clusters with fewer than `min_cluster_size` members
//!    (default: a tenth of the mean over-clustered size `n / k'`, at least 2) are removed and
//!    their rows go to the nearest remaining centroid in the next step.
//! 4. **Refine**: Lloyd from the merged centroids. Steps 2–4 repeat until nothing merges or is
//!    dropped (at most `rounds` times, default 3).
//!
//! The result is an ordinary [`KMeansModel`] whose `k` is the number found.

use super::check_data;
use super::error::{ClusterError, ParamsError};
use super::lloyd::KMeansModel;
use super::params::{Init, KMeansParams, KMeansValidParams};
use super::steps::{accumulate, score_block};

/// Unchecked parameters of k discovery.
#[derive(Debug, Clone, PartialEq)]
pub struct DiscoverParams {
    max_k: Option<usize>,
    merge_threshold: f32,
    min_cluster_size: Option<usize>,
    rounds: usize,
    max_iter: usize,
    seed: u64,
}

/// Parameters that passed [`DiscoverParams::check`].
#[derive(Debug, Clone, PartialEq)]
pub struct DiscoverValidParams(DiscoverParams);

impl Default for DiscoverParams {
    fn default() -> Self {
        Self::new()
    }
}

impl DiscoverParams {
    /// The defaults: `max_k` ⌈2√n⌉, `merge_threshold` 0.9, `min_cluster_size` max(2, n/(10·k')),
    /// `rounds` 3, `max_iter` 50, `seed` 0.
    pub fn new() -> Self {
        Self {
            max_k: None,
            merge_threshold: 0.9,
            min_cluster_size: None,
            rounds: 3,
            max_iter: 50,
            seed: 0,
        }
    }
    /// The over-clustering's `k'`, an upper bound on the clusters expected (capped at `n`).
    pub fn max_k(mut self, max_k: usize) -> Self {
        self.max_k = Some(max_k);
        self
    }
    /// Centroids at least this cosine apart are merged. Default 0.9. Range (−1, 1].
    pub fn merge_threshold(mut self, threshold: f32) -> Self {
        self.merge_threshold = threshold;
        self
    }
    /// Clusters with fewer members are dropped and their rows reassigned.
    pub fn min_cluster_size(mut self, size: usize) -> Self {
        self.min_cluster_size = Some(size);
        self
    }
    /// Most merge–drop–refine rounds. Default 3.
    pub fn rounds(mut self, rounds: usize) -> Self {
        self.rounds = rounds;
        self
    }
    /// Lloyd iterations per k-means run. Default 50.
    pub fn max_iter(mut self, max_iter: usize) -> Self {
        self.max_iter = max_iter;
        self
    }
    /// The random seed.
    pub fn seed(mut self, seed: u64) -> Self {
        self.seed = seed;
        self
    }
    /// Validates the parameters.
    ///
    /// # Errors
    /// The first broken invariant.
    pub fn check(self) -> Result<DiscoverValidParams, ParamsError> {
        if self.max_k == Some(0) {
            return Err(ParamsError::ZeroK);
        }
        if self.max_iter == 0 {
            return Err(ParamsError::ZeroMaxIter);
        }
        let t = self.merge_threshold;
        if !(t.is_finite() && t > -1.0 && t <= 1.0) {
            return Err(ParamsError::OutOfRange {
                name: "merge_threshold",
                range: "(-1, 1]",
                value: t as f64,
            });
        }
        Ok(DiscoverValidParams(self))
    }
    /// Checks, then fits (see [`DiscoverValidParams::fit`]).
    ///
    /// # Errors
    /// As [`check`](Self::check) and [`DiscoverValidParams::fit`].
    pub fn fit(self, data: &[f32], dim: usize) -> Result<KMeansModel, ClusterError> {
        self.check()?.fit(data, dim)
    }
}

fn find(parent: &mut [usize], mut i: usize) -> usize {
    while parent[i] != i {
        parent[i] = parent[parent[i]];
        i = parent[i];
    }
    i
}

impl DiscoverValidParams {
    /// Clusters unit rows without a given `k` (see the module docs).
    ///
    /// # Errors
    /// Shape and finiteness errors, [`ClusterError::EmptyData`].
    pub fn fit(&self, data: &[f32], dim: usize) -> Result<KMeansModel, ClusterError> {
        self.fit_with(data, dim, |p, d| p.fit(d, dim))
    }

    /// [`fit`](Self::fit) with every k-means run done by `fit` (e.g. on a GPU backend).
    pub(crate) fn fit_with<E: From<ClusterError>>(
        &self,
        data: &[f32],
        dim: usize,
        fit: impl Fn(&KMeansValidParams, &[f32]) -> Result<KMeansModel, E>,
    ) -> Result<KMeansModel, E> {
        let p = &self.0;
        let n = check_data(data, dim)?;
        let kp = p
            .max_k
            .unwrap_or_else(|| (2.0 * (n as f64).sqrt()).ceil() as usize)
            .clamp(1, n);
        let min_size = p.min_cluster_size.unwrap_or((n / (10 * kp)).max(2));
        let first = KMeansParams::new(kp)
            .max_iter(p.max_iter)
            .seed(p.seed)
            .check()
            .map_err(ClusterError::from)?;
        let mut model = fit(&first, data)?;
        for _ in 0..p.rounds {
            let k = model.k;
            let sums = accumulate(data, dim, &model.labels, None, k);
            // Cosines between all centroids (k' × k', small).
            let mut cos = vec![0f32; k * k];
            score_block(&model.centroids, dim, &model.centroids, &mut cos);
            let mut parent: Vec<usize> = (0..k).collect();
            for i in 0..k {
                for j in i + 1..k {
                    if cos[i * k + j] >= p.merge_threshold {
                        let (a, b) = (find(&mut parent, i), find(&mut parent, j));
                        if a != b {
                            parent[a.max(b)] = a.min(b);
                        }
                    }
                }
            }
            // Groups in order of their smallest member cluster.
            let mut group_of = vec![usize::MAX; k];
            let mut group_sums: Vec<Vec<f64>> = Vec::new();
            let mut group_counts: Vec<u64> = Vec::new();
            for j in 0..k {
                let r = find(&mut parent, j);
                if group_of[r] == usize::MAX {
                    group_of[r] = group_sums.len();
                    group_sums.push(vec![0.0; dim]);
                    group_counts.push(0);
                }
                let g = group_of[r];
                group_sums[g]
                    .iter_mut()
                    .zip(&sums.sums[j * dim..(j + 1) * dim])
                    .for_each(|(a, b)| *a += b);
                group_counts[g] += sums.counts[j];
            }
            let merged = group_sums.len() < k;
            let mut centroids = Vec::new();
            let mut dropped = false;
            for (s, &c) in group_sums.iter().zip(&group_counts) {
                let norm = s.iter().map(|v| v * v).sum::<f64>().sqrt();
                if (c as usize) < min_size || norm == 0.0 {
                    dropped = true;
                    continue;
                }
                centroids.extend(s.iter().map(|v| (v / norm) as f32));
            }
            if centroids.is_empty() {
                // Everything was tiny: keep the largest group.
                let g = (0..group_counts.len())
                    .max_by_key(|&g| (group_counts[g], usize::MAX - g))
                    .unwrap_or(0);
                let norm = dot_f64(&group_sums[g]).sqrt().max(f64::MIN_POSITIVE);
                centroids.extend(group_sums[g].iter().map(|v| (v / norm) as f32));
            }
            if !merged && !dropped {
                break;
            }
            let k_new = centroids.len() / dim;
            let next = KMeansParams::new(k_new)
                .max_iter(p.max_iter)
                .seed(p.seed)
                .init(Init::Precomputed(centroids))
                .check()
                .map_err(ClusterError::from)?;
            model = fit(&next, data)?;
        }
        Ok(model)
    }
}

fn dot_f64(v: &[f64]) -> f64 {
    v.iter().map(|x| x * x).sum()
}
