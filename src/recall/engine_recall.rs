//! Recall on [`Engram`]: episodic, semantic, blended, pattern completion, strengthening.

use std::sync::Arc;

use rustc_hash::FxHashMap;

use super::lists::{
    scan_blocks, scan_codes, Arena, Block, ConceptLists, Gathered, IndexList, ListStats, Unit,
    MAX_TAIL_BLOCKS,
};
use super::params::{Pathways, RecallHit, RecallMode, RecallParams};
use crate::compute::rows::{RowChunk, Rows};
use crate::compute::TopK;
use crate::engine::{Engram, Scored};
use crate::error::{InputError, Result};
use crate::memory::{ConceptId, EpisodeId, MemoryNode};
use crate::vectors::validate_one;

/// One candidate of the semantic pathway: an episode, its cosine and its semantic score.
#[derive(Debug, Clone, Copy)]
pub(crate) struct SemanticHit {
    pub id: EpisodeId,
    pub cosine: f32,
    pub score: f32,
}

/// The largest dimension of int8 lists: an i32 sum of 255 · 127 products stays exact up to
/// 66,311 components.
const MAX_INT8_DIM: usize = 65_536;

/// `probes` must be at least 1.
fn check_probes(probes: usize) -> Result<()> {
    if probes == 0 {
        return Err(InputError::OutOfRange {
            name: "probes",
            range: "[1, ∞)",
            value: 0.0,
            row: None,
        }
        .into());
    }
    Ok(())
}

impl Engram {
    /// Normalises and validates one cue.
    pub(crate) fn prepare_cue(&self, cue: &[f32]) -> Result<Vec<f32>> {
        let inv = validate_one(cue, self.dim())?;
        Ok(cue.iter().map(|x| x * inv).collect())
    }

    /// Recalls memories for `cue` and **strengthens what it recalls**: every recalled episode
    /// counts one rehearsal at `params.now` (its `rehearsals` grows by one, `last_access`
    /// becomes `now`, and its strength grows by `base + gain·(1 − R)`, `R` its retention just
    /// before — see [`crate::recall::RecallConfig`]). Reconstructed concepts are not changed.
    /// Use [`Engram::recall_view`] to recall without changing anything.
    ///
    /// # Errors
    /// [`InputError`] for a bad cue (dimension, NaN, zero) or bad parameters.
    pub fn recall(&mut self, cue: &[f32], params: &RecallParams) -> Result<Vec<RecallHit>> {
        let hits = self.recall_view(cue, params)?;
        for h in &hits {
            if let MemoryNode::Episode(e) = h.node {
                self.rehearse(e, params.now)?;
            }
        }
        Ok(hits)
    }

