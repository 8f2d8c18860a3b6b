//! The snapshot file: the whole engine at one generation, in checksummed sections.
//!
//! ```text
//! file    = magic "ENGRAMSN" | version u32 | section*10  (v3: *9, no WLOG; v2: *8, no IMPT;
//!           v1: *7, no CONS)
//! section = tag [u8; 4] | len u64 | payload (len bytes) | crc32c u32 (of tag, len, payload)
//! HEAD    dim u32, precision u8, backend u8, vec kind u8 (0 f32, 1 f16), chunk bytes u64,
//!         generation, next episode, next concept, cycle, episodes, concepts, bindings, links (u64)
//! EMET    per live episode in id order: id, timestamp, stream u64; strength, confidence f32;
//!         rehearsals u32; last access u64; payload (tag u8 0/1/2, len u32, bytes)
//! EVEC    the stored rows of those episodes in the same order (f32 or f16, little-endian)
//! CONC    per concept in id order: id u64, coherence f32, members u64, strength f32, state u8,
//!         confirmations u32, formed u64, updated u64, centroid (dim f32)
//! BIND    per binding: episode u64, concept u64, strength f32 (episode order, then the
//!         episode's own binding order)
//! LINK    per undirected concept link (a < b): a u64, b u64, weight f32
//! CONS    (v2) consolidation state: watermark u64, last cycle time (u8 0/1 + u64),
//!         confirmation times (count u64, then id u64, time u64 by ascending id); then the
//!         consolidation configuration (see `encode_consolidation`)
//! IMPT    (v3) the import ledgers (see [`crate::ledger`]): count u64, then per import its id,
//!         progress, episode runs and concept ids
//! WLOG    (v4) the log this snapshot is followed by: its id u64 (random, new at every
//!         checkpoint; the log's header carries the same id, so a log of another store or
//!         checkpoint is refused)
//! END     the number of sections before it (u32: 9 in v4, 8 in v3, 7 in v2, 6 in v1);
//!         nothing may follow
//! ```
//!
//! Version 1 snapshots (no CONS) are still read: the consolidation state starts fresh and
//! the configuration is the default (a warning is logged when the v1 store had run cycles).
//! Version 2 snapshots (no IMPT) are read with no import ledgers; snapshots before version 4
//! name no log id (any log of the right generation is accepted). The next checkpoint writes
//! version 4.
//!
//! Only live episodes are written, so a snapshot is also a compaction: rows are renumbered,
//! ids never change.
//!
//! Reading trusts nothing it reads: every count is checked against the bytes of its section
//! before anything is allocated for it, lengths and products are overflow-checked, ids must
//! lie below the next-id counters of HEAD (and concepts' cycles not past its cycle count),
//! import ledgers may only name ids the store handed out, and a generation of `u64::MAX`
//! (no next one) is refused — all as [`StoreError::Corrupt`]. Two HEAD fields are not data
//! but properties of the process: the backend is recorded for information only (a store
//! opens under [`BackendChoice::Auto`], so `ENGRAM_BACKEND` decides), and the arena's chunk
//! size is the one recorded but never larger than the default chunk, the file's size or one
//! row, whichever is largest.

use std::fs::File;
use std::io::{Read, Write};
use std::path::Path;

use half::f16;

use super::format::{
    atomic_write, corrupt, crc, extend_f32_le, io, Dec, Enc, SNAPSHOT_MAGIC, SNAPSHOT_VERSION,
};
use crate::config::{BackendChoice, Config, Precision};
use crate::consolidation::{ClusterCount, ConsolidationConfig, ForgettingCurve};
use crate::engine::Engram;
use crate::error::StoreError;
use crate::memory::{ConceptId, ConceptState, EpisodeId, EpisodeMeta};

const HEAD: [u8; 4] = *b"HEAD";
const EMET: [u8; 4] = *b"EMET";
const EVEC: [u8; 4] = *b"EVEC";
const CONC: [u8; 4] = *b"CONC";
const BIND: [u8; 4] = *b"BIND";
const LINK: [u8; 4] = *b"LINK";
const CONS: [u8; 4] = *b"CONS";
const IMPT: [u8; 4] = *b"IMPT";
const WLOG: [u8; 4] = *b"WLOG";
const END: [u8; 4] = *b"END_";

/// Bytes of floats read or written at a time for the embedding section.
const VEC_BLOCK_BYTES: usize = 4 << 20;

fn precision_code(p: Precision) -> u8 {
    match p {
        Precision::F32 => 0,
        Precision::F32AndF16 => 1,
        Precision::F16 => 2,
    }
}

fn backend_code(b: BackendChoice) -> u8 {
    match b {
        BackendChoice::Auto => 0,
        BackendChoice::Cpu => 1,
        BackendChoice::Gpu => 2,
    }
}

/// Writes one small section.
fn section(w: &mut impl Write, tag: [u8; 4], payload: &[u8]) -> std::io::Result<()> {
    let len = (payload.len() as u64).to_le_bytes();
    let mut c = crc(0, &tag);
    c = crc(c, &len);
    c = crc(c, payload);
    w.write_all(&tag)?;
    w.write_all(&len)?;
    w.write_all(payload)?;
    w.write_all(&c.to_le_bytes())
}

