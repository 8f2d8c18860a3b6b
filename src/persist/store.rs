//! [`DurableEngram`]: an [`Engram`] with its snapshot and write-ahead log.

use std::fs;
use std::ops::Deref;
use std::path::{Path, PathBuf};
use std::time::Duration;

use super::format::{corrupt, io, tmp_path, SNAPSHOT_FILE, WAL_FILE};
use super::lock::StoreLock;
use super::record::{self, NewConcept, RecoveryReport};
use super::seal::Seal;
use super::snapshot::{self, SnapshotInfo};
use super::wal::{SyncPolicy, Wal, WalReader};
use crate::config::Config;
use crate::consolidation::{ConsolidationConfig, CyclePlan, CycleReport};
use crate::engine::Engram;
use crate::error::{Result, StoreError};
use crate::memory::{Concept, ConceptId, EpisodeId, EpisodeMeta};

/// How many times a read-only open starts again when a writer checkpoints under it.
const READ_ONLY_RETRIES: u32 = 8;

/// Options of an on-disk store.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct StoreOptions {
    /// When the log is fsynced (default [`SyncPolicy::EveryWrite`]).
    pub sync: SyncPolicy,
    /// Open without the writer's lock, never changing, truncating or creating a file; every
    /// write is refused with [`StoreError::ReadOnly`] (default `false`).
    pub read_only: bool,
    /// How long a writable open waits for another writer to release the store's lock
    /// (`None`, the default: fail at once with [`StoreError::Locked`]).
    pub lock_wait: Option<Duration>,
}

impl StoreOptions {
    /// Sets the sync policy.
    pub fn sync(mut self, sync: SyncPolicy) -> Self {
        self.sync = sync;
        self
    }

    /// Read-only options: no lock taken, no file changed (see [`StoreOptions::read_only`]).
    pub fn read_only() -> Self {
        Self {
            read_only: true,
            ..Self::default()
        }
    }

    /// Waits up to `wait` for another writer to release the store instead of failing at once.
    pub fn wait_for_lock(mut self, wait: Duration) -> Self {
        self.lock_wait = Some(wait);
        self
    }
}

/// The generation and log id a checkpoint in progress writes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct NextCheckpoint {
    generation: u64,
    log_id: u64,
}

/// A fresh, non-zero log id (for a snapshot written outside a checkpoint, as an offline
/// import's commit does).
pub(crate) fn new_log_id() -> u64 {
    rand::random::<u64>().max(1)
}

/// An engine whose every logged change is written to a directory before the call returns.
///
/// The directory holds `snapshot.eng` (the engine at the last checkpoint), `wal.log`
/// (every [`remember`](Self::remember), [`remember_batch`](Self::remember_batch),
/// [`forget`](Self::forget) and [`add_concept`](Self::add_concept) since), `LOCK` (held by
/// the one writer, see [`super::lock`]) and, after a clean close, `wal.seal` (the log's
/// length then, so a log shortened later is detected). Reads go through [`Deref`] to the
/// [`Engram`]. A consolidation cycle rewrites concepts and bindings wholesale and is not
/// logged record by record: [`consolidate`](Self::consolidate) runs it and writes a new
/// snapshot (which also holds the consolidation state and configuration, so cycles continue
/// after a reopen exactly as they would have). Other unlogged changes go through
/// [`mutate_and_checkpoint`](Self::mutate_and_checkpoint).
///
/// **One writer, many readers.** A writable handle holds the store's lock for its life: a
/// second one (in any process) gets [`StoreError::Locked`]. [`DurableEngram::open_read_only`]
/// takes no lock, changes no byte and sees the last checkpoint plus every complete record
/// of the log, also while a writer appends.
///
/// ```
/// use engram::persist::{DurableEngram, StoreOptions};
/// use engram::{Config, EpisodeMeta};
/// let dir = tempfile::tempdir().unwrap();
/// let mut s = DurableEngram::create(dir.path(), Config::new(3), StoreOptions::default()).unwrap();
/// let id = s.remember(&[1.0, 0.0, 0.0], EpisodeMeta::at(7)).unwrap();
/// // A second writer is refused while the first is open; readers are not.
/// assert!(DurableEngram::open(dir.path(), StoreOptions::default()).is_err());
/// assert_eq!(DurableEngram::open_read_only(dir.path()).unwrap().len(), 1);
/// drop(s);
/// let s = DurableEngram::open(dir.path(), StoreOptions::default()).unwrap();
/// assert_eq!(s.get(id).unwrap().timestamp, 7);
/// ```
#[derive(Debug)]
pub struct DurableEngram {
    engine: Engram,
    dir: PathBuf,
    /// The log, `None` when read-only.
    wal: Option<Wal>,
    /// The writer's lock (`None` when read-only); released when the store is dropped.
    lock: Option<StoreLock>,
    generation: u64,
    wal_bytes: u64,
    report: RecoveryReport,
    poisoned: bool,
    buf: Vec<u8>,
}

