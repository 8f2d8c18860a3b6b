//! Top-k similarity search over a [`GpuMatrix`].
//!
//! One pass scans every chunk with `search_topk.wgsl` (per-workgroup best lists), reduces the
//! lists of each chunk with `topk_merge.wgsl`, reads back at most `kp` pairs per query and chunk,
//! and merges the chunks on the host. A `k` larger than the largest GPU list is served by several
//! passes, each resuming strictly after the last hit of the previous one (the order is total), so
//! any `k` works and nothing but `(score, row)` pairs is ever read back.
//!
//! Batches of at least [`TILED_MIN_BATCH`] queries with `k <= K_TILED_MAX` take the tiled kernel
//! instead (`search_tiled.wgsl`): blocks of up to 64 queries × tiles of 64 rows, staged 16
//! components at a time in workgroup memory, 4 × 4 register tiles, fused with a per-query top-k
//! in workgroup memory; the same merge pass combines its row blocks. One pass over the rows per
//! block of queries instead of one per 8 queries.

use super::context::{cast_vec, GpuContext};
use super::matrix::GpuMatrix;
use super::types::GpuLayout;
use crate::compute::error::GpuError;
use crate::compute::topk::{merge_sorted, Hit};

const SEARCH_SRC: &str = super::shaders::SEARCH_TOPK.source;
const MERGE_SRC: &str = super::shaders::TOPK_MERGE.source;
const TILED_SRC: &str = super::shaders::SEARCH_TILED.source;

/// The largest `k` the tiled batch kernel serves (its per-query lists live in workgroup memory;
/// 128 fits 16 KiB, the guaranteed minimum, with 8-query blocks, and 32 KiB with 16-query blocks).
pub const K_TILED_MAX: usize = 128;
/// The smallest batch that takes the tiled kernel.
pub const TILED_MIN_BATCH: usize = 16;
/// Rows per tile of the tiled kernel (`R`).
const TILED_R: u32 = 64;
/// Components per staging step of the tiled kernel (`KB`).
const TILED_KB: u32 = 16;
/// Largest query block of the tiled kernel (`Q`; invocations are `4 Q`).
const TILED_QMAX: u32 = 64;
/// Smallest query block of the tiled kernel.
const TILED_QMIN: u32 = 8;
/// Fewest row tiles per workgroup of the tiled kernel, so the threshold has time to reject: a
/// workgroup's first `KP` rows all enter its lists.
const TILED_MIN_TILES: usize = 16;

/// The largest `k` one GPU pass selects; larger `k` take several passes.
pub const GPU_MAX_K: usize = 1024;

/// Query staging width of the shader (`DT`).
const DT: u64 = 64;
/// Most queries per workgroup in the batch kernel (`QMAX`).
const QMAX: u32 = 8;
/// Sentinel row of an empty slot.
const NONE: u32 = u32::MAX;

#[repr(C)]
#[derive(Clone, Copy, Debug, bytemuck::Pod, bytemuck::Zeroable)]
struct SearchParams {
    qstride: u32,
    wpr: u32,
    n_rows: u32,
    row_base: u32,
    rows_per_wg: u32,
    n_wg: u32,
    nq: u32,
    _pad: u32,
}

impl SearchParams {
    /// The launch of one chunk: `tiles` tiles of `tile` rows shared among at most `n_wg`
    /// workgroups, each taking whole tiles. Returns the parameters and the workgroup count.
    fn for_chunk(
        m: &GpuMatrix,
        ci: usize,
        len: usize,
        tile: usize,
        n_wg: usize,
        qstride: usize,
        nq: usize,
    ) -> (Self, usize) {
        let tiles = len.div_ceil(tile).max(1);
        let rows_per_wg = tiles.div_ceil(n_wg.max(1)) * tile;
        let n_wg = len.div_ceil(rows_per_wg).max(1);
        let params = SearchParams {
            qstride: qstride as u32,
            wpr: m.words_per_row() as u32,
            n_rows: len as u32,
            row_base: m.chunk_base(ci) as u32,
            rows_per_wg: rows_per_wg as u32,
            n_wg: n_wg as u32,
            nq: nq as u32,
            _pad: 0,
        };
        (params, n_wg)
    }
}

#[repr(C)]
#[derive(Clone, Copy, Debug, bytemuck::Pod, bytemuck::Zeroable)]
struct MergeParams {
    per_query: u32,
    nq: u32,
    _pad: [u32; 2],
}

