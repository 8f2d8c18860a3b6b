//! Device setup: instance, adapter, device and queue, the capabilities record, the pipeline cache,
//! the staging-buffer pool and the one readback helper every kernel uses.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};

use wgpu::util::DeviceExt;

use super::types::{Capabilities, GpuOptions};
use crate::compute::error::GpuError;

/// Key of the pipeline cache: shader name, entry point and override constants (as bit patterns).
type PipelineKey = (&'static str, Vec<(&'static str, u64)>);

/// The GPU: device, queue, limits, pipeline cache and staging pool.
///
/// Kernels take a `&GpuContext`; they never create devices. The context is `Send + Sync`.
pub struct GpuContext {
    // The instance and adapter are kept alive for the device's lifetime.
    _instance: wgpu::Instance,
    _adapter: wgpu::Adapter,
    pub(crate) device: wgpu::Device,
    pub(crate) queue: wgpu::Queue,
    caps: Capabilities,
    limits: wgpu::Limits,
    pipelines: Mutex<HashMap<PipelineKey, Arc<wgpu::ComputePipeline>>>,
    modules: Mutex<HashMap<&'static str, Arc<wgpu::ShaderModule>>>,
    staging: Mutex<Vec<wgpu::Buffer>>,
    lost: Arc<Mutex<Option<String>>>,
    uncaptured: Arc<Mutex<Option<GpuError>>>,
    /// Rows uploaded from the host into any [`super::GpuMatrix`] on this device.
    rows_uploaded: AtomicU64,
}

impl std::fmt::Debug for GpuContext {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GpuContext")
            .field("caps", &self.caps)
            .finish_non_exhaustive()
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

/// Converts a wgpu error into ours.
pub(crate) fn map_wgpu_error(e: wgpu::Error) -> GpuError {
    match e {
        wgpu::Error::OutOfMemory { .. } => GpuError::OutOfMemory(e.to_string()),
        wgpu::Error::Validation { description, .. } => GpuError::Validation(description),
        wgpu::Error::Internal { description, .. } => GpuError::Validation(description),
    }
}

impl GpuContext {
    /// Opens the adapter chosen by the wgpu environment conventions (`WGPU_BACKEND`,
    /// `WGPU_ADAPTER_NAME`, `WGPU_POWER_PREF`) and a device with the adapter's own limits.
    ///
    /// Returns [`GpuError::NoAdapter`] when no adapter exists, or when the only one is a software
    /// adapter and `opts.allow_software` is false.
    pub fn new(opts: &GpuOptions) -> Result<Self, GpuError> {
        pollster::block_on(Self::new_async(opts))
    }

