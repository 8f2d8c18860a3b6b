//! The write-ahead log: every change since the last snapshot, one checksummed record each.
//!
//! ```text
//! file   = magic "ENGRAMWL" | version u32 (2) | generation u64 | dim u32 | log id u64
//!          | crc32c u32 (of the 32 bytes before it) | record*
//! record = len u32 | crc32c(payload) u32 | check u32 | payload (len bytes)
//! check  = masked crc32c of (len, crc32c(payload)) — see [`header_check`]
//! ```
//!
//! The header check makes a record header self-validating: a flipped length, an erased
//! (0xFF) or zeroed sector is told apart from a record cut short by a crash. The log's
//! generation must equal the snapshot's (or be one less: a checkpoint was interrupted after
//! the new snapshot was in place, and the log is stale), and its id must be the one the
//! snapshot's checkpoint gave it, so a log from another store or checkpoint is refused.
//!
//! **Torn tail or corruption.** Only an incomplete record at the physical end of the file — a
//! header cut short, a valid header whose payload runs past the end with no valid record
//! anywhere after it, or zeros from a record boundary to the end (a file extended by a crash
//! before its data was written) — is a torn tail: bytes a crash cut off before they were
//! acknowledged. (A torn tail shorter than the length sealed at the last clean close is
//! corruption all the same, see [`super::seal`].)
//! A complete record whose checksum fails, a header that fails its check, or damage followed
//! by more valid records is [`StoreError::Corrupt`] with the file and offset; nothing is
//! truncated then unless the caller asks for a repair.
//!
//! Version 1 logs (`len | crc32c(len) | crc32c(payload)` record headers, a 28-byte file
//! header without an id) are still read; a writer that opens one checkpoints at once, so the
//! store continues with a version 2 log.

use std::fs::{File, OpenOptions};
use std::io::{BufReader, Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Condvar, Mutex};
use std::thread::JoinHandle;
use std::time::Duration;

use super::format::{atomic_write, corrupt, crc, io, WAL_MAGIC, WAL_VERSION};
use crate::error::StoreError;

/// Bytes of the log header (version 2).
pub const HEADER_BYTES: u64 = 36;
/// Bytes of a version 1 log header.
pub const V1_HEADER_BYTES: u64 = 28;
/// Bytes of a record header.
pub const RECORD_HEADER_BYTES: u64 = 12;

/// When the log is fsynced, and so what a crash can lose.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum SyncPolicy {
    /// fsync after every write before it returns: an acknowledged write survives a crash of
    /// the process or of the machine. The slowest.
    #[default]
    EveryWrite,
    /// A background thread fsyncs the log every interval when something was written: a
    /// process crash loses nothing acknowledged (records are in the kernel when a call
    /// returns), a machine crash loses at most the writes of about the last two intervals.
    /// Writers never wait for the disk. [`crate::persist::DurableEngram::sync`] and dropping
    /// the store fsync at once.
    Interval(Duration),
    /// Never fsync the log (only checkpoints are fsynced): a process crash loses nothing
    /// acknowledged, a machine crash may lose everything since the last checkpoint.
    Never,
}

/// The open log, positioned at its end.
#[derive(Debug)]
pub struct Wal {
    file: File,
    path: PathBuf,
    len: u64,
    generation: u64,
    log_id: u64,
    sync: SyncPolicy,
    unsynced: bool,
    buf: Vec<u8>,
    syncer: Option<Syncer>,
}

/// The background fsync thread of [`SyncPolicy::Interval`].
#[derive(Debug)]
struct Syncer {
    shared: Arc<SyncShared>,
    thread: Option<JoinHandle<()>>,
}

#[derive(Debug)]
struct SyncShared {
    dirty: AtomicBool,
    stop: Mutex<bool>,
    wake: Condvar,
    error: Mutex<Option<std::io::Error>>,
}

