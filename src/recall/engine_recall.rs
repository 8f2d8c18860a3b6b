//! Recall on [`Engram`]: episodic, semantic, blended, pattern completion, strengthening.

use std::cell::RefCell;

use rayon::prelude::*;
use rustc_hash::FxHashMap;

use super::params::{Pathways, RecallHit, RecallMode, RecallParams};
use crate::compute::TopK;
use crate::engine::{Engram, Scored};
use crate::error::{InputError, Result};
use crate::memory::{ConceptId, EpisodeId, MemoryNode};
use crate::vectors::validate_one;

/// Candidates at or above this many are scored in parallel.
const PARALLEL_CANDIDATES: usize = 512;

/// Rows prefetched ahead of the one scored.
const PREFETCH_AHEAD: usize = 4;

thread_local! {
    /// The semantic pathway's `(row, support)` buffer, reused across calls on a thread.
    static CANDIDATES: RefCell<Vec<(u64, f32)>> = const { RefCell::new(Vec::new()) };
}

/// Hints the CPU to fetch `v` (one row) into cache.
#[inline(always)]
fn prefetch_row(v: &[f32]) {
    #[cfg(target_arch = "x86_64")]
    {
        use std::arch::x86_64::{_mm_prefetch, _MM_HINT_T0};
        // 16 floats per 64-byte line.
        for off in (0..v.len()).step_by(16) {
            // SAFETY: prefetch is a hint; the address is inside `v`.
            unsafe { _mm_prefetch::<_MM_HINT_T0>(v.as_ptr().add(off).cast()) };
        }
    }
    #[cfg(not(target_arch = "x86_64"))]
    let _ = v;
}

/// One candidate of the semantic pathway: an episode, its cosine and its semantic score.
#[derive(Debug, Clone, Copy)]
pub(crate) struct SemanticHit {
    pub id: EpisodeId,
    pub cosine: f32,
    pub score: f32,
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

    /// The semantic pathway: the `probes` concepts nearest the (normalised) cue, then every
    /// episode bound to them scored by `(1 − w)·cos(cue, e) + w·b·coherence·cos(cue, c)`
    /// (`b` the binding strength; the best over the probed concepts an episode is bound to).
    /// Only the members' rows are read. Returns the top `k` and the probed concepts.
    ///
    /// The members of the probed concepts are gathered as `(row, support)` into a reused
    /// per-thread buffer, sorted by row and deduplicated (keeping the best support), then
    /// scored in ascending row order (prefetch-friendly), in parallel when there are many.
    pub(crate) fn semantic_candidates(
        &self,
        q: &[f32],
        k: usize,
        probes: usize,
        support_weight: f32,
    ) -> Result<(Vec<SemanticHit>, Vec<Scored<ConceptId>>)> {
        if self.graph.concept_count() == 0 {
            return Ok((Vec::new(), Vec::new()));
        }
        let probed = self.search_concepts(q, probes)?;
        let mut cand = CANDIDATES.with(|c| std::mem::take(&mut *c.borrow_mut()));
        cand.clear();
        for c in &probed {
            let Some(node) = self.graph.concept_node(c.id) else {
                continue;
            };
            let scale = node.concept.coherence.max(0.0) * c.score;
            cand.extend(node.members().map(|(e, b)| (e.0, b * scale)));
        }
        // Sort by id (= row order), best support first, so that dedup keeps the best.
        if probed.len() > 1 {
            cand.sort_unstable_by(|a, b| a.0.cmp(&b.0).then(b.1.total_cmp(&a.1)));
            cand.dedup_by_key(|x| x.0);
        } else {
            cand.sort_unstable_by_key(|x| x.0);
        }
        let hits = self.score_candidates(q, k, support_weight, &cand);
        CANDIDATES.with(|c| *c.borrow_mut() = cand);
        Ok((hits, probed))
    }

