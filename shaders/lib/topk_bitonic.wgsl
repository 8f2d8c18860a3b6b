// The tile sort and merge of the top-k shaders (search_topk, topk_merge). The including shader
// declares the overrides `WG` (invocations), `KP` (best-list length) and `T` (tile), both powers
// of two with T >= KP and T >= WG, and the slot arrays of topk_slots.wgsl: a query's best list
// is slots qb .. qb + KP and its tile the T slots after it.

// Sorts the tile of the query whose slots start at `qb` (bitonic), then merges its best KP
// into the best list (which stays sorted, best first).
fn sort_and_merge(qb: u32, lid: u32) {
    let tb = qb + KP;
    for (var size = 2u; size <= T; size = size << 1u) {
        for (var stride = size >> 1u; stride > 0u; stride = stride >> 1u) {
            for (var i = lid; i < T / 2u; i = i + WG) {
                let lo = 2u * i - (i & (stride - 1u));
                cswap(tb + lo, tb + lo + stride, (lo & size) == 0u);
            }
            workgroupBarrier();
        }
    }
    for (var i = lid; i < KP; i = i + WG) {
        let j = tb + KP - 1u - i;
        if better(s_score[j], s_row[j], s_score[qb + i], s_row[qb + i]) {
            s_score[qb + i] = s_score[j];
            s_row[qb + i] = s_row[j];
        }
    }
    workgroupBarrier();
    for (var stride = KP >> 1u; stride > 0u; stride = stride >> 1u) {
        for (var i = lid; i < KP / 2u; i = i + WG) {
            let lo = 2u * i - (i & (stride - 1u));
            cswap(qb + lo, qb + lo + stride, true);
        }
        workgroupBarrier();
    }
}
