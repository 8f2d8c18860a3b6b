//! The `engram` command-line tool.
//!
//! Every command takes `--backend auto|cpu|gpu`, `--seed` and `--json` (one JSON document on
//! stdout; logs on stderr). Misuse exits with code 2; a failure while running exits with 1.

mod bench;
mod demo;
mod export;
mod import;
mod info;
mod plot;
mod quality;
mod store;
mod stream;
mod synth;
mod util;
mod validate;

use clap::{CommandFactory, FromArgMatches, Parser, Subcommand};

/// engram: a GPU-accelerated dual memory engine (episodes, concepts, bindings).
#[derive(Debug, Parser)]
#[command(name = "engram", version, about, propagate_version = true)]
pub struct Cli {
    #[command(flatten)]
    common: util::Common,
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// A small synthetic stream end to end: ingest, consolidate, recall, concepts with members.
    Demo(demo::Args),
    /// The backends found: CPU SIMD level, GPU adapter, limits and features.
    Info(info::Args),
    /// Write a labelled synthetic stream to .npy (rows float32, labels uint32).
    Synth(synth::Args),
    /// Push a stream through ingest and periodic consolidation; report speed, quality, memory.
    Stream(stream::Args),
    /// CPU-vs-GPU benchmark report: machine limits first, then every operation as a ratio.
    Bench(bench::Args),
    /// Memory-research experiments (fan, DRM, prototype, spacing, forgetting, semantic ANN):
    /// ours vs published, pass/fail; exit code 1 if any fails.
    Validate(validate::Args),
    /// Migrate legacy memories (.jsonl, .npy, .fvecs) into a store; resume, discard, roll back.
    Import(import::Args),
    /// Export a store's episodes and concepts as .npy embeddings + JSON Lines metadata.
    Export(export::Args),
    /// Recall from a store by query vectors or an episode: episodic, semantic or blended.
    Search(store::SearchArgs),
    /// A store's concepts with their strongest members.
    Concepts(store::ConceptsArgs),
    /// One consolidation cycle on a store, checkpointed.
    Consolidate(store::ConsolidateArgs),
    /// Make a damaged store open again: keep the longest clean prefix of its log, save what
    /// is dropped beside it and say how much (the only command that removes stored data).
    Repair(store::RepairArgs),
}

fn main() {
    // Like every Unix tool: output cut by a closed pipe (`| head`) ends the process quietly,
    // and stdout that cannot be written (a full disk) is one error line, not a panic. Both
    // happen only when printing the result, after the work is done and durable.
    #[cfg(unix)]
    // SAFETY: restoring the default disposition of SIGPIPE before any thread exists.
    unsafe {
        libc::signal(libc::SIGPIPE, libc::SIG_DFL);
    }
    let default_hook = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        let msg = info
            .payload()
            .downcast_ref::<String>()
            .map(String::as_str)
            .or_else(|| info.payload().downcast_ref::<&str>().copied())
            .unwrap_or("");
        if msg.starts_with("failed printing to stdout") {
            eprintln!("error: writing the output: {msg}");
            std::process::exit(1);
        }
        default_hook(info);
    }));
    let matches = Cli::command().get_matches();
    let mut cli = Cli::from_arg_matches(&matches).unwrap_or_else(|e| e.exit());
    cli.common.seed_given = given(&matches, "seed");
    // The backend is a property of the process: every engine it builds or opens runs on
    // `--backend` (also engines the library builds inside, e.g. an import's staging store,
    // whose `Auto` reads ENGRAM_BACKEND). Set before any thread exists. `info` reports what
    // `auto` itself would take, so it leaves the variable alone.
    if !matches!(cli.command, Command::Info(_)) {
        std::env::set_var("ENGRAM_BACKEND", cli.common.backend.name());
    }
    util::init_logging(&cli.common);
    let c = &cli.common;
    let result = match cli.command {
        Command::Validate(a) => validate::run(c, a),
        Command::Demo(a) => demo::run(c, a),
        Command::Info(a) => info::run(c, a),
        Command::Synth(a) => synth::run(c, a),
        Command::Stream(a) => stream::run(c, a),
        Command::Bench(a) => bench::run(c, a),
        Command::Import(a) => import::run(c, a),
        Command::Export(a) => export::run(c, a),
        Command::Search(a) => store::search(c, a),
        Command::Concepts(a) => store::concepts(c, a),
        Command::Consolidate(a) => store::consolidate(c, a),
        Command::Repair(a) => store::repair(c, a),
    };
    if let Err(e) = result {
        eprintln!("error: {}", util::error_line(&e));
        std::process::exit(1);
    }
}

/// Whether a (global) argument was given on the command line, before or after the
/// subcommand.
fn given(m: &clap::ArgMatches, id: &str) -> bool {
    use clap::parser::ValueSource;
    let here = m.value_source(id) == Some(ValueSource::CommandLine);
    here || m.subcommand().is_some_and(|(_, sub)| given(sub, id))
}