/// Writes the engine as a snapshot of `generation`, to be followed by the log with id
/// `log_id`, to `path` atomically (temporary file, fsync, rename, directory fsync). Returns
/// the bytes written.
///
/// Refuses ([`crate::Error::CounterOverflow`], nothing written) a generation of `u64::MAX`,
/// which the reader refuses because it leaves no next generation.
pub fn write(
    engine: &Engram,
    path: &Path,
    generation: u64,
    log_id: u64,
) -> Result<u64, crate::Error> {
    crate::Error::check_counter("snapshot generation", generation, 1)?;
    let g = &engine.graph;
    let dim = engine.dim();
    let cfg = &engine.config;
    let vec_f16 = !cfg.storage().has_f32();

    let (meta, live) = encode_episode_metas(engine);
    let concept_ids = g.concept_ids();
    let (conc, links, n_links) = encode_concepts(engine, &concept_ids)?;

    let mut bind = Enc::default();
    let bindings = g.all_bindings();
    for b in &bindings {
        bind.u64(b.episode.0);
        bind.u64(b.concept.0);
        bind.f32(b.strength);
    }

    let mut head = Enc::default();
    head.u32(dim as u32);
    head.u8(precision_code(cfg.storage()));
    head.u8(backend_code(cfg.backend_choice()));
    head.u8(vec_f16 as u8);
    head.u64(cfg.chunk_limit() as u64);
    head.u64(generation);
    head.u64(engine.next_episode);
    head.u64(engine.next_concept);
    head.u64(engine.cycle);
    head.u64(live);
    head.u64(concept_ids.len() as u64);
    head.u64(bindings.len() as u64);
    head.u64(n_links);

    let mut cons = Enc::default();
    encode_consolidation(&mut cons, engine);
    let mut impt = Enc::default();
    crate::ledger::encode(&mut impt, &engine.imports);

    let mut total = 0u64;
    atomic_write(path, |w| {
        w.write_all(&SNAPSHOT_MAGIC)?;
        w.write_all(&SNAPSHOT_VERSION.to_le_bytes())?;
        section(w, HEAD, &head.buf)?;
        section(w, EMET, &meta.buf)?;
        write_vectors(w, engine, vec_f16, live)?;
        section(w, CONC, &conc.buf)?;
        section(w, BIND, &bind.buf)?;
        section(w, LINK, &links.buf)?;
        section(w, CONS, &cons.buf)?;
        section(w, IMPT, &impt.buf)?;
        section(w, WLOG, &log_id.to_le_bytes())?;
        section(w, END, &9u32.to_le_bytes())?;
        total = 12
            + [
                head.buf.len(),
                meta.buf.len(),
                conc.buf.len(),
                bind.buf.len(),
            ]
            .iter()
            .chain([links.buf.len(), cons.buf.len(), impt.buf.len(), 8, 4].iter())
            .map(|&l| l as u64 + 16)
            .sum::<u64>()
            + 16
            + live * dim as u64 * if vec_f16 { 2 } else { 4 };
        Ok(())
    })?;
    Ok(total)
}

/// Encodes the EMET section: the live episodes' records in id order. Returns it with the
/// number of episodes.
fn encode_episode_metas(engine: &Engram) -> (Enc, u64) {
    let mut meta = Enc::default();
    let mut live = 0u64;
    for (_, id, n) in engine.graph.episodes() {
        live += 1;
        meta.u64(id.0);
        meta.u64(n.timestamp);
        meta.u64(n.stream);
        meta.f32(n.strength);
        meta.f32(n.confidence);
        meta.u32(n.rehearsals);
        meta.u64(n.last_access);
        meta.payload(n.payload());
    }
    (meta, live)
}

/// Encodes the CONC section (the concepts `concept_ids` with their centroids) and the LINK
/// section (each undirected link once, from its smaller id). Returns both with the number
/// of links.
fn encode_concepts(
    engine: &Engram,
    concept_ids: &[ConceptId],
) -> Result<(Enc, Enc, u64), crate::Error> {
    let g = &engine.graph;
    let mut conc = Enc::default();
    let mut links = Enc::default();
    let mut n_links = 0u64;
    let mut centroid = vec![0.0f32; engine.dim()];
    for cid in concept_ids {
        let Some(cn) = g.concept_node(*cid) else {
            continue;
        };
        let c = &cn.concept;
        conc.u64(c.id.0);
        conc.f32(c.coherence);
        conc.u64(c.members);
        conc.f32(c.strength);
        conc.u8(match c.state {
            ConceptState::Proto => 0,
            ConceptState::Promoted => 1,
        });
        conc.u32(c.confirmations);
        conc.u64(c.formed_cycle);
        conc.u64(c.updated_cycle);
        if !engine.centroids.read_row(cn.row, &mut centroid) {
            return Err(StoreError::Other(format!(
                "concept {} has no centroid row {}",
                c.id, cn.row
            ))
            .into());
        }
        conc.f32s(&centroid);
        for &(o, w) in cn.links() {
            if c.id < o {
                links.u64(c.id.0);
                links.u64(o.0);
                links.f32(w);
                n_links += 1;
            }
        }
    }
    Ok((conc, links, n_links))
}

/// Streams the live rows of the episode arena as the EVEC section.
fn write_vectors(
    w: &mut impl Write,
    engine: &Engram,
    vec_f16: bool,
    live: u64,
) -> std::io::Result<()> {
    let arena = &engine.episodes;
    let dim = arena.dim();
    let elem = if vec_f16 { 2 } else { 4 };
    let len = (live * dim as u64 * elem).to_le_bytes();
    let mut c = crc(crc(0, &EVEC), &len);
    w.write_all(&EVEC)?;
    w.write_all(&len)?;
    let dead = arena.dead();
    let mut scratch: Vec<u8> = Vec::new();
    let mut emit = |bytes: &[u8], w: &mut dyn Write| -> std::io::Result<()> {
        c = crc(c, bytes);
        w.write_all(bytes)
    };
    if vec_f16 {
        for (first, chunk) in arena.f16_chunks() {
            for (i, row) in chunk.chunks_exact(dim).enumerate() {
                if dead.contains(first + i) {
                    continue;
                }
                scratch.clear();
                for h in row {
                    scratch.extend_from_slice(&h.to_bits().to_le_bytes());
                }
                emit(&scratch, w)?;
            }
        }
    } else {
        for (first, chunk) in arena.f32_chunks() {
            let rows = chunk.len() / dim;
            let any_dead = (first..first + rows).any(|r| dead.contains(r));
            if !any_dead {
                for block in chunk.chunks(VEC_BLOCK_BYTES / 4) {
                    scratch.clear();
                    extend_f32_le(&mut scratch, block);
                    emit(&scratch, w)?;
                }
                continue;
            }
            for (i, row) in chunk.chunks_exact(dim).enumerate() {
                if dead.contains(first + i) {
                    continue;
                }
                scratch.clear();
                extend_f32_le(&mut scratch, row);
                emit(&scratch, w)?;
            }
        }
    }
    w.write_all(&c.to_le_bytes())
}

/// What a snapshot holds besides the engine.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SnapshotInfo {
    /// The generation (bumped by every checkpoint).
    pub generation: u64,
    /// The file's size in bytes.
    pub bytes: u64,
    /// The id of the log that follows it (`None` before format version 4).
    pub log_id: Option<u64>,
}

