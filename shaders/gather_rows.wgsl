// Gathers rows of one resident chunk into another matrix's chunk, on the device: pair i copies
// source row pairs[i].x to destination row pairs[i].y, word by word (f32 or packed f16 words
// alike; the layout is the same on both sides). One invocation per word, so a wide row is
// copied by many invocations and the reads of neighbouring invocations coalesce.
override WG: u32 = 64u;

struct Params {
    wpr: u32,     // u32 words per row
    n_pairs: u32, // pairs in this dispatch
    nx: u32,      // workgroups along x (word = (wid.y * nx + wid.x) * WG + lid)
    _pad: u32,
}

@group(0) @binding(0) var<storage, read> src: array<u32>;
@group(0) @binding(1) var<storage, read> pairs: array<vec2<u32>>;
@group(0) @binding(2) var<storage, read_write> dst: array<u32>;
@group(0) @binding(3) var<uniform> p: Params;

@compute @workgroup_size(WG)
fn main(@builtin(local_invocation_id) lid3: vec3<u32>, @builtin(workgroup_id) wid: vec3<u32>) {
    let g = (wid.y * p.nx + wid.x) * WG + lid3.x;
    let i = g / p.wpr;
    if i >= p.n_pairs {
        return;
    }
    let w = g % p.wpr;
    let pair = pairs[i];
    dst[pair.y * p.wpr + w] = src[pair.x * p.wpr + w];
}
