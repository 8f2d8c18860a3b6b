//! Spherical k-means steps over a [`GpuMatrix`]: assignment fused with the arg-max, and a
//! deterministic two-phase centroid-sum reduction (no float atomics).

use super::context::{cast_vec, GpuContext};
use super::matrix::GpuMatrix;
use super::types::{GpuLayout, TopTwo};
use crate::compute::error::GpuError;

const ASSIGN_SRC: &str = super::shaders::KMEANS_ASSIGN.source;
const SUMS_SRC: &str = super::shaders::KMEANS_SUMS.source;
const REDUCE_SRC: &str = super::shaders::KMEANS_REDUCE.source;

/// Rows per phase-1 work item.
const SEG: usize = 256;
const WG: u32 = 64;

#[repr(C)]
#[derive(Clone, Copy, Debug, bytemuck::Pod, bytemuck::Zeroable)]
struct AssignParams {
    cstride: u32,
    wpr: u32,
    n_rows: u32,
    c_base: u32,
    c_count: u32,
    nx: u32,
    _pad: [u32; 2],
}

#[repr(C)]
#[derive(Clone, Copy, Debug, bytemuck::Pod, bytemuck::Zeroable)]
struct SumsParams {
    dim: u32,
    wpr: u32,
    n_items: u32,
    nx: u32,
}

#[repr(C)]
#[derive(Clone, Copy, Debug, bytemuck::Pod, bytemuck::Zeroable)]
struct ReduceParams {
    dim: u32,
    n_runs: u32,
    nx: u32,
    _pad: u32,
}

/// A 2-D grid of at least `n` workgroups within the per-dimension limit: (x, y).
fn grid(ctx: &GpuContext, n: usize) -> (u32, u32) {
    let max = ctx.capabilities().max_workgroups_per_dimension.max(1) as usize;
    let x = n.clamp(1, max);
    (x as u32, n.div_ceil(x).max(1) as u32)
}

fn f16_constant(m: &GpuMatrix) -> f64 {
    if m.layout() == GpuLayout::F16 {
        1.0
    } else {
        0.0
    }
}

/// Assigns every row to its most similar centroid.
///
/// `centroids` holds `k` rows of `m.dim()` floats. Returns, per row, the centroid index and its
/// dot product; ties go to the lowest centroid index. Dead rows get label `u32::MAX` and score
/// `f32::NEG_INFINITY`. No `N × k` matrix is formed.
pub fn kmeans_assign(
    ctx: &GpuContext,
    m: &GpuMatrix,
    centroids: &[f32],
    k: usize,
) -> Result<(Vec<u32>, Vec<f32>), GpuError> {
    let t = assign(ctx, m, centroids, k, false)?;
    Ok((t.labels, t.scores))
}

/// [`kmeans_assign`] that also returns each row's second-best score (in the same pass).
pub fn kmeans_assign_top2(
    ctx: &GpuContext,
    m: &GpuMatrix,
    centroids: &[f32],
    k: usize,
) -> Result<TopTwo, GpuError> {
    assign(ctx, m, centroids, k, true)
}

