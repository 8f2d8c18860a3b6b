//! Migration of legacy single-type memories (JSON Lines, `.npy`, `.fvecs`) into the dual
//! store: classification ([`classify`]), sealed checkpoints and resume ([`checkpoint`]),
//! verification ([`verify`]), atomic commit, rollback and discard.
//!
//! **Offline** ([`import`]): the store directory (created if missing) is copied into a staging
//! store under `STORE/import/stage`, records are applied there, and at the end the staged
//! snapshot is renamed over the store's in one atomic step. Until then the store is untouched
//! ([`discard`] removes the staging); afterwards [`rollback`] puts the pre-import files back
//! byte for byte (kept under `STORE/import/pre` until the next import).
//!
//! **Online** ([`import_online`]): records go straight into an open [`SharedEngram`](crate::SharedEngram) one
//! batch per write lock, so searches wait at most one batch. Each batch is written with the
//! import's progress in the store's ledger of it ([`crate::ledger`]), so an interrupted online
//! import resumes exactly where the store stands, and [`rollback_online`] removes exactly
//! what it added.
//!
//! The runbook is `docs/operations.md`.

pub mod checkpoint;
pub mod classify;
mod offline;
mod online;
mod pipeline;
pub mod source;
pub mod verify;

use std::path::{Path, PathBuf};
use std::time::Instant;

use serde_json::json;

use crate::config::Config;
use crate::engine::Engram;
use crate::error::{Result, StoreError};
use checkpoint::ImportCheckpoint;
pub use offline::{discard, import, import_with_progress, rollback};
pub use online::{import_online, import_online_with_progress, rollback_online};
pub use source::{Item, LegacyRecord, Position, SourceFormat, SourceReader};
pub use verify::Verification;

/// What to do with a malformed record.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum OnBadRecord {
    /// Stop the import with [`StoreError::BadRecord`] naming the line; an offline import is
    /// discarded (the store is unchanged).
    #[default]
    Stop,
    /// Skip it, count it and list it in the report.
    Skip,
}

/// Options of an import.
#[derive(Debug, Clone)]
pub struct ImportOptions {
    /// The source format (default: from the file's extension).
    pub format: Option<SourceFormat>,
    /// Records per batch: the unit of writing, and the longest a search waits online.
    pub batch_size: usize,
    /// Records between checkpoints (rounded up to whole batches).
    pub checkpoint_every: u64,
    /// Records per second at most (`None`: as fast as possible).
    pub rate_limit: Option<f64>,
    /// Batches the reader may run ahead of the writer (the channel's bound: backpressure).
    pub queue_batches: usize,
    /// What to do with a malformed record.
    pub on_bad_record: OnBadRecord,
    /// Records re-read from the source and compared with the store at the end.
    pub spot_checks: usize,
    /// The configuration of a store that does not exist yet (default: `Config::new(dim)` with
    /// the dimension of the data).
    pub config: Option<Config>,
    /// Stop (as if killed) once this many source records are consumed (tests).
    #[doc(hidden)]
    pub stop_after: Option<u64>,
}

/// The slowest rate limit accepted (records per second): one record every ~17 minutes.
pub const MIN_RATE: f64 = 1e-3;

impl ImportOptions {
    /// Checks the options: a batch and a checkpoint interval of at least 1, a queue of at
    /// least one batch, a rate limit that is finite and at least [`MIN_RATE`].
    pub fn check(&self) -> Result<()> {
        let bad = |what: String| -> Result<()> {
            Err(StoreError::Other(format!("import options: {what}")).into())
        };
        if self.batch_size == 0 {
            return bad("batch_size must be at least 1".into());
        }
        if self.checkpoint_every == 0 {
            return bad("checkpoint_every must be at least 1".into());
        }
        if self.queue_batches == 0 {
            return bad("queue_batches must be at least 1".into());
        }
        if let Some(r) = self.rate_limit {
            if !(r.is_finite() && r >= MIN_RATE) {
                return bad(format!(
                    "rate_limit must be a finite number of records per second ≥ {MIN_RATE}, got {r}"
                ));
            }
        }
        Ok(())
    }
}

