"""Type stubs for engram (the native module engram._engram, re-exported)."""

import os
from typing import Any, Dict, List, Literal, Optional, Sequence, Tuple, TypedDict, Union

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
RecallModeName = Literal["episodic", "semantic", "blended"]

class ConsolidationOptions(TypedDict, total=False):
    """`consolidation=dict(...)`: every key optional (defaults in brackets)."""

    seed: int  # [0] seed of every random choice; same seed + backend => same concepts
    clusters: Optional[int]  # [None] clusters per cycle; None = discover the number
    max_k: Optional[int]  # [None = ceil(2 sqrt n)] discovery's over-clustering k'
    max_iter: int  # [50] Lloyd iterations of a cold clustering
    warm_iter: int  # [1] Lloyd iterations of a warm cycle (from the existing concepts)
    replay_fraction: float  # [0.1] older episodes replayed, as a fraction of the new ones
    replay_min: int  # [64] at least this many replayed
    min_coherence: float  # [0.3] least mean member-to-centroid cosine of a concept
    min_cluster_size: int  # [5] least members of a concept
    match_threshold: float  # [0.8] cluster = existing concept when centroid cosine >= this
    novelty_threshold: float  # [0.5] warm discovery: rows below this cosine are novel
    soft_margin: float  # [0.05] also bind to the 2nd-best concept within this margin
    soft_candidates: int  # [8] 2nd-best searched among this many (0 = no soft membership)
    binding_gain: float  # [0.2]
    prune_below: float  # [0.05] bindings weaker than this are pruned
    replay_gain: float  # [0.2]
    proto_strength: float  # [0.5] strength of a new proto-concept
    confirm_gain: float  # [0.25]
    promote_after: int  # [3] cycles that must find a proto-concept before promotion
    concept_min_strength: float  # [0.1] weaker proto-concepts are removed
    link_threshold: float  # [0.5] concepts with centroid cosine >= this are linked
    forgetting: Union[str, float, Dict[str, float]]
    # [{"half_life": 604800}] "none", a half-life, {"half_life": h} or
    # {"scale": s, "exponent": c} (power law)

class CycleTimings(TypedDict):
    sample: float
    cluster: float
    matching: float
    apply: float
    decay: float
    prune: float
    lists: float  # bringing the concept lists of search_semantic up to date
    total: float
    checkpoint: Optional[float]  # durable stores: seconds writing the snapshot

class CycleReport(TypedDict):
    cycle: int
    now: int
    episodes_new: int
    episodes_replayed: int
    clusters_found: int
    clusters_kept: int
    concepts_created: npt.NDArray[np.uint64]
    concepts_updated: npt.NDArray[np.uint64]
    concepts_promoted: npt.NDArray[np.uint64]
    concepts_removed: npt.NDArray[np.uint64]
    bindings_created: int
    bindings_strengthened: int
    bindings_pruned: int
    bindings_decayed: int
    episodes_decayed: int
    concepts_decayed: int
    min_decay_factor: float
    links_set: int
    links_removed: int
    rows_skipped: int
    timings: CycleTimings

class ConceptRecord(TypedDict):
    id: int
    coherence: float
    members: int
    strength: float
    state: Literal["proto", "promoted"]
    confirmations: int
    formed_cycle: int
    updated_cycle: int

class RecallHit(TypedDict):
    kind: Literal["episode", "concept"]  # "concept": a reconstruction (pattern completion)
    id: int
    score: float  # fused score hits are ranked by
    confidence: float  # score clamped to [0, 1] x retention
    similarity: float  # cosine cue-episode (or cue-centroid)
    episodic: Optional[float]  # the episodic pathway's score, if it found the hit
    semantic: Optional[float]  # the semantic pathway's score, if it found the hit
    pathways: Tuple[str, ...]  # subset of ("episodic", "semantic", "completion")
    retention: float
    reconstruction: Optional[npt.NDArray[np.float32]]  # concept hits: the rebuilt memory

class RecallOptions(TypedDict, total=False):
    """`recall=dict(...)`: every key optional (defaults in brackets)."""

    latency_intercept_ms: float  # [1064] ACT-R I in T = I + F·e^(−A)
    latency_factor_ms: float  # [385] ACT-R F
    source_activation: float  # [2.0] W shared among a cue's source concepts
    spread_decay: float  # [0.7] fraction passed on per hop, in (0, 1]
    spread_threshold: float  # [0.01] activation below which a node does not spread
    max_hops: int  # [2]
    source_min_similarity: float  # [0.3] least cue–centroid cosine of a source concept
    max_sources: int  # [4]
    familiarity_episodic_weight: float  # [0.5]
    familiarity_threshold: float  # [0.6] "old" at or above
    familiarity_slope: float  # [0.05]
    completion_threshold: float  # [0.9]
    completion_exponent: float  # [0] 0: the concept's prototype; 3: MINERVA 2
    forgetting_scale: float  # [20] τ of R(Δt) = (1 + Δt/(τ·s))^(−c), seconds
    forgetting_exponent: float  # [0.13] c
    rehearsal_gain: float  # [1.0]
    rehearsal_base: float  # [0.05]

