//! Concept lists: the inverted lists of the semantic pathway, one contiguous block per concept.
//!
//! The semantic pathway probes the concepts nearest a cue and scores the episodes bound to
//! them. Reaching those episodes through the graph's bindings reads each row from wherever it
//! sits in the episode arena: a scattered gather per probe. Here every concept keeps its
//! members' ids (ascending) and a copy of their rows (f32, or f16 when the store keeps only
//! f16) in one contiguous block, scanned by the same kernels as exact search — as faiss's
//! `IndexIVFFlat` scans its lists.
//!
//! The lists are derived data, kept in step with the graph:
//! - a list is rebuilt only when its concept's member set changed
//!   ([`ConceptNode::members_version`](crate::graph::ConceptNode::members_version)); binding
//!   strengths are read from the graph when a score needs them, so decay and reinforcement do
//!   not rewrite rows;
//! - live episodes bound to no concept (those stored since the last cycle, or left unbound by
//!   it) form the **unassigned tail**, scanned exactly by
//!   [`Engram::search_semantic`](crate::Engram::search_semantic), so a stored episode is never
//!   missed for want of a concept;
//! - they are built the first time the semantic pathway runs (`search_semantic*`, or `recall`
//!   in its semantic or blended mode) and, from then on, brought up to date at the end of
//!   [`Engram::consolidate`](crate::Engram::consolidate) and lazily, by the next search, after
//!   any other structural change ([`Graph::change_key`]: episodes, concepts, memberships,
//!   rows — not strengths), outside every lock: a snapshot is rebuilt and swapped in;
//! - a list far larger than the mean is split into routing parts (see
//!   `ConceptLists::split_large`), and int8 codes are kept beside the rows once int8 search
//!   was used.
//!
//! Memory: one row copy per binding (an episode bound to two concepts is in both lists) plus
//! 8 bytes of id (and one byte per component with int8 codes); [`ListStats`] reports it.

use std::sync::Arc;

use half::f16;
use rayon::prelude::*;
use rustc_hash::FxHashMap;

use crate::compute::cpu::int8::{self, Sq8, Sq8Query};
use crate::compute::cpu::{self, IdBlock, SimdLevel};
use crate::compute::rows::{RowChunk, Rows};
use crate::compute::TopK;
use crate::graph::{ConceptNode, Graph};
use crate::memory::{ConceptId, EpisodeId};
use crate::vectors::VectorArena;

/// Rows below which a single query's lists are scanned on the calling thread.
const PARALLEL_ROWS: usize = 3_072;

/// Rows of one task when a single query's lists are scanned in parallel, and of one piece
/// of the tail in a batch.
const TASK_ROWS: usize = 1_536;

/// A list is split for routing when it holds more than this many times the mean list size
/// (and at least [`SPLIT_MIN_ROWS`] rows).
pub(crate) const SPLIT_FACTOR: usize = 4;

/// Lists below this many rows are never split.
pub(crate) const SPLIT_MIN_ROWS: usize = 512;

/// Lloyd iterations of the k-means that splits a list.
const SPLIT_ITER: usize = 10;

/// One concept's members: ids and their rows in the same order (ascending ids; when split,
/// ascending within each part).
#[derive(Debug, Clone)]
struct List {
    /// The [`ConceptNode::members_version`] it was built from.
    version: u64,
    ids: Arc<Vec<u64>>,
    rows: Arc<ListRows>,
    /// Routing parts of a list far larger than the mean (empty: not split). The parts cover
    /// the list in order; each is probed on its own by [`crate::Engram::search_semantic`].
    parts: Arc<Vec<Part>>,
    /// 8-bit codes of the rows (same order), once int8 search was used (else empty).
    codes: Arc<Vec<u8>>,
    /// The number of parts the last split asked for (0: whole), for the hysteresis of
    /// [`ConceptLists::split_large`].
    split_target: usize,
}

/// A contiguous part of a split list and the centroid that routes to it.
#[derive(Debug, Clone)]
struct Part {
    start: usize,
    len: usize,
    centroid: Vec<f32>,
}

/// A list's rows in the store's layout.
#[derive(Debug, Clone)]
enum ListRows {
    F32(Vec<f32>),
    F16(Vec<f16>),
}

