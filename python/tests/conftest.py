import os

import numpy as np
import pytest

os.environ.setdefault("RAY_AUTH_MODE", "disabled")
os.environ.setdefault("ENGRAM_BACKEND", "")


@pytest.fixture(scope="session")
def ray_cluster():
    """A local Ray cluster started inside the test session (nothing else needed)."""
    ray = pytest.importorskip("ray")
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
    yield ray
    ray.shutdown()


@pytest.fixture
def rng():
    return np.random.default_rng(1234)


def unit_rows(rng, n, d, dtype=np.float32):
    x = rng.standard_normal((n, d))
    x /= np.linalg.norm(x, axis=1, keepdims=True)
    return x.astype(dtype)


def brute_topk(x, q, k):
    """numpy reference: cosine, score desc then id asc."""
    xn = x / np.linalg.norm(x, axis=1, keepdims=True)
    qn = q / np.linalg.norm(q, axis=1, keepdims=True)
    s = (qn.astype(np.float64) @ xn.T.astype(np.float64))
    ids = np.argsort(-s, axis=1, kind="stable")[:, :k]
    return ids, np.take_along_axis(s, ids, axis=1)
