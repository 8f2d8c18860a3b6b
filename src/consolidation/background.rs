//! Background consolidation: a thread that runs a cycle every period, preparing under a read
//! lock (searches continue) and applying under a short write lock.

use std::sync::atomic::{AtomicU8, Ordering};
use std::sync::mpsc::{self, RecvTimeoutError};
use std::sync::{Arc, Mutex, RwLock};
use std::thread::JoinHandle;
use std::time::Duration;

use super::plan::CyclePlan;
use super::report::CycleReport;
use crate::engine::Engram;
use crate::error::Result;

/// A shared engine a background consolidation thread can drive: it prepares a cycle under a
/// read lock (searches continue) and applies it under a write lock. Implemented for
/// `Arc<std::sync::RwLock<Engram>>` and for [`crate::SharedEngram`] (which also checkpoints
/// a durable store after each cycle).
pub trait ConsolidationTarget: Send + Sync + 'static {
    /// [`Engram::prepare_cycle`] at `now` under a read lock.
    ///
    /// # Errors
    /// As [`Engram::prepare_cycle`].
    fn prepare_cycle(&self, now: u64) -> Result<CyclePlan>;
    /// [`Engram::apply_cycle`] under a write lock (plus whatever makes it durable).
    ///
    /// # Errors
    /// As [`Engram::apply_cycle`] ([`super::ConsolidationError::StalePlan`] when another
    /// cycle was applied since the plan was made), or the error that made it not durable.
    fn apply_cycle(&self, plan: CyclePlan) -> Result<CycleReport>;
}

impl ConsolidationTarget for Arc<RwLock<Engram>> {
    fn prepare_cycle(&self, now: u64) -> Result<CyclePlan> {
        self.read()
            .unwrap_or_else(|e| e.into_inner())
            .prepare_cycle(now)
    }
    fn apply_cycle(&self, plan: CyclePlan) -> Result<CycleReport> {
        self.write()
            .unwrap_or_else(|e| e.into_inner())
            .apply_cycle(plan)
    }
}

/// What the background thread is doing.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BackgroundPhase {
    /// Waiting for the next period.
    Idle,
    /// Preparing a cycle under a read lock (clustering).
    Preparing,
    /// Applying a cycle under the write lock.
    Applying,
    /// Stopped.
    Stopped,
}

impl BackgroundPhase {
    fn from_u8(v: u8) -> Self {
        match v {
            0 => Self::Idle,
            1 => Self::Preparing,
            2 => Self::Applying,
            _ => Self::Stopped,
        }
    }
}

#[derive(Debug, Default)]
struct Status {
    cycles: u64,
    last: Option<CycleReport>,
    last_error: Option<String>,
}

/// The handle of a background consolidation thread. Stops the thread (after the cycle in
/// progress) when dropped or on [`BackgroundHandle::stop`].
#[derive(Debug)]
pub struct BackgroundHandle {
    stop: Option<mpsc::Sender<()>>,
    thread: Option<JoinHandle<()>>,
    phase: Arc<AtomicU8>,
    status: Arc<Mutex<Status>>,
}

impl BackgroundHandle {
    /// What the thread is doing now.
    pub fn phase(&self) -> BackgroundPhase {
        BackgroundPhase::from_u8(self.phase.load(Ordering::Acquire))
    }
    /// Cycles applied so far.
    pub fn cycles(&self) -> u64 {
        self.status.lock().map_or(0, |s| s.cycles)
    }
    /// The report of the last cycle applied.
    pub fn last_report(&self) -> Option<CycleReport> {
        self.status.lock().ok().and_then(|s| s.last.clone())
    }
    /// The last error (a failed cycle is logged and retried at the next period).
    pub fn last_error(&self) -> Option<String> {
        self.status.lock().ok().and_then(|s| s.last_error.clone())
    }
    /// Stops the thread after the cycle in progress and waits for it. Returns the number of
    /// cycles applied.
    pub fn stop(mut self) -> u64 {
        self.shutdown();
        self.cycles()
    }
    fn shutdown(&mut self) {
        self.stop.take();
        if let Some(t) = self.thread.take() {
            if t.join().is_err() {
                log::error!("the background consolidation thread panicked");
            }
        }
        self.phase.store(3, Ordering::Release);
    }
}

impl Drop for BackgroundHandle {
    fn drop(&mut self) {
        self.shutdown();
    }
}

/// Runs a consolidation cycle on `engine` every `every`, at the clock value `clock()` returns.
/// `engine` is an `Arc<std::sync::RwLock<Engram>>` or a [`crate::SharedEngram`] (see
/// [`ConsolidationTarget`]).
///
/// Each cycle prepares under a read lock ([`Engram::prepare_cycle`]: readers keep searching
/// while it clusters) and applies under a short write lock ([`Engram::apply_cycle`]). If a
/// cycle was applied by someone else in between, the plan is dropped and the next period
/// prepares again. Errors are logged and kept in [`BackgroundHandle::last_error`].
///
/// The clustering runs on a rayon pool of its own with one thread fewer than the machine has
/// cores (at least one), so searches keep a core. Results do not depend on the thread count.
pub fn spawn_background_consolidation(
    engine: impl ConsolidationTarget,
    every: Duration,
    clock: impl Fn() -> u64 + Send + 'static,
) -> BackgroundHandle {
    let (tx, rx) = mpsc::channel::<()>();
    let phase = Arc::new(AtomicU8::new(0));
    let status = Arc::new(Mutex::new(Status::default()));
    let (p, st) = (phase.clone(), status.clone());
    // The clustering runs on its own pool, one thread short of the machine (when it has more
    // than one), so that searches on the global pool keep a core.
    let threads = std::thread::available_parallelism().map_or(1, |n| n.get());
    let pool = (threads > 1)
        .then(|| {
            rayon::ThreadPoolBuilder::new()
                .num_threads(threads - 1)
                .thread_name(|i| format!("engram-consolidation-{i}"))
                .build()
                .ok()
        })
        .flatten();
    let thread = std::thread::Builder::new()
        .name("engram-consolidation".into())
        .spawn(move || {
            while let Err(RecvTimeoutError::Timeout) = rx.recv_timeout(every) {
                let now = clock();
                p.store(1, Ordering::Release);
                let plan = match &pool {
                    Some(pool) => pool.install(|| engine.prepare_cycle(now)),
                    None => engine.prepare_cycle(now),
                };
                p.store(2, Ordering::Release);
                let result = plan.and_then(|plan| engine.apply_cycle(plan));
                p.store(0, Ordering::Release);
                if let Ok(mut s) = st.lock() {
                    match result {
                        Ok(r) => {
                            s.cycles += 1;
                            s.last = Some(r);
                        }
                        Err(e) => {
                            log::warn!("background consolidation: {e}");
                            s.last_error = Some(e.to_string());
                        }
                    }
                }
            }
        });
    let thread = match thread {
        Ok(t) => Some(t),
        Err(e) => {
            log::error!("could not start the consolidation thread: {e}");
            phase.store(3, Ordering::Release);
            None
        }
    };
    BackgroundHandle {
        stop: Some(tx),
        thread,
        phase,
        status,
    }
}
