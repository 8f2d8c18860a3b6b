"""engram: a dual memory engine (episodes, concepts, bindings) with a Rust core.

numpy in and out. A C-contiguous ``float32`` array is read in place; any other float array
(``float64``, Fortran order, strided views, lists of floats) is converted once to a
C-contiguous ``float32`` copy; integer/bool arrays are refused with :class:`InputError`.
Every computation releases the GIL.

    >>> import numpy as np, engram
    >>> mem = engram.Engram(dim=4, backend="cpu")
    >>> ids = mem.remember_batch(np.eye(4, dtype=np.float32))
    >>> hits, scores = mem.search(np.array([1, 0.1, 0, 0], np.float32), k=2)
    >>> int(hits[0])
    0

``engram.distributed`` (needs ``ray``) runs k-means and scatter-gather search on shards.
"""

from ._engram import (
    NO_ID,
    ClusterError,
    ConfigError,
    Engram,
    EngramError,
    GpuError,
    InputError,
    KMeansResult,
    StoreError,
    __version__,
    kmeans_assign,
    kmeans_fit,
    kmeans_partial_sums,
    kmeans_reduce,
    merge_topk,
    synth,
)

__all__ = [
    "NO_ID",
    "ClusterError",
    "ConfigError",
    "Engram",
    "EngramError",
    "GpuError",
    "InputError",
    "KMeansResult",
    "StoreError",
    "__version__",
    "kmeans_assign",
    "kmeans_fit",
    "kmeans_partial_sums",
    "kmeans_reduce",
    "merge_topk",
    "synth",
]