#[repr(C)]
#[derive(Clone, Copy, Debug, Default, bytemuck::Pod, bytemuck::Zeroable)]
struct Cursor {
    score: f32,
    row: u32,
    enabled: u32,
    _pad: u32,
}

#[repr(C)]
#[derive(Clone, Copy, Debug, bytemuck::Pod, bytemuck::Zeroable)]
struct Cand {
    score: f32,
    row: u32,
}

/// Launch shape of one pass.
#[derive(Debug, Clone, Copy)]
struct Shape {
    wg: u32,
    kp: u32,
    tile: u32,
    qt: u32,
    /// Most row blocks per chunk.
    max_wg: u32,
    /// Queries per group (a multiple of `qt`).
    group: usize,
}

fn smem_bytes(qt: u32, kp: u32, tile: u32) -> u64 {
    u64::from(qt) * u64::from(kp + tile) * 8 + u64::from(qt) * DT * 4 + 16
}

/// Largest power-of-two list the device handles in one pass.
fn max_kp(ctx: &GpuContext, wg: u32) -> u32 {
    let ws = u64::from(ctx.capabilities().max_workgroup_storage);
    let mut kp = GPU_MAX_K as u32;
    while kp > 1 && (smem_bytes(1, kp, kp.max(wg)) > ws || u64::from(kp) * 8 > ctx.binding_limit())
    {
        kp /= 2;
    }
    kp
}

fn workgroup_size(ctx: &GpuContext) -> u32 {
    let caps = ctx.capabilities();
    let mut wg = 64u32;
    while wg > 1 && (wg > caps.max_invocations || wg > ctx.limits().max_compute_workgroup_size_x) {
        wg /= 2;
    }
    wg
}

fn shape(ctx: &GpuContext, nq: usize, kp: u32, qstride: usize) -> Shape {
    let wg = workgroup_size(ctx);
    let tile = kp.max(wg);
    let ws = u64::from(ctx.capabilities().max_workgroup_storage);
    let binding = ctx.binding_limit();
    let mut qt = (nq.next_power_of_two().min(QMAX as usize)) as u32;
    while qt > 1 && (smem_bytes(qt, kp, tile) > ws || u64::from(qt) * u64::from(kp) * 8 > binding) {
        qt /= 2;
    }
    let qgroups = nq.div_ceil(qt as usize) as u32;
    // Aim at a few hundred workgroups in flight; fewer row blocks when queries fill the grid.
    let mut max_wg = (512 / qgroups.max(1)).max(1);
    // The candidate buffer of one group must fit a binding.
    let per_wg_bytes = u64::from(qt) * u64::from(kp) * 8;
    max_wg = max_wg.min((binding / per_wg_bytes).max(1) as u32);
    let dims = u64::from(ctx.capabilities().max_workgroups_per_dimension);
    let by_cand = binding / (u64::from(max_wg) * u64::from(kp) * 8);
    let by_query = binding / (qstride as u64 * 4);
    let by_res = binding / (u64::from(kp) * 8);
    let mut group = by_cand
        .min(by_query)
        .min(by_res)
        .min(dims) // merge dispatch: one workgroup per query
        .min(nq as u64) as usize;
    group = (group / qt as usize * qt as usize).max(qt as usize);
    Shape {
        wg,
        kp,
        tile,
        qt,
        max_wg,
        group,
    }
}

/// Stages queries with the shader's stride (f16 rows are read in pairs, so pad to even).
fn stage_queries(queries: &[f32], dim: usize, layout: GpuLayout) -> (Vec<f32>, usize) {
    let qstride = match layout {
        GpuLayout::F32 => dim,
        GpuLayout::F16 => dim.div_ceil(2) * 2,
    };
    if qstride == dim {
        return (queries.to_vec(), qstride);
    }
    let mut out = Vec::with_capacity(queries.len() / dim * qstride);
    for q in queries.chunks_exact(dim) {
        out.extend_from_slice(q);
        out.resize(out.len() + qstride - dim, 0.0);
    }
    (out, qstride)
}

/// Shape of the tiled kernel's launch.
#[derive(Debug, Clone, Copy)]
struct TiledShape {
    /// Queries per workgroup.
    q: u32,
    kp: u32,
    /// Most row blocks per chunk.
    max_wg: u32,
    /// Queries per group (buffers of one group fit a binding).
    group: usize,
    /// Workgroup size of the merge pass.
    merge_wg: u32,
}