impl List {
    fn rows(&self) -> Rows<'_> {
        match &*self.rows {
            ListRows::F32(r) => Rows::F32(r),
            ListRows::F16(r) => Rows::F16(r),
        }
    }

    fn bytes(&self) -> usize {
        self.ids.len() * 8
            + match &*self.rows {
                ListRows::F32(r) => r.len() * 4,
                ListRows::F16(r) => r.len() * 2,
            }
            + self
                .parts
                .iter()
                .map(|p| p.centroid.len() * 4 + 16)
                .sum::<usize>()
            + self.codes.len()
    }

    /// Encodes every row (replacing any codes).
    fn encode(&mut self, sq8: &Sq8) {
        let dim = sq8.dim();
        let mut codes = Vec::with_capacity(self.ids.len() * dim);
        let mut buf = vec![0.0f32; dim];
        match &*self.rows {
            ListRows::F32(r) => r.chunks_exact(dim).for_each(|x| sq8.encode(x, &mut codes)),
            ListRows::F16(r) => {
                for x in r.chunks_exact(dim) {
                    buf.iter_mut().zip(x).for_each(|(b, v)| *b = v.to_f32());
                    sq8.encode(&buf, &mut codes);
                }
            }
        }
        self.codes = Arc::new(codes);
    }

    /// Rows `start..start + len` as a block.
    fn block(&self, dim: usize, start: usize, len: usize, concept: (ConceptId, f32)) -> Block<'_> {
        Block {
            rows: self.rows().slice(dim, start, start + len),
            ids: &self.ids[start..start + len],
            concept: Some(concept),
            codes: self.codes.get(start * dim..(start + len) * dim),
        }
    }

    /// Splits the list into `parts` routing parts by spherical k-means on its rows (seeded by
    /// the concept id: deterministic), reordering rows so that each part is contiguous; with
    /// `parts < 2`, makes it one block again in ascending id order. Left whole if the k-means
    /// fails (it cannot on finite unit rows with `parts ≤ rows`).
    fn split(&mut self, dim: usize, parts: usize, seed: u64) {
        let n = self.ids.len();
        self.split_target = if parts >= 2 && n >= parts { parts } else { 0 };
        let mut new_parts = Vec::new();
        let mut labels: Vec<u32> = vec![0; n];
        if self.split_target > 0 {
            let data: Vec<f32> = match &*self.rows {
                ListRows::F32(r) => r.to_vec(),
                ListRows::F16(r) => r.iter().map(|x| x.to_f32()).collect(),
            };
            let fit = crate::cluster::KMeansParams::new(parts)
                .metric(crate::cluster::Metric::Spherical)
                .max_iter(SPLIT_ITER)
                .seed(seed)
                .fit(&data, dim);
            match fit {
                Ok(model) => {
                    let mut start = 0;
                    for c in 0..parts {
                        let len = model.labels.iter().filter(|&&l| l as usize == c).count();
                        if len > 0 {
                            new_parts.push(Part {
                                start,
                                len,
                                centroid: model.centroids[c * dim..(c + 1) * dim].to_vec(),
                            });
                        }
                        start += len;
                    }
                    labels = model.labels;
                }
                Err(_) => self.split_target = 0,
            }
        }
        self.parts = Arc::new(new_parts);
        // Rows in (part, id) order; codes are re-encoded by the next sync.
        let mut order: Vec<usize> = (0..n).collect();
        order.sort_by_key(|&i| (labels[i], self.ids[i]));
        self.rows = Arc::new(match &*self.rows {
            ListRows::F32(r) => ListRows::F32(reorder_rows(r, &order, dim)),
            ListRows::F16(r) => ListRows::F16(reorder_rows(r, &order, dim)),
        });
        self.ids = Arc::new(order.iter().map(|&i| self.ids[i]).collect());
        self.codes = Arc::new(Vec::new());
    }
}

/// Rows `order[0], order[1], …` of `r` (`dim` components each), in that order.
fn reorder_rows<T: Copy>(r: &[T], order: &[usize], dim: usize) -> Vec<T> {
    order
        .iter()
        .flat_map(|&i| &r[i * dim..(i + 1) * dim])
        .copied()
        .collect()
}

/// What one probe of [`crate::Engram::search_semantic`] reads: a concept's whole list or
/// one part of a split list.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub(crate) struct Unit {
    pub(crate) concept: ConceptId,
    /// The part, for a split list.
    pub(crate) part: Option<u32>,
}

