//! The WGSL sources of every kernel, as loaded: each shader file in `shaders/` is concatenated
//! at build time behind the shared prelude (`shaders/lib/prelude.wgsl`: constants, the
//! candidate record, the result order) and the library parts it uses (`shaders/lib/`), so what
//! several kernels share is written once. [`ALL`] lists them for validation (the naga test
//! validates every source as loaded, and checks that every file in `shaders/` is used).

/// One kernel's source as loaded.
#[derive(Debug, Clone, Copy)]
pub struct Shader {
    /// The kernel's name (its file in `shaders/` without `.wgsl`).
    pub name: &'static str,
    /// The files concatenated, in order, relative to `shaders/`.
    pub files: &'static [&'static str],
    /// The concatenated source.
    pub source: &'static str,
}

macro_rules! shaders {
    ($($(#[$doc:meta])* $id:ident = $name:literal [$($part:literal),*];)+) => {
        $(
            $(#[$doc])*
            pub const $id: Shader = Shader {
                name: $name,
                files: &["lib/prelude.wgsl", $($part,)* concat!($name, ".wgsl")],
                source: concat!(
                    include_str!("../../../shaders/lib/prelude.wgsl"),
                    $("\n", include_str!(concat!("../../../shaders/", $part)),)*
                    "\n",
                    include_str!(concat!("../../../shaders/", $name, ".wgsl")),
                ),
            };
        )+
        /// Every kernel's source.
        pub const ALL: &[Shader] = &[$($id),+];
    };
}

shaders! {
    /// Single-query and small-batch search fused with a per-workgroup top-k.
    SEARCH_TOPK = "search_topk" ["lib/topk_slots.wgsl", "lib/topk_bitonic.wgsl"];
    /// The merge of per-workgroup top-k lists.
    TOPK_MERGE = "topk_merge" ["lib/topk_slots.wgsl", "lib/topk_bitonic.wgsl"];
    /// The tiled (GEMM-style) batch search with per-query heaps.
    SEARCH_TILED = "search_tiled" ["lib/topk_slots.wgsl"];
    /// k-means assignment fused with the arg-max (and the second best).
    KMEANS_ASSIGN = "kmeans_assign" [];
    /// k-means phase 1: sums of runs of same-label rows.
    KMEANS_SUMS = "kmeans_sums" [];
    /// k-means phase 2: each label's runs added in order.
    KMEANS_REDUCE = "kmeans_reduce" [];
    /// Rows gathered by index, device to device.
    GATHER_ROWS = "gather_rows" [];
    /// Spreading activation: the gate pass.
    SPREAD_GATE = "spread_gate" [];
    /// Spreading activation: the pull pass.
    SPREAD = "spread" [];
    /// The copy-bandwidth probe.
    COPY_BW = "copy_bw" [];
    /// The FMA-peak probe.
    FMA_PEAK = "fma_peak" [];
}
