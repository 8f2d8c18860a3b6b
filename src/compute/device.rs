//! The one door to the hardware an engine computes on: the backend chosen (and why), the SIMD
//! level of the CPU kernels, the resident GPU copy of the episode rows, and the one way GPU
//! work is run — [`Device::run_gpu`] — so that a device failure behaves the same for every
//! caller (search, spreading activation, clustering).
//!
//! A failure, real or simulated ([`Device::simulate_failure`]), is handled once, here:
//!
//! - when the device falls back ([`Device::falls_back`]), the failure is logged once, the
//!   device stays on the CPU from then on ([`Device::backend`] says so), the resident rows are
//!   dropped and the caller is told to use the CPU (`Ok(None)`), which gives the same results;
//! - otherwise the error is returned and nothing changes: the next call tries the GPU again.
//!
//! ```
//! use engram::compute::{select, BackendChoice, Device};
//! let device = Device::new(select(BackendChoice::Cpu).unwrap(), true);
//! // On the CPU there is nothing to run on the GPU: the caller computes on the CPU.
//! let out = device.run_gpu("search", |_gpu| Ok::<_, engram::GpuError>(1));
//! assert_eq!(out, Ok(None));
//! ```

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, OnceLock};

use parking_lot::{RwLock, RwLockReadGuard, RwLockWriteGuard};

use super::backend::{Backend, Selection};
use super::cpu::SimdLevel;
use super::error::GpuError;
use super::gpu::{GpuContext, GpuLayout, GpuMatrix, GpuMirror};
use super::rows::RowSet;

/// An error that may be a GPU failure (then [`Device::run_gpu`] may fall back to the CPU) or
/// something else (returned as it is: bad input, invalid parameters...).
pub trait GpuFailure {
    /// The GPU failure this error is, if it is one.
    fn gpu_failure(&self) -> Option<&GpuError>;
}

impl GpuFailure for GpuError {
    fn gpu_failure(&self) -> Option<&GpuError> {
        Some(self)
    }
}

/// The compute device of one engine: backend, SIMD level, resident GPU rows, failure state.
pub struct Device {
    selection: Selection,
    level: SimdLevel,
    fallback: bool,
    /// The GPU copy of the episode rows, synchronised lazily before GPU work: brought up to
    /// date under the write lock when rows changed, read under shared locks otherwise.
    mirror: RwLock<GpuMirror>,
    /// Set when the GPU failed and the device fell back: it then stays on the CPU.
    failed: AtomicBool,
    /// A simulated failure for the next GPU operation (tests of the fallback).
    fault: AtomicBool,
}

impl std::fmt::Debug for Device {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Device")
            .field("backend", &self.selection.backend.describe())
            .field("level", &self.level)
            .field("fallback", &self.fallback)
            .field("failed", &self.failed.load(Ordering::Relaxed))
            .field("mirror", &*self.mirror.read())
            .finish()
    }
}

impl Clone for Device {
    /// The same backend, level and failure state; the copy re-uploads its GPU rows when it
    /// first needs them, and a pending simulated failure is not copied.
    fn clone(&self) -> Self {
        Self {
            selection: self.selection.clone(),
            level: self.level,
            fallback: self.fallback,
            mirror: RwLock::new(GpuMirror::default()),
            failed: AtomicBool::new(self.failed.load(Ordering::Relaxed)),
            fault: AtomicBool::new(false),
        }
    }
}

/// What GPU work receives from [`Device::run_gpu`]: the device's context and its resident rows.
pub struct Gpu<'a> {
    ctx: &'a Arc<GpuContext>,
    mirror: &'a RwLock<GpuMirror>,
}

impl Gpu<'_> {
    /// The GPU context.
    pub fn context(&self) -> &Arc<GpuContext> {
        self.ctx
    }

    /// Runs `f` on the resident copy of `rows` in `layout`, first uploading the rows the copy
    /// lacks and masking the rows tombstoned since the last call.
    ///
    /// Calls on an unchanged copy share it (a read lock: concurrent searches run side by side);
    /// only a call that finds rows to upload or mask takes the write lock, and it runs `f`
    /// under a read lock again once the copy is current.
    pub fn with_rows<T>(
        &self,
        rows: &RowSet<'_>,
        layout: GpuLayout,
        f: impl FnOnce(&GpuContext, &GpuMatrix) -> Result<T, GpuError>,
    ) -> Result<T, GpuError> {
        {
            let mirror = self.mirror.read();
            if let Some(m) = mirror.current(rows, layout) {
                return f(self.ctx, m);
            }
        }
        let mut mirror = self.mirror.write();
        mirror.sync(self.ctx, rows, layout)?;
        let mirror = RwLockWriteGuard::downgrade(mirror);
        let m = mirror.current(rows, layout).ok_or_else(|| {
            GpuError::Unsupported("the resident rows are not current after a sync".into())
        })?;
        f(self.ctx, m)
    }
}

