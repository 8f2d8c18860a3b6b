//! `compute/` is the crate's ground floor: no file under `src/compute` may name anything of the
//! crate outside `crate::compute` — no `use crate::vectors::…`, no `crate::Error` in a
//! signature, no `super::` chain that climbs out of `compute`. The rest of the crate builds on
//! the kernels, never the other way round.
//!
//! The check reads the sources (comments stripped) and names every offending path with its
//! file and line.

use std::path::{Path, PathBuf};

/// Every `.rs` file under `dir`, recursively, sorted.
fn rust_files(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for entry in std::fs::read_dir(&d).expect("read a source directory") {
            let path = entry.expect("a directory entry").path();
            if path.is_dir() {
                stack.push(path);
            } else if path.extension().is_some_and(|e| e == "rs") {
                out.push(path);
            }
        }
    }
    out.sort();
    out
}

/// The source with comments (line, doc and block comments) and string literals blanked out:
/// prose or a message that mentions a path is not an import. Line breaks are kept so line
/// numbers stay right.
fn code_only(src: &str) -> String {
    let b = src.as_bytes();
    let mut out = String::with_capacity(src.len());
    let mut i = 0;
    let mut depth = 0usize; // block-comment nesting
    while i < b.len() {
        let c = b[i] as char;
        let next = b.get(i + 1).map(|&x| x as char);
        if depth > 0 {
            if c == '*' && next == Some('/') {
                depth -= 1;
                i += 2;
            } else if c == '/' && next == Some('*') {
                depth += 1;
                i += 2;
            } else {
                out.push(if c == '\n' { '\n' } else { ' ' });
                i += 1;
            }
            continue;
        }
        match (c, next) {
            ('/', Some('/')) => {
                while i < b.len() && b[i] != b'\n' {
                    i += 1;
                }
            }
            ('/', Some('*')) => {
                depth = 1;
                i += 2;
            }
            ('\'', Some('"')) if b.get(i + 2) == Some(&b'\'') => {
                // The char literal '"' is not the start of a string.
                out.push_str("' '");
                i += 3;
            }
            ('"', _) => {
                // A string literal: skip to its closing quote (escapes honoured).
                out.push(' ');
                i += 1;
                while i < b.len() && b[i] != b'"' {
                    if b[i] == b'\\' {
                        i += 1;
                    }
                    if b.get(i) == Some(&b'\n') {
                        out.push('\n');
                    }
                    i += 1;
                }
                i += 1;
            }
            _ => {
                // Copy one whole UTF-8 character.
                let len = src[i..].chars().next().map_or(1, char::len_utf8);
                out.push_str(&src[i..i + len]);
                i += len;
            }
        }
    }
    out
}

/// The module depth of a file below `src/`: `compute/mod.rs` is 1 (`crate::compute`),
/// `compute/backend.rs` and `compute/cpu/mod.rs` are 2, `compute/cpu/avx2.rs` is 3.
fn module_depth(rel: &Path) -> usize {
    let parts: Vec<_> = rel.iter().collect();
    let dirs = parts.len() - 1;
    match rel.file_name().and_then(|f| f.to_str()) {
        Some("mod.rs") => dirs,
        _ => dirs + 1,
    }
}

/// The items of a `{…}` group that starts at `text[0] == '{'`, split at its top-level commas
/// (nested groups stay whole); `None` when the brace is never closed.
fn group_items(text: &str) -> Option<Vec<String>> {
    let mut depth = 0usize;
    let mut items = Vec::new();
    let mut cur = String::new();
    for c in text.chars() {
        match c {
            '{' => {
                depth += 1;
                if depth > 1 {
                    cur.push(c);
                }
            }
            '}' => {
                depth -= 1;
                if depth == 0 {
                    items.push(cur);
                    return Some(
                        items
                            .into_iter()
                            .map(|s| s.split_whitespace().collect::<String>())
                            .filter(|s| !s.is_empty())
                            .collect(),
                    );
                }
                cur.push(c);
            }
            ',' if depth == 1 => items.push(std::mem::take(&mut cur)),
            _ => cur.push(c),
        }
    }
    None
}

