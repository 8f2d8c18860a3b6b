//! The pure, shardable steps of Lloyd's algorithm.
//!
//! One iteration is [`assign`] → [`partial_sums`] (per shard; [`PartialSums::merge`] combines
//! shards) → [`reduce`]. The batch k-means in this crate is written in these steps, so a
//! distributed driver that runs them on shards and merges the partial sums gets the same
//! clustering as one process (up to the summation order of the merge).
//!
//! ```
//! use engram::cluster::{assign, reduce};
//! let data = [1.0f32, 0.0, 0.8, 0.6, 0.0, 1.0];
//! let centroids = [1.0f32, 0.0, 0.0, 1.0];
//! let a = assign(&data, 2, &centroids).unwrap();
//! assert_eq!(a.labels, vec![0, 0, 1]);
//! // Two shards: rows 0..2 and row 2.
//! let mut sums = a.partial_sums(&data[..4], 2, 2, 0).unwrap();
//! let other = a.partial_sums(&data[4..], 2, 2, 2).unwrap();
//! sums.merge(&other).unwrap();
//! let next = reduce(&sums, &centroids).unwrap();
//! assert!((next[0] - 0.9487).abs() < 1e-4);
//! ```

use rayon::prelude::*;

use super::error::ClusterError;
use super::params::Metric;
use super::{check_shape, dot, SUM_ROWS};
use crate::compute::cpu::gemm::{matmul_t, Threads};
use crate::compute::cpu::{argmax_panels, pack_panels, SimdLevel};

/// Rows per score block of the assignment step.
pub(crate) const ROW_BLOCK: usize = 256;
/// Centroids per score block of the assignment step.
pub(crate) const CENTROID_BLOCK: usize = 1024;

/// The result of [`assign`]: for each row, its centroid and its score there.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Assignment {
    /// The index of the best centroid for each row (ties → the lowest index).
    pub labels: Vec<u32>,
    /// The cosine to that centroid (spherical), or `x·c − ½‖c‖²` (Euclidean, see
    /// [`assign_with`]).
    pub scores: Vec<f32>,
}

/// Per-cluster sums of member rows, member counts and an objective; mergeable across shards.
#[derive(Debug, Clone, PartialEq)]
pub struct PartialSums {
    /// Number of clusters.
    pub k: usize,
    /// Dimension.
    pub dim: usize,
    /// `k × dim` sums of the member rows, in f64.
    pub sums: Vec<f64>,
    /// Members per cluster.
    pub counts: Vec<u64>,
    /// The sum of the assignment scores of the rows summed (0 when built by [`partial_sums`]
    /// from labels alone; filled by [`Assignment::partial_sums`]).
    pub objective: f64,
}

impl PartialSums {
    /// All-zero sums for `k` clusters of dimension `dim`.
    pub fn zeros(k: usize, dim: usize) -> Self {
        Self {
            k,
            dim,
            sums: vec![0.0; k * dim],
            counts: vec![0; k],
            objective: 0.0,
        }
    }

    /// Adds `other` into `self`. Merging shards in a fixed order gives a deterministic result.
    ///
    /// # Errors
    /// [`ClusterError::ShapeMismatch`] if `k` or `dim` differ.
    pub fn merge(&mut self, other: &PartialSums) -> Result<(), ClusterError> {
        if (self.k, self.dim) != (other.k, other.dim) {
            return Err(ClusterError::ShapeMismatch {
                a: (self.k, self.dim),
                b: (other.k, other.dim),
            });
        }
        self.merge_unchecked(other);
        Ok(())
    }

    fn merge_unchecked(&mut self, other: &PartialSums) {
        self.sums
            .iter_mut()
            .zip(&other.sums)
            .for_each(|(a, b)| *a += b);
        self.counts
            .iter_mut()
            .zip(&other.counts)
            .for_each(|(a, b)| *a += b);
        self.objective += other.objective;
    }

    /// The clusters with no member.
    pub fn empty_clusters(&self) -> Vec<usize> {
        (0..self.k).filter(|&j| self.counts[j] == 0).collect()
    }
}

