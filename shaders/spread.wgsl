// Spreading activation, step 2 of a hop (pull): one invocation per (set b, node j) of a chunk
// of nodes sums what its in-neighbours send, in in-edge order (ascending sender):
//   next[b][j] = Σ_{e ∈ in(j)} out[b][src[e]] · w[e];  f[b][j] = next;  total[b][j] += next.
// Every node is written by exactly one invocation: no atomics, deterministic.
override WG: u32 = 64u;

struct Params {
    n: u32,      // nodes (row length of out / f / total)
    lo: u32,     // first node of this chunk
    len: u32,    // nodes in this chunk
    count: u32,  // sets × len
    nx: u32,     // workgroups along x (item = (wid.y * nx + wid.x) * WG + lid)
    _pad0: u32,
    _pad1: u32,
    _pad2: u32,
}

@group(0) @binding(0) var<storage, read> outv: array<f32>;        // [set][node]
@group(0) @binding(1) var<storage, read> offsets: array<u32>;     // [len + 1], chunk-relative
@group(0) @binding(2) var<storage, read> sources: array<u32>;     // [edges of the chunk]
@group(0) @binding(3) var<storage, read> weights: array<f32>;     // [edges of the chunk]
@group(0) @binding(4) var<storage, read_write> f: array<f32>;     // [set][node]
@group(0) @binding(5) var<storage, read_write> total: array<f32>; // [set][node]
@group(0) @binding(6) var<uniform> p: Params;

@compute @workgroup_size(WG)
fn main(@builtin(local_invocation_index) lid: u32, @builtin(workgroup_id) wid: vec3<u32>) {
    let idx = (wid.y * p.nx + wid.x) * WG + lid;
    if idx >= p.count {
        return;
    }
    let b = idx / p.len;
    let jl = idx - b * p.len;
    let row = b * p.n;
    var s = 0.0;
    let end = offsets[jl + 1u];
    for (var e = offsets[jl]; e < end; e = e + 1u) {
        s = s + outv[row + sources[e]] * weights[e];
    }
    let at = row + p.lo + jl;
    f[at] = s;
    total[at] = total[at] + s;
}
