// SPDX-License-Identifier: Apache-2.0 OR BSD-3-Clause
//! Fuzz target: the reference VMM's PVH ELF and raw image loaders fed hostile kernel files.
//! See `src/loader_ops.rs` for the input layout and the invariants.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    xen_on_kvm_fuzz::loader_ops::run(data);
});