/// A run of tail episodes on consecutive rows of one arena chunk.
#[derive(Debug, Clone, Copy)]
struct TailRun {
    /// The arena row of the first episode.
    first_row: usize,
    /// Where its ids start in the tail.
    start: usize,
    /// How many episodes.
    len: usize,
}

/// The concept lists of one engine (see the module documentation).
///
/// Cheap to clone (every list's rows, ids, parts and codes are shared): a sync works on a
/// clone that the engine then swaps in, so no lock is held while lists are rebuilt.
#[derive(Debug, Default, Clone)]
pub(crate) struct ConceptLists {
    /// The graph [`change key`](Graph::change_key) the lists reflect; `None` until first
    /// built.
    synced: Option<(u64, u64)>,
    /// Whether rows are kept as f16 (the store keeps no f32 rows).
    f16: bool,
    lists: FxHashMap<ConceptId, List>,
    /// The concept at each centroid row.
    by_row: Vec<Option<ConceptId>>,
    /// Live episodes bound to no concept, by ascending id (= ascending row).
    tail: Vec<u64>,
    /// The tail as runs of consecutive rows.
    tail_runs: Vec<TailRun>,
    /// The largest episode id looked at; later ones are new.
    seen_id: Option<u64>,
    /// The routing centroids of every part of every split list, row-major.
    routing: Vec<f32>,
    /// The list part of each routing centroid.
    routing_units: Vec<Unit>,
    /// Concepts whose lists are split.
    split: usize,
    /// The 8-bit quantiser of int8 search, trained by its first use (then every list keeps
    /// codes, encoded by each sync).
    sq8: Option<Sq8>,
}

/// Sizes of the concept lists ([`crate::Engram::concept_list_stats`]).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ListStats {
    /// Whether the lists are built (they are built by the first semantic search).
    pub built: bool,
    /// Concepts with a list.
    pub lists: usize,
    /// Entries over all lists (one per binding).
    pub entries: usize,
    /// Live episodes bound to no concept (the unassigned tail, scanned exactly).
    pub tail: usize,
    /// Bytes held by the lists: row copies, ids, int8 codes, routing centroids, the tail.
    pub bytes: usize,
    /// List sizes, ascending: smallest, median, 99th percentile, largest.
    pub size_min: usize,
    /// Median list size.
    pub size_median: usize,
    /// 99th-percentile list size.
    pub size_p99: usize,
    /// Largest list.
    pub size_max: usize,
    /// Lists split into routing parts (each larger than
    /// `4 ×` the mean list size and at least 512 rows).
    pub split_lists: usize,
    /// The largest share of all entries one probe can read (the largest list or part over
    /// all entries).
    pub max_probe_share: f64,
}

/// One list of the concept index as [`crate::Engram::concept_index`] shows it: a concept's
/// whole list, or one routing part of a split one.
#[derive(Debug, Clone, PartialEq)]
pub struct IndexList {
    /// The concept.
    pub concept: ConceptId,
    /// The routing part, when the concept's list is split (`None`: the whole list).
    pub part: Option<u32>,
    /// The centroid a query is routed by: the concept's own, or the part's.
    pub centroid: Vec<f32>,
    /// The episodes in the list, in list order.
    pub episodes: Vec<EpisodeId>,
}

/// Where the tail's rows are read: the episode arena's chunks.
pub(crate) struct Arena<'a> {
    pub(crate) chunks: Vec<RowChunk<'a>>,
    pub(crate) rows_per_chunk: usize,
}

impl<'a> Arena<'a> {
    pub(crate) fn of(episodes: &'a VectorArena) -> Self {
        Self {
            chunks: episodes.row_chunks(false),
            rows_per_chunk: episodes.rows_per_chunk(),
        }
    }

    /// Rows `first..first + len` (inside one chunk).
    fn rows(&self, dim: usize, first: usize, len: usize) -> Option<Rows<'a>> {
        let c = self.chunks.get(first / self.rows_per_chunk)?;
        let s = first - c.first_row;
        (s + len <= c.rows.count(dim)).then(|| c.rows.slice(dim, s, s + len))
    }
}

/// One block a search scans: rows, their episode ids, and (for a concept's list) the concept
/// and its support scale.
#[derive(Clone, Copy)]
pub(crate) struct Block<'a> {
    rows: Rows<'a>,
    ids: &'a [u64],
    /// The concept and `coherence · cos(cue, centroid)`; `None` for the tail (support 0).
    concept: Option<(ConceptId, f32)>,
    /// The rows' 8-bit codes, when the list has them.
    codes: Option<&'a [u8]>,
}

