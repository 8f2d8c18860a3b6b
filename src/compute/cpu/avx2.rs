//! AVX2 + FMA (+ F16C) kernels for x86-64. Every function here requires those features: callers
//! check them at run time (see [`super::SimdLevel`]) before calling.

use std::arch::x86_64::*;

use half::f16;

use super::{Pusher, Rows};

#[inline(always)]
unsafe fn hsum(v: __m256) -> f32 {
    let s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
    let sh = _mm_movehdup_ps(s);
    let s2 = _mm_add_ps(s, sh);
    let sh2 = _mm_movehl_ps(sh, s2);
    _mm_cvtss_f32(_mm_add_ss(s2, sh2))
}

/// The four-accumulator dot-product loop over `n` components, with the second operand read
/// through `load` (eight components at `i`) and `at` (one component, for the tail).
#[inline(always)]
unsafe fn dot_loop(
    a: &[f32],
    n: usize,
    load: impl Fn(usize) -> __m256,
    at: impl Fn(usize) -> f32,
) -> f32 {
    let pa = a.as_ptr();
    let mut acc = [_mm256_setzero_ps(); 4];
    let mut i = 0;
    while i + 32 <= n {
        for (j, acc) in acc.iter_mut().enumerate() {
            *acc = _mm256_fmadd_ps(_mm256_loadu_ps(pa.add(i + 8 * j)), load(i + 8 * j), *acc);
        }
        i += 32;
    }
    while i + 8 <= n {
        acc[0] = _mm256_fmadd_ps(_mm256_loadu_ps(pa.add(i)), load(i), acc[0]);
        i += 8;
    }
    let mut s = hsum(_mm256_add_ps(
        _mm256_add_ps(acc[0], acc[1]),
        _mm256_add_ps(acc[2], acc[3]),
    ));
    while i < n {
        s += *pa.add(i) * at(i);
        i += 1;
    }
    s
}

/// Dot product with four accumulators.
///
/// # Safety
/// The CPU must support AVX2 and FMA; `a` and `b` must have the same length.
#[target_feature(enable = "avx2,fma")]
pub unsafe fn dot(a: &[f32], b: &[f32]) -> f32 {
    let n = a.len().min(b.len());
    let pb = b.as_ptr();
    dot_loop(a, n, |i| _mm256_loadu_ps(pb.add(i)), |i| *pb.add(i))
}

#[inline(always)]
unsafe fn load_f16x8(p: *const f16) -> __m256 {
    _mm256_cvtph_ps(_mm_loadu_si128(p as *const __m128i))
}

/// Dot product of an f32 query with an f16 row, unpacking with F16C.
///
/// # Safety
/// The CPU must support AVX2, FMA and F16C; `a` and `b` must have the same length.
#[target_feature(enable = "avx2,fma,f16c")]
pub unsafe fn dot_f16(a: &[f32], b: &[f16]) -> f32 {
    let n = a.len().min(b.len());
    let pb = b.as_ptr();
    dot_loop(a, n, |i| load_f16x8(pb.add(i)), |i| (*pb.add(i)).to_f32())
}

/// Fused scan of one query over a block of rows: dot products straight into the top-k; f16
/// rows with 512-bit unpacking when `wide`.
///
/// # Safety
/// The CPU must support AVX2, FMA and F16C, and AVX-512F when `wide`.
#[target_feature(enable = "avx2,fma,f16c")]
pub unsafe fn scan(
    query: &[f32],
    rows: Rows<'_>,
    dim: usize,
    first_row: usize,
    wide: bool,
    out: &mut Pusher<'_>,
) {
    match rows {
        Rows::F32(r) => {
            for (i, row) in r.chunks_exact(dim).enumerate() {
                let s = dot(query, row);
                out.offer(s, first_row + i);
            }
        }
        Rows::F16(r) if wide => {
            // The f16 scan is bound by unpacking, not memory: AVX-512 unpacks 16 per instruction.
            for (i, row) in r.chunks_exact(dim).enumerate() {
                out.offer(dot_f16_avx512(query, row), first_row + i);
            }
        }
        Rows::F16(r) => {
            // Two rows per step: each query vector loaded once serves both rows.
            let mut pairs = r.chunks_exact(2 * dim);
            let mut i = first_row;
            for pair in &mut pairs {
                let (a, b) = pair.split_at(dim);
                let (sa, sb) = dot_f16_pair(query, a, b);
                out.offer(sa, i);
                out.offer(sb, i + 1);
                i += 2;
            }
            for row in pairs.remainder().chunks_exact(dim) {
                out.offer(dot_f16(query, row), i);
                i += 1;
            }
        }
    }
}

