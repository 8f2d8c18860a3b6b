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
//! **Online** ([`import_online`]): records go straight into an open [`SharedEngram`] one
//! batch per write lock, so searches wait at most one batch. Each batch is written with the
//! import's progress in the store's ledger of it ([`crate::ledger`]), so an interrupted online
//! import resumes exactly where the store stands, and [`rollback_online`] removes exactly
//! what it added.
//!
//! The runbook is `docs/operations.md`.

pub mod checkpoint;
pub mod classify;
mod import;
pub mod source;
pub mod verify;

use std::fs;
use std::path::{Path, PathBuf};
use std::time::Instant;

use serde_json::json;

use crate::config::Config;
use crate::engine::Engram;
use crate::error::{Result, StoreError};
use crate::ledger::RollbackReport;
use crate::memory::{ConceptId, EpisodeId};
use crate::persist::format::{
    atomic_write, io, remove_if_exists, sync_dir, SNAPSHOT_FILE, WAL_FILE,
};
use crate::persist::lock::StoreLock;
use crate::persist::seal::SEAL_FILE;
use crate::persist::{self, crash, DurableEngram, StoreOptions, SyncPolicy};
use crate::shared::SharedEngram;
use checkpoint::ImportCheckpoint;
use import::{hash_prefix, spawn_reader, spot_check, Online, Progress, Run, Work};
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

/// The verification of a store committed with a bootstrap: the records were verified on the
/// staged engine before it (`pre`); the store is checked for what a bootstrap cannot change —
/// the episode digest and count — and for the concept count the bootstrap left.
fn after_bootstrap(
    live: &Engram,
    ckpt: &ImportCheckpoint,
    pre: Verification,
    concepts: u64,
) -> Verification {
    let post = verify_store(live, ckpt, 0, Vec::new(), true);
    let ok = pre.ok
        && post.episode_digest == ckpt.episode_chain
        && post.store_episodes == post.expected_episodes
        && post.store_concepts == concepts;
    Verification {
        ok,
        store_episodes: post.store_episodes,
        store_concepts: post.store_concepts,
        episode_digest: post.episode_digest,
        ..pre
    }
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

fn copy_file(from: &Path, to: &Path) -> Result<()> {
    atomic_write(to, |w| {
        let mut f = fs::File::open(from)?;
        std::io::copy(&mut f, w).map(|_| ())
    })?;
    Ok(())
}

fn file_digest(p: &Path) -> Result<String> {
    let mut h = blake3::Hasher::new();
    let f = fs::File::open(p).map_err(io("open", p))?;
    h.update_reader(f).map_err(io("read", p))?;
    Ok(h.finalize().to_hex().to_string())
}

/// Imports `source` into the store at `store` (created if missing), offline: the import holds
/// the store's writer lock from start to end, so nothing else writes the store meanwhile (a
/// second writer gets [`StoreError::Locked`], and so does this import if another writer has
/// the store open). Resumes a previous interrupted import of the same source from its last
/// checkpoint (refusing a tampered checkpoint or a changed source), commits atomically,
/// verifies, and returns the report. `bootstrap` runs on the staged engine just before the
/// commit (e.g. concept formation, [`bootstrap_concepts`]).
///
/// **Idempotent.** Running the same import again after it finished is a no-op that returns
/// the recorded report ([`ImportReport::already_imported`]) while its rollback point exists;
/// after a kill at any point it resumes exactly (before the commit) or finishes the commit's
/// last steps (after it) — never importing a record twice.
///
/// With a bootstrap, the imported records are verified on the staged engine just before it
/// runs (digests, counts, spot checks: a bootstrap may move, re-count or add concepts), and
/// the committed store is verified against what the bootstrap cannot change: the episode
/// digest and count, and the concept count the bootstrap left.
pub fn import(
    source: &Path,
    store: &Path,
    opts: &ImportOptions,
    bootstrap: Option<Bootstrap<'_>>,
) -> Result<ImportReport> {
    import_with_progress(source, store, opts, bootstrap, &mut |_, _| {})
}

/// [`import`], reporting progress as `progress(source bytes consumed, source bytes)` before
/// the first batch and after every batch (a resumed import starts where it stopped). The
/// library draws nothing: the `engram` binary turns these calls into a progress bar.
pub fn import_with_progress(
    source: &Path,
    store: &Path,
    opts: &ImportOptions,
    bootstrap: Option<Bootstrap<'_>>,
    progress: &mut dyn FnMut(u64, u64),
) -> Result<ImportReport> {
    opts.check()?;
    let format = format_of(source, opts)?;
    let work = Work::new(store);
    if persist::exists(store) || work.dir.exists() {
        return import_into(source, store, opts, bootstrap, format, progress);
    }
    let cfg = match &opts.config {
        Some(c) => c.clone(),
        None => Config::new(data_dim(source, format)?),
    };
    let fresh_dir = !store.exists();
    drop(DurableEngram::create(store, cfg, StoreOptions::default())?);
    let r = import_into(source, store, opts, bootstrap, format, progress);
    if r.is_err() && !work.dir.exists() {
        // Nothing of the import is left to resume: leave no store behind either (its
        // dimension would bind the next import).
        for f in [SNAPSHOT_FILE, WAL_FILE, SEAL_FILE, persist::lock::LOCK_FILE] {
            remove_if_exists(&store.join(f))?;
        }
        if fresh_dir {
            let _ = fs::remove_dir(store);
        }
    }
    r
}

/// An offline import under way: what every step of it names.
struct Offline<'a> {
    source: &'a Path,
    store: &'a Path,
    format: SourceFormat,
    work: Work,
    started: Instant,
}

