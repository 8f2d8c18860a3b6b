"""Consolidation, concepts, recall, familiarity and semantic search through the Python API."""

import threading

import numpy as np
import pytest

import engram
from conftest import brute_topk, unit_rows

DIM = 64
CLUSTERS = 10


def ari(a, b):
    """Adjusted Rand index of two labelings (Hubert & Arabie), in numpy."""
    a = np.unique(np.asarray(a), return_inverse=True)[1].ravel()
    b = np.unique(np.asarray(b), return_inverse=True)[1].ravel()
    n = a.size
    table = np.zeros((a.max() + 1, b.max() + 1), dtype=np.int64)
    np.add.at(table, (a, b), 1)

    def pairs(x):
        x = x.astype(np.float64)
        return (x * (x - 1) / 2).sum()

    index = pairs(table)
    ra, rb = pairs(table.sum(axis=1)), pairs(table.sum(axis=0))
    expected = ra * rb / (n * (n - 1) / 2)
    top = (ra + rb) / 2
    return 1.0 if top == expected else (index - expected) / (top - expected)


def test_ari_reference():
    assert ari([0, 0, 1, 1], [5, 5, 7, 7]) == 1.0
    assert ari([0, 0, 1, 1], [1, 1, 0, 0]) == 1.0
    assert abs(ari([0, 0, 1, 1], [0, 1, 0, 1]) - (-0.5)) < 1e-12
    rng = np.random.default_rng(0)
    assert abs(ari(rng.integers(0, 5, 5000), rng.integers(0, 5, 5000))) < 0.01


def strongest_concept(mem, n_episodes):
    """Each episode's strongest concept (ties: lowest concept id); -1 - i when unbound."""
    best = np.full(n_episodes, -1.0)
    label = -1 - np.arange(n_episodes, dtype=np.int64)
    for c in sorted(mem.concepts(), key=lambda c: c["id"]):
        ids, strengths = mem.members(c["id"])
        better = strengths > best[ids]
        best[ids[better]] = strengths[better]
        label[ids[better]] = c["id"]
    return label


def stream(n=4000, seed=3, start=0, stop=None):
    return engram.synth(n, DIM, clusters=CLUSTERS, seed=seed, start=start, stop=stop)


@pytest.fixture(scope="module")
def consolidated():
    x, labels = stream()
    mem = engram.Engram(DIM, backend="cpu", consolidation=dict(seed=1))
    mem.remember_batch(x, timestamps=np.zeros(len(x), np.uint64))
    report = mem.consolidate(10)
    return mem, x, labels, report


@pytest.mark.parametrize("clusters", [None, CLUSTERS])
def test_consolidate_finds_the_clusters(clusters):
    x, labels = stream()
    mem = engram.Engram(DIM, backend="cpu", consolidation=dict(seed=1, clusters=clusters))
    mem.remember_batch(x)
    r = mem.consolidate(10)
    assert r["cycle"] == 1 and r["now"] == 10 and r["episodes_new"] == len(x)
    for key in ("concepts_created", "concepts_updated", "concepts_promoted", "concepts_removed"):
        assert r[key].dtype == np.uint64 and r[key].ndim == 1
    assert len(r["concepts_created"]) == CLUSTERS
    assert r["bindings_created"] >= len(x)
    assert set(r["timings"]) >= {"sample", "cluster", "matching", "apply", "decay", "prune",
                                 "total", "checkpoint"}
    assert r["timings"]["checkpoint"] is None  # in memory
    assert r["timings"]["total"] > 0
    concepts = mem.concepts()
    assert sorted(c["id"] for c in concepts) == sorted(r["concepts_created"].tolist())
    for c in concepts:
        assert set(c) >= {"id", "coherence", "members", "strength", "state", "confirmations"}
        assert c["state"] == "proto" and c["confirmations"] == 1 and c["coherence"] > 0.3
    score = ari(strongest_concept(mem, len(x)), labels)
    assert score >= 0.95, score
    assert mem.cycle == 1 and mem.last_consolidation == 10


