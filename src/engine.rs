//! [`Engram`]: the engine that owns both tiers, the arenas and the compute backend.

use crate::compute::cpu::{self, SimdLevel};
use crate::compute::gpu::{self, GpuLayout};
use crate::compute::{select, Backend, Device, Hit};
use crate::config::{Config, Precision};
use crate::error::{InputError, Result};
use crate::graph::Graph;
use crate::memory::{Concept, ConceptId, Episode, EpisodeId, EpisodeMeta};
use crate::vectors::{validate_one, validate_rows, VectorArena};

/// A search result: what was found and its cosine similarity to the query.
#[derive(Debug, Clone, Copy, PartialEq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub struct Scored<T> {
    /// What was found.
    pub id: T,
    /// Cosine similarity to the (normalised) query.
    pub score: f32,
}

/// Which stored layout a search reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Layout {
    /// f32 rows when kept, else f16 rows.
    #[default]
    Auto,
    /// The f32 rows (an error when the store keeps only f16).
    F32,
    /// The f16 rows (an error unless the store keeps an f16 copy): half the bytes read.
    F16,
}

/// The dual memory engine.
///
/// Writers take `&mut self` and readers `&self`: share one engine between threads behind a
/// `std::sync::RwLock` (many concurrent searches, writes serialised).
///
/// ```
/// use engram::{Config, Engram, EpisodeMeta};
/// let mut mem = Engram::new(Config::new(3)).unwrap();
/// let a = mem.remember(&[1.0, 0.0, 0.0], EpisodeMeta::at(1)).unwrap();
/// mem.remember(&[0.0, 1.0, 0.0], EpisodeMeta::at(2)).unwrap();
/// let hits = mem.search(&[0.9, 0.1, 0.0], 1).unwrap();
/// assert_eq!(hits[0].id, a);
/// ```
#[derive(Debug)]
pub struct Engram {
    pub(crate) config: Config,
    /// The backend, SIMD level, resident GPU rows and GPU failure state.
    pub(crate) device: Device,
    /// Episode embeddings; row r belongs to the graph's episode at row r.
    pub(crate) episodes: VectorArena,
    /// Concept centroids; a concept node's `row` indexes it.
    pub(crate) centroids: VectorArena,
    pub(crate) graph: Graph,
    /// The id the next episode gets.
    pub(crate) next_episode: u64,
    /// The id the next concept gets.
    pub(crate) next_concept: u64,
    /// Consolidation cycles run so far.
    pub(crate) cycle: u64,
    /// Consolidation bookkeeping between cycles.
    pub(crate) consolidation: crate::consolidation::State,
    /// What each online import wrote ([`crate::ledger`]).
    pub(crate) imports: crate::ledger::Ledgers,
    /// The row buffer of the last consolidation cycle, reused by the next one (its pages
    /// stay mapped: `rows × dim × 4` bytes of the largest cycle so far).
    pub(crate) cycle_rows: parking_lot::Mutex<Vec<f32>>,
    /// The graph in the GPU's CSR form for spreading activation, with the graph version it
    /// was built from (rebuilt when the graph changed).
    pub(crate) spread_graph: crate::recall::SpreadGraphCache,
    /// The concept lists of the semantic pathway (built by its first use, then kept in step).
    pub(crate) lists: parking_lot::RwLock<std::sync::Arc<crate::recall::ConceptLists>>,
}

impl Clone for Engram {
    /// A deep copy of the host data; the copy re-uploads its GPU rows and rebuilds its concept
    /// lists when it first needs them.
    fn clone(&self) -> Self {
        Self {
            config: self.config.clone(),
            device: self.device.clone(),
            episodes: self.episodes.clone(),
            centroids: self.centroids.clone(),
            graph: self.graph.clone(),
            next_episode: self.next_episode,
            next_concept: self.next_concept,
            cycle: self.cycle,
            consolidation: self.consolidation.clone(),
            imports: self.imports.clone(),
            cycle_rows: Default::default(),
            spread_graph: Default::default(),
            lists: Default::default(),
        }
    }
}