/// `(staging/score tile floats, workgroup bytes)` of the tiled kernel for `q` queries and
/// lists of `kp`.
fn tiled_smem(q: u32, kp: u32) -> (u32, u64) {
    let buf = ((q + TILED_R) * TILED_KB).max(q * TILED_R);
    let bytes = u64::from(buf) * 4 + u64::from(q) * u64::from(kp) * 8 + u64::from(q) * 4;
    (buf, bytes)
}

/// The tiled kernel's shape for `nq` queries and `k`, or `None` when the batch is too small,
/// `k` too large or the device too small for it.
fn tiled_shape(ctx: &GpuContext, nq: usize, k: usize, qstride: usize) -> Option<TiledShape> {
    if nq < TILED_MIN_BATCH || k == 0 || k > K_TILED_MAX {
        return None;
    }
    let kp = k.next_power_of_two() as u32;
    let merge_wg = workgroup_size(ctx);
    if kp > max_kp(ctx, merge_wg) {
        return None;
    }
    let caps = ctx.capabilities();
    let ws = u64::from(caps.max_workgroup_storage);
    let inv = caps
        .max_invocations
        .min(ctx.limits().max_compute_workgroup_size_x);
    let binding = ctx.binding_limit();
    let mut q = TILED_QMAX.min((nq.next_power_of_two() as u32).max(TILED_QMIN));
    // Workgroup memory, invocations, and one block's candidates / queries within a binding.
    while q >= TILED_QMIN
        && (tiled_smem(q, kp).1 > ws
            || 4 * q > inv
            || u64::from(q) * u64::from(kp) * 8 > binding
            || u64::from(q) * qstride as u64 * 4 > binding)
    {
        q /= 2;
    }
    if q < TILED_QMIN {
        return None;
    }
    let qblocks = nq.div_ceil(q as usize) as u32;
    let mut max_wg = (512 / qblocks.max(1)).max(1);
    max_wg = max_wg.min((binding / (u64::from(q) * u64::from(kp) * 8)).max(1) as u32);
    let by_cand = binding / (u64::from(max_wg) * u64::from(kp) * 8);
    let by_query = binding / (qstride as u64 * 4);
    let by_res = binding / (u64::from(kp) * 8);
    let dims = u64::from(caps.max_workgroups_per_dimension);
    let mut group = by_cand.min(by_query).min(by_res).min(dims).min(nq as u64) as usize;
    if group >= q as usize {
        group = group / q as usize * q as usize;
    }
    Some(TiledShape {
        q,
        kp,
        max_wg,
        group: group.max(1),
        merge_wg,
    })
}

/// Whether `search` serves `nq` queries of `dim` components with this `k` (after clamping to
/// the live rows) by the tiled batch kernel on this device.
pub fn uses_tiled_kernel(ctx: &GpuContext, dim: usize, nq: usize, k: usize) -> bool {
    tiled_shape(ctx, nq, k, dim.div_ceil(2) * 2).is_some()
}

