//! Recall: episodic, semantic and blended retrieval, pattern completion, spreading activation
//! with an ACT-R latency, recognition (familiarity) and the strength model of rehearsal.
//!
//! - [`Engram::recall`](crate::Engram::recall) / [`Engram::recall_view`](crate::Engram::recall_view) with [`RecallParams`]: the episodic pathway
//!   is exact top-k; the semantic pathway probes the concepts nearest the cue and scores only
//!   their bound episodes (an IVF-like approximate search); blended fuses both
//!   (`score = w_e·episodic + w_s·semantic`, a pathway that did not find a hit adds 0) and every
//!   [`RecallHit`] says which pathway(s) found it. With completion on, a concept's centroid is
//!   returned as a reconstructed memory when no stored episode matches the cue well — the
//!   mechanism behind false memories.
//! - [`Engram::recall`](crate::Engram::recall) strengthens what it recalls; [`Engram::recall_view`](crate::Engram::recall_view) changes nothing.
//! - Strength model: retention `R(Δt) = (1 + Δt/(τ·s))^(−c)` (a power law, Wixted & Ebbesen
//!   1991), `Δt` the time since the last access, `s` the episode's strength. A rehearsal
//!   ([`Engram::rehearse`](crate::Engram::rehearse), or being recalled) adds `base + gain·(1 − R)` to `s`: rehearsing
//!   what is still fresh adds little, rehearsing after some forgetting adds much — so the same
//!   number of rehearsals spaced out leaves stronger memories than massed ones (the spacing
//!   effect), as in stability-based models of memory (Bjork & Bjork 1992's storage strength;
//!   Pavlik & Anderson 2005 get the same from ACT-R's base-level learning).
//! - [`activation`]: spreading activation and retrieval latency.
//! - [`familiarity`]: recognition with a documented decision rule.

pub mod activation;
mod activation_gpu;
mod config;
mod engine_recall;
pub mod familiarity;
mod lists;
mod params;

pub use activation::{Activation, Retrieval};
pub(crate) use activation_gpu::SpreadGraphCache;
pub use activation_gpu::GPU_SPREAD_MIN_WORK;
pub use config::RecallConfig;
pub use familiarity::Familiarity;
pub(crate) use lists::ConceptLists;
pub use lists::{IndexList, ListStats};
pub use params::{Pathways, RecallHit, RecallMode, RecallParams};
