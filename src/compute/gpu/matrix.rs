//! Resident embeddings: rows live in GPU storage buffers split into chunks no larger than the
//! storage-binding limit (a row never straddles two chunks), with a dead-row bitmask per chunk.

use std::collections::BTreeMap;

use super::context::GpuContext;
use super::types::GpuLayout;
use crate::compute::error::GpuError;

/// One chunk of rows.
#[derive(Debug)]
pub(crate) struct Chunk {
    pub(crate) rows: wgpu::Buffer,
    pub(crate) dead: wgpu::Buffer,
    /// Rows the buffer can hold.
    pub(crate) capacity: usize,
    /// Rows stored.
    pub(crate) len: usize,
}

/// A matrix of unit-normalised rows resident on the GPU.
///
/// Appends upload only the new rows; deletions set a bit in a mask and never re-upload.
#[derive(Debug)]
pub struct GpuMatrix {
    dim: usize,
    layout: GpuLayout,
    rows: usize,
    rows_per_chunk: usize,
    pub(crate) chunks: Vec<Chunk>,
    dead: Vec<u32>,
    dead_count: usize,
}

impl GpuMatrix {
    /// An empty matrix of `dim`-component rows in `layout`.
    pub fn new(ctx: &GpuContext, dim: usize, layout: GpuLayout) -> Result<Self, GpuError> {
        if dim == 0 {
            return Err(GpuError::Unsupported("dimension 0".into()));
        }
        let row_bytes = words_per_row(dim, layout) as u64 * 4;
        let limit = ctx.binding_limit().min(ctx.capabilities().max_buffer_size);
        let rows_per_chunk = (limit / row_bytes) as usize;
        if rows_per_chunk == 0 {
            return Err(GpuError::Unsupported(format!(
                "one row of {row_bytes} bytes exceeds the binding limit of {limit} bytes"
            )));
        }
        Ok(Self {
            dim,
            layout,
            rows: 0,
            rows_per_chunk,
            chunks: Vec::new(),
            dead: Vec::new(),
            dead_count: 0,
        })
    }

    /// A matrix holding `rows` (row-major, `dim` floats each).
    pub fn from_rows(
        ctx: &GpuContext,
        dim: usize,
        layout: GpuLayout,
        rows: &[f32],
    ) -> Result<Self, GpuError> {
        let mut m = Self::new(ctx, dim, layout)?;
        m.append(ctx, rows)?;
        Ok(m)
    }

    /// Components per row.
    pub fn dim(&self) -> usize {
        self.dim
    }

    /// The storage layout.
    pub fn layout(&self) -> GpuLayout {
        self.layout
    }

    /// Rows stored, dead ones included (row indices run from 0 to `len() - 1`).
    pub fn len(&self) -> usize {
        self.rows
    }

    /// Whether no row is stored.
    pub fn is_empty(&self) -> bool {
        self.rows == 0
    }

    /// Rows not marked dead.
    pub fn live(&self) -> usize {
        self.rows - self.dead_count
    }

    /// Whether `row` was marked dead (rows out of range count as dead).
    pub fn is_dead(&self, row: usize) -> bool {
        row >= self.rows || self.dead[row / 32] & (1 << (row % 32)) != 0
    }

    /// How many chunks the rows are split into.
    pub fn chunk_count(&self) -> usize {
        self.chunks.len()
    }

    /// The most rows one chunk holds.
    pub fn rows_per_chunk(&self) -> usize {
        self.rows_per_chunk
    }

    pub(crate) fn words_per_row(&self) -> usize {
        words_per_row(self.dim, self.layout)
    }

    /// Global index of the first row of chunk `c`.
    pub(crate) fn chunk_base(&self, c: usize) -> usize {
        c * self.rows_per_chunk
    }

