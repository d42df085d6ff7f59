//! xen-abi (work in progress).
