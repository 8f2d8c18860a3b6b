//! Import sources: JSON Lines, `.npy` float32 matrices (read with `npyz`) and `.fvecs`.

use std::fs::File;
use std::io::{BufRead, BufReader, Read, Seek, SeekFrom};
use std::path::{Path, PathBuf};

use serde_json::Value;

use crate::error::StoreError;
use crate::persist::format::io;

/// The longest JSON Lines line an import reads by default: 64 MiB. A longer line (a file
/// that is one endless line, `/dev/zero`, a corrupt dump) stops the import with
/// [`StoreError::BadRecord`] ("line N longer than L bytes") after reading at most this many
/// bytes of it, so memory stays bounded. Set `ENGRAM_MAX_LINE_BYTES` to change the limit for
/// a process, or [`SourceReader::max_line_bytes`] for one reader.
pub const MAX_LINE_BYTES: usize = 64 << 20;

/// The line limit of new readers: `ENGRAM_MAX_LINE_BYTES` if it holds a whole number ≥ 1,
/// otherwise [`MAX_LINE_BYTES`].
pub fn default_max_line_bytes() -> usize {
    std::env::var("ENGRAM_MAX_LINE_BYTES")
        .ok()
        .and_then(|v| v.trim().replace('_', "").parse::<usize>().ok())
        .filter(|&n| n >= 1)
        .unwrap_or(MAX_LINE_BYTES)
}

/// The format of an import source.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SourceFormat {
    /// One JSON object per line: `embedding` (array of numbers, required), `id`, `content`,
    /// `timestamp`, `confidence`, `stream`, `kind` ("episode" | "concept"), `members` or
    /// `count`, `summary` (all optional).
    JsonLines,
    /// A 2-D little-endian float32 `.npy` matrix, one row per episode.
    Npy,
    /// `.fvecs`: per vector an i32 dimension then that many float32.
    Fvecs,
}

impl SourceFormat {
    /// The format named by a file's extension (`.jsonl`, `.ndjson`, `.npy`, `.fvecs`).
    pub fn from_path(p: &Path) -> Option<Self> {
        match p.extension()?.to_str()?.to_ascii_lowercase().as_str() {
            "jsonl" | "ndjson" | "json" => Some(Self::JsonLines),
            "npy" => Some(Self::Npy),
            "fvecs" => Some(Self::Fvecs),
            _ => None,
        }
    }

    /// The name, for reports.
    pub fn name(&self) -> &'static str {
        match self {
            Self::JsonLines => "jsonl",
            Self::Npy => "npy",
            Self::Fvecs => "fvecs",
        }
    }
}

/// One memory of the legacy, single-type store.
#[derive(Debug, Clone, PartialEq)]
pub struct LegacyRecord {
    /// The 1-based line (JSON Lines) or record number.
    pub line: u64,
    /// The legacy id, if given (a number or any other non-string as its JSON text). An
    /// episode keeps it in its payload ([`crate::Payload::legacy`]).
    pub id: Option<String>,
    /// The text content, if given (kept in the episode's payload).
    pub content: Option<String>,
    /// The embedding.
    pub embedding: Vec<f32>,
    /// The timestamp (0 if absent; the record number for matrices).
    pub timestamp: u64,
    /// Confidence in [0, 1] (1 if absent).
    pub confidence: f32,
    /// The stream (0 if absent).
    pub stream: u64,
    /// The explicit kind, if given.
    pub kind: Option<String>,
    /// A member count (`members` or `count`), marking a summary of several memories.
    pub members: Option<u64>,
    /// The `summary` flag.
    pub summary: bool,
}

/// What the reader found at one position of the source.
#[derive(Debug, Clone, PartialEq)]
pub enum Item {
    /// A well-formed record.
    Record(LegacyRecord),
    /// A malformed record.
    Bad {
        /// Its 1-based line or record number.
        line: u64,
        /// What is wrong.
        detail: String,
    },
}

/// Where reading stands: bytes and records consumed.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Position {
    /// Bytes of the source consumed.
    pub offset: u64,
    /// Lines (JSON Lines) or records consumed.
    pub records: u64,
}

enum Kind {
    Lines(BufReader<File>),
    Matrix {
        data: npyz::NpyReader<f32, BufReader<File>>,
        dim: usize,
        rows: u64,
        header: u64,
    },
    Fvecs(BufReader<File>, usize),
}

