//! The `xen-vmm` binary.
fn main() {}