/// Reads sections from a snapshot file, checking each checksum.
struct Sections<'p, R> {
    file: R,
    path: &'p Path,
    offset: u64,
    size: u64,
}

impl<R: Read> Sections<'_, R> {
    fn read_exact(&mut self, buf: &mut [u8], section: &str) -> Result<(), StoreError> {
        self.file.read_exact(buf).map_err(|e| {
            if e.kind() == std::io::ErrorKind::UnexpectedEof {
                corrupt(self.path, section, self.offset, "the file is truncated")
            } else {
                StoreError::Io {
                    op: "read",
                    path: self.path.to_path_buf(),
                    source: e,
                }
            }
        })?;
        self.offset += buf.len() as u64;
        Ok(())
    }

    /// Reads a section header; returns (start offset, length, running crc). The length is
    /// checked against the bytes left in the file (so it bounds every allocation made for
    /// the section).
    fn header(&mut self, tag: [u8; 4]) -> Result<(u64, u64, u32), StoreError> {
        let name = String::from_utf8_lossy(&tag).into_owned();
        let start = self.offset;
        let mut h = [0u8; 12];
        self.read_exact(&mut h, &name)?;
        if h[..4] != tag {
            return Err(corrupt(
                self.path,
                &name,
                start,
                format!(
                    "expected section {name}, found tag {:?}",
                    String::from_utf8_lossy(&h[..4])
                ),
            ));
        }
        let mut l = [0u8; 8];
        l.copy_from_slice(&h[4..]);
        let len = u64::from_le_bytes(l);
        if len > self.size.saturating_sub(self.offset.saturating_add(4)) {
            return Err(corrupt(
                self.path,
                &name,
                start,
                format!("section length {len} runs past the end of the file"),
            ));
        }
        Ok((start, len, crc(0, &h)))
    }

    fn check_crc(&mut self, tag: [u8; 4], start: u64, c: u32) -> Result<(), StoreError> {
        let name = String::from_utf8_lossy(&tag).into_owned();
        let mut b = [0u8; 4];
        self.read_exact(&mut b, &name)?;
        if u32::from_le_bytes(b) != c {
            return Err(corrupt(self.path, &name, start, "checksum mismatch"));
        }
        Ok(())
    }

    /// Reads a whole small section and checks its checksum.
    fn small(&mut self, tag: [u8; 4]) -> Result<(u64, Vec<u8>), StoreError> {
        let (start, len, c) = self.header(tag)?;
        let name = String::from_utf8_lossy(&tag).into_owned();
        // `header` bounded the length by the file's size.
        let len = usize::try_from(len)
            .map_err(|_| corrupt(self.path, &name, start, "section too large"))?;
        let mut buf = vec![0u8; len];
        self.read_exact(&mut buf, &name)?;
        self.check_crc(tag, start, crc(c, &buf))?;
        Ok((start, buf))
    }
}

/// Smallest encoded sizes of the records of the variable-length sections, used to bound a
/// count read from the file by the bytes that must hold it before anything is allocated.
const EMET_MIN: usize = 45;
/// A concept record without its centroid.
const CONC_FIXED: usize = 45;
/// A binding or a concept link.
const PAIR_BYTES: u64 = 20;

/// The chunk size a store is reopened with: the one recorded, but never a reservation larger
/// than the file needs (`max(default chunk, file size, one row)`). The chunk size is a
/// layout parameter of the arena, not data: a smaller one changes no result, and it keeps a
/// crafted (or merely huge) recorded value from reserving exabytes.
fn reopen_chunk_bytes(recorded: u64, file_size: u64, row_bytes: usize) -> usize {
    let cap = (crate::config::DEFAULT_CHUNK_BYTES as u64)
        .max(file_size)
        .max(row_bytes as u64);
    usize::try_from(recorded.min(cap)).unwrap_or(usize::MAX)
}

/// Reads a snapshot into a new engine. Every checksum is checked; any mismatch, truncation,
/// trailing byte or inconsistent record is a [`StoreError::Corrupt`] naming the section and
/// its byte offset; another format version is a [`StoreError::Version`].
///
/// Every count, length and id read from the file is checked before it is used: a count of
/// records must fit in the bytes of its section, ids must lie below the next-id counters,
/// cycles not past the cycle count, and nothing is allocated beyond what the file's own size
/// justifies (the arena's chunk size is the one recorded, but never larger than the default
/// chunk, the file's size or one row, whichever is largest).
///
/// The backend recorded in the file is information only: the engine is opened with
/// [`BackendChoice::Auto`] (so `ENGRAM_BACKEND` decides), and a backend that cannot be
/// started is a [`crate::Error::Gpu`] or [`crate::Error::Config`], never corruption.
pub fn read(path: &Path) -> Result<(Engram, SnapshotInfo), crate::Error> {
    let file = File::open(path).map_err(io("open", path))?;
    let size = file.metadata().map_err(io("stat", path))?.len();
    read_from(std::io::BufReader::with_capacity(1 << 16, file), size, path)
}

/// [`read`] from any reader of `size` bytes (`path` names it in errors).
pub(crate) fn read_from<R: Read + Send>(
    file: R,
    size: u64,
    path: &Path,
) -> Result<(Engram, SnapshotInfo), crate::Error> {
    let mut s = Sections {
        file,
        path,
        offset: 0,
        size,
    };
    let version = read_magic(&mut s)?;
    let (mut engine, head) = read_head(&mut s)?;
    let eps = read_episode_metas(&mut s, &head)?;
    read_episode_rows(&mut s, &mut engine, &head, eps.len())?;
    for (id, meta, strength, rehearsals, last_access) in eps {
        let row = engine.graph.push_episode(EpisodeId(id), meta, strength);
        if let Some(n) = engine.graph.node_at_mut(row) {
            n.rehearsals = rehearsals;
            n.last_access = last_access;
        }
    }
    read_concepts(&mut s, &mut engine, &head)?;
    read_bindings(&mut s, &mut engine, head.n_bind)?;
    read_links(&mut s, &mut engine, head.n_link)?;
    let mut sections = read_consolidation(&mut s, &mut engine, version)?;
    if version >= 3 {
        read_imports(&mut s, &mut engine, &head)?;
        sections += 1;
    }
    let log_id = if version >= 4 {
        sections += 1;
        Some(read_log_id(&mut s)?)
    } else {
        None
    };
    read_end(&mut s, sections)?;
    engine
        .graph
        .check_invariants()
        .map_err(|e| corrupt(path, "graph", 0, e))?;
    Ok((
        engine,
        SnapshotInfo {
            generation: head.generation,
            bytes: size,
            log_id,
        },
    ))
}

