//! [`repair`]: the explicit way past a damaged log, keeping what can be kept and saving
//! what is dropped.

use std::fs::{self, File, OpenOptions};
use std::io::{Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};

use super::format::{io, remove_if_exists, sync_dir, SNAPSHOT_FILE, WAL_FILE};
use super::lock::StoreLock;
use super::record;
use super::seal::{Seal, SEAL_FILE};
use super::snapshot::{self, SnapshotInfo};
use super::wal::{SyncPolicy, Tail, Wal, WalReader};
use crate::error::{Result, StoreError};

/// What [`repair`] found and did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub struct RepairReport {
    /// Whether the store needed nothing (the log replays to its end, a torn tail aside).
    pub clean: bool,
    /// What was wrong, in words (`None` when clean).
    pub problem: Option<String>,
    /// Log records kept (replayed without error).
    pub records_kept: u64,
    /// The log's length after the repair.
    pub log_bytes: u64,
    /// Bytes removed from the log (a damaged record and everything after it, or the whole
    /// unusable log).
    pub dropped_bytes: u64,
    /// Where the removed bytes were saved (in the store's directory).
    pub saved_to: Option<PathBuf>,
    /// Whether the log was missing or unusable and an empty one was started.
    pub new_log: bool,
}

/// Repairs the store in `dir` so that it opens again, losing as little as possible: takes
/// the writer's lock, keeps the snapshot and the longest prefix of the log that replays
/// cleanly, saves every byte it removes from the log to a file `wal.log.dropped-*` beside it,
/// and reseals the log. A missing or unusable log (bad header, another store's log) is
/// replaced by an empty one (the old one is saved). A damaged snapshot cannot be repaired
/// here: that is an error, and nothing is changed.
///
/// This is the only operation that removes acknowledged records, and only when asked: what
/// the report says was dropped is what the store lost.
pub fn repair(dir: &Path) -> Result<RepairReport> {
    let _lock = StoreLock::acquire(dir, None)?;
    let snap_path = dir.join(SNAPSHOT_FILE);
    let wal_path = dir.join(WAL_FILE);
    let (mut engine, info) = snapshot::read(&snap_path)?;
    let mut report = RepairReport::default();
    // A damaged seal vouches for nothing: it is rewritten below.
    let (seal, bad_seal) = match Seal::read(dir) {
        Ok(s) => (s, None),
        Err(e) => (None, Some(e.to_string())),
    };
    let dim = engine.dim();
    if !wal_path.exists() {
        start_new_log(dir, &info, dim, &mut report, "the log was missing".into())?;
        return Ok(report);
    }
    let mut r = match WalReader::open(&wal_path) {
        Ok(r) => r,
        Err(e) => {
            let problem = format!("the log is unusable: {e}");
            start_new_log(dir, &info, dim, &mut report, problem)?;
            return Ok(report);
        }
    };
    let stale = r.generation.checked_add(1) == Some(info.generation);
    let foreign = r.dim != engine.dim()
        || (!stale && r.generation != info.generation)
        || (!stale && info.log_id.is_some() && r.log_id != info.log_id);
    if foreign {
        drop(r);
        start_new_log(
            dir,
            &info,
            dim,
            &mut report,
            "the log does not belong to this snapshot (dimension, generation or id)".into(),
        )?;
        return Ok(report);
    }
    if stale {
        return repair_stale(dir, r, &info, dim, seal, bad_seal, report);
    }
    let damage = replay(&mut r, &mut engine, &mut report);
    let size = r.size();
    let log_id = r.log_id;
    let tail = r.tail();
    drop(r);
    let sealed = seal.filter(|s| s.generation == info.generation && Some(s.log_id) == log_id);
    let end = LogEnd {
        generation: info.generation,
        log_id,
        size,
    };
    match damage.or_else(|| removed_records(tail, sealed)) {
        Some((good_len, problem)) => cut_at(dir, end, good_len, problem, report),
        None => keep_sound_log(dir, end, tail, bad_seal, report),
    }
}

/// The log as [`repair`] found it once replayed: its generation, id and length.
#[derive(Clone, Copy)]
struct LogEnd {
    generation: u64,
    log_id: Option<u64>,
    size: u64,
}

/// Repairs the store around a log one generation behind the snapshot (`r`): an older copy of
/// a sealed log is replaced by a new one; otherwise opening discards it, and only a damaged
/// seal is removed.
fn repair_stale(
    dir: &Path,
    r: WalReader<'_>,
    info: &SnapshotInfo,
    dim: usize,
    seal: Option<Seal>,
    bad_seal: Option<String>,
    mut report: RepairReport,
) -> Result<RepairReport> {
    if seal.is_some_and(|s| s.generation == info.generation) {
        drop(r);
        start_new_log(
            dir,
            info,
            dim,
            &mut report,
            "the log is an older copy from before the last checkpoint, whose own log was \
             sealed: the records since that checkpoint are missing"
                .into(),
        )?;
        return Ok(report);
    }
    // Opening discards it as already folded into the snapshot.
    report.clean = bad_seal.is_none();
    report.problem = bad_seal;
    report.log_bytes = r.size();
    if !report.clean {
        remove_seal(dir)?;
    }
    Ok(report)
}