impl Engram {
    /// A new, empty engine. The configuration is checked first.
    pub fn new(config: Config) -> Result<Self> {
        let config = config.check()?;
        let dim = config.dim();
        let selection = select(config.backend_choice())?;
        Ok(Self {
            device: Device::new(selection, config.falls_back_to_cpu()),
            episodes: VectorArena::new(dim, config.storage(), config.chunk_limit()),
            centroids: VectorArena::new(dim, Precision::F32, config.chunk_limit()),
            graph: Graph::new(),
            next_episode: 0,
            next_concept: 0,
            cycle: 0,
            consolidation: Default::default(),
            imports: Default::default(),
            cycle_rows: Default::default(),
            spread_graph: Default::default(),
            lists: Default::default(),
            config,
        })
    }

    /// The configuration in force.
    pub fn config(&self) -> &Config {
        &self.config
    }

    /// The embedding dimension.
    pub fn dim(&self) -> usize {
        self.config.dim()
    }

    /// Live episodes.
    pub fn len(&self) -> usize {
        self.graph.episode_count()
    }

    /// Whether no episode is stored.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The backend searches run on (after any fallback from a failed GPU).
    pub fn backend(&self) -> &Backend {
        self.device.backend()
    }

    /// Makes the next GPU operation fail as if the device were lost (for testing what an
    /// application sees: the error, or the CPU fallback of [`Config::gpu_fallback`]).
    #[doc(hidden)]
    pub fn simulate_gpu_failure(&self) {
        self.device.simulate_failure();
    }

    /// Why the backend was chosen.
    pub fn backend_reason(&self) -> &str {
        &self.device.selection().reason
    }

    /// The SIMD level of the CPU kernels.
    pub fn simd_level(&self) -> SimdLevel {
        self.device.level()
    }

    /// The compute device: backend, SIMD level, resident GPU rows and GPU failure state.
    pub fn device(&self) -> &Device {
        &self.device
    }

    /// The dual-tier graph (read only).
    pub fn graph(&self) -> &Graph {
        &self.graph
    }

    /// The episode arena (read only).
    pub fn episode_vectors(&self) -> &VectorArena {
        &self.episodes
    }

    /// The concept-centroid arena (read only).
    pub fn centroid_vectors(&self) -> &VectorArena {
        &self.centroids
    }

    /// Stores one episode; the embedding is normalised to unit length.
    pub fn remember(&mut self, embedding: &[f32], meta: EpisodeMeta) -> Result<EpisodeId> {
        let inv = validate_one(embedding, self.dim())?;
        check_meta(&meta, 0)?;
        self.check_episode_ids(1)?;
        self.episodes.push_scaled(embedding, &[inv]);
        Ok(self.push_node(meta))
    }

    /// Stores a batch of episodes from one flat row-major slice (`rows.len() / dim` rows).
    /// `metas` has one entry per row, or is empty for defaults (timestamp 0, stream 0).
    ///
    /// All or nothing: one validation pass runs before anything is stored, and a bad row makes
    /// the whole batch fail with an error naming the row.
    pub fn remember_batch(
        &mut self,
        rows: &[f32],
        metas: Vec<EpisodeMeta>,
    ) -> Result<Vec<EpisodeId>> {
        let dim = self.dim();
        if !rows.len().is_multiple_of(dim) {
            return Err(InputError::RaggedBatch {
                len: rows.len(),
                dim,
            }
            .into());
        }
        let n = rows.len() / dim;
        if !metas.is_empty() && metas.len() != n {
            return Err(InputError::MetaCount {
                rows: n,
                metas: metas.len(),
            }
            .into());
        }
        for (i, m) in metas.iter().enumerate() {
            check_meta(m, i)?;
        }
        self.check_episode_ids(n as u64)?;
        self.episodes.push_validated(rows)?;
        let mut ids = Vec::with_capacity(n);
        if metas.is_empty() {
            for _ in 0..n {
                ids.push(self.push_node(EpisodeMeta::default()));
            }
        } else {
            for m in metas {
                ids.push(self.push_node(m));
            }
        }
        Ok(ids)
    }

