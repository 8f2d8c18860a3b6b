//! The log's seal: its generation, id and length when a writable handle last closed cleanly,
//! in the small file `wal.seal`.
//!
//! ```text
//! file = magic "ENGRAMSL" | generation u64 | log id u64 | length u64 | crc32c u32
//! ```
//!
//! A log only grows within its generation, so the sealed length is a lower bound on the
//! log's length from then on: opening a store whose log of the same generation and id is
//! shorter (deleted records, a copy swapped in) is [`StoreError::Corrupt`]. A crash skips
//! the seal, which then stays the last clean close's (still a valid lower bound).

use std::io::{Read, Write};
use std::path::Path;

use super::format::{atomic_write, corrupt, crc, io};
use crate::error::StoreError;

/// The seal's file name inside a store directory.
pub const SEAL_FILE: &str = "wal.seal";
const MAGIC: [u8; 8] = *b"ENGRAMSL";
const BYTES: usize = 36;

/// A log's identity and length at a clean close.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Seal {
    /// The log's generation.
    pub generation: u64,
    /// The log's id.
    pub log_id: u64,
    /// Its length in bytes (complete records only).
    pub len: u64,
}

impl Seal {
    fn encode(&self) -> [u8; BYTES] {
        let mut b = [0u8; BYTES];
        b[..8].copy_from_slice(&MAGIC);
        b[8..16].copy_from_slice(&self.generation.to_le_bytes());
        b[16..24].copy_from_slice(&self.log_id.to_le_bytes());
        b[24..32].copy_from_slice(&self.len.to_le_bytes());
        let c = crc(0, &b[..32]);
        b[32..].copy_from_slice(&c.to_le_bytes());
        b
    }

    /// Writes the seal of the store in `dir` (atomically).
    pub fn write(&self, dir: &Path) -> Result<(), StoreError> {
        let b = self.encode();
        atomic_write(&dir.join(SEAL_FILE), |w| w.write_all(&b))
    }

    /// Reads the seal of the store in `dir`; `None` when there is none. A damaged seal is
    /// [`StoreError::Corrupt`] (it cannot vouch for the log; delete it if the log is known
    /// to be whole).
    pub fn read(dir: &Path) -> Result<Option<Seal>, StoreError> {
        let path = dir.join(SEAL_FILE);
        let f = match std::fs::File::open(&path) {
            Ok(f) => f,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(io("open", &path)(e)),
        };
        let mut b = Vec::with_capacity(BYTES);
        f.take(BYTES as u64 + 1)
            .read_to_end(&mut b)
            .map_err(io("read", &path))?;
        if b.len() != BYTES || b[..8] != MAGIC || crc(0, &b[..32]).to_le_bytes() != b[32..] {
            return Err(corrupt(
                &path,
                "seal",
                0,
                "damaged (bad size, magic or checksum)",
            ));
        }
        let w = |i: usize| {
            let mut a = [0u8; 8];
            a.copy_from_slice(&b[i..i + 8]);
            u64::from_le_bytes(a)
        };
        Ok(Some(Seal {
            generation: w(8),
            log_id: w(16),
            len: w(24),
        }))
    }
}
