//! The offline import: staged, checkpointed, committed atomically, verified, and undone
//! by [`discard`] or [`rollback`].

use std::fs;
use std::path::{Path, PathBuf};
use std::time::Instant;

use serde_json::json;

use super::checkpoint::ImportCheckpoint;
use super::pipeline::{hash_prefix, spawn_reader, spot_check, Run, Work};
use super::{
    data_dim, fill, format_of, verification_from_json, verification_json, verify, verify_store,
    Bootstrap, ImportOptions, ImportReport, Position, SourceFormat, Verification,
};
use crate::config::Config;
use crate::engine::Engram;
use crate::error::{Result, StoreError};
use crate::persist::format::{
    atomic_write, io, remove_if_exists, sync_dir, SNAPSHOT_FILE, WAL_FILE,
};
use crate::persist::lock::StoreLock;
use crate::persist::seal::SEAL_FILE;
use crate::persist::{self, crash, DurableEngram, StoreOptions, SyncPolicy};

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
/// commit (e.g. concept formation, [`bootstrap_concepts`](super::bootstrap_concepts)).
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
