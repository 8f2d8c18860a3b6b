//! `engram import`: migrate legacy memories into a store; also resume, discard, roll back.

use std::path::PathBuf;

use anyhow::Context;
use engram::migrate::{self, ImportOptions, OnBadRecord};

use crate::util::{print_json, Common};

/// Arguments of `engram import`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// The source: .jsonl (one memory per line), .npy (float32 matrix) or .fvecs.
    #[arg(required_unless_present_any = ["rollback", "discard"])]
    file: Option<PathBuf>,
    /// The store directory (created if missing).
    #[arg(long)]
    store: PathBuf,
    /// Records per batch.
    #[arg(long, default_value_t = 1000)]
    batch: usize,
    /// Records between checkpoints.
    #[arg(long, default_value_t = 10_000)]
    checkpoint_every: u64,
    /// At most this many records per second.
    #[arg(long)]
    rate: Option<f64>,
    /// Skip malformed records (counted and listed) instead of stopping.
    #[arg(long)]
    skip_bad: bool,
    /// Records re-read from the source to verify the store.
    #[arg(long, default_value_t = 32)]
    spot_checks: usize,
    /// Form concepts from the imported episodes before the commit: one consolidation cycle
    /// over the staged store (with the store's consolidation configuration), committed with
    /// the import.
    #[arg(long)]
    bootstrap_concepts: bool,
    /// The clock value of the bootstrap cycle (default: the latest episode timestamp).
    #[arg(long, requires = "bootstrap_concepts")]
    bootstrap_now: Option<u64>,
    /// Undo the last committed import (the store's files return to their pre-import bytes).
    #[arg(long, conflicts_with_all = ["file", "discard"])]
    rollback: bool,
    /// Throw away an interrupted import (the store is unchanged).
    #[arg(long, conflicts_with = "file")]
    discard: bool,
}

/// Runs `engram import`.
pub fn run(c: &Common, a: Args) -> anyhow::Result<()> {
    if a.rollback {
        migrate::rollback(&a.store).context("rollback")?;
        return done(c, "rolled_back", &a.store);
    }
    if a.discard {
        migrate::discard(&a.store).context("discard")?;
        return done(c, "discarded", &a.store);
    }
    let Some(file) = a.file else {
        anyhow::bail!("no source file given");
    };
    let opts = ImportOptions {
        batch_size: a.batch,
        checkpoint_every: a.checkpoint_every,
        rate_limit: a.rate,
        on_bad_record: if a.skip_bad {
            OnBadRecord::Skip
        } else {
            OnBadRecord::Stop
        },
        progress: crate::util::interactive(c),
        spot_checks: a.spot_checks,
        ..ImportOptions::default()
    };
    let mut cycle = None;
    let hook = a
        .bootstrap_concepts
        .then(|| migrate::bootstrap_concepts(a.bootstrap_now, &mut cycle));
    let r = migrate::import(&file, &a.store, &opts, hook)
        .with_context(|| format!("importing {}", file.display()))?;
    let verified = r.verification.as_ref().is_some_and(|v| v.ok);
    if c.json {
        let mut j = r.to_json();
        if let Some(b) = &cycle {
            j["bootstrap"] = serde_json::json!({
                "cycle": b.cycle,
                "now": b.now,
                "episodes": b.episodes_new,
                "concepts_created": b.concepts_created.len(),
                "concepts_updated": b.concepts_updated.len(),
                "bindings_created": b.bindings_created,
            });
        }
        print_json(&j)?;
    } else {
        if let Some(b) = &cycle {
            eprintln!(
                "bootstrap: {} concepts formed, {} updated, {} bindings (cycle {} at {})",
                b.concepts_created.len(),
                b.concepts_updated.len(),
                b.bindings_created,
                b.cycle,
                b.now
            );
        }
        if let Some(after) = r.resumed_after {
            eprintln!("resumed after record {after}");
        }
        for (line, d) in r.bad_records.iter().take(20) {
            eprintln!("skipped line {line}: {d}");
        }
        eprintln!(
            "{} episodes, {} concepts, {} skipped, verified: {verified} ({:.0} records/s)",
            r.episodes, r.concepts, r.skipped, r.rate
        );
        println!("{}", r.episodes + r.concepts);
    }
    if !verified {
        anyhow::bail!("verification failed: roll back with `engram import --rollback --store DIR`");
    }
    Ok(())
}

fn done(c: &Common, what: &str, store: &std::path::Path) -> anyhow::Result<()> {
    if c.json {
        print_json(&serde_json::json!({ what: true, "store": store.display().to_string() }))
    } else {
        println!("{what}");
        Ok(())
    }
}