def test_concept_ids_stable_across_cycles():
    n, chunk = 6000, 1000
    mem = engram.Engram(DIM, backend="cpu", consolidation=dict(seed=2, promote_after=3))
    ids0 = None
    for i, start in enumerate(range(0, n, chunk)):
        x, _ = stream(n, seed=4, start=start, stop=start + chunk)
        t = 100 * (i + 1)
        mem.remember_batch(x, timestamps=np.full(len(x), t, np.uint64))
        r = mem.consolidate(t + 50)
        assert r["cycle"] == i + 1 and r["episodes_new"] == chunk
        ids = sorted(c["id"] for c in mem.concepts())
        if ids0 is None:
            assert len(r["concepts_created"]) == CLUSTERS
            ids0 = ids
        else:
            assert len(r["concepts_created"]) == 0, r
            assert len(r["concepts_removed"]) == 0, r
            assert sorted(r["concepts_updated"].tolist()) == ids0
            assert ids == ids0
        if i + 1 == 3:
            assert sorted(r["concepts_promoted"].tolist()) == ids0
    assert all(c["state"] == "promoted" and c["confirmations"] == n // chunk
               for c in mem.concepts())
    _, labels = stream(n, seed=4)
    assert ari(strongest_concept(mem, n), labels) >= 0.95


def test_recall_modes(consolidated):
    mem, x, _, _ = consolidated
    rng = np.random.default_rng(7)
    queries = unit_rows(rng, 20, DIM) * 0.3 + x[rng.integers(0, len(x), 20)]
    for q in queries:
        ids, scores = mem.search(q, 5)
        ep = mem.recall(q, 5, mode="episodic")
        assert [h["id"] for h in ep] == ids.tolist()
        np.testing.assert_allclose([h["score"] for h in ep], scores, rtol=1e-6)
        assert all(h["kind"] == "episode" and h["pathways"] == ("episodic",)
                   and h["semantic"] is None and h["reconstruction"] is None for h in ep)
        sem = mem.recall(q, 5, mode="semantic", probes=2)
        assert sem and all(h["pathways"] == ("semantic",) and h["episodic"] is None for h in sem)
        # the semantic pathway only returns members of the probed concepts
        probed, _ = mem.search_concepts(q, 2)
        members = set(np.concatenate([mem.members(int(c))[0] for c in probed]).tolist())
        assert {h["id"] for h in sem} <= members
        bl = mem.recall(q, 5)  # blended
        assert bl[0]["id"] == ids[0]
        assert "episodic" in bl[0]["pathways"] and "semantic" in bl[0]["pathways"]
        s = [h["score"] for h in bl]
        assert s == sorted(s, reverse=True)
        for h in bl:
            assert 0.0 <= h["confidence"] <= 1.0


def test_stored_episode_is_its_own_top_hit(consolidated):
    mem, x, _, _ = consolidated
    for i in (0, 17, 1234, 3999):
        for mode in ("episodic", "semantic", "blended"):
            h = mem.recall_view(x[i], 3, mode=mode)
            assert h[0]["id"] == i and abs(h[0]["similarity"] - 1.0) < 1e-5, (mode, h[0])


def test_completion_returns_a_reconstruction(consolidated):
    mem, x, _, _ = consolidated
    c = mem.concepts()[0]["id"]
    cue = mem.centroid(c)  # the prototype: near every member, equal to none
    hits = mem.recall_view(cue, 3, completion=0.9999)
    rec = [h for h in hits if h["kind"] == "concept"]
    assert len(rec) == 1 and rec[0]["id"] == c and "completion" in rec[0]["pathways"]
    r = rec[0]["reconstruction"]
    assert isinstance(r, np.ndarray) and r.dtype == np.float32 and r.shape == (DIM,)
    assert float(r @ cue) / np.linalg.norm(r) > 0.99
    assert all(h["kind"] == "episode" for h in mem.recall_view(cue, 3))  # off by default
    assert all(h["kind"] == "episode" for h in mem.recall_view(x[0], 3, completion=True))


def test_recall_with_now_strengthens_and_view_does_not():
    x, _ = stream(1000)
    mem = engram.Engram(DIM, backend="cpu")
    mem.remember_batch(x)
    before = mem.get(5)
    mem.recall_view(x[5], 1, now=1000)
    mem.recall(x[5], 1)  # no time given: a lookup
    assert mem.get(5) == before
    hits = mem.recall(x[5], 1, now=1000)
    after = mem.get(5)
    assert hits[0]["id"] == 5
    assert after["rehearsals"] == before["rehearsals"] + 1
    assert after["last_access"] == 1000 and after["strength"] > before["strength"]