/// A closure turning a decoding message into [`StoreError::Corrupt`] at `section`, `offset`.
fn bad<'a>(
    path: &'a Path,
    section: &'static str,
    offset: u64,
) -> impl Fn(String) -> StoreError + 'a {
    move |d| corrupt(path, section, offset, d)
}

/// Reads the magic and the format version; refuses a file that is not a snapshot or of a
/// version this build does not read.
fn read_magic<R: Read>(s: &mut Sections<'_, R>) -> Result<u32, StoreError> {
    let mut magic = [0u8; 12];
    s.read_exact(&mut magic, "header")?;
    if magic[..8] != SNAPSHOT_MAGIC {
        return Err(corrupt(
            s.path,
            "header",
            0,
            "not an engram snapshot (bad magic)",
        ));
    }
    let version = u32::from_le_bytes([magic[8], magic[9], magic[10], magic[11]]);
    if !(1..=SNAPSHOT_VERSION).contains(&version) {
        return Err(StoreError::Version {
            path: s.path.to_path_buf(),
            found: version,
            supported: format!("1 to {SNAPSHOT_VERSION}"),
        });
    }
    Ok(version)
}

/// What the HEAD section says, with the row sizes derived from it.
struct Head {
    dim: usize,
    vec_f16: bool,
    /// Bytes of one stored row (f16 or f32).
    row_bytes: usize,
    /// Bytes of one row as f32.
    f32_row_bytes: usize,
    generation: u64,
    next_episode: u64,
    next_concept: u64,
    cycle: u64,
    n_ep: u64,
    n_conc: u64,
    n_bind: u64,
    n_link: u64,
}

/// Decodes the fields of the HEAD section: (dim, precision, f16 rows, chunk bytes, the eight
/// counters).
type HeadFields = (usize, Precision, bool, u64, [u64; 8]);

fn decode_head(d: &mut Dec<'_>) -> Result<HeadFields, String> {
    let dim = usize::try_from(d.u32()?).map_err(|_| "dimension too large".to_string())?;
    let precision = match d.u8()? {
        0 => Precision::F32,
        1 => Precision::F32AndF16,
        2 => Precision::F16,
        p => return Err(format!("unknown precision {p}")),
    };
    // The backend the writer ran on is information only (see `read`).
    match d.u8()? {
        0..=2 => {}
        b => return Err(format!("unknown backend {b}")),
    }
    let vec_f16 = d.u8()? != 0;
    let chunk = d.u64()?;
    let v: [u64; 8] = [
        d.u64()?,
        d.u64()?,
        d.u64()?,
        d.u64()?,
        d.u64()?,
        d.u64()?,
        d.u64()?,
        d.u64()?,
    ];
    d.finish()?;
    if vec_f16 == precision.has_f32() {
        return Err("vector kind does not match precision".into());
    }
    if dim == 0 {
        return Err("dimension 0".into());
    }
    Ok((dim, precision, vec_f16, chunk, v))
}

/// Reads HEAD and opens the (empty) engine it describes, with its id and cycle counters set.
fn read_head<R: Read>(s: &mut Sections<'_, R>) -> Result<(Engram, Head), crate::Error> {
    let path = s.path;
    let (hoff, head) = s.small(HEAD)?;
    let mut d = Dec::new(&head);
    let (dim, precision, vec_f16, chunk, v) =
        decode_head(&mut d).map_err(bad(path, "HEAD", hoff))?;
    let [generation, next_episode, next_concept, cycle, n_ep, n_conc, n_bind, n_link] = v;
    if generation == u64::MAX {
        return Err(corrupt(
            path,
            "HEAD",
            hoff,
            "generation u64::MAX leaves no next generation (no writer writes it)",
        )
        .into());
    }
    let elem: usize = if vec_f16 { 2 } else { 4 };
    let row_bytes = dim
        .checked_mul(elem)
        .ok_or_else(|| corrupt(path, "HEAD", hoff, format!("dimension {dim} overflows")))?;
    let f32_row_bytes = dim
        .checked_mul(4)
        .ok_or_else(|| corrupt(path, "HEAD", hoff, format!("dimension {dim} overflows")))?;
    let config = Config::new(dim)
        .precision(precision)
        .backend(BackendChoice::Auto)
        .chunk_bytes(reopen_chunk_bytes(chunk, s.size, f32_row_bytes))
        .check_values()
        .map_err(|e| corrupt(path, "HEAD", hoff, e.to_string()))?;
    // Not corruption: the backend is the process's (ENGRAM_BACKEND), and its errors are its own.
    let mut engine = Engram::new(config)?;
    engine.next_episode = next_episode;
    engine.next_concept = next_concept;
    engine.cycle = cycle;
    Ok((
        engine,
        Head {
            dim,
            vec_f16,
            row_bytes,
            f32_row_bytes,
            generation,
            next_episode,
            next_concept,
            cycle,
            n_ep,
            n_conc,
            n_bind,
            n_link,
        },
    ))
}

/// One episode's record of EMET: id, metadata, strength, rehearsals, last access.
type EpisodeRecord = (u64, EpisodeMeta, f32, u32, u64);

fn decode_episode(d: &mut Dec<'_>) -> Result<EpisodeRecord, String> {
    let id = d.u64()?;
    let timestamp = d.u64()?;
    let stream = d.u64()?;
    let strength = d.f32()?;
    let confidence = d.f32()?;
    let rehearsals = d.u32()?;
    let last_access = d.u64()?;
    let payload = d.payload()?;
    Ok((
        id,
        EpisodeMeta {
            timestamp,
            confidence,
            stream,
            payload,
        },
        strength,
        rehearsals,
        last_access,
    ))
}