impl Assignment {
    /// [`partial_sums`] of rows `data` (which are rows `offset..offset + n` of this assignment)
    /// with the objective set to the sum of their scores.
    ///
    /// # Errors
    /// As [`partial_sums`]; [`ClusterError::LengthMismatch`] if the rows run past the labels.
    pub fn partial_sums(
        &self,
        data: &[f32],
        dim: usize,
        k: usize,
        offset: usize,
    ) -> Result<PartialSums, ClusterError> {
        let n = check_shape(data, dim)?;
        if offset + n > self.labels.len() || self.scores.len() != self.labels.len() {
            return Err(ClusterError::LengthMismatch {
                what: "assignment rows",
                expected: offset + n,
                got: self.labels.len().min(self.scores.len()),
            });
        }
        let labels = &self.labels[offset..offset + n];
        let scores = &self.scores[offset..offset + n];
        check_labels(labels, k)?;
        Ok(accumulate(data, dim, labels, Some(scores), k))
    }
}

/// Assigns every row of `data` (`n × dim`) to the centroid (`k × dim`) of highest dot product
/// (cosine for unit vectors); ties go to the lowest index.
///
/// Rows × centroids are tiled through `gemm` into small score blocks
/// (256 rows × up to 1024 centroids) whose arg-max is taken at once; no `n × k` matrix exists.
/// Row blocks run in parallel on the current rayon pool. `n = 0` is allowed.
///
/// # Errors
/// [`ClusterError::ZeroDimension`], [`ClusterError::RaggedData`] for either argument,
/// [`ClusterError::EmptyData`] if there is no centroid.
pub fn assign(data: &[f32], dim: usize, centroids: &[f32]) -> Result<Assignment, ClusterError> {
    assign_with(data, dim, centroids, Metric::Spherical)
}

/// [`assign`] for either metric. With [`Metric::Euclidean`] a row goes to the nearest centroid
/// and its score is `x·c − ½‖c‖²` (so `‖x − c‖² = ‖x‖² − 2·score`).
///
/// # Errors
/// As [`assign`].
pub fn assign_with(
    data: &[f32],
    dim: usize,
    centroids: &[f32],
    metric: Metric,
) -> Result<Assignment, ClusterError> {
    check_shape(data, dim)?;
    if check_shape(centroids, dim)? == 0 {
        return Err(ClusterError::EmptyData);
    }
    let bias = match metric {
        Metric::Spherical => None,
        Metric::Euclidean => Some(half_norms2(centroids, dim)),
    };
    Ok(assign_raw(data, dim, centroids, bias.as_deref()))
}

/// `½‖c‖²` per centroid.
pub(crate) fn half_norms2(centroids: &[f32], dim: usize) -> Vec<f32> {
    centroids.chunks(dim).map(|c| 0.5 * dot(c, c)).collect()
}

/// The assignment kernel; shapes already checked. Score = `x·c − bias[c]`.
pub(crate) fn assign_raw(
    data: &[f32],
    dim: usize,
    centroids: &[f32],
    bias: Option<&[f32]>,
) -> Assignment {
    let n = data.len() / dim;
    let mut labels = vec![0u32; n];
    let mut scores = vec![0f32; n];
    let level = SimdLevel::current();
    // With AVX-512 the centroids are packed once for the register-blocked kernel of batched
    // search; otherwise score blocks go through the `gemm` crate.
    let panels = pack_panels(level, centroids, dim);
    let k = centroids.len() / dim.max(1);
    labels
        .par_chunks_mut(ROW_BLOCK)
        .zip(scores.par_chunks_mut(ROW_BLOCK))
        .enumerate()
        .for_each_init(Vec::new, |buf, (b, (lab, sc))| {
            let r0 = b * ROW_BLOCK;
            let rows = &data[r0 * dim..(r0 + lab.len()) * dim];
            match &panels {
                Some(p) => argmax_panels(level, rows, dim, p, k, bias, lab, sc, None),
                None => argmax_block(rows, dim, centroids, bias, buf, lab, sc),
            }
        });
    Assignment { labels, scores }
}

