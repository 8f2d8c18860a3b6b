// Batched similarity search: a tiled (GEMM-style) kernel fused with a per-query top-k.
//
// Dispatch (row blocks, query blocks). Each workgroup owns a block of Q queries and a range of
// rows of one chunk, which it walks R = 64 rows at a time. For each row tile it loops over the
// dimension KB = 16 components at a time: the Q x KB query tile and the R x KB row tile are staged
// in workgroup memory (transposed, so the inner loop reads them without bank conflicts), and each
// of the 4Q invocations accumulates a 4 x 4 register tile of scores (queries tq + i*(Q/4), rows
// tr + 16*j): every staged value is reused 4 times from registers and Q (rows) or R (queries)
// times from workgroup memory. When the tile's scores are complete each invocation checks its 16
// scores against the current KP-th best of their query (the threshold) and writes only the ones
// that beat it into a Q x R score tile (the rest become NEG) and flags the query; then one
// invocation per flagged query pushes the survivors into that query's best list, a binary heap of
// KP hits in workgroup memory with the worst at the root (the threshold), O(log KP) per insertion.
// Once the heaps are full almost every tile is rejected by the threshold alone. At the end the
// heaps are sorted (bitonic, all invocations) and the workgroup writes KP (score, row) pairs per
// query; the merge pass (topk_merge.wgsl) combines the row blocks. No score matrix ever reaches device memory.
//
// Workgroup memory: 4 * max((Q + R) * KB, Q * R) bytes for the staging / score tile (the two are
// never live at the same time, so they share one array) + 8 * Q * KP for the lists + 4 * Q flags.
override Q: u32 = 32u;       // queries per workgroup (multiple of 4; invocations = 4 * Q)
override KP: u32 = 16u;      // best list per query (power of two)
override BUF: u32 = 2048u;   // max((Q + R) * KB, Q * R)
override LSLOTS: u32 = 512u; // Q * KP
override F16: bool = false;  // rows are f16 pairs packed in u32

const R: u32 = 64u;   // rows per tile
const KB: u32 = 16u;  // components per staging step (even, for f16 pairs)
const RT: u32 = 16u;  // invocations along rows (R / 4)

struct Params {
    qstride: u32,     // floats per staged query (dim, or 2 * words for f16)
    wpr: u32,         // u32 words per row
    n_rows: u32,      // rows in this chunk
    row_base: u32,    // global index of the chunk's first row
    rows_per_wg: u32, // rows per workgroup (a multiple of R)
    n_wg: u32,        // row blocks in this dispatch
    nq: u32,          // queries in this dispatch
    _pad: u32,
}

@group(0) @binding(0) var<storage, read> rows: array<u32>;
@group(0) @binding(1) var<storage, read> dead: array<u32>;
@group(0) @binding(2) var<storage, read> queries: array<f32>;
@group(0) @binding(3) var<storage, read_write> out: array<Cand>;
@group(0) @binding(4) var<uniform> p: Params;

// Staging: s_buf[kk * Q + qi] (queries) then s_buf[Q * KB + kk * R + r] (rows).
// Score tile: s_buf[qi * R + r].
var<workgroup> s_buf: array<f32, BUF>;
var<workgroup> s_score: array<f32, LSLOTS>;
var<workgroup> s_row: array<u32, LSLOTS>;
var<workgroup> s_flag: array<u32, Q>;

// Replaces the root (the worst kept hit) of the heap at `lb` by (s, g) and sifts it down.
fn heap_replace_root(lb: u32, s: f32, g: u32) {
    var i = 0u;
    loop {
        let l = 2u * i + 1u;
        if l >= KP {
            break;
        }
        // The worse child.
        var c = l;
        if l + 1u < KP && better(s_score[lb + l], s_row[lb + l], s_score[lb + l + 1u], s_row[lb + l + 1u]) {
            c = l + 1u;
        }
        if !better(s, g, s_score[lb + c], s_row[lb + c]) {
            break;
        }
        s_score[lb + i] = s_score[lb + c];
        s_row[lb + i] = s_row[lb + c];
        i = c;
    }
    s_score[lb + i] = s;
    s_row[lb + i] = g;
}