impl Syncer {
    fn start(file: File, every: Duration) -> Self {
        let shared = Arc::new(SyncShared {
            dirty: AtomicBool::new(false),
            stop: Mutex::new(false),
            wake: Condvar::new(),
            error: Mutex::new(None),
        });
        let s = shared.clone();
        let thread = std::thread::Builder::new()
            .name("engram-wal-sync".into())
            .spawn(move || loop {
                let stop = {
                    let Ok(g) = s.stop.lock() else { return };
                    match s.wake.wait_timeout_while(g, every, |stop| !*stop) {
                        Ok((g, _)) => *g,
                        Err(_) => return,
                    }
                };
                if s.dirty.swap(false, Ordering::AcqRel) {
                    if let Err(e) = file.sync_data() {
                        if let Ok(mut slot) = s.error.lock() {
                            *slot = Some(e);
                        }
                    }
                }
                if stop {
                    return;
                }
            })
            .ok();
        Self { shared, thread }
    }

    fn take_error(&self) -> Option<std::io::Error> {
        self.shared.error.lock().ok().and_then(|mut e| e.take())
    }
}

impl Drop for Syncer {
    fn drop(&mut self) {
        if let Ok(mut s) = self.shared.stop.lock() {
            *s = true;
        }
        self.shared.wake.notify_all();
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

fn header(generation: u64, dim: u32, log_id: u64) -> [u8; HEADER_BYTES as usize] {
    let mut h = [0u8; HEADER_BYTES as usize];
    h[..8].copy_from_slice(&WAL_MAGIC);
    h[8..12].copy_from_slice(&WAL_VERSION.to_le_bytes());
    h[12..20].copy_from_slice(&generation.to_le_bytes());
    h[20..24].copy_from_slice(&dim.to_le_bytes());
    h[24..32].copy_from_slice(&log_id.to_le_bytes());
    let c = crc(0, &h[..32]);
    h[32..].copy_from_slice(&c.to_le_bytes());
    h
}

/// The checksum guarding a record header: CRC-32C of the length and the payload checksum,
/// masked (rotated and offset, as LevelDB does) so that runs of 0x00 or 0xFF bytes — what
/// an erased or zeroed sector reads as — never form a valid header.
pub fn header_check(len: u32, payload_crc: u32) -> u32 {
    let mut b = [0u8; 8];
    b[..4].copy_from_slice(&len.to_le_bytes());
    b[4..].copy_from_slice(&payload_crc.to_le_bytes());
    let c = crc(0, &b);
    c.rotate_right(15).wrapping_add(0xa282_ead8)
}

/// Encodes a record header for a payload of `len` bytes with checksum `payload_crc`.
pub fn record_header(len: u32, payload_crc: u32) -> [u8; RECORD_HEADER_BYTES as usize] {
    let mut h = [0u8; RECORD_HEADER_BYTES as usize];
    h[..4].copy_from_slice(&len.to_le_bytes());
    h[4..8].copy_from_slice(&payload_crc.to_le_bytes());
    h[8..].copy_from_slice(&header_check(len, payload_crc).to_le_bytes());
    h
}

impl Wal {
    /// Replaces the log at `path` with an empty one of `generation` and id `log_id`
    /// (atomically).
    pub fn create(
        path: &Path,
        generation: u64,
        log_id: u64,
        dim: usize,
        sync: SyncPolicy,
    ) -> Result<Self, StoreError> {
        let h = header(generation, dim as u32, log_id);
        atomic_write(path, |w| w.write_all(&h))?;
        Self::open_at(path, HEADER_BYTES, generation, log_id, sync)
    }

    /// Opens an existing version 2 log for appending after byte `len` (the end of its last
    /// good record); anything after it (a torn tail, checked as such by [`WalReader`]) is cut
    /// off first.
    pub fn open_at(
        path: &Path,
        len: u64,
        generation: u64,
        log_id: u64,
        sync: SyncPolicy,
    ) -> Result<Self, StoreError> {
        let mut file = OpenOptions::new()
            .read(true)
            .write(true)
            .open(path)
            .map_err(io("open", path))?;
        let actual = file.metadata().map_err(io("stat", path))?.len();
        if actual != len {
            file.set_len(len).map_err(io("truncate torn tail", path))?;
            file.sync_all().map_err(io("fsync", path))?;
        }
        file.seek(SeekFrom::Start(len)).map_err(io("seek", path))?;
        let mut w = Self {
            file,
            path: path.to_path_buf(),
            len,
            generation,
            log_id,
            sync: SyncPolicy::Never,
            unsynced: false,
            buf: Vec::new(),
            syncer: None,
        };
        w.set_policy(sync)?;
        Ok(w)
    }

    /// The log's size in bytes.
    pub fn len(&self) -> u64 {
        self.len
    }

    /// Whether the log holds no record.
    pub fn is_empty(&self) -> bool {
        self.len == HEADER_BYTES
    }

    /// The generation of the snapshot this log follows.
    pub fn generation(&self) -> u64 {
        self.generation
    }

    /// The id the checkpoint gave this log (recorded in the snapshot).
    pub fn log_id(&self) -> u64 {
        self.log_id
    }

    /// The sync policy.
    pub fn policy(&self) -> SyncPolicy {
        self.sync
    }

    /// Sets the sync policy (fsyncing what was written so far).
    pub fn set_policy(&mut self, sync: SyncPolicy) -> Result<(), StoreError> {
        self.sync()?;
        self.syncer = None;
        if let SyncPolicy::Interval(d) = sync {
            let f = self
                .file
                .try_clone()
                .map_err(io("clone handle of", &self.path))?;
            self.syncer = Some(Syncer::start(f, d));
        }
        self.sync = sync;
        Ok(())
    }

    /// Appends one record whose payload is built by `fill` (into a reused buffer), then
    /// syncs as the policy says. When this returns, the record is in the kernel.
    pub fn append(&mut self, fill: impl FnOnce(&mut Vec<u8>)) -> Result<(), StoreError> {
        let mut buf = std::mem::take(&mut self.buf);
        buf.clear();
        buf.extend_from_slice(&[0u8; RECORD_HEADER_BYTES as usize]);
        fill(&mut buf);
        let plen = buf.len() - RECORD_HEADER_BYTES as usize;
        let Ok(plen32) = u32::try_from(plen) else {
            self.buf = buf;
            return Err(StoreError::Other(format!(
                "a log record of {plen} bytes exceeds 4 GiB: write smaller batches"
            )));
        };
        let pc = crc(0, &buf[RECORD_HEADER_BYTES as usize..]);
        buf[..RECORD_HEADER_BYTES as usize].copy_from_slice(&record_header(plen32, pc));
        let r = self.file.write_all(&buf);
        let n = buf.len() as u64;
        self.buf = buf;
        if let Err(e) = r {
            // Cut a partial record so the file ends at a record boundary again.
            let _ = self.file.set_len(self.len);
            let _ = self.file.seek(SeekFrom::Start(self.len));
            return Err(io("append to", &self.path)(e));
        }
        self.len += n;
        self.unsynced = true;
        match (&self.syncer, self.sync) {
            (_, SyncPolicy::EveryWrite) => self.sync()?,
            (Some(s), _) => {
                if let Some(e) = s.take_error() {
                    return Err(io("background fsync of", &self.path)(e));
                }
                s.shared.dirty.store(true, Ordering::Release);
            }
            _ => {}
        }
        Ok(())
    }

    /// fsyncs the log (data only) now if anything was written since the last fsync.
    pub fn sync(&mut self) -> Result<(), StoreError> {
        if self.unsynced {
            if let Some(s) = &self.syncer {
                s.shared.dirty.store(false, Ordering::Release);
            }
            super::crash::file_point("fsync", &self.path);
            self.file.sync_data().map_err(io("fsync", &self.path))?;
            self.unsynced = false;
        }
        Ok(())
    }
}

/// How the end of the log looked when it was read.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Tail {
    /// The end of the last good record.
    pub good_len: u64,
    /// Bytes after it that were dropped as a torn tail (0 when the log ended cleanly).
    pub dropped_bytes: u64,
}

/// Bytes scanned at a time when looking for valid records after a record that runs past the
/// end of the log.
const SCAN_WINDOW: usize = 1 << 20;
/// Candidate headers (passing their check) whose payload the scan verifies before it stops
/// and calls the tail damaged: a crash leaves at most one partial record, never thousands of
/// self-consistent headers, and the bound keeps a crafted log from making opening slow.
const SCAN_CANDIDATES: u32 = 64;
/// Payload bytes the scan verifies at most, for the same reason.
const SCAN_PAYLOAD_BYTES: u64 = 1 << 30;

/// Reads a log record by record. It only reads: it never changes the file.
pub struct WalReader<'p> {
    r: BufReader<File>,
    path: &'p Path,
    size: u64,
    offset: u64,
    /// The log's format version (1 or 2).
    pub version: u32,
    /// The log's generation.
    pub generation: u64,
    /// The log's dimension.
    pub dim: usize,
    /// The id its checkpoint gave the log (`None` for a version 1 log, which has none).
    pub log_id: Option<u64>,
    tail: Option<Tail>,
}

