//! Options shared by every command, argument parsers, logging, progress and output helpers.

use std::io::IsTerminal;
use std::time::{Duration, Instant};

use clap::{Args, CommandFactory};
use engram::{BackendChoice, Precision};
use indicatif::{ProgressBar, ProgressStyle};

/// Options every command takes.
#[derive(Debug, Clone, Args)]
pub struct Common {
    /// Compute backend: auto (a real GPU if present, else CPU), cpu or gpu.
    #[arg(long, global = true, value_parser = parse_backend, default_value = "auto", env = "ENGRAM_BACKEND")]
    pub backend: BackendChoice,
    /// Seed for everything random.
    #[arg(long, global = true, default_value_t = 42)]
    pub seed: u64,
    /// Whether `--seed` was given on the command line (not the default).
    #[arg(skip)]
    pub seed_given: bool,
    /// Print one JSON document on stdout instead of text (logs stay on stderr).
    #[arg(long, global = true)]
    pub json: bool,
    /// More logging (-v info, -vv debug).
    #[arg(short, long, global = true, action = clap::ArgAction::Count)]
    pub verbose: u8,
}

fn parse_backend(s: &str) -> Result<BackendChoice, String> {
    BackendChoice::parse(s).ok_or_else(|| format!("`{s}` is not one of auto, cpu, gpu"))
}

/// Parses a storage precision: `f32`, `f16` or `f32+f16` ([`Precision::parse`]).
pub fn parse_precision(s: &str) -> Result<Precision, String> {
    Precision::parse(s).ok_or_else(|| format!("`{s}` is not one of f32, f16, f32+f16"))
}

/// The largest clock value a command accepts: 2^63 − 1, so that the engine's clock arithmetic
/// (differences, half-lives, signed conversions) stays exact and a store is never moved to
/// a time no real clock reaches (after which every later cycle would be refused as "before
/// the last cycle"). Nanoseconds since 1970 stay below it until the year 2262.
pub const MAX_CLOCK: u64 = i64::MAX as u64;

/// Parses a clock value: a whole number in [0, [`MAX_CLOCK`]].
pub fn clock(s: &str) -> Result<u64, String> {
    match s.replace('_', "").parse::<u64>() {
        Ok(v) if v > MAX_CLOCK => Err(format!(
            "{v} is not a plausible clock value (at most {MAX_CLOCK}, 2^63 − 1)"
        )),
        Ok(v) => Ok(v),
        Err(e) => Err(format!("`{s}` is not a whole number: {e}")),
    }
}

/// Parses a rate: a finite number > 0.
pub fn positive_rate(s: &str) -> Result<f64, String> {
    let min = engram::migrate::MIN_RATE;
    match s.parse::<f64>() {
        Ok(v) if v.is_finite() && v >= min => Ok(v),
        Ok(v) => Err(format!("must be a finite number ≥ {min}, got {v}")),
        Err(e) => Err(format!("`{s}` is not a number: {e}")),
    }
}

/// Parses a whole number in [1, `max`] (underscores allowed).
pub fn bounded(max: usize) -> impl Fn(&str) -> Result<usize, String> + Clone + Send + Sync {
    move |s: &str| {
        let v = positive(s)?;
        if v > max {
            return Err(format!("must be at most {max}, got {v}"));
        }
        Ok(v)
    }
}

/// Runs an opened store on the process's backend (`--backend`, or `ENGRAM_BACKEND`) and
/// logs which one at info level ("backend: cpu (…)").
pub fn use_backend(c: &Common, s: &mut engram::DurableEngram) -> anyhow::Result<()> {
    use anyhow::Context;
    let sel = s
        .set_backend(c.backend)
        .with_context(|| format!("using the {} backend", c.backend.name()))?;
    log_backend(sel);
    Ok(())
}

/// Logs a backend selection at info level: "backend: cpu (the CPU was requested)".
pub fn log_backend(sel: &engram::compute::Selection) {
    log::info!("backend: {} ({})", sel.backend.kind(), sel.reason);
}

/// Refuses (exit code 2) `n` rows of `dim` components of `bytes` bytes each when their size
/// overflows or exceeds `budget` bytes (`what` names the budget in the message).
pub fn check_rows_fit(n: usize, dim: usize, bytes: u64, budget: Option<u64>, what: &str) {
    let size = (n as u64)
        .checked_mul(dim as u64)
        .and_then(|x| x.checked_mul(bytes));
    match (size, budget) {
        (None, _) => usage_error(format!(
            "--n {n} × --dim {dim} × {bytes} bytes does not fit in 64 bits"
        )),
        (Some(sz), Some(b)) if sz > b => usage_error(format!(
            "--n {n} × --dim {dim} needs {} but {what} is {}",
            gb(sz),
            gb(b)
        )),
        _ => {}
    }
}