/// Reads EMET: the live episodes' records, ids strictly ascending and below the next id.
fn read_episode_metas<R: Read>(
    s: &mut Sections<'_, R>,
    head: &Head,
) -> Result<Vec<EpisodeRecord>, StoreError> {
    let path = s.path;
    let next_episode = head.next_episode;
    let (moff, metas) = s.small(EMET)?;
    let mut d = Dec::new(&metas);
    // Each record is at least 45 bytes: bound the count before allocating.
    let n_ep = d
        .count(head.n_ep, EMET_MIN, "episodes")
        .map_err(bad(path, "EMET", moff))?;
    let mut eps = Vec::with_capacity(n_ep);
    let mut last: Option<u64> = None;
    for i in 0..n_ep {
        let r = decode_episode(&mut d)
            .map_err(|e| corrupt(path, "EMET", moff, format!("episode {i}: {e}")))?;
        if last.is_some_and(|l| l >= r.0) || r.0 >= next_episode {
            return Err(corrupt(
                path,
                "EMET",
                moff,
                format!(
                    "episode {i}: id {} out of order or not below the next episode id \
                     {next_episode}",
                    r.0
                ),
            ));
        }
        last = Some(r.0);
        eps.push(r);
    }
    d.finish().map_err(bad(path, "EMET", moff))?;
    Ok(eps)
}

/// Reads EVEC, streamed: the `total` rows of the episodes into the engine's arena.
fn read_episode_rows<R: Read + Send>(
    s: &mut Sections<'_, R>,
    engine: &mut Engram,
    head: &Head,
    total: usize,
) -> Result<(), StoreError> {
    let path = s.path;
    let (voff, vlen, c) = s.header(EVEC)?;
    let (dim, row_bytes, vec_f16) = (head.dim, head.row_bytes, head.vec_f16);
    // `header` bounded vlen by the file's size, so the rows it must hold are bounded too.
    if (total as u64).checked_mul(row_bytes as u64) != Some(vlen) {
        return Err(corrupt(
            path,
            "EVEC",
            voff,
            "length does not match the episode count",
        ));
    }
    // Buffers hold a block of rows, never more rows than the section holds.
    let rows_per_block = (VEC_BLOCK_BYTES / head.f32_row_bytes).clamp(1, total.max(1));
    let ones = vec![1.0f32; if total == 0 { 0 } else { rows_per_block }];
    engine.episodes.set_huge_pages(false);
    // A reader thread reads and checksums the next block while this one stores the last in
    // the arena (page faults and copies): the two halves of the cost overlap.
    let c = std::thread::scope(|scope| -> Result<u32, StoreError> {
        type Block = Result<(Vec<f32>, usize), StoreError>;
        let (tx, rx) = std::sync::mpsc::sync_channel::<Block>(2);
        let (back_tx, back_rx) = std::sync::mpsc::channel::<Vec<f32>>();
        let words = if total == 0 {
            0
        } else {
            (rows_per_block * row_bytes).div_ceil(4)
        };
        for _ in 0..3.min(total) {
            let _ = back_tx.send(vec![0.0f32; words]);
        }
        let sections = &mut *s;
        let reader = scope.spawn(move || {
            let mut c = c;
            let mut done = 0usize;
            while done < total {
                let rows = rows_per_block.min(total - done);
                let Ok(mut buf) = back_rx.recv() else { break };
                let Some(bytes) =
                    bytemuck::cast_slice_mut::<f32, u8>(&mut buf).get_mut(..rows * row_bytes)
                else {
                    break;
                };
                if let Err(e) = sections.read_exact(bytes, "EVEC") {
                    let _ = tx.send(Err(e));
                    break;
                }
                c = crc(c, bytes);
                if tx.send(Ok((buf, rows))).is_err() {
                    break;
                }
                done += rows;
            }
            c
        });
        let mut decoded = vec![
            0.0f32;
            if vec_f16 && total > 0 {
                rows_per_block * dim
            } else {
                0
            }
        ];
        let mut got = 0usize;
        while got < total {
            let (mut buf, rows) = match rx.recv() {
                Ok(Ok(x)) => x,
                Ok(Err(e)) => return Err(e),
                Err(_) => break,
            };
            let Some(ones) = ones.get(..rows) else { break };
            if vec_f16 {
                let Some(vals) = decoded.get_mut(..rows * dim) else {
                    break;
                };
                let hb = bytemuck::cast_slice::<f32, u8>(&buf);
                for (o, b) in vals.iter_mut().zip(hb.chunks_exact(2)) {
                    *o = f16::from_bits(u16::from_le_bytes([b[0], b[1]])).to_f32();
                }
                engine.episodes.push_scaled(vals, ones);
            } else {
                let Some(vals) = buf.get_mut(..rows * dim) else {
                    break;
                };
                if cfg!(target_endian = "big") {
                    for x in vals.iter_mut() {
                        *x = f32::from_bits(u32::from_le(x.to_bits()));
                    }
                }
                engine.episodes.push_scaled(vals, ones);
            }
            got += rows;
            let _ = back_tx.send(buf);
        }
        let c = reader
            .join()
            .map_err(|_| StoreError::Other("the snapshot reader thread panicked".into()))?;
        if got < total {
            return Err(corrupt(path, "EVEC", voff, "the rows could not be read"));
        }
        Ok(c)
    })?;
    engine.episodes.set_huge_pages(true);
    s.check_crc(EVEC, voff, c)
}

/// Reads CONC: the concepts with their centroids, ids below the next id, unique, and
/// cycles not past the store's.
fn read_concepts<R: Read>(
    s: &mut Sections<'_, R>,
    engine: &mut Engram,
    head: &Head,
) -> Result<(), StoreError> {
    let path = s.path;
    let (dim, next_concept, cycle) = (head.dim, head.next_concept, head.cycle);
    let (coff, conc) = s.small(CONC)?;
    let mut d = Dec::new(&conc);
    let rec = head
        .f32_row_bytes
        .checked_add(CONC_FIXED)
        .ok_or_else(|| corrupt(path, "CONC", coff, "record size overflows"))?;
    let n_conc = d
        .count(head.n_conc, rec, "concepts")
        .map_err(bad(path, "CONC", coff))?;
    let one = [1.0f32];
    for i in 0..n_conc {
        let (concept, centroid) = (|| -> Result<_, String> {
            let (c, centroid) = d.concept(dim)?;
            let (id, formed_cycle, updated_cycle) = (c.id, c.formed_cycle, c.updated_cycle);
            if id.0 >= next_concept {
                return Err(format!("id {id} not below the next id {next_concept}"));
            }
            if formed_cycle > updated_cycle || updated_cycle > cycle {
                return Err(format!(
                    "concept {id} formed in cycle {formed_cycle} and updated in \
                     {updated_cycle}, but the store is at cycle {cycle}"
                ));
            }
            Ok((c, centroid))
        })()
        .map_err(|e| corrupt(path, "CONC", coff, format!("concept {i}: {e}")))?;
        if engine.graph.concept_node(concept.id).is_some() {
            return Err(corrupt(
                path,
                "CONC",
                coff,
                format!("concept {i}: duplicate id"),
            ));
        }
        let row = engine.centroids.push_scaled(&centroid, &one);
        engine.graph.add_concept(concept, row);
    }
    d.finish().map_err(bad(path, "CONC", coff))
}

