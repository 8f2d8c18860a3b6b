//! The shardable k-means steps, batch k-means, the synthetic stream and the top-k merge.

use engram::cluster::{self, Assignment, Init, Metric, PartialSums};
use engram::compute::{merge_sorted, Hit};
use engram::synth::{Order, Sizes, SynthParams};
use engram::KMeansParams;
use numpy::{PyArray1, PyArray2};
use pyo3::prelude::*;

use crate::arrays::{f64_vec, first_non_finite, matrix, unsigned_vec, vec1, vec2, Arr1, Arr2};
use crate::engine::NO_ID;
use crate::errors::{check_k, cluster, input, ClusterError};

fn parse_metric(s: &str) -> PyResult<Metric> {
    match s.trim().to_ascii_lowercase().as_str() {
        "spherical" | "cosine" => Ok(Metric::Spherical),
        "euclidean" => Ok(Metric::Euclidean),
        _ => Err(input(format!(
            "metric must be \"spherical\" or \"euclidean\", got {s:?}"
        ))),
    }
}

fn same_dim(a: usize, b: usize, what: &str) -> PyResult<()> {
    if a != b {
        return Err(input(format!(
            "{what}: dimensions differ ({a} columns vs {b})"
        )));
    }
    Ok(())
}

/// Assigns each row of `X` (n × d) to its best centroid of `C` (k × d): returns
/// `(labels uint32[n], scores float32[n])` (ties go to the lowest centroid index). Spherical
/// scores are cosines (rows and centroids are expected unit length); Euclidean scores are
/// `x·c − ½‖c‖²`.
#[pyfunction]
#[pyo3(signature = (x, c, metric = "spherical"))]
pub(crate) fn kmeans_assign<'py>(
    py: Python<'py>,
    x: &Bound<'py, PyAny>,
    c: &Bound<'py, PyAny>,
    metric: &str,
) -> PyResult<(Arr1<'py, u32>, Arr1<'py, f32>)> {
    let metric = parse_metric(metric)?;
    let xm = matrix(x, "X", false)?;
    let cm = matrix(c, "C", false)?;
    same_dim(xm.cols, cm.cols, "X and C")?;
    if cm.rows == 0 {
        return Err(input("C: expected at least one centroid, got 0"));
    }
    let (xs, cs, dim) = (xm.as_slice(), cm.as_slice(), xm.cols);
    let a = py.detach(|| {
        if let Some(e) = first_non_finite(xs, dim, "X").or_else(|| first_non_finite(cs, dim, "C")) {
            return Err(input(e));
        }
        cluster::assign_with(xs, dim, cs, metric).map_err(cluster)
    })?;
    Ok((vec1(py, a.labels), vec1(py, a.scores)))
}

/// Per-cluster sums of the rows of `X` by `labels` (values in `[0, k)`): returns
/// `(sums float64[k, d], counts uint64[k], objective)`. With `scores` (from `kmeans_assign`)
/// the objective is their sum; without, 0. Partial sums of shards add up: sum the `sums`,
/// `counts` and `objective` of every shard (in a fixed order for a deterministic result).
#[pyfunction]
#[pyo3(signature = (x, labels, k, scores = None))]
#[allow(clippy::type_complexity)]
pub(crate) fn kmeans_partial_sums<'py>(
    py: Python<'py>,
    x: &Bound<'py, PyAny>,
    labels: &Bound<'py, PyAny>,
    k: i64,
    scores: Option<&Bound<'py, PyAny>>,
) -> PyResult<(Arr2<'py, f64>, Arr1<'py, u64>, f64)> {
    let k = check_k(k, "k")?;
    let xm = matrix(x, "X", false)?;
    let labels: Vec<u32> = unsigned_vec(labels, "labels")?;
    if labels.len() != xm.rows {
        return Err(input(format!(
            "{} rows but {} labels",
            xm.rows,
            labels.len()
        )));
    }
    let scores = scores.map(|s| matrix(s, "scores", true)).transpose()?;
    if let Some(s) = &scores {
        if !s.one_d || s.cols != xm.rows {
            return Err(input(format!(
                "{} rows but scores of shape {:?}",
                xm.rows,
                if s.one_d {
                    vec![s.cols]
                } else {
                    vec![s.rows, s.cols]
                }
            )));
        }
    }
    let (xs, dim) = (xm.as_slice(), xm.cols);
    let ss = scores.as_ref().map(|s| s.as_slice().to_vec());
    let p = py.detach(move || {
        if let Some(e) = first_non_finite(xs, dim, "X") {
            return Err(input(e));
        }
        match ss {
            Some(scores) => Assignment { labels, scores }.partial_sums(xs, dim, k, 0),
            None => cluster::partial_sums(xs, dim, &labels, k),
        }
        .map_err(cluster)
    })?;
    Ok((vec2(py, p.sums, k, dim)?, vec1(py, p.counts), p.objective))
}

