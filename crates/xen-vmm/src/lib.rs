//! xen-vmm (work in progress).
