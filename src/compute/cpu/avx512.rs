//! AVX-512F kernels for x86-64 (512-bit vectors): the f16 scan and the panel kernels of
//! batched search and k-means. Every function here requires AVX-512F (and the AVX2, FMA
//! features named on it): callers check them at run time ([`super::SimdLevel::Avx512`])
//! before calling.

use std::arch::x86_64::*;

use half::f16;

use super::Pusher;

/// Fused scan of one query over a block of f16 rows, dot products straight into the top-k.
/// The f16 scan is bound by unpacking, not memory: AVX-512 unpacks 16 components per
/// instruction.
///
/// # Safety
/// The CPU must support AVX-512F.
#[target_feature(enable = "avx512f")]
pub unsafe fn scan_f16(
    query: &[f32],
    rows: &[f16],
    dim: usize,
    first_row: usize,
    out: &mut Pusher<'_>,
) {
    for (i, row) in rows.chunks_exact(dim).enumerate() {
        out.offer(dot_f16(query, row), first_row + i);
    }
}

/// Dot product of an f32 query with an f16 row, unpacking 16 components per instruction.
///
/// # Safety
/// The CPU must support AVX-512F; `a` and `b` must have the same length.
#[target_feature(enable = "avx512f")]
unsafe fn dot_f16(a: &[f32], b: &[f16]) -> f32 {
    let n = a.len().min(b.len());
    let (pa, pb) = (a.as_ptr(), b.as_ptr());
    let mut acc0 = _mm512_setzero_ps();
    let mut acc1 = _mm512_setzero_ps();
    let mut i = 0;
    while i + 32 <= n {
        let h0 = _mm512_cvtph_ps(_mm256_loadu_si256(pb.add(i) as *const __m256i));
        let h1 = _mm512_cvtph_ps(_mm256_loadu_si256(pb.add(i + 16) as *const __m256i));
        acc0 = _mm512_fmadd_ps(_mm512_loadu_ps(pa.add(i)), h0, acc0);
        acc1 = _mm512_fmadd_ps(_mm512_loadu_ps(pa.add(i + 16)), h1, acc1);
        i += 32;
    }
    while i + 16 <= n {
        let h0 = _mm512_cvtph_ps(_mm256_loadu_si256(pb.add(i) as *const __m256i));
        acc0 = _mm512_fmadd_ps(_mm512_loadu_ps(pa.add(i)), h0, acc0);
        i += 16;
    }
    let mut s = _mm512_reduce_add_ps(_mm512_add_ps(acc0, acc1));
    while i < n {
        s += *pa.add(i) * (*pb.add(i)).to_f32();
        i += 1;
    }
    s
}

/// Scores of eight rows against a panel of sixteen queries stored transposed, and a bit per
/// row that has a score at or above its query's threshold in `thr` (sixteen thresholds)
/// (`panel[k * 16 + j]` = component `k` of query `j`): `out[r * 16 + j] = dot(row r, query j)`.
///
/// The GEMM micro-kernel shape: each step loads one panel vector (the sixteen queries'
/// component `k`) and broadcasts one component of each row, so every FMA fills sixteen
/// lanes with useful products and no horizontal sums are needed.
///
/// # Safety
/// The CPU must support AVX-512F; every row must have length `dim`, `panel` `dim × 16` and
/// `thr` 16.
#[target_feature(enable = "avx512f,avx2,fma")]
pub unsafe fn block_8x16(
    rows: [&[f32]; 8],
    panel: &[f32],
    thr: &[f32],
    dim: usize,
    out: &mut [f32; 128],
) -> u32 {
    let mut acc = [_mm512_setzero_ps(); 8];
    let rp = rows.map(|r| r.as_ptr());
    let q = panel.as_ptr();
    let mut k = 0;
    while k + 2 <= dim {
        let b = _mm512_loadu_ps(q.add(k * 16));
        let c = _mm512_loadu_ps(q.add(k * 16 + 16));
        for r in 0..8 {
            acc[r] = _mm512_fmadd_ps(_mm512_set1_ps(*rp[r].add(k)), b, acc[r]);
        }
        for r in 0..8 {
            acc[r] = _mm512_fmadd_ps(_mm512_set1_ps(*rp[r].add(k + 1)), c, acc[r]);
        }
        k += 2;
    }
    if k < dim {
        let b = _mm512_loadu_ps(q.add(k * 16));
        for r in 0..8 {
            acc[r] = _mm512_fmadd_ps(_mm512_set1_ps(*rp[r].add(k)), b, acc[r]);
        }
    }
    let t = _mm512_loadu_ps(thr.as_ptr());
    let mut flags = 0u32;
    for (r, a) in acc.iter().enumerate() {
        _mm512_storeu_ps(out.as_mut_ptr().add(r * 16), *a);
        if _mm512_cmp_ps_mask::<_CMP_GE_OQ>(*a, t) != 0 {
            flags |= 1 << r;
        }
    }
    flags
}

