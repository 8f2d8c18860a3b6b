//! `engram.Engram`: the library's [`SharedEngram`] handle, numpy in and out.
//!
//! Locking, durability and consolidation retries are the library's: every method calls one
//! `SharedEngram` method (or reads under its read lock) with the GIL released.

use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Instant;

use engram::consolidation::ConsolidationConfig;
use engram::persist::NewConcept;
use engram::{
    BackendChoice, Concept, ConceptId, ConceptState, Config, DurableEngram, Engram, EpisodeId,
    EpisodeMeta, Layout, MemoryNode, Payload, Precision, Scored, SharedEngram, StoreOptions,
    SyncPolicy,
};
use pyo3::prelude::*;
use pyo3::types::{PyBytes, PyDict, PyList, PyString};

use crate::arrays::{f64_vec, matrix, unsigned_vec, vec1, vec2, Arr1, Arr2, Matrix};
use crate::errors::{check_k, input, to_py, ConfigError, StoreError};
use crate::memory::{
    activation_dict, familiarity_dict, hits_list, parse_consolidation, parse_recall, parse_state,
    recall_params, report_dict,
};

fn parse_sync(s: Option<&str>) -> PyResult<StoreOptions> {
    let sync = match s.map(|s| s.trim().to_ascii_lowercase()) {
        None => SyncPolicy::default(),
        Some(s) if s == "every_write" => SyncPolicy::EveryWrite,
        Some(s) if s == "never" => SyncPolicy::Never,
        Some(s) => match s.strip_prefix("interval:").and_then(|ms| ms.parse::<u64>().ok()) {
            Some(ms) => SyncPolicy::Interval(std::time::Duration::from_millis(ms)),
            None => {
                return Err(ConfigError::new_err(format!(
                    "invalid configuration: sync must be \"every_write\", \"never\" or \"interval:<ms>\", got {s:?}"
                )))
            }
        },
    };
    Ok(StoreOptions::default().sync(sync))
}

/// The id that pads `search_batch` rows holding fewer than `k` hits (`2**64 - 1`).
pub(crate) const NO_ID: u64 = u64::MAX;

/// An episodic + semantic memory of unit-normalised embeddings.
///
/// `Engram(dim, backend="auto", precision="f32", chunk_bytes=None)`
///
/// - `backend`: `"auto"` (a real GPU if there is one, else the CPU), `"cpu"` or `"gpu"`
///   (`ENGRAM_BACKEND` overrides it, as in Rust).
/// - `precision`: `"f32"`, `"f16"` (half the memory) or `"f32+f16"` (both; searches can read
///   either with `layout=`).
///
/// Thread safety: one engine may be shared between Python threads. Searches run in parallel
/// (a read lock), writes are serialised (a write lock); the GIL is released while waiting for
/// the lock and during every computation and fsync.
#[pyclass(name = "Engram", module = "engram", frozen)]
pub(crate) struct PyEngram {
    inner: SharedEngram,
    /// The embedding dimension (fixed for the engine's life).
    dim: usize,
    /// Seconds (f64 bits) spent inside the last Rust core call, excluding conversions.
    last_seconds: AtomicU64,
}

fn parse_precision(s: &str) -> PyResult<Precision> {
    Precision::parse(s).ok_or_else(|| {
        ConfigError::new_err(format!(
            "invalid configuration: precision must be one of \"f32\", \"f16\", \"f32+f16\", got {s:?}"
        ))
    })
}

fn parse_layout(s: &str) -> PyResult<Layout> {
    match s.trim().to_ascii_lowercase().as_str() {
        "auto" => Ok(Layout::Auto),
        "f32" => Ok(Layout::F32),
        "f16" => Ok(Layout::F16),
        _ => Err(input(format!(
            "layout must be one of \"auto\", \"f32\", \"f16\", got {s:?}"
        ))),
    }
}

fn payload_of(obj: &Bound<'_, PyAny>, i: usize) -> PyResult<Option<Payload>> {
    if obj.is_none() {
        Ok(None)
    } else if let Ok(s) = obj.cast::<PyString>() {
        Ok(Some(Payload::Text(s.to_cow()?.into_owned())))
    } else if let Ok(b) = obj.cast::<PyBytes>() {
        Ok(Some(Payload::Bytes(b.as_bytes().to_vec())))
    } else {
        Err(input(format!(
            "payloads[{i}]: expected str, bytes or None, got {}",
            obj.get_type().name()?
        )))
    }
}

fn payload_py<'py>(py: Python<'py>, p: &Option<Payload>) -> PyResult<Bound<'py, PyAny>> {
    Ok(match p {
        None => py.None().into_bound(py),
        Some(Payload::Text(s)) => PyString::new(py, s).into_any(),
        Some(Payload::Bytes(b)) => PyBytes::new(py, b).into_any(),
    })
}