impl Deref for DurableEngram {
    type Target = Engram;
    fn deref(&self) -> &Engram {
        &self.engine
    }
}

/// Whether `dir` holds a store (a snapshot file).
pub fn exists(dir: &Path) -> bool {
    dir.join(SNAPSHOT_FILE).is_file()
}

/// What the log beside a snapshot held.
struct Replayed {
    /// Where appending continues (the end of the last good record; for a stale log, its
    /// size).
    good_len: u64,
    /// The log's header length.
    header_len: u64,
    /// The log's format version.
    version: u32,
    /// Whether the log was stale (the generation before the snapshot's) and so ignored.
    stale: bool,
}

impl DurableEngram {
    /// Creates a new, empty store in `dir` (made if missing). Fails if a store is there.
    pub fn create(dir: &Path, config: Config, options: StoreOptions) -> Result<Self> {
        let engine = Engram::new(config)?;
        Self::create_from(dir, engine, options)
    }

    /// Creates a new store in `dir` holding `engine` as its first snapshot.
    ///
    /// The log is written first and the snapshot last, so a crash in between leaves an empty
    /// log and no snapshot: no store, which the next create replaces.
    pub fn create_from(dir: &Path, engine: Engram, options: StoreOptions) -> Result<Self> {
        if options.read_only {
            return Err(StoreError::ReadOnly {
                path: dir.to_path_buf(),
            }
            .into());
        }
        let already = || -> Result<Self> {
            Err(StoreError::Other(format!("{}: a store already exists here", dir.display())).into())
        };
        // Checked before the lock too, so an existing store is named as such even while a
        // writer has it open.
        if exists(dir) {
            return already();
        }
        fs::create_dir_all(dir).map_err(io("create directory", dir))?;
        let lock = StoreLock::acquire(dir, options.lock_wait)?;
        let wal_path = dir.join(WAL_FILE);
        if exists(dir) || (wal_path.exists() && !interrupted_create(&wal_path)?) {
            return already();
        }
        let log_id = new_log_id();
        let wal = Wal::create(&wal_path, 0, log_id, engine.dim(), options.sync)?;
        snapshot::write(&engine, &dir.join(SNAPSHOT_FILE), 0, log_id)?;
        Ok(Self {
            engine,
            dir: dir.to_path_buf(),
            wal_bytes: wal.len(),
            wal: Some(wal),
            lock: Some(lock),
            generation: 0,
            report: RecoveryReport::default(),
            poisoned: false,
            buf: Vec::new(),
        })
    }

    /// Opens the store in `dir`, checking that its dimension is `config`'s.
    pub fn open_with(dir: &Path, config: &Config, options: StoreOptions) -> Result<Self> {
        let s = Self::open(dir, options)?;
        if s.dim() != config.dim() {
            return Err(StoreError::DimensionMismatch {
                path: dir.to_path_buf(),
                stored: s.dim(),
                configured: config.dim(),
            }
            .into());
        }
        Ok(s)
    }

    /// Opens the store in `dir` if there is one, else creates it with `config`.
    pub fn open_or_create(dir: &Path, config: Config, options: StoreOptions) -> Result<Self> {
        if exists(dir) {
            Self::open_with(dir, &config, options)
        } else {
            Self::create(dir, config, options)
        }
    }

    /// Opens the store in `dir` read-only: no lock, no file created, changed or truncated
    /// (a read-only directory is fine); writes return [`StoreError::ReadOnly`]. It sees the
    /// last checkpoint and every complete record of the log, also while a writer appends
    /// (a record being written is left out, and a checkpoint under it makes it start again).
    pub fn open_read_only(dir: &Path) -> Result<Self> {
        Self::open(dir, StoreOptions::read_only())
    }