    /// [`Engram::recall`] without side effects: nothing is strengthened.
    ///
    /// Hits are ordered by score descending, then node. An empty store gives no hits.
    pub fn recall_view(&self, cue: &[f32], params: &RecallParams) -> Result<Vec<RecallHit>> {
        params.check()?;
        let q = self.prepare_cue(cue)?;
        if self.is_empty() {
            return Ok(Vec::new());
        }
        let k = params.k;
        let (we, ws) = params.weights;
        let mut hits: FxHashMap<EpisodeId, RecallHit> = FxHashMap::default();
        let blank = |id: EpisodeId, cos: f32| RecallHit {
            node: MemoryNode::Episode(id),
            score: 0.0,
            confidence: 0.0,
            similarity: cos,
            episodic: None,
            semantic: None,
            via: Pathways::default(),
            retention: 1.0,
            reconstruction: None,
        };
        if matches!(params.mode, RecallMode::Episodic | RecallMode::Blended) {
            for s in self.search(&q, k)? {
                let h = hits.entry(s.id).or_insert_with(|| blank(s.id, s.score));
                h.episodic = Some(s.score);
                h.via.episodic = true;
            }
        }
        let mut probed: Vec<Scored<ConceptId>> = Vec::new();
        if matches!(params.mode, RecallMode::Semantic | RecallMode::Blended) {
            let (sem, p) = self.semantic_candidates(&q, k, params.probes, params.support_weight)?;
            probed = p;
            for s in sem {
                let h = hits.entry(s.id).or_insert_with(|| blank(s.id, s.cosine));
                h.semantic = Some(s.score);
                h.via.semantic = true;
            }
        }
        let (fe, fs) = match params.mode {
            RecallMode::Episodic => (1.0, 0.0),
            RecallMode::Semantic => (0.0, 1.0),
            RecallMode::Blended => (we / (we + ws), ws / (we + ws)),
        };
        let cfg = &self.config.recall_config();
        let mut out: Vec<RecallHit> = hits
            .into_values()
            .map(|mut h| {
                h.score = fe * h.episodic.unwrap_or(0.0) + fs * h.semantic.unwrap_or(0.0);
                if let MemoryNode::Episode(e) = h.node {
                    if let Some(n) = self.graph.episode_node(e) {
                        h.retention =
                            cfg.retention(params.now.saturating_sub(n.last_access), n.strength);
                    }
                }
                h.confidence = h.score.clamp(0.0, 1.0) * h.retention;
                h
            })
            .collect();
        if let Some(t) = params.completion {
            let threshold = if t.is_nan() {
                cfg.completion_threshold
            } else {
                t
            };
            let best = out
                .iter()
                .map(|h| h.similarity)
                .fold(f32::NEG_INFINITY, f32::max);
            if best < threshold {
                if probed.is_empty() {
                    probed = self.search_concepts(&q, params.probes)?;
                }
                if let Some(c) = probed.first() {
                    let echo = self.echo(&q, &probed[..1])?;
                    let sim = self.device.level().dot(&q, &echo);
                    if sim > best {
                        out.push(RecallHit {
                            node: MemoryNode::Concept(c.id),
                            score: sim,
                            confidence: sim.clamp(0.0, 1.0),
                            similarity: sim,
                            episodic: None,
                            semantic: None,
                            via: Pathways {
                                completion: true,
                                ..Pathways::default()
                            },
                            retention: 1.0,
                            reconstruction: Some(echo),
                        });
                    }
                }
            }
        }
        out.sort_by(|a, b| b.score.total_cmp(&a.score).then(a.node.cmp(&b.node)));
        out.truncate(k);
        Ok(out)
    }

    /// Pattern completion: the echo of the cue over the members of the given concepts (recall
    /// passes the best one)
    /// (MINERVA 2, Hintzman 1984): `normalise(Σ b·max(0, cos(cue, e))^p · e)`, `b` the binding
    /// strength and `p` [`completion_exponent`](super::RecallConfig::completion_exponent).
    /// With a pure concept and `p = 0` it is the concept's centroid; with `p > 0` the members
    /// that match the cue dominate, so an impure concept still completes the cued pattern.
    /// Falls back to the best concept's centroid when the echo is empty.
    pub(crate) fn echo(&self, q: &[f32], probed: &[Scored<ConceptId>]) -> Result<Vec<f32>> {
        let dim = self.dim();
        let p = self.config.recall_config().completion_exponent;
        let mut acc = vec![0.0f64; dim];
        let mut buf = vec![0.0f32; dim];
        let mut any = false;
        let mut seen = rustc_hash::FxHashSet::default();
        for c in probed {
            let Some(node) = self.graph.concept_node(c.id) else {
                continue;
            };
            for (e, b) in node.members() {
                if !seen.insert(e) {
                    continue;
                }
                let Some(row) = self.graph.episode_row(e) else {
                    continue;
                };
                if !self.episodes.read_row(row, &mut buf) {
                    continue;
                }
                let a = self.device.level().dot(q, &buf).max(0.0).powf(p) * b;
                if a > 0.0 {
                    any = true;
                    acc.iter_mut()
                        .zip(&buf)
                        .for_each(|(x, v)| *x += (a * v) as f64);
                }
            }
        }
        let norm = acc.iter().map(|x| x * x).sum::<f64>().sqrt();
        if !any || norm == 0.0 {
            return match probed.first() {
                Some(c) => self.centroid(c.id),
                None => Err(InputError::Empty("no concept to complete from").into()),
            };
        }
        Ok(acc.iter().map(|x| (x / norm) as f32).collect())
    }