/// Tail blocks beyond this many are gathered into one contiguous block for a batch (each
/// block of a batch costs a copy and packing of the queries that scan it).
pub(crate) const MAX_TAIL_BLOCKS: usize = 8;

/// Rows and ids gathered from scattered blocks into one contiguous block (a batch's tail
/// when it is spread over many runs of rows).
pub(crate) struct Gathered {
    rows: ListRows,
    ids: Vec<u64>,
}

impl Gathered {
    /// The rows and ids of `blocks`, in order, in one block (f16 stays f16).
    pub(crate) fn from_blocks(blocks: &[Block<'_>]) -> Self {
        let ids: Vec<u64> = blocks.iter().flat_map(|b| b.ids.iter().copied()).collect();
        let rows = match blocks.first().map(|b| b.rows) {
            Some(Rows::F16(_)) => ListRows::F16(
                blocks
                    .iter()
                    .flat_map(|b| match b.rows {
                        Rows::F16(r) => r,
                        Rows::F32(_) => &[],
                    })
                    .copied()
                    .collect(),
            ),
            _ => ListRows::F32(
                blocks
                    .iter()
                    .flat_map(|b| match b.rows {
                        Rows::F32(r) => r,
                        Rows::F16(_) => &[],
                    })
                    .copied()
                    .collect(),
            ),
        };
        Self { rows, ids }
    }

    /// The gathered block.
    pub(crate) fn block(&self) -> Block<'_> {
        Block {
            rows: match &self.rows {
                ListRows::F32(r) => Rows::F32(r),
                ListRows::F16(r) => Rows::F16(r),
            },
            ids: &self.ids,
            concept: None,
            codes: None,
        }
    }
}

impl ConceptLists {
    /// Whether the lists reflect the graph at change key `key`.
    pub(crate) fn is_current(&self, key: (u64, u64)) -> bool {
        self.synced == Some(key)
    }

    /// Whether the lists were ever built (then consolidation keeps them current).
    pub(crate) fn in_use(&self) -> bool {
        self.synced.is_some()
    }

    /// Brings the lists up to date with the graph (now at `version`): lists of removed
    /// concepts dropped, lists whose member set changed rebuilt (in parallel), the tail
    /// updated with new, unbound and newly bound episodes.
    pub(crate) fn sync(
        &mut self,
        graph: &Graph,
        episodes: &VectorArena,
        centroid_rows: usize,
        version: (u64, u64),
    ) {
        let f16 = !episodes.precision().has_f32();
        if f16 != self.f16 {
            *self = Self {
                f16,
                ..Self::default()
            };
        }
        // Episodes that may have become unbound: those that left a list.
        let mut left: Vec<u64> = Vec::new();
        self.lists.retain(|c, l| {
            let keep = graph.concept_node(*c).is_some();
            if !keep {
                left.extend_from_slice(&l.ids);
            }
            keep
        });
        let changed: Vec<&ConceptNode> = graph
            .concepts()
            .filter(|n| {
                self.lists
                    .get(&n.concept.id)
                    .is_none_or(|l| l.version != n.members_version())
            })
            .collect();
        let built: Vec<(ConceptId, List)> = changed
            .par_iter()
            .map(|n| (n.concept.id, build_list(n, graph, episodes, f16)))
            .collect();
        for (c, l) in built {
            if let Some(old) = self.lists.insert(c, l) {
                let mut new = self.lists[&c].ids.to_vec();
                new.sort_unstable();
                left.extend(old.ids.iter().filter(|id| new.binary_search(id).is_err()));
            }
        }
        self.split_large(episodes.dim());
        self.encode_missing();
        self.by_row = vec![None; centroid_rows];
        for n in graph.concepts() {
            if let Some(slot) = self.by_row.get_mut(n.row) {
                *slot = Some(n.concept.id);
            }
        }
        // The tail: the old one, episodes that left a list and new episodes, kept if live and
        // unbound.
        let first_new = self
            .seen_id
            .map_or(0, |s| graph.first_row_after(EpisodeId(s)));
        let unbound = |id: u64| {
            graph
                .episode_node(EpisodeId(id))
                .is_some_and(|n| n.bindings().is_empty())
        };
        let mut tail = std::mem::take(&mut self.tail);
        tail.append(&mut left);
        tail.retain(|&id| unbound(id));
        tail.extend(
            graph
                .episodes_from(first_new)
                .filter(|(_, _, n)| n.bindings().is_empty())
                .map(|(_, id, _)| id.0),
        );
        tail.sort_unstable();
        tail.dedup();
        self.seen_id = graph.last_episode_id().map(|e| e.0).max(self.seen_id);
        self.tail_runs.clear();
        let rpc = episodes.rows_per_chunk().max(1);
        for (i, &id) in tail.iter().enumerate() {
            let Some(row) = graph.episode_row(EpisodeId(id)) else {
                continue;
            };
            match self.tail_runs.last_mut() {
                Some(r) if r.first_row + r.len == row && r.start + r.len == i && row % rpc != 0 => {
                    r.len += 1
                }
                _ => self.tail_runs.push(TailRun {
                    first_row: row,
                    start: i,
                    len: 1,
                }),
            }
        }
        self.tail = tail;
        self.synced = Some(version);
    }