/// [`block_8x16`] over two panels at once (thirty-two queries): each broadcast row
/// component serves two panel vectors, so the kernel does sixteen FMAs for ten loads.
/// `out[r * 32 + j]`: row `r` against query `j` of the pair (the second panel's at `16 + j`).
///
/// # Safety
/// The CPU must support AVX-512F; every row must have length `dim` and each panel `dim × 16`.
#[target_feature(enable = "avx512f,avx2,fma")]
pub unsafe fn block_8x32(
    rows: [&[f32]; 8],
    panels: [&[f32]; 2],
    thr: &[f32],
    dim: usize,
    out: &mut [f32; 256],
) -> u32 {
    let mut lo = [_mm512_setzero_ps(); 8];
    let mut hi = [_mm512_setzero_ps(); 8];
    let rp = rows.map(|r| r.as_ptr());
    let (p0, p1) = (panels[0].as_ptr(), panels[1].as_ptr());
    for k in 0..dim {
        let b0 = _mm512_loadu_ps(p0.add(k * 16));
        let b1 = _mm512_loadu_ps(p1.add(k * 16));
        for r in 0..8 {
            let x = _mm512_set1_ps(*rp[r].add(k));
            lo[r] = _mm512_fmadd_ps(x, b0, lo[r]);
            hi[r] = _mm512_fmadd_ps(x, b1, hi[r]);
        }
    }
    let (t0, t1) = (
        _mm512_loadu_ps(thr.as_ptr()),
        _mm512_loadu_ps(thr.as_ptr().add(16)),
    );
    let mut flags = 0u32;
    for r in 0..8 {
        _mm512_storeu_ps(out.as_mut_ptr().add(r * 32), lo[r]);
        _mm512_storeu_ps(out.as_mut_ptr().add(r * 32 + 16), hi[r]);
        if (_mm512_cmp_ps_mask::<_CMP_GE_OQ>(lo[r], t0)
            | _mm512_cmp_ps_mask::<_CMP_GE_OQ>(hi[r], t1))
            != 0
        {
            flags |= 1 << r;
        }
    }
    flags
}

/// `iters` steps of sixteen independent 512-bit FMAs on registers (no memory traffic): the
/// FMA peak. Returns a value that depends on every lane, so nothing is optimised away.
///
/// # Safety
/// The CPU must support AVX-512F.
#[target_feature(enable = "avx512f,avx2,fma")]
pub unsafe fn fma_loop(iters: usize, seed: f32) -> f32 {
    let m = _mm512_set1_ps(0.999_999);
    let a = _mm512_set1_ps(seed * 1e-7);
    let mut acc = [_mm512_set1_ps(seed); 16];
    for _ in 0..iters {
        for x in acc.iter_mut() {
            *x = _mm512_fmadd_ps(*x, m, a);
        }
    }
    let mut s = _mm512_setzero_ps();
    for x in acc {
        s = _mm512_add_ps(s, x);
    }
    _mm512_reduce_add_ps(s)
}