    /// Appends rows (`dim` floats each, expected unit length). Only the new rows are uploaded.
    pub fn append(&mut self, ctx: &GpuContext, rows: &[f32]) -> Result<(), GpuError> {
        if !rows.len().is_multiple_of(self.dim) {
            return Err(GpuError::Unsupported(format!(
                "{} floats are not a whole number of rows of dimension {}",
                rows.len(),
                self.dim
            )));
        }
        let n = rows.len() / self.dim;
        if self.rows + n >= u32::MAX as usize {
            return Err(GpuError::Unsupported(format!(
                "{} rows exceed the 32-bit row indices of the GPU kernels",
                self.rows + n
            )));
        }
        ctx.scoped(|| {
            let mut done = 0;
            while done < n {
                if self
                    .chunks
                    .last()
                    .is_none_or(|c| c.len == self.rows_per_chunk)
                {
                    self.chunks.push(self.new_chunk(ctx, 0)?);
                }
                let rpc = self.rows_per_chunk;
                let wpr = self.words_per_row();
                let ci = self.chunks.len() - 1;
                let take = (n - done).min(rpc - self.chunks[ci].len);
                let need = self.chunks[ci].len + take;
                if need > self.chunks[ci].capacity {
                    let cap = need.next_power_of_two().max(256).min(rpc).max(need);
                    self.grow(ctx, ci, cap)?;
                }
                let words = encode(
                    &rows[done * self.dim..(done + take) * self.dim],
                    self.dim,
                    self.layout,
                );
                let chunk = &mut self.chunks[ci];
                ctx.queue.write_buffer(
                    &chunk.rows,
                    (chunk.len * wpr * 4) as u64,
                    bytemuck::cast_slice(&words),
                );
                chunk.len += take;
                done += take;
            }
            self.rows += n;
            self.dead.resize(self.rows.div_ceil(32), 0);
            ctx.count_uploaded(n);
            Ok(())
        })
    }

    fn new_chunk(&self, ctx: &GpuContext, capacity: usize) -> Result<Chunk, GpuError> {
        let bytes = (capacity * self.words_per_row() * 4) as u64;
        let rows = ctx.storage_buffer("engram rows", bytes, true)?;
        let dead = ctx.storage_buffer(
            "engram dead mask",
            (self.rows_per_chunk.div_ceil(32) * 4) as u64,
            false,
        )?;
        Ok(Chunk {
            rows,
            dead,
            capacity,
            len: 0,
        })
    }

    /// Replaces chunk `ci`'s row buffer by one holding `cap` rows, copying on the device.
    fn grow(&mut self, ctx: &GpuContext, ci: usize, cap: usize) -> Result<(), GpuError> {
        let bytes = (cap * self.words_per_row() * 4) as u64;
        let new = ctx.storage_buffer("engram rows", bytes, true)?;
        let old = &self.chunks[ci];
        if old.len > 0 {
            let mut enc = ctx.encoder();
            enc.copy_buffer_to_buffer(
                &old.rows,
                0,
                &new,
                0,
                (old.len * self.words_per_row() * 4) as u64,
            );
            ctx.queue.submit([enc.finish()]);
        }
        let chunk = &mut self.chunks[ci];
        chunk.rows = new;
        chunk.capacity = cap;
        Ok(())
    }

    /// Marks `row` dead: it is never returned or clustered again. Idempotent.
    pub fn set_dead(&mut self, ctx: &GpuContext, row: usize) -> Result<(), GpuError> {
        if row >= self.rows {
            return Err(GpuError::Unsupported(format!(
                "row {row} out of range ({} rows)",
                self.rows
            )));
        }
        if self.is_dead(row) {
            return Ok(());
        }
        self.dead[row / 32] |= 1 << (row % 32);
        self.dead_count += 1;
        let ci = row / self.rows_per_chunk;
        let local = row % self.rows_per_chunk;
        // The chunk's mask word, rebuilt from the host mirror.
        let word = self.mask_word(ci, local / 32);
        ctx.scoped(|| {
            ctx.queue.write_buffer(
                &self.chunks[ci].dead,
                (local / 32 * 4) as u64,
                bytemuck::bytes_of(&word),
            );
            Ok(())
        })
    }

    /// Word `w` of chunk `ci`'s dead mask (chunks need not start on a 32-row boundary).
    fn mask_word(&self, ci: usize, w: usize) -> u32 {
        let base = self.chunk_base(ci) + w * 32;
        (0..32).fold(0u32, |acc, b| {
            let r = base + b;
            let in_chunk = w * 32 + b < self.rows_per_chunk;
            if in_chunk && r < self.rows && self.is_dead(r) {
                acc | (1 << b)
            } else {
                acc
            }
        })
    }
}

const GATHER_SRC: &str = super::shaders::GATHER_ROWS.source;
const GATHER_WG: u32 = 64;