/// Reads a source record by record from a position.
pub struct SourceReader {
    path: PathBuf,
    kind: Kind,
    pos: Position,
    size: u64,
    line_buf: Vec<u8>,
    max_line: usize,
}

fn dim_error(path: &Path, detail: impl Into<String>) -> StoreError {
    StoreError::BadRecord {
        path: path.to_path_buf(),
        line: 0,
        detail: detail.into(),
    }
}

/// The longest `.npy` header accepted (numpy writes a few hundred bytes; the format allows
/// 4 GiB, which a hostile file would make us allocate).
pub const MAX_NPY_HEADER: u64 = 1 << 20;

/// Checks the `.npy` preamble of `r` (magic, version, header length ≤ [`MAX_NPY_HEADER`])
/// before a parser allocates the header, and rewinds to the start.
pub fn check_npy_header<R: Read + Seek>(r: &mut R, path: &Path) -> Result<(), StoreError> {
    let mut pre = [0u8; 12];
    let got = r.read(&mut pre).map_err(io("read .npy header of", path))?;
    let bad = |detail: String| StoreError::Other(format!("{}: {detail}", path.display()));
    if got < 10 || &pre[..6] != b"\x93NUMPY" {
        return Err(bad("not a .npy file (bad magic)".into()));
    }
    let len = match pre[6] {
        1 => u64::from(u16::from_le_bytes([pre[8], pre[9]])),
        2 | 3 if got == 12 => u64::from(u32::from_le_bytes([pre[8], pre[9], pre[10], pre[11]])),
        v => return Err(bad(format!(".npy format version {v} is not supported"))),
    };
    let size = r.seek(SeekFrom::End(0)).map_err(io("seek", path))?;
    if len > MAX_NPY_HEADER || len > size {
        return Err(bad(format!(
            ".npy header of {len} bytes (the file has {size}; at most {MAX_NPY_HEADER} accepted)"
        )));
    }
    r.seek(SeekFrom::Start(0)).map_err(io("seek", path))?;
    Ok(())
}

/// Opens a `.npy` file for `npyz`, its header length checked first ([`check_npy_header`]).
pub fn open_npy(path: &Path) -> Result<npyz::NpyFile<BufReader<File>>, StoreError> {
    let mut f = File::open(path).map_err(io("open", path))?;
    check_npy_header(&mut f, path)?;
    npyz::NpyFile::new(BufReader::with_capacity(1 << 20, f))
        .map_err(io("read .npy header of", path))
}

impl SourceReader {
    /// Opens `path` as `format` and skips to `pos` (a position a previous reader reported).
    pub fn open(path: &Path, format: SourceFormat, pos: Position) -> Result<Self, StoreError> {
        let f = File::open(path).map_err(io("open", path))?;
        let size = f.metadata().map_err(io("stat", path))?.len();
        if pos.offset > size {
            return Err(StoreError::Refused {
                path: path.to_path_buf(),
                reason: "the source is shorter than the part already imported".into(),
            });
        }
        let mut r = BufReader::with_capacity(1 << 20, f);
        let kind = match format {
            SourceFormat::JsonLines => {
                r.seek(SeekFrom::Start(pos.offset))
                    .map_err(io("seek", path))?;
                Kind::Lines(r)
            }
            SourceFormat::Fvecs => {
                let mut d = [0u8; 4];
                let dim = match r.read_exact(&mut d) {
                    Ok(()) => i32::from_le_bytes(d),
                    Err(_) => 0,
                };
                if dim <= 0 && size > 0 {
                    return Err(dim_error(path, format!("first vector has dimension {dim}")));
                }
                r.seek(SeekFrom::Start(pos.offset))
                    .map_err(io("seek", path))?;
                Kind::Fvecs(r, dim.max(0) as usize)
            }
            SourceFormat::Npy => {
                check_npy_header(&mut r, path)?;
                let npy = npyz::NpyFile::new(r).map_err(io("read .npy header of", path))?;
                let descr = npy.dtype().descr();
                if descr.trim_matches('\'') != "<f4" {
                    return Err(dim_error(
                        path,
                        format!("expected a 2-D little-endian float32 .npy, found dtype {descr}"),
                    ));
                }
                let shape = npy.shape().to_vec();
                if shape.len() != 2 || npy.order() != npyz::Order::C {
                    return Err(dim_error(
                        path,
                        format!("expected a 2-D C-order matrix, got shape {shape:?}"),
                    ));
                }
                let (rows, dim) = (shape[0], shape[1] as usize);
                let mut data = npy
                    .data::<f32>()
                    .map_err(|e| dim_error(path, format!("not float32: {e}")))?;
                let header = size.saturating_sub(rows * dim as u64 * 4);
                let skip = pos.records;
                if skip > 0 {
                    data.seek_to(skip * dim as u64).map_err(io("seek", path))?;
                }
                Kind::Matrix {
                    data,
                    dim,
                    rows,
                    header,
                }
            }
        };
        Ok(Self {
            path: path.to_path_buf(),
            kind,
            pos,
            size,
            line_buf: Vec::new(),
            max_line: default_max_line_bytes(),
        })
    }

