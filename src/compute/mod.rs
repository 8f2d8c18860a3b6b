//! The numeric kernels: a CPU path that is always compiled, and a GPU path behind `gpu`.

pub mod cpu;
pub mod gpu;
pub mod topk;

pub use topk::{merge_sorted, Hit, TopK};