    /// Checks that `n` more episode ids can be handed out (the next id stays representable),
    /// else [`crate::Error::CounterOverflow`]. Called before anything changes.
    pub(crate) fn check_episode_ids(&self, n: u64) -> Result<()> {
        crate::Error::check_counter("episode id", self.next_episode, n)?;
        Ok(())
    }

    /// Checks that `n` more concept ids can be handed out, else
    /// [`crate::Error::CounterOverflow`]. Called before anything changes.
    pub(crate) fn check_concept_ids(&self, n: u64) -> Result<()> {
        crate::Error::check_counter("concept id", self.next_concept, n)?;
        Ok(())
    }

    /// Adds an episode node under the next id; the caller checked the id is available
    /// ([`Engram::check_episode_ids`]), so the counter saturates rather than wraps.
    fn push_node(&mut self, meta: EpisodeMeta) -> EpisodeId {
        let id = EpisodeId(self.next_episode);
        self.next_episode = self.next_episode.saturating_add(1);
        self.graph.push_episode(id, meta, 1.0);
        id
    }

    /// The record of a live episode.
    pub fn get(&self, id: EpisodeId) -> Result<Episode> {
        Ok(self
            .graph
            .episode(id)
            .ok_or(InputError::UnknownEpisode(id.0))?)
    }

    /// The stored (unit-length) embedding of a live episode.
    pub fn embedding(&self, id: EpisodeId) -> Result<Vec<f32>> {
        let row = self
            .graph
            .episode_row(id)
            .ok_or(InputError::UnknownEpisode(id.0))?;
        Ok(self
            .episodes
            .row(row)
            .ok_or(InputError::UnknownEpisode(id.0))?)
    }

    /// Removes an episode with its bindings and temporal links. Its id is never reused; its
    /// row is reclaimed by [`Engram::compact`].
    pub fn forget(&mut self, id: EpisodeId) -> Result<()> {
        let row = self
            .graph
            .remove_episode(id)
            .ok_or(InputError::UnknownEpisode(id.0))?;
        self.episodes.kill(row);
        Ok(())
    }

    /// Reclaims the rows of forgotten episodes and concepts, and frees the row buffer kept
    /// from the last consolidation cycle. Returns how many rows were freed.
    pub fn compact(&mut self) -> usize {
        *self.cycle_rows.get_mut() = Vec::new();
        let before = self.episodes.len() + self.centroids.len();
        if !self.episodes.dead().is_empty() {
            let remap = self.graph.compact();
            let remap2 = self.episodes.compact();
            debug_assert_eq!(remap, remap2);
            // Rows moved: the GPU copy is rebuilt on next use.
            self.device.drop_resident();
        }
        if !self.centroids.dead().is_empty() {
            let remap = self.centroids.compact();
            self.graph.remap_concept_rows(&remap);
        }
        before - self.episodes.len() - self.centroids.len()
    }

    /// Exact top-`k` episodes by cosine similarity to `query` (normalised first), ordered by
    /// score descending, then id ascending. Fewer than `k` hits when fewer episodes are
    /// stored; none when the store is empty.
    pub fn search(&self, query: &[f32], k: usize) -> Result<Vec<Scored<EpisodeId>>> {
        let mut r = self.search_batch_in(query, k, Layout::Auto)?;
        Ok(r.pop().unwrap_or_default())
    }

    /// [`Engram::search`] for every query of a flat row-major batch.
    pub fn search_batch(&self, queries: &[f32], k: usize) -> Result<Vec<Vec<Scored<EpisodeId>>>> {
        self.search_batch_in(queries, k, Layout::Auto)
    }

