//! xen-shinfo-cache (work in progress).
