//! The embedding arena: unit-normalised rows in chunks no larger than a byte limit, as f32,
//! f16 or both; deleted rows are tombstoned until [`VectorArena::compact`] reclaims them.

use std::mem::MaybeUninit;

use half::f16;
use half::slice::HalfFloatSliceExt;

pub use crate::compute::rows::RowMask;
use crate::compute::rows::{RowChunk, RowSet, Rows};
use crate::config::Precision;
use crate::error::InputError;

/// Checks every row of a flat batch (dimension, finiteness, non-zero length) and returns the
/// reciprocal norm of each. Nothing is written: a bad row makes the whole batch fail, naming
/// the row.
pub fn validate_rows(rows: &[f32], dim: usize) -> Result<Vec<f32>, InputError> {
    if dim == 0 || !rows.len().is_multiple_of(dim) {
        return Err(InputError::RaggedBatch {
            len: rows.len(),
            dim,
        });
    }
    rows.chunks_exact(dim)
        .enumerate()
        .map(|(i, r)| inv_norm(r, i))
        .collect()
}

/// Checks one vector and returns its reciprocal norm.
pub fn validate_one(v: &[f32], dim: usize) -> Result<f32, InputError> {
    if v.len() != dim {
        return Err(InputError::DimensionMismatch {
            expected: dim,
            got: v.len(),
            row: 0,
        });
    }
    inv_norm(v, 0)
}

/// Validates and writes one block of rows (row indices from `first`) into uninitialised
/// destination slots, scaled to unit length.
fn write_block(
    src: &[f32],
    dim: usize,
    first: usize,
    d32: Option<&mut [MaybeUninit<f32>]>,
    d16: Option<&mut [MaybeUninit<f16>]>,
) -> Result<(), InputError> {
    let mut scratch = vec![0.0f32; dim];
    let mut h = vec![f16::ZERO; dim];
    let (mut d32, mut d16) = (d32, d16);
    for (j, r) in src.chunks_exact(dim).enumerate() {
        let inv = inv_norm(r, first + j)?;
        for (d, x) in scratch.iter_mut().zip(r) {
            *d = x * inv;
        }
        if let Some(d) = d32.as_deref_mut() {
            for (slot, &x) in d[j * dim..(j + 1) * dim].iter_mut().zip(&scratch) {
                slot.write(x);
            }
        }
        if let Some(d) = d16.as_deref_mut() {
            h.convert_from_f32_slice(&scratch);
            for (slot, &x) in d[j * dim..(j + 1) * dim].iter_mut().zip(&h) {
                slot.write(x);
            }
        }
    }
    Ok(())
}

/// Asks the kernel to back a large allocation with transparent huge pages (Linux only; a
/// hint, so failures are ignored).
pub(crate) fn advise_huge(ptr: *const u8, bytes: usize) {
    #[cfg(target_os = "linux")]
    {
        const HUGE: usize = 2 << 20;
        if bytes < 2 * HUGE {
            return;
        }
        let start = (ptr as usize).div_ceil(HUGE) * HUGE;
        let end = (ptr as usize + bytes) / HUGE * HUGE;
        if end > start {
            // SAFETY: the range lies inside one live allocation; MADV_HUGEPAGE only changes
            // how the kernel backs it and never invalidates its contents.
            unsafe {
                libc::madvise(start as *mut libc::c_void, end - start, libc::MADV_HUGEPAGE);
            }
        }
    }
    #[cfg(not(target_os = "linux"))]
    let _ = (ptr, bytes);
}