impl<'p> WalReader<'p> {
    /// Opens a log and checks its header.
    pub fn open(path: &'p Path) -> Result<Self, StoreError> {
        let f = File::open(path).map_err(io("open", path))?;
        let size = f.metadata().map_err(io("stat", path))?.len();
        let mut r = BufReader::with_capacity(1 << 20, f);
        if size < V1_HEADER_BYTES {
            return Err(corrupt(
                path,
                "log header",
                0,
                "the log is shorter than its header",
            ));
        }
        let mut h = [0u8; HEADER_BYTES as usize];
        r.read_exact(&mut h[..V1_HEADER_BYTES as usize])
            .map_err(io("read", path))?;
        if h[..8] != WAL_MAGIC {
            return Err(corrupt(
                path,
                "log header",
                0,
                "not an engram log (bad magic)",
            ));
        }
        let version = u32::from_le_bytes([h[8], h[9], h[10], h[11]]);
        let le64 = |b: &[u8]| {
            let mut a = [0u8; 8];
            a.copy_from_slice(b);
            u64::from_le_bytes(a)
        };
        let (header_len, log_id) = match version {
            1 => {
                if crc(0, &h[..24]).to_le_bytes() != h[24..28] {
                    return Err(corrupt(path, "log header", 0, "checksum mismatch"));
                }
                (V1_HEADER_BYTES, None)
            }
            WAL_VERSION => {
                if size < HEADER_BYTES {
                    return Err(corrupt(
                        path,
                        "log header",
                        0,
                        "the log is shorter than its header",
                    ));
                }
                r.read_exact(&mut h[V1_HEADER_BYTES as usize..])
                    .map_err(io("read", path))?;
                if crc(0, &h[..32]).to_le_bytes() != h[32..36] {
                    return Err(corrupt(path, "log header", 0, "checksum mismatch"));
                }
                (HEADER_BYTES, Some(le64(&h[24..32])))
            }
            found => {
                return Err(StoreError::Version {
                    path: path.to_path_buf(),
                    found,
                    supported: format!("1 and {WAL_VERSION}"),
                })
            }
        };
        Ok(Self {
            r,
            path,
            size,
            offset: header_len,
            version,
            generation: le64(&h[12..20]),
            dim: u32::from_le_bytes([h[20], h[21], h[22], h[23]]) as usize,
            log_id,
            tail: None,
        })
    }

