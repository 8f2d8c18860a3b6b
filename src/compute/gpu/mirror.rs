//! The resident GPU copy of an arena's rows: one [`GpuMatrix`] per stored layout, brought up to
//! date before GPU work by uploading only the rows it lacks and masking the rows tombstoned
//! since the last call.

use super::{GpuContext, GpuLayout, GpuMatrix};
use crate::compute::error::GpuError;
use crate::compute::rows::RowSet;

/// Rows uploaded per transfer while catching up (64 Ki rows: 96 MiB at 384 f32 components).
const UPLOAD_ROWS: usize = 65_536;

/// Resident GPU copies of an arena's rows (one per layout), synchronised lazily.
#[derive(Default)]
pub struct GpuMirror {
    f32_rows: Option<GpuMatrix>,
    f16_rows: Option<GpuMatrix>,
    uploaded: u64,
}

impl std::fmt::Debug for GpuMirror {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GpuMirror")
            .field("f32_rows", &self.f32_rows.as_ref().map(|m| m.len()))
            .field("f16_rows", &self.f16_rows.as_ref().map(|m| m.len()))
            .field("uploaded", &self.uploaded)
            .finish()
    }
}

impl GpuMirror {
    /// Rows uploaded since this mirror was made, over both layouts: what a caller can check to
    /// see that only new rows crossed the bus.
    pub fn uploaded_rows(&self) -> u64 {
        self.uploaded
    }

    /// Rows resident in `layout` (tombstoned ones included), if that copy exists.
    pub fn resident_rows(&self, layout: GpuLayout) -> Option<usize> {
        self.slot(layout).as_ref().map(GpuMatrix::len)
    }

    /// The copy in `layout` if it holds exactly the rows and tombstones of `rows` (nothing to
    /// upload or mask), else `None`.
    ///
    /// The copy only ever holds rows of `rows` and masks rows `rows` tombstoned (tombstones
    /// are never lifted; moved rows mean a new mirror), so equal lengths and equal tombstone
    /// counts mean equal contents.
    pub fn current(&self, rows: &RowSet<'_>, layout: GpuLayout) -> Option<&GpuMatrix> {
        self.slot(layout)
            .as_ref()
            .filter(|m| m.len() == rows.len() && m.len() - m.live() == rows.dead.count())
    }

    fn slot(&self, layout: GpuLayout) -> &Option<GpuMatrix> {
        match layout {
            GpuLayout::F32 => &self.f32_rows,
            GpuLayout::F16 => &self.f16_rows,
        }
    }

    /// Uploads the rows of `rows` the copy in `layout` lacks and masks the rows tombstoned
    /// since the last call; returns that copy. Rows are appended, never rewritten: when the
    /// arena's rows move (compaction), drop the mirror first.
    pub fn sync(
        &mut self,
        ctx: &GpuContext,
        rows: &RowSet<'_>,
        layout: GpuLayout,
    ) -> Result<&GpuMatrix, GpuError> {
        let slot = match layout {
            GpuLayout::F32 => &mut self.f32_rows,
            GpuLayout::F16 => &mut self.f16_rows,
        };
        let m = match slot {
            Some(m) => m,
            None => slot.insert(GpuMatrix::new(ctx, rows.dim, layout)?),
        };
        let len = rows.len();
        let mut batch = Vec::new();
        while m.len() < len {
            let (start, end) = (m.len(), (m.len() + UPLOAD_ROWS).min(len));
            batch.clear();
            rows.extend_f32(start, end, &mut batch);
            if batch.len() != (end - start) * rows.dim {
                return Err(GpuError::Unsupported(format!(
                    "the row set lacks rows {start}..{end} (its chunks leave a gap)"
                )));
            }
            m.append(ctx, &batch)?;
            self.uploaded += (end - start) as u64;
        }
        for (w, &word) in rows.dead.words().iter().enumerate() {
            let mut bits = word;
            while bits != 0 {
                let row = w * 64 + bits.trailing_zeros() as usize;
                bits &= bits - 1;
                if !m.is_dead(row) {
                    m.set_dead(ctx, row)?;
                }
            }
        }
        Ok(m)
    }
}