fn concept_dict<'py>(py: Python<'py>, c: &Concept) -> PyResult<Bound<'py, PyDict>> {
    let d = PyDict::new(py);
    d.set_item("id", c.id.0)?;
    d.set_item("coherence", c.coherence)?;
    d.set_item("members", c.members)?;
    d.set_item("strength", c.strength)?;
    d.set_item(
        "state",
        match c.state {
            ConceptState::Proto => "proto",
            ConceptState::Promoted => "promoted",
        },
    )?;
    d.set_item("confirmations", c.confirmations)?;
    d.set_item("formed_cycle", c.formed_cycle)?;
    d.set_item("updated_cycle", c.updated_cycle)?;
    Ok(d)
}

/// Pads or truncates search hits into `nq × k` id and score buffers.
pub(crate) fn pad_hits<T: Copy>(
    hits: &[Vec<Scored<T>>],
    k: usize,
    id: impl Fn(T) -> u64,
) -> (Vec<u64>, Vec<f32>) {
    let mut ids = vec![NO_ID; hits.len() * k];
    let mut scores = vec![f32::NAN; hits.len() * k];
    for (q, h) in hits.iter().enumerate() {
        for (j, s) in h.iter().take(k).enumerate() {
            ids[q * k + j] = id(s.id);
            scores[q * k + j] = s.score;
        }
    }
    (ids, scores)
}

fn config_of(
    dim: i64,
    backend: &str,
    precision: &str,
    chunk_bytes: Option<usize>,
    consolidation: ConsolidationConfig,
) -> PyResult<Config> {
    if dim < 1 {
        return Err(ConfigError::new_err(format!(
            "invalid configuration: dimension must be at least 1, got {dim}"
        )));
    }
    let choice = BackendChoice::parse(backend).ok_or_else(|| {
        ConfigError::new_err(format!(
            "invalid configuration: backend must be one of \"auto\", \"cpu\", \"gpu\", got {backend:?}"
        ))
    })?;
    let mut config = Config::new(dim as usize)
        .backend(choice)
        .precision(parse_precision(precision)?)
        .consolidation(consolidation);
    if let Some(b) = chunk_bytes {
        config = config.chunk_bytes(b);
    }
    Ok(config)
}

impl PyEngram {
    fn from_shared(inner: SharedEngram, dim: usize) -> Self {
        Self {
            inner,
            dim,
            last_seconds: AtomicU64::new(0),
        }
    }

    /// Runs `f` on the engine under the read lock, with the GIL released.
    fn view<R: Send>(&self, py: Python<'_>, f: impl FnOnce(&Engram) -> R + Send) -> R {
        py.detach(|| self.inner.with(f))
    }

    /// Runs `f` with the GIL released and records its duration.
    fn timed<T: Send>(&self, py: Python<'_>, f: impl FnOnce() -> T + Send) -> T {
        py.detach(|| {
            let t = Instant::now();
            let r = f();
            self.last_seconds
                .store(t.elapsed().as_secs_f64().to_bits(), Ordering::Relaxed);
            r
        })
    }

    /// A one-query search's result for the cue `q` as `(ids uint64[m], scores float32[m])`;
    /// `run` searches the cue (without the GIL).
    fn single_hits<'py>(
        &self,
        py: Python<'py>,
        q: &Bound<'py, PyAny>,
        run: impl FnOnce(&Engram, &[f32]) -> engram::Result<Vec<Scored<EpisodeId>>> + Send,
    ) -> PyResult<(Arr1<'py, u64>, Arr1<'py, f32>)> {
        let m = self.cue(q, "q")?;
        let qs = m.as_slice();
        let hits = self
            .timed(py, || self.inner.with(|e| run(e, qs)))
            .map_err(to_py)?;
        let (ids, s): (Vec<u64>, Vec<f32>) = hits.iter().map(|h| (h.id.0, h.score)).unzip();
        Ok((vec1(py, ids), vec1(py, s)))
    }

    /// A batch search's result for the rows of `Q` as `(ids uint64[nq, k], scores
    /// float32[nq, k])`, padded with `NO_ID` / nan; `run` searches the flat rows (without the
    /// GIL).
    fn batch_hits<'py>(
        &self,
        py: Python<'py>,
        q: &Bound<'py, PyAny>,
        k: usize,
        run: impl FnOnce(&Engram, &[f32]) -> engram::Result<Vec<Vec<Scored<EpisodeId>>>> + Send,
    ) -> PyResult<(Arr2<'py, u64>, Arr2<'py, f32>)> {
        let m = matrix(q, "Q", false)?;
        self.check_dim(&m, "Q")?;
        let nq = m.rows;
        if nq == 0 {
            return Ok((vec2(py, vec![], 0, k)?, vec2(py, vec![], 0, k)?));
        }
        let qs = m.as_slice();
        let (ids, scores) = self
            .timed(py, || {
                self.inner
                    .with(|e| run(e, qs))
                    .map(|h| pad_hits(&h, k, |i: EpisodeId| i.0))
            })
            .map_err(to_py)?;
        Ok((vec2(py, ids, nq, k)?, vec2(py, scores, nq, k)?))
    }

    /// A 1-D float argument of the engine's dimension.
    fn cue<'py>(&self, obj: &Bound<'py, PyAny>, name: &str) -> PyResult<Matrix<'py>> {
        let m = matrix(obj, name, true)?;
        if !m.one_d {
            return Err(input(format!("{name}: expected a 1-D array")));
        }
        self.check_dim(&m, name)?;
        Ok(m)
    }

    fn check_dim(&self, m: &Matrix<'_>, name: &str) -> PyResult<()> {
        let dim = self.dim;
        if m.cols != dim {
            return Err(input(format!(
                "{name}: expected dimension {dim}, got {} (shape {:?})",
                m.cols,
                if m.one_d {
                    vec![m.cols]
                } else {
                    vec![m.rows, m.cols]
                }
            )));
        }
        Ok(())
    }
}

