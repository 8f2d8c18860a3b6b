//! Spreading activation on the GPU: the routing of [`Engram::spread_batch`] and
//! [`Engram::retrieve_batch`], and the dual graph in the CSR form the kernels read.
//!
//! A batch goes to the GPU when the backend is the GPU and `nodes × source sets` is at least
//! [`GPU_SPREAD_MIN_WORK`]; otherwise the CPU spreads (it touches only the nodes activation
//! reaches, the GPU every node of every set, so the GPU pays off only for large batches over
//! large graphs). A graph the device cannot hold (one set's node state, or one node's links,
//! larger than the storage-binding limit) stays on the CPU. The work runs through the device's
//! one door ([`Device::run_gpu`](crate::compute::Device::run_gpu)): a GPU failure falls back to
//! the CPU when [`Config::falls_back_to_cpu`](crate::Config::falls_back_to_cpu) (the engine then
//! stays on the CPU, as after a failed search), else it is returned.
//!
//! Results match the CPU: nodes are numbered episodes first (by id) then concepts (by id), which
//! is [`MemoryNode`]'s order, and each node's in-edges are kept in that order, so arrivals add up
//! in the same order as on the CPU; the per-edge arithmetic is the same. Differences come only
//! from fused multiply-adds or division rounding on the device (≲ 1e-6 relative). A node the
//! CPU reaches with an arrival that underflows to exactly 0 is not listed by the GPU path.
//!
//! The CSR is built on the host (O(nodes + edges)) when the graph changed since the last GPU
//! call ([`Graph::version`]) and reused otherwise.

use std::sync::Arc;

use rayon::prelude::*;
use rustc_hash::FxHashMap;

use super::activation::{Activation, Retrieval};
use crate::compute::gpu::{self, GpuContext, SpreadCsr, SpreadParams};
use crate::compute::Backend;
use crate::engine::Engram;
use crate::error::{GpuError, InputError, Result};
use crate::graph::Graph;
use crate::memory::{ConceptId, EpisodeId, MemoryNode};

/// The work (`nodes × source sets`) from which [`Engram::spread_batch`] and
/// [`Engram::retrieve_batch`] spread on the GPU, when that is the backend: 2²⁶ (e.g. 1,024
/// sets over 65,536 nodes).
///
/// The CPU spreads sparsely — it touches only what activation reaches, about 30 µs per set at
/// the default 2 hops — while the GPU path builds the CSR on the host (about 0.7 µs per node,
/// once per graph change) and then does dense work over every node of every set, so it pays
/// off only for large batches. This value is an estimate from those host-side costs, not yet measured on a
/// hardware GPU.
pub const GPU_SPREAD_MIN_WORK: usize = 1 << 26;

/// The last [`SpreadGraph`] built, with the [`Graph::version`] it was built from.
pub(crate) type SpreadGraphCache = parking_lot::Mutex<Option<(u64, Arc<SpreadGraph>)>>;

/// The dual graph numbered for the GPU: live episodes (by id), then concepts (by id).
#[derive(Debug, Clone)]
pub(crate) struct SpreadGraph {
    pub(crate) csr: SpreadCsr,
    /// Node of each index.
    pub(crate) nodes: Vec<MemoryNode>,
    /// Episodes come first: indices `0..episodes`.
    pub(crate) episodes: usize,
    concept_index: FxHashMap<ConceptId, u32>,
}

