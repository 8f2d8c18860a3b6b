//! [`SharedEngram`]: a cheap-clone, thread-safe handle over an in-memory or durable engine.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use parking_lot::{RwLock, RwLockReadGuard, RwLockUpgradableReadGuard, RwLockWriteGuard};

use crate::consolidation::{
    self, BackgroundHandle, ConsolidationError, ConsolidationTarget, CyclePlan, CycleReport,
};
use crate::engine::{Engram, Scored};
use crate::error::Result;
use crate::memory::{ConceptId, EpisodeId, EpisodeMeta, MemoryNode};
use crate::persist::{self, DurableEngram, NewConcept};
use crate::recall::{RecallConfig, RecallHit, RecallParams};

/// The engine behind a [`SharedEngram`].
#[derive(Debug)]
enum Inner {
    Memory(Box<Engram>),
    Durable(Box<DurableEngram>),
}

impl Inner {
    fn engine(&self) -> &Engram {
        match self {
            Inner::Memory(e) => e,
            Inner::Durable(d) => d,
        }
    }
}

/// A handle many threads can hold: searches run concurrently under a read lock, writes are
/// serialised under a write lock (a fair `parking_lot` lock, so a stream of readers does not
/// starve writers). Cloning is an `Arc` clone. A write holds the lock for one call, so a
/// reader waits at most one call (one batch) of a writer.
///
/// ```
/// use engram::{Config, Engram, EpisodeMeta, SharedEngram};
/// let shared = SharedEngram::new(Engram::new(Config::new(2)).unwrap());
/// let h = shared.clone();
/// std::thread::spawn(move || h.remember(&[1.0, 0.0], EpisodeMeta::at(1)).unwrap())
///     .join()
///     .unwrap();
/// assert_eq!(shared.len(), 1);
/// ```
#[derive(Debug, Clone)]
pub struct SharedEngram {
    inner: Arc<RwLock<Inner>>,
}

impl SharedEngram {
    /// Shares an in-memory engine.
    pub fn new(engine: Engram) -> Self {
        Self {
            inner: Arc::new(RwLock::new(Inner::Memory(Box::new(engine)))),
        }
    }

    /// Shares a durable engine: every logged write is on disk (per its sync policy) when the
    /// call returns.
    pub fn durable(store: DurableEngram) -> Self {
        Self {
            inner: Arc::new(RwLock::new(Inner::Durable(Box::new(store)))),
        }
    }

    /// Whether the engine is durable.
    pub fn is_durable(&self) -> bool {
        matches!(&*self.inner.read(), Inner::Durable(_))
    }

    /// The store's directory when durable (`None` in memory).
    pub fn dir(&self) -> Option<PathBuf> {
        match &*self.inner.read() {
            Inner::Memory(_) => None,
            Inner::Durable(d) => Some(d.dir().to_path_buf()),
        }
    }