    /// Opens the store in `dir`: loads the snapshot and replays the log after it (see
    /// [`DurableEngram::recovery`]). A writable open takes the store's lock first (another
    /// writer: [`StoreError::Locked`]).
    ///
    /// Only a torn tail — an incomplete last record that a crash cut short before it was
    /// acknowledged — is dropped (and, when writable, cut from the file). A damaged
    /// snapshot, a damaged record anywhere in the log, a missing log, a log of another
    /// generation or checkpoint, or a log shorter than at the last clean close is a
    /// [`StoreError::Corrupt`] naming the file, section and byte offset, and nothing is
    /// changed on disk; [`repair`](super::repair) is the explicit way out.
    pub fn open(dir: &Path, options: StoreOptions) -> Result<Self> {
        let snap_path = dir.join(SNAPSHOT_FILE);
        let wal_path = dir.join(WAL_FILE);
        if !snap_path.is_file() {
            if wal_path.exists() && !interrupted_create(&wal_path)? {
                return Err(
                    corrupt(&snap_path, "snapshot", 0, "a log exists but no snapshot").into(),
                );
            }
            return Err(StoreError::Other(format!("{}: no store here", dir.display())).into());
        }
        if options.read_only {
            return Self::open_read_only_inner(dir);
        }
        let lock = StoreLock::acquire(dir, options.lock_wait)?;
        Self::open_under(dir, options, lock)
    }

    /// Opens the store in `dir` for writing under a lock already held (crate only: an
    /// offline import holds the lock across several opens).
    pub(crate) fn open_under(dir: &Path, options: StoreOptions, lock: StoreLock) -> Result<Self> {
        let snap_path = dir.join(SNAPSHOT_FILE);
        let wal_path = dir.join(WAL_FILE);
        let mut report = RecoveryReport::default();
        for name in [SNAPSHOT_FILE, WAL_FILE, super::seal::SEAL_FILE] {
            let t = tmp_path(&dir.join(name));
            if t.exists() {
                fs::remove_file(&t).map_err(io("remove leftover", &t))?;
                report.temp_files_removed += 1;
            }
        }
        let (mut engine, info) = snapshot::read(&snap_path)?;
        let replayed = replay(dir, &mut engine, &info, &mut report)?;
        let generation = info.generation;
        let mut s = Self {
            engine,
            dir: dir.to_path_buf(),
            wal: None,
            lock: Some(lock),
            generation,
            wal_bytes: 0,
            report,
            poisoned: false,
            buf: Vec::new(),
        };
        match info.log_id {
            Some(id) if replayed.stale => {
                // Everything in the stale log is in the snapshot: start the log it names.
                // A stale log that holds records is kept beside it, not deleted (only
                // `repair` drops data; this one is safe to delete once the store opens).
                if replayed.good_len > replayed.header_len {
                    let keep = dir.join(format!("{WAL_FILE}.folded-gen-{}", generation - 1));
                    fs::rename(&wal_path, &keep).map_err(io("keep the folded log as", &keep))?;
                }
                s.start_log(
                    NextCheckpoint {
                        generation,
                        log_id: id,
                    },
                    options.sync,
                )?;
            }
            Some(id) if replayed.version >= 2 => {
                let wal = Wal::open_at(&wal_path, replayed.good_len, generation, id, options.sync)?;
                s.wal_bytes = wal.len();
                s.wal = Some(wal);
            }
            _ => {
                // A store written by an older version (no log id, or a version 1 log):
                // checkpoint now, so the store continues with a log of this
                // version that the snapshot names.
                let next = NextCheckpoint {
                    generation: generation.checked_add(1).ok_or_else(|| {
                        corrupt(&snap_path, "HEAD", 0, "generation counter exhausted")
                    })?,
                    log_id: new_log_id(),
                };
                s.write_checkpoint_snapshot(next)?;
                s.start_log(next, options.sync)?;
            }
        }
        s.report.wal_bytes = s.wal_bytes;
        Ok(s)
    }