/// Reads BIND: `n_bind` bindings, none duplicate or dangling.
fn read_bindings<R: Read>(
    s: &mut Sections<'_, R>,
    engine: &mut Engram,
    n_bind: u64,
) -> Result<(), StoreError> {
    let path = s.path;
    let (boff, bind) = s.small(BIND)?;
    if n_bind.checked_mul(PAIR_BYTES) != Some(bind.len() as u64) {
        return Err(corrupt(
            path,
            "BIND",
            boff,
            "length does not match the binding count",
        ));
    }
    let mut d = Dec::new(&bind);
    for i in 0..n_bind {
        let (e, c, w) = (|| -> Result<_, String> { Ok((d.u64()?, d.u64()?, d.f32()?)) })()
            .map_err(bad(path, "BIND", boff))?;
        let (e, c) = (EpisodeId(e), ConceptId(c));
        if engine.graph.binding(e, c).is_some() || !engine.graph.bind(e, c, w) {
            return Err(corrupt(
                path,
                "BIND",
                boff,
                format!("binding {i} ({e}, {c}) is duplicate or dangling"),
            ));
        }
    }
    Ok(())
}

/// Reads LINK: `n_link` undirected concept links (a < b) between known concepts.
fn read_links<R: Read>(
    s: &mut Sections<'_, R>,
    engine: &mut Engram,
    n_link: u64,
) -> Result<(), StoreError> {
    let path = s.path;
    let (loff, link) = s.small(LINK)?;
    if n_link.checked_mul(PAIR_BYTES) != Some(link.len() as u64) {
        return Err(corrupt(
            path,
            "LINK",
            loff,
            "length does not match the link count",
        ));
    }
    let mut d = Dec::new(&link);
    for i in 0..n_link {
        let (a, b, w) = (|| -> Result<_, String> { Ok((d.u64()?, d.u64()?, d.f32()?)) })()
            .map_err(bad(path, "LINK", loff))?;
        if a >= b || !engine.graph.link_concepts(ConceptId(a), ConceptId(b), w) {
            return Err(corrupt(path, "LINK", loff, format!("link {i} is invalid")));
        }
    }
    Ok(())
}

/// Reads CONS (version 2 on); a version 1 snapshot has none and starts the consolidation
/// state fresh. Returns the number of sections read so far (7 with CONS, 6 without).
fn read_consolidation<R: Read>(
    s: &mut Sections<'_, R>,
    engine: &mut Engram,
    version: u32,
) -> Result<u32, StoreError> {
    let path = s.path;
    if version >= 2 {
        let (soff, cons) = s.small(CONS)?;
        decode_consolidation(&cons, engine).map_err(bad(path, "CONS", soff))?;
        Ok(7)
    } else {
        if engine.cycle > 0 {
            log::warn!(
                "{}: a version 1 snapshot after {} consolidation cycles: the consolidation \
                 state was not saved and starts fresh (the next cycle treats every episode \
                 as new)",
                path.display(),
                engine.cycle
            );
        }
        Ok(6)
    }
}

/// Reads IMPT (version 3 on): the import ledgers, naming only ids the store handed out.
fn read_imports<R: Read>(
    s: &mut Sections<'_, R>,
    engine: &mut Engram,
    head: &Head,
) -> Result<(), StoreError> {
    let path = s.path;
    let (ioff, impt) = s.small(IMPT)?;
    let mut d = Dec::new(&impt);
    engine.imports = crate::ledger::decode(&mut d)
        .and_then(|l| d.finish().map(|_| l))
        .and_then(|l| crate::ledger::check(&l, head.next_episode, head.next_concept).map(|_| l))
        .map_err(bad(path, "IMPT", ioff))?;
    Ok(())
}

/// Reads WLOG (version 4 on): the id of the log that follows the snapshot.
fn read_log_id<R: Read>(s: &mut Sections<'_, R>) -> Result<u64, StoreError> {
    let path = s.path;
    let (woff, wlog) = s.small(WLOG)?;
    let mut d = Dec::new(&wlog);
    d.u64()
        .and_then(|id| d.finish().map(|_| id))
        .map_err(bad(path, "WLOG", woff))
}

/// Reads END (holding the number of `sections` before it) and checks nothing follows.
fn read_end<R: Read>(s: &mut Sections<'_, R>, sections: u32) -> Result<(), StoreError> {
    let (eoff, end) = s.small(END)?;
    if end != sections.to_le_bytes() {
        return Err(corrupt(s.path, "END_", eoff, "bad section count"));
    }
    if s.offset != s.size {
        return Err(corrupt(
            s.path,
            "trailer",
            s.offset,
            format!(
                "{} unexpected bytes after the end",
                s.size.saturating_sub(s.offset)
            ),
        ));
    }
    Ok(())
}

