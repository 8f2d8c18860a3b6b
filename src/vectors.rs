//! The embedding arena: unit-normalised rows in chunks no larger than a byte limit, as f32,
//! f16 or both; deleted rows are tombstoned until [`VectorArena::compact`] reclaims them.

use half::f16;
use half::slice::HalfFloatSliceExt;

use crate::compute::cpu::{RowChunk, Rows};
use crate::config::Precision;
use crate::error::InputError;

/// A growable bit set of row indices (the tombstones of an arena).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RowMask {
    words: Vec<u64>,
    count: usize,
}

impl RowMask {
    /// Whether `row` is set.
    #[inline]
    pub fn contains(&self, row: usize) -> bool {
        self.words
            .get(row / 64)
            .is_some_and(|w| (w >> (row % 64)) & 1 == 1)
    }

    /// Sets `row`; returns whether it was newly set.
    pub fn insert(&mut self, row: usize) -> bool {
        let w = row / 64;
        if w >= self.words.len() {
            self.words.resize(w + 1, 0);
        }
        let bit = 1u64 << (row % 64);
        let new = self.words[w] & bit == 0;
        self.words[w] |= bit;
        self.count += new as usize;
        new
    }

    /// How many rows are set.
    pub fn count(&self) -> usize {
        self.count
    }

    /// Whether no row is set.
    pub fn is_empty(&self) -> bool {
        self.count == 0
    }

    /// The raw 64-bit words (bit `r % 64` of word `r / 64` is row `r`).
    pub fn words(&self) -> &[u64] {
        &self.words
    }
}