    fn open_read_only_inner(dir: &Path) -> Result<Self> {
        let snap_path = dir.join(SNAPSHOT_FILE);
        let mut last_err = None;
        for _ in 0..READ_ONLY_RETRIES {
            let mut report = RecoveryReport::default();
            let (mut engine, info) = snapshot::read(&snap_path)?;
            match replay(dir, &mut engine, &info, &mut report) {
                Ok(r) => {
                    report.wal_bytes = r.good_len;
                    return Ok(Self {
                        engine,
                        dir: dir.to_path_buf(),
                        wal: None,
                        lock: None,
                        generation: info.generation,
                        wal_bytes: r.good_len,
                        report,
                        poisoned: false,
                        buf: Vec::new(),
                    });
                }
                // A writer checkpointed between reading the snapshot and the log: again.
                Err(e) if e.is_newer_log() => last_err = Some(e),
                Err(e) => return Err(e.into_error()),
            }
        }
        Err(last_err
            .map(ReplayError::into_error)
            .unwrap_or_else(|| StoreError::Other("read-only open did not settle".into()).into()))
    }

    /// What opening found: the snapshot, records replayed, a torn tail dropped.
    pub fn recovery(&self) -> &RecoveryReport {
        &self.report
    }

    /// The store's directory.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The engine (also reachable through [`Deref`]).
    pub fn engine(&self) -> &Engram {
        &self.engine
    }

    /// The engine, mutably, for changes made durable by the next checkpoint (crate only).
    pub(crate) fn engine_mut_unlogged(&mut self) -> &mut Engram {
        &mut self.engine
    }

    /// The snapshot generation (bumped by each checkpoint).
    pub fn generation(&self) -> u64 {
        self.generation
    }

    /// The log's size in bytes (for a read-only handle: up to the last complete record it
    /// read).
    pub fn wal_bytes(&self) -> u64 {
        self.wal.as_ref().map_or(self.wal_bytes, Wal::len)
    }

    /// Whether this handle is read-only ([`DurableEngram::open_read_only`]).
    pub fn is_read_only(&self) -> bool {
        self.lock.is_none()
    }

    /// Changes the sync policy.
    pub fn set_sync(&mut self, sync: SyncPolicy) -> Result<()> {
        Ok(self.wal_mut()?.set_policy(sync)?)
    }

    /// The log, or [`StoreError::ReadOnly`].
    fn wal_mut(&mut self) -> Result<&mut Wal, StoreError> {
        match self.wal.as_mut() {
            Some(w) => Ok(w),
            None => Err(StoreError::ReadOnly {
                path: self.dir.clone(),
            }),
        }
    }

    /// Appends one record to the log (see [`Wal::append`]).
    fn append(&mut self, fill: impl FnOnce(&mut Vec<u8>)) -> Result<(), StoreError> {
        self.wal_mut()?.append(fill)
    }

    fn check_poison(&self) -> Result<()> {
        if self.wal.is_none() {
            return Err(StoreError::ReadOnly {
                path: self.dir.clone(),
            }
            .into());
        }
        if self.poisoned {
            return Err(record::poisoned());
        }
        Ok(())
    }

    /// [`Engram::remember`], logged.
    pub fn remember(&mut self, embedding: &[f32], meta: EpisodeMeta) -> Result<EpisodeId> {
        let mut ids = self.remember_batch(embedding, vec![meta])?;
        ids.pop()
            .ok_or_else(|| StoreError::Other("empty batch".into()).into())
    }

    /// [`Engram::remember_batch`], logged as one record: after a crash the whole batch is
    /// there or none of it.
    pub fn remember_batch(
        &mut self,
        rows: &[f32],
        metas: Vec<EpisodeMeta>,
    ) -> Result<Vec<EpisodeId>> {
        self.check_poison()?;
        let first = self.engine.next_episode;
        let meta_bytes = record::encode_metas(&metas);
        let ids = self.engine.remember_batch(rows, metas)?;
        let n = ids.len();
        let r = if n == 0 {
            Ok(())
        } else if meta_bytes.is_empty() {
            let defaults = record::encode_metas(&vec![EpisodeMeta::default(); n]);
            self.append(|b| record::encode_batch(b, first, &defaults, n, rows))
        } else {
            self.append(|b| record::encode_batch(b, first, &meta_bytes, n, rows))
        };
        self.logged(r)?;
        Ok(ids)
    }