/// Encodes the consolidation state and configuration (the CONS section):
///
/// ```text
/// state   watermark u64 | has last time u8 | last time u64 (if any)
///         | n u64 | (concept id u64, last confirmation u64) * n, by ascending id
/// config  seed u64 | clusters u8 (0 fixed: k u64; 1 discover: has max_k u8, max_k u64)
///         | max_iter u64 | warm_iter u64 | replay_fraction f32 | replay_min u64
///         | min_coherence f32 | min_cluster_size u64 | match_threshold f32
///         | novelty_threshold f32 | soft_margin f32 | soft_candidates u64 | binding_gain f32
///         | prune_below f32 | replay_gain f32 | proto_strength f32 | confirm_gain f32
///         | promote_after u32 | concept_min_strength f32 | link_threshold f32
///         | forgetting u8 (0 exponential: half_life f64; 1 power: scale f64, exponent f64;
///           2 none)
/// ```
///
/// Floats are stored as their bits, so a reopened store runs the same cycles bit for bit.
fn encode_consolidation(e: &mut Enc, engine: &Engram) {
    let st = &engine.consolidation;
    e.u64(st.watermark);
    match st.last_time {
        Some(t) => {
            e.u8(1);
            e.u64(t);
        }
        None => e.u8(0),
    }
    let mut times: Vec<(ConceptId, u64)> = st.concept_time.iter().map(|(c, t)| (*c, *t)).collect();
    times.sort_unstable();
    e.u64(times.len() as u64);
    for (c, t) in times {
        e.u64(c.0);
        e.u64(t);
    }
    let mut c = engine.config.consolidation_config().clone();
    // Writing cannot fail: the tags written are the values' own.
    if let Err(err) = config_fields(e, &mut c) {
        unreachable!("encoding a consolidation configuration failed: {err}");
    }
}

/// Decodes the CONS section into `engine` (its concepts already loaded): the state is
/// checked against them (ids below the next concept id, no duplicates, the watermark not
/// past the next episode id) and the configuration with [`ConsolidationConfig::check`].
fn decode_consolidation(buf: &[u8], engine: &mut Engram) -> Result<(), String> {
    let mut d = Dec::new(buf);
    let watermark = d.u64()?;
    if watermark > engine.next_episode {
        return Err(format!(
            "watermark {watermark} past the next episode id {}",
            engine.next_episode
        ));
    }
    let last_time = match d.u8()? {
        0 => None,
        1 => Some(d.u64()?),
        t => return Err(format!("bad last-time tag {t}")),
    };
    let n = d.u64()?;
    if n > d.remaining() as u64 / 16 {
        return Err(format!("{n} confirmation times do not fit the section"));
    }
    let mut concept_time = rustc_hash::FxHashMap::default();
    let mut prev: Option<u64> = None;
    for i in 0..n {
        let (c, t) = (d.u64()?, d.u64()?);
        if prev.is_some_and(|p| p >= c) || c >= engine.next_concept {
            return Err(format!(
                "confirmation time {i}: concept id {c} out of order"
            ));
        }
        prev = Some(c);
        concept_time.insert(ConceptId(c), t);
    }
    let mut c = ConsolidationConfig::default();
    config_fields(&mut d, &mut c)?;
    d.finish()?;
    let c = c.check().map_err(|e| format!("configuration: {e}"))?;
    engine.config = engine.config.clone().consolidation(c);
    engine.consolidation = crate::consolidation::State {
        watermark,
        last_time,
        concept_time,
    };
    Ok(())
}

/// Reads or writes one value of the CONS section in place: [`Enc`] writes it, [`Dec`]
/// replaces it with the value read. [`config_fields`] runs over the consolidation
/// configuration with either, so the format lists its fields once.
trait FieldCodec {
    fn u8(&mut self, v: &mut u8) -> Result<(), String>;
    fn u32(&mut self, v: &mut u32) -> Result<(), String>;
    fn u64(&mut self, v: &mut u64) -> Result<(), String>;
    fn f32(&mut self, v: &mut f32) -> Result<(), String>;

    /// A `usize` as a u64 (read: an error if it does not fit).
    fn usize(&mut self, v: &mut usize) -> Result<(), String> {
        let mut x = *v as u64;
        self.u64(&mut x)?;
        *v = usize::try_from(x).map_err(|_| format!("{x} does not fit usize"))?;
        Ok(())
    }

    /// An f64 as its bits (a u64), so it round-trips bit for bit.
    fn f64(&mut self, v: &mut f64) -> Result<(), String> {
        let mut bits = v.to_bits();
        self.u64(&mut bits)?;
        *v = f64::from_bits(bits);
        Ok(())
    }
}

impl FieldCodec for Enc {
    fn u8(&mut self, v: &mut u8) -> Result<(), String> {
        Enc::u8(self, *v);
        Ok(())
    }
    fn u32(&mut self, v: &mut u32) -> Result<(), String> {
        Enc::u32(self, *v);
        Ok(())
    }
    fn u64(&mut self, v: &mut u64) -> Result<(), String> {
        Enc::u64(self, *v);
        Ok(())
    }
    fn f32(&mut self, v: &mut f32) -> Result<(), String> {
        Enc::f32(self, *v);
        Ok(())
    }
}

impl FieldCodec for Dec<'_> {
    fn u8(&mut self, v: &mut u8) -> Result<(), String> {
        *v = Dec::u8(self)?;
        Ok(())
    }
    fn u32(&mut self, v: &mut u32) -> Result<(), String> {
        *v = Dec::u32(self)?;
        Ok(())
    }
    fn u64(&mut self, v: &mut u64) -> Result<(), String> {
        *v = Dec::u64(self)?;
        Ok(())
    }
    fn f32(&mut self, v: &mut f32) -> Result<(), String> {
        *v = Dec::f32(self)?;
        Ok(())
    }
}

/// The consolidation configuration of the CONS section, field by field in the order of the
/// format (see [`encode_consolidation`]), written from `c` or read into it.
fn config_fields(x: &mut impl FieldCodec, c: &mut ConsolidationConfig) -> Result<(), String> {
    // Every field named (no `..`): a new field must get a place in the format.
    let ConsolidationConfig {
        seed,
        clusters,
        max_iter,
        warm_iter,
        replay_fraction,
        replay_min,
        min_coherence,
        min_cluster_size,
        match_threshold,
        novelty_threshold,
        soft_margin,
        soft_candidates,
        binding_gain,
        prune_below,
        replay_gain,
        proto_strength,
        confirm_gain,
        promote_after,
        concept_min_strength,
        link_threshold,
        forgetting,
    } = c;
    x.u64(seed)?;
    cluster_count_field(x, clusters)?;
    x.usize(max_iter)?;
    x.usize(warm_iter)?;
    x.f32(replay_fraction)?;
    x.usize(replay_min)?;
    x.f32(min_coherence)?;
    x.usize(min_cluster_size)?;
    x.f32(match_threshold)?;
    x.f32(novelty_threshold)?;
    x.f32(soft_margin)?;
    x.usize(soft_candidates)?;
    x.f32(binding_gain)?;
    x.f32(prune_below)?;
    x.f32(replay_gain)?;
    x.f32(proto_strength)?;
    x.f32(confirm_gain)?;
    x.u32(promote_after)?;
    x.f32(concept_min_strength)?;
    x.f32(link_threshold)?;
    forgetting_field(x, forgetting)
}

