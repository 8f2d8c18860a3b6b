import numpy as np
import pytest

import engram
from conftest import unit_rows


def test_synth_is_deterministic_per_row():
    x, y = engram.synth(5000, 24, 7, seed=9)
    assert x.shape == (5000, 24) and x.dtype == np.float32 and y.dtype == np.uint32
    np.testing.assert_allclose(np.linalg.norm(x, axis=1), 1, rtol=1e-5)
    parts = [engram.synth(5000, 24, 7, seed=9, start=a, stop=b) for a, b in
             [(0, 1234), (1234, 1235), (1235, 5000)]]
    assert np.array_equal(np.concatenate([p[0] for p in parts]), x)
    assert np.array_equal(np.concatenate([p[1] for p in parts]), y)
    assert not np.array_equal(engram.synth(5000, 24, 7, seed=10)[0], x)
    with pytest.raises(engram.InputError):
        engram.synth(10, 4, 2, start=5, stop=11)
    with pytest.raises(engram.ClusterError, match="clusters"):
        engram.synth(10, 4, 0)


def test_assign_matches_numpy(rng):
    x = unit_rows(rng, 3000, 20)
    c = unit_rows(rng, 9, 20)
    labels, scores = engram.kmeans_assign(x, c)
    s = x.astype(np.float64) @ c.T.astype(np.float64)
    ref = s.argmax(axis=1)
    margin = np.sort(s, axis=1)[:, -1] - np.sort(s, axis=1)[:, -2]
    assert np.array_equal(labels[margin > 1e-5], ref[margin > 1e-5])
    np.testing.assert_allclose(scores, s.max(axis=1), atol=1e-5)


def test_partial_sums_and_reduce_match_numpy(rng):
    x = unit_rows(rng, 2000, 12)
    labels = rng.integers(0, 5, 2000)
    sums, counts, obj = engram.kmeans_partial_sums(x, labels, 5)
    assert sums.dtype == np.float64 and counts.dtype == np.uint64 and obj == 0.0
    for j in range(5):
        np.testing.assert_allclose(sums[j], x[labels == j].astype(np.float64).sum(0), atol=1e-9)
        assert counts[j] == (labels == j).sum()
    prev = unit_rows(rng, 5, 12)
    c = engram.kmeans_reduce(sums, counts, prev)
    want = sums / np.linalg.norm(sums, axis=1, keepdims=True)
    np.testing.assert_allclose(c, want, rtol=1e-6, atol=1e-7)
    # an empty cluster keeps its previous centroid
    counts2 = counts.copy()
    sums2 = sums.copy()
    counts2[2] = 0
    sums2[2] = 0
    c2 = engram.kmeans_reduce(sums2, counts2, prev)
    np.testing.assert_array_equal(c2[2], prev[2])


def test_sharded_steps_equal_whole(rng):
    x, _ = engram.synth(6000, 16, 6, seed=2)
    c = x[:6].copy()
    l, s = engram.kmeans_assign(x, c)
    whole = engram.kmeans_partial_sums(x, l, 6, scores=s)
    total = [np.zeros((6, 16)), np.zeros(6, np.uint64), 0.0]
    for a, b in [(0, 1000), (1000, 3500), (3500, 6000)]:
        ls, ss = engram.kmeans_assign(x[a:b], c)
        assert np.array_equal(ls, l[a:b])
        p = engram.kmeans_partial_sums(x[a:b], ls, 6, scores=ss)
        total[0] += p[0]
        total[1] += p[1]
        total[2] += p[2]
    np.testing.assert_allclose(total[0], whole[0], rtol=1e-12, atol=1e-9)
    assert np.array_equal(total[1], whole[1])
    assert abs(total[2] - whole[2]) < 1e-6 * abs(whole[2])


def test_fit_equals_manual_lloyd():
    x, y = engram.synth(4000, 16, 5, seed=4)
    c0 = x[:5].copy()
    fit = engram.kmeans_fit(x, 5, init=c0, tol=0.0, max_iter=100, repair_empty=False)
    c = c0
    labels, scores = engram.kmeans_assign(x, c)
    it = 0
    while it < 100:
        sums, counts, _ = engram.kmeans_partial_sums(x, labels, 5)
        c = engram.kmeans_reduce(sums, counts, c)
        it += 1
        nl, scores = engram.kmeans_assign(x, c)
        stable = np.array_equal(nl, labels)
        labels = nl
        if stable:
            break
    assert it == fit.iterations and fit.converged
    assert np.array_equal(labels, fit.labels)
    np.testing.assert_allclose(c, fit.centroids, rtol=1e-5, atol=1e-6)
    # and it finds the planted clusters
    from collections import Counter
    agree = sum(Counter(fit.labels[y == j]).most_common(1)[0][1] for j in range(5))
    assert agree / len(y) > 0.95


def test_fit_inits_and_errors(rng):
    x = unit_rows(rng, 500, 8)
    for init in ("k-means||", "k-means++", "random"):
        r = engram.kmeans_fit(x, 4, seed=1, init=init)
        assert r.centroids.shape == (4, 8) and r.labels.shape == (500,)
    a = engram.kmeans_fit(x, 4, seed=7)
    b = engram.kmeans_fit(x, 4, seed=7)
    assert np.array_equal(a.labels, b.labels) and np.array_equal(a.centroids, b.centroids)
    with pytest.raises(engram.InputError, match="k must be at least 1, got 0"):
        engram.kmeans_fit(x, 0)
    with pytest.raises(engram.ClusterError, match="only 500 rows"):
        engram.kmeans_fit(x, 501)
    bad = x.copy()
    bad[3, 2] = np.inf
    with pytest.raises(engram.ClusterError, match="not finite"):
        engram.kmeans_fit(bad, 3)
    with pytest.raises(engram.InputError, match="not finite"):
        engram.kmeans_assign(bad, x[:3])
    with pytest.raises(engram.InputError, match="got dtype int64"):
        engram.kmeans_assign(np.ones((3, 8), np.int64), x[:3])
    with pytest.raises(engram.InputError, match="dimensions differ"):
        engram.kmeans_assign(x, x[:3, :4])
    with pytest.raises(engram.ClusterError, match="label 9 is not below k = 4"):
        engram.kmeans_partial_sums(x[:2], [0, 9], 4)
    with pytest.raises(engram.InputError, match="out of range"):
        engram.kmeans_partial_sums(x[:2], [0, -1], 4)
    with pytest.raises(engram.InputError, match="expected an integer array"):
        engram.kmeans_partial_sums(x[:2], [0.0, 1.0], 4)
    with pytest.raises(engram.InputError, match="init: expected shape"):
        engram.kmeans_fit(x, 4, init=x[:3])


def test_merge_topk_order():
    ids, scores = engram.merge_topk(
        [
            (np.array([[4, 9]], np.uint64), np.array([[0.5, 0.1]], np.float32)),
            (np.array([[2, engram.NO_ID]], np.uint64), np.array([[0.5, np.nan]], np.float32)),
        ],
        4,
    )
    assert ids.tolist() == [[2, 4, 9, engram.NO_ID]]
    assert np.isnan(scores[0, 3])