fn inv_norm(r: &[f32], row: usize) -> Result<f32, InputError> {
    // Eight independent lanes so the loop vectorises; finiteness is checked on the sum
    // first and located only when something is wrong.
    let mut acc = [0.0f32; 8];
    let mut chunks = r.chunks_exact(8);
    for c in &mut chunks {
        for j in 0..8 {
            acc[j] += c[j] * c[j];
        }
    }
    let mut ss: f32 = acc.iter().sum();
    for x in chunks.remainder() {
        ss += x * x;
    }
    if !ss.is_finite() {
        if let Some((col, &value)) = r.iter().enumerate().find(|(_, x)| !x.is_finite()) {
            return Err(InputError::NonFinite { row, col, value });
        }
        // Finite but huge components: the square overflowed; redo in f64.
        let ss64: f64 = r.iter().map(|&x| (x as f64) * (x as f64)).sum();
        return Ok((1.0 / ss64.sqrt()) as f32);
    }
    if ss == 0.0 || ss < f32::MIN_POSITIVE {
        let ss64: f64 = r.iter().map(|&x| (x as f64) * (x as f64)).sum();
        if ss64 == 0.0 {
            return Err(InputError::ZeroVector { row });
        }
        let inv = 1.0 / ss64.sqrt();
        if !inv.is_finite() || inv > f32::MAX as f64 {
            return Err(InputError::ZeroVector { row });
        }
        return Ok(inv as f32);
    }
    Ok(1.0 / ss.sqrt())
}

/// Unit-normalised rows in chunks of at most `rows_per_chunk` rows each.
#[derive(Debug, Clone)]
pub struct VectorArena {
    dim: usize,
    precision: Precision,
    rows_per_chunk: usize,
    f32_chunks: Vec<Vec<f32>>,
    f16_chunks: Vec<Vec<f16>>,
    len: usize,
    dead: RowMask,
    /// Whether new chunks ask for transparent huge pages (see [`VectorArena::open_chunk`]).
    huge_pages: bool,
}

impl VectorArena {
    /// An empty arena whose chunks hold at most `chunk_bytes` of f32 rows each.
    pub fn new(dim: usize, precision: Precision, chunk_bytes: usize) -> Self {
        let rows_per_chunk = (chunk_bytes / (dim.max(1) * 4)).max(1);
        Self {
            dim,
            precision,
            rows_per_chunk,
            f32_chunks: Vec::new(),
            f16_chunks: Vec::new(),
            len: 0,
            dead: RowMask::default(),
            huge_pages: true,
        }
    }

    /// Whether chunks opened from now on ask for transparent huge pages (default: yes). They
    /// make ingest's first-touch page faults cheap, but when no huge page is free the kernel
    /// may compact memory synchronously for them, which stalls a bulk load of already-checked
    /// rows (opening a store) for seconds; the load turns them off.
    pub(crate) fn set_huge_pages(&mut self, on: bool) {
        self.huge_pages = on;
    }

    /// The dimension.
    pub fn dim(&self) -> usize {
        self.dim
    }

    /// The storage precision.
    pub fn precision(&self) -> Precision {
        self.precision
    }

    /// Rows per chunk.
    pub fn rows_per_chunk(&self) -> usize {
        self.rows_per_chunk
    }

    /// Rows stored, tombstones included.
    pub fn len(&self) -> usize {
        self.len
    }

    /// Whether no row is stored.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Rows not tombstoned.
    pub fn live(&self) -> usize {
        self.len - self.dead.count()
    }

    /// The tombstones.
    pub fn dead(&self) -> &RowMask {
        &self.dead
    }

    /// Appends rows that were validated by [`validate_rows`], scaling each by its reciprocal
    /// norm. Returns the index of the first new row.
    pub fn push_scaled(&mut self, rows: &[f32], inv_norms: &[f32]) -> usize {
        let first = self.len;
        let mut scratch = vec![0.0f32; self.dim];
        for (r, &inv) in rows.chunks_exact(self.dim).zip(inv_norms) {
            self.push_row(r, inv, &mut scratch);
        }
        first
    }

