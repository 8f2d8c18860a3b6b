//! Backend selection: `Auto | Cpu | Gpu`, one enum over both paths.

use std::sync::{Arc, OnceLock};

use super::cpu::SimdLevel;
use super::error::{EnvError, GpuError, SelectError};
use super::gpu::{GpuContext, GpuOptions};

/// Which compute backend to use.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub enum BackendChoice {
    /// A real GPU adapter if one exists, otherwise the CPU (software adapters are not taken).
    /// The choice and its reason are logged. The environment variable `ENGRAM_BACKEND`
    /// (`cpu`, `gpu`, `auto`) overrides this default.
    #[default]
    Auto,
    /// Always the CPU path.
    Cpu,
    /// The GPU path (any adapter, software ones included); an error if none exists.
    Gpu,
}

impl BackendChoice {
    /// Parses `cpu`, `gpu` or `auto` (case-insensitive).
    pub fn parse(s: &str) -> Option<Self> {
        match s.trim().to_ascii_lowercase().as_str() {
            "auto" => Some(Self::Auto),
            "cpu" => Some(Self::Cpu),
            "gpu" => Some(Self::Gpu),
            _ => None,
        }
    }

    /// The name, as accepted by [`BackendChoice::parse`].
    pub fn name(&self) -> &'static str {
        match self {
            Self::Auto => "auto",
            Self::Cpu => "cpu",
            Self::Gpu => "gpu",
        }
    }
}

/// The choice `ENGRAM_BACKEND` names, if it is set (and not blank).
pub fn choice_from_env() -> Result<Option<BackendChoice>, EnvError> {
    match std::env::var("ENGRAM_BACKEND") {
        Ok(v) if v.trim().is_empty() => Ok(None),
        Ok(v) => BackendChoice::parse(&v).map(Some).ok_or(EnvError {
            name: "ENGRAM_BACKEND",
            value: v,
            expected: "cpu, gpu, auto",
        }),
        Err(_) => Ok(None),
    }
}

/// The compute backend an engine runs on.
#[derive(Debug, Clone)]
pub enum Backend {
    /// The CPU path at a SIMD level.
    Cpu(SimdLevel),
    /// A GPU device (shared by every engine of the process).
    Gpu(Arc<GpuContext>),
}

impl Backend {
    /// `cpu` or `gpu`.
    pub fn kind(&self) -> &'static str {
        match self {
            Backend::Cpu(_) => "cpu",
            Backend::Gpu(_) => "gpu",
        }
    }

    /// A one-line description: the SIMD level or the adapter.
    pub fn describe(&self) -> String {
        match self {
            Backend::Cpu(l) => format!("cpu ({})", l.name()),
            Backend::Gpu(c) => {
                let cap = c.capabilities();
                format!(
                    "gpu ({}, {}, {}{})",
                    cap.adapter_name,
                    cap.backend,
                    cap.device_type,
                    if cap.is_software { ", software" } else { "" }
                )
            }
        }
    }
}

/// The backend chosen and why.
#[derive(Debug, Clone)]
pub struct Selection {
    /// The backend.
    pub backend: Backend,
    /// What was asked for (after `ENGRAM_BACKEND`).
    pub requested: BackendChoice,
    /// Why this backend was taken.
    pub reason: String,
}

/// The process-wide GPU context for hardware adapters only (`software = false`) or for any
/// adapter, created once on first use.
pub fn shared_context(software: bool) -> Result<Arc<GpuContext>, GpuError> {
    static HW: OnceLock<Result<Arc<GpuContext>, GpuError>> = OnceLock::new();
    static ANY: OnceLock<Result<Arc<GpuContext>, GpuError>> = OnceLock::new();
    let cell = if software { &ANY } else { &HW };
    cell.get_or_init(|| {
        GpuContext::new(&GpuOptions {
            allow_software: software,
            max_binding_override: None,
        })
        .map(Arc::new)
    })
    .clone()
}

/// Resolves a choice: `ENGRAM_BACKEND` replaces `Auto`; `Auto` takes a hardware GPU adapter
/// if one exists and otherwise the CPU (never a software adapter), saying why; `Gpu` takes any
/// adapter, software ones included, and is an error when there is none; `Cpu` is the CPU.
pub fn select(choice: BackendChoice) -> Result<Selection, SelectError> {
    let requested = match choice {
        BackendChoice::Auto => choice_from_env()?.unwrap_or(BackendChoice::Auto),
        c => c,
    };
    let cpu = Backend::Cpu(SimdLevel::current());
    let sel = match requested {
        BackendChoice::Cpu => Selection {
            backend: cpu,
            requested,
            reason: "the CPU was requested".into(),
        },
        BackendChoice::Gpu => {
            let ctx = shared_context(true)?;
            Selection {
                reason: format!("the GPU was requested: {}", ctx.capabilities().adapter_name),
                backend: Backend::Gpu(ctx),
                requested,
            }
        }
        BackendChoice::Auto => match shared_context(false) {
            Ok(ctx) => Selection {
                reason: format!(
                    "auto: found GPU adapter {}",
                    ctx.capabilities().adapter_name
                ),
                backend: Backend::Gpu(ctx),
                requested,
            },
            Err(e) => Selection {
                backend: cpu,
                requested,
                reason: format!("auto: no hardware GPU adapter ({e}); using the CPU"),
            },
        },
    };
    log::info!("backend: {} — {}", sel.backend.describe(), sel.reason);
    Ok(sel)
}
