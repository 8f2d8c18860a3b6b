//! The import pipeline: a reader thread, a bounded channel, a writer applying batches.

use std::fs;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::sync::mpsc::{sync_channel, Receiver};
use std::time::{Duration, Instant};

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

use super::checkpoint::ImportCheckpoint;
use super::classify::{classify, Tier};
use super::source::{Item, LegacyRecord, Position, SourceFormat, SourceReader};
use super::verify::{chain_concept, chain_episode, hex, unhex};
use super::{ImportOptions, ImportReport, OnBadRecord};
use crate::engine::Engram;
use crate::error::{Result, StoreError};
use crate::memory::{ConceptId, EpisodeId, EpisodeMeta, Payload};
use crate::persist::format::io;
use crate::persist::{DurableEngram, NewConcept};
use crate::shared::SharedEngram;
use crate::vectors::validate_one;

/// One batch from the reader thread.
pub(crate) struct Chunk {
    pub items: Vec<Item>,
    pub end: Position,
    pub prefix: String,
}

/// The receiving end of the reader thread's channel, and the thread.
pub(crate) type ReaderHandle = (
    Receiver<Result<Chunk, StoreError>>,
    std::thread::JoinHandle<()>,
);

/// Starts the reader thread at `start`, hashing the source prefix as it goes (`hasher` holds
/// the hash of the bytes before `start`). Returns the receiving end and the thread.
pub(crate) fn spawn_reader(
    path: &Path,
    format: SourceFormat,
    start: Position,
    hasher: blake3::Hasher,
    opts: &ImportOptions,
) -> Result<ReaderHandle> {
    let mut reader = SourceReader::open(path, format, start)?;
    let mut raw = fs::File::open(path).map_err(io("open", path))?;
    std::io::Seek::seek(&mut raw, std::io::SeekFrom::Start(start.offset))
        .map_err(io("seek", path))?;
    let (tx, rx) = sync_channel(opts.queue_batches.max(1));
    let batch = opts.batch_size.max(1);
    let p = path.to_path_buf();
    let t = std::thread::Builder::new()
        .name("engram-import-reader".into())
        .spawn(move || {
            let mut hasher = hasher;
            let mut hashed = start.offset;
            loop {
                let mut items = Vec::with_capacity(batch);
                let r = (|| -> Result<bool, StoreError> {
                    while items.len() < batch {
                        match reader.next_item()? {
                            Some(it) => items.push(it),
                            None => return Ok(true),
                        }
                    }
                    Ok(false)
                })();
                let done = match r {
                    Ok(d) => d,
                    Err(e) => {
                        let _ = tx.send(Err(e));
                        return;
                    }
                };
                let end = reader.position();
                let n = end.offset - hashed;
                match std::io::copy(&mut (&mut raw).take(n), &mut hasher) {
                    Ok(c) if c == n => hashed = end.offset,
                    Ok(_) | Err(_) => {
                        let _ = tx.send(Err(StoreError::Other(format!(
                            "{}: the source changed while being read",
                            p.display()
                        ))));
                        return;
                    }
                }
                let chunk = Chunk {
                    items,
                    end,
                    prefix: hasher.finalize().to_hex().to_string(),
                };
                if tx.send(Ok(chunk)).is_err() || done {
                    return;
                }
            }
        })
        .map_err(|e| StoreError::Other(format!("cannot start the reader thread: {e}")))?;
    Ok((rx, t))
}

/// A BLAKE3 hasher over the first `len` bytes of `path`, and its hex digest.
pub(crate) fn hash_prefix(path: &Path, len: u64) -> Result<(blake3::Hasher, String)> {
    let f = fs::File::open(path).map_err(io("open", path))?;
    let mut h = blake3::Hasher::new();
    let n = std::io::copy(&mut f.take(len), &mut h).map_err(io("read", path))?;
    if n != len {
        return Err(StoreError::Refused {
            path: path.to_path_buf(),
            reason: format!(
                "the source has {n} bytes, fewer than the {len} already imported: it changed"
            ),
        }
        .into());
    }
    let hex = h.finalize().to_hex().to_string();
    Ok((h, hex))
}

/// One chunk's valid records, ready to write.
#[derive(Debug, Default)]
pub(crate) struct Batch {
    pub rows: Vec<f32>,
    pub metas: Vec<EpisodeMeta>,
    pub concepts: Vec<(Vec<f32>, NewConcept)>,
}

/// Where imported records go.
pub(crate) trait Sink {
    fn dim(&self) -> usize;
    /// Writes one chunk's records and the import's progress after it.
    fn write(&mut self, b: Batch, progress: &str) -> Result<(Vec<EpisodeId>, Vec<ConceptId>)>;
    fn read<R>(&self, f: impl FnOnce(&Engram) -> R) -> R;
}

