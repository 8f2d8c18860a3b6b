// k-means centroid update, phase 1: one workgroup per work item (a run of at most SEG rows that
// share a label, sorted by row on the host) sums its rows column by column in a fixed order and
// writes one partial sum vector. No float atomics: the result is deterministic.
override WG: u32 = 64u;
override F16: bool = false;

struct Params {
    dim: u32,
    wpr: u32,
    n_items: u32,
    nx: u32, // workgroups along x (item = wid.y * nx + wid.x)
}

@group(0) @binding(0) var<storage, read> rows: array<u32>;
@group(0) @binding(1) var<storage, read> members: array<u32>;
@group(0) @binding(2) var<storage, read> items: array<vec2<u32>>; // [start, end) into members
@group(0) @binding(3) var<storage, read_write> partial: array<f32>;
@group(0) @binding(4) var<uniform> p: Params;

fn component(r: u32, d: u32) -> f32 {
    if F16 {
        let v = unpack2x16float(rows[r * p.wpr + d / 2u]);
        return select(v.x, v.y, (d & 1u) == 1u);
    }
    return bitcast<f32>(rows[r * p.wpr + d]);
}

@compute @workgroup_size(WG)
fn main(@builtin(local_invocation_id) lid3: vec3<u32>, @builtin(workgroup_id) wid: vec3<u32>) {
    let item = wid.y * p.nx + wid.x;
    if item >= p.n_items {
        return;
    }
    let range = items[item];
    for (var d = lid3.x; d < p.dim; d = d + WG) {
        var acc = 0.0;
        for (var m = range.x; m < range.y; m = m + 1u) {
            acc += component(members[m], d);
        }
        partial[item * p.dim + d] = acc;
    }
}
