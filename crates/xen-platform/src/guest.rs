// SPDX-License-Identifier: Apache-2.0 OR BSD-3-Clause
//! Reading guest bytes the guest may change concurrently (the vCPU thread
//! polls `evtchn_upcall_pending` before each entry).

use std::sync::atomic::{AtomicU8, Ordering};

use vm_memory::{GuestAddress, GuestMemoryBackend, GuestMemoryMmap};

/// Atomically loads the guest byte at `gpa` (None if it is not RAM).
pub fn load_u8(mem: &GuestMemoryMmap, gpa: u64) -> Option<u8> {
    mem.get_slice(GuestAddress(gpa), 1).ok()?;
    let p = mem.get_host_address(GuestAddress(gpa)).ok()?;
    // SAFETY: `p` points to one byte inside a region of the mapping that `mem`
    // keeps alive; the guest writes the same byte with plain or atomic CPU
    // accesses, which an AtomicU8 load tolerates.
    let a = unsafe { &*(p as *const AtomicU8) };
    Some(a.load(Ordering::SeqCst))
}

#[cfg(test)]
mod tests {
    use super::*;
    use vm_memory::Bytes;

    #[test]
    fn loads_ram_and_refuses_holes() {
        let mem = GuestMemoryMmap::from_ranges(&[(GuestAddress(0), 0x1000)]).unwrap();
        mem.write_obj(7u8, GuestAddress(0x10)).unwrap();
        assert_eq!(load_u8(&mem, 0x10), Some(7));
        assert_eq!(load_u8(&mem, 0x1000), None);
        assert_eq!(load_u8(&mem, u64::MAX), None);
    }
}