    /// [`Engram::forget`], logged.
    pub fn forget(&mut self, id: EpisodeId) -> Result<()> {
        self.check_poison()?;
        self.engine.forget(id)?;
        let r = self.append(|b| record::encode_forget(b, id));
        self.logged(r)
    }

    /// Adds a concept with this centroid (normalised here), logged. Returns its id.
    pub fn add_concept(&mut self, centroid: &[f32], c: NewConcept) -> Result<ConceptId> {
        self.check_poison()?;
        let id = record::add_concept(&mut self.engine, centroid, c)?;
        let node = self.engine.graph.concept_node(id);
        let concept: Option<Concept> = node.map(|n| n.concept.clone());
        let unit = self.engine.centroid(id)?;
        let r = match concept {
            Some(c) => {
                let buf = &mut self.buf;
                buf.clear();
                record::encode_concept(buf, &c, &unit);
                let bytes = std::mem::take(buf);
                let r = self.append(|b| b.extend_from_slice(&bytes));
                self.buf = bytes;
                r
            }
            None => Err(StoreError::Other("concept vanished".into())),
        };
        self.logged(r)?;
        Ok(id)
    }

    /// [`Engram::import_batch`], logged as one record: after a crash the batch and the
    /// import's progress are both there or neither is.
    pub fn import_batch(
        &mut self,
        id: &str,
        progress: &str,
        rows: &[f32],
        metas: Vec<EpisodeMeta>,
        concepts: &[(Vec<f32>, NewConcept)],
    ) -> Result<(Vec<EpisodeId>, Vec<ConceptId>)> {
        self.check_poison()?;
        let first = self.engine.next_episode;
        let n_metas = metas.len();
        let mut meta_bytes = record::encode_metas(&metas);
        let (eps, cids) = self
            .engine
            .import_batch(id, progress, rows, metas, concepts)?;
        if n_metas == 0 && !eps.is_empty() {
            meta_bytes = record::encode_metas(&vec![EpisodeMeta::default(); eps.len()]);
        }
        let mut stored = Vec::with_capacity(cids.len());
        for &c in &cids {
            let concept = self.engine.graph.concept_node(c).map(|n| n.concept.clone());
            match (concept, self.engine.centroid(c)) {
                (Some(concept), Ok(unit)) => stored.push((concept, unit)),
                // Memory changed but cannot be logged: refuse further writes.
                _ => self.logged(Err(StoreError::Other(format!(
                    "imported concept {c} vanished before it was logged"
                ))))?,
            }
        }
        let n = eps.len();
        let r = self.append(|b| {
            record::encode_import(b, id, progress, first, &meta_bytes, n, rows, &stored)
        });
        self.logged(r)?;
        Ok((eps, cids))
    }

    fn logged(&mut self, r: Result<(), StoreError>) -> Result<()> {
        if let Err(e) = r {
            self.poisoned = true;
            return Err(e.into());
        }
        Ok(())
    }

    /// fsyncs the log now (nothing to do for a read-only handle).
    pub fn sync(&mut self) -> Result<()> {
        match self.wal.as_mut() {
            Some(w) => Ok(w.sync()?),
            None => Ok(()),
        }
    }

    /// Folds the log into a new snapshot: writes the snapshot of the next generation
    /// (temporary file, fsync, rename, directory fsync), then an empty log of that
    /// generation. A crash between the two leaves a stale log that opening discards.
    pub fn checkpoint(&mut self) -> Result<()> {
        let next = self.begin_checkpoint()?;
        self.write_checkpoint_snapshot(next)?;
        self.finish_checkpoint(next)
    }

    /// The first step of a checkpoint (needs `&mut`): fsyncs the log; returns the generation
    /// and log id the snapshot is written with.
    pub(crate) fn begin_checkpoint(&mut self) -> Result<NextCheckpoint> {
        self.wal_mut()?.sync()?;
        if let Some(l) = &self.lock {
            l.verify()?;
        }
        let generation = self.generation.checked_add(1).ok_or_else(|| {
            StoreError::Other("the store's generation counter is exhausted".into())
        })?;
        Ok(NextCheckpoint {
            generation,
            log_id: new_log_id(),
        })
    }