    /// The log's size when it was opened (a writer may append meanwhile; the reader stops at
    /// this size).
    pub fn size(&self) -> u64 {
        self.size
    }

    /// The offset of the next record to read: after an error, where the damage begins.
    pub fn offset(&self) -> u64 {
        self.offset
    }

    /// How the log ended (after [`WalReader::next_record`] returned `None`).
    pub fn tail(&self) -> Tail {
        self.tail.unwrap_or(Tail {
            good_len: self.offset,
            dropped_bytes: 0,
        })
    }

    fn torn(&mut self) -> Option<(u64, Vec<u8>)> {
        self.tail = Some(Tail {
            good_len: self.offset,
            dropped_bytes: self.size - self.offset,
        });
        None
    }

    /// The length and payload checksum a record header gives, if its check passes.
    fn parse_header(version: u32, h: &[u8]) -> Option<(u64, u32)> {
        let w = |i: usize| u32::from_le_bytes([h[i], h[i + 1], h[i + 2], h[i + 3]]);
        let len = w(0);
        if version == 1 {
            (crc(0, &h[..4]) == w(4)).then_some((u64::from(len), w(8)))
        } else {
            (header_check(len, w(4)) == w(8)).then_some((u64::from(len), w(4)))
        }
    }

    /// The offset of the first complete, valid record that starts at or after `from`, if
    /// any: evidence that the bytes before it are damage, not a torn tail. (Also the offset
    /// where the scan's bounds ran out, which is evidence of damage all the same.)
    fn find_valid_record(&self, from: u64) -> Result<Option<u64>, StoreError> {
        let mut f = File::open(self.path).map_err(io("open", self.path))?;
        let hb = RECORD_HEADER_BYTES as usize;
        let (mut candidates, mut verified) = (0u32, 0u64);
        let mut buf = vec![0u8; SCAN_WINDOW + hb];
        let mut pos = from;
        while pos + RECORD_HEADER_BYTES <= self.size {
            let n = (self.size - pos).min(buf.len() as u64) as usize;
            f.seek(SeekFrom::Start(pos))
                .map_err(io("seek", self.path))?;
            f.read_exact(&mut buf[..n]).map_err(io("read", self.path))?;
            let starts = (n + 1 - hb).min(SCAN_WINDOW);
            for i in 0..starts {
                let Some((len, pcrc)) = Self::parse_header(self.version, &buf[i..i + hb]) else {
                    continue;
                };
                let at = pos + i as u64;
                if len > self.size - at - RECORD_HEADER_BYTES {
                    continue;
                }
                candidates += 1;
                verified += len;
                if candidates > SCAN_CANDIDATES || verified > SCAN_PAYLOAD_BYTES {
                    return Ok(Some(at));
                }
                let mut p = File::open(self.path).map_err(io("open", self.path))?;
                p.seek(SeekFrom::Start(at + RECORD_HEADER_BYTES))
                    .map_err(io("seek", self.path))?;
                let mut payload = vec![0u8; len as usize];
                p.read_exact(&mut payload).map_err(io("read", self.path))?;
                if crc(0, &payload) == pcrc {
                    return Ok(Some(at));
                }
            }
            pos += starts as u64;
        }
        Ok(None)
    }

