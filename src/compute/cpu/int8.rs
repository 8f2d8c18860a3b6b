//! 8-bit scalar quantisation (as faiss `ScalarQuantizer::QT_8bit`, per dimension) and the
//! integer dot products that score its codes: AVX-512 VNNI (`vpdpbusd`, u8 × i8 into i32),
//! AVX2 (widened to i16, `vpmaddwd`), scalar. Every path gives the same i32 exactly.
//!
//! A row `x` is stored as codes `c_d = round((x_d − lo_d) / step_d)` in `0..=255`; its
//! reconstruction is `lo_d + step_d·c_d`. A query `q` is turned into i8 weights
//! `w_d = round(q_d·step_d / s)` (`s = max_d |q_d·step_d| / 127`), so that
//! `q·x̂ ≈ Σ q_d·lo_d + s·Σ w_d·c_d` — one integer dot product per row.

use std::sync::OnceLock;

use super::SimdLevel;

/// A per-dimension 8-bit quantiser: the range `[lo_d, lo_d + 255·step_d]` of each dimension.
#[derive(Debug, Clone, PartialEq)]
pub struct Sq8 {
    lo: Vec<f32>,
    step: Vec<f32>,
}

/// A query prepared for [`Sq8`] codes: i8 weights, their scale and the constant term.
#[derive(Debug, Clone)]
pub struct Sq8Query {
    /// `w_d`, one per dimension.
    pub weights: Vec<i8>,
    /// `s`: the approximate score is `offset + scale · Σ w_d·c_d`.
    pub scale: f32,
    /// `Σ q_d·lo_d`.
    pub offset: f32,
}

impl Sq8 {
    /// The quantiser spanning the per-dimension minimum and maximum of `rows` (row-major,
    /// `dim` each). With no rows, every dimension spans `[−1, 1]` (unit rows).
    pub fn train<'a>(dim: usize, rows: impl IntoIterator<Item = &'a [f32]>) -> Self {
        let mut lo = vec![f32::INFINITY; dim];
        let mut hi = vec![f32::NEG_INFINITY; dim];
        for r in rows {
            for ((l, h), &x) in lo.iter_mut().zip(hi.iter_mut()).zip(r) {
                *l = l.min(x);
                *h = h.max(x);
            }
        }
        let mut step = vec![0.0f32; dim];
        for d in 0..dim {
            if !lo[d].is_finite() || !hi[d].is_finite() {
                (lo[d], hi[d]) = (-1.0, 1.0);
            }
            // A constant dimension still gets a (tiny) step: codes stay well defined.
            step[d] = ((hi[d] - lo[d]) / 255.0).max(f32::MIN_POSITIVE);
        }
        Self { lo, step }
    }

    /// The dimension.
    pub fn dim(&self) -> usize {
        self.lo.len()
    }

    /// Appends the codes of one row to `out` (values outside the trained range clamp).
    pub fn encode(&self, row: &[f32], out: &mut Vec<u8>) {
        out.extend(
            row.iter()
                .zip(self.lo.iter().zip(&self.step))
                .map(|(&x, (&l, &s))| ((x - l) / s).round().clamp(0.0, 255.0) as u8),
        );
    }

    /// The i8 weights, scale and offset of a query (see the module documentation).
    pub fn query(&self, q: &[f32]) -> Sq8Query {
        let w: Vec<f32> = q.iter().zip(&self.step).map(|(&x, &s)| x * s).collect();
        let max = w.iter().fold(0.0f32, |m, x| m.max(x.abs()));
        let scale = if max > 0.0 { max / 127.0 } else { 1.0 };
        let weights = w
            .iter()
            .map(|&x| (x / scale).round().clamp(-127.0, 127.0) as i8)
            .collect();
        let offset = q.iter().zip(&self.lo).map(|(&x, &l)| x * l).sum();
        Sq8Query {
            weights,
            scale,
            offset,
        }
    }
}

/// Whether the CPU has AVX-512 VNNI (and BW), checked once.
fn has_vnni() -> bool {
    static VNNI: OnceLock<bool> = OnceLock::new();
    *VNNI.get_or_init(|| {
        #[cfg(target_arch = "x86_64")]
        {
            is_x86_feature_detected!("avx512f")
                && is_x86_feature_detected!("avx512bw")
                && is_x86_feature_detected!("avx512vnni")
        }
        #[cfg(not(target_arch = "x86_64"))]
        false
    })
}

/// `Σ codes_i · weights_i` exactly (i32), with the best kernel the level allows: VNNI at
/// [`SimdLevel::Avx512`] on a CPU that has it, the AVX2 kernel at `Avx2Fma` (or `Avx512`
/// without VNNI), scalar otherwise.
#[inline]
pub fn dot_u8i8(level: SimdLevel, codes: &[u8], weights: &[i8]) -> i32 {
    let n = codes.len().min(weights.len());
    let (codes, weights) = (&codes[..n], &weights[..n]);
    #[cfg(target_arch = "x86_64")]
    {
        if level.wide() && has_vnni() {
            // SAFETY: AVX-512F, BW and VNNI were detected.
            return unsafe { dot_vnni(codes, weights) };
        }
        if matches!(level, SimdLevel::Avx2Fma | SimdLevel::Avx512) && level.supported() {
            // SAFETY: the level is supported, so the CPU has AVX2.
            return unsafe { dot_avx2(codes, weights) };
        }
    }
    let _ = level;
    dot_scalar(codes, weights)
}