/// The assignment pass; the second-best scores are kept and read back only with `top2`
/// (otherwise `second` is empty).
fn assign(
    ctx: &GpuContext,
    m: &GpuMatrix,
    centroids: &[f32],
    k: usize,
    top2: bool,
) -> Result<TopTwo, GpuError> {
    let dim = m.dim();
    if k == 0 || centroids.len() != k * dim {
        return Err(GpuError::Unsupported(format!(
            "expected {k} centroids of dimension {dim} ({} floats), got {} floats",
            k * dim,
            centroids.len()
        )));
    }
    let cstride = match m.layout() {
        GpuLayout::F32 => dim,
        GpuLayout::F16 => dim.div_ceil(2) * 2,
    };
    let mut staged = Vec::with_capacity(k * cstride);
    for c in centroids.chunks_exact(dim) {
        staged.extend_from_slice(c);
        staged.resize(staged.len() + cstride - dim, 0.0);
    }
    let block = ((ctx.binding_limit() / (cstride as u64 * 4)) as usize).clamp(1, k);
    let mut out = TopTwo {
        labels: Vec::with_capacity(m.len()),
        scores: Vec::with_capacity(m.len()),
        second: Vec::with_capacity(if top2 { m.len() } else { 0 }),
    };
    ctx.scoped(|| {
        let pipe = ctx.pipeline(
            "kmeans_assign",
            ASSIGN_SRC,
            &[
                ("WG", f64::from(WG)),
                ("F16", f16_constant(m)),
                ("TOP2", if top2 { 1.0 } else { 0.0 }),
            ],
        )?;
        let cbufs = staged
            .chunks(block * cstride)
            .map(|c| ctx.storage_init("engram centroids", bytemuck::cast_slice(c)))
            .collect::<Result<Vec<_>, _>>()?;
        for chunk in &m.chunks {
            let bytes = (chunk.len * 4) as u64;
            let lbuf = ctx.storage_buffer("engram labels", bytes, true)?;
            let sbuf = ctx.storage_buffer("engram best scores", bytes, true)?;
            let s2bytes = if top2 { bytes } else { 4 };
            let s2buf = ctx.storage_buffer("engram second scores", s2bytes, true)?;
            let (nx, ny) = grid(ctx, chunk.len.div_ceil(WG as usize));
            let mut enc = ctx.encoder();
            for (bi, cbuf) in cbufs.iter().enumerate() {
                let c_base = bi * block;
                let params = AssignParams {
                    cstride: cstride as u32,
                    wpr: m.words_per_row() as u32,
                    n_rows: chunk.len as u32,
                    c_base: c_base as u32,
                    c_count: block.min(k - c_base) as u32,
                    nx,
                    _pad: [0; 2],
                };
                let pbuf = ctx.uniform("engram assign params", &params);
                ctx.dispatch(
                    &mut enc,
                    &pipe,
                    &[&chunk.rows, &chunk.dead, cbuf, &lbuf, &sbuf, &pbuf, &s2buf],
                    (nx, ny, 1),
                );
            }
            let mut reads = vec![(&lbuf, bytes), (&sbuf, bytes)];
            if top2 {
                reads.push((&s2buf, bytes));
            }
            let read = ctx.submit_and_read(enc, &reads)?;
            out.labels.extend(cast_vec::<u32>(&read[0]));
            out.scores.extend(cast_vec::<f32>(&read[1]));
            if top2 {
                out.second.extend(cast_vec::<f32>(&read[2]));
            }
        }
        Ok(())
    })?;
    // The kernel's "none" is -3e38; callers see -inf.
    for s in &mut out.second {
        if *s <= -3.0e38 {
            *s = f32::NEG_INFINITY;
        }
    }
    for r in 0..m.len() {
        if m.is_dead(r) {
            out.labels[r] = u32::MAX;
            out.scores[r] = f32::NEG_INFINITY;
            if let Some(s) = out.second.get_mut(r) {
                *s = f32::NEG_INFINITY;
            }
        }
    }
    Ok(out)
}

/// The live rows `base..base + len` of `m` (one chunk) grouped by label, in row order
/// within a label, cut into segments of at most `SEG` rows: the members (chunk-local row
/// indices), each segment's `[start, end)` in them, and each segment's label.
fn label_segments(
    m: &GpuMatrix,
    labels: &[u32],
    k: usize,
    base: usize,
    len: usize,
) -> (Vec<u32>, Vec<[u32; 2]>, Vec<usize>) {
    let mut by_label: Vec<Vec<u32>> = vec![Vec::new(); k];
    for local in 0..len {
        let r = base + local;
        if !m.is_dead(r) {
            by_label[labels[r] as usize].push(local as u32);
        }
    }
    let mut members = Vec::new();
    let mut items: Vec<[u32; 2]> = Vec::new();
    let mut item_label = Vec::new();
    for (l, rows) in by_label.iter().enumerate() {
        for seg in rows.chunks(SEG) {
            let start = members.len() as u32;
            members.extend_from_slice(seg);
            items.push([start, members.len() as u32]);
            item_label.push(l);
        }
    }
    (members, items, item_label)
}

/// Runs of consecutive items with the same label: each run's `[start, end)` in `labels_of`
/// and its label.
fn label_runs(labels_of: &[usize]) -> (Vec<[u32; 2]>, Vec<usize>) {
    let mut runs: Vec<[u32; 2]> = Vec::new();
    let mut run_label = Vec::new();
    for (i, &l) in labels_of.iter().enumerate() {
        if run_label.last() == Some(&l) {
            if let Some(r) = runs.last_mut() {
                r[1] = i as u32 + 1;
            }
        } else {
            runs.push([i as u32, i as u32 + 1]);
            run_label.push(l);
        }
    }
    (runs, run_label)
}