def test_familiarity(consolidated):
    mem, x, _, _ = consolidated
    rng = np.random.default_rng(11)
    for i in (3, 300, 3000):
        f = mem.familiarity(x[i])
        assert f["old"] is True and f["confidence"] > 0.5 and f["episodic"] > 0.999
        assert set(f) == {"old", "confidence", "familiarity", "episodic", "semantic"}
    for q in unit_rows(rng, 5, DIM):
        f = mem.familiarity(q)
        assert f["old"] is False and f["confidence"] < 0.5
    empty = engram.Engram(DIM, backend="cpu")
    assert empty.familiarity(x[0])["old"] is False


def test_search_semantic(consolidated):
    mem, x, _, _ = consolidated
    rng = np.random.default_rng(5)
    q = x[rng.integers(0, len(x), 30)] + 0.3 * unit_rows(rng, 30, DIM)
    want, _ = brute_topk(x, q, 10)
    n_concepts = len(mem.concepts())
    agree = []
    for row, w in zip(q, want):
        ids, scores = mem.search_semantic(row, 10, probes=n_concepts)
        assert ids.dtype == np.uint64 and scores.dtype == np.float32
        assert list(scores) == sorted(scores, reverse=True)
        agree.append(len(set(ids.tolist()) & set(w.tolist())) / 10)
        few, _ = mem.search_semantic(row, 10, probes=1)
        assert len(few) <= 10
    assert np.mean(agree) > 0.99  # every concept probed: exact
    assert len(engram.Engram(DIM, backend="cpu").search_semantic(x[0], 3)[0]) == 0


def test_search_semantic_batch_equals_single(consolidated):
    mem, x, _, _ = consolidated
    rng = np.random.default_rng(6)
    q = x[rng.integers(0, len(x), 40)] + 0.3 * unit_rows(rng, 40, DIM)
    for probes in (1, 3):
        ids, scores = mem.search_semantic_batch(q, 10, probes=probes)
        assert ids.shape == (40, 10) and ids.dtype == np.uint64 and scores.dtype == np.float32
        for j, row in enumerate(q):
            one, s1 = mem.search_semantic(row, 10, probes=probes)
            assert ids[j, : len(one)].tolist() == one.tolist()
            np.testing.assert_allclose(scores[j, : len(one)], s1, atol=1e-5)
    stats = mem.concept_list_stats()
    assert stats["built"] and stats["lists"] == len(mem.concepts())
    assert stats["size_min"] <= stats["size_median"] <= stats["size_p99"] <= stats["size_max"]
    assert stats["bytes"] >= stats["entries"] * DIM * 4
    with pytest.raises(engram.InputError):
        mem.search_semantic_batch(q, 0)
    with pytest.raises(engram.InputError):
        mem.search_semantic_batch(q, 10, probes=0)
    with pytest.raises(engram.InputError):
        mem.search_semantic_batch(q[:, :3], 10)
    # int8 lists: everything re-ranked gives the f32 lists' answer; hits carry exact scores.
    for row in q[:5]:
        f32_ids, f32_s = mem.search_semantic(row, 10, probes=2)
        ids8, s8 = mem.search_semantic_int8(row, 10, probes=2, rerank=10_000)
        assert ids8.tolist() == f32_ids.tolist()
        ids8, s8 = mem.search_semantic_int8(row, 10, probes=2, rerank=2)
        assert len(ids8) == len(f32_ids) and np.all(s8 <= f32_s + 1e-6)
    with pytest.raises(engram.InputError):
        mem.search_semantic_int8(q[0], 10, rerank=0)


def test_added_concept_is_a_starting_point():
    x, labels = stream(2000)
    mem = engram.Engram(DIM, backend="cpu", consolidation=dict(clusters=CLUSTERS))
    mem.remember_batch(x)
    km = engram.kmeans_fit(x, CLUSTERS, seed=1)
    ids = [mem.add_concept(c, state="proto") for c in km.centroids]
    assert ids == list(range(CLUSTERS))
    assert all(len(mem.members(i)[0]) == 0 for i in ids)
    r = mem.consolidate(1)
    assert len(r["concepts_created"]) == 0 and sorted(r["concepts_updated"].tolist()) == ids
    assert ari(strongest_concept(mem, len(x)), labels) >= 0.95


