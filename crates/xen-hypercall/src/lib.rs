//! xen-hypercall (work in progress).