@compute @workgroup_size(4 * Q)
fn main(@builtin(local_invocation_id) lid3: vec3<u32>, @builtin(workgroup_id) wid: vec3<u32>) {
    let lid = lid3.x;
    let nthreads = 4u * Q;
    let qth = Q / 4u; // invocations along queries
    let tr = lid % RT;
    let tq = lid / RT;
    let wg = wid.x;
    let q0 = wid.y * Q;
    for (var i = lid; i < LSLOTS; i = i + nthreads) {
        s_score[i] = NEG;
        s_row[i] = NONE;
    }
    for (var i = lid; i < Q; i = i + nthreads) {
        s_flag[i] = 0u;
    }
    let start = wg * p.rows_per_wg;
    let end = min(start + p.rows_per_wg, p.n_rows);
    let rbase_s = Q * KB;
    for (var tile = start; tile < end; tile = tile + R) {
        var a0 = vec4<f32>(0.0);
        var a1 = vec4<f32>(0.0);
        var a2 = vec4<f32>(0.0);
        var a3 = vec4<f32>(0.0);
        for (var d0 = 0u; d0 < p.qstride; d0 = d0 + KB) {
            workgroupBarrier();
            // Query tile: Q x KB, zero beyond the queries or the dimension.
            for (var i = lid; i < Q * KB; i = i + nthreads) {
                let qi = i / KB;
                let kk = i % KB;
                var v = 0.0;
                if q0 + qi < p.nq && d0 + kk < p.qstride {
                    v = queries[(q0 + qi) * p.qstride + d0 + kk];
                }
                s_buf[kk * Q + qi] = v;
            }
            // Row tile: R x KB, zero beyond the rows or the dimension.
            if F16 {
                let wb = d0 / 2u;
                for (var i = lid; i < R * (KB / 2u); i = i + nthreads) {
                    let r = i / (KB / 2u);
                    let w = i % (KB / 2u);
                    var v = vec2<f32>(0.0);
                    if tile + r < end && wb + w < p.wpr {
                        v = unpack2x16float(rows[(tile + r) * p.wpr + wb + w]);
                    }
                    s_buf[rbase_s + (2u * w) * R + r] = v.x;
                    s_buf[rbase_s + (2u * w + 1u) * R + r] = v.y;
                }
            } else {
                for (var i = lid; i < R * KB; i = i + nthreads) {
                    let r = i / KB;
                    let kk = i % KB;
                    var v = 0.0;
                    if tile + r < end && d0 + kk < p.wpr {
                        v = bitcast<f32>(rows[(tile + r) * p.wpr + d0 + kk]);
                    }
                    s_buf[rbase_s + kk * R + r] = v;
                }
            }
            workgroupBarrier();
            for (var kk = 0u; kk < KB; kk = kk + 1u) {
                let qo = kk * Q + tq;
                let a = vec4<f32>(
                    s_buf[qo],
                    s_buf[qo + qth],
                    s_buf[qo + 2u * qth],
                    s_buf[qo + 3u * qth],
                );
                let ro = rbase_s + kk * R + tr;
                let b = vec4<f32>(
                    s_buf[ro],
                    s_buf[ro + RT],
                    s_buf[ro + 2u * RT],
                    s_buf[ro + 3u * RT],
                );
                a0 = fma(vec4<f32>(a.x), b, a0);
                a1 = fma(vec4<f32>(a.y), b, a1);
                a2 = fma(vec4<f32>(a.z), b, a2);
                a3 = fma(vec4<f32>(a.w), b, a3);
            }
        }
        workgroupBarrier();
        // Threshold check: only scores beating their query's current KP-th best survive.
        var acc = array<vec4<f32>, 4>(a0, a1, a2, a3);
        for (var j = 0u; j < 4u; j = j + 1u) {
            let r = tr + j * RT;
            let lr = tile + r;
            let alive = lr < end && ((dead[lr / 32u] >> (lr % 32u)) & 1u) == 0u;
            let grow = lr + p.row_base;
            for (var i = 0u; i < 4u; i = i + 1u) {
                let qi = tq + i * qth;
                let s = acc[i][j];
                let last = qi * KP; // the heap root: the worst kept hit
                var keep = alive && q0 + qi < p.nq;
                if keep {
                    keep = better(s, grow, s_score[last], s_row[last]);
                }
                if keep {
                    s_buf[qi * R + r] = s;
                    s_flag[qi] = 1u;
                } else {
                    s_buf[qi * R + r] = NEG;
                }
            }
        }
        workgroupBarrier();
        // One invocation per flagged query pushes the survivors, in row order, into the query's
        // heap (worst of the best KP at the root: O(log KP) per insertion).
        for (var qi = lid; qi < Q; qi = qi + nthreads) {
            if s_flag[qi] != 0u {
                s_flag[qi] = 0u;
                let lb = qi * KP;
                for (var r = 0u; r < R; r = r + 1u) {
                    let s = s_buf[qi * R + r];
                    let g = tile + r + p.row_base;
                    if s > NEG && better(s, g, s_score[lb], s_row[lb]) {
                        heap_replace_root(lb, s, g);
                    }
                }
            }
        }
    }
    // Sort every heap, best first (bitonic, all invocations; KP is a power of two).
    let half = max(KP / 2u, 1u);
    for (var size = 2u; size <= KP; size = size << 1u) {
        for (var stride = size >> 1u; stride > 0u; stride = stride >> 1u) {
            workgroupBarrier();
            for (var idx = lid; idx < Q * half; idx = idx + nthreads) {
                let lb = (idx / half) * KP;
                let i = idx % half;
                let lo = 2u * i - (i & (stride - 1u));
                cswap(lb + lo, lb + lo + stride, (lo & size) == 0u);
            }
        }
    }
    workgroupBarrier();
    for (var i = lid; i < Q * KP; i = i + nthreads) {
        let qi = i / KP;
        if q0 + qi < p.nq {
            out[((q0 + qi) * p.n_wg + wg) * KP + i % KP] = Cand(s_score[i], s_row[i]);
        }
    }
}
