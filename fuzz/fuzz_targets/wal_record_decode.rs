//! Replays arbitrary bytes as a log record payload (the framing's checksum is not involved:
//! the payload decoder is called directly) into a small engine: `Ok` or a typed `Corrupt`
//! error — never a panic, an abort or an unbounded allocation.
#![no_main]

use std::sync::OnceLock;

use engram::persist::testing::replay_record;
use engram::Engram;
use libfuzzer_sys::fuzz_target;

fn base() -> &'static Engram {
    static B: OnceLock<Engram> = OnceLock::new();
    B.get_or_init(engram_fuzz::base_engine)
}

fuzz_target!(|data: &[u8]| {
    let mut e = base().clone();
    if let Err(err) = replay_record(&mut e, data) {
        assert!(engram_fuzz::typed(&err), "untyped error: {err}");
    }
});
