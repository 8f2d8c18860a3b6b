//! The one door to the `gemm` crate: matrix products over row-major slices whose shapes are
//! checked before any pointer is handed over, so no caller writes `unsafe` for a product.
//!
//! ```
//! use engram::compute::cpu::gemm::{matmul_t, Threads};
//! // Two rows of `a` against three rows of `b` (dimension 2): every dot product.
//! let a = [1.0f32, 0.0, 0.0, 1.0];
//! let b = [1.0f32, 2.0, 3.0, 4.0, 5.0, 6.0];
//! let mut dst = [0.0f32; 6];
//! matmul_t(2, 3, 2, &a, &b, &mut dst, Threads::One);
//! assert_eq!(dst, [1.0, 3.0, 5.0, 2.0, 4.0, 6.0]);
//! ```

/// The threads a product may use.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Threads {
    /// The calling thread only (callers that already split work with rayon).
    #[default]
    One,
    /// rayon's pool, with at most this many threads (`0`: all of them).
    Rayon(usize),
}

impl Threads {
    fn parallelism(self) -> gemm::Parallelism {
        match self {
            Threads::One => gemm::Parallelism::None,
            Threads::Rayon(n) => gemm::Parallelism::Rayon(n),
        }
    }
}

/// Checks that a slice holds exactly `rows × cols` floats (the product computed without
/// overflow).
///
/// # Panics
/// When it does not, naming the operand.
#[inline]
fn check(what: &str, len: usize, rows: usize, cols: usize) {
    let want = rows.checked_mul(cols);
    assert!(
        want == Some(len),
        "gemm: {what} holds {len} floats, but its shape is {rows} × {cols}"
    );
}

/// How the right-hand operand is stored.
#[derive(Clone, Copy)]
enum Rhs {
    /// `k × n` row-major.
    Plain,
    /// `n × k` row-major (the product reads its transpose).
    Transposed,
}

/// `dst = a · op(b)` once the shapes are checked.
#[inline]
#[allow(clippy::too_many_arguments)]
fn product(
    m: usize,
    n: usize,
    k: usize,
    a: &[f32],
    b: &[f32],
    rhs: Rhs,
    dst: &mut [f32],
    threads: Threads,
) {
    check("the left operand", a.len(), m, k);
    match rhs {
        Rhs::Plain => check("the right operand", b.len(), k, n),
        Rhs::Transposed => check("the right operand", b.len(), n, k),
    }
    check("the destination", dst.len(), m, n);
    if m == 0 || n == 0 {
        return;
    }
    if k == 0 {
        dst.fill(0.0);
        return;
    }
    // Every extent fits in `isize`: each is a factor of the length of a slice that exists
    // (checked above, all factors non-zero), and no slice is longer than `isize::MAX` bytes.
    let (ni, ki) = (n as isize, k as isize);
    let (rhs_cs, rhs_rs) = match rhs {
        // Element (p, j) of the k × n operand at b[p·n + j].
        Rhs::Plain => (1, ni),
        // Element (p, j) of bᵀ at b[j·k + p].
        Rhs::Transposed => (ki, 1),
    };
    // SAFETY: `dst` holds m × n floats with row stride n and column stride 1; `a` holds
    // m × k floats with row stride k; the right-hand side is k × n with the strides above,
    // every element inside `b` (all three lengths were checked against the shapes). The
    // destination is only written (`read_dst` false); `a`, `b` and `dst` do not overlap
    // because `dst` is a unique borrow.
    unsafe {
        gemm::gemm(
            m,
            n,
            k,
            dst.as_mut_ptr(),
            1,
            ni,
            false,
            a.as_ptr(),
            1,
            ki,
            b.as_ptr(),
            rhs_cs,
            rhs_rs,
            0.0f32,
            1.0f32,
            false,
            false,
            false,
            threads.parallelism(),
        );
    }
}

/// `dst (m × n) = a (m × k) · bᵀ`, where `b` is `n × k`: every row of `a` dotted with every
/// row of `b` (`dst[i·n + j] = a_i · b_j`). All row-major.
///
/// # Panics
/// When `a` does not hold exactly `m × k` floats, `b` `n × k` or `dst` `m × n`.
#[inline]
pub fn matmul_t(
    m: usize,
    n: usize,
    k: usize,
    a: &[f32],
    b: &[f32],
    dst: &mut [f32],
    threads: Threads,
) {
    product(m, n, k, a, b, Rhs::Transposed, dst, threads)
}