/// `clusters u8` (0 fixed: k u64; 1 discover: has max_k u8, max_k u64 (0 when none)).
fn cluster_count_field(x: &mut impl FieldCodec, v: &mut ClusterCount) -> Result<(), String> {
    let (mut tag, mut has, mut k) = match *v {
        ClusterCount::Fixed(k) => (0u8, 0u8, k),
        ClusterCount::Discover { max_k } => (1, max_k.is_some() as u8, max_k.unwrap_or(0)),
    };
    x.u8(&mut tag)?;
    *v = match tag {
        0 => {
            x.usize(&mut k)?;
            ClusterCount::Fixed(k)
        }
        1 => {
            x.u8(&mut has)?;
            x.usize(&mut k)?;
            ClusterCount::Discover {
                max_k: (has != 0).then_some(k),
            }
        }
        t => return Err(format!("bad cluster-count tag {t}")),
    };
    Ok(())
}

/// `forgetting u8` (0 exponential: half_life f64; 1 power: scale f64, exponent f64; 2 none).
fn forgetting_field(x: &mut impl FieldCodec, v: &mut ForgettingCurve) -> Result<(), String> {
    let (mut tag, mut a, mut b) = match *v {
        ForgettingCurve::Exponential { half_life } => (0u8, half_life, 0.0),
        ForgettingCurve::Power { scale, exponent } => (1, scale, exponent),
        ForgettingCurve::None => (2, 0.0, 0.0),
    };
    x.u8(&mut tag)?;
    *v = match tag {
        0 => {
            x.f64(&mut a)?;
            ForgettingCurve::Exponential { half_life: a }
        }
        1 => {
            x.f64(&mut a)?;
            x.f64(&mut b)?;
            ForgettingCurve::Power {
                scale: a,
                exponent: b,
            }
        }
        2 => ForgettingCurve::None,
        t => return Err(format!("bad forgetting-curve tag {t}")),
    };
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The configuration part of the CONS section, byte for byte as the format describes it
    /// (built here by hand, independently of [`config_fields`]): stores written by earlier
    /// versions must keep reading, so reordering two fields must fail a test, not only a
    /// round trip.
    #[test]
    fn consolidation_config_bytes_follow_the_format() {
        let cases = [
            (
                ClusterCount::Discover { max_k: Some(37) },
                ForgettingCurve::Power {
                    scale: 3.5,
                    exponent: 0.25,
                },
            ),
            (
                ClusterCount::Fixed(12),
                ForgettingCurve::Exponential { half_life: 9.0 },
            ),
            (
                ClusterCount::Discover { max_k: None },
                ForgettingCurve::None,
            ),
        ];
        for (i, (clusters, forgetting)) in cases.into_iter().enumerate() {
            // Every field a distinct value, so a swap of two changes the bytes.
            let mut c = ConsolidationConfig {
                seed: 0x0102_0304_0506_0708 + i as u64,
                clusters,
                max_iter: 11,
                warm_iter: 3,
                replay_fraction: 0.125,
                replay_min: 17,
                min_coherence: 0.375,
                min_cluster_size: 5,
                match_threshold: 0.625,
                novelty_threshold: 0.4375,
                soft_margin: 0.0625,
                soft_candidates: 4,
                binding_gain: 0.1875,
                prune_below: 0.03125,
                replay_gain: 0.3125,
                proto_strength: 0.5625,
                confirm_gain: 0.6875,
                promote_after: 6,
                concept_min_strength: 0.015625,
                link_threshold: 0.8125,
                forgetting,
            };
            let mut want = Vec::new();
            let u64 = |w: &mut Vec<u8>, v: u64| w.extend_from_slice(&v.to_le_bytes());
            let f32 = |w: &mut Vec<u8>, v: f32| w.extend_from_slice(&v.to_bits().to_le_bytes());
            u64(&mut want, c.seed);
            match clusters {
                ClusterCount::Fixed(k) => {
                    want.push(0);
                    u64(&mut want, k as u64);
                }
                ClusterCount::Discover { max_k } => {
                    want.push(1);
                    want.push(max_k.is_some() as u8);
                    u64(&mut want, max_k.unwrap_or(0) as u64);
                }
            }
            u64(&mut want, 11);
            u64(&mut want, 3);
            f32(&mut want, 0.125);
            u64(&mut want, 17);
            f32(&mut want, 0.375);
            u64(&mut want, 5);
            f32(&mut want, 0.625);
            f32(&mut want, 0.4375);
            f32(&mut want, 0.0625);
            u64(&mut want, 4);
            f32(&mut want, 0.1875);
            f32(&mut want, 0.03125);
            f32(&mut want, 0.3125);
            f32(&mut want, 0.5625);
            f32(&mut want, 0.6875);
            want.extend_from_slice(&6u32.to_le_bytes());
            f32(&mut want, 0.015625);
            f32(&mut want, 0.8125);
            match forgetting {
                ForgettingCurve::Exponential { half_life } => {
                    want.push(0);
                    u64(&mut want, half_life.to_bits());
                }
                ForgettingCurve::Power { scale, exponent } => {
                    want.push(1);
                    u64(&mut want, scale.to_bits());
                    u64(&mut want, exponent.to_bits());
                }
                ForgettingCurve::None => want.push(2),
            }
            let mut e = Enc { buf: Vec::new() };
            config_fields(&mut e, &mut c).expect("encode");
            assert_eq!(e.buf, want, "case {i}");
            // And it reads back to the same configuration.
            let mut back = ConsolidationConfig::default();
            let mut d = Dec::new(&e.buf);
            config_fields(&mut d, &mut back).expect("decode");
            d.finish().expect("whole section");
            assert_eq!(back, c, "case {i}");
        }
    }
}