/// The scalar reference.
pub fn dot_scalar(codes: &[u8], weights: &[i8]) -> i32 {
    codes
        .iter()
        .zip(weights)
        .map(|(&c, &w)| c as i32 * w as i32)
        .sum()
}

/// # Safety
/// The CPU must support AVX-512F, AVX-512BW and AVX-512 VNNI; equal lengths.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f,avx512bw,avx512vnni")]
unsafe fn dot_vnni(codes: &[u8], weights: &[i8]) -> i32 {
    use std::arch::x86_64::*;
    let n = codes.len();
    let (pc, pw) = (codes.as_ptr(), weights.as_ptr());
    let mut acc0 = _mm512_setzero_si512();
    let mut acc1 = _mm512_setzero_si512();
    let mut i = 0;
    while i + 128 <= n {
        let c0 = _mm512_loadu_si512(pc.add(i).cast());
        let w0 = _mm512_loadu_si512(pw.add(i).cast());
        let c1 = _mm512_loadu_si512(pc.add(i + 64).cast());
        let w1 = _mm512_loadu_si512(pw.add(i + 64).cast());
        acc0 = _mm512_dpbusd_epi32(acc0, c0, w0);
        acc1 = _mm512_dpbusd_epi32(acc1, c1, w1);
        i += 128;
    }
    if i < n {
        // The rest (under 128 bytes) in at most two masked loads.
        for _ in 0..2 {
            if i >= n {
                break;
            }
            let m: u64 = if n - i >= 64 {
                u64::MAX
            } else {
                (1u64 << (n - i)) - 1
            };
            let c = _mm512_maskz_loadu_epi8(m, pc.add(i).cast());
            let w = _mm512_maskz_loadu_epi8(m, pw.add(i).cast());
            acc0 = _mm512_dpbusd_epi32(acc0, c, w);
            i += 64;
        }
    }
    _mm512_reduce_add_epi32(_mm512_add_epi32(acc0, acc1))
}

/// # Safety
/// The CPU must support AVX2; equal lengths.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
unsafe fn dot_avx2(codes: &[u8], weights: &[i8]) -> i32 {
    use std::arch::x86_64::*;
    let n = codes.len();
    let (pc, pw) = (codes.as_ptr(), weights.as_ptr());
    let mut acc = _mm256_setzero_si256();
    let mut i = 0;
    while i + 16 <= n {
        // Widened to i16 (exact), then pairs multiplied and summed into i32 (exact:
        // 255·127·2 fits easily).
        let c = _mm256_cvtepu8_epi16(_mm_loadu_si128(pc.add(i).cast()));
        let w = _mm256_cvtepi8_epi16(_mm_loadu_si128(pw.add(i).cast()));
        acc = _mm256_add_epi32(acc, _mm256_madd_epi16(c, w));
        i += 16;
    }
    let mut lanes = [0i32; 8];
    _mm256_storeu_si256(lanes.as_mut_ptr().cast(), acc);
    lanes.iter().sum::<i32>() + dot_scalar(&codes[i..], &weights[i..])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_kernel_equals_the_scalar_reference() {
        let mut s = 7u64;
        let mut next = || {
            s = s
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            (s >> 33) as u32
        };
        for n in [
            0usize, 1, 15, 16, 17, 63, 64, 65, 127, 128, 129, 200, 384, 385,
        ] {
            let c: Vec<u8> = (0..n).map(|_| next() as u8).collect();
            let w: Vec<i8> = (0..n).map(|_| (next() % 255) as i32 as i8).collect();
            let want = dot_scalar(&c, &w);
            for level in SimdLevel::available() {
                assert_eq!(dot_u8i8(level, &c, &w), want, "{level:?}, n = {n}");
            }
            // Extremes: every code 255, every weight ±127.
            let c = vec![255u8; n];
            for x in [127i8, -127] {
                let w = vec![x; n];
                let want = dot_scalar(&c, &w);
                for level in SimdLevel::available() {
                    assert_eq!(dot_u8i8(level, &c, &w), want, "{level:?}");
                }
            }
        }
    }

    #[test]
    fn the_approximate_score_is_close_to_the_exact_one() {
        let dim = 64;
        let rows: Vec<f32> = (0..dim * 50)
            .map(|i| ((i * 37 % 101) as f32 / 50.0 - 1.0) * 0.2)
            .collect();
        let q = Sq8::train(dim, rows.chunks_exact(dim));
        let query: Vec<f32> = (0..dim)
            .map(|i| ((i * 13 % 17) as f32 - 8.0) / 20.0)
            .collect();
        let p = q.query(&query);
        for r in rows.chunks_exact(dim) {
            let mut codes = Vec::new();
            q.encode(r, &mut codes);
            let approx = p.offset + p.scale * dot_scalar(&codes, &p.weights) as f32;
            let exact: f32 = r.iter().zip(&query).map(|(a, b)| a * b).sum();
            // Each component is off by at most half a step (row) plus half a weight unit.
            assert!((approx - exact).abs() < 0.02, "{approx} vs {exact}");
        }
    }
}
