//! `engram export`: episodes and concepts as `.npy` embeddings plus JSON Lines metadata.

use std::path::PathBuf;

use anyhow::Context;

use crate::util::{print_json, Common, Progress};

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
    // The output must not be the store itself (its files would sit beside the store's).
    if let (Some(out), Some(store)) = (
        crate::util::resolved(&a.out),
        crate::util::resolved(&a.store),
    ) {
        if out.starts_with(&store) {
            crate::util::usage_error(format!(
                "--out {} is inside the store {}: export somewhere else",
                a.out.display(),
                a.store.display()
            ));
        }
    }
    let mut s = crate::store::open_read_only(&a.store)?;
    crate::util::use_backend(c, &mut s)?;
    let mut progress = None::<Progress>;
    let r = engram::persist::export::export_with_progress(&s, &a.out, &mut |done, total| {
        progress
            .get_or_insert_with(|| Progress::new(c, total, "rows"))
            .set(done, "exporting")
    })
    .with_context(|| format!("exporting to {}", a.out.display()))?;
    if let Some(p) = progress {
        p.finish();
    }
    if c.json {
        print_json(&serde_json::json!({
            "episodes": r.episodes, "concepts": r.concepts, "out": a.out.display().to_string()
        }))
    } else {
        println!("{} episodes, {} concepts", r.episodes, r.concepts);
        Ok(())
    }
}