    /// The concept lists, brought up to date with the graph first if it changed since they
    /// were last synced (built on first use).
    ///
    /// No lock is held while lists are built: the lock guards only the swap of a shared
    /// snapshot. A stale snapshot is cloned (cheaply: the lists' rows are shared), brought up
    /// to date — in parallel, where a rayon worker may steal another search that comes here
    /// too — and swapped in. Readers racing on the same stale state each build the same
    /// result; the graph cannot change meanwhile (it needs `&mut`).
    pub(crate) fn lists(&self) -> Arc<ConceptLists> {
        let key = self.graph.change_key();
        let current = self.lists.read().clone();
        if current.is_current(key) {
            return current;
        }
        let mut next = (*current).clone();
        next.sync(&self.graph, &self.episodes, self.centroids.len(), key);
        self.publish_lists(next)
    }

    /// Swaps in an updated snapshot of the lists (unless one at least as current is already
    /// there, e.g. from a racing reader) and returns the one in place.
    fn publish_lists(&self, next: ConceptLists) -> Arc<ConceptLists> {
        let next = Arc::new(next);
        let mut slot = self.lists.write();
        if !slot.is_current(self.graph.change_key()) || (next.has_codes() && !slot.has_codes()) {
            *slot = next.clone();
            return next;
        }
        slot.clone()
    }

    /// Brings the concept lists up to date if a semantic search ever built them (called at
    /// the end of [`Engram::consolidate`]).
    pub(crate) fn sync_lists_if_used(&mut self) {
        let key = self.graph.change_key();
        let lists = self.lists.get_mut();
        if lists.in_use() && !lists.is_current(key) {
            Arc::make_mut(lists).sync(&self.graph, &self.episodes, self.centroids.len(), key);
        }
    }

    /// Sizes and memory of the concept lists of the semantic pathway (see
    /// [`Engram::search_semantic`]): how many, how large (the distribution), the unassigned
    /// tail, and the bytes they hold. Builds them if they were never built.
    pub fn concept_list_stats(&self) -> ListStats {
        self.lists().stats()
    }

    /// Every list of the concept index behind [`Engram::search_semantic`], by concept id
    /// then part: each concept's members as one list routed by its centroid, or — for a
    /// concept whose list holds more than four times the mean list size (and at least 512
    /// rows) — its routing parts, each with its own centroid. The episodes bound to no concept
    /// (the unassigned tail, [`ListStats::tail`]) are not in any list. Builds the lists if
    /// they were never built.
    pub fn concept_index(&self) -> Vec<IndexList> {
        self.lists().index_lists(|c| self.centroid(c).ok())
    }

    /// The `probes` concepts nearest each normalised query (row-major), with their support
    /// scale `coherence · cos(query, centroid)`.
    fn probe(
        &self,
        lists: &ConceptLists,
        queries: &[f32],
        probes: usize,
    ) -> Vec<Vec<Scored<ConceptId>>> {
        let nq = queries.len() / self.dim().max(1);
        let live = self.centroids.live();
        if live == 0 || probes == 0 {
            return vec![Vec::new(); nq];
        }
        let dead = self.centroids.dead();
        crate::compute::cpu::search(
            self.device.level(),
            &self.centroids.row_chunks(false),
            self.dim(),
            queries,
            probes.min(live),
            (!dead.is_empty()).then_some(dead),
        )
        .into_iter()
        .map(|hits| {
            hits.into_iter()
                .filter_map(|h| {
                    lists
                        .concept_at(h.id as usize)
                        .map(|id| Scored { id, score: h.score })
                })
                .collect()
        })
        .collect()
    }

