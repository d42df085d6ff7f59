// SPDX-License-Identifier: Apache-2.0 OR BSD-3-Clause
//! The store itself: a flat map of absolute paths to byte values, with
//! path validation, implicit parent directories and the permission model.
//!
//! Every node the store holds is an entry of the map; a path that is only
//! a prefix of entries (`/local` when `/local/domain/1/name` exists) is a
//! directory with an empty value. Paths that do not start with `/` are
//! relative to the domain's home, `/local/domain/<domid>`.
//!
//! Permissions are modelled as a list of guest-writable path prefixes
//! (the nodes a toolstack gives the guest, `rwperm`: owner = the guest):
//! the guest may create, write and remove at or below them, and reads
//! everything. Other nodes are owned by dom0 with read access for the
//! guest (`roperm`).

use std::collections::{BTreeMap, BTreeSet};

use crate::wire::ABS_PATH_MAX;

/// Absolute path -> value.
pub(crate) type Nodes = BTreeMap<String, Vec<u8>>;

/// Path characters xenstored accepts (`@` only starts special watch paths).
pub(crate) fn valid_path_chars(p: &str) -> bool {
    p.bytes()
        .all(|c| c.is_ascii_alphanumeric() || b"-/_@".contains(&c))
}

/// `/local/domain/<domid>`.
pub(crate) fn home(domid: u16) -> String {
    format!("/local/domain/{domid}")
}

/// The absolute form of a path the guest sent, or `None` if it is not a
/// valid node path (bad characters, `//`, trailing `/`, `@`, too long).
pub(crate) fn absolute(home: &str, path: &str) -> Option<String> {
    if path.is_empty() || path.len() > ABS_PATH_MAX || !valid_path_chars(path) {
        return None;
    }
    let abs = if path.starts_with('/') {
        path.to_string()
    } else {
        format!("{home}/{path}")
    };
    if abs.len() > ABS_PATH_MAX
        || abs.contains("//")
        || (abs.len() > 1 && abs.ends_with('/'))
        || abs.contains('@')
    {
        return None;
    }
    Some(abs)
}

/// `a` is `b` or below it.
pub(crate) fn under(a: &str, b: &str) -> bool {
    a == b || (a.starts_with(b) && a[b.len()..].starts_with('/'))
}

/// The guest may write `abs`.
pub(crate) fn writable(prefixes: &[String], abs: &str) -> bool {
    prefixes.iter().any(|w| under(abs, w))
}

/// Names of the direct children of `abs`, sorted, deduplicated.
pub(crate) fn children(nodes: &Nodes, abs: &str) -> Vec<String> {
    let prefix = if abs == "/" {
        "/".to_string()
    } else {
        format!("{abs}/")
    };
    let mut out = BTreeSet::new();
    for k in nodes
        .range(prefix.clone()..)
        .map(|(k, _)| k)
        .take_while(|k| k.starts_with(prefix.as_str()))
    {
        let name = k[prefix.len()..].split('/').next().unwrap_or("");
        if !name.is_empty() {
            out.insert(name.to_string());
        }
    }
    out.into_iter().collect()
}

/// `abs` exists as a node or as the parent of one.
pub(crate) fn exists(nodes: &Nodes, abs: &str) -> bool {
    if abs == "/" || nodes.contains_key(abs) {
        return true;
    }
    let prefix = format!("{abs}/");
    nodes
        .range(prefix.clone()..)
        .next()
        .is_some_and(|(k, _)| k.starts_with(prefix.as_str()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths() {
        let h = home(3);
        assert_eq!(absolute(&h, "a/b").as_deref(), Some("/local/domain/3/a/b"));
        assert_eq!(absolute(&h, "/x").as_deref(), Some("/x"));
        assert_eq!(absolute(&h, "/").as_deref(), Some("/"));
        for bad in ["", "a//b", "a/", "a b", "@x", "a/@b", "é"] {
            assert_eq!(absolute(&h, bad), None, "{bad:?}");
        }
        assert_eq!(absolute(&h, &"a".repeat(ABS_PATH_MAX + 1)), None);
        assert_eq!(absolute(&h, &"a".repeat(ABS_PATH_MAX - 10)), None);
        assert!(under("/a/b", "/a") && under("/a", "/a") && !under("/ab", "/a"));
    }

    #[test]
    fn implicit_directories() {
        let mut n = BTreeMap::new();
        n.insert("/a/b/c".to_string(), vec![]);
        n.insert("/a/bc".to_string(), vec![]);
        assert!(exists(&n, "/a") && exists(&n, "/a/b") && exists(&n, "/"));
        assert!(!exists(&n, "/a/b/c/d") && !exists(&n, "/a/x"));
        assert_eq!(children(&n, "/a"), ["b", "bc"]);
        assert_eq!(children(&n, "/"), ["a"]);
    }
}
