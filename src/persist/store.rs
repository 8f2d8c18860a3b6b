//! [`DurableEngram`]: an [`Engram`] with its snapshot and write-ahead log.

use std::fs;
use std::ops::Deref;
use std::path::{Path, PathBuf};

use super::format::{corrupt, io, tmp_path, SNAPSHOT_FILE, WAL_FILE};
use super::recovery::{self, NewConcept, RecoveryReport};
use super::snapshot;
use super::wal::{SyncPolicy, Wal, WalReader};
use crate::config::Config;
use crate::consolidation::{ConsolidationConfig, CyclePlan, CycleReport};
use crate::engine::Engram;
use crate::error::{Result, StoreError};
use crate::memory::{Concept, ConceptId, EpisodeId, EpisodeMeta};

/// Options of an on-disk store.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct StoreOptions {
    /// When the log is fsynced (default [`SyncPolicy::EveryWrite`]).
    pub sync: SyncPolicy,
}

impl StoreOptions {
    /// Sets the sync policy.
    pub fn sync(mut self, sync: SyncPolicy) -> Self {
        self.sync = sync;
        self
    }
}

/// An engine whose every logged change is written to a directory before the call returns.
///
/// The directory holds `snapshot.eng` (the engine at the last checkpoint) and `wal.log`
/// (every [`remember`](Self::remember), [`remember_batch`](Self::remember_batch),
/// [`forget`](Self::forget) and [`add_concept`](Self::add_concept) since). Reads go through
/// [`Deref`] to the [`Engram`]. A consolidation cycle rewrites concepts and bindings
/// wholesale and is not logged record by record: [`consolidate`](Self::consolidate) runs it
/// and writes a new snapshot (which also holds the consolidation state and configuration,
/// so cycles continue after a reopen exactly as they would have). Other unlogged changes go
/// through [`mutate_and_checkpoint`](Self::mutate_and_checkpoint). One process opens a store
/// at a time.
///
/// ```
/// use engram::persist::{DurableEngram, StoreOptions};
/// use engram::{Config, EpisodeMeta};
/// let dir = tempfile::tempdir().unwrap();
/// let mut s = DurableEngram::create(dir.path(), Config::new(3), StoreOptions::default()).unwrap();
/// let id = s.remember(&[1.0, 0.0, 0.0], EpisodeMeta::at(7)).unwrap();
/// drop(s);
/// let s = DurableEngram::open(dir.path(), StoreOptions::default()).unwrap();
/// assert_eq!(s.get(id).unwrap().timestamp, 7);
/// ```
#[derive(Debug)]
pub struct DurableEngram {
    engine: Engram,
    dir: PathBuf,
    wal: Wal,
    generation: u64,
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

impl DurableEngram {
    /// Creates a new, empty store in `dir` (made if missing). Fails if a store is there.
    pub fn create(dir: &Path, config: Config, options: StoreOptions) -> Result<Self> {
        let engine = Engram::new(config)?;
        Self::create_from(dir, engine, options)
    }