    /// The `probes` lists nearest each normalised query (row-major) for the concept index:
    /// whole concepts, except that a concept whose list is split for routing is reached
    /// through its parts (each probed on its own, by its own centroid). Nearest first.
    fn probe_units(&self, lists: &ConceptLists, queries: &[f32], probes: usize) -> Vec<Vec<Unit>> {
        let dim = self.dim();
        let concepts = self.probe(lists, queries, probes.saturating_add(lists.split_count()));
        let (routing, units) = lists.routing();
        let parts = if units.is_empty() {
            vec![Vec::new(); concepts.len()]
        } else {
            crate::compute::cpu::search(
                self.device.level(),
                &[RowChunk {
                    first_row: 0,
                    rows: Rows::F32(routing),
                }],
                dim,
                queries,
                probes.min(units.len()),
                None,
            )
        };
        concepts
            .into_iter()
            .zip(parts)
            .map(|(cs, ps)| {
                let mut v: Vec<(Unit, f32)> = cs
                    .into_iter()
                    .filter(|c| !lists.is_split(c.id))
                    .map(|c| {
                        let u = Unit {
                            concept: c.id,
                            part: None,
                        };
                        (u, c.score)
                    })
                    .chain(
                        ps.into_iter()
                            .filter_map(|h| units.get(h.id as usize).map(|&u| (u, h.score))),
                    )
                    .collect();
                v.sort_by(|a, b| b.1.total_cmp(&a.1).then(a.0.cmp(&b.0)));
                v.truncate(probes);
                v.into_iter().map(|(u, _)| u).collect()
            })
            .collect()
    }

