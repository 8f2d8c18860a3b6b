//! Initialisation: greedy k-means++, k-means‖, random rows, precomputed centroids.

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use rayon::prelude::*;

use super::error::{ClusterError, ParamsError};
use super::params::{Init, Metric};
use super::steps::{accumulate, assign_raw, half_norms2, reduce_with};
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
        cand_d
            .par_chunks_mut(trials)
            .enumerate()
            .for_each(|(i, d)| {
                for (t, &c) in cands.iter().enumerate() {
                    d[t] = dist2(row(i), norms2[i], row(c), norms2[c]).min(closest[i]);
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
    let n = norms2.len();
    let first = rng.random_range(0..n);
    let mut cand = vec![first];
    let row = |i: usize| &data[i * dim..(i + 1) * dim];
    let mut closest: Vec<f32> = (0..n)
        .into_par_iter()
        .map(|i| dist2(row(i), norms2[i], row(first), norms2[first]))
        .collect();
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
        closest.par_iter_mut().enumerate().for_each(|(i, c)| {
            *c = c.min((norms2[i] - 2.0 * a.scores[i]).max(0.0));
        });
        cand.extend(new);
    }
    if cand.len() < k {
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
    // One Lloyd step with the candidates as centroids: each candidate becomes the mean of the
    // rows nearest to it (far less noisy than a single row) and its weight their number.
    let mut cdata = gather(data, dim, &cand);
    let bias = (metric == Metric::Euclidean).then(|| half_norms2(&cdata, dim));
    let a = assign_raw(data, dim, &cdata, bias.as_deref());
    let sums = accumulate(data, dim, &a.labels, None, cand.len());
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