    /// Splits every list far larger than the mean into parts of about the mean size (and
    /// rejoins lists no longer that large), then gathers the routing centroids. A list is
    /// re-split only if it was rebuilt or its number of parts should change.
    fn split_large(&mut self, dim: usize) {
        let entries: usize = self.lists.values().map(|l| l.ids.len()).sum();
        let mean = entries.div_ceil(self.lists.len().max(1)).max(1);
        let cap = (SPLIT_FACTOR * mean).max(SPLIT_MIN_ROWS);
        // Hysteresis: a split list is rejoined only below 3/4 of the cap, and re-split only
        // when the number of parts it should have moved by more than a quarter (the mean
        // moves with every cycle).
        let want = |l: &List| -> usize {
            let n = l.ids.len();
            let split = if l.split_target > 0 {
                4 * n > 3 * cap
            } else {
                n > cap
            };
            if split {
                n.div_ceil(mean).max(2)
            } else {
                0
            }
        };
        let todo: Vec<(&ConceptId, &mut List)> = self
            .lists
            .iter_mut()
            .filter(|(_, l)| {
                let (w, t) = (want(l), l.split_target);
                (w == 0) != (t == 0) || (w > 0 && w.abs_diff(t) > t / 4)
            })
            .collect();
        todo.into_par_iter().for_each(|(c, l)| {
            let w = want(l);
            l.split(dim, w, c.0);
        });
        self.routing.clear();
        self.routing_units.clear();
        let mut split: Vec<(&ConceptId, &List)> = self
            .lists
            .iter()
            .filter(|(_, l)| !l.parts.is_empty())
            .collect();
        split.sort_by_key(|(c, _)| **c);
        self.split = split.len();
        for (c, l) in split {
            for (i, p) in l.parts.iter().enumerate() {
                self.routing.extend_from_slice(&p.centroid);
                self.routing_units.push(Unit {
                    concept: *c,
                    part: Some(i as u32),
                });
            }
        }
    }

    /// Every list of the index, by concept id then part; `centroid_of` gives a whole list's
    /// routing centroid (its concept's).
    pub(crate) fn index_lists(
        &self,
        centroid_of: impl Fn(ConceptId) -> Option<Vec<f32>>,
    ) -> Vec<IndexList> {
        let mut cs: Vec<&ConceptId> = self.lists.keys().collect();
        cs.sort_unstable();
        let mut out = Vec::new();
        for c in cs {
            let l = &self.lists[c];
            let ids = |s: usize, n: usize| l.ids[s..s + n].iter().map(|&i| EpisodeId(i)).collect();
            if l.parts.is_empty() {
                if let Some(centroid) = centroid_of(*c) {
                    out.push(IndexList {
                        concept: *c,
                        part: None,
                        centroid,
                        episodes: ids(0, l.ids.len()),
                    });
                }
            } else {
                for (i, p) in l.parts.iter().enumerate() {
                    out.push(IndexList {
                        concept: *c,
                        part: Some(i as u32),
                        centroid: p.centroid.clone(),
                        episodes: ids(p.start, p.len),
                    });
                }
            }
        }
        out
    }

