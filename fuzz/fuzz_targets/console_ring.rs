// SPDX-License-Identifier: Apache-2.0 OR BSD-3-Clause
//! Fuzz target: the PV console over its shared page and Xen's own console, driven by a
//! hostile guest (output, any ring index, `CONSOLEIO_read` / `write`) and host input and
//! snapshots. See `src/ring_ops.rs` for the input layout and the invariants.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    xen_on_kvm_fuzz::ring_ops::console(data);
});