/// [`import`] into a store that exists.
fn import_into(
    source: &Path,
    store: &Path,
    opts: &ImportOptions,
    bootstrap: Option<Bootstrap<'_>>,
    format: SourceFormat,
    progress: &mut dyn FnMut(u64, u64),
) -> Result<ImportReport> {
    let ctx = Offline {
        source,
        store,
        format,
        work: Work::new(store),
        started: Instant::now(),
    };
    let work = &ctx.work;
    let lock = StoreLock::acquire(store, None)?;
    if work.committed().exists() && work.has_leftovers() {
        // A kill during the last clean-up of a commit left some of it.
        tidy_committed(work)?;
    }
    if work.intent().exists() {
        // A commit was interrupted: finish it (doing its rename if that had not happened).
        return finish_interrupted_commit(source, store, work, lock, ctx.started);
    }
    if work.committed().exists() {
        if let Some(done) = already_imported(source, work, ctx.started)? {
            return Ok(done);
        }
        drop_rollback_point(work)?;
    }
    let mut report = ImportReport {
        source: source.to_path_buf(),
        format: format.name().into(),
        ..ImportReport::default()
    };
    let stage_opts = StoreOptions::default().sync(SyncPolicy::Never);
    let (ckpt, mut stage, lock) = if work.checkpoint().exists() {
        let (c, stage) = resume_stage(&ctx, stage_opts)?;
        report.resumed_after = Some(c.consumed_records);
        (c, stage, lock)
    } else {
        new_stage(&ctx, stage_opts, lock)?
    };

    let start = Position {
        offset: ckpt.consumed_bytes,
        records: ckpt.consumed_records,
    };
    let (hasher, _) = hash_prefix(source, start.offset)?;
    let (rx, reader) = spawn_reader(source, format, start, hasher, opts)?;
    let mut run = Run::new(ckpt, report)?;
    let cpath = work.checkpoint();
    let (result, done_this_run) = run.pump(
        (rx, reader),
        &mut stage,
        source,
        opts,
        ctx.started,
        progress,
        |run, stage, since| {
            if since < opts.checkpoint_every {
                return Ok(false);
            }
            stage.sync()?;
            run.ckpt.stage_wal_len = stage.wal_bytes();
            run.ckpt.save(&cpath)?;
            Ok(true)
        },
    );
    let completed = match result {
        Ok(c) => c,
        Err(e) => {
            if matches!(e, crate::Error::Store(StoreError::BadRecord { .. })) {
                drop(stage);
                let _ = fs::remove_dir_all(&work.dir);
            }
            return Err(e);
        }
    };
    let mut report = std::mem::take(&mut run.report);
    fill(&mut report, &run.ckpt, ctx.started, done_this_run);
    if !completed {
        report.completed = false;
        return Ok(report);
    }
    commit_stage(&ctx, lock, run, stage, bootstrap, report)
}

/// Before a new import into a store whose last import was committed: drops that import's
/// rollback point, refusing when its verification failed (the user decides).
fn drop_rollback_point(work: &Work) -> Result<()> {
    if read_json(&work.committed())?["verification"]["ok"].as_bool() == Some(false) {
        return Err(StoreError::Refused {
            path: work.dir.clone(),
            reason: "the last import into this store failed its verification; roll it back \
                     (engram import --rollback) or, to keep it, remove the import folder \
                     (its rollback point) before importing again"
                .into(),
        }
        .into());
    }
    // A new import drops the previous import's rollback point.
    fs::remove_dir_all(&work.dir).map_err(io("remove", &work.dir))?;
    Ok(())
}

