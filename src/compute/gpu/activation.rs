//! Spreading activation over a graph in CSR form, for a batch of source sets at once.
//!
//! Per hop two kernels run over every (set, node): `spread_gate.wgsl` turns this hop's
//! activation into what each node sends per unit of link weight (`x · decay / Σw`, or 0 below
//! the threshold), then `spread.wgsl` *pulls*: each node sums what its in-neighbours send, in
//! in-edge order, writes the sum as next hop's activation and adds it to the total. Each output
//! has exactly one writer, so there are no atomics and results are deterministic.
//!
//! Chunking: the edge arrays are split by node ranges so every chunk fits a storage binding
//! (a node's in-edges never straddle chunks), and the sets are processed in groups whose
//! `sets × nodes` state fits a binding. A graph whose one row of node state (`4 × nodes`
//! bytes) or whose largest in-edge list exceeds the binding limit is refused with
//! [`GpuError::Unsupported`] (see [`spread_fits`]); the caller then spreads on the CPU.

use super::context::{cast_vec, GpuContext};
use super::types::{SpreadCsr, SpreadParams};
use crate::compute::error::GpuError;

const GATE_SRC: &str = super::shaders::SPREAD_GATE.source;
const PULL_SRC: &str = super::shaders::SPREAD.source;
const WG: u32 = 64;

#[repr(C)]
#[derive(Clone, Copy, Debug, bytemuck::Pod, bytemuck::Zeroable)]
struct GateParams {
    n: u32,
    count: u32,
    nx: u32,
    _pad0: u32,
    decay: f32,
    threshold: f32,
    _pad1: [f32; 2],
}

#[repr(C)]
#[derive(Clone, Copy, Debug, bytemuck::Pod, bytemuck::Zeroable)]
struct PullParams {
    n: u32,
    lo: u32,
    len: u32,
    count: u32,
    nx: u32,
    _pad: [u32; 3],
}

/// A 2-D grid of workgroups covering `items` invocations: (x, y).
fn grid(ctx: &GpuContext, items: usize) -> (u32, u32) {
    let groups = items.div_ceil(WG as usize).max(1);
    let max = ctx.capabilities().max_workgroups_per_dimension.max(1) as usize;
    let x = groups.min(max);
    (x as u32, groups.div_ceil(x) as u32)
}

/// Words (4 bytes) in one storage binding.
fn binding_words(ctx: &GpuContext) -> usize {
    let bytes = ctx
        .binding_limit()
        .min(ctx.capabilities().max_buffer_size)
        .min(u64::from(u32::MAX));
    (bytes / 4) as usize
}

/// Whether [`spread`] can run this graph on this device: [`GpuError::Unsupported`] when one
/// row of node state or one node's in-edge list exceeds the storage-binding limit, or the CSR
/// is malformed.
pub fn spread_fits(ctx: &GpuContext, csr: &SpreadCsr) -> Result<(), GpuError> {
    let n = csr.nodes();
    let words = binding_words(ctx);
    if n > words {
        return Err(GpuError::Unsupported(format!(
            "spreading activation over {n} nodes needs {} bytes of state per source set; the \
             binding limit is {} bytes",
            n as u64 * 4,
            ctx.binding_limit()
        )));
    }
    let deg = csr.max_in_degree();
    if deg > words {
        return Err(GpuError::Unsupported(format!(
            "a node with {deg} links exceeds the binding limit of {} bytes",
            ctx.binding_limit()
        )));
    }
    if csr.offsets.len() != n + 1
        || csr.offsets.first() != Some(&0)
        || csr.offsets.last().map(|&o| o as usize) != Some(csr.edges())
        || csr.weights.len() != csr.edges()
        || csr.offsets.windows(2).any(|w| w[0] > w[1])
        || csr.sources.iter().any(|&s| s as usize >= n)
    {
        return Err(GpuError::Unsupported("malformed spreading CSR".into()));
    }
    Ok(())
}

/// Node ranges `[lo, hi)` whose offsets and edges each fit `words`.
fn node_chunks(csr: &SpreadCsr, words: usize) -> Vec<(usize, usize)> {
    let n = csr.nodes();
    let mut out = Vec::new();
    let mut lo = 0;
    while lo < n {
        let base = csr.offsets[lo] as usize;
        let mut hi = lo;
        while hi < n && hi - lo + 2 <= words && csr.offsets[hi + 1] as usize - base <= words {
            hi += 1;
        }
        // spread_fits guarantees progress (every in-degree fits, words >= 2).
        let hi = hi.max(lo + 1);
        out.push((lo, hi));
        lo = hi;
    }
    out
}

/// The edges of `csr` on the device, one (offsets, sources, weights) triple per node chunk
/// `lo..hi` of `chunks` (offsets rebased to the chunk's first edge).
fn upload_edges(
    ctx: &GpuContext,
    csr: &SpreadCsr,
    chunks: &[(usize, usize)],
) -> Result<Vec<(wgpu::Buffer, wgpu::Buffer, wgpu::Buffer)>, GpuError> {
    let mut edge_bufs = Vec::with_capacity(chunks.len());
    for &(lo, hi) in chunks {
        let base = csr.offsets[lo];
        let (e0, e1) = (base as usize, csr.offsets[hi] as usize);
        let offs: Vec<u32> = csr.offsets[lo..=hi].iter().map(|o| o - base).collect();
        edge_bufs.push((
            ctx.storage_init("engram spread offsets", bytemuck::cast_slice(&offs))?,
            ctx.storage_init(
                "engram spread sources",
                bytemuck::cast_slice(&csr.sources[e0..e1]),
            )?,
            ctx.storage_init(
                "engram spread weights",
                bytemuck::cast_slice(&csr.weights[e0..e1]),
            )?,
        ));
    }
    Ok(edge_bufs)
}

