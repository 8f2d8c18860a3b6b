//! The numeric kernels: a CPU path that is always compiled, and a GPU path behind `gpu`
//! (present without it too, returning [`GpuError::NotCompiled`]).
//!
//! This is the crate's ground floor: nothing here imports anything from the rest of the crate
//! (`tests/layering.rs` checks it), so the engine, clustering and recall build on it and never
//! the other way round.

pub mod backend;
pub mod cpu;
pub mod device;
pub mod error;
pub mod gpu;
pub mod rows;
pub mod topk;

pub use backend::{select, Backend, BackendChoice, Selection};
pub use device::{Device, Gpu, GpuFailure};
pub use error::{EnvError, GpuError, SelectError};
pub use rows::{RowChunk, RowMask, RowSet, Rows};
pub use topk::{merge_sorted, Hit, TopK};