/// [`assign_raw`] (spherical) that also returns each row's second-best cosine (−∞ when
/// k = 1): with it, how far centroids may move before a label can change is known
/// without another pass (see `crate::consolidation`).
pub(crate) fn assign_top2(data: &[f32], dim: usize, centroids: &[f32]) -> (Assignment, Vec<f32>) {
    let n = data.len() / dim;
    let mut labels = vec![0u32; n];
    let mut scores = vec![0f32; n];
    let mut second = vec![0f32; n];
    let level = SimdLevel::current();
    let panels = pack_panels(level, centroids, dim);
    let k = centroids.len() / dim.max(1);
    labels
        .par_chunks_mut(ROW_BLOCK)
        .zip(scores.par_chunks_mut(ROW_BLOCK))
        .zip(second.par_chunks_mut(ROW_BLOCK))
        .enumerate()
        .for_each_init(Vec::new, |buf, (b, ((lab, sc), sec))| {
            let r0 = b * ROW_BLOCK;
            let rows = &data[r0 * dim..(r0 + lab.len()) * dim];
            match &panels {
                Some(p) => argmax_panels(level, rows, dim, p, k, None, lab, sc, Some(sec)),
                None => {
                    argmax_block(rows, dim, centroids, None, buf, lab, sc);
                    top2_block(rows, dim, centroids, buf, lab, sec);
                }
            }
        });
    (Assignment { labels, scores }, second)
}

/// The second-best score of each row, given its best label; the last centroid block's
/// scores may still be in `buf` but every block is recomputed for simplicity when k spans
/// several blocks.
fn top2_block(
    rows: &[f32],
    dim: usize,
    centroids: &[f32],
    buf: &mut Vec<f32>,
    labels: &[u32],
    second: &mut [f32],
) {
    let m = labels.len();
    let k = centroids.len() / dim;
    second.fill(f32::NEG_INFINITY);
    let blocks = k.div_ceil(CENTROID_BLOCK);
    for blk in 0..blocks {
        let c0 = blk * CENTROID_BLOCK;
        let kb = CENTROID_BLOCK.min(k - c0);
        // The last block's scores are still in `buf` from the arg-max pass.
        if blk + 1 != blocks {
            buf.resize(m * kb, 0.0);
            score_block(
                rows,
                dim,
                &centroids[c0 * dim..(c0 + kb) * dim],
                &mut buf[..m * kb],
            );
        }
        for i in 0..m {
            let s = &buf[i * kb..(i + 1) * kb];
            let own = labels[i] as usize;
            let mut best = second[i];
            for (j, &v) in s.iter().enumerate() {
                if c0 + j != own && v > best {
                    best = v;
                }
            }
            second[i] = best;
        }
    }
}

/// `dst (m × kb, row-major) = rows (m × dim) · centroidsᵀ (dim × kb)`.
///
/// # Panics
/// When `rows` or `centroids` is not a whole number of rows, or `dst` does not hold `m × kb`
/// floats.
pub(crate) fn score_block(rows: &[f32], dim: usize, centroids: &[f32], dst: &mut [f32]) {
    let m = rows.len().checked_div(dim).unwrap_or(0);
    let kb = centroids.len().checked_div(dim).unwrap_or(0);
    matmul_t(m, kb, dim, rows, centroids, dst, Threads::One);
}