    /// Validates and appends a flat batch in one pass over the input: each row's norm is
    /// computed and the scaled row written while the row is still in cache, in parallel over
    /// blocks of rows. All or nothing: a bad row makes the whole batch fail (the error names
    /// the first bad row) and leaves the arena as it was. Returns the index of the first new row.
    pub fn push_validated(&mut self, rows: &[f32]) -> Result<usize, InputError> {
        let dim = self.dim;
        if dim == 0 || !rows.len().is_multiple_of(dim) {
            return Err(InputError::RaggedBatch {
                len: rows.len(),
                dim,
            });
        }
        let first = self.len;
        let n = rows.len() / dim;
        let mut i = 0;
        while i < n {
            let in_chunk = self.len % self.rows_per_chunk;
            if in_chunk == 0 {
                self.open_chunk();
            }
            let take = (self.rows_per_chunk - in_chunk).min(n - i);
            if let Err(mut e) = self.write_rows(&rows[i * dim..(i + take) * dim]) {
                if let InputError::NonFinite { row, .. } | InputError::ZeroVector { row } = &mut e {
                    *row += i;
                }
                self.truncate(first);
                return Err(e);
            }
            i += take;
        }
        Ok(first)
    }

    /// Normalises `src` (whole rows that fit in the last chunk) into the chunks' spare capacity
    /// in parallel, and commits the lengths only when every row is valid.
    fn write_rows(&mut self, src: &[f32]) -> Result<(), InputError> {
        use rayon::prelude::*;
        let dim = self.dim;
        let take = src.len() / dim;
        self.reserve_rows(take);
        let has_f32 = self.precision.has_f32();
        let f32_dst = self
            .f32_chunks
            .last_mut()
            .filter(|_| has_f32)
            .map(|c| &mut c.spare_capacity_mut()[..take * dim]);
        let has_f16 = self.precision.has_f16();
        let f16_dst = self
            .f16_chunks
            .last_mut()
            .filter(|_| has_f16)
            .map(|c| &mut c.spare_capacity_mut()[..take * dim]);
        const BLOCK: usize = 1024;
        let block = BLOCK * dim;
        let f32_blocks: Vec<Option<&mut [MaybeUninit<f32>]>> = match f32_dst {
            Some(d) => d.chunks_mut(block).map(Some).collect(),
            None => (0..take.div_ceil(BLOCK)).map(|_| None).collect(),
        };
        let f16_blocks: Vec<Option<&mut [MaybeUninit<f16>]>> = match f16_dst {
            Some(d) => d.chunks_mut(block).map(Some).collect(),
            None => (0..take.div_ceil(BLOCK)).map(|_| None).collect(),
        };
        let results: Vec<Result<(), InputError>> = src
            .par_chunks(block)
            .zip(f32_blocks)
            .zip(f16_blocks)
            .enumerate()
            .map(|(b, ((src, d32), d16))| write_block(src, dim, b * BLOCK, d32, d16))
            .collect();
        results.into_iter().collect::<Result<(), InputError>>()?;
        // SAFETY: every element of the first `take * dim` spare slots of each kept layout was
        // written by `write_block` (it returned Ok for every block).
        unsafe {
            if let Some(c) = self
                .f32_chunks
                .last_mut()
                .filter(|_| self.precision.has_f32())
            {
                c.set_len(c.len() + take * dim);
            }
            if let Some(c) = self
                .f16_chunks
                .last_mut()
                .filter(|_| self.precision.has_f16())
            {
                c.set_len(c.len() + take * dim);
            }
        }
        self.len += take;
        Ok(())
    }

    /// Appends one row scaled by `inv` (`scratch` holds `dim` floats for the f16 conversion).
    #[inline]
    fn push_row(&mut self, r: &[f32], inv: f32, scratch: &mut [f32]) {
        if self.len.is_multiple_of(self.rows_per_chunk) {
            self.open_chunk();
        }
        self.reserve_rows(1);
        if let Some(c) = self
            .f32_chunks
            .last_mut()
            .filter(|_| self.precision.has_f32())
        {
            c.extend(r.iter().map(|x| x * inv));
        }
        if let Some(c) = self
            .f16_chunks
            .last_mut()
            .filter(|_| self.precision.has_f16())
        {
            for (d, x) in scratch.iter_mut().zip(r) {
                *d = x * inv;
            }
            let at = c.len();
            c.resize(at + self.dim, f16::ZERO);
            c[at..].convert_from_f32_slice(scratch);
        }
        self.len += 1;
    }