/// Checks every row of a flat batch (dimension, finiteness, non-zero length) and returns the
/// reciprocal norm of each. Nothing is written: a bad row makes the whole batch fail, naming
/// the row.
pub fn validate_rows(rows: &[f32], dim: usize) -> Result<Vec<f32>, InputError> {
    if dim == 0 || rows.len() % dim != 0 {
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
        }
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
        let dim = self.dim;
        let mut i = 0;
        let n = inv_norms.len();
        while i < n {
            let in_chunk = self.len % self.rows_per_chunk;
            if in_chunk == 0 {
                self.open_chunk();
            }
            let take = (self.rows_per_chunk - in_chunk).min(n - i);
            self.reserve_rows(take);
            let src = &rows[i * dim..(i + take) * dim];
            let norms = &inv_norms[i..i + take];
            if self.precision.has_f32() {
                if let Some(c) = self.f32_chunks.last_mut() {
                    for (r, &s) in src.chunks_exact(dim).zip(norms) {
                        c.extend(r.iter().map(|x| x * s));
                    }
                }
            }
            if self.precision.has_f16() {
                if let Some(c) = self.f16_chunks.last_mut() {
                    for (r, &s) in src.chunks_exact(dim).zip(norms) {
                        c.extend(r.iter().map(|x| f16::from_f32(x * s)));
                    }
                }
            }
            self.len += take;
            i += take;
        }
        first
    }

    /// Validates and appends a flat batch in one pass over the input: each row's norm is
    /// computed and the scaled row written while the row is still in cache. All or nothing: at
    /// the first bad row the rows written so far are removed again and the error names the row.
    /// Returns the index of the first new row.
    pub fn push_validated(&mut self, rows: &[f32]) -> Result<usize, InputError> {
        let dim = self.dim;
        if dim == 0 || rows.len() % dim != 0 {
            return Err(InputError::RaggedBatch {
                len: rows.len(),
                dim,
            });
        }
        let first = self.len;
        let n = rows.len() / dim;
        let mut scratch = vec![0.0f32; dim];
        let mut i = 0;
        while i < n {
            let in_chunk = self.len % self.rows_per_chunk;
            if in_chunk == 0 {
                self.open_chunk();
            }
            let take = (self.rows_per_chunk - in_chunk).min(n - i);
            self.reserve_rows(take);
            for (j, r) in rows[i * dim..(i + take) * dim]
                .chunks_exact(dim)
                .enumerate()
            {
                let inv = match inv_norm(r, i + j) {
                    Ok(v) => v,
                    Err(e) => {
                        self.truncate(first);
                        return Err(e);
                    }
                };
                if self.precision.has_f32() {
                    if let Some(c) = self.f32_chunks.last_mut() {
                        c.extend(r.iter().map(|x| x * inv));
                    }
                }
                if self.precision.has_f16() {
                    for (d, x) in scratch.iter_mut().zip(r) {
                        *d = x * inv;
                    }
                    if let Some(c) = self.f16_chunks.last_mut() {
                        let at = c.len();
                        c.resize(at + dim, f16::ZERO);
                        c[at..].convert_from_f32_slice(&scratch);
                    }
                }
                self.len += 1;
            }
            i += take;
        }
        Ok(first)
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

    fn open_chunk(&mut self) {
        if self.precision.has_f32() {
            self.f32_chunks.push(Vec::new());
        }
        if self.precision.has_f16() {
            self.f16_chunks.push(Vec::new());
        }
    }

    /// Makes room for `rows` more rows in the last chunk: capacity doubles but never exceeds
    /// one chunk, so a small store stays small and a large one wastes at most one chunk.
    fn reserve_rows(&mut self, rows: usize) {
        let max = self.rows_per_chunk * self.dim;
        let need = rows * self.dim;
        fn grow<T>(c: &mut Vec<T>, need: usize, max: usize) {
            if c.capacity() - c.len() < need {
                let target = (c.capacity() * 2).max(c.len() + need).min(max);
                c.reserve_exact(target.saturating_sub(c.len()));
            }
        }
        if let Some(c) = self.f32_chunks.last_mut() {
            grow(c, need, max);
        }
        if let Some(c) = self.f16_chunks.last_mut() {
            grow(c, need, max);
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

    /// Drops tombstoned rows, keeping the order of the others. Returns, for each old row, its
    /// new index (`None` for dropped rows).
    pub fn compact(&mut self) -> Vec<Option<usize>> {
        let old = std::mem::replace(
            self,
            VectorArena::new(self.dim, self.precision, self.rows_per_chunk * self.dim * 4),
        );
        let mut remap = Vec::with_capacity(old.len);
        let mut buf = vec![0.0f32; old.dim];
        let mut next = 0;
        for row in 0..old.len {
            if old.dead.contains(row) {
                remap.push(None);
                continue;
            }
            // Copy the stored representation exactly (no renormalisation drift).
            if old.precision.has_f32() {
                old.read_row(row, &mut buf);
                self.push_exact(&buf, old.f16_row(row));
            } else if let Some(h) = old.f16_row(row) {
                for (d, s) in buf.iter_mut().zip(h) {
                    *d = s.to_f32();
                }
                self.push_exact(&buf, Some(h));
            }
            remap.push(Some(next));
            next += 1;
        }
        remap
    }

    fn f16_row(&self, row: usize) -> Option<&[f16]> {
        let (c, o) = (
            row / self.rows_per_chunk,
            (row % self.rows_per_chunk) * self.dim,
        );
        self.f16_chunks.get(c).map(|ch| &ch[o..o + self.dim])
    }

    /// Appends one row exactly as given (already normalised), with its f16 form if known.
    fn push_exact(&mut self, v: &[f32], h: Option<&[f16]>) {
        if self.len % self.rows_per_chunk == 0 {
            self.open_chunk();
        }
        self.reserve_rows(1);
        if self.precision.has_f32() {
            if let Some(c) = self.f32_chunks.last_mut() {
                c.extend_from_slice(v);
            }
        }
        if self.precision.has_f16() {
            if let Some(c) = self.f16_chunks.last_mut() {
                match h {
                    Some(h) => c.extend_from_slice(h),
                    None => c.extend(v.iter().map(|&x| f16::from_f32(x))),
                }
            }
        }
        self.len += 1;
    }

    /// Bytes held by the rows (capacity, not just length).
    pub fn memory_bytes(&self) -> usize {
        self.f32_chunks
            .iter()
            .map(|c| c.capacity() * 4)
            .sum::<usize>()
            + self
                .f16_chunks
                .iter()
                .map(|c| c.capacity() * 2)
                .sum::<usize>()
            + self.dead.words.capacity() * 8
    }
}
