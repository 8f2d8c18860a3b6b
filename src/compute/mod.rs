//! The numeric kernels: a CPU path that is always compiled, and a GPU path behind `gpu`
//! (present without it too, returning [`GpuError::NotCompiled`](crate::GpuError::NotCompiled)).

pub mod backend;
pub mod cpu;
pub mod gpu;
pub mod topk;

pub use backend::{select, Backend, Selection};
pub use topk::{merge_sorted, Hit, TopK};