/// The offending paths of one file's code: `(line, text)` for every `crate::` path that does
/// not continue with `compute` (a `crate::{…}` group, over any number of lines, must name only
/// `compute…` items) and every `super::` chain that climbs above `crate::compute` from a module
/// at `depth`.
fn violations(code: &str, depth: usize) -> Vec<(usize, String)> {
    let is_ident = |c: char| c.is_alphanumeric() || c == '_';
    let line_of = |at: usize| code[..at].matches('\n').count() + 1;
    let text_of = |at: usize| {
        let start = code[..at].rfind('\n').map_or(0, |i| i + 1);
        let end = code[at..].find('\n').map_or(code.len(), |i| at + i);
        code[start..end].trim().to_string()
    };
    let mut found = Vec::new();
    for (at, _) in code.match_indices("crate::") {
        let before = code[..at].chars().next_back();
        // `$crate::` and identifiers ending in `crate` (e.g. `my_crate::`) are other things.
        if before.is_some_and(|c| is_ident(c) || c == '$') {
            continue;
        }
        let after = &code[at + "crate::".len()..];
        let ok = if after.starts_with('{') {
            group_items(after).is_some_and(|items| {
                items
                    .iter()
                    .all(|s| s == "compute" || s.starts_with("compute::"))
            })
        } else {
            let name: String = after.chars().take_while(|&c| is_ident(c)).collect();
            name == "compute"
        };
        if !ok {
            found.push((line_of(at), text_of(at)));
        }
    }
    // `super::super::…` chains: each one climbs a module.
    let mut from = 0;
    while let Some(rel) = code[from..].find("super::") {
        let at = from + rel;
        let before = code[..at].chars().next_back();
        let mut climbs = 0;
        let mut tail = &code[at..];
        while let Some(t) = tail.strip_prefix("super::") {
            climbs += 1;
            tail = t;
        }
        if !before.is_some_and(|c| is_ident(c) || c == ':') && climbs >= depth {
            found.push((line_of(at), text_of(at)));
        }
        from = at + climbs * "super::".len();
    }
    found
}

#[test]
fn compute_imports_nothing_from_the_rest_of_the_crate() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let files = rust_files(&src.join("compute"));
    assert!(
        files.len() >= 15,
        "expected the compute sources under {}, found {}",
        src.display(),
        files.len()
    );
    let mut bad = Vec::new();
    for f in &files {
        let text = std::fs::read_to_string(f).expect("read a source file");
        let rel = f.strip_prefix(&src).expect("a file under src");
        for (line, what) in violations(&code_only(&text), module_depth(rel)) {
            bad.push(format!("src/{}:{line}: {what}", rel.display()));
        }
    }
    assert!(
        bad.is_empty(),
        "compute/ must not import from the rest of the crate:\n{}",
        bad.join("\n")
    );
}

/// The checker itself: it must catch what it is for, and let through what is allowed.
#[test]
fn the_checker_finds_paths_out_of_compute() {
    let check = |src: &str, depth: usize| violations(&code_only(src), depth).len();
    // Caught.
    assert_eq!(check("use crate::vectors::RowMask;", 2), 1);
    assert_eq!(check("fn f() -> crate::Result<()> { todo!() }", 2), 1);
    assert_eq!(check("use crate::{compute::TopK, error::Error};", 2), 1);
    assert_eq!(
        check(
            "use crate::{\n    compute::TopK,\n    vectors::RowMask,\n};",
            2
        ),
        1
    );
    assert_eq!(check("use super::super::engine::Engram;", 2), 1);
    assert_eq!(
        check("use super::Engram;", 1),
        1,
        "super of compute/mod.rs is the crate"
    );
    assert_eq!(
        check(
            "let e: crate::error::Error = x; let y = crate::graph::Graph::new();",
            3
        ),
        2
    );
    // Allowed.
    assert_eq!(check("use crate::compute::rows::RowMask;", 3), 0);
    assert_eq!(check("use crate::compute;", 2), 0);
    assert_eq!(check("use crate::{compute::TopK, compute::Hit};", 2), 0);
    assert_eq!(
        check(
            "use crate::{\n    compute::{rows::RowMask, TopK},\n    compute,\n};",
            2
        ),
        0
    );
    assert_eq!(check("use super::super::topk::TopK;", 3), 0);
    assert_eq!(check("use super::Pusher;", 2), 0);
    assert_eq!(
        check(
            "// see crate::vectors\n/// [`x`](crate::Error)\nfn f() {}",
            2
        ),
        0
    );
    assert_eq!(check("/* crate::engine */ fn f() {}", 2), 0);
    assert_eq!(check("let s = \"crate::engine\";", 2), 0);
    assert_eq!(
        check("let q = '\"'; use crate::engine::Engram; let s = \"\";", 2),
        1
    );
    assert_eq!(check("macro_rules! m { () => { $crate::x } }", 2), 0);
    assert_eq!(check("use my_crate::thing;", 2), 0);
}
