//! Byte-level building blocks shared by the snapshot and the log: little-endian encoding, a
//! bounds-checked decoder, checksums, and the atomic-replace and fsync helpers.

use std::fs::{self, File};
use std::io::Write;
use std::path::{Path, PathBuf};

use crate::error::StoreError;
use crate::memory::{Concept, ConceptId, ConceptState, EpisodeMeta, Payload};

/// The snapshot format version this build writes (it also reads versions 1 to 3, see
/// [`super::snapshot`]).
pub const SNAPSHOT_VERSION: u32 = 4;
/// The log format version this build writes (it also reads version 1, see [`super::wal`]).
pub const WAL_VERSION: u32 = 2;
/// Magic bytes opening a snapshot file.
pub const SNAPSHOT_MAGIC: [u8; 8] = *b"ENGRAMSN";
/// Magic bytes opening a log file.
pub const WAL_MAGIC: [u8; 8] = *b"ENGRAMWL";
/// The snapshot's file name inside a store directory.
pub const SNAPSHOT_FILE: &str = "snapshot.eng";
/// The log's file name inside a store directory.
pub const WAL_FILE: &str = "wal.log";

/// CRC-32C (Castagnoli, hardware accelerated) of `data`, continuing from `crc`.
#[inline]
pub fn crc(crc: u32, data: &[u8]) -> u32 {
    crc32c::crc32c_append(crc, data)
}

/// An I/O error as a [`StoreError`].
pub fn io<'a>(op: &'static str, path: &'a Path) -> impl FnOnce(std::io::Error) -> StoreError + 'a {
    move |source| StoreError::Io {
        op,
        path: path.to_path_buf(),
        source,
    }
}

/// A corruption error.
pub fn corrupt(path: &Path, section: &str, offset: u64, detail: impl Into<String>) -> StoreError {
    StoreError::Corrupt {
        path: path.to_path_buf(),
        section: section.to_string(),
        offset,
        detail: detail.into(),
    }
}

/// Fsyncs a directory so a rename or a new file in it is durable.
pub fn sync_dir(dir: &Path) -> Result<(), StoreError> {
    #[cfg(unix)]
    {
        let f = File::open(dir).map_err(io("open directory", dir))?;
        f.sync_all().map_err(io("fsync directory", dir))?;
    }
    #[cfg(not(unix))]
    let _ = dir;
    Ok(())
}

/// Removes the file at `path`; a file that is not there is no error.
pub fn remove_if_exists(path: &Path) -> Result<(), StoreError> {
    match fs::remove_file(path) {
        Err(e) if e.kind() != std::io::ErrorKind::NotFound => Err(io("remove", path)(e)),
        _ => Ok(()),
    }
}

/// The temporary name a file is written under before it is renamed into place.
pub fn tmp_path(path: &Path) -> PathBuf {
    let mut s = path.as_os_str().to_owned();
    s.push(".tmp");
    PathBuf::from(s)
}

/// Writes a file atomically: `write` fills a temporary file, which is fsynced, renamed over
/// `path`, and the directory fsynced. On error the temporary file is removed and `path` is
/// untouched.
pub fn atomic_write(
    path: &Path,
    write: impl FnOnce(&mut std::io::BufWriter<&File>) -> std::io::Result<()>,
) -> Result<(), StoreError> {
    let tmp = tmp_path(path);
    let result = (|| {
        let f = File::create(&tmp).map_err(io("create", &tmp))?;
        {
            let mut w = std::io::BufWriter::with_capacity(1 << 20, &f);
            write(&mut w).map_err(io("write", &tmp))?;
            w.flush().map_err(io("write", &tmp))?;
        }
        super::crash::file_point("fsync", &tmp);
        f.sync_all().map_err(io("fsync", &tmp))?;
        drop(f);
        super::crash::file_point("rename", path);
        fs::rename(&tmp, path).map_err(io("rename into place", path))?;
        super::crash::file_point("renamed", path);
        if let Some(dir) = path.parent() {
            sync_dir(dir)?;
        }
        Ok(())
    })();
    if result.is_err() {
        let _ = fs::remove_file(&tmp);
    }
    result
}

/// Appends little-endian values to a byte buffer.
#[derive(Debug, Default)]
pub struct Enc {
    /// The bytes written so far.
    pub buf: Vec<u8>,
}

impl Enc {
    /// Appends a byte.
    pub fn u8(&mut self, v: u8) {
        self.buf.push(v);
    }
    /// Appends a u32.
    pub fn u32(&mut self, v: u32) {
        self.buf.extend_from_slice(&v.to_le_bytes());
    }
    /// Appends a u64.
    pub fn u64(&mut self, v: u64) {
        self.buf.extend_from_slice(&v.to_le_bytes());
    }
    /// Appends an f32 (its bits).
    pub fn f32(&mut self, v: f32) {
        self.u32(v.to_bits());
    }
    /// Appends a slice of f32 values.
    pub fn f32s(&mut self, v: &[f32]) {
        extend_f32_le(&mut self.buf, v);
    }
    /// Appends length-prefixed bytes.
    pub fn bytes(&mut self, v: &[u8]) {
        self.u32(v.len() as u32);
        self.buf.extend_from_slice(v);
    }
    /// Appends an optional payload: a tag (0 none, 1 bytes, 2 text) and its bytes.
    pub fn payload(&mut self, p: Option<&Payload>) {
        match p {
            None => self.u8(0),
            Some(Payload::Bytes(b)) => {
                self.u8(1);
                self.bytes(b);
            }
            Some(Payload::Text(t)) => {
                self.u8(2);
                self.bytes(t.as_bytes());
            }
        }
    }
    /// Appends episode metadata as given by the caller.
    pub fn meta(&mut self, m: &EpisodeMeta) {
        self.u64(m.timestamp);
        self.f32(m.confidence);
        self.u64(m.stream);
        self.payload(m.payload.as_ref());
    }
}

