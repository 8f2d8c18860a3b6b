//! Agreement between two labelings: adjusted Rand index and normalised mutual information
//! (scikit-learn's definitions, NMI with the arithmetic-mean normalisation).
//!
//! Both are symmetric, invariant to renaming the labels, and 1.0 for identical partitions.
//!
//! ```
//! use engram::cluster::metrics::{adjusted_rand_index, normalized_mutual_info};
//! let ari = adjusted_rand_index(&[0, 0, 1, 1], &[0, 0, 1, 2]).unwrap();
//! assert!((ari - 0.5714285714).abs() < 1e-9);
//! let nmi = normalized_mutual_info(&[0, 0, 1, 1], &[0, 0, 1, 2]).unwrap();
//! assert!((nmi - 0.8).abs() < 1e-9);
//! ```

use std::collections::HashMap;
use std::hash::Hash;

use super::error::ClusterError;

/// The contingency table of two labelings: counts per (a, b) pair, row sums, column sums.
struct Contingency {
    /// Non-zero cells `((a, b), count)`, sorted so float sums run in a fixed order.
    cells: Vec<((usize, usize), u64)>,
    rows: Vec<u64>,
    cols: Vec<u64>,
    n: u64,
}

fn dense<T: Hash + Eq + Copy>(labels: &[T]) -> (Vec<usize>, usize) {
    let mut ids = HashMap::new();
    let dense = labels
        .iter()
        .map(|l| {
            let next = ids.len();
            *ids.entry(*l).or_insert(next)
        })
        .collect();
    (dense, ids.len())
}

fn contingency<A, B>(a: &[A], b: &[B]) -> Result<Contingency, ClusterError>
where
    A: Hash + Eq + Copy,
    B: Hash + Eq + Copy,
{
    if a.len() != b.len() {
        return Err(ClusterError::LengthMismatch {
            what: "second labeling",
            expected: a.len(),
            got: b.len(),
        });
    }
    let (da, ka) = dense(a);
    let (db, kb) = dense(b);
    let mut cells: HashMap<(usize, usize), u64> = HashMap::new();
    for (&x, &y) in da.iter().zip(&db) {
        *cells.entry((x, y)).or_insert(0) += 1;
    }
    let mut rows = vec![0u64; ka];
    let mut cols = vec![0u64; kb];
    da.iter().for_each(|&x| rows[x] += 1);
    db.iter().for_each(|&y| cols[y] += 1);
    let mut cells: Vec<((usize, usize), u64)> = cells.into_iter().collect();
    cells.sort_unstable();
    Ok(Contingency {
        cells,
        rows,
        cols,
        n: a.len() as u64,
    })
}

fn comb2(x: u64) -> f64 {
    let x = x as f64;
    x * (x - 1.0) / 2.0
}

/// Adjusted Rand index of two labelings of the same rows (any label type; 1.0 = identical
/// partitions, about 0 for independent ones, can be negative). Like scikit-learn, two
/// labelings that are both one cluster, or both all singletons, score 1.0; empty input
/// scores 1.0.
///
/// # Errors
/// [`ClusterError::LengthMismatch`] if the lengths differ.
pub fn adjusted_rand_index<A, B>(a: &[A], b: &[B]) -> Result<f64, ClusterError>
where
    A: Hash + Eq + Copy,
    B: Hash + Eq + Copy,
{
    let t = contingency(a, b)?;
    let n = t.n;
    let (ka, kb) = (t.rows.len() as u64, t.cols.len() as u64);
    if n == 0 || (ka == kb && (ka == 1 || ka == n)) {
        return Ok(1.0);
    }
    let index: f64 = t.cells.iter().map(|&(_, c)| comb2(c)).sum();
    let sa: f64 = t.rows.iter().map(|&c| comb2(c)).sum();
    let sb: f64 = t.cols.iter().map(|&c| comb2(c)).sum();
    let expected = sa * sb / comb2(n);
    let max = 0.5 * (sa + sb);
    let denom = max - expected;
    if denom == 0.0 {
        return Ok(1.0);
    }
    Ok((index - expected) / denom)
}

fn entropy(counts: &[u64], n: f64) -> f64 {
    counts
        .iter()
        .filter(|&&c| c > 0)
        .map(|&c| {
            let p = c as f64 / n;
            -p * p.ln()
        })
        .sum()
}

/// Normalised mutual information with the arithmetic-mean normalisation
/// `MI / ((H(a) + H(b)) / 2)`, scikit-learn's default. 1.0 for identical partitions (also when
/// both are one cluster), 0.0 when either is one cluster and the other is not.
///
/// # Errors
/// [`ClusterError::LengthMismatch`] if the lengths differ.
pub fn normalized_mutual_info<A, B>(a: &[A], b: &[B]) -> Result<f64, ClusterError>
where
    A: Hash + Eq + Copy,
    B: Hash + Eq + Copy,
{
    let t = contingency(a, b)?;
    if t.n == 0 || (t.rows.len() == 1 && t.cols.len() == 1) {
        return Ok(1.0);
    }
    let n = t.n as f64;
    let mi: f64 = t
        .cells
        .iter()
        .map(|&((x, y), c)| {
            let c = c as f64;
            c / n * (c * n / (t.rows[x] as f64 * t.cols[y] as f64)).ln()
        })
        .sum::<f64>()
        .max(0.0);
    if mi == 0.0 {
        return Ok(0.0);
    }
    let norm = 0.5 * (entropy(&t.rows, n) + entropy(&t.cols, n));
    Ok(mi / norm.max(f64::EPSILON))
}
