//! Initialisation: greedy k-means++, k-means‖, random rows, precomputed centroids.

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use rayon::prelude::*;

use super::error::{ClusterError, ParamsError};
use super::params::{Init, Metric};
use super::steps::{assign_raw, half_norms2, reduce_with, score_block, PartialSums};
use super::{check_finite, dot, hash_uniform, row_norms2, SUM_ROWS};

/// Starting centroids (`k × dim`) for one run.
pub(crate) fn initial_centroids(
    init: &Init,
    metric: Metric,
    data: &[f32],
    dim: usize,
    norms2: &[f32],
    k: usize,
    seed: u64,
) -> Result<Vec<f32>, ClusterError> {
    let n = norms2.len();
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let centroids = match init {
        Init::KMeansPlusPlus => gather(data, dim, &kmeanspp(data, dim, norms2, None, k, &mut rng)),
        Init::Random => {
            let idx = rand::seq::index::sample(&mut rng, n, k).into_vec();
            gather(data, dim, &idx)
        }
        Init::KMeansParallel {
            rounds,
            oversampling,
        } => kmeans_parallel(
            data,
            dim,
            norms2,
            k,
            *rounds,
            *oversampling,
            metric,
            seed,
            &mut rng,
        ),
        Init::Precomputed(c) => {
            if c.len() != k * dim {
                return Err(ParamsError::PrecomputedShape {
                    expected: k * dim,
                    got: c.len(),
                }
                .into());
            }
            check_finite(c, dim)?;
            let mut c = c.clone();
            if metric == Metric::Spherical {
                for (row, v) in c.chunks_mut(dim).enumerate() {
                    let norm = (dot(v, v) as f64).sqrt();
                    if norm == 0.0 {
                        return Err(ClusterError::ZeroVector { row });
                    }
                    v.iter_mut().for_each(|x| *x = (*x as f64 / norm) as f32);
                }
            }
            c
        }
    };
    Ok(centroids)
}

/// Copies rows `idx` of `data`.
pub(crate) fn gather(data: &[f32], dim: usize, idx: &[usize]) -> Vec<f32> {
    let mut out = Vec::with_capacity(idx.len() * dim);
    for &i in idx {
        out.extend_from_slice(&data[i * dim..(i + 1) * dim]);
    }
    out
}

#[inline]
fn dist2(x: &[f32], nx: f32, c: &[f32], nc: f32) -> f32 {
    (nx + nc - 2.0 * dot(x, c)).max(0.0)
}

/// Sum in fixed blocks of rows, merged in order (independent of the thread count).
fn fixed_sum(n: usize, f: impl Fn(usize) -> f64 + Sync) -> f64 {
    let parts: Vec<f64> = (0..n.div_ceil(SUM_ROWS))
        .into_par_iter()
        .map(|b| (b * SUM_ROWS..((b + 1) * SUM_ROWS).min(n)).map(&f).sum())
        .collect();
    parts.iter().sum()
}

/// Rows per block of k-means++'s distance products.
const PP_ROWS: usize = 512;