/// Resumes an interrupted import from its checkpoint: refuses a changed source (size or the
/// BLAKE3 of the part already imported), cuts the staged log back to the checkpoint and
/// opens the stage.
fn resume_stage(
    ctx: &Offline<'_>,
    stage_opts: StoreOptions,
) -> Result<(ImportCheckpoint, DurableEngram)> {
    let (source, work) = (ctx.source, &ctx.work);
    let c = ImportCheckpoint::load(&work.checkpoint())?;
    let refuse = |reason: String| StoreError::Refused {
        path: source.to_path_buf(),
        reason,
    };
    let size = fs::metadata(source).map_err(io("stat", source))?.len();
    if c.source_size != size || c.format != ctx.format.name() {
        return Err(refuse(format!(
            "the source changed since the import began ({} bytes then, {size} now); \
             discard the import or restore the original file",
            c.source_size
        ))
        .into());
    }
    let (_, h) = hash_prefix(source, c.consumed_bytes)?;
    if h != c.prefix_blake3 {
        return Err(refuse(
            "the part of the source already imported changed (BLAKE3 differs); discard the \
             import or restore the original file"
                .into(),
        )
        .into());
    }
    // Drop what the stage logged after the checkpoint: it is imported again.
    let wal = work.stage().join(WAL_FILE);
    let len = fs::metadata(&wal).map_err(io("stat", &wal))?.len();
    if len < c.stage_wal_len {
        return Err(StoreError::Refused {
            path: wal,
            reason: "the staged log is shorter than the checkpoint says; discard the import".into(),
        }
        .into());
    }
    let f = fs::OpenOptions::new()
        .write(true)
        .open(&wal)
        .map_err(io("open", &wal))?;
    f.set_len(c.stage_wal_len).map_err(io("truncate", &wal))?;
    f.sync_all().map_err(io("fsync", &wal))?;
    // The stage's seal vouches for the length just cut on purpose.
    remove_if_exists(&work.stage().join(SEAL_FILE))?;
    let stage = DurableEngram::open(&work.stage(), stage_opts)?;
    log::info!("resuming after record {}", c.consumed_records);
    Ok((c, stage))
}

/// Starts a new import: recovers the store, copies it to the rollback point and to the
/// stage, opens the stage and saves the first checkpoint.
fn new_stage(
    ctx: &Offline<'_>,
    stage_opts: StoreOptions,
    lock: StoreLock,
) -> Result<(ImportCheckpoint, DurableEngram, StoreLock)> {
    let (source, store, work) = (ctx.source, ctx.store, &ctx.work);
    if work.dir.exists() {
        fs::remove_dir_all(&work.dir).map_err(io("remove", &work.dir))?;
    }
    // Recover the store first (so the staged copy is clean), then copy it twice.
    let live = DurableEngram::open_under(store, StoreOptions::default(), lock)?;
    let (pre_episodes, pre_concepts, pre_generation) = (
        live.len() as u64,
        live.graph().concept_count() as u64,
        live.generation(),
    );
    let lock = live.into_lock()?;
    fs::create_dir_all(work.pre()).map_err(io("create", &work.pre()))?;
    fs::create_dir_all(work.stage()).map_err(io("create", &work.stage()))?;
    for f in [SNAPSHOT_FILE, WAL_FILE] {
        copy_file(&store.join(f), &work.pre().join(f))?;
        copy_file(&store.join(f), &work.stage().join(f))?;
    }
    // The rollback point keeps the log's seal too (the stage's log will outgrow it).
    if store.join(SEAL_FILE).exists() {
        copy_file(&store.join(SEAL_FILE), &work.pre().join(SEAL_FILE))?;
    }
    let stage = DurableEngram::open(&work.stage(), stage_opts)?;
    let zero = verify::hex(&verify::CHAIN_START);
    let c = ImportCheckpoint {
        source: source.display().to_string(),
        format: ctx.format.name().into(),
        source_size: fs::metadata(source).map_err(io("stat", source))?.len(),
        prefix_blake3: blake3::Hasher::new().finalize().to_hex().to_string(),
        episode_chain: zero.clone(),
        concept_chain: zero,
        pre_episodes,
        pre_concepts,
        pre_generation,
        stage_wal_len: stage.wal_bytes(),
        ..ImportCheckpoint::default()
    };
    c.save(&work.checkpoint())?;
    Ok((c, stage, lock))
}