impl GpuMatrix {
    /// A new matrix holding rows `rows` of this one, in that order (row `i` of the result is
    /// row `rows[i]` of `self`), copied on the device: only the indices cross the bus, and the
    /// rows keep their layout (f16 rows stay f16, bit for bit).
    ///
    /// # Errors
    /// [`GpuError::Unsupported`] when an index is out of range or names a dead row; device
    /// errors as for any kernel.
    pub fn gather(&self, ctx: &GpuContext, rows: &[u32]) -> Result<GpuMatrix, GpuError> {
        for (i, &r) in rows.iter().enumerate() {
            if self.is_dead(r as usize) {
                return Err(GpuError::Unsupported(format!(
                    "gather index {i}: row {r} is dead or out of range ({} rows)",
                    self.rows
                )));
            }
        }
        if rows.len() >= u32::MAX as usize {
            return Err(GpuError::Unsupported(format!(
                "{} rows exceed the 32-bit row indices of the GPU kernels",
                rows.len()
            )));
        }
        let mut out = GpuMatrix::new(ctx, self.dim, self.layout)?;
        let rpc = out.rows_per_chunk;
        // (source chunk, destination chunk) → (source local, destination local) pairs.
        let mut groups: BTreeMap<(usize, usize), Vec<[u32; 2]>> = BTreeMap::new();
        for (i, &r) in rows.iter().enumerate() {
            let r = r as usize;
            groups
                .entry((r / self.rows_per_chunk, i / rpc))
                .or_default()
                .push([(r % self.rows_per_chunk) as u32, (i % rpc) as u32]);
        }
        let wpr = self.words_per_row();
        // Pairs per dispatch: within the binding limit and with a word index below 2³¹.
        let per_dispatch = ((ctx.binding_limit() / 8) as usize)
            .min((1usize << 31) / wpr)
            .max(1);
        ctx.scoped(|| {
            let mut left = rows.len();
            while left > 0 {
                let cap = left.min(rpc);
                let mut chunk = out.new_chunk(ctx, cap)?;
                chunk.len = cap;
                out.chunks.push(chunk);
                left -= cap;
            }
            out.rows = rows.len();
            out.dead = vec![0; out.rows.div_ceil(32)];
            let pipe = ctx.pipeline("gather_rows", GATHER_SRC, &[("WG", f64::from(GATHER_WG))])?;
            let max_x = ctx.capabilities().max_workgroups_per_dimension.max(1) as usize;
            let mut enc = ctx.encoder();
            for (&(sc, dc), pairs) in &groups {
                for part in pairs.chunks(per_dispatch) {
                    let pbuf =
                        ctx.storage_init("engram gather pairs", bytemuck::cast_slice(part))?;
                    let groups_needed = (part.len() * wpr).div_ceil(GATHER_WG as usize);
                    let nx = groups_needed.clamp(1, max_x);
                    let ny = groups_needed.div_ceil(nx).max(1);
                    let params = GatherParams {
                        wpr: wpr as u32,
                        n_pairs: part.len() as u32,
                        nx: nx as u32,
                        _pad: 0,
                    };
                    let ubuf = ctx.uniform("engram gather params", &params);
                    ctx.dispatch(
                        &mut enc,
                        &pipe,
                        &[&self.chunks[sc].rows, &pbuf, &out.chunks[dc].rows, &ubuf],
                        (nx as u32, ny as u32, 1),
                    );
                }
            }
            ctx.queue.submit([enc.finish()]);
            Ok(())
        })?;
        Ok(out)
    }
}

#[repr(C)]
#[derive(Clone, Copy, Debug, bytemuck::Pod, bytemuck::Zeroable)]
struct GatherParams {
    wpr: u32,
    n_pairs: u32,
    nx: u32,
    _pad: u32,
}

/// `u32` words per stored row.
pub(crate) fn words_per_row(dim: usize, layout: GpuLayout) -> usize {
    match layout {
        GpuLayout::F32 => dim,
        GpuLayout::F16 => dim.div_ceil(2),
    }
}

/// Encodes rows into device words.
fn encode(rows: &[f32], dim: usize, layout: GpuLayout) -> Vec<u32> {
    match layout {
        GpuLayout::F32 => rows.iter().map(|x| x.to_bits()).collect(),
        GpuLayout::F16 => {
            let wpr = dim.div_ceil(2);
            let mut out = Vec::with_capacity(rows.len() / dim * wpr);
            for row in rows.chunks_exact(dim) {
                for pair in row.chunks(2) {
                    let lo = half::f16::from_f32(pair[0]).to_bits() as u32;
                    let hi = pair.get(1).map_or(0, |x| half::f16::from_f32(*x).to_bits()) as u32;
                    out.push(lo | (hi << 16));
                }
            }
            out
        }
    }
}
