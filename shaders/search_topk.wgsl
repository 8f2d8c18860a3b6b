// Similarity search fused with a per-workgroup top-k.
//
// Dispatch (row blocks, query groups). Each workgroup scores QT queries against its block of
// rows, one tile of T rows at a time: the QT queries are staged in workgroup memory DT
// components at a time and every row word read from memory is reused for all QT queries
// (register blocking, GEMM style). With QT = 1 this is the single-query scan; with QT > 1 the
// batch kernel. Each query keeps its best KP hits in workgroup memory; a tile is sorted (bitonic)
// and merged in only when one of its scores beats the current KP-th best. No score matrix is
// ever written: each workgroup writes KP (score, row) pairs per query.
override WG: u32 = 64u;     // invocations per workgroup (power of two)
override KP: u32 = 16u;     // best list per query (power of two)
override T: u32 = 64u;      // tile of rows (power of two, >= KP and >= WG)
override QT: u32 = 1u;      // queries per workgroup (<= QMAX)
override SLOTS: u32 = 80u;  // QT * (KP + T)
override QSLOTS: u32 = 64u; // QT * DT
override F16: bool = false; // rows are f16 pairs packed in u32

const QMAX: u32 = 8u;
const DT: u32 = 64u;

struct Params {
    qstride: u32,     // floats per staged query (dim, or 2 * words for f16)
    wpr: u32,         // u32 words per row
    n_rows: u32,      // rows in this chunk
    row_base: u32,    // global index of the chunk's first row
    rows_per_wg: u32, // rows per workgroup (a multiple of T)
    n_wg: u32,        // row blocks in this dispatch
    nq: u32,          // queries in this dispatch
    _pad: u32,
}
struct Cursor { score: f32, row: u32, enabled: u32, _pad: u32 }

@group(0) @binding(0) var<storage, read> rows: array<u32>;
@group(0) @binding(1) var<storage, read> dead: array<u32>;
@group(0) @binding(2) var<storage, read> queries: array<f32>;
@group(0) @binding(3) var<storage, read> cursors: array<Cursor>;
@group(0) @binding(4) var<storage, read_write> out: array<Cand>;
@group(0) @binding(5) var<uniform> p: Params;

var<workgroup> s_score: array<f32, SLOTS>;
var<workgroup> s_row: array<u32, SLOTS>;
var<workgroup> s_q: array<f32, QSLOTS>;
var<workgroup> s_flag: u32;

@compute @workgroup_size(WG)
fn main(@builtin(local_invocation_id) lid3: vec3<u32>, @builtin(workgroup_id) wid: vec3<u32>) {
    let lid = lid3.x;
    let wg = wid.x;
    let q0 = wid.y * QT;
    for (var i = lid; i < SLOTS; i = i + WG) {
        s_score[i] = NEG;
        s_row[i] = NONE;
    }
    if lid == 0u {
        s_flag = 0u;
    }
    workgroupBarrier();
    let start = wg * p.rows_per_wg;
    let end = min(start + p.rows_per_wg, p.n_rows);
    for (var tile = start; tile < end; tile = tile + T) {
        // Zero the tile accumulators (each invocation owns slots lid, lid + WG, ...).
        for (var qi = 0u; qi < QT; qi = qi + 1u) {
            for (var j = lid; j < T; j = j + WG) {
                s_score[qi * (KP + T) + KP + j] = 0.0;
            }
        }
        for (var d0 = 0u; d0 < p.qstride; d0 = d0 + DT) {
            let len = min(DT, p.qstride - d0);
            workgroupBarrier();
            for (var i = lid; i < QT * DT; i = i + WG) {
                let qi = i / DT;
                let dd = i % DT;
                var v = 0.0;
                if q0 + qi < p.nq && dd < len {
                    v = queries[(q0 + qi) * p.qstride + d0 + dd];
                }
                s_q[i] = v;
            }
            workgroupBarrier();
            for (var j = lid; j < T; j = j + WG) {
                let r = tile + j;
                if r < end {
                    var acc: array<f32, QMAX>;
                    let rbase = r * p.wpr;
                    if F16 {
                        for (var dd = 0u; dd < len; dd = dd + 2u) {
                            let v = unpack2x16float(rows[rbase + (d0 + dd) / 2u]);
                            for (var qi = 0u; qi < QT; qi = qi + 1u) {
                                acc[qi] = fma(v.x, s_q[qi * DT + dd], acc[qi]);
                                acc[qi] = fma(v.y, s_q[qi * DT + dd + 1u], acc[qi]);
                            }
                        }
                    } else {
                        for (var dd = 0u; dd < len; dd = dd + 1u) {
                            let v = bitcast<f32>(rows[rbase + d0 + dd]);
                            for (var qi = 0u; qi < QT; qi = qi + 1u) {
                                acc[qi] = fma(v, s_q[qi * DT + dd], acc[qi]);
                            }
                        }
                    }
                    for (var qi = 0u; qi < QT; qi = qi + 1u) {
                        s_score[qi * (KP + T) + KP + j] += acc[qi];
                    }
                }
            }
        }
        // Mask invalid candidates and flag the tile if any candidate enters a best list.
        for (var j = lid; j < T; j = j + WG) {
            let r = tile + j;
            let alive = r < end && ((dead[r / 32u] >> (r % 32u)) & 1u) == 0u;
            let grow = r + p.row_base;
            for (var qi = 0u; qi < QT; qi = qi + 1u) {
                let qb = qi * (KP + T);
                let slot = qb + KP + j;
                var ok = alive && q0 + qi < p.nq;
                if ok {
                    let c = cursors[q0 + qi];
                    if c.enabled != 0u {
                        ok = better(c.score, c.row, s_score[slot], grow);
                    }
                }
                if ok {
                    s_row[slot] = grow;
                    if better(s_score[slot], grow, s_score[qb + KP - 1u], s_row[qb + KP - 1u]) {
                        s_flag = 1u;
                    }
                } else {
                    s_score[slot] = NEG;
                    s_row[slot] = NONE;
                }
            }
        }
        let any = workgroupUniformLoad(&s_flag);
        if any != 0u {
            for (var qi = 0u; qi < QT; qi = qi + 1u) {
                sort_and_merge(qi * (KP + T), lid);
            }
        }
        workgroupBarrier();
        if lid == 0u {
            s_flag = 0u;
        }
        workgroupBarrier();
    }
    for (var qi = 0u; qi < QT; qi = qi + 1u) {
        if q0 + qi < p.nq {
            for (var i = lid; i < KP; i = i + WG) {
                let qb = qi * (KP + T);
                out[((q0 + qi) * p.n_wg + wg) * KP + i] = Cand(s_score[qb + i], s_row[qb + i]);
            }
        }
    }
}