#[pymethods]
impl PyEngram {
    #[new]
    #[pyo3(signature = (dim, backend = "auto", precision = "f32", chunk_bytes = None, consolidation = None, recall = None))]
    fn new(
        py: Python<'_>,
        dim: i64,
        backend: &str,
        precision: &str,
        chunk_bytes: Option<usize>,
        consolidation: Option<&Bound<'_, PyDict>>,
        recall: Option<&Bound<'_, PyDict>>,
    ) -> PyResult<Self> {
        let cc = parse_consolidation(consolidation)?;
        let config =
            config_of(dim, backend, precision, chunk_bytes, cc)?.recall(parse_recall(recall)?);
        let dim = config.dim();
        let inner = py.detach(|| Engram::new(config)).map_err(to_py)?;
        Ok(Self::from_shared(SharedEngram::new(inner), dim))
    }

    /// Creates a new durable store in directory `path` (made if missing; an error if a store
    /// is already there). Every write goes to a write-ahead log before it returns; `sync` is
    /// `"every_write"` (default: fsync per write), `"interval:<ms>"` or `"never"`.
    /// `consolidation` and `recall` as in the constructor; the consolidation configuration is
    /// saved with the store's snapshots, the recall constants are not (pass them to `open`).
    #[staticmethod]
    #[pyo3(signature = (path, dim, backend = "auto", precision = "f32", chunk_bytes = None, sync = None, consolidation = None, recall = None))]
    #[allow(clippy::too_many_arguments)]
    fn create(
        py: Python<'_>,
        path: PathBuf,
        dim: i64,
        backend: &str,
        precision: &str,
        chunk_bytes: Option<usize>,
        sync: Option<&str>,
        consolidation: Option<&Bound<'_, PyDict>>,
        recall: Option<&Bound<'_, PyDict>>,
    ) -> PyResult<Self> {
        let cc = parse_consolidation(consolidation)?;
        let config =
            config_of(dim, backend, precision, chunk_bytes, cc)?.recall(parse_recall(recall)?);
        let options = parse_sync(sync)?;
        let dim = config.dim();
        let d = py
            .detach(|| DurableEngram::create(&path, config, options))
            .map_err(to_py)?;
        Ok(Self::from_shared(SharedEngram::durable(d), dim))
    }

    /// Opens the durable store in directory `path`: loads its snapshot and replays the log
    /// (an incomplete last record a crash cut short is left out; any damage raises
    /// `StoreError` naming where). One writer at a time: a store another handle (in any
    /// process) has open for writing raises `StoreError` ("locked by another writer").
    /// `read_only=True` takes no lock and changes no file (writes raise `StoreError`).
    /// `recall`: the recall constants for this session (not saved in the store).
    #[staticmethod]
    #[pyo3(signature = (path, sync = None, recall = None, read_only = false))]
    fn open(
        py: Python<'_>,
        path: PathBuf,
        sync: Option<&str>,
        recall: Option<&Bound<'_, PyDict>>,
        read_only: bool,
    ) -> PyResult<Self> {
        let mut options = parse_sync(sync)?;
        options.read_only = read_only;
        let rc = parse_recall(recall)?;
        let d = py
            .detach(|| -> engram::Result<DurableEngram> {
                let mut d = DurableEngram::open(&path, options)?;
                d.set_recall_config(rc)?;
                Ok(d)
            })
            .map_err(to_py)?;
        let dim = d.dim();
        Ok(Self::from_shared(SharedEngram::durable(d), dim))
    }

    /// Writes a new snapshot and starts a fresh log (durable stores only).
    fn checkpoint(&self, py: Python<'_>) -> PyResult<()> {
        self.timed(py, || {
            if !self.inner.is_durable() {
                return Err(StoreError::new_err(
                    "store: this engine is in memory; use Engram.create(path, ...) or Engram.open(path)",
                ));
            }
            self.inner.checkpoint().map_err(to_py)
        })
    }

    /// The store's directory, or None for an in-memory engine.
    #[getter]
    fn path(&self, py: Python<'_>) -> Option<PathBuf> {
        py.detach(|| self.inner.dir())
    }

    /// The embedding dimension.
    #[getter]
    fn dim(&self) -> usize {
        self.dim
    }

