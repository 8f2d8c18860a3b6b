//! The `engram` command-line tool.
//!
//! Every command takes `--backend auto|cpu|gpu`, `--seed` and `--json` (one JSON document on
//! stdout; logs on stderr). Misuse exits with code 2.

mod bench;
mod demo;
mod info;
mod util;
mod validate;

use clap::{Parser, Subcommand};

/// engram: a GPU-accelerated dual memory engine (episodes, concepts, bindings).
#[derive(Debug, Parser)]
#[command(name = "engram", version, about, propagate_version = true)]
struct Cli {
    #[command(flatten)]
    common: util::Common,
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// A small synthetic stream end to end: ingest, search, and what it cost.
    Demo(demo::Args),
    /// The backends found: CPU SIMD level, GPU adapters, limits and features.
    Info(info::Args),
    /// CPU-vs-GPU benchmark report: machine limits first, then every operation as a ratio.
    Bench(bench::Args),
    /// Memory-research experiments (fan, DRM, prototype, spacing, forgetting, semantic ANN):
    /// ours vs published, pass/fail; exit code 1 if any fails.
    Validate(validate::Args),
}

fn main() {
    let cli = Cli::parse();
    util::init_logging(&cli.common);
    let result = match cli.command {
        Command::Demo(a) => demo::run(&cli.common, a),
        Command::Info(a) => info::run(&cli.common, a),
        Command::Bench(a) => bench::run(&cli.common, a),
        Command::Validate(a) => validate::run(&cli.common, a),
    };
    if let Err(e) = result {
        eprintln!("error: {e:#}");
        std::process::exit(1);
    }
}