impl Device {
    /// A device for `selection` at the current SIMD level ([`SimdLevel::current`]). With
    /// `fallback`, a GPU failure makes it continue on the CPU (see [`Device::run_gpu`]).
    pub fn new(selection: Selection, fallback: bool) -> Self {
        Self {
            selection,
            level: SimdLevel::current(),
            fallback,
            mirror: RwLock::new(GpuMirror::default()),
            failed: AtomicBool::new(false),
            fault: AtomicBool::new(false),
        }
    }

    /// Moves to another backend: the resident rows are dropped (rebuilt on the next GPU call)
    /// and a previous failure is forgotten. A pending simulated failure stays pending.
    pub fn reset(&mut self, selection: Selection, fallback: bool) {
        self.selection = selection;
        self.fallback = fallback;
        *self.mirror.get_mut() = GpuMirror::default();
        *self.failed.get_mut() = false;
    }

    /// The backend chosen and why (as chosen: see [`Device::backend`] for the one in use).
    pub fn selection(&self) -> &Selection {
        &self.selection
    }

    /// The backend work runs on: the one chosen, or the CPU after the GPU failed and the
    /// device fell back.
    pub fn backend(&self) -> &Backend {
        if self.failed() {
            static CPU: OnceLock<Backend> = OnceLock::new();
            return CPU.get_or_init(|| Backend::Cpu(SimdLevel::current()));
        }
        &self.selection.backend
    }

    /// The GPU context work would run on now: `None` on the CPU and after a failure.
    pub fn gpu(&self) -> Option<&Arc<GpuContext>> {
        match self.backend() {
            Backend::Gpu(ctx) => Some(ctx),
            Backend::Cpu(_) => None,
        }
    }

    /// The SIMD level of the CPU kernels.
    pub fn level(&self) -> SimdLevel {
        self.level
    }

    /// Whether a GPU failure makes the device continue on the CPU.
    pub fn falls_back(&self) -> bool {
        self.fallback
    }

    /// Whether the GPU failed and the device fell back to the CPU.
    pub fn failed(&self) -> bool {
        self.failed.load(Ordering::Relaxed)
    }

    /// Makes the next GPU operation fail as if the device were lost.
    pub fn simulate_failure(&self) {
        self.fault.store(true, Ordering::Relaxed);
    }

    /// Consumes a pending simulated failure: [`GpuError::DeviceLost`] if there was one. For
    /// work on a context given from outside, which does not go through [`Device::run_gpu`].
    pub fn take_simulated_failure(&self) -> Result<(), GpuError> {
        if self.fault.swap(false, Ordering::Relaxed) {
            return Err(GpuError::DeviceLost("simulated device loss".into()));
        }
        Ok(())
    }

    /// Drops the resident rows (e.g. after the rows moved); they are uploaded again on the
    /// next GPU call.
    pub fn drop_resident(&mut self) {
        *self.mirror.get_mut() = GpuMirror::default();
    }

    /// Rows uploaded to the resident copy since it was last dropped (both layouts).
    pub fn uploaded_rows(&self) -> u64 {
        self.mirror.read().uploaded_rows()
    }

    /// The resident rows, read-locked (for inspection; GPU work goes through
    /// [`Device::run_gpu`] and [`Gpu::with_rows`]).
    pub fn resident(&self) -> RwLockReadGuard<'_, GpuMirror> {
        self.mirror.read()
    }

    /// Runs `f` on the GPU when that is the backend in use, else returns `Ok(None)`: the caller
    /// then computes on the CPU. `what` names the work for the log.
    ///
    /// A pending simulated failure fails the call before `f` runs. When the call fails with a
    /// GPU error and the device falls back, the failure is logged (once, however many callers
    /// fail together), the device moves to the CPU for good, its resident rows are dropped and
    /// the result is `Ok(None)`. Otherwise the error is returned: GPU errors when the device
    /// does not fall back (nothing changes; the next call tries the GPU again), and errors
    /// that are not GPU failures always.
    pub fn run_gpu<T, E>(
        &self,
        what: &str,
        f: impl FnOnce(&Gpu<'_>) -> Result<T, E>,
    ) -> Result<Option<T>, E>
    where
        E: From<GpuError> + GpuFailure + std::fmt::Display,
    {
        let Some(ctx) = self.gpu() else {
            return Ok(None);
        };
        let result = match self.take_simulated_failure() {
            Err(e) => Err(E::from(e)),
            Ok(()) => f(&Gpu {
                ctx,
                mirror: &self.mirror,
            }),
        };
        match result {
            Ok(v) => Ok(Some(v)),
            Err(e) if self.fallback && e.gpu_failure().is_some() => {
                if !self.failed.swap(true, Ordering::Relaxed) {
                    log::warn!("GPU {what} failed ({e}); continuing on the CPU");
                }
                *self.mirror.write() = GpuMirror::default();
                Ok(None)
            }
            Err(e) => Err(e),
        }
    }
}
