//! `engram validate`: the engine against published findings of memory research.
//!
//! Prints one row per experiment (ours, published, pass/fail), or with `--json` one document
//! `{"experiments": [{"name", "ours", "published", "pass", "criterion"}, …], "pass": bool}`.
//! **Exit code 1 when any experiment fails** (so scripts notice), 0 when all pass.
//!
//! The DRM experiment reads the data sets of the repository's `data/` folder (`drm/`,
//! `lexicon/`): from `--data DIR`, else `$ENGRAM_DATA_DIR`, else the `data/` of the checkout
//! the binary was built from (absent for an installed binary). When a file is missing the
//! command stops before running anything, with one line naming the file, the directory
//! searched and where to get the data.

use std::path::{Path, PathBuf};

use engram::validate::{default_data_dir, drm, fan, prototype, retention, semantic_ann};
use serde_json::json;

use crate::util::{print_json, Common, Progress};

/// Arguments of `engram validate`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// The data directory (the repository's `data/`, holding drm/ and lexicon/). Overrides
    /// $ENGRAM_DATA_DIR and the checkout the binary was built from.
    #[arg(long, value_name = "DIR")]
    pub data: Option<PathBuf>,
    /// DRM directory laid out like data/drm (lists.json, vectors.f32). Default: drm/ of the
    /// data directory (--data, else $ENGRAM_DATA_DIR, else data/ in the repository).
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
    let (data, from) = data_dir(a.data.as_deref());
    let drm_dir = a.drm_dir.clone().unwrap_or_else(|| data.join("drm"));
    let lexicon_dir = a.lexicon_dir.clone().unwrap_or_else(|| {
        drm_dir
            .parent()
            .map(|p| p.join("lexicon"))
            .unwrap_or_else(|| data.join("lexicon"))
    });
    let want = |n: &str| a.only.is_empty() || a.only.iter().any(|x| x == n);
    if want("drm") {
        let from = match (&a.drm_dir, &a.lexicon_dir) {
            (None, None) => from,
            _ => "--drm-dir/--lexicon-dir".into(),
        };
        check_data(&drm_dir, &lexicon_dir, &from)?;
    }
    let names: Vec<&str> = EXPERIMENTS.iter().copied().filter(|n| want(n)).collect();
    let mut progress = Progress::new(c, names.len() as u64, "experiments");
    let mut results = Vec::new();
    for (i, &name) in names.iter().enumerate() {
        progress.set(i as u64, name);
        results.push(match name {
            "fan" => fan::run(c.seed)?,
            "drm" => {
                let mut p = drm::DrmParams::new(&drm_dir, &lexicon_dir);
                p.seed = c.seed;
                drm::run(&p)?
            }
            "prototype" => prototype::run(c.seed)?,
            "spacing" => retention::spacing(c.seed)?,
            "forgetting" => retention::forgetting(c.seed)?,
            _ => semantic_ann::run(&semantic_ann::AnnParams::small(c.seed))?.result,
        });
    }
    progress.finish();
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

/// The experiments in table order.
const EXPERIMENTS: [&str; 6] = [
    "fan",
    "drm",
    "prototype",
    "spacing",
    "forgetting",
    "semantic_ann",
];

/// The data directory and where it came from (for the error naming it).
fn data_dir(flag: Option<&Path>) -> (PathBuf, String) {
    if let Some(d) = flag {
        return (d.to_owned(), "--data".into());
    }
    match std::env::var_os("ENGRAM_DATA_DIR") {
        Some(d) if !d.is_empty() => (PathBuf::from(d), "$ENGRAM_DATA_DIR".into()),
        _ => (
            default_data_dir(),
            "the checkout this binary was built from".into(),
        ),
    }
}

/// Stops with one line when a data file of the DRM experiment is missing: the file, the
/// directory searched (and where it came from) and where to get the data.
fn check_data(drm_dir: &Path, lexicon_dir: &Path, from: &str) -> anyhow::Result<()> {
    let files = [
        drm_dir.join("lists.json"),
        drm_dir.join("vectors.f32"),
        lexicon_dir.join("words.txt"),
        lexicon_dir.join("vectors.f32"),
    ];
    if let Some(f) = files.iter().find(|f| !f.is_file()) {
        let dir = f.parent().and_then(Path::parent).unwrap_or(Path::new("."));
        anyhow::bail!(
            "data file {} not found (searched {}, from {from}); the data sets ship in the \
             repository's data/ folder: clone the repository and pass --data REPO/data, or set \
             ENGRAM_DATA_DIR",
            f.display(),
            dir.display()
        );
    }
    Ok(())
}