    /// Encodes the lists that lack codes (after a rebuild or a split), if int8 is in use.
    fn encode_missing(&mut self) {
        let Some(sq8) = &self.sq8 else {
            return;
        };
        let dim = sq8.dim();
        self.lists
            .par_iter_mut()
            .filter(|(_, l)| l.codes.len() != l.ids.len() * dim)
            .for_each(|(_, l)| l.encode(sq8));
    }

    /// Whether int8 codes are kept (and current).
    pub(crate) fn has_codes(&self) -> bool {
        self.sq8.is_some()
    }

    /// Trains the 8-bit quantiser on the lists' rows (at most 65,536 of them, evenly spread)
    /// and encodes every list; from then on each sync keeps the codes current.
    pub(crate) fn enable_codes(&mut self, dim: usize) {
        if self.sq8.is_some() {
            return;
        }
        let entries: usize = self.lists.values().map(|l| l.ids.len()).sum();
        let every = entries.div_ceil(65_536).max(1);
        let mut sample: Vec<f32> = Vec::new();
        let mut i = 0usize;
        let mut keys: Vec<&ConceptId> = self.lists.keys().collect();
        keys.sort_unstable();
        for c in keys {
            let l = &self.lists[c];
            for r in 0..l.ids.len() {
                if i.is_multiple_of(every) {
                    match &*l.rows {
                        ListRows::F32(x) => sample.extend_from_slice(&x[r * dim..(r + 1) * dim]),
                        ListRows::F16(x) => {
                            sample.extend(x[r * dim..(r + 1) * dim].iter().map(|v| v.to_f32()))
                        }
                    }
                }
                i += 1;
            }
        }
        self.sq8 = Some(Sq8::train(dim, sample.chunks_exact(dim.max(1))));
        self.encode_missing();
    }

    /// The quantiser, once int8 search was used.
    pub(crate) fn sq8(&self) -> Option<&Sq8> {
        self.sq8.as_ref()
    }

    /// Whether a concept's list is split into routing parts.
    pub(crate) fn is_split(&self, c: ConceptId) -> bool {
        self.lists.get(&c).is_some_and(|l| !l.parts.is_empty())
    }

    /// How many lists are split.
    pub(crate) fn split_count(&self) -> usize {
        self.split
    }

    /// The routing centroids of the parts of split lists (row-major) and their units.
    pub(crate) fn routing(&self) -> (&[f32], &[Unit]) {
        (&self.routing, &self.routing_units)
    }

    /// Sizes and memory of the lists.
    pub(crate) fn stats(&self) -> ListStats {
        let mut sizes: Vec<usize> = self.lists.values().map(|l| l.ids.len()).collect();
        sizes.sort_unstable();
        let at = |q: f64| -> usize {
            if sizes.is_empty() {
                return 0;
            }
            sizes[((sizes.len() - 1) as f64 * q).round() as usize]
        };
        ListStats {
            built: self.in_use(),
            lists: sizes.len(),
            entries: sizes.iter().sum(),
            tail: self.tail.len(),
            bytes: self.lists.values().map(List::bytes).sum::<usize>()
                + self.tail.len() * 8
                + self.by_row.len() * 16,
            size_min: at(0.0),
            size_median: at(0.5),
            size_p99: at(0.99),
            size_max: sizes.last().copied().unwrap_or(0),
            split_lists: self.split,
            max_probe_share: {
                let largest = self
                    .lists
                    .values()
                    .map(|l| {
                        if l.parts.is_empty() {
                            l.ids.len()
                        } else {
                            l.parts.iter().map(|p| p.len).max().unwrap_or(0)
                        }
                    })
                    .max()
                    .unwrap_or(0);
                largest as f64 / sizes.iter().sum::<usize>().max(1) as f64
            },
        }
    }

    /// The concept at a centroid row.
    pub(crate) fn concept_at(&self, row: usize) -> Option<ConceptId> {
        self.by_row.get(row).copied().flatten()
    }