/// The staging store of an offline import: plain logged writes (the stage's log length in
/// the checkpoint says where it stands).
impl Sink for DurableEngram {
    fn dim(&self) -> usize {
        Engram::dim(self)
    }
    fn write(&mut self, b: Batch, _: &str) -> Result<(Vec<EpisodeId>, Vec<ConceptId>)> {
        let eps = if b.metas.is_empty() {
            Vec::new()
        } else {
            self.remember_batch(&b.rows, b.metas)?
        };
        let mut cids = Vec::with_capacity(b.concepts.len());
        for (c, nc) in b.concepts {
            cids.push(self.add_concept(&c, nc)?);
        }
        Ok((eps, cids))
    }
    fn read<R>(&self, f: impl FnOnce(&Engram) -> R) -> R {
        f(self)
    }
}

/// A live engine of an online import: each chunk and the import's progress in one write
/// ([`SharedEngram::import_batch`]).
pub(crate) struct Online<'a> {
    pub target: &'a SharedEngram,
    pub id: String,
}

impl Sink for Online<'_> {
    fn dim(&self) -> usize {
        self.target.with(|e| e.dim())
    }
    fn write(&mut self, b: Batch, progress: &str) -> Result<(Vec<EpisodeId>, Vec<ConceptId>)> {
        self.target
            .import_batch(&self.id, progress, &b.rows, b.metas, &b.concepts)
    }
    fn read<R>(&self, f: impl FnOnce(&Engram) -> R) -> R {
        self.target.with(f)
    }
}

/// The part of an import's progress an online import keeps in the store's ledger.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Progress {
    pub consumed_bytes: u64,
    pub consumed_records: u64,
    pub prefix_blake3: String,
    pub skipped: u64,
}

impl Progress {
    pub fn to_json(&self) -> String {
        serde_json::json!({
            "consumed_bytes": self.consumed_bytes,
            "consumed_records": self.consumed_records,
            "prefix_blake3": self.prefix_blake3,
            "skipped": self.skipped,
        })
        .to_string()
    }

    pub fn parse(text: &str) -> Option<Self> {
        let v: serde_json::Value = serde_json::from_str(text).ok()?;
        Some(Self {
            consumed_bytes: v.get("consumed_bytes")?.as_u64()?,
            consumed_records: v.get("consumed_records")?.as_u64()?,
            prefix_blake3: v.get("prefix_blake3")?.as_str()?.to_owned(),
            skipped: v.get("skipped")?.as_u64()?,
        })
    }
}

/// A record kept for spot re-reads after the import.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Spot {
    pub line: u64,
    pub tier: Tier,
    pub id: u64,
}

/// The writer's running state.
pub(crate) struct Run {
    pub ckpt: ImportCheckpoint,
    pub ep_chain: [u8; 32],
    pub c_chain: [u8; 32],
    pub report: ImportReport,
    pub spots: Vec<Spot>,
    pub seen: u64,
    rng: ChaCha8Rng,
    pub episode_ids: Vec<EpisodeId>,
    pub concept_ids: Vec<ConceptId>,
}

impl Run {
    pub fn new(ckpt: ImportCheckpoint, report: ImportReport) -> Result<Self> {
        let chain =
            |s: &str| unhex(s).ok_or_else(|| StoreError::Other("bad chain in checkpoint".into()));
        Ok(Self {
            ep_chain: chain(&ckpt.episode_chain)?,
            c_chain: chain(&ckpt.concept_chain)?,
            ckpt,
            report,
            spots: Vec::new(),
            seen: 0,
            rng: ChaCha8Rng::seed_from_u64(0x5eed),
            episode_ids: Vec::new(),
            concept_ids: Vec::new(),
        })
    }

    fn sample(&mut self, s: Spot, keep: usize) {
        self.seen += 1;
        if self.spots.len() < keep {
            self.spots.push(s);
        } else if keep > 0 {
            let j = self.rng.random_range(0..self.seen);
            if (j as usize) < keep {
                self.spots[j as usize] = s;
            }
        }
    }

    fn bad(&mut self, path: &Path, line: u64, detail: String, opts: &ImportOptions) -> Result<()> {
        if opts.on_bad_record == OnBadRecord::Stop {
            return Err(StoreError::BadRecord {
                path: path.to_path_buf(),
                line,
                detail,
            }
            .into());
        }
        log::warn!("{}:{line}: skipped: {detail}", path.display());
        self.ckpt.skipped += 1;
        if self.report.bad_records.len() < 1000 {
            self.report.bad_records.push((line, detail));
        }
        Ok(())
    }

