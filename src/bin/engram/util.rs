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

/// Parses a storage precision: `f32`, `f16` or `f32+f16`.
pub fn parse_precision(s: &str) -> Result<Precision, String> {
    match s.to_ascii_lowercase().as_str() {
        "f32" => Ok(Precision::F32),
        "f16" => Ok(Precision::F16),
        "f32+f16" | "f32andf16" | "both" => Ok(Precision::F32AndF16),
        _ => Err(format!("`{s}` is not one of f32, f16, f32+f16")),
    }
}

/// The command-line name of a precision.
pub fn precision_name(p: Precision) -> &'static str {
    match p {
        Precision::F32 => "f32",
        Precision::F16 => "f16",
        _ => "f32+f16",
    }
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

impl Progress {
    /// A progress report over `total` items named `unit`.
    pub fn new(c: &Common, total: u64, unit: &str) -> Self {
        let bar = interactive(c).then(|| {
            let b = ProgressBar::new(total);
            let tpl = format!(
                "{{elapsed_precise}} [{{bar:40}}] {{human_pos}}/{{human_len}} {unit} ({{per_sec}}, eta {{eta}}) {{msg}}"
            );
            if let Ok(style) = ProgressStyle::with_template(&tpl) {
                b.set_style(style.progress_chars("=> "));
            }
            b
        });
        Self {
            bar,
            total,
            last_log: Instant::now(),
            every: Duration::from_secs(5),
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
        Err(e) if e.kind() != std::io::ErrorKind::BrokenPipe => Err(e.into()),
        _ => Ok(()),
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