/// Commits a completed import. The staged engine (after the bootstrap) is written as the
/// store's snapshot of the next generation, so the store's log is stale (folded in) from the
/// moment the snapshot is renamed into place: that rename is the commit point. The
/// checkpoint is saved first (a kill from here on finds the source fully consumed), then an
/// intent naming both snapshots, so a re-run tells a commit that happened from one that did
/// not.
fn commit_stage(
    ctx: &Offline<'_>,
    lock: StoreLock,
    mut run: Run,
    mut stage: DurableEngram,
    bootstrap: Option<Bootstrap<'_>>,
    report: ImportReport,
) -> Result<ImportReport> {
    let (source, store, format, work) = (ctx.source, ctx.store, ctx.format, &ctx.work);
    let pre_bootstrap = match bootstrap {
        Some(f) => {
            let (checked, failures) = spot_check(source, format, &run.spots, stage.engine())?;
            let v = verify_store(stage.engine(), &run.ckpt, checked, failures, true);
            f(stage.engine_mut_unlogged())?;
            Some((v, stage.graph().concept_count() as u64))
        }
        None => None,
    };
    stage.sync()?;
    run.ckpt.stage_wal_len = stage.wal_bytes();
    run.ckpt.save(&work.checkpoint())?;
    let next_generation =
        run.ckpt.pre_generation.checked_add(1).ok_or_else(|| {
            StoreError::Other("the store's generation counter is exhausted".into())
        })?;
    let staged = work.staged_snapshot();
    persist::snapshot::write(
        stage.engine(),
        &staged,
        next_generation,
        persist::new_log_id(),
    )?;
    drop(stage);
    let pre_files = [
        file_digest(&work.pre().join(SNAPSHOT_FILE))?,
        file_digest(&work.pre().join(WAL_FILE))?,
    ];
    for (f, pre) in [SNAPSHOT_FILE, WAL_FILE].iter().zip(&pre_files) {
        if &file_digest(&store.join(f))? != pre {
            return Err(StoreError::Refused {
                path: store.to_path_buf(),
                reason: "the store was written to during an offline import; discard the import \
                         and import again (or use an online import)"
                    .into(),
            }
            .into());
        }
    }
    let intent = json!({
        "staged_snapshot_blake3": file_digest(&staged)?,
        "pre_snapshot_blake3": pre_files[0],
        "pre_wal_blake3": pre_files[1],
        // What verifying a bootstrapped commit needs, for a re-run that finishes it.
        "bootstrap": pre_bootstrap.as_ref().map(|(v, concepts)| {
            json!({"pre": verification_json(v), "concepts": concepts})
        }),
    });
    atomic_write(&work.intent(), |w| {
        std::io::Write::write_all(w, intent.to_string().as_bytes())
    })?;
    lock.verify()?;
    crash::point("import:rename-snapshot");
    fs::rename(&staged, store.join(SNAPSHOT_FILE)).map_err(io("commit (rename)", &staged))?;
    crash::point("import:renamed-snapshot");
    sync_dir(store)?;
    let spots = run.spots;
    let ckpt = run.ckpt;
    finish_commit(store, work, lock, &ckpt, report, ctx.started, |live| {
        Ok(match pre_bootstrap {
            None => {
                let (checked, failures) = spot_check(source, format, &spots, live)?;
                verify_store(live, &ckpt, checked, failures, true)
            }
            Some((pre, concepts)) => after_bootstrap(live, &ckpt, pre, concepts),
        })
    })
}

/// The last steps of a commit whose snapshot is in place: open the store (its stale log is
/// replaced), verify it, then record the commit (`committed.json`, the rollback point) before
/// removing the stage, the checkpoint and the intent — so a kill anywhere here leaves either
/// the intent (a re-run finishes) or the record (a re-run is a no-op).
fn finish_commit(
    store: &Path,
    work: &Work,
    lock: StoreLock,
    ckpt: &ImportCheckpoint,
    mut report: ImportReport,
    started: Instant,
    verify_live: impl FnOnce(&Engram) -> Result<Verification>,
) -> Result<ImportReport> {
    let live = DurableEngram::open_under(store, StoreOptions::default(), lock)?;
    // Opening kept the store's old log beside it (it held records); the rollback point has
    // the same bytes (`pre/wal.log`).
    remove_if_exists(&store.join(format!("{WAL_FILE}.folded-gen-{}", ckpt.pre_generation)))?;
    report.committed = true;
    report.verification = Some(verify_live(&live)?);
    // The lock stays held until the clean-up is done.
    let _lock = live.into_lock()?;
    let mut record = report.to_json();
    record["source_size"] = json!(ckpt.source_size);
    record["source_blake3"] = json!(ckpt.prefix_blake3);
    crash::point("import:record-commit");
    atomic_write(&work.committed(), |w| {
        std::io::Write::write_all(w, record.to_string().as_bytes())
    })?;
    crash::point("import:clean-up");
    tidy_committed(work)?;
    report.seconds = started.elapsed().as_secs_f64();
    Ok(report)
}

/// Removes what a committed import no longer needs (the intent first, so a kill in here
/// leaves a committed import with leftovers, which the next run tidies the same way).
fn tidy_committed(work: &Work) -> Result<()> {
    remove_if_exists(&work.intent())?;
    crash::point("import:removed-intent");
    remove_if_exists(&work.staged_snapshot())?;
    remove_if_exists(&work.checkpoint())?;
    if work.stage().exists() {
        fs::remove_dir_all(work.stage()).map_err(io("remove", &work.stage()))?;
    }
    crash::point("import:removed-stage");
    sync_dir(&work.dir)?;
    Ok(())
}

