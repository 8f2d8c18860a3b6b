//! `engram import`: migrate legacy memories into a store; also resume, discard, roll back.

use std::path::PathBuf;

use anyhow::Context;
use engram::migrate::{self, ImportOptions, OnBadRecord};
use engram::Engram;

use crate::util::{bounded, clock, positive_rate, print_json, Common, Progress};

/// The largest `--batch`: a batch is held in memory (rows and metadata) while written.
const MAX_BATCH: usize = 1 << 20;

/// Parses `--checkpoint-every`: a whole number ≥ 1.
fn records(s: &str) -> Result<u64, String> {
    match s.replace('_', "").parse::<u64>() {
        Ok(0) => Err("must be at least 1".into()),
        Ok(v) => Ok(v),
        Err(e) => Err(format!("`{s}` is not a whole number: {e}")),
    }
}

/// Arguments of `engram import`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// The source: .jsonl (one memory per line), .npy (float32 matrix) or .fvecs.
    #[arg(required_unless_present_any = ["rollback", "discard"])]
    file: Option<PathBuf>,
    /// The store directory (created if missing).
    #[arg(long)]
    store: PathBuf,
    /// Records per batch (1 to 1,048,576).
    #[arg(long, value_parser = bounded(MAX_BATCH), default_value = "1000")]
    batch: usize,
    /// Records between checkpoints (at least 1).
    #[arg(long, value_parser = records, default_value = "10000")]
    checkpoint_every: u64,
    /// At most this many records per second (a finite number > 0).
    #[arg(long, value_parser = positive_rate)]
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
    /// The clock value of the bootstrap cycle (default: the latest episode timestamp; at most
    /// 2^63 − 1).
    #[arg(long, value_parser = clock, requires = "bootstrap_concepts")]
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
    // Every engine of this process (the staging store, the bootstrap cycle) runs on it.
    let selection = engram::compute::select(c.backend)
        .with_context(|| format!("using the {} backend", c.backend.name()))?;
    crate::util::log_backend(&selection);
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
        spot_checks: a.spot_checks,
        ..ImportOptions::default()
    };
    let mut cycle = None;
    let backend = c.backend;
    let hook = a.bootstrap_concepts.then(|| {
        let cycle = migrate::bootstrap_concepts(a.bootstrap_now, &mut cycle);
        Box::new(move |e: &mut Engram| {
            // The staged store opens with the backend it was saved with: use this process's.
            e.set_backend(backend)?;
            cycle(e)
        }) as migrate::Bootstrap<'_>
    });
    // The library reports the bytes of the source consumed; drawn as a bar on a terminal.
    let mut bar = None::<Progress>;
    let r = migrate::import_with_progress(&file, &a.store, &opts, hook, &mut |done, total| {
        bar.get_or_insert_with(|| Progress::bytes(c, total, "import"))
            .set(done, "");
    });
    if let Some(b) = bar {
        b.finish();
    }
    let r = r.with_context(|| format!("importing {}", file.display()))?;
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
        if r.already_imported {
            eprintln!(
                "{} was already imported into this store: nothing done (remove {}/import to \
                 import it again)",
                file.display(),
                a.store.display()
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