impl Default for ImportOptions {
    fn default() -> Self {
        Self {
            format: None,
            batch_size: 1000,
            checkpoint_every: 10_000,
            rate_limit: None,
            queue_batches: 4,
            on_bad_record: OnBadRecord::Stop,
            spot_checks: 32,
            config: None,
            stop_after: None,
        }
    }
}

/// What an import did.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ImportReport {
    /// The source file.
    pub source: PathBuf,
    /// Its format.
    pub format: String,
    /// Lines or records read from the source (all runs).
    pub records_read: u64,
    /// Episodes imported (all runs).
    pub episodes: u64,
    /// Concepts imported (all runs).
    pub concepts: u64,
    /// Bad records skipped (all runs).
    pub skipped: u64,
    /// Bad records of this run: (line, what is wrong); at most 1000.
    pub bad_records: Vec<(u64, String)>,
    /// The record the import resumed after, if it resumed.
    pub resumed_after: Option<u64>,
    /// Whether the whole source was read (false when stopped early).
    pub completed: bool,
    /// Whether the import was committed to the store.
    pub committed: bool,
    /// Seconds this run took.
    pub seconds: f64,
    /// Records per second of this run.
    pub rate: f64,
    /// Verification of the committed store.
    pub verification: Option<Verification>,
    /// The id of an online import (its ledger in the store); empty offline.
    pub import_id: String,
    /// Whether this source had already been imported into the store (unchanged since), so
    /// nothing was done: an offline import run again is a no-op while its rollback point
    /// exists.
    pub already_imported: bool,
}

impl ImportReport {
    /// The report as JSON.
    pub fn to_json(&self) -> serde_json::Value {
        let v = self.verification.as_ref().map(verification_json);
        json!({
            "source": self.source.display().to_string(),
            "format": self.format,
            "records_read": self.records_read,
            "imported": self.episodes + self.concepts,
            "episodes": self.episodes,
            "concepts": self.concepts,
            "skipped": self.skipped,
            "bad_records": self.bad_records.iter().map(|(l, d)| json!({"line": l, "detail": d})).collect::<Vec<_>>(),
            "resumed_after": self.resumed_after,
            "completed": self.completed,
            "committed": self.committed,
            "seconds": self.seconds,
            "records_per_second": self.rate,
            "verification": v,
            "import_id": self.import_id,
            "already_imported": self.already_imported,
        })
    }
}

/// A verification as JSON (as in [`ImportReport::to_json`]).
fn verification_json(v: &Verification) -> serde_json::Value {
    json!({
        "ok": v.ok,
        "store_episodes": v.store_episodes,
        "expected_episodes": v.expected_episodes,
        "store_concepts": v.store_concepts,
        "expected_concepts": v.expected_concepts,
        "episode_digest": v.episode_digest,
        "concept_digest": v.concept_digest,
        "digest_ok": v.digest_ok,
        "spot_checked": v.spot_checked,
        "spot_failures": v.spot_failures,
    })
}

/// A verification read back from [`verification_json`]'s JSON (`None` if it is not one).
fn verification_from_json(v: &serde_json::Value) -> Option<Verification> {
    v.is_object().then(|| Verification {
        ok: v["ok"].as_bool().unwrap_or(false),
        store_episodes: v["store_episodes"].as_u64().unwrap_or(0),
        expected_episodes: v["expected_episodes"].as_u64().unwrap_or(0),
        store_concepts: v["store_concepts"].as_u64().unwrap_or(0),
        expected_concepts: v["expected_concepts"].as_u64().unwrap_or(0),
        episode_digest: v["episode_digest"].as_str().unwrap_or_default().into(),
        concept_digest: v["concept_digest"].as_str().unwrap_or_default().into(),
        digest_ok: v["digest_ok"].as_bool().unwrap_or(false),
        spot_checked: v["spot_checked"].as_u64().unwrap_or(0),
        spot_failures: v["spot_failures"]
            .as_array()
            .map(|a| a.iter().filter_map(|x| x.as_u64()).collect())
            .unwrap_or_default(),
    })
}

/// Runs concept formation (or anything else) on the staged engine before an offline import
/// is committed; its changes are part of the commit.
pub type Bootstrap<'a> = Box<dyn FnOnce(&mut Engram) -> Result<()> + 'a>;