/// Greedy (weighted) k-means++: `2 + ⌊ln k⌋` draws ∝ weight · D² per centre plus the row of
/// largest weight · D², keeping the one that lowers the potential most (ties → the first).
/// Returns row indices.
pub(crate) fn kmeanspp(
    data: &[f32],
    dim: usize,
    norms2: &[f32],
    weights: Option<&[f32]>,
    k: usize,
    rng: &mut ChaCha8Rng,
) -> Vec<usize> {
    let n = norms2.len();
    let w = |i: usize| weights.map_or(1.0, |w| w[i] as f64);
    let trials = 2 + (k as f64).ln().floor() as usize;
    let draw = |cum: &[f64], rng: &mut ChaCha8Rng| -> usize {
        let total = cum.last().copied().unwrap_or(0.0);
        if total > 0.0 {
            let u = rng.random::<f64>() * total;
            cum.partition_point(|&v| v <= u).min(n - 1)
        } else {
            rng.random_range(0..n)
        }
    };
    let cumsum = |f: &dyn Fn(usize) -> f64| -> Vec<f64> {
        let mut acc = 0.0;
        (0..n)
            .map(|i| {
                acc += f(i);
                acc
            })
            .collect()
    };
    let first = if weights.is_some() {
        draw(&cumsum(&w), rng)
    } else {
        rng.random_range(0..n)
    };
    let row = |i: usize| &data[i * dim..(i + 1) * dim];
    let mut chosen = vec![first];
    let mut closest: Vec<f32> = (0..n)
        .into_par_iter()
        .map(|i| dist2(row(i), norms2[i], row(first), norms2[first]))
        .collect();
    let mut cand_d = vec![0f32; n * (trials + 1)];
    while chosen.len() < k {
        let cum = cumsum(&|i| w(i) * closest[i] as f64);
        let mut cands: Vec<usize> = (0..trials).map(|_| draw(&cum, rng)).collect();
        // Also try the row of largest weighted D² (ties → lowest index): when the noise within
        // clusters is as large as the gaps between them, sampling alone keeps missing the
        // last uncovered clusters, while the greedy criterion still rejects a lone outlier.
        let far = (0..n)
            .into_par_iter()
            .map(|i| (w(i) * closest[i] as f64, i))
            .reduce(
                || (f64::NEG_INFINITY, usize::MAX),
                |a, b| {
                    if b.0 > a.0 || (b.0 == a.0 && b.1 < a.1) {
                        b
                    } else {
                        a
                    }
                },
            );
        if far.1 < n {
            cands.push(far.1);
        }
        let trials = cands.len();
        let cand_d = &mut cand_d[..n * trials];
        // The candidates' distances to every row as small matrix products (rows × trials),
        // in fixed blocks of rows: the same result whatever the thread count.
        let tc = gather(data, dim, &cands);
        let tn: Vec<f32> = cands.iter().map(|&c| norms2[c]).collect();
        cand_d
            .par_chunks_mut(PP_ROWS * trials)
            .enumerate()
            .for_each(|(b, d)| {
                let r0 = b * PP_ROWS;
                let m = d.len() / trials;
                score_block(&data[r0 * dim..(r0 + m) * dim], dim, &tc, d);
                for (i, d) in (r0..r0 + m).zip(d.chunks_mut(trials)) {
                    for (v, &nc) in d.iter_mut().zip(&tn) {
                        *v = (norms2[i] + nc - 2.0 * *v).max(0.0).min(closest[i]);
                    }
                }
            });
        let mut best = (f64::INFINITY, 0);
        for t in 0..trials {
            let pot = fixed_sum(n, |i| w(i) * cand_d[i * trials + t] as f64);
            if pot < best.0 {
                best = (pot, t);
            }
        }
        let t = best.1;
        closest
            .par_iter_mut()
            .enumerate()
            .for_each(|(i, c)| *c = cand_d[i * trials + t]);
        chosen.push(cands[t]);
    }
    chosen
}

/// k-means‖ followed by weighted k-means++ and weighted Lloyd over the candidates.
#[allow(clippy::too_many_arguments)]
fn kmeans_parallel(
    data: &[f32],
    dim: usize,
    norms2: &[f32],
    k: usize,
    rounds: usize,
    oversampling: f64,
    metric: Metric,
    seed: u64,
    rng: &mut ChaCha8Rng,
) -> Vec<f32> {
    let (cand, nearest) = candidates(
        data,
        dim,
        norms2,
        k,
        rounds,
        oversampling,
        metric,
        seed,
        rng,
    );
    // One Lloyd step with the candidates as centroids: each candidate becomes the mean of the
    // rows nearest to it (far less noisy than a single row) and its weight their number.
    let mut cdata = gather(data, dim, &cand);
    let sums = grouped_sums(data, dim, &nearest, cand.len());
    if let Ok(c) = reduce_with(&sums, &cdata, metric) {
        cdata = c;
    }
    let weights: Vec<f32> = sums.counts.iter().map(|&c| c as f32).collect();
    let cnorms = row_norms2(&cdata, dim);
    let picked = kmeanspp(&cdata, dim, &cnorms, Some(&weights), k, rng);
    let mut centroids = gather(&cdata, dim, &picked);
    weighted_lloyd(&cdata, dim, &weights, &mut centroids, metric, 10);
    centroids
}

