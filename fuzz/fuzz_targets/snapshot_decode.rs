//! Decodes arbitrary bytes as a snapshot after fixing up the section checksums (so the
//! fuzzer gets past the CRC): the decoder must return `Ok` or a typed `Corrupt`/`Version`
//! error — never panic, abort or allocate without bound.
#![no_main]

use engram::persist::testing::{decode_snapshot, fix_snapshot_checksums};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let mut bytes = data.to_vec();
    fix_snapshot_checksums(&mut bytes);
    if let Err(e) = decode_snapshot(&bytes) {
        assert!(engram_fuzz::typed(&e), "untyped error: {e}");
    }
});