/// The bootstrap of `engram import --bootstrap-concepts`: one consolidation cycle
/// ([`Engram::consolidate`]) over the staged engine — every imported episode is new to it —
/// at clock `now`, by default the latest episode timestamp (or the store's last cycle, if
/// later), so imported episodes decay from their own timestamps and not from today. The
/// cycle's report is put in `report`.
pub fn bootstrap_concepts(
    now: Option<u64>,
    report: &mut Option<crate::consolidation::CycleReport>,
) -> Bootstrap<'_> {
    Box::new(move |e: &mut Engram| {
        let now = now.unwrap_or_else(|| {
            e.graph()
                .episodes()
                .map(|(_, _, n)| n.timestamp)
                .max()
                .unwrap_or(0)
                .max(e.last_consolidation().unwrap_or(0))
        });
        let r = e.consolidate(now)?;
        log::info!(
            "bootstrap: cycle {} at {now}: {} concepts formed, {} updated, {} bindings",
            r.cycle,
            r.concepts_created.len(),
            r.concepts_updated.len(),
            r.bindings_created
        );
        *report = Some(r);
        Ok(())
    })
}

fn format_of(source: &Path, opts: &ImportOptions) -> Result<SourceFormat> {
    opts.format
        .or_else(|| SourceFormat::from_path(source))
        .ok_or_else(|| {
            StoreError::Other(format!(
                "{}: unknown format (use .jsonl, .npy or .fvecs, or set the format)",
                source.display()
            ))
            .into()
        })
}

/// The dimension of the data: a matrix's width or the first JSON record's embedding length.
fn data_dim(source: &Path, format: SourceFormat) -> Result<usize> {
    let mut r = SourceReader::open(source, format, Position::default())?;
    if let Some(d) = r.matrix_dim() {
        return Ok(d);
    }
    while let Some(item) = r.next_item()? {
        if let Item::Record(rec) = item {
            return Ok(rec.embedding.len());
        }
    }
    Err(StoreError::Other(format!(
        "{}: no record to take the dimension from",
        source.display()
    ))
    .into())
}

fn fill(report: &mut ImportReport, c: &ImportCheckpoint, started: Instant, this_run: u64) {
    report.records_read = c.consumed_records;
    report.episodes = c.episodes;
    report.concepts = c.concepts;
    report.skipped = c.skipped;
    report.seconds = started.elapsed().as_secs_f64();
    report.rate = this_run as f64 / report.seconds.max(1e-9);
    report.completed = true;
}

/// Checks counts and recomputes both digests from the store (ids contiguous from the
/// checkpoint's first ids).
fn verify_store(
    e: &Engram,
    c: &ImportCheckpoint,
    spot_checked: u64,
    spot_failures: Vec<u64>,
    contiguous: bool,
) -> Verification {
    let mut ep = verify::CHAIN_START;
    let mut ok_chain = contiguous;
    if contiguous {
        for i in 0..c.episodes {
            match verify::chain_episode(ep, e, crate::EpisodeId(c.first_episode + i)) {
                Some(h) => ep = h,
                None => ok_chain = false,
            }
        }
    }
    let mut cc = verify::CHAIN_START;
    if contiguous {
        for i in 0..c.concepts {
            match verify::chain_concept(cc, e, crate::ConceptId(c.first_concept + i)) {
                Some(h) => cc = h,
                None => ok_chain = false,
            }
        }
    }
    let digest_ok =
        ok_chain && verify::hex(&ep) == c.episode_chain && verify::hex(&cc) == c.concept_chain;
    let store_episodes = e.len() as u64;
    let store_concepts = e.graph().concept_count() as u64;
    let expected_episodes = c.pre_episodes + c.episodes;
    let expected_concepts = c.pre_concepts + c.concepts;
    Verification {
        ok: digest_ok
            && store_episodes == expected_episodes
            && store_concepts >= expected_concepts
            && spot_failures.is_empty(),
        store_episodes,
        expected_episodes,
        store_concepts,
        expected_concepts,
        episode_digest: verify::hex(&ep),
        concept_digest: verify::hex(&cc),
        digest_ok,
        spot_checked,
        spot_failures,
    }
}