/// New centroids from merged partial sums: `sums` float64[k, d], `counts` uint64[k] and the
/// `previous` centroids float32[k, d]. Spherical: each sum normalised; Euclidean: the mean.
/// A cluster with no member keeps its previous centroid.
#[pyfunction]
#[pyo3(signature = (sums, counts, previous, metric = "spherical"))]
pub(crate) fn kmeans_reduce<'py>(
    py: Python<'py>,
    sums: &Bound<'py, PyAny>,
    counts: &Bound<'py, PyAny>,
    previous: &Bound<'py, PyAny>,
    metric: &str,
) -> PyResult<Arr2<'py, f32>> {
    let metric = parse_metric(metric)?;
    let (s, shape) = f64_vec(sums, "sums")?;
    let [k, dim] = shape[..] else {
        return Err(input(format!(
            "sums: expected a 2-D array, got shape {shape:?}"
        )));
    };
    let counts: Vec<u64> = unsigned_vec(counts, "counts")?;
    if counts.len() != k {
        return Err(input(format!("{k} sums but {} counts", counts.len())));
    }
    let pm = matrix(previous, "previous", false)?;
    if (pm.rows, pm.cols) != (k, dim) {
        return Err(input(format!(
            "previous: expected shape ({k}, {dim}), got ({}, {})",
            pm.rows, pm.cols
        )));
    }
    if let Some(i) = s.iter().position(|v| !v.is_finite()) {
        return Err(input(format!(
            "sums[{}, {}] = {} is not finite",
            i / dim.max(1),
            i % dim.max(1),
            s[i]
        )));
    }
    let p = PartialSums {
        k,
        dim,
        sums: s,
        counts,
        objective: 0.0,
    };
    let prev = pm.as_slice();
    let c = py
        .detach(|| cluster::reduce_with(&p, prev, metric))
        .map_err(cluster)?;
    vec2(py, c, k, dim)
}

/// The result of `kmeans_fit`.
#[pyclass(module = "engram", frozen, get_all)]
pub(crate) struct KMeansResult {
    /// float32[k, d] centroids.
    centroids: Py<PyArray2<f32>>,
    /// uint32[n] the cluster of each row.
    labels: Py<PyArray1<u32>>,
    /// Spherical: Σ cosine of rows to their centroid; Euclidean: the inertia.
    objective: f64,
    /// Lloyd iterations of the kept run.
    iterations: usize,
    /// Whether the run stopped by convergence rather than `max_iter`.
    converged: bool,
}

#[pymethods]
impl KMeansResult {
    fn __repr__(&self) -> String {
        format!(
            "KMeansResult(objective={}, iterations={}, converged={})",
            self.objective, self.iterations, self.converged
        )
    }
}