    /// Applies one chunk to the sink, extending the digests.
    pub fn apply(
        &mut self,
        sink: &mut impl Sink,
        chunk: Chunk,
        path: &Path,
        opts: &ImportOptions,
    ) -> Result<()> {
        let dim = sink.dim();
        let mut batch = Batch::default();
        let mut lines = Vec::new();
        let mut concept_lines = Vec::new();
        for item in chunk.items {
            let r = match item {
                Item::Bad { line, detail } => {
                    self.bad(path, line, detail, opts)?;
                    continue;
                }
                Item::Record(r) => r,
            };
            let tier = match classify(&r) {
                Ok(t) => t,
                Err(d) => {
                    self.bad(path, r.line, d, opts)?;
                    continue;
                }
            };
            if let Err(e) = validate_one(&r.embedding, dim) {
                self.bad(path, r.line, e.to_string(), opts)?;
                continue;
            }
            match tier {
                Tier::Episode => {
                    batch.rows.extend_from_slice(&r.embedding);
                    lines.push(r.line);
                    batch.metas.push(meta_of(&r));
                }
                Tier::Concept => {
                    let c = NewConcept {
                        members: r.members.unwrap_or(0),
                        confirmations: 1,
                        ..NewConcept::default()
                    };
                    concept_lines.push(r.line);
                    batch.concepts.push((r.embedding, c));
                }
            }
        }
        let progress = Progress {
            consumed_bytes: chunk.end.offset,
            consumed_records: chunk.end.records,
            prefix_blake3: chunk.prefix,
            skipped: self.ckpt.skipped,
        };
        let (ids, cids) = sink.write(batch, &progress.to_json())?;
        if !ids.is_empty() {
            let mut chain = self.ep_chain;
            let ok = sink.read(|e| {
                for id in &ids {
                    match chain_episode(chain, e, *id) {
                        Some(c) => chain = c,
                        None => return false,
                    }
                }
                true
            });
            if !ok {
                return Err(StoreError::Other("an imported episode vanished".into()).into());
            }
            self.ep_chain = chain;
            if self.ckpt.episodes == 0 {
                self.ckpt.first_episode = ids[0].0;
            }
            self.ckpt.episodes += ids.len() as u64;
            for (id, line) in ids.iter().zip(lines) {
                let s = Spot {
                    line,
                    tier: Tier::Episode,
                    id: id.0,
                };
                self.sample(s, opts.spot_checks);
            }
            self.episode_ids.extend(ids);
        }
        for (id, line) in cids.into_iter().zip(concept_lines) {
            let chain = sink
                .read(|e| chain_concept(self.c_chain, e, id))
                .ok_or_else(|| StoreError::Other("an imported concept vanished".into()))?;
            self.c_chain = chain;
            if self.ckpt.concepts == 0 {
                self.ckpt.first_concept = id.0;
            }
            self.ckpt.concepts += 1;
            let s = Spot {
                line,
                tier: Tier::Concept,
                id: id.0,
            };
            self.sample(s, opts.spot_checks);
            self.concept_ids.push(id);
        }
        self.ckpt.consumed_bytes = progress.consumed_bytes;
        self.ckpt.consumed_records = progress.consumed_records;
        self.ckpt.prefix_blake3 = progress.prefix_blake3;
        self.ckpt.episode_chain = hex(&self.ep_chain);
        self.ckpt.concept_chain = hex(&self.c_chain);
        Ok(())
    }
}

impl Run {
    /// Applies the reader's chunks to `sink` until the source ends (`Ok(true)`), `stop_after`
    /// records are consumed (`Ok(false)`) or something fails; after every chunk
    /// `checkpoint(run, sink, records since the last save)` may save a checkpoint (it returns
    /// whether it did). Throttles to the rate limit, reports `progress(source bytes consumed,
    /// source bytes)` before the first chunk and after every chunk, and always stops and joins
    /// the reader. Returns the outcome and the records consumed by this run.
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn pump<S: Sink>(
        &mut self,
        (rx, reader): ReaderHandle,
        sink: &mut S,
        source: &Path,
        opts: &ImportOptions,
        started: Instant,
        progress: &mut dyn FnMut(u64, u64),
        mut checkpoint: impl FnMut(&mut Self, &mut S, u64) -> Result<bool>,
    ) -> (Result<bool>, u64) {
        let mut since = 0u64;
        let mut done = 0u64;
        progress(self.ckpt.consumed_bytes, self.ckpt.source_size);
        let result = (|| -> Result<bool> {
            for chunk in rx.iter() {
                let chunk = chunk?;
                let n = chunk.end.records - self.ckpt.consumed_records;
                self.apply(sink, chunk, source, opts)?;
                done += n;
                since += n;
                progress(self.ckpt.consumed_bytes, self.ckpt.source_size);
                if checkpoint(self, sink, since)? {
                    since = 0;
                }
                if opts
                    .stop_after
                    .is_some_and(|s| self.ckpt.consumed_records >= s)
                {
                    return Ok(false);
                }
                throttle(opts.rate_limit, done, started);
            }
            Ok(true)
        })();
        drop(rx);
        let _ = reader.join();
        (result, done)
    }
}

