// Spherical k-means assignment: each invocation owns one row and keeps its best centroid in
// registers while the workgroup streams the centroids through workgroup memory, CT centroids by
// DT components at a time (each row word read is reused for CT centroids). The dot products are
// fused with the arg-max: no N x k score matrix exists. Ties go to the lowest centroid index
// (centroids are visited in ascending order and only a strictly greater score replaces the best).
// Centroids may come in blocks (c_base > 0 continues from the stored best). The second-best
// score is kept too (the certified warm step bounds each row by it); NEG when k = 1.
override WG: u32 = 64u;
override F16: bool = false;
override TOP2: bool = true; // keep (and write) the second-best score

const CT: u32 = 8u;
const DT: u32 = 64u;

struct Params {
    cstride: u32, // floats per staged centroid (dim, or 2 * words for f16)
    wpr: u32,     // u32 words per row
    n_rows: u32,  // rows in this chunk
    c_base: u32,  // global index of this block's first centroid
    c_count: u32, // centroids in this block
    nx: u32,      // workgroups along x (rows = (wid.y * nx + wid.x) * WG + lid)
    _pad0: u32,
    _pad1: u32,
}

@group(0) @binding(0) var<storage, read> rows: array<u32>;
@group(0) @binding(1) var<storage, read> dead: array<u32>;
@group(0) @binding(2) var<storage, read> cents: array<f32>;
@group(0) @binding(3) var<storage, read_write> labels: array<u32>;
@group(0) @binding(4) var<storage, read_write> scores: array<f32>;
@group(0) @binding(5) var<uniform> p: Params;
@group(0) @binding(6) var<storage, read_write> seconds: array<f32>;

var<workgroup> s_c: array<f32, 512>; // CT * DT

@compute @workgroup_size(WG)
fn main(@builtin(local_invocation_id) lid3: vec3<u32>, @builtin(workgroup_id) wid: vec3<u32>) {
    let lid = lid3.x;
    let r = (wid.y * p.nx + wid.x) * WG + lid;
    let valid = r < p.n_rows && ((dead[min(r, p.n_rows - 1u) / 32u] >> (r % 32u)) & 1u) == 0u;
    var best = NEG;
    var best_c = NONE;
    var second = NEG;
    if valid && p.c_base > 0u {
        best = scores[r];
        best_c = labels[r];
        if TOP2 {
            second = seconds[r];
        }
    }
    let rbase = r * p.wpr;
    for (var c0 = 0u; c0 < p.c_count; c0 = c0 + CT) {
        var acc: array<f32, CT>;
        for (var d0 = 0u; d0 < p.cstride; d0 = d0 + DT) {
            let len = min(DT, p.cstride - d0);
            workgroupBarrier();
            for (var i = lid; i < CT * DT; i = i + WG) {
                let ci = i / DT;
                let dd = i % DT;
                var v = 0.0;
                if c0 + ci < p.c_count && dd < len {
                    v = cents[(c0 + ci) * p.cstride + d0 + dd];
                }
                s_c[i] = v;
            }
            workgroupBarrier();
            if valid {
                if F16 {
                    for (var dd = 0u; dd < len; dd = dd + 2u) {
                        let v = unpack2x16float(rows[rbase + (d0 + dd) / 2u]);
                        for (var ci = 0u; ci < CT; ci = ci + 1u) {
                            acc[ci] = fma(v.x, s_c[ci * DT + dd], acc[ci]);
                            acc[ci] = fma(v.y, s_c[ci * DT + dd + 1u], acc[ci]);
                        }
                    }
                } else {
                    for (var dd = 0u; dd < len; dd = dd + 1u) {
                        let v = bitcast<f32>(rows[rbase + d0 + dd]);
                        for (var ci = 0u; ci < CT; ci = ci + 1u) {
                            acc[ci] = fma(v, s_c[ci * DT + dd], acc[ci]);
                        }
                    }
                }
            }
        }
        for (var ci = 0u; ci < CT; ci = ci + 1u) {
            if c0 + ci < p.c_count {
                if acc[ci] > best {
                    second = best;
                    best = acc[ci];
                    best_c = p.c_base + c0 + ci;
                } else if acc[ci] > second {
                    second = acc[ci];
                }
            }
        }
    }
    if valid {
        labels[r] = best_c;
        scores[r] = best;
        if TOP2 {
            seconds[r] = second;
        }
    }
}