/// Batch k-means (Lloyd) of `X` (n × d) in the same steps `kmeans_assign` →
/// `kmeans_partial_sums` → `kmeans_reduce` expose.
///
/// `init`: `"k-means||"` (default), `"k-means++"`, `"random"`, or a float array (k × d) of
/// initial centroids. Stops when labels stop changing, when the objective gains less than
/// `tol` × |objective|, or after `max_iter` iterations. `repair_empty=True` re-seeds empty
/// clusters from the farthest rows (needs all rows; the distributed driver instead keeps the
/// previous centroid, as `repair_empty=False` does).
#[pyfunction]
#[pyo3(signature = (x, k, seed = 0, max_iter = 50, tol = 1e-6, n_init = 1, init = None,
                    metric = "spherical", repair_empty = true))]
#[allow(clippy::too_many_arguments)]
pub(crate) fn kmeans_fit(
    py: Python<'_>,
    x: &Bound<'_, PyAny>,
    k: i64,
    seed: u64,
    max_iter: usize,
    tol: f64,
    n_init: usize,
    init: Option<&Bound<'_, PyAny>>,
    metric: &str,
    repair_empty: bool,
) -> PyResult<KMeansResult> {
    let k = check_k(k, "k")?;
    let xm = matrix(x, "X", false)?;
    let init = match init {
        None => Init::default(),
        Some(o) => match o.extract::<String>() {
            Ok(s) => match s.trim().to_ascii_lowercase().as_str() {
                "k-means||" | "kmeans||" | "k-means-parallel" => Init::default(),
                "k-means++" | "kmeans++" => Init::KMeansPlusPlus,
                "random" => Init::Random,
                _ => {
                    return Err(input(format!(
                    "init must be \"k-means||\", \"k-means++\", \"random\" or an array, got {s:?}"
                )))
                }
            },
            Err(_) => {
                let c = matrix(o, "init", false)?;
                if (c.rows, c.cols) != (k, xm.cols) {
                    return Err(input(format!(
                        "init: expected shape ({k}, {}), got ({}, {})",
                        xm.cols, c.rows, c.cols
                    )));
                }
                Init::Precomputed(c.as_slice().to_vec())
            }
        },
    };
    let params = KMeansParams::new(k)
        .seed(seed)
        .max_iter(max_iter)
        .tolerance(tol)
        .n_init(n_init)
        .init(init)
        .metric(parse_metric(metric)?)
        .repair_empty(repair_empty);
    let (xs, dim) = (xm.as_slice(), xm.cols);
    let m = py.detach(|| params.fit(xs, dim)).map_err(cluster)?;
    Ok(KMeansResult {
        centroids: vec2(py, m.centroids, k, dim)?.unbind(),
        labels: vec1(py, m.labels).unbind(),
        objective: m.objective,
        iterations: m.iterations,
        converged: m.converged,
    })
}

/// Rows `[start, stop)` of a deterministic labelled stream: a mixture of `clusters` clusters
/// on the unit sphere of dimension `dim`, `n` rows in all. Every row is a pure function of
/// `(seed, row index)`, so shards generate their own rows and their concatenation equals
/// the whole stream. Returns `(X float32[m, dim], labels uint32[m])`.
///
/// `sigma2` (default 1/dim) is the within-cluster noise; `zipf` a Zipf exponent for cluster
/// sizes (default equal sizes); `drift` radians every `drift_step` rows; `order` is
/// `"shuffled"` (default) or `"blocked"`.
#[pyfunction]
#[pyo3(signature = (n, dim, clusters, seed = 0, sigma2 = None, zipf = None, drift = 0.0,
                    drift_step = 10_000, order = "shuffled", start = 0, stop = None))]