    /// Drops every row from `len` on (used to undo a partial append).
    fn truncate(&mut self, len: usize) {
        if len >= self.len {
            return;
        }
        fn cut<T>(v: &mut Vec<Vec<T>>, chunks: usize, keep: usize) {
            v.truncate(chunks);
            if let Some(c) = v.last_mut() {
                c.truncate(keep);
            }
        }
        let chunks = len.div_ceil(self.rows_per_chunk);
        let keep = (len - chunks.saturating_sub(1) * self.rows_per_chunk) * self.dim;
        cut(&mut self.f32_chunks, chunks, keep);
        cut(&mut self.f16_chunks, chunks, keep);
        self.len = len;
    }

    /// Opens a chunk with its whole capacity reserved up front (virtual memory: pages are
    /// only backed when written), asking Linux for transparent huge pages so that first-touch
    /// page faults do not dominate ingest.
    fn open_chunk(&mut self) {
        let cap = self.rows_per_chunk * self.dim;
        if self.precision.has_f32() {
            let v = Vec::<f32>::with_capacity(cap);
            if self.huge_pages {
                advise_huge(v.as_ptr().cast(), cap * 4);
            }
            self.f32_chunks.push(v);
        }
        if self.precision.has_f16() {
            let v = Vec::<f16>::with_capacity(cap);
            if self.huge_pages {
                advise_huge(v.as_ptr().cast(), cap * 2);
            }
            self.f16_chunks.push(v);
        }
    }

    /// Makes sure the last chunk can take `rows` more rows (a cloned or restored arena may
    /// hold chunks without their full reservation).
    fn reserve_rows(&mut self, rows: usize) {
        let full = self.rows_per_chunk * self.dim;
        let need = rows * self.dim;
        fn grow<T>(c: &mut Vec<T>, need: usize, full: usize) {
            if c.capacity() - c.len() < need {
                c.reserve_exact(full.max(c.len() + need) - c.len());
            }
        }
        if let Some(c) = self.f32_chunks.last_mut() {
            grow(c, need, full);
        }
        if let Some(c) = self.f16_chunks.last_mut() {
            grow(c, need, full);
        }
    }

    /// Overwrites row `row` with `v` scaled by `inv_norm`. Out-of-range rows are ignored.
    pub fn set_scaled(&mut self, row: usize, v: &[f32], inv_norm: f32) {
        if row >= self.len || v.len() != self.dim {
            return;
        }
        let (c, o) = (
            row / self.rows_per_chunk,
            (row % self.rows_per_chunk) * self.dim,
        );
        if let Some(ch) = self.f32_chunks.get_mut(c) {
            for (d, x) in ch[o..o + self.dim].iter_mut().zip(v) {
                *d = x * inv_norm;
            }
        }
        if let Some(ch) = self.f16_chunks.get_mut(c) {
            for (d, x) in ch[o..o + self.dim].iter_mut().zip(v) {
                *d = f16::from_f32(x * inv_norm);
            }
        }
    }

    /// Copies row `row` into `out` as f32 (from the f32 rows when kept, else widened from f16).
    /// Returns false when the row does not exist.
    pub fn read_row(&self, row: usize, out: &mut [f32]) -> bool {
        if row >= self.len || out.len() != self.dim {
            return false;
        }
        let (c, o) = (
            row / self.rows_per_chunk,
            (row % self.rows_per_chunk) * self.dim,
        );
        if let Some(ch) = self.f32_chunks.get(c) {
            out.copy_from_slice(&ch[o..o + self.dim]);
            true
        } else if let Some(ch) = self.f16_chunks.get(c) {
            for (d, s) in out.iter_mut().zip(&ch[o..o + self.dim]) {
                *d = s.to_f32();
            }
            true
        } else {
            false
        }
    }