    /// A read guard on the engine, for several reads that must see one state. Hold it
    /// briefly: writers wait for it.
    pub fn read(&self) -> impl std::ops::Deref<Target = Engram> + '_ {
        RwLockReadGuard::map(self.inner.read(), Inner::engine)
    }

    /// Runs `f` with the engine under the read lock.
    pub fn with<R>(&self, f: impl FnOnce(&Engram) -> R) -> R {
        f(self.inner.read().engine())
    }

    /// Live episodes.
    pub fn len(&self) -> usize {
        self.inner.read().engine().len()
    }

    /// Whether no episode is stored.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// [`Engram::search`] under the read lock.
    pub fn search(&self, query: &[f32], k: usize) -> Result<Vec<Scored<EpisodeId>>> {
        self.inner.read().engine().search(query, k)
    }

    /// [`Engram::search_batch`] under the read lock.
    pub fn search_batch(&self, queries: &[f32], k: usize) -> Result<Vec<Vec<Scored<EpisodeId>>>> {
        self.inner.read().engine().search_batch(queries, k)
    }

    /// [`Engram::search_semantic`] under the read lock.
    pub fn search_semantic(
        &self,
        query: &[f32],
        k: usize,
        probes: usize,
    ) -> Result<Vec<Scored<EpisodeId>>> {
        self.inner.read().engine().search_semantic(query, k, probes)
    }

    /// [`Engram::search_semantic_batch`] under the read lock.
    pub fn search_semantic_batch(
        &self,
        queries: &[f32],
        k: usize,
        probes: usize,
    ) -> Result<Vec<Vec<Scored<EpisodeId>>>> {
        self.inner
            .read()
            .engine()
            .search_semantic_batch(queries, k, probes)
    }

    /// [`Engram::search_semantic_int8`] under the read lock.
    pub fn search_semantic_int8(
        &self,
        query: &[f32],
        k: usize,
        probes: usize,
        rerank: usize,
    ) -> Result<Vec<Scored<EpisodeId>>> {
        self.inner
            .read()
            .engine()
            .search_semantic_int8(query, k, probes, rerank)
    }

    /// [`Engram::concept_index`] under the read lock.
    pub fn concept_index(&self) -> Vec<crate::IndexList> {
        self.inner.read().engine().concept_index()
    }

    /// [`Engram::concept_list_stats`] under the read lock.
    pub fn concept_list_stats(&self) -> crate::ListStats {
        self.inner.read().engine().concept_list_stats()
    }

    /// [`Engram::recall_view`] under the read lock: nothing changes.
    pub fn recall_view(&self, cue: &[f32], params: &RecallParams) -> Result<Vec<RecallHit>> {
        self.inner.read().engine().recall_view(cue, params)
    }

    /// [`Engram::recall`] under one write lock: recalls for `cue` and rehearses every recalled
    /// episode at `params.now`. When durable, the rehearsals are made durable by a checkpoint
    /// before the call returns ([`DurableEngram::mutate_and_checkpoint`]; skipped when no
    /// episode was recalled, e.g. only a reconstruction), so a reopened store has them.
    ///
    /// # Errors
    /// As [`Engram::recall`]; when durable also the checkpoint's [`crate::StoreError`] (the
    /// store then refuses writes until reopened).
    pub fn recall(&self, cue: &[f32], params: &RecallParams) -> Result<Vec<RecallHit>> {
        match &mut *self.inner.write() {
            Inner::Memory(e) => e.recall(cue, params),
            Inner::Durable(d) => {
                let hits = d.engine().recall_view(cue, params)?;
                let episode = |h: &RecallHit| match h.node {
                    MemoryNode::Episode(id) => Some(id),
                    MemoryNode::Concept(_) => None,
                };
                if hits.iter().any(|h| episode(h).is_some()) {
                    d.mutate_and_checkpoint(|e| -> Result<()> {
                        for id in hits.iter().filter_map(episode) {
                            e.rehearse(id, params.now)?;
                        }
                        Ok(())
                    })??;
                }
                Ok(hits)
            }
        }
    }

    /// Replaces the recall constants ([`Engram::set_recall_config`]; checked first, nothing
    /// changes on an error). Not saved in a durable store: pass them again after reopening.
    pub fn set_recall_config(&self, config: RecallConfig) -> Result<()> {
        match &mut *self.inner.write() {
            Inner::Memory(e) => e.set_recall_config(config),
            Inner::Durable(d) => d.set_recall_config(config),
        }
    }

    /// [`Engram::remember`] (logged when durable).
    pub fn remember(&self, embedding: &[f32], meta: EpisodeMeta) -> Result<EpisodeId> {
        match &mut *self.inner.write() {
            Inner::Memory(e) => e.remember(embedding, meta),
            Inner::Durable(d) => d.remember(embedding, meta),
        }
    }

    /// [`Engram::remember_batch`] (logged when durable), under one write lock.
    pub fn remember_batch(&self, rows: &[f32], metas: Vec<EpisodeMeta>) -> Result<Vec<EpisodeId>> {
        match &mut *self.inner.write() {
            Inner::Memory(e) => e.remember_batch(rows, metas),
            Inner::Durable(d) => d.remember_batch(rows, metas),
        }
    }

    /// [`Engram::forget`] (logged when durable).
    pub fn forget(&self, id: EpisodeId) -> Result<()> {
        match &mut *self.inner.write() {
            Inner::Memory(e) => e.forget(id),
            Inner::Durable(d) => d.forget(id),
        }
    }

    /// Adds a concept (logged when durable); see [`persist::add_concept`].
    pub fn add_concept(&self, centroid: &[f32], c: NewConcept) -> Result<ConceptId> {
        match &mut *self.inner.write() {
            Inner::Memory(e) => persist::add_concept(e.as_mut(), centroid, c),
            Inner::Durable(d) => d.add_concept(centroid, c),
        }
    }

    /// [`Engram::import_batch`] (one log record when durable), under one write lock.
    pub fn import_batch(
        &self,
        id: &str,
        progress: &str,
        rows: &[f32],
        metas: Vec<EpisodeMeta>,
        concepts: &[(Vec<f32>, NewConcept)],
    ) -> Result<(Vec<EpisodeId>, Vec<ConceptId>)> {
        match &mut *self.inner.write() {
            Inner::Memory(e) => e.import_batch(id, progress, rows, metas, concepts),
            Inner::Durable(d) => d.import_batch(id, progress, rows, metas, concepts),
        }
    }

    /// Runs `f` on the engine under the write lock; when durable, checkpoints afterwards
    /// ([`DurableEngram::mutate_and_checkpoint`]) so the change is on disk.
    pub fn mutate<R>(&self, f: impl FnOnce(&mut Engram) -> R) -> Result<R> {
        match &mut *self.inner.write() {
            Inner::Memory(e) => Ok(f(e)),
            Inner::Durable(d) => d.mutate_and_checkpoint(f),
        }
    }

    /// Runs `f` with the durable store under the write lock (`None` when in memory).
    pub fn with_store<R>(&self, f: impl FnOnce(&mut DurableEngram) -> R) -> Option<R> {
        match &mut *self.inner.write() {
            Inner::Memory(_) => None,
            Inner::Durable(d) => Some(f(d)),
        }
    }

    /// Checkpoints a durable engine (nothing in memory).
    pub fn checkpoint(&self) -> Result<()> {
        match &mut *self.inner.write() {
            Inner::Memory(_) => Ok(()),
            Inner::Durable(d) => d.checkpoint(),
        }
    }

    /// One consolidation cycle at clock `now`: prepared under the read lock (searches
    /// continue while it clusters), applied under the write lock and, when durable,
    /// checkpointed as in [`SharedEngram::spawn_background_consolidation`]. If another cycle
    /// is applied in between, the cycle is prepared again (at most three tries, then the
    /// [`ConsolidationError::StalePlan`] is returned).
    ///
    /// # Errors
    /// As [`Engram::consolidate`] and [`DurableEngram::consolidate`].
    pub fn consolidate(&self, now: u64) -> Result<CycleReport> {
        let mut tries = 0;
        loop {
            let plan = ConsolidationTarget::prepare_cycle(self, now)?;
            match ConsolidationTarget::apply_cycle(self, plan) {
                Err(crate::Error::Consolidation(ConsolidationError::StalePlan { .. }))
                    if tries < 2 =>
                {
                    tries += 1;
                }
                r => return r,
            }
        }
    }

    /// Runs a consolidation cycle every `every` on a background thread, at the clock value
    /// `clock()` returns (see [`consolidation::spawn_background_consolidation`]; stop it with
    /// [`BackgroundHandle::stop`] or by dropping the handle).
    ///
    /// Locking: each cycle prepares under the read lock — the clustering, the expensive part,
    /// runs while searches continue — then applies under the write lock, which is held for
    /// the bookkeeping only. When durable, the cycle is then checkpointed: the log is fsynced
    /// under the write lock, the lock is downgraded to an upgradable read lock while the
    /// snapshot is written (searches continue, writes wait: they would go to a log the new
    /// snapshot makes stale), and upgraded again to start the new log. A crash loses at most
    /// the cycle in progress. A failed checkpoint is kept in
    /// [`BackgroundHandle::last_error`]; the store then refuses writes and further cycles
    /// until [`SharedEngram::checkpoint`] succeeds or it is reopened.
    ///
    /// The lock is fair: a writer that waits behind the prepare's read lock makes new
    /// readers wait too. With writers active, keep cycles infrequent or batches large.
    pub fn spawn_background_consolidation(
        &self,
        every: Duration,
        clock: impl Fn() -> u64 + Send + 'static,
    ) -> BackgroundHandle {
        consolidation::spawn_background_consolidation(self.clone(), every, clock)
    }
}

