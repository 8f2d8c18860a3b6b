//! Helpers shared by the migration tests (included with `#[path]`).
#![allow(dead_code)]

use std::io::Write;
use std::path::Path;

#[path = "persist_util.rs"]
pub mod util;
pub use util::vec_for;

/// The dimension of the generated memories.
pub const DIM: usize = 16;

/// A JSON Lines file of `n` memories; every 10th is a concept by rule (a `count` field),
/// every 25th has an explicit kind; `bad` lines (1-based) are malformed. Episodes carry an
/// `id` and a `content` (both kept in the payload); concepts carry neither (a concept cannot
/// keep them, and such a record is refused).
pub fn jsonl(path: &Path, n: u64, bad: &[u64]) {
    let mut f = std::io::BufWriter::new(std::fs::File::create(path).unwrap());
    for line in 1..=n {
        if bad.contains(&line) {
            writeln!(f, "{{\"id\": {line}, \"embedding\": [1, 2, \"x\"]}}").unwrap();
            continue;
        }
        let emb: Vec<String> = vec_for(line, DIM).iter().map(|x| format!("{x}")).collect();
        let extra = if line % 25 == 0 {
            format!(
                ", \"kind\": \"{}\"",
                if line % 50 == 0 { "concept" } else { "episode" }
            )
        } else if line % 10 == 0 {
            ", \"count\": 7".into()
        } else {
            String::new()
        };
        let concept = line % 50 == 0 || (line % 10 == 0 && line % 25 != 0);
        let text = if concept {
            String::new()
        } else {
            format!("\"id\": \"m{line}\", \"content\": \"memory {line}\", ")
        };
        writeln!(
            f,
            "{{{text}\"embedding\": [{}], \"timestamp\": {line}, \"confidence\": 0.5{extra}}}",
            emb.join(",")
        )
        .unwrap();
    }
}