    async fn new_async(opts: &GpuOptions) -> Result<Self, GpuError> {
        let mut desc = wgpu::InstanceDescriptor::new_without_display_handle();
        desc.backends = wgpu::Backends::from_env().unwrap_or(wgpu::Backends::PRIMARY);
        let instance = wgpu::Instance::new(desc);
        let adapter = Self::pick_adapter(&instance, opts).await?;
        let info = adapter.get_info();
        let is_software = info.device_type == wgpu::DeviceType::Cpu;
        if is_software && !opts.allow_software {
            return Err(GpuError::NoAdapter(format!(
                "the only adapter, {:?} ({:?}), is a software rasteriser and software adapters \
                 were not allowed",
                info.name, info.backend
            )));
        }
        let features = adapter.features();
        let limits = adapter.limits();
        let (device, queue) = adapter
            .request_device(&wgpu::DeviceDescriptor {
                label: Some("engram"),
                required_features: wgpu::Features::empty(),
                required_limits: limits.clone(),
                ..Default::default()
            })
            .await
            .map_err(|e| GpuError::RequestDevice {
                adapter: info.name.clone(),
                reason: e.to_string(),
            })?;
        let limits = device.limits();
        let lost = Arc::new(Mutex::new(None::<String>));
        let lost2 = Arc::clone(&lost);
        device.set_device_lost_callback(move |reason, msg| {
            *lock(&lost2) = Some(format!("{reason:?}: {msg}"));
        });
        let uncaptured = Arc::new(Mutex::new(None::<GpuError>));
        let unc2 = Arc::clone(&uncaptured);
        device.on_uncaptured_error(Arc::new(move |e: wgpu::Error| {
            log::error!("uncaptured wgpu error: {e}");
            let mut slot = lock(&unc2);
            if slot.is_none() {
                *slot = Some(map_wgpu_error(e));
            }
        }));
        let device_binding = limits.max_storage_buffer_binding_size;
        let binding = opts
            .max_binding_override
            .map_or(device_binding, |o| o.clamp(4096, device_binding))
            & !3;
        let caps = Capabilities {
            adapter_name: info.name.clone(),
            backend: format!("{:?}", info.backend),
            device_type: format!("{:?}", info.device_type),
            driver: format!("{} {}", info.driver, info.driver_info),
            is_software,
            shader_f16: features.contains(wgpu::Features::SHADER_F16),
            subgroup: features.contains(wgpu::Features::SUBGROUP),
            timestamp_query: features.contains(wgpu::Features::TIMESTAMP_QUERY),
            max_storage_buffer_binding_size: binding,
            max_buffer_size: limits.max_buffer_size,
            max_workgroup_storage: limits.max_compute_workgroup_storage_size,
            max_invocations: limits.max_compute_invocations_per_workgroup,
            max_workgroups_per_dimension: limits.max_compute_workgroups_per_dimension,
        };
        log::info!(
            "engram gpu: adapter {:?}, backend {}, type {}, driver {:?}, binding limit {} bytes",
            caps.adapter_name,
            caps.backend,
            caps.device_type,
            caps.driver,
            caps.max_storage_buffer_binding_size
        );
        Ok(Self {
            _instance: instance,
            _adapter: adapter,
            device,
            queue,
            caps,
            limits,
            pipelines: Mutex::new(HashMap::new()),
            modules: Mutex::new(HashMap::new()),
            staging: Mutex::new(Vec::new()),
            lost,
            uncaptured,
            rows_uploaded: AtomicU64::new(0),
        })
    }

    async fn pick_adapter(
        instance: &wgpu::Instance,
        opts: &GpuOptions,
    ) -> Result<wgpu::Adapter, GpuError> {
        let backends = wgpu::Backends::from_env().unwrap_or(wgpu::Backends::PRIMARY);
        let adapters = instance.enumerate_adapters(backends).await;
        if adapters.is_empty() {
            return Err(GpuError::NoAdapter(format!(
                "no adapter on backends {backends:?}"
            )));
        }
        if let Ok(name) = std::env::var("WGPU_ADAPTER_NAME") {
            let want = name.to_lowercase();
            return adapters
                .into_iter()
                .find(|a| a.get_info().name.to_lowercase().contains(&want))
                .ok_or_else(|| {
                    GpuError::NoAdapter(format!("no adapter matches WGPU_ADAPTER_NAME={name:?}"))
                });
        }
        let pref =
            wgpu::PowerPreference::from_env().unwrap_or(wgpu::PowerPreference::HighPerformance);
        let rank = |a: &wgpu::Adapter| {
            let t = a.get_info().device_type;
            let soft = t == wgpu::DeviceType::Cpu;
            let kind = match (t, pref) {
                (wgpu::DeviceType::DiscreteGpu, wgpu::PowerPreference::LowPower) => 1,
                (wgpu::DeviceType::DiscreteGpu, _) => 0,
                (wgpu::DeviceType::IntegratedGpu, wgpu::PowerPreference::LowPower) => 0,
                (wgpu::DeviceType::IntegratedGpu, _) => 1,
                (wgpu::DeviceType::VirtualGpu, _) => 2,
                (wgpu::DeviceType::Other, _) => 3,
                (wgpu::DeviceType::Cpu, _) => 4,
            };
            (soft && !opts.allow_software, kind)
        };
        let mut adapters = adapters;
        adapters.sort_by_key(rank);
        adapters
            .into_iter()
            .next()
            .ok_or_else(|| GpuError::NoAdapter("no adapter".into()))
    }