    /// Creates a new store in `dir` holding `engine` as its first snapshot.
    pub fn create_from(dir: &Path, engine: Engram, options: StoreOptions) -> Result<Self> {
        fs::create_dir_all(dir).map_err(io("create directory", dir))?;
        if exists(dir) || dir.join(WAL_FILE).exists() {
            return Err(StoreError::Other(format!(
                "{}: a store already exists here",
                dir.display()
            ))
            .into());
        }
        snapshot::write(&engine, &dir.join(SNAPSHOT_FILE), 0)?;
        let wal = Wal::create(&dir.join(WAL_FILE), 0, engine.dim(), options.sync)?;
        Ok(Self {
            engine,
            dir: dir.to_path_buf(),
            wal,
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

    /// Opens the store in `dir`: loads the snapshot, replays the log after it and drops a torn
    /// last record (see [`DurableEngram::recovery`]). A damaged snapshot, a damaged log record
    /// that is not the last, or a log of another generation is a [`StoreError::Corrupt`]
    /// naming the file, section and byte offset; nothing is changed on disk then.
    pub fn open(dir: &Path, options: StoreOptions) -> Result<Self> {
        let snap_path = dir.join(SNAPSHOT_FILE);
        let wal_path = dir.join(WAL_FILE);
        if !snap_path.is_file() {
            if wal_path.exists() {
                return Err(
                    corrupt(&snap_path, "snapshot", 0, "a log exists but no snapshot").into(),
                );
            }
            return Err(StoreError::Other(format!("{}: no store here", dir.display())).into());
        }
        let mut report = RecoveryReport::default();
        for name in [SNAPSHOT_FILE, WAL_FILE] {
            let t = tmp_path(&dir.join(name));
            if t.exists() {
                fs::remove_file(&t).map_err(io("remove leftover", &t))?;
                report.temp_files_removed += 1;
            }
        }
        let (mut engine, info) = snapshot::read(&snap_path)?;
        report.snapshot_generation = info.generation;
        report.snapshot_bytes = info.bytes;
        let generation = info.generation;
        let wal = if !wal_path.exists() {
            // Created with the snapshot, or a create interrupted between the two files.
            Wal::create(&wal_path, generation, engine.dim(), options.sync)?
        } else {
            let mut r = WalReader::open(&wal_path)?;
            if r.dim != engine.dim() {
                return Err(corrupt(
                    &wal_path,
                    "log header",
                    0,
                    "dimension differs from the snapshot's",
                )
                .into());
            }
            if r.generation + 1 == generation {
                report.stale_wal_discarded = true;
                drop(r);
                Wal::create(&wal_path, generation, engine.dim(), options.sync)?
            } else if r.generation != generation {
                return Err(corrupt(
                    &wal_path,
                    "log header",
                    0,
                    format!(
                        "log generation {} does not follow snapshot generation {generation}",
                        r.generation
                    ),
                )
                .into());
            } else {
                while let Some((off, rec)) = r.next_record()? {
                    recovery::apply(&mut engine, &rec)
                        .map_err(|d| corrupt(&wal_path, "log record", off, d))?;
                    report.records_replayed += 1;
                }
                let tail = r.tail();
                if tail.dropped_bytes > 0 {
                    report.torn_tail_offset = Some(tail.good_len);
                    report.torn_tail_bytes = tail.dropped_bytes;
                    log::warn!(
                        "{}: dropped a torn last record of {} bytes at offset {}",
                        wal_path.display(),
                        tail.dropped_bytes,
                        tail.good_len
                    );
                }
                drop(r);
                Wal::open_at(&wal_path, tail.good_len, generation, options.sync)?
            }
        };
        report.wal_bytes = wal.len();
        Ok(Self {
            engine,
            dir: dir.to_path_buf(),
            wal,
            generation,
            report,
            poisoned: false,
            buf: Vec::new(),
        })
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

    /// The log's size in bytes.
    pub fn wal_bytes(&self) -> u64 {
        self.wal.len()
    }

    /// Changes the sync policy.
    pub fn set_sync(&mut self, sync: SyncPolicy) -> Result<()> {
        Ok(self.wal.set_policy(sync)?)
    }

    fn check_poison(&self) -> Result<()> {
        if self.poisoned {
            return Err(recovery::poisoned());
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
        let meta_bytes = recovery::encode_metas(&metas);
        let ids = self.engine.remember_batch(rows, metas)?;
        let n = ids.len();
        let r = if n == 0 {
            Ok(())
        } else if meta_bytes.is_empty() {
            let defaults = recovery::encode_metas(&vec![EpisodeMeta::default(); n]);
            self.wal
                .append(|b| recovery::encode_batch(b, first, &defaults, n, rows))
        } else {
            self.wal
                .append(|b| recovery::encode_batch(b, first, &meta_bytes, n, rows))
        };
        self.logged(r)?;
        Ok(ids)
    }

    /// [`Engram::forget`], logged.
    pub fn forget(&mut self, id: EpisodeId) -> Result<()> {
        self.check_poison()?;
        self.engine.forget(id)?;
        let r = self.wal.append(|b| recovery::encode_forget(b, id));
        self.logged(r)
    }

    /// Adds a concept with this centroid (normalised here), logged. Returns its id.
    pub fn add_concept(&mut self, centroid: &[f32], c: NewConcept) -> Result<ConceptId> {
        self.check_poison()?;
        let id = recovery::add_concept(&mut self.engine, centroid, c)?;
        let node = self.engine.graph.concept_node(id);
        let concept: Option<Concept> = node.map(|n| n.concept.clone());
        let unit = self.engine.centroid(id)?;
        let r = match concept {
            Some(c) => {
                let buf = &mut self.buf;
                buf.clear();
                recovery::encode_concept(buf, &c, &unit);
                let bytes = std::mem::take(buf);
                let r = self.wal.append(|b| b.extend_from_slice(&bytes));
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
        let mut meta_bytes = recovery::encode_metas(&metas);
        let (eps, cids) = self
            .engine
            .import_batch(id, progress, rows, metas, concepts)?;
        if n_metas == 0 && !eps.is_empty() {
            meta_bytes = recovery::encode_metas(&vec![EpisodeMeta::default(); eps.len()]);
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
        let r = self.wal.append(|b| {
            recovery::encode_import(b, id, progress, first, &meta_bytes, n, rows, &stored)
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

    /// fsyncs the log now.
    pub fn sync(&mut self) -> Result<()> {
        Ok(self.wal.sync()?)
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
    /// the snapshot is written as.
    pub(crate) fn begin_checkpoint(&mut self) -> Result<u64> {
        self.wal.sync()?;
        Ok(self.generation + 1)
    }

    /// The second step (only `&self`, so it can run while readers keep reading — but no
    /// write may happen until [`DurableEngram::finish_checkpoint`], or it would be logged to
    /// a log the new snapshot makes stale): writes the snapshot of generation `next`.
    pub(crate) fn write_checkpoint_snapshot(&self, next: u64) -> Result<()> {
        snapshot::write(&self.engine, &self.dir.join(SNAPSHOT_FILE), next)?;
        Ok(())
    }

    /// The last step (needs `&mut`): adopts generation `next` and starts its empty log.
    pub(crate) fn finish_checkpoint(&mut self, next: u64) -> Result<()> {
        self.generation = next;
        let policy = self.wal.policy();
        match Wal::create(&self.dir.join(WAL_FILE), next, self.engine.dim(), policy) {
            Ok(w) => self.wal = w,
            Err(e) => {
                // The old log is stale now and would be discarded on open; refuse writes.
                self.poisoned = true;
                return Err(e.into());
            }
        }
        self.poisoned = false;
        Ok(())
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
        let report = self.engine.apply_cycle(plan)?;
        if let Err(e) = self.checkpoint() {
            self.poisoned = true;
            return Err(e);
        }
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

    /// Closes the store, fsyncing the log; returns the engine.
    pub fn into_engine(mut self) -> Result<Engram> {
        self.wal.sync()?;
        let engine = std::mem::replace(&mut self.engine, Engram::new(Config::new(1))?);
        Ok(engine)
    }
}

impl Drop for DurableEngram {
    fn drop(&mut self) {
        let _ = self.wal.sync();
    }
}
