//! Export for other tools: embeddings as `.npy` float32 matrices (written with `npyz`),
//! metadata as JSON Lines, one line per row in the same order.

use std::fs::{self, File};
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};

use npyz::WriterBuilder;
use serde_json::json;

use super::format::{io, sync_dir, tmp_path};
use crate::engine::Engram;
use crate::error::Result;
use crate::memory::{ConceptState, Payload};

/// What was exported.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ExportReport {
    /// Episodes written.
    pub episodes: u64,
    /// Concepts written.
    pub concepts: u64,
}

/// The export's files, written under temporary names ([`tmp_path`]) and renamed into place
/// together only once every one is complete and fsynced; dropped before that, it removes the
/// temporary files, so a failed export (a full disk) leaves the output directory as it was.
struct Staged {
    files: Vec<(PathBuf, PathBuf)>,
}

impl Staged {
    /// Writes `path`'s temporary file with `write` (which may fail with an engine error or,
    /// for the file, an I/O error), then fsyncs it.
    fn write(
        &mut self,
        path: PathBuf,
        write: impl FnOnce(&mut BufWriter<&File>, &Path) -> Result<()>,
    ) -> Result<()> {
        let tmp = tmp_path(&path);
        self.files.push((tmp.clone(), path));
        let f = File::create(&tmp).map_err(io("create", &tmp))?;
        {
            let mut w = BufWriter::with_capacity(1 << 20, &f);
            write(&mut w, &tmp)?;
            w.flush().map_err(io("write", &tmp))?;
        }
        f.sync_all().map_err(io("fsync", &tmp))?;
        Ok(())
    }

    /// Renames every file into place and fsyncs the directory.
    fn commit(mut self, dir: &Path) -> Result<()> {
        for (tmp, path) in std::mem::take(&mut self.files) {
            if let Err(e) = fs::rename(&tmp, &path) {
                let _ = fs::remove_file(&tmp);
                return Err(io("rename into place", &path)(e).into());
            }
        }
        sync_dir(dir)?;
        Ok(())
    }
}

impl Drop for Staged {
    fn drop(&mut self) {
        for (tmp, _) in &self.files {
            let _ = fs::remove_file(tmp);
        }
    }
}

fn npy(w: &mut BufWriter<&File>, rows: u64, dim: usize, data: &[f32]) -> std::io::Result<()> {
    let mut n = npyz::WriteOptions::new()
        .default_dtype()
        .shape(&[rows, dim as u64])
        .writer(w)
        .begin_nd()?;
    n.extend(data.iter().copied())?;
    n.finish()
}

/// Writes `episodes.npy` + `episodes.jsonl` and `concepts.npy` + `concepts.jsonl` into `out`
/// (created if missing). Rows of each `.npy` follow the lines of its `.jsonl`.
///
/// An episode imported from a legacy record with an `id` ([`Payload::legacy`]) also gets its
/// `legacy_id` and `content` back as fields of its line.
///
/// The four files are written under temporary names and renamed into place only when all
/// are complete: an export that fails (a full disk) leaves `out` as it was.
pub fn export(e: &Engram, out: &Path) -> Result<ExportReport> {
    export_with_progress(e, out, &mut |_, _| {})
}

/// Rows between two progress reports of [`export_with_progress`].
const PROGRESS_EVERY: u64 = 4096;

/// [`export`], reporting progress as `progress(rows done, rows in all)` (episodes then
/// concepts) every few thousand rows and once at the end (for a progress bar; the library
/// draws nothing).
pub fn export_with_progress(
    e: &Engram,
    out: &Path,
    progress: &mut dyn FnMut(u64, u64),
) -> Result<ExportReport> {
    fs::create_dir_all(out).map_err(io("create", out))?;
    let dim = e.dim();
    let g = e.graph();
    let n = g.episode_count() as u64;
    let ids = g.concept_ids();
    let total = n + ids.len() as u64;
    progress(0, total);
    let mut done = 0u64;
    let mut tick = |done: &mut u64| {
        *done += 1;
        if done.is_multiple_of(PROGRESS_EVERY) {
            progress(*done, total);
        }
    };
    let mut staged = Staged { files: Vec::new() };
    let mut vecs = Vec::with_capacity(n as usize * dim);
    staged.write(out.join("episodes.jsonl"), |w, p| {
        for (_, id, node) in g.episodes() {
            tick(&mut done);
            vecs.extend(e.embedding(id)?);
            let payload = match node.payload() {
                None => json!(null),
                Some(Payload::Text(t)) => json!({ "text": t }),
                Some(Payload::Bytes(b)) => json!({ "bytes": b }),
            };
            let mut line = json!({
                "id": id.0, "timestamp": node.timestamp, "stream": node.stream,
                "strength": node.strength, "confidence": node.confidence,
                "rehearsals": node.rehearsals, "last_access": node.last_access,
                "payload": payload,
                "bindings": node.bindings().iter().map(|(c, s)| json!([c.0, s])).collect::<Vec<_>>(),
            });
            if let Some((legacy_id, content)) = node.payload().and_then(Payload::as_legacy) {
                line["legacy_id"] = json!(legacy_id);
                line["content"] = json!(content);
            }
            writeln!(w, "{line}").map_err(io("write", p))?;
        }
        Ok(())
    })?;
    staged.write(out.join("episodes.npy"), |w, p| {
        npy(w, n, dim, &vecs).map_err(|e| io("write", p)(e).into())
    })?;

    let mut vecs = Vec::with_capacity(ids.len() * dim);
    staged.write(out.join("concepts.jsonl"), |w, p| {
        for id in &ids {
            tick(&mut done);
            let c = e.concept(*id)?;
            vecs.extend(e.centroid(*id)?);
            let links: Vec<_> = g
                .concept_node(*id)
                .map(|n| n.links().iter().map(|(o, w)| json!([o.0, w])).collect())
                .unwrap_or_default();
            let line = json!({
                "id": id.0, "coherence": c.coherence, "members": c.members,
                "strength": c.strength,
                "state": match c.state { ConceptState::Proto => "proto", ConceptState::Promoted => "promoted" },
                "confirmations": c.confirmations, "formed_cycle": c.formed_cycle,
                "updated_cycle": c.updated_cycle, "links": links,
            });
            writeln!(w, "{line}").map_err(io("write", p))?;
        }
        Ok(())
    })?;
    staged.write(out.join("concepts.npy"), |w, p| {
        npy(w, ids.len() as u64, dim, &vecs).map_err(|e| io("write", p)(e).into())
    })?;
    staged.commit(out)?;
    progress(total, total);
    Ok(ExportReport {
        episodes: n,
        concepts: ids.len() as u64,
    })
}
