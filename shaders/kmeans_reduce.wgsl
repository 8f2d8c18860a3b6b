// k-means centroid update, phase 2: one workgroup per run of consecutive work items that share a
// label adds their partial sums in item order. Deterministic, no atomics.
override WG: u32 = 64u;

struct Params {
    dim: u32,
    n_runs: u32,
    nx: u32, // workgroups along x (run = wid.y * nx + wid.x)
    _pad: u32,
}

@group(0) @binding(0) var<storage, read> partial: array<f32>;
@group(0) @binding(1) var<storage, read> runs: array<vec2<u32>>; // [first item, end item)
@group(0) @binding(2) var<storage, read_write> sums: array<f32>;
@group(0) @binding(3) var<uniform> p: Params;

@compute @workgroup_size(WG)
fn main(@builtin(local_invocation_id) lid3: vec3<u32>, @builtin(workgroup_id) wid: vec3<u32>) {
    let run = wid.y * p.nx + wid.x;
    if run >= p.n_runs {
        return;
    }
    let range = runs[run];
    for (var d = lid3.x; d < p.dim; d = d + WG) {
        var acc = 0.0;
        for (var i = range.x; i < range.y; i = i + 1u) {
            acc += partial[i * p.dim + d];
        }
        sums[run * p.dim + d] = acc;
    }
}