/// A re-run after a kill during a commit: if the staged snapshot is still there the rename
/// did not happen (it is done now, if the store is still as the import left it); if it is
/// gone, the rename happened. Either way the commit is then finished and verified against
/// the checkpoint (no spot checks: the run that sampled them is gone).
fn finish_interrupted_commit(
    source: &Path,
    store: &Path,
    work: &Work,
    lock: StoreLock,
    started: Instant,
) -> Result<ImportReport> {
    let intent = read_json(&work.intent())?;
    let ckpt = ImportCheckpoint::load(&work.checkpoint())?;
    let field = |k: &str| intent[k].as_str().unwrap_or_default().to_string();
    let refuse = |reason: &str| StoreError::Refused {
        path: work.dir.clone(),
        reason: reason.into(),
    };
    let staged = work.staged_snapshot();
    if staged.exists() {
        if file_digest(&staged)? != field("staged_snapshot_blake3") {
            return Err(refuse(
                "the staged snapshot of an interrupted commit changed; discard the import",
            )
            .into());
        }
        if file_digest(&store.join(SNAPSHOT_FILE))? != field("pre_snapshot_blake3")
            || file_digest(&store.join(WAL_FILE))? != field("pre_wal_blake3")
        {
            return Err(refuse(
                "the store was written to after the commit was interrupted; discard the import \
                 and import again",
            )
            .into());
        }
        crash::point("import:rename-snapshot");
        fs::rename(&staged, store.join(SNAPSHOT_FILE)).map_err(io("commit (rename)", &staged))?;
        sync_dir(store)?;
        log::info!("finished the interrupted commit of {}", source.display());
    } else {
        log::info!(
            "the import of {} was already committed; finishing its last steps",
            source.display()
        );
    }
    let same_source = fs::metadata(source).map(|m| m.len()).ok() == Some(ckpt.source_size)
        && hash_prefix(source, ckpt.source_size)?.1 == ckpt.prefix_blake3;
    let recorded = PathBuf::from(&ckpt.source);
    let mut report = ImportReport {
        source: if same_source {
            source.to_path_buf()
        } else {
            recorded.clone()
        },
        format: ckpt.format.clone(),
        resumed_after: Some(ckpt.consumed_records),
        ..ImportReport::default()
    };
    fill(&mut report, &ckpt, started, 0);
    let report = finish_commit(store, work, lock, &ckpt, report, started, |live| {
        Ok(verify_as_intended(&intent, live, &ckpt))
    })?;
    if !same_source {
        return Err(StoreError::Refused {
            path: source.to_path_buf(),
            reason: format!(
                "an interrupted import of {} ({} episodes) was committed and is now finished; \
                 {} was not imported: run the command again to import it",
                recorded.display(),
                report.episodes,
                source.display()
            ),
        }
        .into());
    }
    Ok(report)
}

/// The verification of an interrupted commit finished later: as the commit would have done
/// it (with a bootstrap, against what its intent recorded), without spot checks.
fn verify_as_intended(
    intent: &serde_json::Value,
    live: &Engram,
    ckpt: &ImportCheckpoint,
) -> Verification {
    let bootstrap = &intent["bootstrap"];
    match (
        verification_from_json(&bootstrap["pre"]),
        bootstrap["concepts"].as_u64(),
    ) {
        (Some(pre), Some(concepts)) => after_bootstrap(live, ckpt, pre, concepts),
        _ => verify_store(live, ckpt, 0, Vec::new(), true),
    }
}

/// The recorded report (with the verification done at its commit) when `source` is the one
/// the last committed import read, unchanged (size and BLAKE3 of the whole file): the import
/// is not done again.
fn already_imported(source: &Path, work: &Work, started: Instant) -> Result<Option<ImportReport>> {
    let record = read_json(&work.committed())?;
    let size = fs::metadata(source).map_err(io("stat", source))?.len();
    if record["source_size"].as_u64() != Some(size) {
        return Ok(None);
    }
    let (_, h) = hash_prefix(source, size)?;
    if record["source_blake3"].as_str() != Some(h.as_str()) {
        return Ok(None);
    }
    let n = |k: &str| record[k].as_u64().unwrap_or(0);
    // The verification done at the commit, as recorded.
    let verification = verification_from_json(&record["verification"]);
    log::info!(
        "{} was already imported into this store (remove {} to import it again)",
        source.display(),
        work.dir.display()
    );
    Ok(Some(ImportReport {
        source: source.to_path_buf(),
        format: record["format"].as_str().unwrap_or_default().into(),
        records_read: n("records_read"),
        episodes: n("episodes"),
        concepts: n("concepts"),
        skipped: n("skipped"),
        completed: true,
        committed: true,
        already_imported: true,
        verification,
        seconds: started.elapsed().as_secs_f64(),
        ..ImportReport::default()
    }))
}