    /// What the device is and can do.
    pub fn capabilities(&self) -> &Capabilities {
        &self.caps
    }

    /// Rows uploaded from the host into resident matrices on this device since it was opened
    /// (every [`super::GpuMatrix::append`], whoever made the matrix): what a caller checks to see
    /// that only new rows crossed the bus. Rows copied on the device
    /// ([`super::GpuMatrix::gather`]) do not count.
    pub fn rows_uploaded(&self) -> u64 {
        self.rows_uploaded.load(Ordering::Relaxed)
    }

    pub(crate) fn count_uploaded(&self, rows: usize) {
        self.rows_uploaded.fetch_add(rows as u64, Ordering::Relaxed);
    }

    /// The storage-binding limit in bytes engram works with (after any override).
    pub fn binding_limit(&self) -> u64 {
        self.caps.max_storage_buffer_binding_size
    }

    pub(crate) fn limits(&self) -> &wgpu::Limits {
        &self.limits
    }

    /// Allocates (and immediately frees) a storage buffer of `bytes`, reporting whether the
    /// device can hold it. An impossible size is a [`GpuError`], never a panic.
    pub fn try_allocate(&self, bytes: u64) -> Result<(), GpuError> {
        self.scoped(|| {
            let b = self.storage_buffer("engram probe", bytes, false)?;
            b.destroy();
            Ok(())
        })
    }

    /// Fails if the device was lost or an error escaped every scope.
    pub(crate) fn check_health(&self) -> Result<(), GpuError> {
        if let Some(msg) = lock(&self.lost).clone() {
            return Err(GpuError::DeviceLost(msg));
        }
        if let Some(e) = lock(&self.uncaptured).take() {
            return Err(e);
        }
        Ok(())
    }

    /// Runs `f` inside error scopes so that out-of-memory, validation and internal errors become
    /// values. A scope error wins over the closure's own error (it is the cause).
    pub(crate) fn scoped<T>(&self, f: impl FnOnce() -> Result<T, GpuError>) -> Result<T, GpuError> {
        self.check_health()?;
        let oom = self.device.push_error_scope(wgpu::ErrorFilter::OutOfMemory);
        let val = self.device.push_error_scope(wgpu::ErrorFilter::Validation);
        let int = self.device.push_error_scope(wgpu::ErrorFilter::Internal);
        let r = f();
        let e_int = pollster::block_on(int.pop());
        let e_val = pollster::block_on(val.pop());
        let e_oom = pollster::block_on(oom.pop());
        if let Some(e) = e_oom.or(e_val).or(e_int) {
            return Err(map_wgpu_error(e));
        }
        self.check_health()?;
        r
    }

    /// Creates a storage buffer after checking the size against the device limits.
    pub(crate) fn storage_buffer(
        &self,
        label: &str,
        bytes: u64,
        copy_src: bool,
    ) -> Result<wgpu::Buffer, GpuError> {
        let size = bytes.max(4).next_multiple_of(4);
        if size > self.caps.max_buffer_size {
            return Err(GpuError::OutOfMemory(format!(
                "{label}: a buffer of {size} bytes exceeds the device's max_buffer_size of {}",
                self.caps.max_buffer_size
            )));
        }
        let mut usage = wgpu::BufferUsages::STORAGE | wgpu::BufferUsages::COPY_DST;
        if copy_src {
            usage |= wgpu::BufferUsages::COPY_SRC;
        }
        Ok(self.device.create_buffer(&wgpu::BufferDescriptor {
            label: Some(label),
            size,
            usage,
            mapped_at_creation: false,
        }))
    }

