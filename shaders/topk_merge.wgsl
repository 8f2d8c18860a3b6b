// Merge pass: one workgroup per query reduces its lists of candidates (each KP long) to the best
// KP, in order (score descending, then row ascending). Same tile sort and threshold skip as
// search_topk.wgsl.
override WG: u32 = 64u;    // invocations per workgroup (power of two)
override KP: u32 = 16u;    // best list (power of two)
override T: u32 = 64u;     // tile (power of two, >= KP and >= WG)
override SLOTS: u32 = 80u; // KP + T

struct Params {
    per_query: u32, // candidates per query (lists * KP)
    nq: u32,
    _pad0: u32,
    _pad1: u32,
}

@group(0) @binding(0) var<storage, read> cand: array<Cand>;
@group(0) @binding(1) var<storage, read_write> res: array<Cand>;
@group(0) @binding(2) var<uniform> p: Params;

var<workgroup> s_score: array<f32, SLOTS>;
var<workgroup> s_row: array<u32, SLOTS>;
var<workgroup> s_flag: u32;

@compute @workgroup_size(WG)
fn main(@builtin(local_invocation_id) lid3: vec3<u32>, @builtin(workgroup_id) wid: vec3<u32>) {
    let lid = lid3.x;
    let q = wid.x;
    for (var i = lid; i < SLOTS; i = i + WG) {
        s_score[i] = NEG;
        s_row[i] = NONE;
    }
    if lid == 0u {
        s_flag = 0u;
    }
    workgroupBarrier();
    let base = q * p.per_query;
    for (var tile = 0u; tile < p.per_query; tile = tile + T) {
        for (var j = lid; j < T; j = j + WG) {
            var c = Cand(NEG, NONE);
            if tile + j < p.per_query {
                c = cand[base + tile + j];
            }
            s_score[KP + j] = c.score;
            s_row[KP + j] = c.row;
            if c.row != NONE && better(c.score, c.row, s_score[KP - 1u], s_row[KP - 1u]) {
                s_flag = 1u;
            }
        }
        let any = workgroupUniformLoad(&s_flag);
        if any != 0u {
            sort_and_merge(0u, lid);
        }
        workgroupBarrier();
        if lid == 0u {
            s_flag = 0u;
        }
        workgroupBarrier();
    }
    if q < p.nq {
        for (var i = lid; i < KP; i = i + WG) {
            res[q * KP + i] = Cand(s_score[i], s_row[i]);
        }
    }
}