/// Appends f32 values as little-endian bytes.
pub fn extend_f32_le(buf: &mut Vec<u8>, v: &[f32]) {
    if cfg!(target_endian = "little") {
        buf.extend_from_slice(bytemuck::cast_slice(v));
    } else {
        for x in v {
            buf.extend_from_slice(&x.to_le_bytes());
        }
    }
}

/// Reads little-endian values from a byte slice; every read is bounds-checked and a short
/// read is an error naming what was being read.
#[derive(Debug)]
pub struct Dec<'a> {
    buf: &'a [u8],
    pos: usize,
}

impl<'a> Dec<'a> {
    /// A decoder over `buf`.
    pub fn new(buf: &'a [u8]) -> Self {
        Self { buf, pos: 0 }
    }
    /// Bytes not yet read.
    pub fn remaining(&self) -> usize {
        self.buf.len() - self.pos
    }
    /// The read position.
    pub fn pos(&self) -> usize {
        self.pos
    }
    /// The next `n` bytes.
    pub fn take(&mut self, n: usize) -> Result<&'a [u8], String> {
        if self.remaining() < n {
            return Err(format!(
                "needs {n} more bytes at {}, only {} left",
                self.pos,
                self.remaining()
            ));
        }
        let s = &self.buf[self.pos..self.pos + n];
        self.pos += n;
        Ok(s)
    }
    /// A byte.
    pub fn u8(&mut self) -> Result<u8, String> {
        Ok(self.take(1)?[0])
    }
    /// A u32.
    pub fn u32(&mut self) -> Result<u32, String> {
        let b = self.take(4)?;
        Ok(u32::from_le_bytes([b[0], b[1], b[2], b[3]]))
    }
    /// A u64.
    pub fn u64(&mut self) -> Result<u64, String> {
        let b = self.take(8)?;
        let mut a = [0u8; 8];
        a.copy_from_slice(b);
        Ok(u64::from_le_bytes(a))
    }
    /// An f32.
    pub fn f32(&mut self) -> Result<f32, String> {
        Ok(f32::from_bits(self.u32()?))
    }
    /// `n` f32 values.
    pub fn f32s(&mut self, n: usize) -> Result<Vec<f32>, String> {
        let bytes = n
            .checked_mul(4)
            .ok_or_else(|| format!("{n} floats overflow"))?;
        let b = self.take(bytes)?;
        Ok(b.chunks_exact(4)
            .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]))
            .collect())
    }
    /// Checks a count read from the data before anything is allocated for it: `n` items of
    /// at least `min_each` bytes each must fit in the bytes not yet read (overflow-checked).
    /// Returns `n` as a `usize`; `what` names the items in the error.
    pub fn count(&self, n: u64, min_each: usize, what: &str) -> Result<usize, String> {
        let fits = usize::try_from(n).ok().filter(|&k| {
            k.checked_mul(min_each.max(1))
                .is_some_and(|b| b <= self.remaining())
        });
        fits.ok_or_else(|| {
            format!(
                "{n} {what} of at least {min_each} bytes each do not fit in the {} bytes left",
                self.remaining()
            )
        })
    }
    /// Length-prefixed bytes.
    pub fn bytes(&mut self) -> Result<&'a [u8], String> {
        let n = self.u32()? as usize;
        self.take(n)
    }
    /// An optional payload.
    pub fn payload(&mut self) -> Result<Option<Payload>, String> {
        match self.u8()? {
            0 => Ok(None),
            1 => Ok(Some(Payload::Bytes(self.bytes()?.to_vec()))),
            2 => {
                let b = self.bytes()?;
                let s = std::str::from_utf8(b).map_err(|e| format!("payload text: {e}"))?;
                Ok(Some(Payload::Text(s.to_owned())))
            }
            t => Err(format!("unknown payload tag {t}")),
        }
    }
    /// A concept and its centroid as the snapshot's CONC section and the log's concept
    /// records lay them out: id u64, coherence f32, members u64, strength f32, state u8
    /// (0 proto, 1 promoted), confirmations u32, formed u64, updated u64, centroid (`dim`
    /// f32). Only the layout is checked; the callers check ids and cycles against their
    /// store.
    pub fn concept(&mut self, dim: usize) -> Result<(Concept, Vec<f32>), String> {
        let id = ConceptId(self.u64()?);
        let coherence = self.f32()?;
        let members = self.u64()?;
        let strength = self.f32()?;
        let state = match self.u8()? {
            0 => ConceptState::Proto,
            1 => ConceptState::Promoted,
            s => return Err(format!("concept {id}: unknown state {s}")),
        };
        let concept = Concept {
            id,
            coherence,
            members,
            strength,
            state,
            confirmations: self.u32()?,
            formed_cycle: self.u64()?,
            updated_cycle: self.u64()?,
        };
        Ok((concept, self.f32s(dim)?))
    }

    /// Episode metadata as written by [`Enc::meta`].
    pub fn meta(&mut self) -> Result<EpisodeMeta, String> {
        Ok(EpisodeMeta {
            timestamp: self.u64()?,
            confidence: self.f32()?,
            stream: self.u64()?,
            payload: self.payload()?,
        })
    }
    /// Fails unless every byte was read.
    pub fn finish(&self) -> Result<(), String> {
        if self.remaining() != 0 {
            return Err(format!("{} unexpected trailing bytes", self.remaining()));
        }
        Ok(())
    }
}
