//! Export for other tools: embeddings as `.npy` float32 matrices (written with `npyz`),
//! metadata as JSON Lines, one line per row in the same order.

use std::fs::{self, File};
use std::io::{BufWriter, Write};
use std::path::Path;

use npyz::WriterBuilder;
use serde_json::json;

use super::format::io;
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

fn npy(path: &Path, rows: u64, dim: usize, data: impl Iterator<Item = f32>) -> Result<()> {
    let f = File::create(path).map_err(io("create", path))?;
    let mut w = npyz::WriteOptions::new()
        .default_dtype()
        .shape(&[rows, dim as u64])
        .writer(BufWriter::new(f))
        .begin_nd()
        .map_err(io("write", path))?;
    w.extend(data).map_err(io("write", path))?;
    w.finish().map_err(io("write", path))?;
    Ok(())
}

/// Writes `episodes.npy` + `episodes.jsonl` and `concepts.npy` + `concepts.jsonl` into `out`
/// (created if missing). Rows of each `.npy` follow the lines of its `.jsonl`.
pub fn export(e: &Engram, out: &Path) -> Result<ExportReport> {
    fs::create_dir_all(out).map_err(io("create", out))?;
    let dim = e.dim();
    let g = e.graph();
    let n = g.episode_count() as u64;
    let mut vecs = Vec::with_capacity(n as usize * dim);
    let p = out.join("episodes.jsonl");
    let mut w = BufWriter::new(File::create(&p).map_err(io("create", &p))?);
    for (_, id, node) in g.episodes() {
        vecs.extend(e.embedding(id)?);
        let payload = match node.payload() {
            None => json!(null),
            Some(Payload::Text(t)) => json!({ "text": t }),
            Some(Payload::Bytes(b)) => json!({ "bytes": b }),
        };
        let line = json!({
            "id": id.0, "timestamp": node.timestamp, "stream": node.stream,
            "strength": node.strength, "confidence": node.confidence,
            "rehearsals": node.rehearsals, "last_access": node.last_access,
            "payload": payload,
            "bindings": node.bindings().iter().map(|(c, s)| json!([c.0, s])).collect::<Vec<_>>(),
        });
        writeln!(w, "{line}").map_err(io("write", &p))?;
    }
    w.flush().map_err(io("write", &p))?;
    npy(&out.join("episodes.npy"), n, dim, vecs.into_iter())?;

    let ids = g.concept_ids();
    let mut vecs = Vec::with_capacity(ids.len() * dim);
    let p = out.join("concepts.jsonl");
    let mut w = BufWriter::new(File::create(&p).map_err(io("create", &p))?);
    for id in &ids {
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
        writeln!(w, "{line}").map_err(io("write", &p))?;
    }
    w.flush().map_err(io("write", &p))?;
    npy(
        &out.join("concepts.npy"),
        ids.len() as u64,
        dim,
        vecs.into_iter(),
    )?;
    Ok(ExportReport {
        episodes: n,
        concepts: ids.len() as u64,
    })
}
