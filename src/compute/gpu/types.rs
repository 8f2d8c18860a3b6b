//! Plain data shared by the real backend and the stub compiled without the `gpu` feature.

/// How to choose and open a device.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct GpuOptions {
    /// Accept a software adapter (lavapipe/llvmpipe, WARP). Tests set this to run the shaders
    /// on machines without a GPU; `Auto` backend selection does not.
    pub allow_software: bool,
    /// Pretend the storage-binding limit is this many bytes (clamped to at least 4 KiB and at
    /// most the device's own limit). Tests use it to force data across chunk boundaries.
    pub max_binding_override: Option<u64>,
}

/// What the opened device is and can do.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Capabilities {
    /// The adapter's name, e.g. `llvmpipe (LLVM 15.0.6, 256 bits)`.
    pub adapter_name: String,
    /// The graphics API in use (`Vulkan`, `Metal`, ...).
    pub backend: String,
    /// The device type (`DiscreteGpu`, `IntegratedGpu`, `Cpu`, ...).
    pub device_type: String,
    /// The driver's name and version information.
    pub driver: String,
    /// Whether the adapter is a software rasteriser (device type `Cpu`).
    pub is_software: bool,
    /// `SHADER_F16` is available (not required: f16 storage is unpacked from `u32`).
    pub shader_f16: bool,
    /// Subgroup operations are available.
    pub subgroup: bool,
    /// Timestamp queries are available.
    pub timestamp_query: bool,
    /// The largest storage-buffer binding in bytes that engram uses (after any override).
    pub max_storage_buffer_binding_size: u64,
    /// The largest buffer the device accepts, in bytes.
    pub max_buffer_size: u64,
    /// Workgroup (shared) memory per workgroup, in bytes.
    pub max_workgroup_storage: u32,
    /// Invocations per workgroup.
    pub max_invocations: u32,
    /// Workgroups per dispatch dimension.
    pub max_workgroups_per_dimension: u32,
}

/// How rows are stored on the device.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum GpuLayout {
    /// 32-bit floats: exact, 4 bytes per component.
    F32,
    /// 16-bit floats packed two per `u32` (odd dimensions padded with a zero): half the bytes
    /// read, arithmetic still in f32. Scores differ from f32 by about 1e-3.
    F16,
}

/// A graph in compressed sparse row form for [`spread`](super::spread), stored by **incoming**
/// edges: node `j`'s in-edges are `offsets[j]..offsets[j + 1]` of `sources` (the sending node)
/// and `weights` (its weight, `> 0`), and `weight_sums[i]` is the sum of node `i`'s outgoing
/// weights, by which its activation is divided among its links.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct SpreadCsr {
    /// `nodes + 1` offsets into `sources` / `weights`, starting at 0.
    pub offsets: Vec<u32>,
    /// The sending node of every in-edge (ascending within a node's list).
    pub sources: Vec<u32>,
    /// The weight of every in-edge.
    pub weights: Vec<f32>,
    /// Per node, the sum of its outgoing edge weights.
    pub weight_sums: Vec<f32>,
}

impl SpreadCsr {
    /// Nodes.
    pub fn nodes(&self) -> usize {
        self.weight_sums.len()
    }

    /// Edges (each direction counted).
    pub fn edges(&self) -> usize {
        self.sources.len()
    }

    /// The largest in-degree.
    pub fn max_in_degree(&self) -> usize {
        self.offsets
            .windows(2)
            .map(|w| (w[1] - w[0]) as usize)
            .max()
            .unwrap_or(0)
    }
}

/// The spreading rule of [`spread`](super::spread): per hop, a node whose activation `x`
/// satisfies `x >= threshold && x > 0` sends `x · decay / weight_sum · w` along each link.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct SpreadParams {
    /// Fraction of a node's activation passed on per hop.
    pub decay: f32,
    /// The least activation that spreads.
    pub threshold: f32,
    /// Hops.
    pub hops: usize,
}

/// Each row's best and second-best centroid scores (what `kmeans_assign_top2` returns).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct TopTwo {
    /// Per row, the index of its most similar centroid (`u32::MAX` for dead rows).
    pub labels: Vec<u32>,
    /// Per row, its dot product with that centroid (`f32::NEG_INFINITY` for dead rows).
    pub scores: Vec<f32>,
    /// Per row, the best dot product with any other centroid (`f32::NEG_INFINITY` when
    /// `k = 1` and for dead rows).
    pub second: Vec<f32>,
}