impl ConsolidationTarget for SharedEngram {
    fn prepare_cycle(&self, now: u64) -> Result<CyclePlan> {
        self.inner.read().engine().prepare_cycle(now)
    }

    fn apply_cycle(&self, plan: CyclePlan) -> Result<CycleReport> {
        let mut w = self.inner.write();
        let next = match &mut *w {
            Inner::Memory(e) => return e.apply_cycle(plan),
            Inner::Durable(d) => {
                d.check_writable()?;
                let report = d.engine_mut_unlogged().apply_cycle(plan)?;
                let started = Instant::now();
                match d.begin_checkpoint() {
                    Ok(next) => (report, next, started),
                    Err(e) => {
                        d.poison();
                        return Err(e);
                    }
                }
            }
        };
        let (mut report, next, checkpoint_started) = next;
        // The snapshot is written under an upgradable read lock: readers continue, writers
        // (and other upgradable readers) wait.
        let u = RwLockWriteGuard::downgrade_to_upgradable(w);
        let written = match &*u {
            Inner::Durable(d) => d.write_checkpoint_snapshot(next),
            Inner::Memory(_) => Ok(()),
        };
        let mut w = RwLockUpgradableReadGuard::upgrade(u);
        if let Inner::Durable(d) = &mut *w {
            let r = written.and_then(|()| d.finish_checkpoint(next));
            if let Err(e) = r {
                d.poison();
                return Err(e);
            }
            report.timings.checkpoint = Some(checkpoint_started.elapsed());
        }
        Ok(report)
    }
}