    /// The second step (only `&self`, so it can run while readers keep reading — but no
    /// write may happen until [`DurableEngram::finish_checkpoint`], or it would be logged to
    /// a log the new snapshot makes stale): writes the snapshot of generation `next`.
    pub(crate) fn write_checkpoint_snapshot(&self, next: NextCheckpoint) -> Result<()> {
        if self.lock.is_none() {
            return Err(StoreError::ReadOnly {
                path: self.dir.clone(),
            }
            .into());
        }
        snapshot::write(
            &self.engine,
            &self.dir.join(SNAPSHOT_FILE),
            next.generation,
            next.log_id,
        )?;
        Ok(())
    }

    /// The last step (needs `&mut`): adopts generation `next` and starts its empty log.
    pub(crate) fn finish_checkpoint(&mut self, next: NextCheckpoint) -> Result<()> {
        let policy = self.wal_mut()?.policy();
        self.start_log(next, policy)?;
        self.poisoned = false;
        Ok(())
    }

    /// Adopts the checkpoint `next` (its snapshot is in place) and replaces the log with an
    /// empty one of its generation and id.
    fn start_log(&mut self, next: NextCheckpoint, policy: SyncPolicy) -> Result<()> {
        self.generation = next.generation;
        let created = Wal::create(
            &self.dir.join(WAL_FILE),
            next.generation,
            next.log_id,
            self.engine.dim(),
            policy,
        )
        .and_then(|w| {
            // Sealed at once: from now on a log of an earlier generation beside this
            // snapshot is an old copy put back, not an interrupted checkpoint.
            Seal {
                generation: next.generation,
                log_id: next.log_id,
                len: w.len(),
            }
            .write(&self.dir)?;
            Ok(w)
        });
        match created {
            Ok(w) => {
                self.wal_bytes = w.len();
                self.wal = Some(w);
                Ok(())
            }
            Err(e) => {
                // The old log (kept, so a later `checkpoint()` can try again) is stale now
                // and would be discarded on open; refuse writes until a checkpoint succeeds
                // or the store is reopened.
                self.poisoned = true;
                Err(e.into())
            }
        }
    }

    /// Marks the store as refusing writes until a checkpoint succeeds or it is reopened
    /// (after a failed checkpoint that followed unlogged changes).
    pub(crate) fn poison(&mut self) {
        self.poisoned = true;
    }

    /// Whether writes are refused (see [`DurableEngram::checkpoint`]).
    pub(crate) fn check_writable(&self) -> Result<()> {
        self.check_poison()
    }

    /// One consolidation cycle ([`Engram::consolidate`]) at clock `now`, made durable by a
    /// checkpoint before it returns.
    ///
    /// Durability: a cycle rewrites concepts, bindings and episode strengths wholesale, so it
    /// is not logged record by record; the checkpoint writes the whole engine (cycle
    /// included) as the next snapshot. A crash before the snapshot's rename loses the cycle
    /// and only the cycle (reopening gives the state before it, log included, and running
    /// the same cycle again gives the same result); after it, the cycle is there. If the
    /// cycle fails nothing changes; if the checkpoint fails the cycle stays in memory, the
    /// error is returned, and the store refuses writes until a
    /// [`checkpoint`](Self::checkpoint) succeeds or it is reopened.
    ///
    /// Cost: one snapshot write (the whole store) per cycle.
    pub fn consolidate(&mut self, now: u64) -> Result<CycleReport> {
        self.check_poison()?;
        let plan = self.engine.prepare_cycle(now)?;
        self.apply_cycle(plan)
    }

    /// [`Engram::apply_cycle`] of a plan from [`Engram::prepare_cycle`] (reachable through
    /// [`Deref`]), then a checkpoint: durable as [`DurableEngram::consolidate`].
    pub fn apply_cycle(&mut self, plan: CyclePlan) -> Result<CycleReport> {
        self.check_poison()?;
        let mut report = self.engine.apply_cycle(plan)?;
        let t = std::time::Instant::now();
        if let Err(e) = self.checkpoint() {
            self.poisoned = true;
            return Err(e);
        }
        report.timings.checkpoint = Some(t.elapsed());
        Ok(report)
    }

    /// Replaces the consolidation configuration (checked first). It is saved in the
    /// snapshot, so it takes effect now and is durable from the next checkpoint (a
    /// [`consolidate`](Self::consolidate) checkpoints).
    pub fn set_consolidation_config(&mut self, config: ConsolidationConfig) -> Result<()> {
        let c = config.check()?;
        self.engine.config = self.engine.config.clone().consolidation(c);
        Ok(())
    }