/// The pull pass's parameters and dispatch grid for each node chunk of `chunks`, for a
/// group of `g` sets over `n` nodes.
fn pull_params(
    ctx: &GpuContext,
    chunks: &[(usize, usize)],
    n: usize,
    g: usize,
) -> Vec<(wgpu::Buffer, (u32, u32))> {
    chunks
        .iter()
        .map(|&(lo, hi)| {
            let (px, py) = grid(ctx, g * (hi - lo));
            let p = ctx.uniform(
                "engram spread pull params",
                &PullParams {
                    n: n as u32,
                    lo: lo as u32,
                    len: (hi - lo) as u32,
                    count: (g * (hi - lo)) as u32,
                    nx: px,
                    _pad: [0; 3],
                },
            );
            (p, (px, py))
        })
        .collect()
}

/// Spreads activation from each of `sets` (node index, initial activation; duplicates add up)
/// over `csr` for `params.hops` hops and returns, per set, the total activation (initial plus
/// every hop's arrivals) of nodes `0..read_nodes`: `sets.len() × read_nodes` floats, set-major.
/// Only those floats are read back.
pub fn spread(
    ctx: &GpuContext,
    csr: &SpreadCsr,
    sets: &[Vec<(u32, f32)>],
    params: SpreadParams,
    read_nodes: usize,
) -> Result<Vec<f32>, GpuError> {
    spread_fits(ctx, csr)?;
    let n = csr.nodes();
    let read_nodes = read_nodes.min(n);
    let mut result = vec![0f32; sets.len() * read_nodes];
    if n == 0 || sets.is_empty() {
        return Ok(result);
    }
    for (si, set) in sets.iter().enumerate() {
        if let Some(&(i, _)) = set.iter().find(|(i, _)| *i as usize >= n) {
            return Err(GpuError::Unsupported(format!(
                "source set {si} names node {i} of {n}"
            )));
        }
    }
    let words = binding_words(ctx);
    let group = (words / n).clamp(1, sets.len());
    let chunks = node_chunks(csr, words);
    ctx.scoped(|| {
        let gate = ctx.pipeline("spread_gate", GATE_SRC, &[("WG", f64::from(WG))])?;
        let pull = ctx.pipeline("spread", PULL_SRC, &[("WG", f64::from(WG))])?;
        let wsum = ctx.storage_init(
            "engram spread weight sums",
            bytemuck::cast_slice(&csr.weight_sums),
        )?;
        let edge_bufs = upload_edges(ctx, csr, &chunks)?;
        for (gi, group_sets) in sets.chunks(group).enumerate() {
            let g = group_sets.len();
            let mut init = vec![0f32; g * n];
            for (b, set) in group_sets.iter().enumerate() {
                for &(i, a) in set {
                    init[b * n + i as usize] += a;
                }
            }
            let bytes: &[u8] = bytemuck::cast_slice(&init);
            let f = ctx.storage_init("engram spread frontier", bytes)?;
            let total = ctx.storage_init("engram spread totals", bytes)?;
            let outv = ctx.storage_buffer("engram spread out", (g * n * 4) as u64, false)?;
            let (gx, gy) = grid(ctx, g * n);
            let gp = ctx.uniform(
                "engram spread gate params",
                &GateParams {
                    n: n as u32,
                    count: (g * n) as u32,
                    nx: gx,
                    _pad0: 0,
                    decay: params.decay,
                    threshold: params.threshold,
                    _pad1: [0.0; 2],
                },
            );
            let pulls = pull_params(ctx, &chunks, n, g);
            let mut enc = ctx.encoder();
            for _ in 0..params.hops {
                ctx.dispatch(&mut enc, &gate, &[&f, &wsum, &outv, &gp], (gx, gy, 1));
                for ((offs, srcs, ws), (p, (px, py))) in edge_bufs.iter().zip(&pulls) {
                    ctx.dispatch(
                        &mut enc,
                        &pull,
                        &[&outv, offs, srcs, ws, &f, &total, p],
                        (*px, *py, 1),
                    );
                }
            }
            if read_nodes == 0 {
                ctx.submit_wait(enc)?;
                continue;
            }
            let got: Vec<f32> = if read_nodes == n {
                let out = ctx.submit_and_read(enc, &[(&total, (g * n * 4) as u64)])?;
                cast_vec(&out[0])
            } else {
                // Gather the first `read_nodes` of every set's row into one buffer.
                let row = (read_nodes * 4) as u64;
                let picked = ctx.storage_buffer("engram spread picked", g as u64 * row, true)?;
                for b in 0..g {
                    enc.copy_buffer_to_buffer(
                        &total,
                        (b * n * 4) as u64,
                        &picked,
                        b as u64 * row,
                        row,
                    );
                }
                let out = ctx.submit_and_read(enc, &[(&picked, g as u64 * row)])?;
                cast_vec(&out[0])
            };
            let at = gi * group * read_nodes;
            result[at..at + g * read_nodes].copy_from_slice(&got);
        }
        Ok(())
    })?;
    Ok(result)
}
