// SPDX-License-Identifier: Apache-2.0 OR BSD-3-Clause
//! Fuzz target: the xenstore server over its shared page, driven by a hostile guest (any
//! message, raw bytes, any ring index) and the host (writes, reads, snapshots). See
//! `src/ring_ops.rs` for the input layout and the invariants.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    xen_on_kvm_fuzz::ring_ops::xenstore(data);
});