class ActivationResult(TypedDict):
    episodes: Tuple[npt.NDArray[np.uint64], npt.NDArray[np.float32]]
    concepts: Tuple[npt.NDArray[np.uint64], npt.NDArray[np.float32]]

class RetrievalResult(TypedDict):
    episode: int
    activation: float
    latency_ms: float

class FamiliarityResult(TypedDict):
    old: bool
    confidence: float
    familiarity: float
    episodic: float
    semantic: float

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
        consolidation: Optional[ConsolidationOptions] = None,
        recall: Optional[RecallOptions] = None,
    ) -> None: ...
    @staticmethod
    def create(
        path: Union[str, "os.PathLike[str]"],
        dim: int,
        backend: Backend = "auto",
        precision: PrecisionName = "f32",
        chunk_bytes: Optional[int] = None,
        sync: Optional[str] = None,
        consolidation: Optional[ConsolidationOptions] = None,
        recall: Optional[RecallOptions] = None,
    ) -> "Engram":
        """A new durable store (snapshot + write-ahead log) in directory `path`.
        `sync`: "every_write" (default), "interval:<ms>" or "never". The consolidation
        configuration is saved with the store's snapshots; `recall` is not (pass it to
        `open`)."""
    @staticmethod
    def open(
        path: Union[str, "os.PathLike[str]"],
        sync: Optional[str] = None,
        recall: Optional[RecallOptions] = None,
        read_only: bool = False,
    ) -> "Engram":
        """Opens a durable store (replays its log; StoreError on corruption). One writer at
        a time: StoreError ("locked by another writer") if another handle has it open for
        writing. read_only=True takes no lock and changes no file; writes raise StoreError."""
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
    def concepts(self) -> List[ConceptRecord]:
        """Every live concept, by ascending id."""
    def centroid(self, id: int) -> npt.NDArray[np.float32]: ...
    def members(self, id: int) -> Tuple[npt.NDArray[np.uint64], npt.NDArray[np.float32]]:
        """(episode ids, binding strengths), strongest first."""
    def search_concepts(
        self, q: FloatVector, k: int
    ) -> Tuple[npt.NDArray[np.uint64], npt.NDArray[np.float32]]: ...
    @property
    def cycle(self) -> int:
        """Consolidation cycles applied so far."""
    @property
    def last_consolidation(self) -> Optional[int]: ...
    def consolidate(self, now: int) -> CycleReport:
        """One consolidation cycle at clock `now`; durable stores checkpoint after it."""
    def recall(
        self,
        cue: FloatVector,
        k: int,
        mode: RecallModeName = "blended",
        probes: int = 8,
        now: Optional[int] = None,
        completion: Union[None, bool, float] = None,
        weights: Tuple[float, float] = (0.5, 0.5),
        support_weight: float = 0.1,
    ) -> List[RecallHit]:
        """Recall; with `now` given it is a rehearsal (recalled episodes are strengthened)."""
    def recall_view(
        self,
        cue: FloatVector,
        k: int,
        mode: RecallModeName = "blended",
        probes: int = 8,
        now: Optional[int] = None,
        completion: Union[None, bool, float] = None,
        weights: Tuple[float, float] = (0.5, 0.5),
        support_weight: float = 0.1,
    ) -> List[RecallHit]:
        """`recall` that never changes anything."""
    def familiarity(self, cue: FloatVector) -> FamiliarityResult: ...
    def set_recall(self, recall: RecallOptions) -> None:
        """Replaces the recall constants (unnamed ones return to their defaults)."""
    def spread(
        self,
        episodes: Optional[IntArray] = None,
        concepts: Optional[IntArray] = None,
        activation: Union[None, float, Sequence[float]] = None,
    ) -> ActivationResult:
        """Spreading activation from source episodes and concepts (1.0 each by default)."""
    def activate(self, cue: FloatVector) -> ActivationResult:
        """The activation a cue spreads from its most similar concepts."""
    def retrieve(self, cue: FloatVector) -> Optional[RetrievalResult]:
        """The most active episode for a cue with its ACT-R latency, or None."""
    def search_semantic(
        self, q: FloatVector, k: int, probes: int = 8
    ) -> Tuple[npt.NDArray[np.uint64], npt.NDArray[np.float32]]:
        """Approximate top-k through the `probes` nearest concepts' lists and the unbound tail."""
    def search_semantic_int8(
        self, q: FloatVector, k: int, probes: int = 8, rerank: int = 4
    ) -> Tuple[npt.NDArray[np.uint64], npt.NDArray[np.float32]]:
        """search_semantic over int8 codes, the best k*rerank re-scored exactly."""
    def search_semantic_batch(
        self, q: FloatArray, k: int, probes: int = 8
    ) -> Tuple[npt.NDArray[np.uint64], npt.NDArray[np.float32]]:
        """search_semantic for every row of Q (padded like search_batch)."""
    def concept_list_stats(self) -> Dict[str, Any]:
        """Sizes and bytes of the concept lists behind search_semantic."""
    def add_concept(
        self,
        centroid: FloatVector,
        coherence: float = 1.0,
        members: int = 0,
        strength: float = 1.0,
        state: Literal["proto", "promoted"] = "promoted",
        confirmations: int = 1,
    ) -> int:
        """A concept with this centroid and no bindings (the next cycle binds episodes)."""

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
