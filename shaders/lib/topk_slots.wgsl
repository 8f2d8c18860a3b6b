// Compare-exchange of two best-list slots, for the top-k shaders. The including shader declares
// the workgroup arrays `s_score: array<f32, _>` and `s_row: array<u32, _>`.

// Orders slots a and b: the better first if `better_first`, else the worse first.
fn cswap(a: u32, b: u32, better_first: bool) {
    let sa = s_score[a];
    let ra = s_row[a];
    let sb = s_score[b];
    let rb = s_row[b];
    if better(sb, rb, sa, ra) == better_first {
        s_score[a] = sb;
        s_row[a] = rb;
        s_score[b] = sa;
        s_row[b] = ra;
    }
}