/// The best `k` rows for each query, best first (score descending, then row ascending).
///
/// `queries` holds whole rows of `m.dim()` floats. [`Hit::id`] is the row index. Dead rows are
/// never returned; a `k` above the number of live rows returns every live row; `k = 0` returns
/// empty lists. Any `k` works (above [`GPU_MAX_K`] it takes several passes).
pub fn search(
    ctx: &GpuContext,
    m: &GpuMatrix,
    queries: &[f32],
    k: usize,
) -> Result<Vec<Vec<Hit>>, GpuError> {
    let dim = m.dim();
    if !queries.len().is_multiple_of(dim) {
        return Err(GpuError::Unsupported(format!(
            "{} query floats are not a whole number of rows of dimension {dim}",
            queries.len()
        )));
    }
    let nq = queries.len() / dim;
    let k = k.min(m.live());
    let mut results: Vec<Vec<Hit>> = vec![Vec::new(); nq];
    if nq == 0 || k == 0 {
        return Ok(results);
    }
    let (staged, qstride) = stage_queries(queries, dim, m.layout());
    if let Some(sh) = tiled_shape(ctx, nq, k, qstride) {
        for (gi, group) in staged.chunks(sh.group * qstride).enumerate() {
            let lists = run_tiled_group(ctx, m, &sh, group, qstride)?;
            for (i, res) in results[gi * sh.group..].iter_mut().enumerate() {
                if i * qstride >= group.len() {
                    break;
                }
                *res = merge_sorted(lists.iter().map(|l| l[i].clone()), k);
            }
        }
        return Ok(results);
    }
    let wg = workgroup_size(ctx);
    let kp_max = max_kp(ctx, wg);
    let mut cursors = vec![Cursor::default(); nq];
    let mut active: Vec<usize> = (0..nq).collect();
    while !active.is_empty() {
        let want = active
            .iter()
            .map(|&i| k - results[i].len())
            .max()
            .unwrap_or(0)
            .min(kp_max as usize);
        let kp = (want.next_power_of_two() as u32).min(kp_max);
        let sh = shape(ctx, active.len(), kp, qstride);
        let mut done = vec![false; nq];
        for group in active.chunks(sh.group) {
            let q: Vec<f32> = group
                .iter()
                .flat_map(|&i| staged[i * qstride..(i + 1) * qstride].iter().copied())
                .collect();
            let c: Vec<Cursor> = group.iter().map(|&i| cursors[i]).collect();
            let lists = run_group(ctx, m, &sh, &q, qstride, &c)?;
            for (gi, &qi) in group.iter().enumerate() {
                let need = (k - results[qi].len()).min(want);
                let hits = merge_sorted(lists.iter().map(|l| l[gi].clone()), need);
                if let Some(last) = hits.last() {
                    cursors[qi] = Cursor {
                        score: last.score,
                        row: last.id as u32,
                        enabled: 1,
                        _pad: 0,
                    };
                }
                // A short pass means nothing is left to find.
                let short = hits.len() < need;
                results[qi].extend(hits);
                if short || results[qi].len() >= k {
                    done[qi] = true;
                }
            }
        }
        active.retain(|&i| !done[i]);
    }
    Ok(results)
}

/// Scans every chunk for one group of queries; returns per chunk, per query, a sorted list.
fn run_group(
    ctx: &GpuContext,
    m: &GpuMatrix,
    sh: &Shape,
    queries: &[f32],
    qstride: usize,
    cursors: &[Cursor],
) -> Result<Vec<Vec<Vec<Hit>>>, GpuError> {
    let nq = cursors.len();
    let f16 = m.layout() == GpuLayout::F16;
    ctx.scoped(|| {
        let scan = ctx.pipeline(
            "search_topk",
            SEARCH_SRC,
            &[
                ("WG", f64::from(sh.wg)),
                ("KP", f64::from(sh.kp)),
                ("T", f64::from(sh.tile)),
                ("QT", f64::from(sh.qt)),
                ("SLOTS", f64::from(sh.qt * (sh.kp + sh.tile))),
                ("QSLOTS", f64::from(sh.qt) * DT as f64),
                ("F16", if f16 { 1.0 } else { 0.0 }),
            ],
        )?;
        let merge = ctx.pipeline(
            "topk_merge",
            MERGE_SRC,
            &[
                ("WG", f64::from(sh.wg)),
                ("KP", f64::from(sh.kp)),
                ("T", f64::from(sh.tile)),
                ("SLOTS", f64::from(sh.kp + sh.tile)),
            ],
        )?;
        let qbuf = ctx.storage_init("engram queries", bytemuck::cast_slice(queries))?;
        let cbuf = ctx.storage_init("engram cursors", bytemuck::cast_slice(cursors))?;
        let kp = sh.kp as usize;
        let mut enc = ctx.encoder();
        let mut res = Vec::new();
        for (ci, chunk) in m.chunks.iter().enumerate() {
            let tile = sh.tile as usize;
            let tiles = chunk.len.div_ceil(tile).max(1);
            let (params, n_wg) = SearchParams::for_chunk(
                m,
                ci,
                chunk.len,
                tile,
                tiles.min(sh.max_wg as usize),
                qstride,
                nq,
            );
            let pbuf = ctx.uniform("engram search params", &params);
            let per_query = n_wg * kp;
            let cand =
                ctx.storage_buffer("engram candidates", (nq * per_query * 8) as u64, false)?;
            let out = ctx.storage_buffer("engram results", (nq * kp * 8) as u64, true)?;
            ctx.dispatch(
                &mut enc,
                &scan,
                &[&chunk.rows, &chunk.dead, &qbuf, &cbuf, &cand, &pbuf],
                (n_wg as u32, nq.div_ceil(sh.qt as usize) as u32, 1),
            );
            let mp = MergeParams {
                per_query: per_query as u32,
                nq: nq as u32,
                _pad: [0; 2],
            };
            let mbuf = ctx.uniform("engram merge params", &mp);
            ctx.dispatch(&mut enc, &merge, &[&cand, &out, &mbuf], (nq as u32, 1, 1));
            res.push(out);
        }
        let reads: Vec<(&wgpu::Buffer, u64)> =
            res.iter().map(|b| (b, (nq * kp * 8) as u64)).collect();
        let bytes = ctx.submit_and_read(enc, &reads)?;
        Ok(bytes.iter().map(|b| decode_lists(b, kp)).collect())
    })
}