/// Per-centroid sums of the live rows and their counts, for the centroid update.
///
/// `labels` has one entry per row (dead rows' labels are ignored). Returns `k * dim` sums and
/// `k` counts. Deterministic: phase 1 sums runs of at most 256 same-label rows in row order, one
/// workgroup per run; phase 2 adds each label's runs in order; chunks and batches are added on
/// the host in a fixed order. No float atomics.
pub fn kmeans_partial_sums(
    ctx: &GpuContext,
    m: &GpuMatrix,
    labels: &[u32],
    k: usize,
) -> Result<(Vec<f32>, Vec<u32>), GpuError> {
    let dim = m.dim();
    if labels.len() != m.len() {
        return Err(GpuError::Unsupported(format!(
            "expected {} labels, got {}",
            m.len(),
            labels.len()
        )));
    }
    let mut counts = vec![0u32; k];
    for (r, &l) in labels.iter().enumerate() {
        if m.is_dead(r) {
            continue;
        }
        let slot = counts.get_mut(l as usize).ok_or_else(|| {
            GpuError::Unsupported(format!("row {r} has label {l}, expected < {k}"))
        })?;
        *slot += 1;
    }
    let mut sums = vec![0f32; k * dim];
    let binding = ctx.binding_limit();
    let batch = ((binding / (dim as u64 * 4)).min(binding / 8) as usize).max(1);
    ctx.scoped(|| {
        let phase1 = ctx.pipeline(
            "kmeans_sums",
            SUMS_SRC,
            &[("WG", f64::from(WG)), ("F16", f16_constant(m))],
        )?;
        let phase2 = ctx.pipeline("kmeans_reduce", REDUCE_SRC, &[("WG", f64::from(WG))])?;
        for (ci, chunk) in m.chunks.iter().enumerate() {
            let base = m.chunk_base(ci);
            let (members, items, item_label) = label_segments(m, labels, k, base, chunk.len);
            if items.is_empty() {
                continue;
            }
            let mbuf = ctx.storage_init("engram members", bytemuck::cast_slice(&members))?;
            for (bi, batch_items) in items.chunks(batch).enumerate() {
                let labels_of = &item_label[bi * batch..bi * batch + batch_items.len()];
                let (runs, run_label) = label_runs(labels_of);
                let ibuf = ctx.storage_init("engram items", bytemuck::cast_slice(batch_items))?;
                let rbuf = ctx.storage_init("engram runs", bytemuck::cast_slice(&runs))?;
                let partial = ctx.storage_buffer(
                    "engram partial sums",
                    (batch_items.len() * dim * 4) as u64,
                    false,
                )?;
                let out_bytes = (runs.len() * dim * 4) as u64;
                let out = ctx.storage_buffer("engram run sums", out_bytes, true)?;
                let (nx, ny) = grid(ctx, batch_items.len());
                let p1 = ctx.uniform(
                    "engram sums params",
                    &SumsParams {
                        dim: dim as u32,
                        wpr: m.words_per_row() as u32,
                        n_items: batch_items.len() as u32,
                        nx,
                    },
                );
                let (rx, ry) = grid(ctx, runs.len());
                let p2 = ctx.uniform(
                    "engram reduce params",
                    &ReduceParams {
                        dim: dim as u32,
                        n_runs: runs.len() as u32,
                        nx: rx,
                        _pad: 0,
                    },
                );
                let mut enc = ctx.encoder();
                ctx.dispatch(
                    &mut enc,
                    &phase1,
                    &[&chunk.rows, &mbuf, &ibuf, &partial, &p1],
                    (nx, ny, 1),
                );
                ctx.dispatch(
                    &mut enc,
                    &phase2,
                    &[&partial, &rbuf, &out, &p2],
                    (rx, ry, 1),
                );
                let bytes = ctx.submit_and_read(enc, &[(&out, out_bytes)])?;
                let run_sums: Vec<f32> = cast_vec(&bytes[0]);
                for (ri, &l) in run_label.iter().enumerate() {
                    let dst = &mut sums[l * dim..(l + 1) * dim];
                    for (d, s) in dst.iter_mut().zip(&run_sums[ri * dim..(ri + 1) * dim]) {
                        *d += s;
                    }
                }
            }
        }
        Ok(())
    })?;
    Ok((sums, counts))
}
