//! The write-ahead log: every change since the last snapshot, one checksummed record each.
//!
//! ```text
//! file   = magic "ENGRAMWL" | version u32 | generation u64 | dim u32 | crc32c u32 | record*
//! record = len u32 | crc32c(len) u32 | crc32c(payload) u32 | payload (len bytes)
//! ```
//!
//! The length has its own checksum, so a flipped length byte is told apart from a record cut
//! short by a crash. The log's generation must equal the snapshot's (or be one less: a
//! checkpoint was interrupted after the new snapshot was in place, and the log is stale).

use std::fs::{File, OpenOptions};
use std::io::{BufReader, Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Condvar, Mutex};
use std::thread::JoinHandle;
use std::time::Duration;

use super::format::{atomic_write, corrupt, crc, io, WAL_MAGIC, WAL_VERSION};
use crate::error::StoreError;

/// Bytes of the log header.
pub const HEADER_BYTES: u64 = 28;
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

fn header(generation: u64, dim: u32) -> [u8; HEADER_BYTES as usize] {
    let mut h = [0u8; HEADER_BYTES as usize];
    h[..8].copy_from_slice(&WAL_MAGIC);
    h[8..12].copy_from_slice(&WAL_VERSION.to_le_bytes());
    h[12..20].copy_from_slice(&generation.to_le_bytes());
    h[20..24].copy_from_slice(&dim.to_le_bytes());
    let c = crc(0, &h[..24]);
    h[24..].copy_from_slice(&c.to_le_bytes());
    h
}

impl Wal {
    /// Replaces the log at `path` with an empty one of `generation` (atomically).
    pub fn create(
        path: &Path,
        generation: u64,
        dim: usize,
        sync: SyncPolicy,
    ) -> Result<Self, StoreError> {
        let h = header(generation, dim as u32);
        atomic_write(path, |w| w.write_all(&h))?;
        Self::open_at(path, HEADER_BYTES, generation, sync)
    }

    /// Opens an existing log for appending after byte `len` (the end of its last good
    /// record); anything after it (a torn tail) is cut off first.
    pub fn open_at(
        path: &Path,
        len: u64,
        generation: u64,
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
        let lb = plen32.to_le_bytes();
        let pc = crc(0, &buf[RECORD_HEADER_BYTES as usize..]);
        buf[..4].copy_from_slice(&lb);
        buf[4..8].copy_from_slice(&crc(0, &lb).to_le_bytes());
        buf[8..12].copy_from_slice(&pc.to_le_bytes());
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

/// Reads a log record by record.
pub struct WalReader<'p> {
    r: BufReader<File>,
    path: &'p Path,
    size: u64,
    offset: u64,
    /// The log's generation.
    pub generation: u64,
    /// The log's dimension.
    pub dim: usize,
    tail: Option<Tail>,
}

impl<'p> WalReader<'p> {
    /// Opens a log and checks its header.
    pub fn open(path: &'p Path) -> Result<Self, StoreError> {
        let f = File::open(path).map_err(io("open", path))?;
        let size = f.metadata().map_err(io("stat", path))?.len();
        let mut r = BufReader::with_capacity(1 << 20, f);
        let mut h = [0u8; HEADER_BYTES as usize];
        if size < HEADER_BYTES {
            return Err(corrupt(
                path,
                "log header",
                0,
                "the log is shorter than its header",
            ));
        }
        r.read_exact(&mut h).map_err(io("read", path))?;
        if h[..8] != WAL_MAGIC {
            return Err(corrupt(
                path,
                "log header",
                0,
                "not an engram log (bad magic)",
            ));
        }
        let version = u32::from_le_bytes([h[8], h[9], h[10], h[11]]);
        if version != WAL_VERSION {
            return Err(StoreError::Version {
                path: path.to_path_buf(),
                found: version,
                supported: WAL_VERSION.to_string(),
            });
        }
        if crc(0, &h[..24]).to_le_bytes() != h[24..28] {
            return Err(corrupt(path, "log header", 0, "checksum mismatch"));
        }
        let mut g = [0u8; 8];
        g.copy_from_slice(&h[12..20]);
        Ok(Self {
            r,
            path,
            size,
            offset: HEADER_BYTES,
            generation: u64::from_le_bytes(g),
            dim: u32::from_le_bytes([h[20], h[21], h[22], h[23]]) as usize,
            tail: None,
        })
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

    /// The next record as (offset, payload); `None` at the end of the log or at a torn
    /// tail (see [`WalReader::tail`]). A damaged record that is not the last is an error.
    pub fn next_record(&mut self) -> Result<Option<(u64, Vec<u8>)>, StoreError> {
        let rest = self.size - self.offset;
        if rest == 0 {
            return Ok(None);
        }
        if rest < RECORD_HEADER_BYTES {
            return Ok(self.torn());
        }
        let mut h = [0u8; RECORD_HEADER_BYTES as usize];
        self.r.read_exact(&mut h).map_err(io("read", self.path))?;
        let len = u32::from_le_bytes([h[0], h[1], h[2], h[3]]) as u64;
        if crc(0, &h[..4]).to_le_bytes() != h[4..8] {
            // A header cut by a crash at the end of the file is zeros or a prefix of a real
            // one; anything else is damage.
            let mut rest_bytes = Vec::new();
            self.r
                .read_to_end(&mut rest_bytes)
                .map_err(io("read", self.path))?;
            if h.iter().chain(&rest_bytes).all(|&b| b == 0) {
                return Ok(self.torn());
            }
            return Err(corrupt(
                self.path,
                "log record header",
                self.offset,
                "length checksum mismatch",
            ));
        }
        if len > rest - RECORD_HEADER_BYTES {
            // Cut short by a crash: the record runs past the end of the file.
            return Ok(self.torn());
        }
        let mut payload = vec![0u8; len as usize];
        self.r
            .read_exact(&mut payload)
            .map_err(io("read", self.path))?;
        if crc(0, &payload).to_le_bytes() != h[8..12] {
            if self.offset + RECORD_HEADER_BYTES + len == self.size {
                // The last record, damaged in place by a crash mid-write.
                return Ok(self.torn());
            }
            return Err(corrupt(
                self.path,
                "log record",
                self.offset,
                "checksum mismatch",
            ));
        }
        let at = self.offset;
        self.offset += RECORD_HEADER_BYTES + len;
        Ok(Some((at, payload)))
    }
}