fn argmax_block(
    rows: &[f32],
    dim: usize,
    centroids: &[f32],
    bias: Option<&[f32]>,
    buf: &mut Vec<f32>,
    labels: &mut [u32],
    scores: &mut [f32],
) {
    let m = labels.len();
    let k = centroids.len() / dim;
    labels.fill(0);
    scores.fill(f32::NEG_INFINITY);
    let mut c0 = 0;
    while c0 < k {
        let kb = CENTROID_BLOCK.min(k - c0);
        buf.resize(m * kb, 0.0);
        score_block(
            rows,
            dim,
            &centroids[c0 * dim..(c0 + kb) * dim],
            &mut buf[..m * kb],
        );
        for i in 0..m {
            let s = &buf[i * kb..(i + 1) * kb];
            let (mut best, mut arg) = (scores[i], labels[i] as usize);
            match bias {
                None => {
                    for (j, &v) in s.iter().enumerate() {
                        if v > best {
                            best = v;
                            arg = c0 + j;
                        }
                    }
                }
                Some(bias) => {
                    for (j, (&v, &h)) in s.iter().zip(&bias[c0..c0 + kb]).enumerate() {
                        let v = v - h;
                        if v > best {
                            best = v;
                            arg = c0 + j;
                        }
                    }
                }
            }
            // A row of NaN scores (cannot happen for checked data) keeps label 0.
            scores[i] = best;
            labels[i] = arg as u32;
        }
        c0 += kb;
    }
}

fn check_labels(labels: &[u32], k: usize) -> Result<(), ClusterError> {
    match labels.iter().position(|&l| l as usize >= k) {
        Some(row) => Err(ClusterError::LabelOutOfRange {
            row,
            label: labels[row],
            k,
        }),
        None => Ok(()),
    }
}

/// Per-cluster sums (f64) and counts of the rows of `data` under `labels`; `objective` is 0.
/// Parallel over fixed blocks of rows whose partial sums are merged in block order, so the
/// result does not depend on the number of threads.
///
/// # Errors
/// Shape errors, [`ClusterError::LengthMismatch`] if `labels` does not have one entry per row,
/// [`ClusterError::LabelOutOfRange`].
pub fn partial_sums(
    data: &[f32],
    dim: usize,
    labels: &[u32],
    k: usize,
) -> Result<PartialSums, ClusterError> {
    let n = check_shape(data, dim)?;
    if labels.len() != n {
        return Err(ClusterError::LengthMismatch {
            what: "labels",
            expected: n,
            got: labels.len(),
        });
    }
    check_labels(labels, k)?;
    Ok(accumulate(data, dim, labels, None, k))
}

/// The summation kernel; shapes and labels already checked.
pub(crate) fn accumulate(
    data: &[f32],
    dim: usize,
    labels: &[u32],
    scores: Option<&[f32]>,
    k: usize,
) -> PartialSums {
    let n = labels.len();
    let blocks = n.div_ceil(SUM_ROWS);
    let mut total = PartialSums::zeros(k, dim);
    let wave = rayon::current_num_threads().max(1);
    let mut b0 = 0;
    while b0 < blocks {
        let b1 = (b0 + wave).min(blocks);
        let parts: Vec<PartialSums> = (b0..b1)
            .into_par_iter()
            .map(|b| {
                let r0 = b * SUM_ROWS;
                let r1 = (r0 + SUM_ROWS).min(n);
                let mut p = PartialSums::zeros(k, dim);
                for r in r0..r1 {
                    let l = labels[r] as usize;
                    let acc = &mut p.sums[l * dim..(l + 1) * dim];
                    for (a, &x) in acc.iter_mut().zip(&data[r * dim..(r + 1) * dim]) {
                        *a += x as f64;
                    }
                    p.counts[l] += 1;
                }
                if let Some(s) = scores {
                    p.objective = s[r0..r1].iter().map(|&v| v as f64).sum();
                }
                p
            })
            .collect();
        // Fixed merge order: block 0, 1, 2, … whatever the wave size.
        for p in &parts {
            total.merge_unchecked(p);
        }
        b0 = b1;
    }
    total
}

/// New spherical centroids: each cluster's normalised sum; a cluster with no member (or a zero
/// sum) keeps its previous centroid. Use [`repair_empty`] first to re-seed empty clusters.
///
/// # Errors
/// [`ClusterError::LengthMismatch`] if `previous` is not `k × dim`.
pub fn reduce(sums: &PartialSums, previous: &[f32]) -> Result<Vec<f32>, ClusterError> {
    reduce_with(sums, previous, Metric::Spherical)
}