    /// Sets the longest JSON Lines line this reader accepts, in bytes (newline included; at
    /// least 1). See [`MAX_LINE_BYTES`].
    pub fn max_line_bytes(mut self, bytes: usize) -> Self {
        self.max_line = bytes.max(1);
        self
    }

    /// The source's size in bytes.
    pub fn size(&self) -> u64 {
        self.size
    }

    /// Where reading stands.
    pub fn position(&self) -> Position {
        self.pos
    }

    /// The dimension of a matrix source (`None` for JSON Lines).
    pub fn matrix_dim(&self) -> Option<usize> {
        match &self.kind {
            Kind::Lines(_) => None,
            Kind::Matrix { dim, .. } | Kind::Fvecs(_, dim) => Some(*dim),
        }
    }

    /// The next item, or `None` at the end. Blank lines are skipped (but counted).
    pub fn next_item(&mut self) -> Result<Option<Item>, StoreError> {
        let path = self.path.clone();
        match &mut self.kind {
            Kind::Lines(r) => loop {
                self.line_buf.clear();
                let line = self.pos.records + 1;
                let n = read_line_bounded(r, &mut self.line_buf, self.max_line)
                    .map_err(io("read", &path))?
                    .ok_or_else(|| StoreError::BadRecord {
                        path: path.clone(),
                        line,
                        detail: format!(
                            "line {line} longer than {} bytes (the JSON Lines line limit; \
                             ENGRAM_MAX_LINE_BYTES changes it)",
                            self.max_line
                        ),
                    })?;
                if n == 0 {
                    return Ok(None);
                }
                self.pos.offset += n as u64;
                self.pos.records += 1;
                let line = self.pos.records;
                let text = match std::str::from_utf8(&self.line_buf) {
                    Ok(t) => t.trim(),
                    Err(e) => {
                        return Ok(Some(Item::Bad {
                            line,
                            detail: format!("not UTF-8: {e}"),
                        }))
                    }
                };
                if text.is_empty() {
                    continue;
                }
                return Ok(Some(match parse_json(text, line) {
                    Ok(r) => Item::Record(r),
                    Err(detail) => Item::Bad { line, detail },
                }));
            },
            Kind::Matrix {
                data,
                dim,
                rows,
                header,
            } => {
                if self.pos.records >= *rows {
                    return Ok(None);
                }
                let mut v = Vec::with_capacity(*dim);
                for _ in 0..*dim {
                    match data.next() {
                        Some(Ok(x)) => v.push(x),
                        Some(Err(e)) => return Err(io("read", &path)(e)),
                        None => return Err(dim_error(&path, "the matrix is truncated")),
                    }
                }
                self.pos.records += 1;
                self.pos.offset = *header + self.pos.records * *dim as u64 * 4;
                Ok(Some(matrix_item(v, self.pos.records)))
            }
            Kind::Fvecs(r, dim) => {
                if self.pos.offset >= self.size {
                    return Ok(None);
                }
                let line = self.pos.records + 1;
                let mut d = [0u8; 4];
                r.read_exact(&mut d).map_err(io("read", &path))?;
                let got = i32::from_le_bytes(d);
                if got as i64 != *dim as i64 {
                    return Err(StoreError::BadRecord {
                        path,
                        line,
                        detail: format!("dimension {got}, the file's first vector has {dim}"),
                    });
                }
                let mut buf = vec![0u8; *dim * 4];
                r.read_exact(&mut buf).map_err(|_| StoreError::BadRecord {
                    path: path.clone(),
                    line,
                    detail: "the file ends inside this vector".into(),
                })?;
                let v = buf
                    .chunks_exact(4)
                    .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]))
                    .collect();
                self.pos.records += 1;
                self.pos.offset += 4 + *dim as u64 * 4;
                Ok(Some(matrix_item(v, line)))
            }
        }
    }
}

