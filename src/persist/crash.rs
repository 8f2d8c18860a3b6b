//! Crash points for fault-injection tests: named places in every durable write (before and
//! after each rename and fsync of a store or import file) where a test can kill the process.
//!
//! Two environment variables, read once per process:
//! - `ENGRAM_CRASH_AT=NAME` or `NAME#N`: the process kills itself (`SIGKILL`, so no destructor
//!   runs, exactly as a `kill -9`) at the N-th (default first) pass through point `NAME`.
//! - `ENGRAM_CRASH_TRACE=FILE`: every point passed is appended to `FILE`, one name a line, so
//!   a test can list the points of an uninterrupted run and then crash at each of them.
//! - `ENGRAM_PAUSE_AT=NAME:MILLIS`: the process sleeps that long at the first pass through
//!   `NAME` (so a test can run a second process while the first is mid-write), or until the
//!   file named by `ENGRAM_PAUSE_RELEASE` exists, whichever comes first.
//!
//! With neither set, a point costs one relaxed atomic load.

use std::io::Write;
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::OnceLock;

struct Plan {
    crash_at: Option<(String, u64)>,
    trace: Option<std::path::PathBuf>,
    pause_at: Option<(String, u64)>,
}

fn plan() -> &'static Option<Plan> {
    static PLAN: OnceLock<Option<Plan>> = OnceLock::new();
    PLAN.get_or_init(|| {
        let crash_at = std::env::var("ENGRAM_CRASH_AT")
            .ok()
            .filter(|s| !s.is_empty())
            .map(|s| match s.rsplit_once('#') {
                Some((name, n)) => (name.to_string(), n.parse().unwrap_or(1)),
                None => (s, 1),
            });
        let trace = std::env::var_os("ENGRAM_CRASH_TRACE")
            .filter(|s| !s.is_empty())
            .map(Into::into);
        let pause_at = std::env::var("ENGRAM_PAUSE_AT").ok().and_then(|s| {
            let (name, ms) = s.rsplit_once(':')?;
            Some((name.to_string(), ms.parse().ok()?))
        });
        (crash_at.is_some() || trace.is_some() || pause_at.is_some()).then_some(Plan {
            crash_at,
            trace,
            pause_at,
        })
    })
}

/// Passes crash point `name` (see the module documentation).
pub fn point(name: &str) {
    static PASSED: AtomicU64 = AtomicU64::new(0);
    let Some(plan) = plan() else {
        return;
    };
    if let Some(t) = &plan.trace {
        if let Ok(mut f) = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(t)
        {
            let _ = writeln!(f, "{name}");
        }
    }
    if let Some((at, ms)) = &plan.pause_at {
        static PAUSED: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);
        if at == name && !PAUSED.swap(true, Ordering::Relaxed) {
            let release = std::env::var_os("ENGRAM_PAUSE_RELEASE").map(std::path::PathBuf::from);
            let until = std::time::Instant::now() + std::time::Duration::from_millis(*ms);
            while std::time::Instant::now() < until && !release.as_ref().is_some_and(|r| r.exists())
            {
                std::thread::sleep(std::time::Duration::from_millis(10));
            }
        }
    }
    if let Some((at, n)) = &plan.crash_at {
        if at == name && PASSED.fetch_add(1, Ordering::Relaxed) + 1 == *n {
            kill_self();
        }
    }
}

/// Crash point `what:FILE` for a file `path` (its name only, so points are the same in every
/// directory).
pub fn file_point(what: &str, path: &Path) {
    if plan().is_none() {
        return;
    }
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    point(&format!("{what}:{name}"));
}

fn kill_self() {
    #[cfg(unix)]
    // SAFETY: `kill` with our own pid and a valid signal number has no memory effects.
    unsafe {
        libc::kill(libc::getpid(), libc::SIGKILL);
    }
    std::process::abort();
}