/// Refuses a `.npy` whose elements are not little-endian float32 (a structured dtype, f64,
/// big-endian…) with one clear line naming the dtype found.
pub fn expect_f32<R: std::io::Read>(
    npy: &npyz::NpyFile<R>,
    path: &std::path::Path,
) -> anyhow::Result<()> {
    let descr = npy.dtype().descr();
    if descr.trim_matches('\'') != "<f4" {
        anyhow::bail!(
            "{}: expected a 2-D little-endian float32 .npy, found dtype {descr}",
            path.display()
        );
    }
    Ok(())
}

/// Memory available to this process in bytes (`MemAvailable` of /proc/meminfo; `None` if
/// unknown).
pub fn available_memory() -> Option<u64> {
    let s = std::fs::read_to_string("/proc/meminfo").ok()?;
    let l = s.lines().find(|l| l.starts_with("MemAvailable:"))?;
    l.split_whitespace()
        .nth(1)?
        .parse::<u64>()
        .ok()
        .map(|kb| kb * 1024)
}

/// Free bytes (for an unprivileged user) on the file system holding `path` or, when it does
/// not exist yet, its nearest existing ancestor (`None` if unknown).
pub fn free_disk(path: &std::path::Path) -> Option<u64> {
    use std::os::unix::ffi::OsStrExt;
    let abs = std::path::absolute(path).ok()?;
    let dir = abs.ancestors().find(|p| p.is_dir())?;
    let c = std::ffi::CString::new(dir.as_os_str().as_bytes()).ok()?;
    let mut st = std::mem::MaybeUninit::<libc::statvfs>::zeroed();
    // SAFETY: `c` is a valid NUL-terminated path and `st` points to writable memory of the
    // right type; statvfs only writes into it.
    let rc = unsafe { libc::statvfs(c.as_ptr(), st.as_mut_ptr()) };
    if rc != 0 {
        return None;
    }
    // SAFETY: statvfs returned 0, so it filled `st`.
    let st = unsafe { st.assume_init() };
    Some(st.f_bavail.saturating_mul(st.f_frsize))
}

/// Parses a whole number ≥ 1 (underscores allowed: `10_000_000`).
pub fn positive(s: &str) -> Result<usize, String> {
    match s.replace('_', "").parse::<usize>() {
        Ok(0) => Err("must be at least 1".into()),
        Ok(v) => Ok(v),
        Err(e) => Err(format!("`{s}` is not a whole number: {e}")),
    }
}

/// Reports a misuse the argument parser could not catch (e.g. two options that contradict each
/// other) the way clap does: one line on stderr and exit code 2.
pub fn usage_error(msg: impl std::fmt::Display) -> ! {
    crate::Cli::command()
        .error(clap::error::ErrorKind::ValueValidation, msg)
        .exit()
}

/// An error and its causes on one line, joined by ": ", each cause printed once.
///
/// The library's error types include their source in their own message (`store: {0}`,
/// `{op} {path}: {source}`) *and* return it from `source()`, so walking the chain naively
/// prints every cause two or three times. This printer is the one place that resolves it: a
/// cause whose message is already part of the line is not repeated, and line breaks inside a
/// message (e.g. a parser's multi-line report) become spaces.
pub fn error_line(e: &anyhow::Error) -> String {
    let mut line = String::new();
    for cause in e.chain() {
        let msg = cause.to_string();
        let msg = msg.split_whitespace().collect::<Vec<_>>().join(" ");
        if msg.is_empty() || line.contains(&msg) {
            continue;
        }
        if !line.is_empty() {
            line.push_str(": ");
        }
        line.push_str(&msg);
    }
    line
}

/// Logs to stderr; `RUST_LOG` overrides the level chosen with `-v`.
pub fn init_logging(c: &Common) {
    let level = match c.verbose {
        0 => "warn",
        1 => "info",
        _ => "debug",
    };
    let _ = env_logger::Builder::from_env(env_logger::Env::default().default_filter_or(level))
        .target(env_logger::Target::Stderr)
        .try_init();
}

/// Whether progress bars may be drawn (stderr is a terminal and no JSON is asked for).
pub fn interactive(c: &Common) -> bool {
    !c.json && std::io::stderr().is_terminal()
}

/// Progress over a known number of items: a bar on a terminal, otherwise a plain log line on
/// stderr at most every few seconds.
pub struct Progress {
    bar: Option<ProgressBar>,
    total: u64,
    last_log: Instant,
    every: Duration,
}

/// A bar over `total` drawn with the template `tpl`, on a terminal only.
fn styled_bar(c: &Common, total: u64, tpl: &str) -> Option<ProgressBar> {
    interactive(c).then(|| {
        let b = ProgressBar::new(total);
        if let Ok(style) = ProgressStyle::with_template(tpl) {
            b.set_style(style.progress_chars("=> "));
        }
        b
    })
}

