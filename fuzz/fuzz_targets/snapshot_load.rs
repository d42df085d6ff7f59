// SPDX-License-Identifier: Apache-2.0 OR BSD-3-Clause
//! Fuzz target: snapshot files through the whole restore path, without KVM: `parse`
//! (header, sizes, CRCs, trailer, every value of the versioned state), then guest memory
//! from the file and the Xen platform rebuilt from it (`restore_platform`: the saved state
//! on a fresh platform of the saved shape, `XenPlatform::restore`, the devices'
//! `from_state`); or a bare state section of any format version, decoded and restored over
//! zeroed memory. A restored platform then runs the guest's next hypercalls, timers and
//! devices, and its state must restore again. See `src/snapshot_restore.rs`.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let _ = xen_on_kvm_fuzz::snapshot_restore::run(data);
});