    /// The backend searches run on: `"cpu"` or `"gpu"`.
    #[getter]
    fn backend(&self, py: Python<'_>) -> &'static str {
        self.view(py, |e| match e.backend() {
            engram::compute::Backend::Cpu(_) => "cpu",
            _ => "gpu",
        })
    }

    /// Why that backend was chosen.
    #[getter]
    fn backend_reason(&self, py: Python<'_>) -> String {
        self.view(py, |e| e.backend_reason().to_owned())
    }

    /// Seconds spent inside the Rust core by the last call on this engine, excluding the
    /// Python-side argument conversion and result wrapping (a timing hook for benchmarks).
    #[getter]
    fn last_call_seconds(&self) -> f64 {
        f64::from_bits(self.last_seconds.load(Ordering::Relaxed))
    }

    /// Bytes held by embeddings and centroids.
    #[getter]
    fn vector_bytes(&self, py: Python<'_>) -> usize {
        self.view(py, |e| e.vector_bytes())
    }

    fn __len__(&self, py: Python<'_>) -> usize {
        self.view(py, |e| e.len())
    }

    fn __repr__(&self, py: Python<'_>) -> String {
        let (len, concepts) = self.view(py, |e| (e.len(), e.graph().concept_count()));
        format!(
            "Engram(dim={}, episodes={len}, concepts={concepts}, backend={:?})",
            self.dim,
            self.backend(py)
        )
    }

    /// Stores a batch of episodes; returns their ids (uint64).
    ///
    /// `X` is `n × dim` (float32 read in place, other floats converted once). `timestamps`
    /// (n unsigned ints), `payloads` (n of str/bytes/None) and `streams` are optional. All or
    /// nothing: a bad row (wrong dimension, NaN/Inf, zero vector) raises `InputError` naming
    /// the row, and nothing is stored.
    #[pyo3(signature = (x, timestamps = None, payloads = None, streams = None))]
    fn remember_batch<'py>(
        &self,
        py: Python<'py>,
        x: &Bound<'py, PyAny>,
        timestamps: Option<&Bound<'py, PyAny>>,
        payloads: Option<&Bound<'py, PyAny>>,
        streams: Option<&Bound<'py, PyAny>>,
    ) -> PyResult<Arr1<'py, u64>> {
        let m = matrix(x, "X", false)?;
        self.check_dim(&m, "X")?;
        let n = m.rows;
        let ts: Option<Vec<u64>> = timestamps
            .map(|t| unsigned_vec::<u64>(t, "timestamps"))
            .transpose()?;
        let st: Option<Vec<u64>> = streams
            .map(|t| unsigned_vec::<u64>(t, "streams"))
            .transpose()?;
        let pl: Option<Vec<Option<Payload>>> = payloads
            .map(|p| {
                p.try_iter()?
                    .enumerate()
                    .map(|(i, o)| payload_of(&o?, i))
                    .collect::<PyResult<Vec<_>>>()
            })
            .transpose()?;
        for (name, len) in [
            ("timestamps", ts.as_ref().map(Vec::len)),
            ("streams", st.as_ref().map(Vec::len)),
            ("payloads", pl.as_ref().map(Vec::len)),
        ] {
            if let Some(len) = len {
                if len != n {
                    return Err(input(format!("{n} rows but {len} {name}")));
                }
            }
        }
        let metas: Vec<EpisodeMeta> = if ts.is_none() && st.is_none() && pl.is_none() {
            Vec::new()
        } else {
            let mut pl = pl.map(Vec::into_iter);
            (0..n)
                .map(|i| EpisodeMeta {
                    timestamp: ts.as_ref().map_or(0, |t| t[i]),
                    stream: st.as_ref().map_or(0, |s| s[i]),
                    payload: pl.as_mut().and_then(|p| p.next()).flatten(),
                    ..EpisodeMeta::default()
                })
                .collect()
        };
        let rows = m.as_slice();
        let ids = self
            .timed(py, || self.inner.remember_batch(rows, metas))
            .map_err(to_py)?;
        Ok(vec1(py, ids.into_iter().map(|i| i.0).collect()))
    }

    /// Stores one episode; returns its id.
    #[pyo3(signature = (x, timestamp = 0, payload = None, stream = 0))]
    fn remember(
        &self,
        py: Python<'_>,
        x: &Bound<'_, PyAny>,
        timestamp: u64,
        payload: Option<&Bound<'_, PyAny>>,
        stream: u64,
    ) -> PyResult<u64> {
        let m = matrix(x, "x", true)?;
        if !m.one_d {
            return Err(input(
                "x: expected a 1-D array (use remember_batch for rows)",
            ));
        }
        self.check_dim(&m, "x")?;
        let meta = EpisodeMeta {
            timestamp,
            stream,
            payload: payload.map(|p| payload_of(p, 0)).transpose()?.flatten(),
            ..EpisodeMeta::default()
        };
        let row = m.as_slice();
        let id = self
            .timed(py, || self.inner.remember(row, meta))
            .map_err(to_py)?;
        Ok(id.0)
    }

    /// The top-`k` episodes for one query: `(ids uint64[m], scores float32[m])` with
    /// `m = min(k, len(self))`, by score descending then id ascending.
    fn search<'py>(
        &self,
        py: Python<'py>,
        q: &Bound<'py, PyAny>,
        k: i64,
    ) -> PyResult<(Arr1<'py, u64>, Arr1<'py, f32>)> {
        let k = check_k(k, "k")?;
        let m = matrix(q, "q", true)?;
        if !m.one_d {
            return Err(input("q: expected a 1-D array (use search_batch for many)"));
        }
        self.check_dim(&m, "q")?;
        let qs = m.as_slice();
        let hits = self.timed(py, || self.inner.search(qs, k)).map_err(to_py)?;
        let (ids, scores): (Vec<u64>, Vec<f32>) = hits.iter().map(|s| (s.id.0, s.score)).unzip();
        Ok((vec1(py, ids), vec1(py, scores)))
    }

    /// The top-`k` episodes for each row of `Q`: `(ids uint64[nq, k], scores float32[nq, k])`.
    /// Rows are ordered by score descending then id ascending; when fewer than `k` episodes are
    /// stored a row is padded with id `NO_ID` (`2**64 - 1`) and score `nan`.
    /// `layout`: `"auto"`, `"f32"` or `"f16"` (which stored copy to read).
    #[pyo3(signature = (q, k, layout = "auto"))]
    fn search_batch<'py>(
        &self,
        py: Python<'py>,
        q: &Bound<'py, PyAny>,
        k: i64,
        layout: &str,
    ) -> PyResult<(Arr2<'py, u64>, Arr2<'py, f32>)> {
        let k = check_k(k, "k")?;
        let layout = parse_layout(layout)?;
        self.batch_hits(py, q, k, |e, qs| e.search_batch_in(qs, k, layout))
    }

    /// The record of a live episode as a dict (id, timestamp, stream, strength, confidence,
    /// rehearsals, last_access, payload).
    fn get<'py>(&self, py: Python<'py>, id: u64) -> PyResult<Bound<'py, PyDict>> {
        let e = self.view(py, |e| e.get(EpisodeId(id))).map_err(to_py)?;
        let d = PyDict::new(py);
        d.set_item("id", e.id.0)?;
        d.set_item("timestamp", e.timestamp)?;
        d.set_item("stream", e.stream)?;
        d.set_item("strength", e.strength)?;
        d.set_item("confidence", e.confidence)?;
        d.set_item("rehearsals", e.rehearsals)?;
        d.set_item("last_access", e.last_access)?;
        d.set_item("payload", payload_py(py, &e.payload)?)?;
        Ok(d)
    }

    /// The stored (unit-length) embedding of a live episode.
    fn embedding<'py>(&self, py: Python<'py>, id: u64) -> PyResult<Arr1<'py, f32>> {
        let v = self
            .view(py, |e| e.embedding(EpisodeId(id)))
            .map_err(to_py)?;
        Ok(vec1(py, v))
    }

    /// Removes an episode (its id is never reused).
    fn forget(&self, py: Python<'_>, id: u64) -> PyResult<()> {
        py.detach(|| self.inner.forget(EpisodeId(id)))
            .map_err(to_py)
    }

    /// Reclaims the rows of forgotten episodes; returns how many rows were freed.
    fn compact(&self, py: Python<'_>) -> PyResult<usize> {
        self.timed(py, || self.inner.mutate(|e| e.compact()))
            .map_err(to_py)
    }

    /// Every live concept (dicts: id, coherence, members, strength, state, confirmations,
    /// formed_cycle, updated_cycle), by ascending id.
    fn concepts<'py>(&self, py: Python<'py>) -> PyResult<Vec<Bound<'py, PyDict>>> {
        self.view(py, |e| e.concepts())
            .iter()
            .map(|c| concept_dict(py, c))
            .collect()
    }

    /// The centroid (unit length) of a live concept.
    fn centroid<'py>(&self, py: Python<'py>, id: u64) -> PyResult<Arr1<'py, f32>> {
        let v = self
            .view(py, |e| e.centroid(ConceptId(id)))
            .map_err(to_py)?;
        Ok(vec1(py, v))
    }

    /// The episodes bound to a concept: `(ids uint64[m], strengths float32[m])`, strongest
    /// first (ties by id).
    fn members<'py>(&self, py: Python<'py>, id: u64) -> PyResult<(Arr1<'py, u64>, Arr1<'py, f32>)> {
        let v = self.view(py, |e| e.members(ConceptId(id))).map_err(to_py)?;
        let (ids, s): (Vec<u64>, Vec<f32>) = v.into_iter().map(|(e, s)| (e.0, s)).unzip();
        Ok((vec1(py, ids), vec1(py, s)))
    }

    /// The top-`k` concepts by centroid similarity: `(ids uint64[m], scores float32[m])`.
    fn search_concepts<'py>(
        &self,
        py: Python<'py>,
        q: &Bound<'py, PyAny>,
        k: i64,
    ) -> PyResult<(Arr1<'py, u64>, Arr1<'py, f32>)> {
        let k = check_k(k, "k")?;
        let m = matrix(q, "q", true)?;
        if !m.one_d {
            return Err(input("q: expected a 1-D array"));
        }
        self.check_dim(&m, "q")?;
        let qs = m.as_slice();
        let hits = self
            .timed(py, || self.inner.with(|e| e.search_concepts(qs, k)))
            .map_err(to_py)?;
        let (ids, s): (Vec<u64>, Vec<f32>) = hits.iter().map(|h| (h.id.0, h.score)).unzip();
        Ok((vec1(py, ids), vec1(py, s)))
    }

    /// Consolidation cycles applied so far (0 before the first).
    #[getter]
    fn cycle(&self, py: Python<'_>) -> u64 {
        self.view(py, |e| e.cycle())
    }

    /// The clock value of the last consolidation cycle, or None.
    #[getter]
    fn last_consolidation(&self, py: Python<'_>) -> Option<u64> {
        self.view(py, |e| e.last_consolidation())
    }

    /// Runs one consolidation cycle at clock `now` (the caller's time units, the same clock as
    /// `timestamps`) and returns what changed as a dict (see the README).
    ///
    /// The clustering runs under a read lock (searches from other threads go on), the update
    /// under the write lock. On a durable store the cycle is made durable before returning:
    /// the engine is checkpointed (a new snapshot) right after the update.
    fn consolidate<'py>(&self, py: Python<'py>, now: u64) -> PyResult<Bound<'py, PyDict>> {
        let report = self
            .timed(py, || self.inner.consolidate(now))
            .map_err(to_py)?;
        report_dict(py, &report)
    }

    /// Recalls memories for `cue` (see the README for the hit dicts).
    ///
    /// - `mode`: `"episodic"` (exact top-k), `"semantic"` (probe the `probes` nearest concepts,
    ///   score only their members: approximate), `"blended"` (both, fused with `weights`).
    /// - `now`: the caller's time of the recall. When given, the recall is a **rehearsal**:
    ///   every recalled episode is strengthened and its `last_access` becomes `now` (on a
    ///   durable store that change is made durable by a checkpoint). `None` (default): a pure
    ///   lookup, nothing changes (retention is computed at time 0).
    /// - `completion`: `None`/`False` (off), `True` (the configured threshold, 0.9) or a cosine
    ///   threshold: when the best episode found matches the cue worse than it, the best
    ///   concept's reconstruction is returned as a `"concept"` hit.
    #[pyo3(signature = (cue, k, mode = "blended", probes = 8, now = None, completion = None, weights = (0.5, 0.5), support_weight = 0.1))]
    #[allow(clippy::too_many_arguments)]
    fn recall<'py>(
        &self,
        py: Python<'py>,
        cue: &Bound<'py, PyAny>,
        k: i64,
        mode: &str,
        probes: i64,
        now: Option<u64>,
        completion: Option<&Bound<'py, PyAny>>,
        weights: (f32, f32),
        support_weight: f32,
    ) -> PyResult<Bound<'py, PyList>> {
        let k = check_k(k, "k")?;
        let params = recall_params(k, mode, probes, now, completion, weights, support_weight)?;
        let m = self.cue(cue, "cue")?;
        let q = m.as_slice();
        let hits = self
            .timed(py, || match now {
                None => self.inner.recall_view(q, &params),
                Some(_) => self.inner.recall(q, &params),
            })
            .map_err(to_py)?;
        hits_list(py, &hits)
    }

    /// `recall` without side effects, also when `now` is given (retention is computed at
    /// `now`, nothing is strengthened).
    #[pyo3(signature = (cue, k, mode = "blended", probes = 8, now = None, completion = None, weights = (0.5, 0.5), support_weight = 0.1))]
    #[allow(clippy::too_many_arguments)]
    fn recall_view<'py>(
        &self,
        py: Python<'py>,
        cue: &Bound<'py, PyAny>,
        k: i64,
        mode: &str,
        probes: i64,
        now: Option<u64>,
        completion: Option<&Bound<'py, PyAny>>,
        weights: (f32, f32),
        support_weight: f32,
    ) -> PyResult<Bound<'py, PyList>> {
        let k = check_k(k, "k")?;
        let params = recall_params(k, mode, probes, now, completion, weights, support_weight)?;
        let m = self.cue(cue, "cue")?;
        let q = m.as_slice();
        let hits = self
            .timed(py, || self.inner.recall_view(q, &params))
            .map_err(to_py)?;
        hits_list(py, &hits)
    }

    /// Recognition: is `cue` old or new? A dict: `old` (bool), `confidence` (that it is old),
    /// `familiarity` = w·`episodic` + (1 − w)·`semantic` (best cosine to an episode / to a
    /// concept centroid; w = 0.5), judged old at ≥ 0.6.
    fn familiarity<'py>(
        &self,
        py: Python<'py>,
        cue: &Bound<'py, PyAny>,
    ) -> PyResult<Bound<'py, PyDict>> {
        let m = self.cue(cue, "cue")?;
        let q = m.as_slice();
        let f = self
            .timed(py, || self.inner.with(|e| e.familiarity(q)))
            .map_err(to_py)?;
        familiarity_dict(py, &f)
    }

    /// Replaces the recall constants (the keys of the constructor's `recall`; the others
    /// return to their defaults). Raises `ConfigError` naming a value out of range, and then
    /// nothing changes.
    fn set_recall(&self, py: Python<'_>, recall: &Bound<'_, PyDict>) -> PyResult<()> {
        let rc = parse_recall(Some(recall))?;
        py.detach(|| self.inner.set_recall_config(rc))
            .map_err(to_py)
    }

    /// Spreading activation over the dual graph (episodes, concepts, bindings, temporal and
    /// concept links) from the given source `episodes` and `concepts` (ids), each starting
    /// with `activation` (a number, or one per source: episodes first). Activation is divided
    /// among a node's links, decays per hop and stops below the threshold or at the hop limit
    /// (`recall` constants `spread_decay`, `spread_threshold`, `max_hops`). Returns
    /// `{"episodes": (ids uint64, activation float32), "concepts": (ids, activation)}`, most
    /// active first, sources included. Unknown ids spread nothing.
    #[pyo3(signature = (episodes = None, concepts = None, activation = None))]
    fn spread<'py>(
        &self,
        py: Python<'py>,
        episodes: Option<&Bound<'py, PyAny>>,
        concepts: Option<&Bound<'py, PyAny>>,
        activation: Option<&Bound<'py, PyAny>>,
    ) -> PyResult<Bound<'py, PyDict>> {
        let ids = |o: Option<&Bound<'py, PyAny>>, name: &str| -> PyResult<Vec<u64>> {
            o.map(|o| unsigned_vec::<u64>(o, name))
                .transpose()
                .map(Option::unwrap_or_default)
        };
        let mut nodes: Vec<MemoryNode> = ids(episodes, "episodes")?
            .into_iter()
            .map(|e| MemoryNode::Episode(EpisodeId(e)))
            .collect();
        nodes.extend(
            ids(concepts, "concepts")?
                .into_iter()
                .map(|c| MemoryNode::Concept(ConceptId(c))),
        );
        let acts: Vec<f32> = match activation {
            None => vec![1.0; nodes.len()],
            Some(a) if a.extract::<f64>().is_ok() => vec![a.extract::<f64>()? as f32; nodes.len()],
            Some(a) => {
                let (v, _) = f64_vec(a, "activation")?;
                if v.len() != nodes.len() {
                    return Err(input(format!(
                        "activation: {} values for {} sources",
                        v.len(),
                        nodes.len()
                    )));
                }
                v.into_iter().map(|x| x as f32).collect()
            }
        };
        let sources: Vec<(MemoryNode, f32)> = nodes.into_iter().zip(acts).collect();
        let a = self
            .timed(py, || self.inner.with(|e| e.spread(&sources)))
            .map_err(to_py)?;
        activation_dict(py, &a)
    }

    /// The activation a cue spreads: the concepts most similar to `cue` (at least
    /// `source_min_similarity`, at most `max_sources`) share `source_activation` by
    /// similarity and spread it. Returned as by `spread`.
    fn activate<'py>(
        &self,
        py: Python<'py>,
        cue: &Bound<'py, PyAny>,
    ) -> PyResult<Bound<'py, PyDict>> {
        let m = self.cue(cue, "cue")?;
        let q = m.as_slice();
        let a = self
            .timed(py, || self.inner.with(|e| e.activate(q)))
            .map_err(to_py)?;
        activation_dict(py, &a)
    }

    /// Retrieval through spreading activation (ACT-R): the most active episode for `cue`,
    /// with its activation `A` and the latency `I + F·e^(−A)` in milliseconds (`recall`
    /// constants `latency_intercept_ms`, `latency_factor_ms`). `None` when activation reaches
    /// no episode.
    fn retrieve<'py>(
        &self,
        py: Python<'py>,
        cue: &Bound<'py, PyAny>,
    ) -> PyResult<Option<Bound<'py, PyDict>>> {
        let m = self.cue(cue, "cue")?;
        let q = m.as_slice();
        let r = self
            .timed(py, || self.inner.with(|e| e.retrieve(q)))
            .map_err(to_py)?;
        r.map(|r| {
            let d = PyDict::new(py);
            d.set_item("episode", r.episode.0)?;
            d.set_item("activation", r.activation)?;
            d.set_item("latency_ms", r.latency_ms)?;
            Ok(d)
        })
        .transpose()
    }

    /// Approximate top-`k` episodes through the concept index: probes the `probes` lists
    /// nearest `q` (one contiguous list per concept; a giant concept's routing parts each
    /// count as one) and ranks the episodes in them and
    /// the episodes bound to no concept (stored since the last `consolidate`, scanned
    /// exactly) by cosine. `(ids uint64[m], scores float32[m])`, ordered like `search`.
    #[pyo3(signature = (q, k, probes = 8))]
    fn search_semantic<'py>(
        &self,
        py: Python<'py>,
        q: &Bound<'py, PyAny>,
        k: i64,
        probes: i64,
    ) -> PyResult<(Arr1<'py, u64>, Arr1<'py, f32>)> {
        let k = check_k(k, "k")?;
        let probes = check_k(probes, "probes")?;
        self.single_hits(py, q, |e, qs| e.search_semantic(qs, k, probes))
    }

    /// `search_semantic` scoring the lists' int8 codes (8-bit scalar quantisation per
    /// dimension, integer dot products), then re-scoring the best `k * rerank` candidates
    /// exactly from the stored rows. The codes are built by the first call (one byte per
    /// component and binding) and kept in step by `consolidate`.
    #[pyo3(signature = (q, k, probes = 8, rerank = 4))]
    fn search_semantic_int8<'py>(
        &self,
        py: Python<'py>,
        q: &Bound<'py, PyAny>,
        k: i64,
        probes: i64,
        rerank: i64,
    ) -> PyResult<(Arr1<'py, u64>, Arr1<'py, f32>)> {
        let k = check_k(k, "k")?;
        let probes = check_k(probes, "probes")?;
        let rerank = check_k(rerank, "rerank")?;
        self.single_hits(py, q, |e, qs| e.search_semantic_int8(qs, k, probes, rerank))
    }

    /// `search_semantic` for each row of `Q`: `(ids uint64[nq, k], scores float32[nq, k])`,
    /// padded like `search_batch`. Queries are grouped by probed concept, so each concept's
    /// list is read once for the whole batch.
    #[pyo3(signature = (q, k, probes = 8))]
    fn search_semantic_batch<'py>(
        &self,
        py: Python<'py>,
        q: &Bound<'py, PyAny>,
        k: i64,
        probes: i64,
    ) -> PyResult<(Arr2<'py, u64>, Arr2<'py, f32>)> {
        let k = check_k(k, "k")?;
        let probes = check_k(probes, "probes")?;
        self.batch_hits(py, q, k, |e, qs| e.search_semantic_batch(qs, k, probes))
    }

    /// Sizes and memory of the concept lists behind `search_semantic` (built by the first
    /// semantic search if never built): a dict with `built`, `lists`, `entries` (one per
    /// binding), `tail` (episodes bound to no concept), `bytes`, and the list sizes
    /// `size_min`, `size_median`, `size_p99`, `size_max`; `split_lists` (giant concepts split
    /// into routing parts) and `max_probe_share` (the largest share of entries one probe reads).
    fn concept_list_stats<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyDict>> {
        // Builds the lists if never built: without the GIL.
        let s = self.timed(py, || self.inner.concept_list_stats());
        let d = PyDict::new(py);
        d.set_item("built", s.built)?;
        d.set_item("lists", s.lists)?;
        d.set_item("entries", s.entries)?;
        d.set_item("tail", s.tail)?;
        d.set_item("bytes", s.bytes)?;
        d.set_item("size_min", s.size_min)?;
        d.set_item("size_median", s.size_median)?;
        d.set_item("size_p99", s.size_p99)?;
        d.set_item("size_max", s.size_max)?;
        d.set_item("split_lists", s.split_lists)?;
        d.set_item("max_probe_share", s.max_probe_share)?;
        Ok(d)
    }

    /// Adds a concept with this centroid (normalised) and no bound episodes; returns its id.
    /// Logged on a durable store. Concepts normally come from `consolidate`; one added here
    /// is a starting point: the next cycle starts from its centroid, binds the episodes it
    /// explains and updates its statistics.
    #[pyo3(signature = (centroid, coherence = 1.0, members = 0, strength = 1.0, state = "promoted", confirmations = 1))]
    #[allow(clippy::too_many_arguments)]
    fn add_concept(
        &self,
        py: Python<'_>,
        centroid: &Bound<'_, PyAny>,
        coherence: f32,
        members: u64,
        strength: f32,
        state: &str,
        confirmations: u32,
    ) -> PyResult<u64> {
        if !(coherence.is_finite() && (-1.0..=1.0).contains(&coherence)) {
            return Err(input(format!(
                "coherence must be in [-1, 1], got {coherence}"
            )));
        }
        if !(strength.is_finite() && strength > 0.0) {
            return Err(input(format!("strength must be > 0, got {strength}")));
        }
        let nc = NewConcept {
            coherence,
            members,
            strength,
            state: parse_state(state)?,
            confirmations,
        };
        let m = self.cue(centroid, "centroid")?;
        let c = m.as_slice();
        let id = self
            .timed(py, || self.inner.add_concept(c, nc))
            .map_err(to_py)?;
        Ok(id.0)
    }
}
