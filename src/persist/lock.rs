//! One writer per store: an OS advisory lock on the file `LOCK` in the store's directory,
//! held for the life of a writable handle.
//!
//! The lock is `flock(2)`-style (through [`std::fs::File::try_lock`]): the kernel releases it
//! when the process ends, however it ends, so a crash never leaves a store locked. Locks are
//! per open file, so a second writable handle in the same process is refused too. Readers
//! ([`crate::persist::StoreOptions::read_only`]) take no lock and never create the file.
//!
//! On NFS, Linux maps these locks onto NFS byte-range locks (NLM / NFSv4), which work only
//! when the server supports them; on a mount without lock support a second writer is not
//! detected. Keep stores on local disks.

use std::fs::{File, OpenOptions};
use std::io::{Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use super::format::io;
use crate::error::StoreError;

/// The lock file's name inside a store directory.
pub const LOCK_FILE: &str = "LOCK";

/// How often a waiting writer retries the lock.
const RETRY: Duration = Duration::from_millis(20);

/// A held store lock; dropping it releases the lock.
#[derive(Debug)]
pub struct StoreLock {
    file: File,
    path: PathBuf,
}

impl StoreLock {
    /// Takes the lock of the store in `dir` (creating the lock file if needed). When another
    /// handle holds it: with `wait` `None`, fails at once with [`StoreError::Locked`]; with
    /// `Some(t)`, retries for up to `t` first.
    pub fn acquire(dir: &Path, wait: Option<Duration>) -> Result<Self, StoreError> {
        let path = dir.join(LOCK_FILE);
        let mut file = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(&path)
            .map_err(io("open lock file", &path))?;
        let deadline = wait.map(|w| Instant::now() + w);
        loop {
            match file.try_lock() {
                Ok(()) => break,
                Err(std::fs::TryLockError::WouldBlock) => match deadline {
                    Some(d) if Instant::now() < d => std::thread::sleep(RETRY),
                    _ => {
                        return Err(StoreError::Locked {
                            holder_pid: read_pid(&mut file),
                            path: dir.to_path_buf(),
                        })
                    }
                },
                Err(std::fs::TryLockError::Error(e)) => {
                    return Err(io("lock", &path)(e));
                }
            }
        }
        // Who holds it, for the error a second writer gets (informational only).
        let pid = format!("{}\n", std::process::id());
        let r = (|| {
            file.set_len(0)?;
            file.seek(SeekFrom::Start(0))?;
            file.write_all(pid.as_bytes())
        })();
        r.map_err(io("write lock file", &path))?;
        Ok(Self { file, path })
    }

    /// The lock file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Checks that the lock file is still the one this lock holds: if it was deleted or
    /// replaced, another writer may have taken a new lock, and writing would race it.
    pub fn verify(&self) -> Result<(), StoreError> {
        #[cfg(unix)]
        {
            use std::os::unix::fs::MetadataExt;
            let held = self.file.metadata().map_err(io("stat", &self.path))?;
            let same = std::fs::metadata(&self.path)
                .map(|m| m.dev() == held.dev() && m.ino() == held.ino())
                .unwrap_or(false);
            if !same {
                return Err(StoreError::Refused {
                    path: self.path.clone(),
                    reason: "the lock file was removed or replaced while this writer held it: \
                             another writer may have the store; nothing was written — reopen it"
                        .into(),
                });
            }
        }
        Ok(())
    }
}

impl Drop for StoreLock {
    fn drop(&mut self) {
        // The lock itself goes with the file handle; clear the holder's pid first.
        let _ = self.file.set_len(0);
    }
}

/// The pid written by the lock's holder, if it can be read.
fn read_pid(file: &mut File) -> Option<u32> {
    let mut s = String::new();
    file.seek(SeekFrom::Start(0)).ok()?;
    file.take(32).read_to_string(&mut s).ok()?;
    s.trim().parse().ok()
}
