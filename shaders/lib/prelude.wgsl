// The prelude every engram shader is loaded with (concatenated in front of it by
// src/compute/gpu/shaders.rs): shared constants, the candidate record and the result order.

const NEG: f32 = -3.0e38;       // "no score yet": below every cosine
const NONE: u32 = 0xffffffffu;  // "no row" / "no centroid"

// One search candidate: a score and the global row it belongs to.
struct Cand { score: f32, row: u32 }

// The result order: score descending, then row ascending.
fn better(sa: f32, ra: u32, sb: f32, rb: u32) -> bool {
    return sa > sb || (sa == sb && ra < rb);
}
