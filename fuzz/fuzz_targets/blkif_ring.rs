// SPDX-License-Identifier: Apache-2.0 OR BSD-3-Clause
//! Fuzz target: a hostile blkif frontend (ring bytes, indexes, grant entries) against the
//! PV block backend. See `src/blk_ops.rs` for the input layout and the invariants.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let _ = xen_on_kvm_fuzz::blk_ops::run(data);
});
