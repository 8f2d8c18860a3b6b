//! Exact search against an f64 brute force, f16 recall, ties, batch kernels.

mod common;

use common::*;
use engram::{Config, Engram, EpisodeMeta, Layout, Precision};

fn store(rows: &[f32], dim: usize, precision: Precision, chunk_bytes: usize) -> Engram {
    let mut e = Engram::new(
        Config::new(dim)
            .precision(precision)
            .chunk_bytes(chunk_bytes),
    )
    .unwrap();
    e.remember_batch(rows, vec![]).unwrap();
    e
}

/// Checks engine results against the brute force (`want` holds every row's reference score,
/// best first): the same ids in the same order, except where two reference scores are within
/// float error of each other.
fn assert_exact(got: &[engram::Scored<engram::EpisodeId>], want: &[(usize, f64)]) {
    let k = got.len();
    assert!(k <= want.len());
    for (i, (g, w)) in got.iter().zip(&want[..k]).enumerate() {
        assert!(
            (g.score as f64 - w.1).abs() < 1e-5,
            "rank {i}: score {} vs {}",
            g.score,
            w.1
        );
        if g.id.0 as usize != w.0 {
            // Only a near-tie may swap ranks.
            let other = want.iter().find(|x| x.0 == g.id.0 as usize);
            let near = other.is_some_and(|o| (o.1 - w.1).abs() < 1e-6);
            assert!(near, "rank {i}: id {} vs {}", g.id.0, w.0);
        }
    }
}

#[test]
fn single_and_batch_equal_f64_brute_force() {
    let dim = 96;
    let n = 5_000;
    let rows = random_rows(n, dim, 1);
    let reference = normalised(&rows, dim);
    // A small chunk limit so searches cross chunk boundaries.
    let e = store(&rows, dim, Precision::F32, 1000 * dim * 4 + 12);
    for nq in [1usize, 2, 7, 33, 100, 130] {
        let queries = random_rows(nq, dim, 100 + nq as u64);
        let qn = normalised(&queries, dim);
        let got = e.search_batch(&queries, 10).unwrap();
        assert_eq!(got.len(), nq);
        let mut total = 0.0;
        for (qi, g) in got.iter().enumerate() {
            let want = brute_topk(&reference, dim, &qn[qi * dim..(qi + 1) * dim], usize::MAX);
            assert_exact(g, &want);
            let ids: Vec<u64> = want[..10].iter().map(|w| w.0 as u64).collect();
            total += recall(&ids, &g.iter().map(|h| h.id.0).collect::<Vec<_>>());
        }
        assert_eq!(total / nq as f64, 1.0, "recall@10 with {nq} queries");
    }
}

/// A batch large enough to be split by queries across up to four threads
/// (`engram::compute::cpu::QUERY_SPLIT_MIN` per thread), with k from 1 to more than a chunk holds and
/// forgotten rows: every query's hits are the brute force's.
#[test]
fn large_batches_and_large_k_equal_f64_brute_force() {
    let (dim, n) = (40, 3_000);
    let rows = random_rows(n, dim, 5);
    let reference = normalised(&rows, dim);
    let mut e = store(&rows, dim, Precision::F32, 700 * dim * 4 + 12);
    // Forget every 7th episode: the brute force skips them too.
    for id in (0..n as u64).step_by(7) {
        e.forget(engram::EpisodeId(id)).unwrap();
    }
    let live: Vec<bool> = (0..n).map(|i| i % 7 != 0).collect();
    let nq = 4 * engram::compute::cpu::QUERY_SPLIT_MIN + 45;
    let queries = random_rows(nq, dim, 6);
    let qn = normalised(&queries, dim);
    for k in [1usize, 10, 128, 900] {
        let got = e.search_batch(&queries, k).unwrap();
        assert_eq!(got.len(), nq);
        for (qi, g) in got.iter().enumerate() {
            let want: Vec<(usize, f64)> =
                brute_topk(&reference, dim, &qn[qi * dim..(qi + 1) * dim], usize::MAX)
                    .into_iter()
                    .filter(|w| live[w.0])
                    .collect();
            assert_eq!(g.len(), k, "k = {k}, query {qi}");
            assert_exact(g, &want);
        }
        // The singles (another kernel) agree with the same brute force.
        for qi in [0, nq / 2, nq - 1] {
            let single = e.search(&queries[qi * dim..(qi + 1) * dim], k).unwrap();
            let want: Vec<(usize, f64)> =
                brute_topk(&reference, dim, &qn[qi * dim..(qi + 1) * dim], usize::MAX)
                    .into_iter()
                    .filter(|w| live[w.0])
                    .collect();
            assert_eq!(single.len(), k);
            assert_exact(&single, &want);
        }
    }
}

#[test]
fn odd_dimensions_and_every_kernel_path() {
    for dim in [1usize, 3, 8, 13, 37, 64, 385] {
        let rows = random_rows(301, dim, dim as u64);
        let reference = normalised(&rows, dim);
        let e = store(&rows, dim, Precision::F32, 63 * dim * 4);
        for nq in [1usize, 5, 96] {
            let queries = random_rows(nq, dim, 7);
            let qn = normalised(&queries, dim);
            let got = e.search_batch(&queries, 5).unwrap();
            for (qi, g) in got.iter().enumerate() {
                let want = brute_topk(&reference, dim, &qn[qi * dim..(qi + 1) * dim], usize::MAX);
                assert_exact(g, &want);
            }
        }
    }
}