    /// The blocks of the `probes` lists of the concept index nearest one normalised query
    /// (support scale 0: the index ranks by cosine alone).
    fn index_blocks<'a>(
        &self,
        lists: &'a ConceptLists,
        q: &[f32],
        probes: usize,
    ) -> Vec<Block<'a>> {
        let units: Vec<(Unit, f32)> = self
            .probe_units(lists, q, probes)
            .into_iter()
            .next()
            .unwrap_or_default()
            .into_iter()
            .map(|u| (u, 0.0))
            .collect();
        lists.unit_blocks(self.dim(), &units)
    }

    /// The semantic pathway: the `probes` concepts nearest the (normalised) cue, then every
    /// episode bound to them scored by `(1 − w)·cos(cue, e) + w·b·coherence·cos(cue, c)`
    /// (`b` the binding strength; the best over the probed concepts an episode is bound to).
    /// Only the probed concepts' lists are read (contiguous blocks, see
    /// [`ConceptLists`]); with `tail`, the episodes bound to no concept too (support 0).
    /// Returns the top `k` and the probed concepts.
    pub(crate) fn semantic_candidates(
        &self,
        q: &[f32],
        k: usize,
        probes: usize,
        support_weight: f32,
    ) -> Result<(Vec<SemanticHit>, Vec<Scored<ConceptId>>)> {
        self.semantic_scan(q, k, probes, support_weight, false)
    }

    fn semantic_scan(
        &self,
        q: &[f32],
        k: usize,
        probes: usize,
        w: f32,
        tail: bool,
    ) -> Result<(Vec<SemanticHit>, Vec<Scored<ConceptId>>)> {
        let lists = self.lists();
        let arena;
        let (probed, blocks) = if tail {
            // The concept index: routing units (split lists by their parts), then the tail.
            arena = Arena::of(&self.episodes);
            let mut blocks = self.index_blocks(&lists, q, probes);
            blocks.extend(lists.tail_blocks(&arena, self.dim()));
            (Vec::new(), blocks)
        } else {
            let probed = self
                .probe(&lists, q, probes)
                .into_iter()
                .next()
                .unwrap_or_default();
            let scaled: Vec<(ConceptId, f32)> = probed
                .iter()
                .filter_map(|c| {
                    let n = self.graph.concept_node(c.id)?;
                    Some((c.id, n.concept.coherence.max(0.0) * c.score))
                })
                .collect();
            let blocks = lists.probed_blocks(&scaled);
            (probed, blocks)
        };
        let level = self.device.level();
        let top = scan_blocks(level, &self.graph, q, self.dim(), &blocks, k, w);
        let mut buf = vec![0.0f32; self.dim()];
        let hits = top
            .into_sorted_vec()
            .into_iter()
            .map(|h| {
                let id = EpisodeId(h.id);
                // The cosine back from the score (exact when w = 0; else recomputed).
                let cosine = if w == 0.0 {
                    h.score
                } else {
                    self.graph
                        .episode_row(id)
                        .filter(|&r| self.episodes.read_row(r, &mut buf))
                        .map_or(h.score, |_| level.dot(q, &buf))
                };
                SemanticHit {
                    id,
                    cosine,
                    score: h.score,
                }
            })
            .collect();
        Ok((hits, probed))
    }

    /// Approximate top-`k` episodes by cosine through the concept index, ordered like
    /// [`Engram::search`]: the `probes` lists whose centroids are nearest the query, then
    /// every episode in them (each concept's members are one contiguous list, scanned by the
    /// exact-search kernels) and every live episode bound to no concept (the *unassigned
    /// tail* — episodes stored since the last consolidation, or left unbound by it — scanned
    /// exactly, so nothing stored is ever out of reach). Recall rises with `probes` and
    /// equals exact search when every list is probed.
    ///
    /// A list is a concept's members, except that a "giant" concept — more than four times
    /// the mean list size and at least 512 members — is split for routing into parts of about
    /// the mean size (spherical k-means on its members, deterministic), each probed on its
    /// own by its own centroid, so that one probe never reads a large share of the store. The
    /// concepts themselves are unchanged; [`Engram::concept_index`] lists every list.
    ///
    /// The lists are built by the first call (then kept in step by consolidation; see
    /// [`Engram::concept_list_stats`] for their size and memory).
    ///
    /// # Errors
    /// [`InputError::ZeroK`], `probes = 0`, a query of the wrong dimension, non-finite or
    /// zero.
    pub fn search_semantic(
        &self,
        query: &[f32],
        k: usize,
        probes: usize,
    ) -> Result<Vec<Scored<EpisodeId>>> {
        if k == 0 {
            return Err(InputError::ZeroK.into());
        }
        check_probes(probes)?;
        let q = self.prepare_cue(query)?;
        let (hits, _) = self.semantic_scan(&q, k, probes, 0.0, true)?;
        Ok(hits
            .into_iter()
            .map(|h| Scored {
                id: h.id,
                score: h.cosine,
            })
            .collect())
    }

    /// [`Engram::search_semantic`] scoring the lists' **int8 codes** (8-bit scalar
    /// quantisation per dimension, as faiss `IVFSQ8`): integer dot products (AVX-512 VNNI
    /// where the CPU has it, else AVX2 or scalar) over 4× fewer bytes per probe; the best
    /// `k · rerank` candidates are then re-scored exactly from the stored rows, and the
    /// unassigned tail is scanned exactly. The result equals [`Engram::search_semantic`]'s
    /// whenever its top `k` are among those candidates.
    ///
    /// The codes are built by the first call (the quantiser is trained on the lists' rows,
    /// at most 65,536 of them) and kept in step by consolidation from then on (values
    /// outside the trained range clamp); they add one byte per component and binding
    /// ([`ListStats::bytes`]).
    ///
    /// # Errors
    /// As [`Engram::search_semantic`]; `rerank = 0` is out of range, and so is a dimension
    /// above 65,536 (the integer sums would overflow).
    pub fn search_semantic_int8(
        &self,
        query: &[f32],
        k: usize,
        probes: usize,
        rerank: usize,
    ) -> Result<Vec<Scored<EpisodeId>>> {
        if k == 0 {
            return Err(InputError::ZeroK.into());
        }
        check_probes(probes)?;
        if rerank == 0 {
            return Err(InputError::OutOfRange {
                name: "rerank",
                range: "[1, ∞)",
                value: 0.0,
                row: None,
            }
            .into());
        }
        let q = self.prepare_cue(query)?;
        let dim = self.dim();
        if dim > MAX_INT8_DIM {
            return Err(InputError::OutOfRange {
                name: "dimension (int8 lists)",
                range: "[1, 65536]",
                value: dim as f64,
                row: None,
            }
            .into());
        }
        let lists = {
            let current = self.lists();
            if current.has_codes() {
                current
            } else {
                let mut next = (*current).clone();
                next.enable_codes(dim);
                self.publish_lists(next)
            }
        };
        let level = self.device.level();
        let blocks = self.index_blocks(&lists, &q, probes);
        let mut top = match lists.sq8() {
            Some(sq8) => scan_codes(
                level,
                &sq8.query(&q),
                dim,
                &blocks,
                k.saturating_mul(rerank),
            ),
            None => TopK::unique(0),
        };
        // Re-rank exactly from the stored rows, then the tail (exact).
        let mut exact = TopK::unique(k);
        let mut buf = vec![0.0f32; dim];
        for h in std::mem::take(&mut top).into_sorted_vec() {
            let id = EpisodeId(h.id);
            if let Some(r) = self.graph.episode_row(id) {
                if self.episodes.read_row(r, &mut buf) {
                    exact.push(level.dot(&q, &buf), h.id);
                }
            }
        }
        let arena = Arena::of(&self.episodes);
        let tail = lists.tail_blocks(&arena, dim);
        exact.merge(scan_blocks(level, &self.graph, &q, dim, &tail, k, 0.0));
        Ok(exact
            .into_sorted_vec()
            .into_iter()
            .map(|h| Scored {
                id: EpisodeId(h.id),
                score: h.score,
            })
            .collect())
    }

    /// [`Engram::search_semantic`] for every query of a flat row-major batch, equal to it
    /// query by query. The queries are grouped by probed concept, so each list is read once
    /// per batch and scored against all the queries that probe it together by the batch
    /// kernels of [`Engram::search_batch`]; the tail is read once for the whole batch.
    ///
    /// # Errors
    /// As [`Engram::search_semantic`]; a batch whose length is not a multiple of the
    /// dimension is a [`InputError::DimensionMismatch`].
    pub fn search_semantic_batch(
        &self,
        queries: &[f32],
        k: usize,
        probes: usize,
    ) -> Result<Vec<Vec<Scored<EpisodeId>>>> {
        if k == 0 {
            return Err(InputError::ZeroK.into());
        }
        check_probes(probes)?;
        let q = self.prepare_queries(queries, k)?;
        let lists = self.lists();
        let probed = self.probe_units(&lists, &q, probes);
        let arena = Arena::of(&self.episodes);
        let mut tail = lists.tail_blocks(&arena, self.dim());
        // A tail spread over many runs (episodes left unbound between bound ones) is read
        // once into one block, so the batch's queries are packed once for it, not per run.
        let gathered;
        if tail.len() > MAX_TAIL_BLOCKS {
            gathered = Gathered::from_blocks(&tail);
            tail = vec![gathered.block()];
        }
        let blocks = lists.batch_blocks(self.dim(), &probed, &tail);
        let tops =
            crate::compute::cpu::search_blocks(self.device.level(), &q, self.dim(), &blocks, k);
        Ok(tops
            .into_iter()
            .map(|t| {
                t.into_sorted_vec()
                    .into_iter()
                    .map(|h| Scored {
                        id: EpisodeId(h.id),
                        score: h.score,
                    })
                    .collect()
            })
            .collect())
    }

    /// Records one rehearsal of an episode at `now` (see [`Engram::recall`]): strength grows
    /// by `base + gain·(1 − R)`, `rehearsals` by one, `last_access` becomes `now` (never moves
    /// back). Returns the new strength.
    ///
    /// # Errors
    /// [`InputError::UnknownEpisode`].
    pub fn rehearse(&mut self, id: EpisodeId, now: u64) -> Result<f32> {
        let cfg = self.config.recall_config().clone();
        let n = self
            .graph
            .episode_node_mut(id)
            .ok_or(InputError::UnknownEpisode(id.0))?;
        let r = cfg.retention(now.saturating_sub(n.last_access), n.strength);
        n.strength += cfg.rehearsal_base + cfg.rehearsal_gain * (1.0 - r);
        n.rehearsals = n.rehearsals.saturating_add(1);
        n.last_access = n.last_access.max(now);
        Ok(n.strength)
    }

    /// Retention of an episode at `now`: `(1 + Δt/(τ·s))^(−c)` with `Δt = now − last_access`
    /// and `s` its strength (see [`crate::recall::RecallConfig::retention`]).
    ///
    /// # Errors
    /// [`InputError::UnknownEpisode`].
    pub fn retention(&self, id: EpisodeId, now: u64) -> Result<f32> {
        let n = self
            .graph
            .episode_node(id)
            .ok_or(InputError::UnknownEpisode(id.0))?;
        Ok(self
            .config
            .recall_config()
            .retention(now.saturating_sub(n.last_access), n.strength))
    }

    /// A test and tooling hook: adds a concept with this centroid and these bindings
    /// (coherence = mean cosine of the members to the centroid, state `Promoted`). Concepts
    /// normally come from consolidation.
    #[doc(hidden)]
    pub fn insert_concept_with_members(
        &mut self,
        centroid: &[f32],
        members: &[(EpisodeId, f32)],
    ) -> Result<ConceptId> {
        let c = self.prepare_cue(centroid)?;
        for (e, _) in members {
            if self.graph.episode_row(*e).is_none() {
                return Err(InputError::UnknownEpisode(e.0).into());
            }
        }
        let mut coh = 0.0f64;
        for (e, _) in members {
            let v = self.embedding(*e)?;
            coh += self.device.level().dot(&c, &v) as f64;
        }
        let coherence = if members.is_empty() {
            1.0
        } else {
            (coh / members.len() as f64) as f32
        };
        let concept = crate::memory::Concept {
            id: ConceptId(0),
            coherence,
            members: members.len() as u64,
            strength: 1.0,
            state: crate::memory::ConceptState::Promoted,
            confirmations: 1,
            formed_cycle: self.cycle,
            updated_cycle: self.cycle,
        };
        let id = self.insert_concept(&c, concept)?;
        for &(e, s) in members {
            self.graph.bind(e, id, s);
        }
        Ok(id)
    }
}

#[cfg(test)]
mod list_tests {
    use std::sync::Arc;

    use crate::{BackendChoice, Config, Engram, EpisodeMeta};

    #[test]
    fn a_rehearsal_keeps_the_lists_and_a_new_episode_renews_them() {
        let mut e = Engram::new(Config::new(4).backend(BackendChoice::Cpu)).expect("engine");
        let rows = [1.0, 0.0, 0.0, 0.0, 0.0, 1.0, 0.0, 0.0];
        let ids = e
            .remember_batch(&rows, vec![EpisodeMeta::at(0); 2])
            .expect("remember");
        let a = e.lists();
        assert_eq!(a.stats().tail, 2);
        // Strengths and times change, the structure does not: the same snapshot serves.
        e.rehearse(ids[0], 5).expect("rehearse");
        let b = e.lists();
        assert!(Arc::ptr_eq(&a, &b));
        e.remember_batch(&rows[..4], vec![EpisodeMeta::at(6)])
            .expect("remember");
        let c = e.lists();
        assert!(!Arc::ptr_eq(&b, &c));
        assert_eq!(c.stats().tail, 3);
        e.forget(ids[1]).expect("forget");
        assert_eq!(e.lists().stats().tail, 2);
    }
}
