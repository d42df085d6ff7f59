// SPDX-License-Identifier: Apache-2.0 OR BSD-3-Clause
//! Keeps guest-controlled indexing in the Xen handlers on checked accessors:
//! no `x[... as usize]` (or a slice bound `... as usize..`) in the
//! platform's guest-facing sources outside their unit tests. Such an index
//! is almost always a guest-derived number (a frame, a vCPU, a param, a
//! length); use `.get()` / `.get_mut()` and answer the guest with an errno.
//! An index that is a constant or bounded just before can say so by
//! moving to a checked accessor too: the rule has no exceptions, so that
//! nobody has to judge which numbers the guest controls.

use std::path::{Path, PathBuf};

/// The guest-facing sources: hypercall handlers, Xen state, devices.
const SOURCES: &[&str] = &[
    "src/handlers.rs",
    "src/state.rs",
    "src/backends.rs",
    "src/platform.rs",
    "src/runstate.rs",
    "src/snapshot.rs",
    "src/timers.rs",
    "src/validate.rs",
    "src/params.rs",
    "src/console/mod.rs",
    "src/console/ring.rs",
];

/// The code of `text` before its unit tests, without comments.
fn code(text: &str) -> Vec<(usize, String)> {
    let end = text.find("#[cfg(test)]").unwrap_or(text.len());
    text[..end]
        .lines()
        .enumerate()
        .map(|(i, l)| {
            let l = l.split("//").next().unwrap_or("");
            (i + 1, l.to_string())
        })
        .collect()
}

/// Indexing expressions of `line` with `as usize` in the index: a `[`
/// right after an identifier, `)` or `]` (not an array literal or
/// `vec![x; n as usize]`) whose contents up to the matching `]` hold
/// `as usize`.
fn unchecked(line: &str) -> Vec<String> {
    let b = line.as_bytes();
    let mut out = Vec::new();
    for (i, &c) in b.iter().enumerate() {
        if c != b'[' || i == 0 {
            continue;
        }
        let prev = b[i - 1];
        if !(prev.is_ascii_alphanumeric() || prev == b'_' || prev == b')' || prev == b']') {
            continue;
        }
        let mut depth = 0usize;
        let mut end = None;
        for (j, &d) in b.iter().enumerate().skip(i) {
            match d {
                b'[' => depth += 1,
                b']' => {
                    depth -= 1;
                    if depth == 0 {
                        end = Some(j);
                        break;
                    }
                }
                _ => {}
            }
        }
        let inner = &line[i + 1..end.unwrap_or(line.len())];
        if inner.contains("as usize") && !inner.contains(';') {
            out.push(line[i..end.map_or(line.len(), |e| e + 1)].to_string());
        }
    }
    out
}

#[test]
fn the_scanner_finds_unchecked_indexing() {
    assert_eq!(
        unchecked("xen.grant_frames[frame as usize] = None;").len(),
        1
    );
    assert_eq!(unchecked("let b = &buf[..avail as usize];").len(), 1);
    assert_eq!(unchecked("v[(r % 4) as usize]").len(), 1);
    assert!(unchecked("let v = vec![0u8; n as usize];").is_empty());
    assert!(unchecked("let a = [0u8; N as usize];").is_empty());
    assert!(unchecked("x.get(frame as usize)").is_empty());
    assert!(unchecked("b[0..4].copy_from_slice(&y)").is_empty());
}

#[test]
fn guest_facing_sources_index_through_checked_accessors() {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    let mut found = Vec::new();
    for s in SOURCES {
        let path: &Path = &root.join(s);
        let text = std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{s}: {e}"));
        for (n, line) in code(&text) {
            for hit in unchecked(&line) {
                found.push(format!("{s}:{n}: {hit}"));
            }
        }
    }
    assert!(
        found.is_empty(),
        "unchecked indexing (use .get()/.get_mut() and an errno):\n{}",
        found.join("\n")
    );
}