    /// [`Engram::search_batch`] reading a chosen stored layout.
    pub fn search_batch_in(
        &self,
        queries: &[f32],
        k: usize,
        layout: Layout,
    ) -> Result<Vec<Vec<Scored<EpisodeId>>>> {
        let q = self.prepare_queries(queries, k)?;
        let prefer_f16 = match layout {
            Layout::Auto => false,
            Layout::F32 if !self.config.storage().has_f32() => {
                return Err(InputError::Empty("this store keeps no f32 rows").into())
            }
            Layout::F16 if !self.config.storage().has_f16() => {
                return Err(InputError::Empty("this store keeps no f16 copy").into())
            }
            Layout::F32 => false,
            Layout::F16 => true,
        };
        let k = k.min(self.len());
        if k == 0 {
            return Ok(vec![Vec::new(); q.len() / self.dim()]);
        }
        let use_f16 =
            self.config.storage().has_f16() && (prefer_f16 || !self.config.storage().has_f32());
        if let Some(hits) = self.gpu_search(&q, k, use_f16)? {
            return Ok(hits.into_iter().map(|h| self.rows_to_ids(h)).collect());
        }
        let chunks = self.episodes.row_chunks(prefer_f16);
        let dead = self.episodes.dead();
        let hits = cpu::search(
            self.device.level(),
            &chunks,
            self.dim(),
            &q,
            k,
            (!dead.is_empty()).then_some(dead),
        );
        Ok(hits.into_iter().map(|h| self.rows_to_ids(h)).collect())
    }

    /// Runs a search on the GPU when that is the backend, through the device's one door
    /// ([`Device::run_gpu`]). `Ok(None)` means "use the CPU": the backend is the CPU, or the GPU
    /// failed and the device fell back (logged once; the engine then stays on the CPU with the
    /// same results).
    fn gpu_search(&self, q: &[f32], k: usize, f16: bool) -> Result<Option<Vec<Vec<Hit>>>> {
        let layout = if f16 { GpuLayout::F16 } else { GpuLayout::F32 };
        let rows = self.episodes.row_set();
        Ok(self.device.run_gpu("search", |g| {
            g.with_rows(&rows, layout, |ctx, m| gpu::search(ctx, m, q, k))
        })?)
    }

    /// Validates queries and returns them normalised.
    pub(crate) fn prepare_queries(&self, queries: &[f32], k: usize) -> Result<Vec<f32>> {
        if k == 0 {
            return Err(InputError::ZeroK.into());
        }
        let dim = self.dim();
        if queries.len() == dim {
            let inv = validate_one(queries, dim)?;
            return Ok(queries.iter().map(|x| x * inv).collect());
        }
        if queries.is_empty() || !queries.len().is_multiple_of(dim) {
            return Err(InputError::DimensionMismatch {
                expected: dim,
                got: queries.len() % dim.max(1),
                row: queries.len() / dim.max(1),
            }
            .into());
        }
        let inv = validate_rows(queries, dim)?;
        let mut q = Vec::with_capacity(queries.len());
        for (r, s) in queries.chunks_exact(dim).zip(inv) {
            q.extend(r.iter().map(|x| x * s));
        }
        Ok(q)
    }

    fn rows_to_ids(&self, hits: Vec<Hit>) -> Vec<Scored<EpisodeId>> {
        hits.into_iter()
            .filter_map(|h| {
                self.graph
                    .episode_at(h.id as usize)
                    .map(|id| Scored { id, score: h.score })
            })
            .collect()
    }

    /// The record of a live concept.
    pub fn concept(&self, id: ConceptId) -> Result<Concept> {
        Ok(self
            .graph
            .concept_node(id)
            .map(|n| n.concept.clone())
            .ok_or(InputError::UnknownConcept(id.0))?)
    }

    /// The centroid (unit length) of a live concept.
    pub fn centroid(&self, id: ConceptId) -> Result<Vec<f32>> {
        let row = self
            .graph
            .concept_node(id)
            .ok_or(InputError::UnknownConcept(id.0))?
            .row;
        Ok(self
            .centroids
            .row(row)
            .ok_or(InputError::UnknownConcept(id.0))?)
    }

    /// Every live concept, by ascending id.
    pub fn concepts(&self) -> Vec<Concept> {
        self.graph
            .concept_ids()
            .into_iter()
            .filter_map(|c| self.graph.concept_node(c).map(|n| n.concept.clone()))
            .collect()
    }