    /// Replaces the recall constants ([`Engram::set_recall_config`]); not saved in the store.
    pub fn set_recall_config(&mut self, config: crate::recall::RecallConfig) -> Result<()> {
        self.engine.set_recall_config(config)
    }

    /// Runs `f` on the engine, then checkpoints, so changes that are not logged record by
    /// record (a consolidation cycle, direct graph edits) become durable. Until the
    /// checkpoint returns, a crash loses what `f` did (and only that). If the checkpoint
    /// fails, the error is returned and the store refuses further writes until reopened.
    pub fn mutate_and_checkpoint<R>(&mut self, f: impl FnOnce(&mut Engram) -> R) -> Result<R> {
        self.check_poison()?;
        let r = f(&mut self.engine);
        if let Err(e) = self.checkpoint() {
            self.poisoned = true;
            return Err(e);
        }
        Ok(r)
    }

    /// Closes the store: fsyncs the log and seals it (records its length in `wal.seal`, so
    /// a log shortened later is detected); returns the engine.
    pub fn into_engine(mut self) -> Result<Engram> {
        self.close()?;
        let engine = std::mem::replace(&mut self.engine, Engram::new(Config::new(1))?);
        Ok(engine)
    }

    /// Closes the store (as dropping it does) but keeps its lock, for the caller to hold on
    /// (crate only).
    pub(crate) fn into_lock(mut self) -> Result<StoreLock> {
        self.close()?;
        // Closed: the drop that follows has nothing left to do.
        self.wal = None;
        self.lock.take().ok_or_else(|| {
            StoreError::ReadOnly {
                path: self.dir.clone(),
            }
            .into()
        })
    }

    /// fsyncs and seals the log of a writable, healthy handle.
    fn close(&mut self) -> Result<(), StoreError> {
        if self.poisoned {
            return Ok(());
        }
        let generation = self.generation;
        let dir = self.dir.clone();
        let Some(w) = self.wal.as_mut() else {
            return Ok(());
        };
        w.sync()?;
        Seal {
            generation,
            log_id: w.log_id(),
            len: w.len(),
        }
        .write(&dir)
    }
}

impl Drop for DurableEngram {
    fn drop(&mut self) {
        if let Err(e) = self.close() {
            log::warn!("{}: closing the store: {e}", self.dir.display());
        }
    }
}

/// Whether the log at `path`, found with no snapshot beside it, is what an interrupted
/// create leaves: an empty log of generation 0 (the snapshot is written after the log).
fn interrupted_create(path: &Path) -> Result<bool> {
    let r = WalReader::open(path)?;
    Ok(r.generation == 0 && r.size() == r.offset())
}

/// Why replaying the log failed.
enum ReplayError {
    /// The log is of a later generation than the snapshot read: a writer checkpointed in
    /// between (a read-only open starts again).
    NewerLog(StoreError),
    /// Anything else.
    Other(crate::Error),
}

impl ReplayError {
    fn is_newer_log(&self) -> bool {
        matches!(self, ReplayError::NewerLog(_))
    }
    fn into_error(self) -> crate::Error {
        match self {
            ReplayError::NewerLog(e) => e.into(),
            ReplayError::Other(e) => e,
        }
    }
}

impl From<ReplayError> for crate::Error {
    fn from(e: ReplayError) -> Self {
        e.into_error()
    }
}

impl From<StoreError> for ReplayError {
    fn from(e: StoreError) -> Self {
        ReplayError::Other(e.into())
    }
}

impl From<crate::Error> for ReplayError {
    fn from(e: crate::Error) -> Self {
        ReplayError::Other(e)
    }
}

