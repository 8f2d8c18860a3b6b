//! The online import: straight into an open [`SharedEngram`], one batch per write lock,
//! resumable from the store's ledger and undone by [`rollback_online`].

use std::fs;
use std::path::{Path, PathBuf};
use std::time::Instant;

use super::checkpoint::ImportCheckpoint;
use super::pipeline::{hash_prefix, spawn_reader, spot_check, Online, Progress, Run};
use super::{
    fill, format_of, verify, verify_store, ImportOptions, ImportReport, Position, SourceFormat,
    Verification,
};
use crate::error::{Result, StoreError};
use crate::ledger::RollbackReport;
use crate::memory::{ConceptId, EpisodeId};
use crate::persist::format::{atomic_write, io, sync_dir};
use crate::shared::SharedEngram;

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
        (
            new_checkpoint(source, target, work, format)?,
            Vec::new(),
            Vec::new(),
        )
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
    report.verification = Some(verify_online(source, format, target, &run)?);
    report.committed = true;
    let text = report.to_json().to_string();
    atomic_write(&done_path, |w| {
        std::io::Write::write_all(w, text.as_bytes())
    })?;
    fs::remove_file(&cpath).map_err(io("remove", &cpath))?;
    sync_dir(work)?;
    Ok(report)
}

/// The checkpoint of a new online import, saved before the first batch: it names the import
/// in the store's ledger.
fn new_checkpoint(
    source: &Path,
    target: &SharedEngram,
    work: &Path,
    format: SourceFormat,
) -> Result<ImportCheckpoint> {
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
    c.save(&online_paths(work).0)?;
    Ok(c)
}

/// Verifies every record of a completed online import (all runs): the digests recomputed
/// from the store over the ledger's ids, the counts, and spot re-reads against the source.
fn verify_online(
    source: &Path,
    format: SourceFormat,
    target: &SharedEngram,
    run: &Run,
) -> Result<Verification> {
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
    Ok(v)
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