    /// The episodes bound to a concept with their binding strengths, strongest first (ties by
    /// id).
    pub fn members(&self, id: ConceptId) -> Result<Vec<(EpisodeId, f32)>> {
        let n = self
            .graph
            .concept_node(id)
            .ok_or(InputError::UnknownConcept(id.0))?;
        let mut v: Vec<_> = n.members().collect();
        v.sort_by(|a, b| b.1.total_cmp(&a.1).then(a.0.cmp(&b.0)));
        Ok(v)
    }

    /// Exact top-`k` concepts by cosine similarity of their centroids to `query` (normalised
    /// first), ordered by score descending, then id ascending.
    pub fn search_concepts(&self, query: &[f32], k: usize) -> Result<Vec<Scored<ConceptId>>> {
        let q = self.prepare_queries(query, k)?;
        if q.len() != self.dim() {
            return Err(InputError::DimensionMismatch {
                expected: self.dim(),
                got: query.len(),
                row: 0,
            }
            .into());
        }
        let live = self.centroids.live();
        if live == 0 {
            return Ok(Vec::new());
        }
        let chunks = self.centroids.row_chunks(false);
        let dead = self.centroids.dead();
        let hits = cpu::search(
            self.device.level(),
            &chunks,
            self.dim(),
            &q,
            k.min(live),
            (!dead.is_empty()).then_some(dead),
        );
        let mut row_to_id = vec![None; self.centroids.len()];
        for n in self.graph.concepts() {
            if let Some(slot) = row_to_id.get_mut(n.row) {
                *slot = Some(n.concept.id);
            }
        }
        Ok(hits
            .into_iter()
            .next()
            .unwrap_or_default()
            .into_iter()
            .filter_map(|h| {
                row_to_id
                    .get(h.id as usize)
                    .copied()
                    .flatten()
                    .map(|id| Scored { id, score: h.score })
            })
            .collect())
    }

    /// Adds a concept with this centroid (normalised here) and record fields; the id in
    /// `concept` is replaced by a fresh one, which is returned.
    pub(crate) fn insert_concept(
        &mut self,
        centroid: &[f32],
        mut concept: Concept,
    ) -> Result<ConceptId> {
        let inv = validate_one(centroid, self.dim())?;
        let id = self.take_concept_id()?;
        concept.id = id;
        let row = self.centroids.push_scaled(centroid, &[inv]);
        self.graph.add_concept(concept, row);
        Ok(id)
    }

    /// Replaces a concept's centroid (normalised here).
    pub(crate) fn set_centroid(&mut self, id: ConceptId, centroid: &[f32]) -> Result<()> {
        let inv = validate_one(centroid, self.dim())?;
        let row = self
            .graph
            .concept_node(id)
            .ok_or(InputError::UnknownConcept(id.0))?
            .row;
        self.centroids.set_scaled(row, centroid, inv);
        Ok(())
    }

    /// Removes a concept with its bindings and links; its centroid row is reclaimed by
    /// [`Engram::compact`].
    pub(crate) fn delete_concept(&mut self, id: ConceptId) -> Result<()> {
        let node = self
            .graph
            .remove_concept(id)
            .ok_or(InputError::UnknownConcept(id.0))?;
        self.centroids.kill(node.row);
        Ok(())
    }

    /// Bytes held by embeddings and centroids.
    pub fn vector_bytes(&self) -> usize {
        self.episodes.memory_bytes() + self.centroids.memory_bytes()
    }

    /// Hands out the next concept id (ids are never reused), or
    /// [`crate::Error::CounterOverflow`] with nothing changed when none is left.
    pub(crate) fn take_concept_id(&mut self) -> Result<ConceptId> {
        self.check_concept_ids(1)?;
        let id = ConceptId(self.next_concept);
        self.next_concept = self.next_concept.saturating_add(1);
        Ok(id)
    }
}

/// Checks an episode's metadata (its confidence in [0, 1]); the error names `row`, the
/// episode's row in its batch (0 for a single episode).
fn check_meta(m: &EpisodeMeta, row: usize) -> Result<(), InputError> {
    if !(0.0..=1.0).contains(&m.confidence) {
        return Err(InputError::OutOfRange {
            name: "confidence",
            range: "[0, 1]",
            value: m.confidence as f64,
            row: Some(row),
        });
    }
    Ok(())
}