/// Checks the log's header against the snapshot (`info`, of dimension `dim`) and its seal:
/// the log must be of the snapshot's dimension, generation and id. A log of the generation
/// before, with no seal of the snapshot's generation, is stale (a checkpoint was interrupted
/// after its snapshot was in place): returned as what replaying it amounts to.
fn check_log_header(
    wal_path: &Path,
    r: &WalReader<'_>,
    seal: Option<Seal>,
    info: &SnapshotInfo,
    dim: usize,
) -> Result<Option<Replayed>, ReplayError> {
    if r.dim != dim {
        return Err(corrupt(
            wal_path,
            "log header",
            0,
            "dimension differs from the snapshot's",
        )
        .into());
    }
    if r.generation.checked_add(1) == Some(info.generation) {
        if seal.is_some_and(|s| s.generation == info.generation) {
            return Err(corrupt(
                wal_path,
                "log header",
                0,
                format!(
                    "the log is of generation {}, from before the last checkpoint, whose own \
                     log was in place (sealed): an older copy of the log was put back and \
                     the records since that checkpoint are missing",
                    r.generation
                ),
            )
            .into());
        }
        // A checkpoint was interrupted after its snapshot was in place: the snapshot holds
        // everything this log does.
        return Ok(Some(Replayed {
            good_len: r.size(),
            header_len: r.offset(),
            version: r.version,
            stale: true,
        }));
    }
    if r.generation != info.generation {
        let e = corrupt(
            wal_path,
            "log header",
            0,
            format!(
                "log generation {} does not follow snapshot generation {}",
                r.generation, info.generation
            ),
        );
        return Err(if r.generation > info.generation {
            ReplayError::NewerLog(e)
        } else {
            e.into()
        });
    }
    if let Some(want) = info.log_id {
        if r.log_id != Some(want) {
            return Err(corrupt(
                wal_path,
                "log header",
                0,
                "the log is not the one this snapshot's checkpoint started (another store's \
                 or another checkpoint's log of the same generation)",
            )
            .into());
        }
    }
    Ok(None)
}

/// Replays the log of `dir` onto the engine read from its snapshot (`info`); reads only.
fn replay(
    dir: &Path,
    engine: &mut Engram,
    info: &SnapshotInfo,
    report: &mut RecoveryReport,
) -> Result<Replayed, ReplayError> {
    let wal_path = dir.join(WAL_FILE);
    report.snapshot_generation = info.generation;
    report.snapshot_bytes = info.bytes;
    if !wal_path.exists() {
        return Err(corrupt(
            &wal_path,
            "log",
            0,
            format!(
                "the log is missing: every record since the checkpoint of generation {} is \
                 gone (`engram repair` starts an empty log if that loss is accepted)",
                info.generation
            ),
        )
        .into());
    }
    // The seal is read before the log: the log only grows within a generation, so a seal
    // written by a writer closing meanwhile can only be shorter than what is read next.
    let seal = Seal::read(dir)?;
    let mut r = WalReader::open(&wal_path)?;
    if let Some(stale) = check_log_header(&wal_path, &r, seal, info, engine.dim())? {
        report.stale_wal_discarded = true;
        return Ok(stale);
    }
    let seal = seal.filter(|s| s.generation == info.generation && Some(s.log_id) == r.log_id);
    if let Some(seal) = &seal {
        if r.size() < seal.len {
            return Err(corrupt(
                &wal_path,
                "log",
                r.size(),
                format!(
                    "the log is {} bytes, but it held {} when the store was last closed: \
                     records were removed",
                    r.size(),
                    seal.len
                ),
            )
            .into());
        }
    }
    while let Some((off, rec)) = r.next_record()? {
        record::apply(engine, &rec).map_err(|d| corrupt(&wal_path, "log record", off, d))?;
        report.records_replayed += 1;
    }
    let tail = r.tail();
    if let Some(seal) = &seal {
        if tail.good_len < seal.len {
            return Err(corrupt(
                &wal_path,
                "log record",
                tail.good_len,
                format!(
                    "the record here is incomplete, but the log held {} bytes of complete \
                     records when the store was last closed",
                    seal.len
                ),
            )
            .into());
        }
    }
    if tail.dropped_bytes > 0 {
        report.torn_tail_offset = Some(tail.good_len);
        report.torn_tail_bytes = tail.dropped_bytes;
        log::warn!(
            "{}: an incomplete last record of {} bytes at offset {} (cut short by a crash, \
             never acknowledged) is left out",
            wal_path.display(),
            tail.dropped_bytes,
            tail.good_len
        );
    }
    Ok(Replayed {
        good_len: tail.good_len,
        header_len: if r.version == 1 {
            super::wal::V1_HEADER_BYTES
        } else {
            super::wal::HEADER_BYTES
        },
        version: r.version,
        stale: false,
    })
}
