//! `engram validate`: the engine against published findings of memory research.
//!
//! Prints one row per experiment (ours, published, pass/fail), or with `--json` one document
//! `{"experiments": [{"name", "ours", "published", "pass", "criterion"}, …], "pass": bool}`.
//! **Exit code 1 when any experiment fails** (so scripts notice), 0 when all pass.

use std::path::PathBuf;

use engram::validate::{default_data_dir, drm, fan, prototype, retention, semantic_ann};
use serde_json::json;

use crate::util::{print_json, Common};

/// Arguments of `engram validate`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// DRM directory laid out like data/drm (lists.json, vectors.f32). Default:
    /// $ENGRAM_DATA_DIR/drm, else data/drm in the repository.
    #[arg(long)]
    pub drm_dir: Option<PathBuf>,
    /// Lexicon directory (words.txt, vectors.f32). Default: next to the DRM data.
    #[arg(long)]
    pub lexicon_dir: Option<PathBuf>,
    /// Run only these experiments (fan, drm, prototype, spacing, forgetting, semantic_ann).
    #[arg(long, value_delimiter = ',')]
    pub only: Vec<String>,
}

/// Runs `engram validate`.
pub fn run(c: &Common, a: Args) -> anyhow::Result<()> {
    // Every experiment's engine runs on --backend (the library's default is the CPU).
    let selection = engram::compute::select(c.backend)
        .map_err(|e| anyhow::anyhow!("using the {} backend: {e}", c.backend.name()))?;
    crate::util::log_backend(&selection);
    engram::validate::set_backend(c.backend);
    let data = default_data_dir();
    let drm_dir = a.drm_dir.unwrap_or_else(|| data.join("drm"));
    let lexicon_dir = a.lexicon_dir.unwrap_or_else(|| {
        drm_dir
            .parent()
            .map(|p| p.join("lexicon"))
            .unwrap_or_else(|| data.join("lexicon"))
    });
    let want = |n: &str| a.only.is_empty() || a.only.iter().any(|x| x == n);
    let mut results = Vec::new();
    if want("fan") {
        results.push(fan::run(c.seed)?);
    }
    if want("drm") {
        let mut p = drm::DrmParams::new(&drm_dir, &lexicon_dir);
        p.seed = c.seed;
        results.push(drm::run(&p)?);
    }
    if want("prototype") {
        results.push(prototype::run(c.seed)?);
    }
    if want("spacing") {
        results.push(retention::spacing(c.seed)?);
    }
    if want("forgetting") {
        results.push(retention::forgetting(c.seed)?);
    }
    if want("semantic_ann") {
        results.push(semantic_ann::run(&semantic_ann::AnnParams::small(c.seed))?.result);
    }
    let all = results.iter().all(|r| r.pass);
    if c.json {
        print_json(&json!({
            "experiments": results.iter().map(|r| r.to_json()).collect::<Vec<_>>(),
            "pass": all,
        }))?;
    } else {
        println!("{:<13} {:<5} ours | published", "experiment", "pass");
        for r in &results {
            println!(
                "{:<13} {:<5} {}\n{:<19} published: {}\n{:<19} criterion: {}",
                r.name,
                if r.pass { "PASS" } else { "FAIL" },
                r.ours,
                "",
                r.published,
                "",
                r.criterion
            );
        }
        println!("{}", if all { "all passed" } else { "SOME FAILED" });
    }
    if !all {
        std::process::exit(1);
    }
    Ok(())
}