impl SpreadGraph {
    /// Builds the CSR of incoming edges from [`Graph::neighbours`] (so whatever the CPU spreads
    /// along, the GPU does too, symmetric or not): for every node `i` in index order, each
    /// neighbour `m` with weight `w > 0` gets the in-edge `(i, w)`; `Σ max(w, 0)` over `i`'s
    /// neighbours, summed in the CPU's order, is `i`'s weight sum.
    pub(crate) fn build(graph: &Graph) -> Self {
        let mut nodes = Vec::with_capacity(graph.episode_count() + graph.concept_count());
        nodes.extend(graph.episodes().map(|(_, id, _)| MemoryNode::Episode(id)));
        let episodes = nodes.len();
        let mut concept_index = FxHashMap::default();
        for c in graph.concept_ids() {
            concept_index.insert(c, nodes.len() as u32);
            nodes.push(MemoryNode::Concept(c));
        }
        let mut g = Self {
            csr: SpreadCsr::default(),
            nodes,
            episodes,
            concept_index,
        };
        let n = g.nodes.len();
        // Out-edges in sender order, then a stable counting sort by receiver.
        let mut weight_sums = Vec::with_capacity(n);
        let mut out: Vec<(u32, u32, f32)> = Vec::new();
        let mut in_degree = vec![0u32; n + 1];
        for (i, &node) in g.nodes.iter().enumerate() {
            let nbrs = graph.neighbours(node);
            weight_sums.push(nbrs.iter().map(|x| x.1.max(0.0)).sum::<f32>());
            for (m, w) in nbrs {
                if w > 0.0 {
                    if let Some(j) = g.index(m) {
                        out.push((j, i as u32, w));
                        in_degree[j as usize + 1] += 1;
                    }
                }
            }
        }
        for j in 0..n {
            in_degree[j + 1] += in_degree[j];
        }
        let offsets = in_degree;
        let mut fill = offsets.clone();
        let mut sources = vec![0u32; out.len()];
        let mut weights = vec![0f32; out.len()];
        for (j, i, w) in out {
            let at = fill[j as usize] as usize;
            sources[at] = i;
            weights[at] = w;
            fill[j as usize] += 1;
        }
        g.csr = SpreadCsr {
            offsets,
            sources,
            weights,
            weight_sums,
        };
        g
    }

    /// The index of a node, if it is live.
    pub(crate) fn index(&self, node: MemoryNode) -> Option<u32> {
        match node {
            MemoryNode::Episode(e) => self.episode_index(e),
            MemoryNode::Concept(c) => self.concept_index.get(&c).copied(),
        }
    }

    fn episode_index(&self, e: EpisodeId) -> Option<u32> {
        // Episodes are numbered in ascending id order.
        self.nodes[..self.episodes]
            .binary_search(&MemoryNode::Episode(e))
            .ok()
            .map(|i| i as u32)
    }
}

/// Source sets split into nodes the GPU knows (by index) and unknown nodes, which the CPU
/// lists with their initial activation but which spread nothing.
type SplitSets = (Vec<Vec<(u32, f32)>>, Vec<Vec<(MemoryNode, f32)>>);

fn split_sources(g: &SpreadGraph, batch: &[Vec<(MemoryNode, f32)>]) -> SplitSets {
    batch
        .iter()
        .map(|set| {
            let mut known = Vec::with_capacity(set.len());
            let mut unknown = Vec::new();
            for &(n, a) in set {
                match g.index(n) {
                    Some(i) => known.push((i, a)),
                    None => unknown.push((n, a)),
                }
            }
            (known, unknown)
        })
        .unzip()
}

/// The [`Activation`] of one set from the totals of nodes `0..totals.len()`: every node with a
/// positive total, every source (as the CPU lists sources even when they stay at 0) and the
/// unknown sources with their summed activation.
fn assemble(
    g: &SpreadGraph,
    totals: &[f32],
    known: &[(u32, f32)],
    unknown: &[(MemoryNode, f32)],
) -> Activation {
    let mut nodes: Vec<(MemoryNode, f32)> = totals
        .iter()
        .enumerate()
        .filter(|(_, &t)| t > 0.0)
        .map(|(j, &t)| (g.nodes[j], t))
        .collect();
    let mut listed: Vec<u32> = Vec::new();
    for &(i, _) in known {
        if let Some(&t) = totals.get(i as usize) {
            let positive = t > 0.0; // already listed above
            if !positive && !listed.contains(&i) {
                listed.push(i);
                nodes.push((g.nodes[i as usize], t));
            }
        }
    }
    let mut extra: Vec<(MemoryNode, f32)> = Vec::new();
    for &(n, a) in unknown {
        match extra.iter_mut().find(|x| x.0 == n) {
            Some(x) => x.1 += a,
            None => extra.push((n, a)),
        }
    }
    nodes.extend(extra);
    nodes.sort_by(|a, b| b.1.total_cmp(&a.1).then(a.0.cmp(&b.0)));
    Activation { nodes }
}