/// The sampling rounds of k-means‖: the candidate rows (at least `k`, topped up with random
/// rows when the rounds found fewer) and each row's nearest candidate (an index into them;
/// ties → the earliest). The nearest candidate is kept as the rounds go — each round assigns
/// every row to its new candidates anyway — so no pass over all rows × all candidates is
/// needed afterwards (it cost as much as the rounds together).
#[allow(clippy::too_many_arguments)]
fn candidates(
    data: &[f32],
    dim: usize,
    norms2: &[f32],
    k: usize,
    rounds: usize,
    oversampling: f64,
    metric: Metric,
    seed: u64,
    rng: &mut ChaCha8Rng,
) -> (Vec<usize>, Vec<u32>) {
    let n = norms2.len();
    let first = rng.random_range(0..n);
    let mut cand = vec![first];
    let row = |i: usize| &data[i * dim..(i + 1) * dim];
    let mut closest: Vec<f32> = (0..n)
        .into_par_iter()
        .map(|i| dist2(row(i), norms2[i], row(first), norms2[first]))
        .collect();
    // The nearest candidate of each row (ties → the earliest), kept as the rounds go.
    let mut nearest = vec![0u32; n];
    let ell = oversampling * k as f64;
    for r in 0..rounds {
        let psi = fixed_sum(n, |i| closest[i] as f64);
        if psi <= 0.0 {
            break;
        }
        let new: Vec<usize> = (0..n)
            .into_par_iter()
            .filter(|&i| hash_uniform(seed, r as u64, i as u64) < ell * closest[i] as f64 / psi)
            .collect();
        if new.is_empty() {
            continue;
        }
        let cents = gather(data, dim, &new);
        let a = assign_raw(data, dim, &cents, Some(&half_norms2(&cents, dim)));
        let base = cand.len() as u32;
        closest
            .par_iter_mut()
            .zip(nearest.par_iter_mut())
            .enumerate()
            .for_each(|(i, (c, near))| {
                let d = (norms2[i] - 2.0 * a.scores[i]).max(0.0);
                if d < *c {
                    *c = d;
                    *near = base + a.labels[i];
                }
            });
        cand.extend(new);
    }
    let topped = cand.len() < k;
    if topped {
        // Too few candidates (tiny data or many duplicates): top up with distinct random rows.
        let mut taken = vec![false; n];
        cand.iter().for_each(|&i| taken[i] = true);
        for i in rand::seq::index::sample(rng, n, n).into_iter() {
            if cand.len() == k {
                break;
            }
            if !taken[i] {
                taken[i] = true;
                cand.push(i);
            }
        }
    }
    if topped {
        // The random rows were not in any round: one assignment to all candidates.
        let cdata = gather(data, dim, &cand);
        let bias = (metric == Metric::Euclidean).then(|| half_norms2(&cdata, dim));
        nearest = assign_raw(data, dim, &cdata, bias.as_deref()).labels;
    }
    (cand, nearest)
}

/// Per-cluster sums and counts of the rows under `labels` (each `< k`), for many clusters:
/// rows are grouped by label first, then each cluster sums its rows in row order (in
/// parallel over clusters), so no per-block `k × dim` buffer is needed and the result does not
/// depend on the number of threads.
fn grouped_sums(data: &[f32], dim: usize, labels: &[u32], k: usize) -> PartialSums {
    let mut start = vec![0usize; k + 1];
    labels.iter().for_each(|&l| start[l as usize + 1] += 1);
    for j in 0..k {
        start[j + 1] += start[j];
    }
    let mut next = start.clone();
    let mut order = vec![0usize; labels.len()];
    for (i, &l) in labels.iter().enumerate() {
        order[next[l as usize]] = i;
        next[l as usize] += 1;
    }
    let mut sums = vec![0f64; k * dim];
    sums.par_chunks_mut(dim.max(1))
        .enumerate()
        .for_each(|(j, acc)| {
            for &i in &order[start[j]..start[j + 1]] {
                for (a, &x) in acc.iter_mut().zip(&data[i * dim..(i + 1) * dim]) {
                    *a += x as f64;
                }
            }
        });
    PartialSums {
        k,
        dim,
        sums,
        counts: (0..k).map(|j| (start[j + 1] - start[j]) as u64).collect(),
        objective: 0.0,
    }
}

