// SPDX-License-Identifier: Apache-2.0 OR BSD-3-Clause
//! Fuzz target: scripts of hypercalls (every number, both widths, paging or not, pointers
//! anywhere) and host events against the real Xen personality, `XenPlatform::on_hypercall`
//! and the entry points a VMM calls, over guest memory of three regions with holes; pages
//! the guest places in holes are added (or refused) as a VMM would. Every state reached
//! must restore. See `src/platform_ops.rs` for the input layout and the invariants.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let _ = xen_on_kvm_fuzz::platform_ops::run(data);
});