    /// The blocks of the probed concepts (`(concept, support scale)`), in probe order.
    pub(crate) fn probed_blocks(&self, probed: &[(ConceptId, f32)]) -> Vec<Block<'_>> {
        probed
            .iter()
            .filter_map(|&(c, scale)| {
                self.lists.get(&c).map(|l| Block {
                    rows: l.rows(),
                    ids: &l.ids,
                    concept: Some((c, scale)),
                    codes: None,
                })
            })
            .collect()
    }

    /// The blocks of probed units (`(unit, support scale)`), in probe order.
    pub(crate) fn unit_blocks(&self, dim: usize, units: &[(Unit, f32)]) -> Vec<Block<'_>> {
        units
            .iter()
            .filter_map(|&(u, scale)| {
                let l = self.lists.get(&u.concept)?;
                let (start, len) = match u.part {
                    Some(p) => l.parts.get(p as usize).map(|p| (p.start, p.len))?,
                    None => (0, l.ids.len()),
                };
                Some(l.block(dim, start, len, (u.concept, scale)))
            })
            .collect()
    }

    /// The tail's blocks: its runs of consecutive arena rows.
    pub(crate) fn tail_blocks<'a>(&'a self, arena: &Arena<'a>, dim: usize) -> Vec<Block<'a>> {
        self.tail_runs
            .iter()
            .filter_map(|r| {
                arena.rows(dim, r.first_row, r.len).map(|rows| Block {
                    rows,
                    ids: &self.tail[r.start..r.start + r.len],
                    concept: None,
                    codes: None,
                })
            })
            .collect()
    }
}

impl<'a> ConceptLists {
    /// The blocks of a batch, each with the queries that scan it: query `j` scans the lists
    /// of `probed[j]` and every block of `tail`.
    pub(crate) fn batch_blocks(
        &'a self,
        dim: usize,
        probed: &[Vec<Unit>],
        tail: &[Block<'a>],
    ) -> Vec<IdBlock<'a>> {
        let mut at: FxHashMap<Unit, usize> = FxHashMap::default();
        let mut out: Vec<IdBlock<'a>> = Vec::new();
        for (j, us) in probed.iter().enumerate() {
            for u in us {
                let i = match at.get(u) {
                    Some(&i) => i,
                    None => {
                        let Some(b) = self.unit_blocks(dim, &[(*u, 0.0)]).pop() else {
                            continue;
                        };
                        out.push(IdBlock {
                            rows: b.rows,
                            ids: b.ids,
                            queries: Vec::new(),
                        });
                        at.insert(*u, out.len() - 1);
                        out.len() - 1
                    }
                };
                out[i].queries.push(j as u32);
            }
        }
        let all: Vec<u32> = (0..probed.len() as u32).collect();
        out.extend(tail.iter().map(|b| IdBlock {
            rows: b.rows,
            ids: b.ids,
            queries: all.clone(),
        }));
        out
    }
}

/// Builds one concept's list from the graph and the arena.
fn build_list(node: &ConceptNode, graph: &Graph, episodes: &VectorArena, f16: bool) -> List {
    let dim = episodes.dim();
    let mut ids: Vec<u64> = node.members().map(|(e, _)| e.0).collect();
    ids.sort_unstable();
    let rpc = episodes.rows_per_chunk().max(1);
    let mut kept = Vec::with_capacity(ids.len());
    let rows = if f16 {
        let chunks: Vec<&[f16]> = episodes.f16_chunks().map(|(_, c)| c).collect();
        let mut out = Vec::with_capacity(ids.len() * dim);
        for &id in &ids {
            let src = graph.episode_row(EpisodeId(id)).and_then(|r| {
                let o = (r % rpc) * dim;
                chunks.get(r / rpc).and_then(|c| c.get(o..o + dim))
            });
            if let Some(src) = src {
                out.extend_from_slice(src);
                kept.push(id);
            }
        }
        ListRows::F16(out)
    } else {
        let mut out = vec![0.0f32; ids.len() * dim];
        let mut n = 0;
        for &id in &ids {
            let ok = graph
                .episode_row(EpisodeId(id))
                .is_some_and(|r| episodes.read_row(r, &mut out[n * dim..(n + 1) * dim]));
            if ok {
                kept.push(id);
                n += 1;
            }
        }
        out.truncate(n * dim);
        ListRows::F32(out)
    };
    List {
        version: node.members_version(),
        ids: Arc::new(kept),
        rows: Arc::new(rows),
        parts: Arc::new(Vec::new()),
        codes: Arc::new(Vec::new()),
        split_target: 0,
    }
}

