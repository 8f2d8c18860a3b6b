//! Writes seed inputs for the fuzz targets: the snapshot of a small store after a
//! consolidation (`corpus/snapshot_decode/`) and the payload of every log record kind
//! replayable into [`engram_fuzz::base_engine`] (`corpus/wal_record_decode/`).

use std::path::Path;

use engram::persist::wal::WalReader;
use engram::persist::{DurableEngram, NewConcept, StoreOptions, SyncPolicy};
use engram::{Config, EpisodeMeta};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("corpus");
    let snaps = root.join("snapshot_decode");
    let recs = root.join("wal_record_decode");
    std::fs::create_dir_all(&snaps)?;
    std::fs::create_dir_all(&recs)?;
    let dim = engram_fuzz::DIM;
    let opts = StoreOptions::default().sync(SyncPolicy::Never);

    // A snapshot with every section populated.
    let dir = std::env::temp_dir().join(format!("engram-fuzz-corpus-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let mut s = DurableEngram::create(&dir.join("a"), Config::new(dim), opts)?;
    let mut rows = Vec::new();
    let mut metas = Vec::new();
    for i in 0..24u64 {
        let g = (i % 2) as usize;
        let mut v = vec![0.05 * (i % 5) as f32; dim];
        v[g] = 1.0;
        rows.extend(v);
        metas.push(EpisodeMeta::at(i).with_payload(format!("p{i}")));
    }
    s.remember_batch(&rows, metas)?;
    s.import_batch(
        "seed",
        "{}",
        &[0.0, 0.0, 1.0, 0.0],
        vec![EpisodeMeta::at(99)],
        &[(vec![0.0, 0.0, 0.0, 1.0], NewConcept::default())],
    )?;
    s.consolidate(1_000)?;
    drop(s);
    std::fs::copy(dir.join("a/snapshot.eng"), snaps.join("seed-consolidated"))?;

    // Log records of every kind, replayable into the base engine (same history).
    let base = engram_fuzz::base_engine();
    let mut s = DurableEngram::create_from(&dir.join("b"), base, opts)?;
    s.remember_batch(
        &[1.0, 2.0, 3.0, 4.0, -1.0, 0.0, 0.0, 1.0],
        vec![EpisodeMeta::at(7).with_payload("x"), EpisodeMeta::at(8)],
    )?;
    let first = s.graph().episodes().next().map(|(_, id, _)| id);
    if let Some(id) = first {
        s.forget(id)?;
    }
    s.add_concept(&[0.0, 0.0, 1.0, 0.0], NewConcept::default())?;
    s.import_batch(
        "imp",
        r#"{"at":1}"#,
        &[0.5, 0.5, 0.5, 0.5],
        vec![EpisodeMeta::at(9)],
        &[(vec![0.0, 0.0, 0.0, 1.0], NewConcept::default())],
    )?;
    drop(s);
    let wal = dir.join("b/wal.log");
    let mut r = WalReader::open(&wal)?;
    let mut k = 0;
    while let Some((_, rec)) = r.next_record()? {
        // Each payload alone replays into the base engine only if it is the first; later
        // ones are still good seeds (they exercise the checks).
        std::fs::write(recs.join(format!("record-{k}")), rec)?;
        k += 1;
    }
    let _ = std::fs::remove_dir_all(&dir);
    println!("wrote seeds under {}", root.display());
    Ok(())
}