    /// Whether every byte from the read position to the end of the file is zero.
    fn rest_is_zero(&mut self) -> Result<bool, StoreError> {
        let mut buf = vec![0u8; 64 << 10];
        loop {
            let n = self.r.read(&mut buf).map_err(io("read", self.path))?;
            if n == 0 {
                return Ok(true);
            }
            if buf[..n].iter().any(|&b| b != 0) {
                return Ok(false);
            }
        }
    }

    /// The next record as (offset, payload); `None` at the end of the log or at a torn
    /// tail (see [`WalReader::tail`] and the module documentation). Any other damage is a
    /// [`StoreError::Corrupt`] naming the record's offset.
    pub fn next_record(&mut self) -> Result<Option<(u64, Vec<u8>)>, StoreError> {
        let rest = self.size - self.offset;
        if rest == 0 {
            return Ok(None);
        }
        if rest < RECORD_HEADER_BYTES {
            // A header cut short by a crash.
            return Ok(self.torn());
        }
        let mut h = [0u8; RECORD_HEADER_BYTES as usize];
        self.r.read_exact(&mut h).map_err(io("read", self.path))?;
        let Some((len, pcrc)) = Self::parse_header(self.version, &h) else {
            if h.iter().all(|&b| b == 0) && self.rest_is_zero()? {
                // Zeros from a record boundary to the end: what a file system leaves when a
                // crash extended the file before the data reached the disk.
                return Ok(self.torn());
            }
            return Err(corrupt(
                self.path,
                "log record header",
                self.offset,
                "header checksum mismatch (a damaged record, not a torn tail)",
            ));
        };
        if len > rest - RECORD_HEADER_BYTES {
            // Runs past the end of the file: cut short by a crash — unless valid records
            // follow, which a crash cannot have written after it.
            if let Some(at) = self.find_valid_record(self.offset + 1)? {
                return Err(corrupt(
                    self.path,
                    "log record header",
                    self.offset,
                    format!(
                        "a record of {len} bytes runs past the end of the log, yet a valid \
                         record follows at offset {at}: the length is damaged"
                    ),
                ));
            }
            return Ok(self.torn());
        }
        let mut payload = vec![0u8; len as usize];
        self.r
            .read_exact(&mut payload)
            .map_err(io("read", self.path))?;
        if crc(0, &payload) != pcrc {
            return Err(corrupt(
                self.path,
                "log record",
                self.offset,
                "payload checksum mismatch (a complete record is damaged)",
            ));
        }
        let at = self.offset;
        self.offset += RECORD_HEADER_BYTES + len;
        Ok(Some((at, payload)))
    }
}
