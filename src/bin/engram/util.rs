//! Options shared by every command, logging and output helpers.

use std::io::IsTerminal;
use std::time::Instant;

use clap::Args;
use engram::BackendChoice;

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
#[allow(dead_code)]
pub fn interactive(c: &Common) -> bool {
    !c.json && std::io::stderr().is_terminal()
}

/// Seconds since `t`.
pub fn secs(t: Instant) -> f64 {
    t.elapsed().as_secs_f64()
}

/// Prints a JSON value as the single document on stdout.
pub fn print_json(v: &serde_json::Value) -> anyhow::Result<()> {
    println!("{}", serde_json::to_string_pretty(v)?);
    Ok(())
}

/// Peak resident set size of this process in bytes (Linux; 0 elsewhere).
#[allow(dead_code)]
pub fn peak_rss_bytes() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmHWM:"))
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|kb| kb.parse::<u64>().ok())
        })
        .map_or(0, |kb| kb * 1024)
}