/// Replays the log into `engine`, counting the records kept, up to its end or its first
/// damage: `Some((offset, problem))` for a record that is damaged or does not apply.
fn replay(
    r: &mut WalReader<'_>,
    engine: &mut crate::engine::Engram,
    report: &mut RepairReport,
) -> Option<(u64, String)> {
    loop {
        let at = r.offset();
        match r.next_record() {
            Ok(Some((off, rec))) => match record::apply(engine, &rec) {
                Ok(()) => report.records_kept += 1,
                Err(d) => break Some((off, format!("record at offset {off}: {d}"))),
            },
            Ok(None) => break None,
            Err(e) => break Some((at, e.to_string())),
        }
    }
}

/// Records removed from a log that replays cleanly: its complete records end before the
/// length the seal vouches for. `Some((good_len, problem))` then.
fn removed_records(tail: Tail, sealed: Option<Seal>) -> Option<(u64, String)> {
    match sealed {
        Some(s) if tail.good_len < s.len => Some((
            tail.good_len,
            format!(
                "the log holds {} bytes of complete records, but held {} when the store was \
                 last closed: records were removed",
                tail.good_len, s.len
            ),
        )),
        _ => None,
    }
}

/// Keeps a sound log (a torn tail is left to the next writable open); only a damaged seal is
/// rewritten.
fn keep_sound_log(
    dir: &Path,
    end: LogEnd,
    tail: Tail,
    bad_seal: Option<String>,
    mut report: RepairReport,
) -> Result<RepairReport> {
    report.log_bytes = end.size;
    match bad_seal {
        None => report.clean = true,
        Some(p) => {
            report.problem = Some(p);
            reseal_or_remove(dir, end, tail.good_len)?;
        }
    }
    Ok(report)
}

/// Cuts the log at `good_len` (saving the bytes after it) unless nothing follows it, and
/// reseals at `good_len`; `problem` goes in the report.
fn cut_at(
    dir: &Path,
    end: LogEnd,
    good_len: u64,
    problem: String,
    mut report: RepairReport,
) -> Result<RepairReport> {
    report.log_bytes = good_len;
    if good_len == end.size {
        // Nothing to cut (records were removed before): reseal at what is there.
        report.problem = Some(problem);
        reseal_or_remove(dir, end, good_len)?;
        return Ok(report);
    }
    let side = cut_log(dir, good_len, end.size)?;
    report.problem = Some(problem);
    report.dropped_bytes = end.size - good_len;
    report.log_bytes = good_len;
    report.saved_to = Some(side);
    reseal_or_remove(dir, end, good_len)?;
    Ok(report)
}

/// Reseals the log at `len` or, for a log without an id (version 1), removes the seal.
fn reseal_or_remove(dir: &Path, end: LogEnd, len: u64) -> Result<()> {
    match end.log_id {
        Some(id) => reseal(dir, end.generation, id, len),
        None => Ok(remove_seal(dir)?),
    }
}

/// Replaces a missing or unusable log by an empty one of the snapshot's generation and id
/// (the old log, if any, is saved beside it) and reseals; `problem` goes in the report.
fn start_new_log(
    dir: &Path,
    info: &SnapshotInfo,
    dim: usize,
    report: &mut RepairReport,
    problem: String,
) -> Result<()> {
    let wal_path = dir.join(WAL_FILE);
    report.problem = Some(problem);
    report.new_log = true;
    if wal_path.exists() {
        let side = side_path(dir, 0);
        report.dropped_bytes = fs::metadata(&wal_path)
            .map_err(io("stat", &wal_path))?
            .len();
        fs::rename(&wal_path, &side).map_err(io("save the old log as", &side))?;
        report.saved_to = Some(side);
    }
    let id = info.log_id.unwrap_or(1);
    let w = Wal::create(&wal_path, info.generation, id, dim, SyncPolicy::Never)?;
    report.log_bytes = w.len();
    reseal(dir, info.generation, id, w.len())
}

/// Saves the log's bytes from `good_len` to its `size` to a file beside it, then cuts the
/// log to `good_len` (both synced). Returns the file the bytes were saved to.
fn cut_log(dir: &Path, good_len: u64, size: u64) -> Result<PathBuf> {
    let wal_path = dir.join(WAL_FILE);
    let side = side_path(dir, good_len);
    let mut src = File::open(&wal_path).map_err(io("open", &wal_path))?;
    src.seek(SeekFrom::Start(good_len))
        .map_err(io("seek", &wal_path))?;
    {
        let mut out = File::create(&side).map_err(io("create", &side))?;
        std::io::copy(&mut (&mut src).take(size - good_len), &mut out)
            .map_err(io("save dropped bytes to", &side))?;
        out.flush().map_err(io("write", &side))?;
        out.sync_all().map_err(io("fsync", &side))?;
    }
    let f = OpenOptions::new()
        .write(true)
        .open(&wal_path)
        .map_err(io("open", &wal_path))?;
    f.set_len(good_len).map_err(io("truncate", &wal_path))?;
    f.sync_all().map_err(io("fsync", &wal_path))?;
    sync_dir(dir)?;
    Ok(side)
}

/// A free name for the bytes dropped from offset `at`.
fn side_path(dir: &Path, at: u64) -> PathBuf {
    let base = format!("{WAL_FILE}.dropped-at-{at}");
    let mut p = dir.join(&base);
    let mut n = 1;
    while p.exists() {
        p = dir.join(format!("{base}.{n}"));
        n += 1;
    }
    p
}

fn reseal(dir: &Path, generation: u64, log_id: u64, len: u64) -> Result<()> {
    Seal {
        generation,
        log_id,
        len,
    }
    .write(dir)?;
    Ok(())
}

fn remove_seal(dir: &Path) -> Result<(), StoreError> {
    remove_if_exists(&dir.join(SEAL_FILE))
}