    /// Row `row` as a new vector.
    pub fn row(&self, row: usize) -> Option<Vec<f32>> {
        let mut v = vec![0.0; self.dim];
        self.read_row(row, &mut v).then_some(v)
    }

    /// Tombstones a row; returns whether it was live.
    pub fn kill(&mut self, row: usize) -> bool {
        row < self.len && self.dead.insert(row)
    }

    /// Whether a row exists and is not tombstoned.
    pub fn is_live(&self, row: usize) -> bool {
        row < self.len && !self.dead.contains(row)
    }

    /// The f32 chunks with the index of their first row (empty when f32 is not kept).
    pub fn f32_chunks(&self) -> impl Iterator<Item = (usize, &[f32])> + '_ {
        let rpc = self.rows_per_chunk;
        self.f32_chunks
            .iter()
            .enumerate()
            .map(move |(i, c)| (i * rpc, c.as_slice()))
    }

    /// The f16 chunks with the index of their first row (empty when f16 is not kept).
    pub fn f16_chunks(&self) -> impl Iterator<Item = (usize, &[f16])> + '_ {
        let rpc = self.rows_per_chunk;
        self.f16_chunks
            .iter()
            .enumerate()
            .map(move |(i, c)| (i * rpc, c.as_slice()))
    }

    /// The chunks in the layout a search should read: f16 when `prefer_f16` and kept (or when
    /// only f16 is kept), else f32.
    pub fn row_chunks(&self, prefer_f16: bool) -> Vec<RowChunk<'_>> {
        let use_f16 = self.precision.has_f16() && (prefer_f16 || !self.precision.has_f32());
        if use_f16 {
            self.f16_chunks()
                .map(|(first_row, c)| RowChunk {
                    first_row,
                    rows: Rows::F16(c),
                })
                .collect()
        } else {
            self.f32_chunks()
                .map(|(first_row, c)| RowChunk {
                    first_row,
                    rows: Rows::F32(c),
                })
                .collect()
        }
    }

    /// Every row as the kernels see it ([`RowSet`]): the chunks [`VectorArena::read_row`]
    /// reads (f32 when kept, else f16), with the tombstones.
    pub fn row_set(&self) -> RowSet<'_> {
        RowSet {
            dim: self.dim,
            chunks: self.row_chunks(false),
            dead: &self.dead,
        }
    }

    /// Drops tombstoned rows, keeping the order of the others. Returns, for each old row, its
    /// new index (`None` for dropped rows).
    pub fn compact(&mut self) -> Vec<Option<usize>> {
        let old = std::mem::replace(
            self,
            VectorArena::new(self.dim, self.precision, self.rows_per_chunk * self.dim * 4),
        );
        let mut remap = Vec::with_capacity(old.len);
        let mut buf = vec![0.0f32; old.dim];
        let mut scratch = vec![0.0f32; old.dim];
        let mut next = 0;
        for row in 0..old.len {
            if old.dead.contains(row) || !old.read_row(row, &mut buf) {
                remap.push(None);
                continue;
            }
            // Stored rows are already unit length: copied with scale 1, so f32 rows are
            // bit-identical and f16 rows round-trip exactly through f32.
            self.push_row(&buf, 1.0, &mut scratch);
            remap.push(Some(next));
            next += 1;
        }
        remap
    }

    /// Bytes of stored rows and tombstones (the reserved, untouched tail of the last chunk is
    /// virtual memory and not counted).
    pub fn memory_bytes(&self) -> usize {
        self.f32_chunks.iter().map(|c| c.len() * 4).sum::<usize>()
            + self.f16_chunks.iter().map(|c| c.len() * 2).sum::<usize>()
            + self.dead.memory_bytes()
    }
}