fn check_sources(batch: &[Vec<(MemoryNode, f32)>]) -> Result<()> {
    for (_, a) in batch.iter().flatten() {
        if !a.is_finite() || *a < 0.0 {
            return Err(InputError::OutOfRange {
                name: "source activation",
                range: "[0, ∞)",
                value: *a as f64,
                row: None,
            }
            .into());
        }
    }
    Ok(())
}

impl Engram {
    /// The graph's CSR form: the cached one if the graph has not changed since it was built.
    pub(crate) fn spread_graph(&self) -> Arc<SpreadGraph> {
        let version = self.graph.version();
        let mut cache = self.spread_graph.lock();
        match &*cache {
            Some((v, g)) if *v == version => Arc::clone(g),
            _ => {
                let g = Arc::new(SpreadGraph::build(&self.graph));
                *cache = Some((version, Arc::clone(&g)));
                g
            }
        }
    }

    fn spread_params(&self) -> SpreadParams {
        let cfg = self.config.recall_config();
        SpreadParams {
            decay: cfg.spread_decay,
            threshold: cfg.spread_threshold,
            hops: cfg.max_hops,
        }
    }

    /// The GPU context when `sets` source sets over this graph should spread on the GPU.
    fn spread_context(&self, sets: usize, min_work: usize) -> Option<Arc<GpuContext>> {
        let Backend::Gpu(ctx) = self.backend() else {
            return None;
        };
        let nodes = self.graph.episode_count() + self.graph.concept_count();
        (sets > 0 && nodes > 0 && nodes.saturating_mul(sets) >= min_work).then(|| Arc::clone(ctx))
    }

    /// Spreads `batch` on `ctx`; with `episodes_only`, only episodes' totals are read back and
    /// listed (what a retrieval needs).
    fn spread_on(
        &self,
        ctx: &GpuContext,
        g: &SpreadGraph,
        batch: &[Vec<(MemoryNode, f32)>],
        episodes_only: bool,
    ) -> std::result::Result<Vec<Activation>, GpuError> {
        let (known, unknown) = split_sources(g, batch);
        let read = if episodes_only {
            g.episodes
        } else {
            g.nodes.len()
        };
        let totals = gpu::spread(ctx, &g.csr, &known, self.spread_params(), read)?;
        Ok((0..batch.len())
            .map(|b| {
                let row = if read == 0 {
                    &[][..]
                } else {
                    &totals[b * read..(b + 1) * read]
                };
                assemble(g, row, &known[b], &unknown[b])
            })
            .collect())
    }

    /// Runs the GPU path if routed there: `Ok(None)` means "spread on the CPU" (not routed,
    /// the graph does not fit the device, or the GPU failed and the config falls back).
    fn spread_routed(
        &self,
        batch: &[Vec<(MemoryNode, f32)>],
        min_work: usize,
        episodes_only: bool,
    ) -> Result<Option<Vec<Activation>>> {
        let Some(ctx) = self.spread_context(batch.len(), min_work) else {
            return Ok(None);
        };
        let g = self.spread_graph();
        if let Err(e) = gpu::spread_fits(&ctx, &g.csr) {
            log::debug!("spreading activation stays on the CPU: {e}");
            return Ok(None);
        }
        Ok(self.device.run_gpu("spreading activation", |dev| {
            self.spread_on(dev.context(), &g, batch, episodes_only)
        })?)
    }

    /// The hook of [`Engram::spread_batch`]: the GPU result, or `None` for the CPU.
    pub(crate) fn spread_batch_gpu(
        &self,
        batch: &[Vec<(MemoryNode, f32)>],
        min_work: usize,
    ) -> Result<Option<Vec<Activation>>> {
        if self.spread_context(batch.len(), min_work).is_none() {
            return Ok(None);
        }
        check_sources(batch)?;
        self.spread_routed(batch, min_work, false)
    }

    /// The hook of [`Engram::retrieve_batch`] (cues already checked to be whole rows): the GPU
    /// result, or `None` for the CPU.
    pub(crate) fn retrieve_batch_gpu(
        &self,
        cues: &[f32],
        min_work: usize,
    ) -> Result<Option<Vec<Option<Retrieval>>>> {
        let dim = self.dim();
        let n = cues.len() / dim.max(1);
        if self.spread_context(n, min_work).is_none() {
            return Ok(None);
        }
        let sources: Vec<Vec<(MemoryNode, f32)>> = cues
            .par_chunks(dim)
            .map(|c| self.cue_sources(c))
            .collect::<Result<_>>()?;
        let Some(acts) = self.spread_routed(&sources, min_work, true)? else {
            return Ok(None);
        };
        let cfg = self.config.recall_config();
        Ok(Some(
            acts.iter()
                .map(|act| {
                    act.best_episode().map(|(episode, a)| Retrieval {
                        episode,
                        activation: a,
                        latency_ms: cfg.latency_ms(a),
                    })
                })
                .collect(),
        ))
    }