    /// Scores candidates `(episode id, support)` (sorted by id, distinct) and keeps the top
    /// `k`, best first (score descending, then id).
    fn score_candidates(
        &self,
        q: &[f32],
        k: usize,
        w: f32,
        cand: &[(u64, f32)],
    ) -> Vec<SemanticHit> {
        let dim = self.dim();
        let rpc = self.episodes.rows_per_chunk();
        let f32_chunks: Vec<&[f32]> = self.episodes.f32_chunks().map(|(_, c)| c).collect();
        let f16_chunks: Vec<&[half::f16]> = if f32_chunks.is_empty() {
            self.episodes.f16_chunks().map(|(_, c)| c).collect()
        } else {
            Vec::new()
        };
        let level = self.device.level();
        let cosine = |id: u64| -> Option<f32> {
            let row = self.graph.episode_row(EpisodeId(id))?;
            let (c, o) = (row / rpc, (row % rpc) * dim);
            if let Some(ch) = f32_chunks.get(c) {
                ch.get(o..o + dim).map(|v| level.dot(q, v))
            } else {
                f16_chunks
                    .get(c)
                    .and_then(|ch| ch.get(o..o + dim))
                    .map(|v| level.dot_f16(q, v))
            }
        };
        // Before compaction an episode's row is its id: prefetch that row (a hint only).
        let prefetch = |id: u64| {
            self.graph.prefetch_episode(EpisodeId(id));
            let row = id as usize;
            let o = (row % rpc) * dim;
            if let Some(v) = f32_chunks.get(row / rpc).and_then(|ch| ch.get(o..o + dim)) {
                prefetch_row(v);
            }
        };
        // Candidate index `i` is the TopK id: indices follow ids, so ties break by id.
        let run = |range: std::ops::Range<usize>| -> TopK {
            let mut top = TopK::new(k);
            for i in range.clone() {
                if i + PREFETCH_AHEAD < range.end {
                    prefetch(cand[i + PREFETCH_AHEAD].0);
                }
                let (id, support) = cand[i];
                if let Some(cos) = cosine(id) {
                    top.push((1.0 - w) * cos + w * support, i as u64);
                }
            }
            top
        };
        let n = cand.len();
        let threads = rayon::current_num_threads();
        let top = if n >= PARALLEL_CANDIDATES && threads > 1 {
            let step = n.div_ceil(threads * 4).max(PARALLEL_CANDIDATES / 2);
            (0..n.div_ceil(step))
                .into_par_iter()
                .map(|p| run(p * step..((p + 1) * step).min(n)))
                .reduce(
                    || TopK::new(k),
                    |mut a, b| {
                        a.merge(b);
                        a
                    },
                )
        } else {
            run(0..n)
        };
        top.into_sorted_vec()
            .into_iter()
            .map(|h| {
                let (id, support) = cand[h.id as usize];
                // The cosine back from the score (exact when w = 0; else recomputed).
                let cosine = if w == 0.0 {
                    h.score
                } else {
                    cosine(id).unwrap_or((h.score - w * support) / (1.0 - w))
                };
                SemanticHit {
                    id: EpisodeId(id),
                    cosine,
                    score: h.score,
                }
            })
            .collect()
    }

    /// Approximate top-`k` episodes by cosine through the semantic pathway alone (probing
    /// `probes` concepts; support weight 0), ordered like [`Engram::search`]. Episodes bound
    /// to no probed concept are never found: recall rises with `probes`, and equals exact
    /// search when every concept is probed and every episode is bound to some concept.
    pub fn search_semantic(
        &self,
        query: &[f32],
        k: usize,
        probes: usize,
    ) -> Result<Vec<Scored<EpisodeId>>> {
        if k == 0 {
            return Err(InputError::ZeroK.into());
        }
        if probes == 0 {
            return Err(InputError::OutOfRange {
                name: "probes",
                range: "[1, ∞)",
                value: 0.0,
                row: None,
            }
            .into());
        }
        let q = self.prepare_cue(query)?;
        let (hits, _) = self.semantic_candidates(&q, k, probes, 0.0)?;
        Ok(hits
            .into_iter()
            .map(|h| Scored {
                id: h.id,
                score: h.cosine,
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