/// A few Lloyd iterations over weighted points (small; sequential sums).
fn weighted_lloyd(
    points: &[f32],
    dim: usize,
    weights: &[f32],
    centroids: &mut [f32],
    metric: Metric,
    iters: usize,
) {
    let k = centroids.len() / dim;
    for _ in 0..iters {
        let bias = (metric == Metric::Euclidean).then(|| half_norms2(centroids, dim));
        let a = assign_raw(points, dim, centroids, bias.as_deref());
        let mut sums = vec![0f64; k * dim];
        let mut mass = vec![0f64; k];
        for (i, &l) in a.labels.iter().enumerate() {
            let l = l as usize;
            let w = weights[i] as f64;
            mass[l] += w;
            for (s, &x) in sums[l * dim..(l + 1) * dim]
                .iter_mut()
                .zip(&points[i * dim..])
            {
                *s += w * x as f64;
            }
        }
        for j in 0..k {
            if mass[j] == 0.0 {
                continue;
            }
            let s = &sums[j * dim..(j + 1) * dim];
            let scale = match metric {
                Metric::Spherical => {
                    let norm = s.iter().map(|v| v * v).sum::<f64>().sqrt();
                    if norm == 0.0 {
                        continue;
                    }
                    1.0 / norm
                }
                Metric::Euclidean => 1.0 / mass[j],
            };
            for (c, &v) in centroids[j * dim..(j + 1) * dim].iter_mut().zip(s) {
                *c = (v * scale) as f32;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cluster::steps::accumulate;
    use crate::synth::SynthParams;

    /// The nearest candidate kept through the rounds is the one a full assignment to all the
    /// candidates finds (except at a near-tie), and the grouped sums are the block sums.
    #[test]
    fn tracked_nearest_candidates_equal_a_full_assignment() {
        let dim = 48;
        let s = SynthParams::new(6000, dim, 30)
            .seed(11)
            .sigma2(2.0 / dim as f64)
            .check()
            .expect("synth");
        let data = s.rows(0, 6000).data;
        let norms2 = row_norms2(&data, dim);
        for metric in [Metric::Spherical, Metric::Euclidean] {
            let mut rng = ChaCha8Rng::seed_from_u64(3);
            let (cand, nearest) = candidates(&data, dim, &norms2, 40, 5, 2.0, metric, 3, &mut rng);
            assert!(cand.len() > 40 * 5, "{} candidates", cand.len());
            let cdata = gather(&data, dim, &cand);
            let full = assign_raw(&data, dim, &cdata, Some(&half_norms2(&cdata, dim)));
            for (i, (&a, &b)) in nearest.iter().zip(&full.labels).enumerate() {
                if a != b {
                    let x = &data[i * dim..(i + 1) * dim];
                    let c = |j: u32| &cdata[j as usize * dim..(j as usize + 1) * dim];
                    let (da, db) = (dist2(x, 1.0, c(a), 1.0), dist2(x, 1.0, c(b), 1.0));
                    assert!((da - db).abs() < 1e-5, "row {i}: {a} ({da}) vs {b} ({db})");
                }
            }
            let grouped = grouped_sums(&data, dim, &nearest, cand.len());
            let blocks = accumulate(&data, dim, &nearest, None, cand.len());
            assert_eq!(grouped.counts, blocks.counts);
            for (g, b) in grouped.sums.iter().zip(&blocks.sums) {
                assert!((g - b).abs() < 1e-9, "{g} vs {b}");
            }
        }
    }

    /// Too few candidates from the rounds: topped up with random rows, each row assigned to
    /// its nearest among all of them.
    #[test]
    fn topped_up_candidates_are_assigned() {
        let dim = 8;
        let s = SynthParams::new(300, dim, 3)
            .seed(2)
            .check()
            .expect("synth");
        let data = s.rows(0, 300).data;
        let norms2 = row_norms2(&data, dim);
        let mut rng = ChaCha8Rng::seed_from_u64(1);
        let (cand, nearest) = candidates(
            &data,
            dim,
            &norms2,
            100,
            1,
            0.01,
            Metric::Spherical,
            1,
            &mut rng,
        );
        assert_eq!(cand.len(), 100);
        let cdata = gather(&data, dim, &cand);
        let full = assign_raw(&data, dim, &cdata, None);
        assert_eq!(nearest, full.labels);
    }
}
