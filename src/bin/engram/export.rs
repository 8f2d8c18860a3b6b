//! `engram export`: episodes and concepts as `.npy` embeddings plus JSON Lines metadata.

use std::path::PathBuf;

use anyhow::Context;

use crate::util::{print_json, Common};

/// Arguments of `engram export`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// The store directory.
    #[arg(long)]
    store: PathBuf,
    /// The output directory: episodes.npy, episodes.jsonl, concepts.npy, concepts.jsonl.
    #[arg(long)]
    out: PathBuf,
}

/// Runs `engram export`.
pub fn run(c: &Common, a: Args) -> anyhow::Result<()> {
    let mut s = crate::store::open_read_only(&a.store)?;
    crate::util::use_backend(c, &mut s)?;
    let r = engram::persist::export::export(&s, &a.out)
        .with_context(|| format!("exporting to {}", a.out.display()))?;
    if c.json {
        print_json(&serde_json::json!({
            "episodes": r.episodes, "concepts": r.concepts, "out": a.out.display().to_string()
        }))
    } else {
        println!("{} episodes, {} concepts", r.episodes, r.concepts);
        Ok(())
    }
}
