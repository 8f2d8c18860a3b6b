// Spreading activation, step 1 of a hop: what every node sends along each unit of link weight.
// out[b][i] = x · decay / weight_sum[i] when x = f[b][i] satisfies x >= threshold and x > 0 (and
// the node has links), else 0. Same arithmetic, in the same order, as the CPU path.
override WG: u32 = 64u;

struct Params {
    n: u32,      // nodes
    count: u32,  // sets × nodes
    nx: u32,     // workgroups along x (item = (wid.y * nx + wid.x) * WG + lid)
    _pad0: u32,
    decay: f32,
    threshold: f32,
    _pad1: f32,
    _pad2: f32,
}

@group(0) @binding(0) var<storage, read> f: array<f32>;           // [set][node] this hop's activation
@group(0) @binding(1) var<storage, read> weight_sums: array<f32>; // [node]
@group(0) @binding(2) var<storage, read_write> outv: array<f32>;  // [set][node]
@group(0) @binding(3) var<uniform> p: Params;

@compute @workgroup_size(WG)
fn main(@builtin(local_invocation_index) lid: u32, @builtin(workgroup_id) wid: vec3<u32>) {
    let idx = (wid.y * p.nx + wid.x) * WG + lid;
    if idx >= p.count {
        return;
    }
    let x = f[idx];
    let s = weight_sums[idx % p.n];
    var o = 0.0;
    if x >= p.threshold && x > 0.0 && s > 0.0 {
        o = x * p.decay / s;
    }
    outv[idx] = o;
}
