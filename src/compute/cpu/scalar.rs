//! The scalar reference kernels: always compiled, used where no SIMD level is available and as
//! the oracle of the property tests.

use half::f16;

/// Dot product of two equally long slices, summed left to right in f32.
pub fn dot(a: &[f32], b: &[f32]) -> f32 {
    a.iter().zip(b).map(|(x, y)| x * y).sum()
}

/// Dot product of an f32 query with an f16 row (converted component by component).
pub fn dot_f16(a: &[f32], b: &[f16]) -> f32 {
    a.iter().zip(b).map(|(x, y)| x * y.to_f32()).sum()
}