    /// A storage buffer initialised from `data` (at least 4 bytes).
    pub(crate) fn storage_init(&self, label: &str, data: &[u8]) -> Result<wgpu::Buffer, GpuError> {
        if data.len() as u64 > self.binding_limit() {
            return Err(GpuError::Unsupported(format!(
                "{label}: {} bytes exceed the binding limit of {}",
                data.len(),
                self.binding_limit()
            )));
        }
        let mut padded;
        let contents = if data.len() < 4 || !data.len().is_multiple_of(4) {
            padded = data.to_vec();
            padded.resize(data.len().max(4).next_multiple_of(4), 0);
            &padded[..]
        } else {
            data
        };
        Ok(self
            .device
            .create_buffer_init(&wgpu::util::BufferInitDescriptor {
                label: Some(label),
                contents,
                usage: wgpu::BufferUsages::STORAGE
                    | wgpu::BufferUsages::COPY_DST
                    | wgpu::BufferUsages::COPY_SRC,
            }))
    }

    /// A uniform buffer holding `data`.
    pub(crate) fn uniform<T: bytemuck::Pod>(&self, label: &str, data: &T) -> wgpu::Buffer {
        self.device
            .create_buffer_init(&wgpu::util::BufferInitDescriptor {
                label: Some(label),
                contents: bytemuck::bytes_of(data),
                usage: wgpu::BufferUsages::UNIFORM,
            })
    }