/// Scores one query against blocks into a [`TopK::unique`] selection: with `w = 0` the score
/// is the cosine, through the exact-search kernels; otherwise
/// `(1 − w)·cos + w·b·scale` with `b` the binding strength (read from the graph only for rows
/// whose bound `(1 − w)·cos + w·scale` could enter).
pub(crate) fn scan_blocks(
    level: SimdLevel,
    graph: &Graph,
    q: &[f32],
    dim: usize,
    blocks: &[Block<'_>],
    k: usize,
    w: f32,
) -> TopK {
    scan_blocks_with(dim, blocks, k, &|b, top| {
        scan_one(level, graph, q, dim, b, top, w)
    })
}

/// Scores one query's int8 approximations (`offset + scale · Σ w·c`) against the codes of
/// `blocks` (blocks without codes are skipped) into a [`TopK::unique`] of `k`.
pub(crate) fn scan_codes(
    level: SimdLevel,
    q: &Sq8Query,
    dim: usize,
    blocks: &[Block<'_>],
    k: usize,
) -> TopK {
    let one = |b: &Block<'_>, top: &mut TopK| {
        let Some(codes) = b.codes else {
            return;
        };
        for (c, &id) in codes.chunks_exact(dim).zip(b.ids) {
            let s = q.offset + q.scale * int8::dot_u8i8(level, c, &q.weights) as f32;
            if s >= top.threshold() {
                top.push(s, id);
            }
        }
    };
    scan_blocks_with(dim, blocks, k, &one)
}

/// Runs `one` over the blocks into a [`TopK::unique`] of `k`: on this thread for a few rows,
/// else in tasks of about [`TASK_ROWS`] rows over the threads, merged.
fn scan_blocks_with(
    dim: usize,
    blocks: &[Block<'_>],
    k: usize,
    one: &(dyn Fn(&Block<'_>, &mut TopK) + Sync),
) -> TopK {
    let rows: usize = blocks.iter().map(|b| b.ids.len()).sum();
    let run = |blocks: &[Block<'_>], top: &mut TopK| {
        for b in blocks {
            one(b, top);
        }
    };
    if rows < PARALLEL_ROWS || rayon::current_num_threads() < 2 {
        let mut top = TopK::unique(k);
        run(blocks, &mut top);
        return top;
    }
    // Tasks of whole blocks, about TASK_ROWS rows each (a large block is split).
    let mut pieces: Vec<Block<'_>> = Vec::new();
    for b in blocks {
        let n = b.ids.len();
        let mut s = 0;
        while s < n {
            let e = (s + TASK_ROWS).min(n);
            pieces.push(Block {
                rows: b.rows.slice(dim, s, e),
                ids: &b.ids[s..e],
                concept: b.concept,
                codes: b.codes.and_then(|c| c.get(s * dim..e * dim)),
            });
            s = e;
        }
    }
    let mut tasks: Vec<&[Block<'_>]> = Vec::new();
    let (mut start, mut acc) = (0, 0);
    for (i, p) in pieces.iter().enumerate() {
        acc += p.ids.len();
        if acc >= TASK_ROWS || i + 1 == pieces.len() {
            tasks.push(&pieces[start..=i]);
            start = i + 1;
            acc = 0;
        }
    }
    cpu::per_thread(&tasks, || TopK::unique(k), |t, top| run(t, top))
        .into_iter()
        .reduce(|mut a, b| {
            a.merge(b);
            a
        })
        .unwrap_or_else(|| TopK::unique(k))
}

/// One block of [`scan_blocks`].
fn scan_one(
    level: SimdLevel,
    graph: &Graph,
    q: &[f32],
    dim: usize,
    b: &Block<'_>,
    top: &mut TopK,
    w: f32,
) {
    let (concept, scale) = match b.concept {
        Some((c, s)) if w != 0.0 => (c, s),
        _ => {
            let mut p = cpu::Pusher::with_ids(top, None, Some(b.ids));
            cpu::scan(level, q, b.rows, dim, 0, &mut p);
            return;
        }
    };
    let bound = w * scale.max(0.0);
    let mut buf = vec![0.0f32; dim];
    for (i, &id) in b.ids.iter().enumerate() {
        let cos = match b.rows {
            Rows::F32(r) => level.dot(q, &r[i * dim..(i + 1) * dim]),
            Rows::F16(r) => {
                level.f16_to_f32(&r[i * dim..(i + 1) * dim], &mut buf);
                level.dot(q, &buf)
            }
        };
        let base = (1.0 - w) * cos;
        if base + bound < top.threshold() {
            continue;
        }
        let s = graph
            .binding(EpisodeId(id), concept)
            .map_or(base, |s| base + w * s * scale);
        top.push(s, id);
    }
}