def test_durable_consolidate_survives_reopen(tmp_path):
    x, _ = stream(2000)
    mem = engram.Engram.create(tmp_path / "s", DIM, backend="cpu", sync="never",
                               consolidation=dict(seed=3, clusters=CLUSTERS))
    mem.remember_batch(x)
    r = mem.consolidate(7)
    assert isinstance(r["timings"]["checkpoint"], float)
    concepts = mem.concepts()
    members = {c["id"]: mem.members(c["id"]) for c in concepts}
    hits = mem.recall(x[9], 2, now=50)  # a rehearsal: made durable too
    reh = mem.get(hits[0]["id"])
    del mem
    back = engram.Engram.open(tmp_path / "s")
    assert back.cycle == 1 and back.concepts() == concepts
    for cid, (ids, s) in members.items():
        got_ids, got_s = back.members(cid)
        np.testing.assert_array_equal(got_ids, ids)
        np.testing.assert_array_equal(got_s, s)
    assert back.get(hits[0]["id"]) == reh


def test_concurrent_consolidate_and_recall(consolidated):
    _, x, _, _ = consolidated
    mem = engram.Engram(DIM, backend="cpu", consolidation=dict(seed=1))
    mem.remember_batch(x)
    errors, results = [], []

    def reader():
        try:
            for i in range(50):
                results.append(mem.recall_view(x[i], 1, mode="episodic")[0]["id"] == i)
        except Exception as e:  # noqa: BLE001
            errors.append(e)

    threads = [threading.Thread(target=reader) for _ in range(2)]
    for t in threads:
        t.start()
    reports = []
    for now in (1, 2):
        reports.append(mem.consolidate(now))
    for t in threads:
        t.join()
    assert not errors and all(results) and len(results) == 100
    assert [r["cycle"] for r in reports] == [1, 2]


@pytest.mark.parametrize(
    "options",
    [
        dict(bogus=1),
        dict(clusters=0),
        dict(clusters="ten"),
        dict(clusters=2.5),
        dict(clusters=True),
        dict(min_coherence=2.0),
        dict(seed=-1),
        dict(max_iter=0),
        dict(promote_after=0),
        dict(forgetting="sometimes"),
        dict(forgetting=dict(half_life=-1)),
        dict(forgetting=dict(scale=1.0)),
        dict(clusters=5, max_k=10),
        {1: 2},
    ],
)
def test_bad_consolidation_options(options):
    with pytest.raises(engram.ConfigError):
        engram.Engram(DIM, backend="cpu", consolidation=options)


def test_good_consolidation_options():
    for options in (dict(forgetting="none"), dict(forgetting=3600), dict(max_k=40),
                    dict(forgetting=dict(scale=10, exponent=0.5)), dict(clusters=None)):
        engram.Engram(DIM, backend="cpu", consolidation=options)


def test_bad_recall_input(consolidated):
    mem, x, _, _ = consolidated
    q = x[0]
    bad = [
        lambda: mem.recall(q, 0),
        lambda: mem.recall(q, 3, mode="dreamy"),
        lambda: mem.recall(q, 3, probes=0),
        lambda: mem.recall(q, 3, completion=2.0),
        lambda: mem.recall(q, 3, completion="yes"),
        lambda: mem.recall(q, 3, weights=(0.0, 0.0)),
        lambda: mem.recall(q, 3, support_weight=1.5),
        lambda: mem.recall(q[:10], 3),
        lambda: mem.recall(np.stack([q, q]), 3),
        lambda: mem.recall(np.full(DIM, np.nan), 3),
        lambda: mem.recall(np.zeros(DIM), 3),
        lambda: mem.recall(np.arange(DIM), 3),
        lambda: mem.recall_view(q, 3, mode="x"),
        lambda: mem.familiarity(q[:3]),
        lambda: mem.familiarity(np.zeros(DIM)),
        lambda: mem.search_semantic(q, 0),
        lambda: mem.search_semantic(q, 3, probes=0),
        lambda: mem.members(10**9),
        lambda: mem.centroid(10**9),
        lambda: mem.add_concept(np.zeros(DIM)),
        lambda: mem.add_concept(q, state="dormant"),
        lambda: mem.add_concept(q, coherence=3.0),
    ]
    n_concepts = len(mem.concepts())
    for f in bad:
        with pytest.raises(engram.InputError):
            f()
    assert len(mem.concepts()) == n_concepts
    with pytest.raises(OverflowError):
        mem.consolidate(-1)