/// [`reduce`] for either metric: [`Metric::Euclidean`] takes the mean instead of normalising.
///
/// # Errors
/// As [`reduce`].
pub fn reduce_with(
    sums: &PartialSums,
    previous: &[f32],
    metric: Metric,
) -> Result<Vec<f32>, ClusterError> {
    let (k, dim) = (sums.k, sums.dim);
    if previous.len() != k * dim {
        return Err(ClusterError::LengthMismatch {
            what: "previous centroids",
            expected: k * dim,
            got: previous.len(),
        });
    }
    let mut out = previous.to_vec();
    out.par_chunks_mut(dim.max(1))
        .enumerate()
        .for_each(|(j, c)| {
            let s = &sums.sums[j * dim..(j + 1) * dim];
            let count = sums.counts[j];
            if count == 0 {
                return;
            }
            let scale = match metric {
                Metric::Spherical => {
                    let norm = s.iter().map(|v| v * v).sum::<f64>().sqrt();
                    if norm == 0.0 {
                        return;
                    }
                    1.0 / norm
                }
                Metric::Euclidean => 1.0 / count as f64,
            };
            c.iter_mut()
                .zip(s)
                .for_each(|(c, &v)| *c = (v * scale) as f32);
        });
    Ok(out)
}

/// Re-seeds the empty clusters of `sums`: in cluster order, each empty cluster takes the row
/// farthest from its own centroid (lowest score; ties → lowest row index) whose cluster keeps
/// at least one member; the row's label, score, the sums, counts and objective are updated.
/// Returns the clusters re-seeded. Needs the whole data (not one shard): a distributed driver
/// either gathers it or lets [`reduce`] keep the previous centroid.
///
/// # Errors
/// Shape errors and [`ClusterError::LengthMismatch`] if `assignment` does not cover `data`.
pub fn repair_empty(
    sums: &mut PartialSums,
    data: &[f32],
    assignment: &mut Assignment,
    metric: Metric,
) -> Result<Vec<usize>, ClusterError> {
    let dim = sums.dim;
    let n = check_shape(data, dim)?;
    if assignment.labels.len() != n || assignment.scores.len() != n {
        return Err(ClusterError::LengthMismatch {
            what: "assignment rows",
            expected: n,
            got: assignment.labels.len().min(assignment.scores.len()),
        });
    }
    check_labels(&assignment.labels, sums.k)?;
    let empty = sums.empty_clusters();
    if empty.is_empty() {
        return Ok(empty);
    }
    // Distance of each row to its centroid, larger = farther.
    let far: Vec<f32> = match metric {
        Metric::Spherical => assignment.scores.iter().map(|s| -s).collect(),
        Metric::Euclidean => data
            .chunks(dim)
            .zip(&assignment.scores)
            .map(|(x, s)| dot(x, x) - 2.0 * s)
            .collect(),
    };
    let mut order: Vec<u32> = (0..n as u32).collect();
    order.sort_by(|&a, &b| far[b as usize].total_cmp(&far[a as usize]).then(a.cmp(&b)));
    let mut repaired = Vec::new();
    let mut next = order.into_iter();
    for j in empty {
        let Some(i) = next
            .by_ref()
            .find(|&i| sums.counts[assignment.labels[i as usize] as usize] > 1)
        else {
            break;
        };
        let i = i as usize;
        let x = &data[i * dim..(i + 1) * dim];
        let donor = assignment.labels[i] as usize;
        for (a, &v) in sums.sums[donor * dim..(donor + 1) * dim].iter_mut().zip(x) {
            *a -= v as f64;
        }
        sums.counts[donor] -= 1;
        for (a, &v) in sums.sums[j * dim..(j + 1) * dim].iter_mut().zip(x) {
            *a = v as f64;
        }
        sums.counts[j] = 1;
        let new_score = match metric {
            Metric::Spherical => dot(x, x).sqrt(),
            Metric::Euclidean => 0.5 * dot(x, x),
        };
        sums.objective += (new_score - assignment.scores[i]) as f64;
        assignment.labels[i] = j as u32;
        assignment.scores[i] = new_score;
        repaired.push(j);
    }
    Ok(repaired)
}