#[test]
fn real_vectors_with_exact_ties_order_by_id() {
    let dim = 384;
    let rows = read_f32("lexicon/vectors.f32");
    let n = rows.len() / dim;
    assert_eq!(n, 10_000);
    let e = store(&rows, dim, Precision::F32, 128 << 20);
    // Find the rows that share one identical vector and use that vector as the query.
    let mut tied = Vec::new();
    'outer: for i in 0..n {
        for j in i + 1..n {
            if rows[i * dim..(i + 1) * dim] == rows[j * dim..(j + 1) * dim] {
                tied.push(i);
                tied.push(j);
                for m in j + 1..n {
                    if rows[i * dim..(i + 1) * dim] == rows[m * dim..(m + 1) * dim] {
                        tied.push(m);
                    }
                }
                break 'outer;
            }
        }
    }
    assert_eq!(
        tied.len(),
        4,
        "the data README promises four identical rows"
    );
    let q = &rows[tied[0] * dim..(tied[0] + 1) * dim];
    let for_single = e.search(q, 4).unwrap();
    let batch_q: Vec<f32> = std::iter::repeat_n(q, 100).flatten().copied().collect();
    let for_batch = e.search_batch(&batch_q, 4).unwrap();
    for got in std::iter::once(&for_single).chain(for_batch.iter()) {
        let ids: Vec<usize> = got.iter().map(|h| h.id.0 as usize).collect();
        assert_eq!(ids, tied, "exact ties must come out by ascending id");
    }
    // And real queries against the brute force.
    let reference = normalised(&rows, dim);
    for qi in (0..n).step_by(997) {
        let q = &rows[qi * dim..(qi + 1) * dim];
        let want = brute_topk(
            &reference,
            dim,
            &reference[qi * dim..(qi + 1) * dim],
            usize::MAX,
        );
        assert_exact(&e.search(q, 10).unwrap(), &want);
    }
}

#[test]
fn f16_copy_recall_at_10() {
    let dim = 384;
    let rows = read_f32("lexicon/vectors.f32");
    for precision in [Precision::F32AndF16, Precision::F16] {
        let e = store(&rows, dim, precision, 16 << 20);
        let f32_store = store(&rows, dim, Precision::F32, 16 << 20);
        let queries = random_rows(50, dim, 3);
        // Real queries: perturbed stored rows, so neighbourhoods are dense.
        let mut real = Vec::new();
        for (i, r) in rows.chunks_exact(dim).step_by(211).enumerate() {
            real.extend(
                r.iter()
                    .zip(&queries[(i % 50) * dim..])
                    .map(|(a, b)| a + 0.02 * b),
            );
        }
        let exact = f32_store.search_batch(&real, 10).unwrap();
        let layout = if precision == Precision::F16 {
            Layout::Auto
        } else {
            Layout::F16
        };
        for batch in [1usize, real.len() / dim] {
            let mut hit = 0usize;
            let mut total = 0usize;
            for (qi, q) in real.chunks(dim * batch).enumerate() {
                let got = e.search_batch_in(q, 10, layout).unwrap();
                for (j, g) in got.iter().enumerate() {
                    let want: Vec<u64> = exact[qi * batch + j].iter().map(|h| h.id.0).collect();
                    let g: Vec<u64> = g.iter().map(|h| h.id.0).collect();
                    hit += want.iter().filter(|w| g.contains(w)).count();
                    total += want.len();
                }
            }
            let r = hit as f64 / total as f64;
            assert!(r >= 0.99, "{precision:?} batch {batch}: recall@10 {r}");
        }
    }
}

#[test]
fn forgotten_rows_never_returned_and_k_larger_than_store() {
    let dim = 16;
    let rows = random_rows(200, dim, 9);
    let mut e = store(&rows, dim, Precision::F32AndF16, 50 * dim * 4);
    let q = &rows[0..dim];
    let top = e.search(q, 1).unwrap()[0].id;
    assert_eq!(top.0, 0);
    e.forget(top).unwrap();
    for layout in [Layout::F32, Layout::F16] {
        for nq in [1usize, 4, 100] {
            let qs: Vec<f32> = std::iter::repeat_n(q, nq).flatten().copied().collect();
            for hits in e.search_batch_in(&qs, 500, layout).unwrap() {
                assert_eq!(hits.len(), 199);
                assert!(hits.iter().all(|h| h.id != top));
                assert!(hits.windows(2).all(|w| w[0].score >= w[1].score));
            }
        }
    }
    let before: Vec<_> = e.search(q, 10).unwrap();
    assert_eq!(e.compact(), 1);
    assert_eq!(e.search(q, 10).unwrap(), before, "compaction keeps results");
    let id = e.remember(&rows[dim..2 * dim], EpisodeMeta::at(5)).unwrap();
    assert_eq!(id.0, 200, "ids are never reused");
}

#[test]
fn empty_store_returns_nothing() {
    let e = Engram::new(Config::new(4)).unwrap();
    assert!(e.search(&[1.0, 0.0, 0.0, 0.0], 3).unwrap().is_empty());
    assert_eq!(
        e.search_batch(&[1.0, 0.0, 0.0, 0.0, 0.0, 1.0, 0.0, 0.0], 3)
            .unwrap(),
        vec![vec![], vec![]]
    );
}