def test_reopened_store_remembers_which_episodes_were_consolidated(tmp_path):
    x, _ = stream(1000)
    mem = engram.Engram.create(tmp_path / "s", DIM, backend="cpu", sync="never")
    mem.remember_batch(x)
    mem.consolidate(7)
    del mem
    back = engram.Engram.open(tmp_path / "s")
    assert back.last_consolidation == 7
    assert back.consolidate(8)["episodes_new"] == 0


def spread_reference(adj, sources, decay, threshold, hops):
    """Spreading activation in plain Python: each hop, a node with activation >= threshold
    passes decay x activation to its neighbours in proportion to the link weights."""
    total, frontier = {}, {}
    for n, a in sources:
        total[n] = total.get(n, 0.0) + a
        frontier[n] = frontier.get(n, 0.0) + a
    for _ in range(hops):
        nxt = {}
        for n, a in frontier.items():
            links = adj.get(n, [])
            s = sum(w for _, w in links if w > 0)
            if a < threshold or a <= 0 or s <= 0:
                continue
            for m, w in links:
                if w > 0:
                    nxt[m] = nxt.get(m, 0.0) + a * decay * w / s
        if not nxt:
            break
        for m, a in nxt.items():
            total[m] = total.get(m, 0.0) + a
        frontier = nxt
    return total


def test_spread_matches_a_plain_python_reference():
    x, _ = stream()
    recall = dict(max_hops=3, spread_threshold=0.0, spread_decay=0.6)
    mem = engram.Engram(
        DIM,
        backend="cpu",
        consolidation=dict(seed=1, link_threshold=1.0, soft_margin=0.5),
        recall=recall,
    )
    # One stream per episode: no temporal links, the graph is the bindings alone.
    mem.remember_batch(x, streams=np.arange(len(x), dtype=np.uint64))
    mem.consolidate(10)
    adj = {}
    concepts = [c["id"] for c in mem.concepts()]
    for c in concepts:
        ids, strengths = mem.members(c)
        for e, s in zip(ids.tolist(), strengths.tolist()):
            adj.setdefault(("c", c), []).append((("e", e), s))
            adj.setdefault(("e", e), []).append((("c", c), s))
    assert sum(len(v) for k, v in adj.items() if k[0] == "e") > len(x), "no soft bindings"
    eps = [0, 7, 123]
    sources = [("e", e) for e in eps] + [("c", concepts[0])]
    acts = [1.0, 0.5, 2.0, 1.5]
    want = spread_reference(adj, list(zip(sources, acts)), 0.6, 0.0, 3)
    got = mem.spread(episodes=eps, concepts=[concepts[0]], activation=acts)
    have = {}
    for kind, key in (("e", "episodes"), ("c", "concepts")):
        ids, a = got[key]
        assert ids.dtype == np.uint64 and a.dtype == np.float32
        assert np.all(np.diff(a) <= 0), "most active first"
        have.update({(kind, int(i)): float(v) for i, v in zip(ids, a)})
    assert set(have) == set(want)
    for n, v in want.items():
        assert abs(have[n] - v) <= 1e-5 * max(1.0, abs(v)), (n, have[n], v)
    # A single number applies to every source; unknown ids spread nothing.
    one = mem.spread(episodes=[0], activation=2.0)
    ref = spread_reference(adj, [(("e", 0), 2.0)], 0.6, 0.0, 3)
    ids, a = one["episodes"]
    got0 = float(a[list(ids).index(0)])
    assert got0 == pytest.approx(ref[("e", 0)], rel=1e-5) and got0 >= 2.0
    none = mem.spread(episodes=[10**9])
    assert none["concepts"][0].size == 0
    with pytest.raises(engram.InputError):
        mem.spread(episodes=[0, 1], activation=[1.0])
    with pytest.raises(engram.InputError):
        mem.spread(episodes=[0], activation=-1.0)


