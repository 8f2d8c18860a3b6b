//! Import checkpoints: where an import stands, sealed with BLAKE3.
//!
//! The seal is the BLAKE3 hash of the checkpoint's canonical JSON (keys sorted, the seal left
//! out). It detects any edit of the file; it is an integrity check, not a signature (whoever
//! can write the store can recompute it).

use std::fs::File;
use std::io::{Read, Write};
use std::path::Path;

use serde_json::{json, Value};

use crate::error::StoreError;
use crate::persist::format::{atomic_write, io};

/// Format version of checkpoint files.
pub const CHECKPOINT_VERSION: u64 = 1;

/// Where an import stands. Hashes are lowercase hex.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ImportCheckpoint {
    /// The source's path as given.
    pub source: String,
    /// The source's format name.
    pub format: String,
    /// The source's size in bytes.
    pub source_size: u64,
    /// Bytes of the source consumed.
    pub consumed_bytes: u64,
    /// Lines or records consumed.
    pub consumed_records: u64,
    /// BLAKE3 of the consumed prefix of the source.
    pub prefix_blake3: String,
    /// Episodes imported so far.
    pub episodes: u64,
    /// Concepts imported so far.
    pub concepts: u64,
    /// Bad records skipped so far.
    pub skipped: u64,
    /// Hash chain over the imported episodes (see [`super::verify::chain_episode`]).
    pub episode_chain: String,
    /// Hash chain over the imported concepts.
    pub concept_chain: String,
    /// The first episode id the import got.
    pub first_episode: u64,
    /// The first concept id the import got.
    pub first_concept: u64,
    /// Live episodes of the store before the import.
    pub pre_episodes: u64,
    /// Live concepts of the store before the import.
    pub pre_concepts: u64,
    /// The store's snapshot generation before the import.
    pub pre_generation: u64,
    /// The staged store's log length at this checkpoint (offline).
    pub stage_wal_len: u64,
    /// The id of an online import: the store's ledger of it ([`crate::ledger`]) is where it
    /// stands (empty offline).
    pub import_id: String,
}

impl ImportCheckpoint {
    fn body(&self) -> Value {
        let mut v = json!({
            "version": CHECKPOINT_VERSION,
            "source": self.source,
            "format": self.format,
            "source_size": self.source_size,
            "consumed_bytes": self.consumed_bytes,
            "consumed_records": self.consumed_records,
            "prefix_blake3": self.prefix_blake3,
            "episodes": self.episodes,
            "concepts": self.concepts,
            "skipped": self.skipped,
            "episode_chain": self.episode_chain,
            "concept_chain": self.concept_chain,
            "first_episode": self.first_episode,
            "first_concept": self.first_concept,
            "pre_episodes": self.pre_episodes,
            "pre_concepts": self.pre_concepts,
            "pre_generation": self.pre_generation,
            "stage_wal_len": self.stage_wal_len,
        });
        // Only online checkpoints carry it, so offline ones keep their earlier form.
        if !self.import_id.is_empty() {
            v["import_id"] = Value::String(self.import_id.clone());
        }
        v
    }

    /// The BLAKE3 seal of this checkpoint.
    pub fn seal(&self) -> String {
        blake3::hash(self.body().to_string().as_bytes())
            .to_hex()
            .to_string()
    }

    /// Writes the checkpoint with its seal, atomically.
    pub fn save(&self, path: &Path) -> Result<(), StoreError> {
        let mut v = self.body();
        v["seal"] = Value::String(self.seal());
        let text =
            serde_json::to_string_pretty(&v).map_err(|e| StoreError::Other(e.to_string()))?;
        atomic_write(path, |w| w.write_all(text.as_bytes()))
    }

    /// Reads a checkpoint and checks its seal; an edited or damaged file is refused.
    pub fn load(path: &Path) -> Result<Self, StoreError> {
        let refuse = |reason: String| StoreError::Refused {
            path: path.to_path_buf(),
            reason,
        };
        let text = std::fs::read_to_string(path).map_err(io("read", path))?;
        let v: Value = serde_json::from_str(&text).map_err(|e| {
            refuse(format!(
                "the checkpoint is not valid JSON ({e}); discard the import"
            ))
        })?;
        let s = |k: &str| {
            v.get(k)
                .and_then(Value::as_str)
                .map(str::to_owned)
                .unwrap_or_default()
        };
        let u = |k: &str| v.get(k).and_then(Value::as_u64).unwrap_or(u64::MAX);
        if u("version") != CHECKPOINT_VERSION {
            return Err(refuse(format!(
                "checkpoint version {} is not {CHECKPOINT_VERSION}",
                u("version")
            )));
        }
        let c = Self {
            source: s("source"),
            format: s("format"),
            source_size: u("source_size"),
            consumed_bytes: u("consumed_bytes"),
            consumed_records: u("consumed_records"),
            prefix_blake3: s("prefix_blake3"),
            episodes: u("episodes"),
            concepts: u("concepts"),
            skipped: u("skipped"),
            episode_chain: s("episode_chain"),
            concept_chain: s("concept_chain"),
            first_episode: u("first_episode"),
            first_concept: u("first_concept"),
            pre_episodes: u("pre_episodes"),
            pre_concepts: u("pre_concepts"),
            pre_generation: u("pre_generation"),
            stage_wal_len: u("stage_wal_len"),
            import_id: s("import_id"),
        };
        if c.body() != {
            let mut b = v.clone();
            if let Some(o) = b.as_object_mut() {
                o.remove("seal");
            }
            b
        } || s("seal") != c.seal()
        {
            return Err(refuse(
                "the checkpoint's BLAKE3 seal does not match its contents (it was edited or \
                 damaged); discard the import and start again"
                    .into(),
            ));
        }
        Ok(c)
    }
}

/// BLAKE3 of the first `len` bytes of a file, as hex.
pub fn prefix_blake3(path: &Path, len: u64) -> Result<String, StoreError> {
    let f = File::open(path).map_err(io("open", path))?;
    let mut h = blake3::Hasher::new();
    let mut r = f.take(len);
    let n = std::io::copy(&mut r, &mut h).map_err(io("read", path))?;
    if n != len {
        return Err(StoreError::Refused {
            path: path.to_path_buf(),
            reason: format!(
                "the source is shorter ({n} bytes) than the part already imported ({len})"
            ),
        });
    }
    Ok(h.finalize().to_hex().to_string())
}
