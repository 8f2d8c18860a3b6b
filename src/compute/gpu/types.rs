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