def test_retrieve_latency_follows_act_r(consolidated):
    mem, x, _, _ = consolidated
    r = mem.retrieve(x[3])
    assert r is not None
    assert r["latency_ms"] == pytest.approx(1064.0 + 385.0 * np.exp(-r["activation"]), rel=1e-9)
    act = mem.activate(x[3])
    ids, a = act["episodes"]
    assert int(ids[0]) == r["episode"] and float(a[0]) == pytest.approx(r["activation"])
    # Other constants change the latency accordingly.
    mem.set_recall(dict(latency_intercept_ms=500.0, latency_factor_ms=100.0))
    r2 = mem.retrieve(x[3])
    assert r2["latency_ms"] == pytest.approx(500.0 + 100.0 * np.exp(-r2["activation"]), rel=1e-9)
    mem.set_recall({})


def test_recall_options_are_checked():
    with pytest.raises(engram.ConfigError, match="spread_decay"):
        engram.Engram(8, recall=dict(spread_decay=0.0))
    with pytest.raises(engram.ConfigError, match="unknown option"):
        engram.Engram(8, recall=dict(hops=2))
    with pytest.raises(engram.ConfigError, match="max_hops"):
        engram.Engram(8, recall=dict(max_hops=1.5))
    mem = engram.Engram(8, recall=dict(max_hops=1))
    with pytest.raises(engram.ConfigError):
        mem.set_recall(dict(familiarity_threshold=2.0))


def test_open_takes_recall_constants(tmp_path):
    mem = engram.Engram.create(tmp_path / "s", 8, recall=dict(latency_factor_ms=10.0))
    rows = np.eye(8, dtype=np.float32)
    mem.remember_batch(rows)
    mem.add_concept(rows[0] + rows[1])
    del mem
    reopened = engram.Engram.open(tmp_path / "s", recall=dict(latency_factor_ms=10.0, source_min_similarity=0.1))
    assert len(reopened) == 8
    with pytest.raises(engram.ConfigError):
        engram.Engram.open(tmp_path / "s", recall=dict(max_sources=-1))


def _stub_keys(class_name):
    """The keys a TypedDict of the `.pyi` stub declares, in order."""
    import ast
    from pathlib import Path

    stub = Path(__file__).resolve().parents[1] / "engram" / "__init__.pyi"
    tree = ast.parse(stub.read_text())
    for node in tree.body:
        if isinstance(node, ast.ClassDef) and node.name == class_name:
            return [s.target.id for s in node.body if isinstance(s, ast.AnnAssign)]
    raise AssertionError(f"{class_name} is not in {stub}")


def test_consolidation_options_follow_the_library():
    # The keys come from ConsolidationConfig's own fields (its serde derive); the stub must
    # declare exactly those, and the parser must take each of them.
    from engram import _engram

    keys = list(_engram.CONSOLIDATION_KEYS)
    assert len(keys) == len(set(keys)) and "max_k" in keys and "forgetting" in keys
    assert sorted(_stub_keys("ConsolidationOptions")) == sorted(keys)
    for key in keys:
        value = {"clusters": 3, "max_k": 12, "forgetting": "none", "seed": 7}.get(key)
        if value is None:
            # An unknown key is refused by name; a known one gets past the key check (the
            # value may still be out of range for this field).
            try:
                engram.Engram(DIM, backend="cpu", consolidation={key: 1})
            except engram.ConfigError as e:
                assert "unknown option" not in str(e), key
        else:
            engram.Engram(DIM, backend="cpu", consolidation={key: value})
    with pytest.raises(engram.ConfigError, match="unknown option"):
        engram.Engram(DIM, backend="cpu", consolidation=dict(max_iterations=3))


def test_recall_options_follow_the_library():
    from engram import _engram

    keys = list(_engram.RECALL_KEYS)
    assert len(keys) == len(set(keys)) and "max_hops" in keys
    assert sorted(_stub_keys("RecallOptions")) == sorted(keys)
    for key in keys:
        try:
            engram.Engram(8, recall={key: 1})
        except engram.ConfigError as e:
            assert "unknown option" not in str(e), key


def test_consolidation_option_errors_name_the_option():
    with pytest.raises(engram.ConfigError, match="promote_after"):
        engram.Engram(DIM, backend="cpu", consolidation=dict(promote_after=2**40))
    with pytest.raises(engram.ConfigError, match="max_iter must be an integer"):
        engram.Engram(DIM, backend="cpu", consolidation=dict(max_iter=2.0))
    with pytest.raises(engram.ConfigError, match="min_coherence must be a number"):
        engram.Engram(DIM, backend="cpu", consolidation=dict(min_coherence="high"))