    /// The compute pipeline of `shader`'s `main` with these override constants, compiled once.
    pub(crate) fn pipeline(
        &self,
        name: &'static str,
        source: &'static str,
        constants: &[(&'static str, f64)],
    ) -> Result<Arc<wgpu::ComputePipeline>, GpuError> {
        let key: PipelineKey = (
            name,
            constants.iter().map(|(n, v)| (*n, v.to_bits())).collect(),
        );
        if let Some(p) = lock(&self.pipelines).get(&key) {
            return Ok(Arc::clone(p));
        }
        let module = {
            let mut modules = lock(&self.modules);
            match modules.get(name) {
                Some(m) => Arc::clone(m),
                None => {
                    let m = self.scoped(|| {
                        Ok(Arc::new(self.device.create_shader_module(
                            wgpu::ShaderModuleDescriptor {
                                label: Some(name),
                                source: wgpu::ShaderSource::Wgsl(source.into()),
                            },
                        )))
                    })?;
                    modules.insert(name, Arc::clone(&m));
                    m
                }
            }
        };
        let pipeline = self.scoped(|| {
            Ok(Arc::new(self.device.create_compute_pipeline(
                &wgpu::ComputePipelineDescriptor {
                    label: Some(name),
                    layout: None,
                    module: &module,
                    entry_point: Some("main"),
                    compilation_options: wgpu::PipelineCompilationOptions {
                        constants,
                        zero_initialize_workgroup_memory: false,
                    },
                    cache: None,
                },
            )))
        })?;
        lock(&self.pipelines).insert(key, Arc::clone(&pipeline));
        Ok(pipeline)
    }

    /// A bind group for group 0 of `pipeline` binding `buffers` at 0, 1, 2, ...
    pub(crate) fn bind(
        &self,
        pipeline: &wgpu::ComputePipeline,
        buffers: &[&wgpu::Buffer],
    ) -> wgpu::BindGroup {
        let layout = pipeline.get_bind_group_layout(0);
        let entries: Vec<wgpu::BindGroupEntry<'_>> = buffers
            .iter()
            .enumerate()
            .map(|(i, b)| wgpu::BindGroupEntry {
                binding: i as u32,
                resource: b.as_entire_binding(),
            })
            .collect();
        self.device.create_bind_group(&wgpu::BindGroupDescriptor {
            label: None,
            layout: &layout,
            entries: &entries,
        })
    }

    /// A command encoder.
    pub(crate) fn encoder(&self) -> wgpu::CommandEncoder {
        self.device
            .create_command_encoder(&wgpu::CommandEncoderDescriptor { label: None })
    }

    /// Records one dispatch of `pipeline` with `buffers` bound in order.
    pub(crate) fn dispatch(
        &self,
        enc: &mut wgpu::CommandEncoder,
        pipeline: &wgpu::ComputePipeline,
        buffers: &[&wgpu::Buffer],
        groups: (u32, u32, u32),
    ) {
        let bg = self.bind(pipeline, buffers);
        let mut pass = enc.begin_compute_pass(&wgpu::ComputePassDescriptor {
            label: None,
            timestamp_writes: None,
        });
        pass.set_pipeline(pipeline);
        pass.set_bind_group(0, &bg, &[]);
        pass.dispatch_workgroups(groups.0, groups.1, groups.2);
    }

    /// Submits `enc` and waits for the device to finish it.
    pub(crate) fn submit_wait(&self, enc: wgpu::CommandEncoder) -> Result<(), GpuError> {
        let idx = self.queue.submit([enc.finish()]);
        self.device
            .poll(wgpu::PollType::Wait {
                submission_index: Some(idx),
                timeout: None,
            })
            .map_err(|e| GpuError::DeviceLost(format!("waiting for the GPU: {e}")))?;
        self.check_health()
    }

    fn take_staging(&self, size: u64) -> wgpu::Buffer {
        let mut pool = lock(&self.staging);
        if let Some(i) = pool
            .iter()
            .enumerate()
            .filter(|(_, b)| b.size() >= size)
            .min_by_key(|(_, b)| b.size())
            .map(|(i, _)| i)
        {
            return pool.swap_remove(i);
        }
        drop(pool);
        self.device.create_buffer(&wgpu::BufferDescriptor {
            label: Some("engram staging"),
            size: size
                .max(256)
                .next_power_of_two()
                .min(self.caps.max_buffer_size.max(size)),
            usage: wgpu::BufferUsages::MAP_READ | wgpu::BufferUsages::COPY_DST,
            mapped_at_creation: false,
        })
    }

    fn give_staging(&self, b: wgpu::Buffer) {
        let mut pool = lock(&self.staging);
        if pool.len() < 8 {
            pool.push(b);
        }
    }

    /// The one readback helper: appends copies of `reads` (buffer, bytes from offset 0) to `enc`,
    /// submits, waits, and returns the bytes of each read. Staging buffers are pooled.
    pub(crate) fn submit_and_read(
        &self,
        mut enc: wgpu::CommandEncoder,
        reads: &[(&wgpu::Buffer, u64)],
    ) -> Result<Vec<Vec<u8>>, GpuError> {
        let total: u64 = reads.iter().map(|(_, n)| n.next_multiple_of(4)).sum();
        let staging = self.take_staging(total.max(4));
        let mut off = 0;
        for (b, n) in reads {
            let n4 = n.next_multiple_of(4);
            if n4 > 0 {
                enc.copy_buffer_to_buffer(b, 0, &staging, off, n4);
            }
            off += n4;
        }
        self.submit_wait(enc)?;
        let slice = staging.slice(0..total.max(4));
        let (tx, rx) = std::sync::mpsc::channel();
        slice.map_async(wgpu::MapMode::Read, move |r| {
            let _ = tx.send(r);
        });
        self.device
            .poll(wgpu::PollType::Wait {
                submission_index: None,
                timeout: None,
            })
            .map_err(|e| GpuError::Readback(format!("waiting for the map: {e}")))?;
        rx.recv()
            .map_err(|e| GpuError::Readback(format!("map callback dropped: {e}")))?
            .map_err(|e| GpuError::Readback(e.to_string()))?;
        let out = {
            let view = slice
                .get_mapped_range()
                .map_err(|e| GpuError::Readback(format!("{e:?}")))?;
            let mut out = Vec::with_capacity(reads.len());
            let mut off = 0usize;
            for (_, n) in reads {
                out.push(view[off..off + *n as usize].to_vec());
                off += n.next_multiple_of(4) as usize;
            }
            out
        };
        staging.unmap();
        self.give_staging(staging);
        Ok(out)
    }
}

/// Casts read-back bytes to a vector of `T` (copying, as the bytes may be unaligned).
pub(crate) fn cast_vec<T: bytemuck::Pod>(bytes: &[u8]) -> Vec<T> {
    bytemuck::pod_collect_to_vec(bytes)
}
