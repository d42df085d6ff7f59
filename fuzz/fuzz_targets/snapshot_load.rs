// SPDX-License-Identifier: Apache-2.0 OR BSD-3-Clause
//! Fuzz target: snapshot deserialization.
//!
//! Feeds arbitrary bytes to `xen_vmm::snapshot::parse`, which checks the
//! header, sizes, CRCs, trailer and every value of the versioned state.
//! It must return an error (never panic, never allocate from a claimed
//! length) for anything that is not a well-formed snapshot.
//!
//! CRCs make random inputs stop early; to reach the decoder, the target also
//! re-seals the input: it treats the bytes after a 48-byte header as the state
//! section and recomputes the state and header CRCs before parsing again.
#![no_main]

use libfuzzer_sys::fuzz_target;

const HEADER_LEN: usize = 48;

fuzz_target!(|data: &[u8]| {
    let _ = xen_vmm::snapshot::parse(data);

    // Re-sealed variant: header(48) | state | memory(0) | trailer(16).
    if data.len() < HEADER_LEN {
        return;
    }
    let state = &data[HEADER_LEN..];
    let mut f = Vec::with_capacity(data.len() + 16);
    f.extend_from_slice(b"XKVMSNAP");
    f.extend_from_slice(&2u16.to_le_bytes()); // format version
    f.extend_from_slice(&48u16.to_le_bytes()); // header length
    f.extend_from_slice(&0u32.to_le_bytes()); // flags
    f.extend_from_slice(&(state.len() as u64).to_le_bytes());
    f.extend_from_slice(&crc64::crc64(0, state).to_le_bytes());
    f.extend_from_slice(&0u64.to_le_bytes()); // memory length
    let hcrc = crc64::crc64(0, &f[..40]);
    f.extend_from_slice(&hcrc.to_le_bytes());
    f.extend_from_slice(state);
    f.extend_from_slice(&0u64.to_le_bytes()); // memory CRC of nothing
    f.extend_from_slice(b"XKVMEND\0");
    let _ = xen_vmm::snapshot::parse(&f);
    // Format version 1 decodes a different layout of the same types.
    f[8] = 1;
    let hcrc = crc64::crc64(0, &f[..40]);
    f[40..48].copy_from_slice(&hcrc.to_le_bytes());
    let _ = xen_vmm::snapshot::parse(&f);
});