    /// [`Engram::spread_batch`] with the GPU routing threshold given (`0` forces the GPU when
    /// that is the backend, `usize::MAX` the CPU). For tests and benchmarks.
    #[doc(hidden)]
    pub fn spread_batch_with(
        &self,
        batch: &[Vec<(MemoryNode, f32)>],
        min_work: usize,
    ) -> Result<Vec<Activation>> {
        if let Some(out) = self.spread_batch_gpu(batch, min_work)? {
            return Ok(out);
        }
        batch.par_iter().map(|s| self.spread(s)).collect()
    }

    /// [`Engram::retrieve_batch`] with the GPU routing threshold given (see
    /// [`Engram::spread_batch_with`]). For tests and benchmarks.
    #[doc(hidden)]
    pub fn retrieve_batch_with(
        &self,
        cues: &[f32],
        min_work: usize,
    ) -> Result<Vec<Option<Retrieval>>> {
        let dim = self.dim();
        if cues.is_empty() || !cues.len().is_multiple_of(dim) {
            return Err(InputError::RaggedBatch {
                len: cues.len(),
                dim,
            }
            .into());
        }
        if let Some(out) = self.retrieve_batch_gpu(cues, min_work)? {
            return Ok(out);
        }
        cues.par_chunks(dim).map(|c| self.retrieve(c)).collect()
    }

    /// Spreads `batch` on the given context regardless of the engine's backend and of size,
    /// without any fallback (a graph the device cannot hold is [`GpuError::Unsupported`]). For
    /// tests of the kernels on special contexts (e.g. a tiny binding limit).
    #[doc(hidden)]
    pub fn spread_batch_on(
        &self,
        ctx: &GpuContext,
        batch: &[Vec<(MemoryNode, f32)>],
    ) -> Result<Vec<Activation>> {
        check_sources(batch)?;
        self.device.take_simulated_failure()?;
        let g = self.spread_graph();
        Ok(self.spread_on(ctx, &g, batch, false)?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::memory::EpisodeMeta;

    #[test]
    fn the_csr_is_rebuilt_exactly_when_the_graph_changes() {
        let mut e =
            Engram::new(crate::Config::new(4).backend(crate::BackendChoice::Cpu)).expect("engine");
        let rows = [1.0, 0.0, 0.0, 0.0, 0.0, 1.0, 0.0, 0.0, 0.0, 0.0, 1.0, 0.0];
        let ids = e
            .remember_batch(&rows, vec![EpisodeMeta::at(1); 3])
            .expect("remember");
        let c = crate::persist::add_concept(&mut e, &[1.0, 1.0, 0.0, 0.0], Default::default())
            .expect("concept");
        let a = e.spread_graph();
        assert!(
            Arc::ptr_eq(&a, &e.spread_graph()),
            "unchanged graph, same CSR"
        );
        let fresh = |e: &Engram| SpreadGraph::build(&e.graph).csr;
        e.graph.bind(ids[0], c, 0.5);
        let b = e.spread_graph();
        assert!(!Arc::ptr_eq(&a, &b));
        assert_eq!(b.csr, fresh(&e));
        assert_ne!(a.csr, b.csr);
        e.forget(ids[1]).expect("forget");
        assert_eq!(e.spread_graph().csr, fresh(&e));
        // Even a mutable access that changes nothing invalidates (never a stale CSR).
        let v = e.graph.version();
        let _ = e.graph.episode_node_mut(ids[2]);
        assert_ne!(e.graph.version(), v);
        // A clone keeps the version but has its own cache.
        let clone = e.clone();
        assert_eq!(clone.graph.version(), e.graph.version());
        assert_eq!(clone.spread_graph().csr, e.spread_graph().csr);
    }
}