/// Reads one line (up to and including `\n`) into `buf`, holding at most `max` bytes:
/// `Ok(Some(bytes read))` (0 at the end), or `Ok(None)` once the line is longer than `max`
/// (the rest of it is not read).
fn read_line_bounded(
    r: &mut impl BufRead,
    buf: &mut Vec<u8>,
    max: usize,
) -> std::io::Result<Option<usize>> {
    loop {
        let avail = match r.fill_buf() {
            Ok(b) => b,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        };
        if avail.is_empty() {
            return Ok(Some(buf.len()));
        }
        let (take, done) = match avail.iter().position(|&b| b == b'\n') {
            Some(i) => (i + 1, true),
            None => (avail.len(), false),
        };
        if buf.len() + take > max {
            return Ok(None);
        }
        buf.extend_from_slice(&avail[..take]);
        r.consume(take);
        if done {
            return Ok(Some(buf.len()));
        }
    }
}

fn matrix_item(embedding: Vec<f32>, line: u64) -> Item {
    if let Some((col, x)) = embedding.iter().enumerate().find(|(_, x)| !x.is_finite()) {
        return Item::Bad {
            line,
            detail: format!("component {col} is {x}"),
        };
    }
    Item::Record(LegacyRecord {
        line,
        id: None,
        content: None,
        embedding,
        timestamp: line - 1,
        confidence: 1.0,
        stream: 0,
        kind: None,
        members: None,
        summary: false,
    })
}

/// Parses one JSON Lines record.
pub fn parse_json(text: &str, line: u64) -> Result<LegacyRecord, String> {
    let v: Value = serde_json::from_str(text).map_err(|e| format!("invalid JSON: {e}"))?;
    let o = v.as_object().ok_or("not a JSON object")?;
    let emb = o
        .get("embedding")
        .and_then(Value::as_array)
        .ok_or("no `embedding` array")?;
    let mut embedding = Vec::with_capacity(emb.len());
    for (i, x) in emb.iter().enumerate() {
        let f = x
            .as_f64()
            .ok_or_else(|| format!("embedding[{i}] is not a number"))?;
        if !f.is_finite() || f.abs() > f32::MAX as f64 {
            return Err(format!("embedding[{i}] = {f} is not a finite float32"));
        }
        embedding.push(f as f32);
    }
    if embedding.is_empty() {
        return Err("empty `embedding`".into());
    }
    let uint = |k: &str| -> Result<Option<u64>, String> {
        match o.get(k) {
            None | Some(Value::Null) => Ok(None),
            Some(x) => x
                .as_u64()
                .map(Some)
                .ok_or_else(|| format!("`{k}` is not a non-negative integer")),
        }
    };
    let confidence = match o.get("confidence") {
        None | Some(Value::Null) => 1.0,
        Some(x) => {
            let c = x.as_f64().ok_or("`confidence` is not a number")?;
            if !(0.0..=1.0).contains(&c) {
                return Err(format!("`confidence` {c} is outside [0, 1]"));
            }
            c as f32
        }
    };
    let id = match o.get("id") {
        None | Some(Value::Null) => None,
        Some(Value::String(s)) => Some(s.clone()),
        Some(x) => Some(x.to_string()),
    };
    let content = match o.get("content") {
        None | Some(Value::Null) => None,
        Some(Value::String(s)) => Some(s.clone()),
        Some(_) => return Err("`content` is not a string".into()),
    };
    let kind = match o.get("kind") {
        None | Some(Value::Null) => None,
        Some(Value::String(s)) => Some(s.clone()),
        Some(_) => return Err("`kind` is not a string".into()),
    };
    let summary = match o.get("summary") {
        None | Some(Value::Null) => false,
        Some(Value::Bool(b)) => *b,
        Some(_) => return Err("`summary` is not a boolean".into()),
    };
    Ok(LegacyRecord {
        line,
        id,
        content,
        embedding,
        timestamp: uint("timestamp")?.unwrap_or(0),
        confidence,
        stream: uint("stream")?.unwrap_or(0),
        kind,
        members: match uint("members")? {
            Some(m) => Some(m),
            None => uint("count")?,
        },
        summary,
    })
}