impl Progress {
    /// A progress report over `total` items named `unit`.
    pub fn new(c: &Common, total: u64, unit: &str) -> Self {
        let bar = styled_bar(
            c,
            total,
            &format!(
                "{{elapsed_precise}} [{{bar:40}}] {{human_pos}}/{{human_len}} {unit} ({{per_sec}}, eta {{eta}}) {{msg}}"
            ),
        );
        Self {
            bar,
            total,
            last_log: Instant::now(),
            every: Duration::from_secs(5),
        }
    }

    /// A bar over `total` bytes named `label`, drawn only on a terminal (no log lines
    /// otherwise).
    pub fn bytes(c: &Common, total: u64, label: &str) -> Self {
        let bar = styled_bar(
            c,
            total,
            &format!(
                "{{spinner}} {label} [{{bar:40}}] {{bytes}}/{{total_bytes}} {{bytes_per_sec}} eta {{eta}}"
            ),
        );
        Self {
            bar,
            total,
            last_log: Instant::now(),
            every: Duration::MAX,
        }
    }

    /// A spinner with a status message for work of unknown length (nothing off a terminal).
    pub fn spinner(c: &Common, msg: &str) -> Self {
        let bar = interactive(c).then(|| {
            let b = ProgressBar::new_spinner();
            if let Ok(style) = ProgressStyle::with_template("{spinner} {elapsed_precise} {msg}") {
                b.set_style(style);
            }
            b.set_message(msg.to_string());
            b.enable_steady_tick(Duration::from_millis(120));
            b
        });
        Self {
            bar,
            total: 0,
            last_log: Instant::now(),
            every: Duration::MAX,
        }
    }

    /// Changes the number of items in all.
    pub fn set_total(&mut self, total: u64) {
        self.total = total;
        if let Some(b) = &self.bar {
            b.set_length(total);
        }
    }

    /// Moves to `pos` items done with a status message.
    pub fn set(&mut self, pos: u64, msg: &str) {
        match &self.bar {
            Some(b) => {
                b.set_position(pos);
                b.set_message(msg.to_string());
            }
            None if self.last_log.elapsed() >= self.every => {
                self.last_log = Instant::now();
                eprintln!("{pos}/{} {msg}", self.total);
            }
            None => {}
        }
    }

    /// A line that must be seen: above the bar on a terminal, on stderr otherwise.
    pub fn println(&self, line: &str) {
        match &self.bar {
            Some(b) => b.println(line),
            None => eprintln!("{line}"),
        }
    }

    /// Removes the bar.
    pub fn finish(self) {
        if let Some(b) = self.bar {
            b.finish_and_clear();
        }
    }
}

/// Seconds since `t`.
pub fn secs(t: Instant) -> f64 {
    t.elapsed().as_secs_f64()
}

/// Prints a JSON value as the single document on stdout. A closed pipe (`| head`) is not an
/// error.
pub fn print_json(v: &serde_json::Value) -> anyhow::Result<()> {
    use std::io::Write;
    let mut out = std::io::stdout().lock();
    match writeln!(out, "{}", serde_json::to_string_pretty(v)?).and_then(|()| out.flush()) {
        Err(e) if e.kind() != std::io::ErrorKind::BrokenPipe => {
            Err(anyhow::Error::new(e).context("writing the output"))
        }
        _ => Ok(()),
    }
}

/// `p` made absolute with symlinks resolved, also when it does not exist yet (its nearest
/// existing ancestor is resolved and the rest appended).
pub fn resolved(p: &std::path::Path) -> Option<std::path::PathBuf> {
    let mut tail = Vec::new();
    let mut cur = p.to_path_buf();
    loop {
        if let Ok(c) = std::fs::canonicalize(&cur) {
            return Some(tail.iter().rev().fold(c, |acc, n| acc.join(n)));
        }
        tail.push(cur.file_name()?.to_os_string());
        cur = match cur.parent() {
            Some(q) if !q.as_os_str().is_empty() => q.to_path_buf(),
            _ => std::path::PathBuf::from("."),
        };
    }
}

fn status_kb(key: &str) -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with(key))
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|kb| kb.parse::<u64>().ok())
        })
        .map_or(0, |kb| kb * 1024)
}

/// Peak resident set size of this process in bytes (Linux; 0 elsewhere).
pub fn peak_rss_bytes() -> u64 {
    status_kb("VmHWM:")
}

/// Resident set size of this process now, in bytes (Linux; 0 elsewhere).
pub fn rss_bytes() -> u64 {
    status_kb("VmRSS:")
}

/// Bytes as GB with two decimals, for text output.
pub fn gb(bytes: u64) -> String {
    format!("{:.2} GB", bytes as f64 / 1e9)
}
