"""Type stubs for engram (the native module engram._engram, re-exported)."""

import os
from typing import Any, Dict, List, Literal, Optional, Sequence, Tuple, Union

import numpy as np
import numpy.typing as npt

__version__: str
NO_ID: int
"""The id padding search_batch rows with fewer than k hits: 2**64 - 1 (score nan)."""

FloatArray = Union[npt.NDArray[np.floating[Any]], Sequence[Sequence[float]]]
FloatVector = Union[npt.NDArray[np.floating[Any]], Sequence[float]]
IntArray = Union[npt.NDArray[np.integer[Any]], Sequence[int]]
Backend = Literal["auto", "cpu", "gpu"]
PrecisionName = Literal["f32", "f16", "f32+f16"]
Metric = Literal["spherical", "euclidean"]

class EngramError(Exception):
    """Base class of every error raised by engram."""

class ConfigError(EngramError):
    """The configuration is invalid."""

class InputError(EngramError):
    """An argument or input row is invalid; nothing was stored or changed."""

class GpuError(EngramError):
    """The GPU backend failed or is unavailable."""

class StoreError(EngramError):
    """The on-disk store failed."""

class ClusterError(EngramError):
    """Clustering failed: invalid parameters or data."""

class Engram:
    """An episodic + semantic memory of unit-normalised embeddings."""

    def __init__(
        self,
        dim: int,
        backend: Backend = "auto",
        precision: PrecisionName = "f32",
        chunk_bytes: Optional[int] = None,
    ) -> None: ...
    @staticmethod
    def create(
        path: Union[str, "os.PathLike[str]"],
        dim: int,
        backend: Backend = "auto",
        precision: PrecisionName = "f32",
        chunk_bytes: Optional[int] = None,
        sync: Optional[str] = None,
    ) -> "Engram":
        """A new durable store (snapshot + write-ahead log) in directory `path`.
        `sync`: "every_write" (default), "interval:<ms>" or "never"."""
    @staticmethod
    def open(path: Union[str, "os.PathLike[str]"], sync: Optional[str] = None) -> "Engram":
        """Opens a durable store (replays its log; StoreError on corruption)."""
    def checkpoint(self) -> None:
        """Writes a snapshot and starts a fresh log (durable stores only)."""
    @property
    def path(self) -> Optional["os.PathLike[str]"]: ...
    @property
    def dim(self) -> int: ...
    @property
    def backend(self) -> Literal["cpu", "gpu"]: ...
    @property
    def backend_reason(self) -> str: ...
    @property
    def last_call_seconds(self) -> float:
        """Seconds inside the Rust core during the last call (a benchmark hook)."""
    @property
    def vector_bytes(self) -> int: ...
    def __len__(self) -> int: ...
    def remember_batch(
        self,
        x: FloatArray,
        timestamps: Optional[IntArray] = None,
        payloads: Optional[Sequence[Union[str, bytes, None]]] = None,
        streams: Optional[IntArray] = None,
    ) -> npt.NDArray[np.uint64]:
        """Stores n x dim rows (all or nothing); returns their ids."""
    def remember(
        self,
        x: FloatVector,
        timestamp: int = 0,
        payload: Union[str, bytes, None] = None,
        stream: int = 0,
    ) -> int: ...
    def search(
        self, q: FloatVector, k: int
    ) -> Tuple[npt.NDArray[np.uint64], npt.NDArray[np.float32]]:
        """Top-k for one query: up to k hits, score desc then id asc (no padding)."""
    def search_batch(
        self, q: FloatArray, k: int, layout: Literal["auto", "f32", "f16"] = "auto"
    ) -> Tuple[npt.NDArray[np.uint64], npt.NDArray[np.float32]]:
        """Top-k per query row: (ids[nq, k], scores[nq, k]) padded with NO_ID / nan."""
    def get(self, id: int) -> Dict[str, Any]: ...
    def embedding(self, id: int) -> npt.NDArray[np.float32]: ...
    def forget(self, id: int) -> None: ...
    def compact(self) -> int: ...
    def concepts(self) -> List[Dict[str, Any]]: ...
    def centroid(self, id: int) -> npt.NDArray[np.float32]: ...
    def members(self, id: int) -> Tuple[npt.NDArray[np.uint64], npt.NDArray[np.float32]]: ...
    def search_concepts(
        self, q: FloatVector, k: int
    ) -> Tuple[npt.NDArray[np.uint64], npt.NDArray[np.float32]]: ...

class KMeansResult:
    centroids: npt.NDArray[np.float32]
    labels: npt.NDArray[np.uint32]
    objective: float
    iterations: int
    converged: bool

def kmeans_assign(
    x: FloatArray, c: FloatArray, metric: Metric = "spherical"
) -> Tuple[npt.NDArray[np.uint32], npt.NDArray[np.float32]]: ...
def kmeans_partial_sums(
    x: FloatArray, labels: IntArray, k: int, scores: Optional[FloatVector] = None
) -> Tuple[npt.NDArray[np.float64], npt.NDArray[np.uint64], float]: ...
def kmeans_reduce(
    sums: FloatArray, counts: IntArray, previous: FloatArray, metric: Metric = "spherical"
) -> npt.NDArray[np.float32]: ...
def kmeans_fit(
    x: FloatArray,
    k: int,
    seed: int = 0,
    max_iter: int = 50,
    tol: float = 1e-6,
    n_init: int = 1,
    init: Union[None, Literal["k-means||", "k-means++", "random"], FloatArray] = None,
    metric: Metric = "spherical",
    repair_empty: bool = True,
) -> KMeansResult: ...
def synth(
    n: int,
    dim: int,
    clusters: int,
    seed: int = 0,
    sigma2: Optional[float] = None,
    zipf: Optional[float] = None,
    drift: float = 0.0,
    drift_step: int = 10_000,
    order: Literal["shuffled", "blocked"] = "shuffled",
    start: int = 0,
    stop: Optional[int] = None,
) -> Tuple[npt.NDArray[np.float32], npt.NDArray[np.uint32]]: ...
def merge_topk(
    parts: Sequence[Tuple[npt.NDArray[np.uint64], npt.NDArray[np.float32]]], k: int
) -> Tuple[npt.NDArray[np.uint64], npt.NDArray[np.float32]]: ...
