// SPDX-License-Identifier: Apache-2.0 OR BSD-3-Clause
//! Paths: validation, the domain's home, parents. Paths that do not start
//! with `/` are relative to the domain's home, `/local/domain/<domid>`.

use std::collections::BTreeMap;

use crate::wire::ABS_PATH_MAX;

/// Absolute path -> value (what a toolstack writes).
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
    a == b || (a.starts_with(b) && (b == "/" || a[b.len()..].starts_with('/')))
}

/// The parent of an absolute path (`/` for `/` and its children).
pub(crate) fn parent(abs: &str) -> &str {
    match abs.rfind('/') {
        Some(0) | None => "/",
        Some(i) => &abs[..i],
    }
}

/// A special watch / node path (`@introduceDomain`, `@releaseDomain`).
pub(crate) fn is_special(p: &str) -> bool {
    p.starts_with('@') && p.len() > 1 && p.len() <= ABS_PATH_MAX && valid_path_chars(p)
}

/// The special nodes xenstored keeps (owned by dom0).
pub(crate) const SPECIAL_NODES: &[&str] = &["@introduceDomain", "@releaseDomain"];

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
    fn parents() {
        assert_eq!(parent("/a/b"), "/a");
        assert_eq!(parent("/a"), "/");
        assert_eq!(parent("/"), "/");
        assert!(under("/a", "/") && under("/", "/") && !under("/a", "/b"));
        assert!(is_special("@releaseDomain") && !is_special("@") && !is_special("/a"));
    }
}
