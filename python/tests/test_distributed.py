"""engram.distributed on a local Ray cluster started by the `ray_cluster` fixture."""

import numpy as np
import pytest

import engram

d = pytest.importorskip("engram.distributed")

N, DIM, K = 12_000, 24, 8


def concat(shards):
    return np.concatenate([s.load()[0] for s in shards])


@pytest.mark.parametrize("num_shards", [1, 2, 3])
def test_kmeans_equals_single_process(ray_cluster, num_shards):
    shards = d.synth_shards(N, DIM, K, num_shards, seed=11)
    x = concat(shards)
    assert np.array_equal(x, engram.synth(N, DIM, K, seed=11)[0])
    c0 = x[::N // K][:K].copy()
    got = d.kmeans(shards, K, init=c0, max_iter=60, tol=1e-7, cpus_per_worker=2 / num_shards)
    want = engram.kmeans_fit(x, K, init=c0, max_iter=60, tol=1e-7, repair_empty=False)
    assert got.iterations == want.iterations and got.converged == want.converged
    assert np.array_equal(got.labels, want.labels)
    np.testing.assert_allclose(got.centroids, want.centroids, rtol=1e-5, atol=1e-6)
    assert abs(got.objective - want.objective) <= 1e-9 * abs(want.objective)
    # only k x d sums + counts travel back per iteration, never the points
    per_shard = K * DIM * 8 + K * 8 + 16
    assert all(s.bytes_from_workers == per_shard * num_shards for s in got.stats)
    assert all(s.bytes_to_workers == K * DIM * 4 * num_shards for s in got.stats)


def test_kmeans_sample_init_and_npy(ray_cluster, tmp_path):
    shards = d.synth_shards(N, DIM, K, 2, seed=5)
    paths = []
    for i, s in enumerate(shards):
        x, _ = s.load()
        p = tmp_path / f"shard{i}.npy"
        np.save(p, x.astype(np.float64) if i == 0 else x)  # float64 is converted once
        paths.append(p)
    npys = d.npy_shards(paths)
    assert [(s.start, s.stop) for s in npys] == [(s.start, s.stop) for s in shards]
    a = d.kmeans(npys, K, seed=3, return_labels=True)
    b = d.kmeans(shards, K, seed=3)
    np.testing.assert_allclose(a.centroids, b.centroids, rtol=1e-5, atol=1e-6)
    assert np.array_equal(a.labels, b.labels)
    # planted clusters recovered
    y = np.concatenate([s.load()[1] for s in shards])
    from collections import Counter
    agree = sum(Counter(a.labels[y == j]).most_common(1)[0][1] for j in range(K))
    assert agree / N > 0.9


def test_kmeans_bad_input(ray_cluster):
    shards = d.synth_shards(1000, 8, 2, 2)
    with pytest.raises(engram.InputError, match="k must be at least 1"):
        d.kmeans(shards, 0)
    with pytest.raises(engram.InputError, match="init: expected shape"):
        d.kmeans(shards, 3, init=np.ones((2, 8)))
    with pytest.raises(engram.InputError, match="NaN or Inf"):
        d.kmeans(shards, 2, init=np.full((2, 8), np.nan))
    with pytest.raises(engram.InputError, match="dimensions differ"):
        d.kmeans(shards, 2, init=np.ones((2, 5)))


def test_worker_killed_mid_iteration_is_retried(ray_cluster, tmp_path):
    shards = d.synth_shards(N, DIM, K, 2, seed=11)
    x = concat(shards)
    c0 = x[:K].copy()
    marker = tmp_path / "killed"
    got = d.kmeans(shards, K, init=c0, tol=0.0, max_restarts=2, _fault=(1, 3, str(marker)))
    assert marker.exists(), "the fault was not injected"
    want = engram.kmeans_fit(x, K, init=c0, tol=0.0, repair_empty=False)
    assert got.iterations == want.iterations
    assert np.array_equal(got.labels, want.labels)
    np.testing.assert_allclose(got.centroids, want.centroids, rtol=1e-5, atol=1e-6)


def test_worker_killed_without_retries_raises(ray_cluster, tmp_path):
    shards = d.synth_shards(N, DIM, K, 2, seed=11)
    marker = tmp_path / "killed"
    with pytest.raises(d.DistributedError, match="iteration 2"):
        d.kmeans(shards, K, seed=1, max_restarts=0, _fault=(0, 2, str(marker)))
    assert marker.exists()


def test_scatter_gather_search_equals_one_store(ray_cluster):
    shards = d.synth_shards(N, DIM, K, 3, seed=7)
    x = concat(shards)
    q, _ = engram.synth(200, DIM, K, seed=99)
    one = engram.Engram(DIM, backend="cpu")
    one.remember_batch(x)
    with d.ShardedEngram(shards, cpus_per_worker=0.5) as store:
        assert len(store) == N
        for k in (1, 10, 50):
            ids, scores = store.search_batch(q, k)
            want_ids, want_scores = one.search_batch(q, k)
            assert np.array_equal(ids, want_ids)
            np.testing.assert_array_equal(scores, want_scores)
        i1, s1 = store.search(q[0], 5)
        assert np.array_equal(i1, one.search(q[0], 5)[0])
        with pytest.raises(engram.InputError, match="got dtype int"):
            store.search_batch(np.ones((2, DIM), np.int64), 3)
        with pytest.raises(engram.InputError, match="expected dimension"):
            store.search_batch(np.ones((2, DIM + 1)), 3)


def test_search_more_than_stored_pads(ray_cluster):
    shards = d.synth_shards(10, 4, 2, 3, seed=1)
    with pytest.raises(engram.InputError, match="need 3 CPUs but the Ray cluster has 2"):
        d.ShardedEngram(shards)
    with d.ShardedEngram(shards, cpus_per_worker=0.5) as store:
        ids, scores = store.search_batch(np.ones((2, 4)), 15)
        assert (ids[:, :10] != engram.NO_ID).all() and (ids[:, 10:] == engram.NO_ID).all()
        assert sorted(ids[0, :10].tolist()) == list(range(10))


def test_search_worker_killed_is_retried_or_raises(ray_cluster, tmp_path):
    shards = d.synth_shards(3000, DIM, K, 2, seed=7)
    x = concat(shards)
    one = engram.Engram(DIM, backend="cpu")
    one.remember_batch(x)
    q = x[:20]
    with d.ShardedEngram(shards, max_restarts=1, _fault=(1, 0, str(tmp_path / "a"))) as store:
        ids, _ = store.search_batch(q, 5)
        assert (tmp_path / "a").exists()
        assert np.array_equal(ids, one.search_batch(q, 5)[0])
    with d.ShardedEngram(shards, max_restarts=0, _fault=(0, 0, str(tmp_path / "b"))) as store:
        with pytest.raises(d.DistributedError):
            store.search_batch(q, 5)


def test_form_concepts_seeds_consolidation(ray_cluster):
    from test_memory import ari, strongest_concept

    shards = d.synth_shards(N, DIM, K, 2, seed=13)
    x, labels = engram.synth(N, DIM, K, seed=13)
    mem = engram.Engram(DIM, backend="cpu", consolidation=dict(clusters=K))
    mem.remember_batch(x)
    out = d.form_concepts(mem, shards, K, seed=13, now=5, cpus_per_worker=1)
    assert out.concept_ids.dtype == np.uint64 and len(out.concept_ids) == K
    assert out.kmeans.counts.sum() == N and out.kmeans.sums.shape == (K, DIM)
    # the cycle started from the seeded concepts: updated in place, none created
    r = out.report
    assert r["cycle"] == 1 and len(r["concepts_created"]) == 0
    assert sorted(r["concepts_updated"].tolist()) == out.concept_ids.tolist()
    assert ari(strongest_concept(mem, N), labels) >= 0.95
    # before the cycle: centroids, sizes and coherences of the distributed k-means
    mem2 = engram.Engram(DIM, backend="cpu")
    out2 = d.form_concepts(mem2, shards, K, seed=13, cpus_per_worker=1)
    assert out2.report is None
    for cid, j in zip(out2.concept_ids, out2.clusters):
        c = next(c for c in mem2.concepts() if c["id"] == cid)
        assert c["members"] == out2.kmeans.counts[j] and c["state"] == "proto"
        assert 0.3 < c["coherence"] <= 1.0
        assert len(mem2.members(int(cid))[0]) == 0
        np.testing.assert_allclose(mem2.centroid(int(cid)), out2.kmeans.centroids[j], atol=1e-6)
    with pytest.raises(engram.InputError):
        d.form_concepts(engram.Engram(DIM + 1, backend="cpu"), shards, K, seed=13)
    with pytest.raises(engram.InputError):
        d.form_concepts("not an engine", shards, K)
