//! The `engram` command-line tool.
//!
//! Every command takes `--backend auto|cpu|gpu`, `--seed` and `--json` (one JSON document on
//! stdout; logs on stderr). Misuse exits with code 2.

mod bench;
mod demo;
mod export;
mod import;
mod info;
mod util;

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
    /// Migrate legacy memories (.jsonl, .npy, .fvecs) into a store; resume, discard, roll back.
    Import(import::Args),
    /// Export a store's episodes and concepts as .npy embeddings + JSON Lines metadata.
    Export(export::Args),
}

fn main() {
    let cli = Cli::parse();
    util::init_logging(&cli.common);
    let result = match cli.command {
        Command::Demo(a) => demo::run(&cli.common, a),
        Command::Info(a) => info::run(&cli.common, a),
        Command::Bench(a) => bench::run(&cli.common, a),
        Command::Import(a) => import::run(&cli.common, a),
        Command::Export(a) => export::run(&cli.common, a),
    };
    if let Err(e) = result {
        eprintln!("error: {e:#}");
        std::process::exit(1);
    }
}