#[allow(clippy::too_many_arguments)]
pub(crate) fn synth<'py>(
    py: Python<'py>,
    n: usize,
    dim: usize,
    clusters: usize,
    seed: u64,
    sigma2: Option<f64>,
    zipf: Option<f64>,
    drift: f64,
    drift_step: usize,
    order: &str,
    start: usize,
    stop: Option<usize>,
) -> PyResult<(Arr2<'py, f32>, Arr1<'py, u32>)> {
    let order = match order.trim().to_ascii_lowercase().as_str() {
        "shuffled" => Order::Shuffled,
        "blocked" => Order::Blocked,
        _ => {
            return Err(input(format!(
                "order must be \"shuffled\" or \"blocked\", got {order:?}"
            )))
        }
    };
    let stop = stop.unwrap_or(n);
    if start > stop || stop > n {
        return Err(input(format!(
            "rows [{start}, {stop}) are not within [0, {n}]"
        )));
    }
    let mut p = SynthParams::new(n, dim, clusters)
        .seed(seed)
        .drift(drift)
        .drift_step(drift_step)
        .order(order);
    if let Some(s) = sigma2 {
        p = p.sigma2(s);
    }
    if let Some(e) = zipf {
        p = p.sizes(Sizes::Zipf { exponent: e });
    }
    let s = p
        .check()
        .map_err(|e| ClusterError::new_err(format!("synth: {e}")))?;
    let chunk = py.detach(|| s.rows(start, stop));
    let m = chunk.labels.len();
    Ok((vec2(py, chunk.data, m, dim)?, vec1(py, chunk.labels)))
}

/// Merges per-shard top-k results into the global top-`k` of each query, by score
/// descending then id ascending (the same order one store gives). `parts` is a list of
/// `(ids uint64[nq, k_s], scores float32[nq, k_s])`, ids already global; entries with id
/// `NO_ID` are padding and are skipped. Returns `(ids uint64[nq, k], scores float32[nq, k])`
/// padded with `NO_ID` / `nan`.
#[pyfunction]
#[allow(clippy::type_complexity)]
pub(crate) fn merge_topk<'py>(
    py: Python<'py>,
    parts: Vec<(Bound<'py, PyAny>, Bound<'py, PyAny>)>,
    k: i64,
) -> PyResult<(Arr2<'py, u64>, Arr2<'py, f32>)> {
    let k = check_k(k, "k")?;
    let mut shards = Vec::with_capacity(parts.len());
    let mut nq: Option<usize> = None;
    for (s, (ids, scores)) in parts.iter().enumerate() {
        let (iv, ishape) = {
            let v: Vec<u64> = crate::arrays::unsigned_vec(
                &ids.call_method0("ravel")?,
                &format!("parts[{s}] ids"),
            )?;
            let shape: Vec<usize> = ids.getattr("shape")?.extract()?;
            (v, shape)
        };
        let sm = matrix(scores, &format!("parts[{s}] scores"), false)?;
        if ishape != [sm.rows, sm.cols] {
            return Err(input(format!(
                "parts[{s}]: ids of shape {ishape:?} but scores of shape ({}, {})",
                sm.rows, sm.cols
            )));
        }
        if *nq.get_or_insert(sm.rows) != sm.rows {
            return Err(input(format!(
                "parts[{s}]: {} queries, part 0 has {}",
                sm.rows,
                nq.unwrap_or(0)
            )));
        }
        shards.push((iv, sm.as_slice().to_vec(), sm.cols));
    }
    let nq = nq.unwrap_or(0);
    let (ids, scores) = py.detach(|| {
        let mut ids = vec![NO_ID; nq * k];
        let mut scores = vec![f32::NAN; nq * k];
        for q in 0..nq {
            let lists = shards.iter().map(|(iv, sv, ks)| {
                (q * ks..(q + 1) * ks)
                    .filter(|&j| iv[j] != NO_ID)
                    .map(|j| Hit {
                        score: sv[j],
                        id: iv[j],
                    })
                    .collect::<Vec<_>>()
            });
            for (j, h) in merge_sorted(lists, k).into_iter().enumerate() {
                ids[q * k + j] = h.id;
                scores[q * k + j] = h.score;
            }
        }
        (ids, scores)
    });
    Ok((vec2(py, ids, nq, k)?, vec2(py, scores, nq, k)?))
}