/// Dot product of an f32 query with an f16 row, unpacking 16 components per instruction.
///
/// # Safety
/// The CPU must support AVX-512F; `a` and `b` must have the same length.
#[target_feature(enable = "avx512f")]
unsafe fn dot_f16_avx512(a: &[f32], b: &[f16]) -> f32 {
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

/// Dot products of one f32 query with two f16 rows.
///
/// # Safety
/// The CPU must support AVX2, FMA and F16C; all slices must have the same length.
#[target_feature(enable = "avx2,fma,f16c")]
unsafe fn dot_f16_pair(q: &[f32], a: &[f16], b: &[f16]) -> (f32, f32) {
    let n = q.len().min(a.len()).min(b.len());
    let (pq, pa, pb) = (q.as_ptr(), a.as_ptr(), b.as_ptr());
    let mut a0 = _mm256_setzero_ps();
    let mut a1 = _mm256_setzero_ps();
    let mut b0 = _mm256_setzero_ps();
    let mut b1 = _mm256_setzero_ps();
    let mut i = 0;
    while i + 16 <= n {
        let q0 = _mm256_loadu_ps(pq.add(i));
        let q1 = _mm256_loadu_ps(pq.add(i + 8));
        a0 = _mm256_fmadd_ps(q0, load_f16x8(pa.add(i)), a0);
        a1 = _mm256_fmadd_ps(q1, load_f16x8(pa.add(i + 8)), a1);
        b0 = _mm256_fmadd_ps(q0, load_f16x8(pb.add(i)), b0);
        b1 = _mm256_fmadd_ps(q1, load_f16x8(pb.add(i + 8)), b1);
        i += 16;
    }
    while i + 8 <= n {
        let q0 = _mm256_loadu_ps(pq.add(i));
        a0 = _mm256_fmadd_ps(q0, load_f16x8(pa.add(i)), a0);
        b0 = _mm256_fmadd_ps(q0, load_f16x8(pb.add(i)), b0);
        i += 8;
    }
    let mut sa = hsum(_mm256_add_ps(a0, a1));
    let mut sb = hsum(_mm256_add_ps(b0, b1));
    while i < n {
        let x = *pq.add(i);
        sa += x * (*pa.add(i)).to_f32();
        sb += x * (*pb.add(i)).to_f32();
        i += 1;
    }
    (sa, sb)
}

/// Reduces eight accumulators to one vector of their eight horizontal sums.
#[inline(always)]
unsafe fn hsum8(a: [__m256; 8]) -> __m256 {
    let t0 = _mm256_hadd_ps(a[0], a[1]);
    let t1 = _mm256_hadd_ps(a[2], a[3]);
    let t2 = _mm256_hadd_ps(a[4], a[5]);
    let t3 = _mm256_hadd_ps(a[6], a[7]);
    let u0 = _mm256_hadd_ps(t0, t1);
    let u1 = _mm256_hadd_ps(t2, t3);
    let lo = _mm256_permute2f128_ps(u0, u1, 0x20);
    let hi = _mm256_permute2f128_ps(u0, u1, 0x31);
    _mm256_add_ps(lo, hi)
}

/// Scores of two queries against four rows: `out[q * 4 + r] = dot(query q, row r)`.
///
/// Each loaded row vector is used for both queries and each query vector for four rows, so
/// the kernel does eight FMAs for six loads.
///
/// # Safety
/// The CPU must support AVX2 and FMA; every slice must have length `dim`.
#[target_feature(enable = "avx2,fma")]
pub unsafe fn block_2x4(q: [&[f32]; 2], r: [&[f32]; 4], dim: usize, out: &mut [f32; 8]) {
    let mut acc = [_mm256_setzero_ps(); 8];
    let (q0, q1) = (q[0].as_ptr(), q[1].as_ptr());
    let (r0, r1, r2, r3) = (r[0].as_ptr(), r[1].as_ptr(), r[2].as_ptr(), r[3].as_ptr());
    let mut i = 0;
    while i + 8 <= dim {
        let a0 = _mm256_loadu_ps(q0.add(i));
        let a1 = _mm256_loadu_ps(q1.add(i));
        let b0 = _mm256_loadu_ps(r0.add(i));
        let b1 = _mm256_loadu_ps(r1.add(i));
        let b2 = _mm256_loadu_ps(r2.add(i));
        let b3 = _mm256_loadu_ps(r3.add(i));
        acc[0] = _mm256_fmadd_ps(a0, b0, acc[0]);
        acc[1] = _mm256_fmadd_ps(a0, b1, acc[1]);
        acc[2] = _mm256_fmadd_ps(a0, b2, acc[2]);
        acc[3] = _mm256_fmadd_ps(a0, b3, acc[3]);
        acc[4] = _mm256_fmadd_ps(a1, b0, acc[4]);
        acc[5] = _mm256_fmadd_ps(a1, b1, acc[5]);
        acc[6] = _mm256_fmadd_ps(a1, b2, acc[6]);
        acc[7] = _mm256_fmadd_ps(a1, b3, acc[7]);
        i += 8;
    }
    _mm256_storeu_ps(out.as_mut_ptr(), hsum8(acc));
    while i < dim {
        for qi in 0..2 {
            let a = *q[qi].as_ptr().add(i);
            for ri in 0..4 {
                out[qi * 4 + ri] += a * *r[ri].as_ptr().add(i);
            }
        }
        i += 1;
    }
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
pub unsafe fn block_8x16_avx512(
    rows: [&[f32]; 8],
    panel: &[f32],
    thr: &[f32],
    dim: usize,
    out: &mut [f32; 128],
) -> u32 {
    debug_assert!(panel.len() >= dim * 16);
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

/// `iters` steps of sixteen independent 512-bit FMAs on registers (no memory traffic): the
/// FMA peak. Returns a value that depends on every lane, so nothing is optimised away.
///
/// # Safety
/// The CPU must support AVX-512F.
#[target_feature(enable = "avx512f,avx2,fma")]
pub unsafe fn fma_loop_avx512(iters: usize, seed: f32) -> f32 {
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

/// [`fma_loop_avx512`] with twelve 256-bit accumulators.
///
/// # Safety
/// The CPU must support AVX2 and FMA.
#[target_feature(enable = "avx2,fma")]
pub unsafe fn fma_loop_avx2(iters: usize, seed: f32) -> f32 {
    let m = _mm256_set1_ps(0.999_999);
    let a = _mm256_set1_ps(seed * 1e-7);
    let mut acc = [_mm256_set1_ps(seed); 12];
    for _ in 0..iters {
        for x in acc.iter_mut() {
            *x = _mm256_fmadd_ps(*x, m, a);
        }
    }
    let mut s = _mm256_setzero_ps();
    for x in acc {
        s = _mm256_add_ps(s, x);
    }
    let mut out = [0.0f32; 8];
    _mm256_storeu_ps(out.as_mut_ptr(), s);
    out.iter().sum()
}

/// [`block_8x16_avx512`] over two panels at once (thirty-two queries): each broadcast row
/// component serves two panel vectors, so the kernel does sixteen FMAs for ten loads.
/// `out[r * 32 + j]`: row `r` against query `j` of the pair (the second panel's at `16 + j`).
///
/// # Safety
/// The CPU must support AVX-512F; every row must have length `dim` and each panel `dim × 16`.
#[target_feature(enable = "avx512f,avx2,fma")]
pub unsafe fn block_8x32_avx512(
    rows: [&[f32]; 8],
    panels: [&[f32]; 2],
    thr: &[f32],
    dim: usize,
    out: &mut [f32; 256],
) -> u32 {
    debug_assert!(panels[0].len() >= dim * 16 && panels[1].len() >= dim * 16);
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
