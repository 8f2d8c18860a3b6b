//! AVX2 + FMA (+ F16C) kernels for x86-64 (256-bit vectors). Every function here requires those
//! features: callers check them at run time (see [`super::SimdLevel`]) before calling. The
//! 512-bit kernels are in `avx512.rs`.

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

/// Fused scan of one query over a block of rows: dot products straight into the top-k.
///
/// # Safety
/// The CPU must support AVX2, FMA and F16C.
#[target_feature(enable = "avx2,fma,f16c")]
pub unsafe fn scan(
    query: &[f32],
    rows: Rows<'_>,
    dim: usize,
    first_row: usize,
    out: &mut Pusher<'_>,
) {
    match rows {
        Rows::F32(r) => {
            // Two read streams per core: the block's two halves, interleaved row by row.
            let n = r.len() / dim;
            let h = n / 2;
            let (a, b) = r.split_at(h * dim);
            for (i, (ra, rb)) in a.chunks_exact(dim).zip(b.chunks_exact(dim)).enumerate() {
                let (sa, sb) = (dot(query, ra), dot(query, rb));
                out.offer(sa, first_row + i);
                out.offer(sb, first_row + h + i);
            }
            if n % 2 == 1 {
                out.offer(dot(query, &r[(n - 1) * dim..]), first_row + n - 1);
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

/// `iters` steps of twelve independent 256-bit FMAs on registers (no memory traffic): the
/// FMA peak at this level. Returns a value that depends on every lane, so nothing is
/// optimised away.
///
/// # Safety
/// The CPU must support AVX2 and FMA.
#[target_feature(enable = "avx2,fma")]
pub unsafe fn fma_loop(iters: usize, seed: f32) -> f32 {
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
