//! Views of stored rows that the kernels read: a block of rows in either layout ([`Rows`]),
//! a block with the global index of its first row ([`RowChunk`]) and the tombstones of an
//! arena ([`RowMask`]). The arena (the `vectors` module) owns the rows; the kernels only
//! borrow them.

use half::f16;

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

    /// Bytes the mask holds allocated.
    pub fn memory_bytes(&self) -> usize {
        self.words.capacity() * 8
    }
}

/// A block of stored rows, in either layout.
#[derive(Debug, Clone, Copy)]
pub enum Rows<'a> {
    /// f32 rows, row-major.
    F32(&'a [f32]),
    /// f16 rows, row-major.
    F16(&'a [f16]),
}

impl Rows<'_> {
    /// Number of rows for a dimension.
    pub fn count(&self, dim: usize) -> usize {
        match self {
            Rows::F32(r) => r.len() / dim,
            Rows::F16(r) => r.len() / dim,
        }
    }

    /// Rows `start..end` of this block.
    pub fn slice(&self, dim: usize, start: usize, end: usize) -> Self {
        match self {
            Rows::F32(r) => Rows::F32(&r[start * dim..end * dim]),
            Rows::F16(r) => Rows::F16(&r[start * dim..end * dim]),
        }
    }
}

/// One contiguous block of rows and the global index of its first row.
#[derive(Debug, Clone, Copy)]
pub struct RowChunk<'a> {
    /// Global index of the first row.
    pub first_row: usize,
    /// The rows.
    pub rows: Rows<'a>,
}

/// Every row of an arena as the kernels see it: its chunks in order (each starting where the
/// previous one ended), the dimension and the tombstones. What a resident GPU copy is
/// synchronised from.
#[derive(Debug, Clone)]
pub struct RowSet<'a> {
    /// Components per row.
    pub dim: usize,
    /// The chunks, by ascending first row, without gaps.
    pub chunks: Vec<RowChunk<'a>>,
    /// The tombstoned rows.
    pub dead: &'a RowMask,
}

impl RowSet<'_> {
    /// Rows stored, tombstones included.
    pub fn len(&self) -> usize {
        self.chunks
            .last()
            .map_or(0, |c| c.first_row + c.rows.count(self.dim))
    }

    /// Whether no row is stored.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Appends rows `start..end` to `out` as f32 (f16 rows converted exactly). Rows past the
    /// end are not there to append: the range is clipped to [`RowSet::len`].
    pub fn extend_f32(&self, start: usize, end: usize, out: &mut Vec<f32>) {
        let dim = self.dim;
        for c in &self.chunks {
            let n = c.rows.count(dim);
            let (lo, hi) = (start.max(c.first_row), end.min(c.first_row + n));
            if lo >= hi {
                continue;
            }
            match c.rows.slice(dim, lo - c.first_row, hi - c.first_row) {
                Rows::F32(r) => out.extend_from_slice(r),
                Rows::F16(r) => out.extend(r.iter().map(|x| x.to_f32())),
            }
        }
    }
}