/// Decodes read-back candidate lists of `kp` per query, dropping empty slots.
fn decode_lists(bytes: &[u8], kp: usize) -> Vec<Vec<Hit>> {
    let cands: Vec<Cand> = cast_vec(bytes);
    cands
        .chunks_exact(kp)
        .map(|l| {
            l.iter()
                .filter(|c| c.row != NONE)
                .map(|c| Hit {
                    score: c.score,
                    id: u64::from(c.row),
                })
                .collect()
        })
        .collect()
}

/// Scans every chunk with the tiled kernel for one group of queries; returns per chunk, per
/// query, a sorted list of at most `kp` hits.
fn run_tiled_group(
    ctx: &GpuContext,
    m: &GpuMatrix,
    sh: &TiledShape,
    queries: &[f32],
    qstride: usize,
) -> Result<Vec<Vec<Vec<Hit>>>, GpuError> {
    let nq = queries.len() / qstride;
    let f16 = m.layout() == GpuLayout::F16;
    let (buf, _) = tiled_smem(sh.q, sh.kp);
    ctx.scoped(|| {
        let scan = ctx.pipeline(
            "search_tiled",
            TILED_SRC,
            &[
                ("Q", f64::from(sh.q)),
                ("KP", f64::from(sh.kp)),
                ("BUF", f64::from(buf)),
                ("LSLOTS", f64::from(sh.q * sh.kp)),
                ("F16", if f16 { 1.0 } else { 0.0 }),
            ],
        )?;
        let mtile = sh.kp.max(sh.merge_wg);
        let merge = ctx.pipeline(
            "topk_merge",
            MERGE_SRC,
            &[
                ("WG", f64::from(sh.merge_wg)),
                ("KP", f64::from(sh.kp)),
                ("T", f64::from(mtile)),
                ("SLOTS", f64::from(sh.kp + mtile)),
            ],
        )?;
        let qbuf = ctx.storage_init("engram queries", bytemuck::cast_slice(queries))?;
        let kp = sh.kp as usize;
        let mut enc = ctx.encoder();
        let mut res = Vec::new();
        for (ci, chunk) in m.chunks.iter().enumerate() {
            let tile = TILED_R as usize;
            let tiles = chunk.len.div_ceil(tile).max(1);
            let (params, n_wg) = SearchParams::for_chunk(
                m,
                ci,
                chunk.len,
                tile,
                tiles
                    .div_ceil(TILED_MIN_TILES)
                    .min(sh.max_wg as usize)
                    .max(1),
                qstride,
                nq,
            );
            let pbuf = ctx.uniform("engram tiled params", &params);
            let per_query = n_wg * kp;
            let cand =
                ctx.storage_buffer("engram candidates", (nq * per_query * 8) as u64, n_wg == 1)?;
            ctx.dispatch(
                &mut enc,
                &scan,
                &[&chunk.rows, &chunk.dead, &qbuf, &cand, &pbuf],
                (n_wg as u32, nq.div_ceil(sh.q as usize) as u32, 1),
            );
            if n_wg == 1 {
                // One row block: its lists are already final.
                res.push(cand);
                continue;
            }
            let out = ctx.storage_buffer("engram results", (nq * kp * 8) as u64, true)?;
            let mp = MergeParams {
                per_query: per_query as u32,
                nq: nq as u32,
                _pad: [0; 2],
            };
            let mbuf = ctx.uniform("engram merge params", &mp);
            ctx.dispatch(&mut enc, &merge, &[&cand, &out, &mbuf], (nq as u32, 1, 1));
            res.push(out);
        }
        let reads: Vec<(&wgpu::Buffer, u64)> =
            res.iter().map(|b| (b, (nq * kp * 8) as u64)).collect();
        let bytes = ctx.submit_and_read(enc, &reads)?;
        Ok(bytes.iter().map(|b| decode_lists(b, kp)).collect())
    })
}
