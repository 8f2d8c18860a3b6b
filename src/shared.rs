//! [`SharedEngram`]: a cheap-clone, thread-safe handle over an in-memory or durable engine.

use std::sync::Arc;

use parking_lot::{RwLock, RwLockReadGuard};

use crate::engine::{Engram, Scored};
use crate::error::Result;
use crate::memory::{ConceptId, EpisodeId, EpisodeMeta};
use crate::persist::{self, DurableEngram, NewConcept};

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
}
