//! xen-vmm (work in progress).
pub mod snapshot;