fn read_json(p: &Path) -> Result<serde_json::Value> {
    let b = fs::read(p).map_err(io("read", p))?;
    serde_json::from_slice(&b).map_err(|e| {
        StoreError::Corrupt {
            path: p.to_path_buf(),
            section: "json".into(),
            offset: 0,
            detail: e.to_string(),
        }
        .into()
    })
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

/// Discards an uncommitted (interrupted) offline import: the store is left exactly as it
/// was. Refused after a commit (use [`rollback`]) — also when a kill interrupted the commit
/// after its rename: then the commit's record is completed first, so the rollback point is
/// kept and [`rollback`] works.
pub fn discard(store: &Path) -> Result<()> {
    let work = Work::new(store);
    if !work.dir.exists() {
        return Ok(());
    }
    let lock = StoreLock::acquire(store, None)?;
    let committed = || StoreError::Refused {
        path: work.dir.clone(),
        reason: "the import was committed; use rollback to undo it".into(),
    };
    if work.committed().exists() {
        if work.has_leftovers() {
            tidy_committed(&work)?;
        }
        return Err(committed().into());
    }
    if work.intent().exists() && !work.staged_snapshot().exists() {
        let ckpt = ImportCheckpoint::load(&work.checkpoint())?;
        let source = PathBuf::from(&ckpt.source);
        let mut report = ImportReport {
            source: source.clone(),
            format: ckpt.format.clone(),
            ..ImportReport::default()
        };
        fill(&mut report, &ckpt, Instant::now(), 0);
        let intent = read_json(&work.intent())?;
        finish_commit(store, &work, lock, &ckpt, report, Instant::now(), |live| {
            Ok(verify_as_intended(&intent, live, &ckpt))
        })?;
        return Err(committed().into());
    }
    fs::remove_dir_all(&work.dir).map_err(io("remove", &work.dir))?;
    sync_dir(store)?;
    Ok(())
}

/// Rolls a committed offline import back: the store's files become byte for byte those
/// before the import (writes made to the store after the import are undone with it). Each
/// file is replaced atomically, the log first: a crash in between leaves the imported store,
/// and running rollback again finishes the job. Takes the store's writer lock.
pub fn rollback(store: &Path) -> Result<()> {
    let work = Work::new(store);
    if !work.committed().exists() {
        return Err(StoreError::Refused {
            path: work.dir.clone(),
            reason: "no committed import to roll back (an interrupted one is discarded instead)"
                .into(),
        }
        .into());
    }
    let _lock = StoreLock::acquire(store, None)?;
    // The seal first: the one in place vouches for the imported store's log.
    match work.pre().join(SEAL_FILE) {
        p if p.exists() => copy_file(&p, &store.join(SEAL_FILE))?,
        _ => remove_if_exists(&store.join(SEAL_FILE))?,
    }
    for f in [WAL_FILE, SNAPSHOT_FILE] {
        copy_file(&work.pre().join(f), &store.join(f))?;
    }
    fs::remove_dir_all(&work.dir).map_err(io("remove", &work.dir))?;
    sync_dir(store)?;
    Ok(())
}

/// The files of an online import in its work directory.
fn online_paths(work: &Path) -> (PathBuf, PathBuf) {
    (work.join("checkpoint.json"), work.join("committed.json"))
}

/// A new import id: BLAKE3 of the source, the work directory, the time and the process.
fn new_import_id(source: &Path, work: &Path) -> String {
    let mut h = blake3::Hasher::new();
    h.update(source.display().to_string().as_bytes());
    h.update(work.display().to_string().as_bytes());
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or(0);
    h.update(&now.to_le_bytes());
    h.update(&std::process::id().to_le_bytes());
    let hex = h.finalize().to_hex();
    format!("import-{}", &hex[..16])
}

/// Where a resumed online import stands: the sealed checkpoint file says which import, the
/// store's ledger of it says exactly what was written (it is written with each batch, so it
/// may be ahead of the file, never behind what the store holds).
fn resume_online(
    c: ImportCheckpoint,
    source: &Path,
    target: &SharedEngram,
    cpath: &Path,
) -> Result<(ImportCheckpoint, Vec<EpisodeId>, Vec<ConceptId>)> {
    let refuse = |path: &Path, reason: String| StoreError::Refused {
        path: path.to_path_buf(),
        reason,
    };
    if c.import_id.is_empty() {
        return Err(refuse(
            cpath,
            "not an online import's checkpoint (offline imports resume with `import`)".into(),
        )
        .into());
    }
    let size = fs::metadata(source).map_err(io("stat", source))?.len();
    if c.source_size != size {
        return Err(refuse(
            source,
            format!(
                "the source changed since the import began ({} bytes then, {size} now); \
                 restore the original file or roll the import back",
                c.source_size
            ),
        )
        .into());
    }
    let ledger = target.with(|e| e.import_ledger(&c.import_id).cloned());
    let Some(ledger) = ledger else {
        if c.consumed_records > 0 {
            return Err(refuse(
                cpath,
                format!(
                    "the store holds no ledger of import {}: it is not the store this import \
                     began in, or the import was rolled back; remove the work directory to \
                     start again",
                    c.import_id
                ),
            )
            .into());
        }
        return Ok((c, Vec::new(), Vec::new()));
    };
    let p = Progress::parse(&ledger.progress).ok_or_else(|| {
        refuse(
            cpath,
            format!("the store's ledger of import {} is unreadable", c.import_id),
        )
    })?;
    if p.consumed_records < c.consumed_records {
        // The store lost writes the checkpoint saw (a machine crash with a lax sync
        // policy): the store is the truth, continue from what it holds.
        log::warn!(
            "import {}: the store holds {} records, the checkpoint saw {}; continuing from \
             the store",
            c.import_id,
            p.consumed_records,
            c.consumed_records
        );
    }
    let (_, h) = hash_prefix(source, p.consumed_bytes)?;
    if h != p.prefix_blake3 {
        return Err(refuse(
            source,
            "the part of the source already imported changed (BLAKE3 differs); restore the \
             original file or roll the import back"
                .into(),
        )
        .into());
    }
    let episodes: Vec<EpisodeId> = ledger.episode_ids().collect();
    let concepts = ledger.concepts.clone();
    let (mut ep, mut cc) = (verify::CHAIN_START, verify::CHAIN_START);
    let whole = target.with(|e| {
        for id in &episodes {
            match verify::chain_episode(ep, e, *id) {
                Some(h) => ep = h,
                None => return false,
            }
        }
        for id in &concepts {
            match verify::chain_concept(cc, e, *id) {
                Some(h) => cc = h,
                None => return false,
            }
        }
        true
    });
    if !whole {
        return Err(refuse(
            cpath,
            format!(
                "records of import {} were removed from the store since they were imported; \
                 roll the import back and import again",
                c.import_id
            ),
        )
        .into());
    }
    let ckpt = ImportCheckpoint {
        consumed_bytes: p.consumed_bytes,
        consumed_records: p.consumed_records,
        prefix_blake3: p.prefix_blake3,
        skipped: p.skipped,
        episodes: episodes.len() as u64,
        concepts: concepts.len() as u64,
        first_episode: episodes.first().map_or(0, |e| e.0),
        first_concept: concepts.first().map_or(0, |c| c.0),
        episode_chain: verify::hex(&ep),
        concept_chain: verify::hex(&cc),
        ..c
    };
    Ok((ckpt, episodes, concepts))
}

/// Imports `source` into an open engine while it serves reads: each batch is applied under
/// one write lock, so a search waits at most one batch.
///
/// Each batch is written together with the import's progress in the store's ledger of this
/// import ([`crate::ledger`]; one log record when the engine is durable). So an interrupted
/// import — killed, crashed, or stopped by an error — resumes exactly where the store stands
/// when called again with the same `work` directory: nothing imported twice, nothing missed.
/// `work/checkpoint.json` (sealed like offline checkpoints, rewritten every
/// `checkpoint_every` records) names the import; a tampered checkpoint or a changed source is
/// refused. A finished import leaves `work/committed.json`; [`rollback_online`] removes what
/// the import added, finished or not.
pub fn import_online(
    source: &Path,
    target: &SharedEngram,
    work: &Path,
    opts: &ImportOptions,
) -> Result<ImportReport> {
    import_online_with_progress(source, target, work, opts, &mut |_, _| {})
}

/// [`import_online`], reporting progress as `progress(source bytes consumed, source bytes)`
/// before the first batch and after every batch.
pub fn import_online_with_progress(
    source: &Path,
    target: &SharedEngram,
    work: &Path,
    opts: &ImportOptions,
    progress: &mut dyn FnMut(u64, u64),
) -> Result<ImportReport> {
    let started = Instant::now();
    opts.check()?;
    let format = format_of(source, opts)?;
    fs::create_dir_all(work).map_err(io("create", work))?;
    let (cpath, done_path) = online_paths(work);
    if done_path.exists() && !cpath.exists() {
        return Err(StoreError::Refused {
            path: done_path,
            reason: "this work directory holds a finished import; roll it back or use a new \
                     work directory"
                .into(),
        }
        .into());
    }
    let mut report = ImportReport {
        source: source.to_path_buf(),
        format: format.name().into(),
        ..ImportReport::default()
    };
    let (ckpt, episode_ids, concept_ids) = if cpath.exists() {
        let c = ImportCheckpoint::load(&cpath)?;
        let r = resume_online(c, source, target, &cpath)?;
        report.resumed_after = Some(r.0.consumed_records);
        r
    } else {
        let zero = verify::hex(&verify::CHAIN_START);
        let c = ImportCheckpoint {
            source: source.display().to_string(),
            format: format.name().into(),
            source_size: fs::metadata(source).map_err(io("stat", source))?.len(),
            prefix_blake3: blake3::Hasher::new().finalize().to_hex().to_string(),
            episode_chain: zero.clone(),
            concept_chain: zero,
            pre_episodes: target.len() as u64,
            pre_concepts: target.with(|e| e.graph().concept_count() as u64),
            import_id: new_import_id(source, work),
            ..ImportCheckpoint::default()
        };
        // Saved before the first batch: it names the import in the store's ledger.
        c.save(&cpath)?;
        (c, Vec::new(), Vec::new())
    };
    report.import_id = ckpt.import_id.clone();
    let start = Position {
        offset: ckpt.consumed_bytes,
        records: ckpt.consumed_records,
    };
    let (hasher, _) = hash_prefix(source, start.offset)?;
    let (rx, reader) = spawn_reader(source, format, start, hasher, opts)?;
    let mut sink = Online {
        target,
        id: ckpt.import_id.clone(),
    };
    let mut run = Run::new(ckpt, report)?;
    run.episode_ids = episode_ids;
    run.concept_ids = concept_ids;
    // The checkpoint file is rewritten after the first batch of an import as well, so that a
    // file saying "nothing consumed" means nothing was written: a store without this
    // import's ledger is then refused rather than imported into from the start again.
    let mut saved_after_first = run.ckpt.consumed_records > 0;
    let (result, done_this_run) = run.pump(
        (rx, reader),
        &mut sink,
        source,
        opts,
        started,
        progress,
        |run, _, since| {
            if since < opts.checkpoint_every && saved_after_first {
                return Ok(false);
            }
            target.with_store(|s| s.sync()).transpose()?;
            run.ckpt.save(&cpath)?;
            saved_after_first = true;
            Ok(true)
        },
    );
    let completed = result?;
    target.with_store(|s| s.sync()).transpose()?;
    run.ckpt.save(&cpath)?;
    let mut report = std::mem::take(&mut run.report);
    fill(&mut report, &run.ckpt, started, done_this_run);
    if !completed {
        report.completed = false;
        return Ok(report);
    }
    // Verify every record of the import (all runs): the digests recomputed from the store
    // over the ledger's ids, the counts, and spot re-reads against the source.
    let (checked, failures) = target.with(|e| spot_check(source, format, &run.spots, e))?;
    let mut v = target.with(|e| verify_store(e, &run.ckpt, checked, failures, false));
    let ledger = target.with(|e| e.import_ledger(&run.ckpt.import_id).cloned());
    let (mut ep, mut cc) = (verify::CHAIN_START, verify::CHAIN_START);
    let mut whole = false;
    if let Some(l) = &ledger {
        whole = target.with(|e| {
            let mut ok = true;
            for id in l.episode_ids() {
                match verify::chain_episode(ep, e, id) {
                    Some(h) => ep = h,
                    None => ok = false,
                }
            }
            for id in &l.concepts {
                match verify::chain_concept(cc, e, *id) {
                    Some(h) => cc = h,
                    None => ok = false,
                }
            }
            ok
        }) && l.episode_count() == run.ckpt.episodes
            && l.concepts.len() as u64 == run.ckpt.concepts;
    }
    v.episode_digest = verify::hex(&ep);
    v.concept_digest = verify::hex(&cc);
    v.digest_ok = whole
        && v.episode_digest == run.ckpt.episode_chain
        && v.concept_digest == run.ckpt.concept_chain;
    // Other writers may add episodes meanwhile: at least the expected count.
    v.ok = v.digest_ok && v.store_episodes >= v.expected_episodes && v.spot_failures.is_empty();
    report.verification = Some(v);
    report.committed = true;
    let text = report.to_json().to_string();
    atomic_write(&done_path, |w| {
        std::io::Write::write_all(w, text.as_bytes())
    })?;
    fs::remove_file(&cpath).map_err(io("remove", &cpath))?;
    sync_dir(work)?;
    Ok(report)
}

/// Rolls back the online import whose work directory is `work`, finished or interrupted:
/// removes from `target` every episode (with its bindings and links) and concept the import
/// added, and the import's ledger — one write, checkpointed when durable, so it happens
/// entirely or not at all. Records written by others stay, and so do concepts that
/// consolidation formed from imported episodes meanwhile (their bindings to those episodes
/// go). The work directory is emptied.
pub fn rollback_online(target: &SharedEngram, work: &Path) -> Result<RollbackReport> {
    let (cpath, done_path) = online_paths(work);
    let id = if cpath.exists() {
        ImportCheckpoint::load(&cpath)?.import_id
    } else if done_path.exists() {
        let text = fs::read_to_string(&done_path).map_err(io("read", &done_path))?;
        serde_json::from_str::<serde_json::Value>(&text)
            .ok()
            .and_then(|v| v.get("import_id")?.as_str().map(str::to_owned))
            .unwrap_or_default()
    } else {
        String::new()
    };
    if id.is_empty() {
        return Err(StoreError::Refused {
            path: work.to_path_buf(),
            reason: "no online import to roll back in this work directory".into(),
        }
        .into());
    }
    let known = target.with(|e| e.import_ledger(&id).is_some());
    let r = if known {
        target.mutate(|e| e.rollback_import(&id))??
    } else {
        // Never wrote a batch (or already rolled back): nothing in the store.
        RollbackReport::default()
    };
    for p in [&cpath, &done_path] {
        if p.exists() {
            fs::remove_file(p).map_err(io("remove", p))?;
        }
    }
    sync_dir(work)?;
    Ok(r)
}