/// `dst (m × n) = a (m × k) · b (k × n)`, all row-major.
///
/// # Panics
/// When `a` does not hold exactly `m × k` floats, `b` `k × n` or `dst` `m × n`.
#[inline]
pub fn matmul(
    m: usize,
    n: usize,
    k: usize,
    a: &[f32],
    b: &[f32],
    dst: &mut [f32],
    threads: Threads,
) {
    product(m, n, k, a, b, Rhs::Plain, dst, threads)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn naive(
        m: usize,
        n: usize,
        k: usize,
        a: &[f32],
        at: impl Fn(usize, usize) -> f32,
    ) -> Vec<f32> {
        let mut out = vec![0.0f32; m * n];
        for i in 0..m {
            for j in 0..n {
                out[i * n + j] = (0..k).map(|p| a[i * k + p] * at(p, j)).sum();
            }
        }
        out
    }

    fn data(len: usize, seed: u32) -> Vec<f32> {
        (0..len)
            .map(|i| {
                ((i as u32).wrapping_mul(2_654_435_761).wrapping_add(seed) % 97) as f32 / 97.0 - 0.5
            })
            .collect()
    }

    #[test]
    fn products_match_a_naive_loop() {
        for &(m, n, k) in &[
            (1, 1, 1),
            (3, 5, 7),
            (17, 33, 65),
            (64, 9, 384),
            (2, 130, 3),
        ] {
            let a = data(m * k, 1);
            let b = data(n * k, 2);
            for threads in [Threads::One, Threads::Rayon(0)] {
                let mut got = vec![f32::NAN; m * n];
                matmul_t(m, n, k, &a, &b, &mut got, threads);
                let want = naive(m, n, k, &a, |p, j| b[j * k + p]);
                for (g, w) in got.iter().zip(&want) {
                    assert!(
                        (g - w).abs() <= 1e-4 * (1.0 + w.abs()),
                        "nt {m}×{n}×{k}: {g} vs {w}"
                    );
                }
                let bp = data(k * n, 3);
                let mut got = vec![f32::NAN; m * n];
                matmul(m, n, k, &a, &bp, &mut got, threads);
                let want = naive(m, n, k, &a, |p, j| bp[p * n + j]);
                for (g, w) in got.iter().zip(&want) {
                    assert!(
                        (g - w).abs() <= 1e-4 * (1.0 + w.abs()),
                        "nn {m}×{n}×{k}: {g} vs {w}"
                    );
                }
            }
        }
    }

    #[test]
    fn empty_shapes_write_what_they_must() {
        let mut dst = [f32::NAN; 6];
        matmul_t(2, 3, 0, &[], &[], &mut dst, Threads::One);
        assert_eq!(dst, [0.0; 6], "k = 0 is a product of zeros");
        let mut none: [f32; 0] = [];
        matmul_t(0, 3, 4, &[], &[0.0; 12], &mut none, Threads::One);
        matmul(2, 0, 4, &[0.0; 8], &[], &mut none, Threads::One);
    }

    #[test]
    #[should_panic(expected = "the left operand holds 5 floats, but its shape is 2 × 3")]
    fn a_short_left_operand_panics() {
        let mut dst = [0.0f32; 4];
        matmul_t(2, 2, 3, &[0.0; 5], &[0.0; 6], &mut dst, Threads::One);
    }

    #[test]
    #[should_panic(expected = "the right operand holds 7 floats, but its shape is 2 × 3")]
    fn a_long_right_operand_panics() {
        let mut dst = [0.0f32; 4];
        matmul_t(2, 2, 3, &[0.0; 6], &[0.0; 7], &mut dst, Threads::One);
    }

    #[test]
    #[should_panic(expected = "the destination holds 3 floats, but its shape is 2 × 2")]
    fn a_short_destination_panics() {
        let mut dst = [0.0f32; 3];
        matmul(2, 2, 3, &[0.0; 6], &[0.0; 6], &mut dst, Threads::One);
    }

    #[test]
    #[should_panic(expected = "but its shape is")]
    fn an_overflowing_shape_panics() {
        let mut dst = [0.0f32; 1];
        matmul_t(
            usize::MAX,
            2,
            1,
            &[0.0; 1],
            &[0.0; 2],
            &mut dst,
            Threads::One,
        );
    }
}