/// The metadata an episode gets from a legacy record. Nothing of the record is dropped: the
/// content becomes the payload, and a legacy `id` goes into it too ([`Payload::legacy`]).
pub(crate) fn meta_of(r: &LegacyRecord) -> EpisodeMeta {
    let payload = match (&r.id, &r.content) {
        (Some(id), content) => Some(Payload::legacy(id, content.as_deref())),
        (None, content) => content.clone().map(Payload::Text),
    };
    EpisodeMeta {
        timestamp: r.timestamp,
        confidence: r.confidence,
        stream: r.stream,
        payload,
    }
}

/// Sleeps so that `done` records since `start` do not exceed `rate` per second.
pub(crate) fn throttle(rate: Option<f64>, done: u64, start: Instant) {
    if let Some(rate) = rate.filter(|r| *r > 0.0) {
        // Options are checked (rate ≥ MIN_RATE), so this is finite; saturate regardless.
        let due = Duration::try_from_secs_f64(done as f64 / rate).unwrap_or(Duration::MAX);
        let el = start.elapsed();
        if due > el {
            std::thread::sleep(due - el);
        }
    }
}

/// Re-reads the spot records from the source and compares them with the store.
pub(crate) fn spot_check(
    path: &Path,
    format: SourceFormat,
    spots: &[Spot],
    e: &Engram,
) -> Result<(u64, Vec<u64>)> {
    let mut want: Vec<Spot> = spots.to_vec();
    want.sort_by_key(|s| s.line);
    let mut reader = SourceReader::open(path, format, Position::default())?;
    let mut failures = Vec::new();
    let mut checked = 0;
    let mut i = 0;
    while i < want.len() {
        let Some(item) = reader.next_item()? else {
            break;
        };
        let Item::Record(r) = item else { continue };
        while i < want.len() && want[i].line < r.line {
            failures.push(want[i].line);
            i += 1;
        }
        if i < want.len() && want[i].line == r.line {
            checked += 1;
            if !same(&r, want[i], e) {
                failures.push(r.line);
            }
            i += 1;
        }
    }
    failures.extend(want[i..].iter().map(|s| s.line));
    Ok((checked, failures))
}

fn same(r: &LegacyRecord, s: Spot, e: &Engram) -> bool {
    let Ok(inv) = validate_one(&r.embedding, e.dim()) else {
        return false;
    };
    let close = |v: &[f32]| {
        v.iter()
            .zip(&r.embedding)
            .all(|(a, b)| (a - b * inv).abs() <= 1e-6)
    };
    match s.tier {
        Tier::Episode => {
            let id = EpisodeId(s.id);
            match (e.get(id), e.embedding(id)) {
                (Ok(ep), Ok(v)) => {
                    let m = meta_of(r);
                    close(&v)
                        && ep.timestamp == m.timestamp
                        && ep.confidence == m.confidence
                        && ep.stream == m.stream
                        && ep.payload == m.payload
                }
                _ => false,
            }
        }
        Tier::Concept => {
            let id = ConceptId(s.id);
            match (e.concept(id), e.centroid(id)) {
                (Ok(c), Ok(v)) => close(&v) && c.members == r.members.unwrap_or(0),
                _ => false,
            }
        }
    }
}

/// The files of an offline import inside a store directory.
#[derive(Debug, Clone)]
pub(crate) struct Work {
    pub dir: PathBuf,
}

impl Work {
    pub fn new(store: &Path) -> Self {
        Self {
            dir: store.join("import"),
        }
    }
    pub fn checkpoint(&self) -> PathBuf {
        self.dir.join("checkpoint.json")
    }
    pub fn stage(&self) -> PathBuf {
        self.dir.join("stage")
    }
    pub fn pre(&self) -> PathBuf {
        self.dir.join("pre")
    }
    pub fn committed(&self) -> PathBuf {
        self.dir.join("committed.json")
    }
    /// The intent of a commit in progress (written just before its rename).
    pub fn intent(&self) -> PathBuf {
        self.dir.join("commit.json")
    }
    /// The snapshot a commit renames over the store's.
    pub fn staged_snapshot(&self) -> PathBuf {
        self.dir.join("snapshot.commit")
    }
    /// Whether anything of an import in progress is there (intent, staged snapshot,
    /// checkpoint, stage).
    pub fn has_leftovers(&self) -> bool {
        [
            self.intent(),
            self.staged_snapshot(),
            self.checkpoint(),
            self.stage(),
        ]
        .iter()
        .any(|p| p.exists())
    }
}
