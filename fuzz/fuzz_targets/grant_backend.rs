// SPDX-License-Identifier: Apache-2.0 OR BSD-3-Clause
//! Fuzz target: a grant table written by a hostile guest while a backend looks grants
//! up, maps, unmaps and copies them. See `src/grant_ops.rs` for the input layout and the
//! invariants.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let _ = xen_on_kvm_fuzz::grant_ops::run(data);
});
