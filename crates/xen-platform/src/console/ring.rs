// SPDX-License-Identifier: Apache-2.0 OR BSD-3-Clause
//! Byte rings inside a guest page and the index helpers the PV console uses.

use vm_memory::{Bytes, GuestAddress};

use crate::error::{Error, Result};

/// Size of a Xen page (all ring pages are one page).
pub const XEN_PAGE_SIZE: u64 = 4096;

/// One shared-memory byte ring inside a guest page: `size` bytes at
/// `base`, indexed by free-running `u32` producer/consumer counters.
#[derive(Clone, Copy, Debug)]
pub(crate) struct ByteRing {
    pub(crate) base: GuestAddress,
    /// Power of two.
    pub(crate) size: u32,
}

impl ByteRing {
    /// Copies `buf.len()` bytes out of the ring starting at free-running
    /// index `idx` (wrapping around the ring end).
    pub(crate) fn read<M: Bytes<GuestAddress> + ?Sized>(
        &self,
        mem: &M,
        idx: u32,
        buf: &mut [u8],
    ) -> Result<()> {
        let mut done = 0usize;
        let mut idx = idx;
        while done < buf.len() {
            let off = idx & (self.size - 1);
            let chunk = ((self.size - off) as usize).min(buf.len() - done);
            let gpa = self.base.0 + u64::from(off);
            mem.read_slice(&mut buf[done..done + chunk], GuestAddress(gpa))
                .map_err(|_| Error::GuestMemory(gpa))?;
            done += chunk;
            // chunk <= ring size <= u32::MAX.
            idx = idx.wrapping_add(chunk as u32);
        }
        Ok(())
    }

    /// Copies `buf` into the ring starting at free-running index `idx`.
    pub(crate) fn write<M: Bytes<GuestAddress> + ?Sized>(
        &self,
        mem: &M,
        idx: u32,
        buf: &[u8],
    ) -> Result<()> {
        let mut done = 0usize;
        let mut idx = idx;
        while done < buf.len() {
            let off = idx & (self.size - 1);
            let chunk = ((self.size - off) as usize).min(buf.len() - done);
            let gpa = self.base.0 + u64::from(off);
            mem.write_slice(&buf[done..done + chunk], GuestAddress(gpa))
                .map_err(|_| Error::GuestMemory(gpa))?;
            done += chunk;
            idx = idx.wrapping_add(chunk as u32);
        }
        Ok(())
    }
}

/// Loads a ring index (acquire: the data it covers is read after it).
pub(crate) fn load_idx<M: Bytes<GuestAddress> + ?Sized>(mem: &M, gpa: u64) -> Result<u32> {
    mem.load::<u32>(GuestAddress(gpa), std::sync::atomic::Ordering::Acquire)
        .map_err(|_| Error::GuestMemory(gpa))
}

/// Stores a ring index (release: the data it covers is written before it).
pub(crate) fn store_idx<M: Bytes<GuestAddress> + ?Sized>(
    mem: &M,
    gpa: u64,
    val: u32,
) -> Result<()> {
    mem.store(val, GuestAddress(gpa), std::sync::atomic::Ordering::Release)
        .map_err(|_| Error::GuestMemory(gpa))
}

/// Returns the page-aligned base of a ring page, rejecting a page frame
/// number whose address overflows.
pub(crate) fn page_base(pfn: u64) -> Result<GuestAddress> {
    pfn.checked_mul(XEN_PAGE_SIZE)
        .map(GuestAddress)
        .ok_or_else(|| Error::Config("page frame number overflows".into()))
}

#[cfg(test)]
pub(crate) mod test_util {
    use vm_memory::{GuestAddress, GuestMemoryMmap};

    /// 64 KiB of guest RAM at 0.
    pub(crate) fn mem() -> GuestMemoryMmap {
        GuestMemoryMmap::from_ranges(&[(GuestAddress(0), 0x10000)]).unwrap()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ring_copy_wraps() {
        let mem = test_util::mem();
        let r = ByteRing {
            base: GuestAddress(0x1000),
            size: 16,
        };
        r.write(&mem, 14, b"abcd").unwrap();
        let mut b = [0u8; 4];
        r.read(&mem, 14, &mut b).unwrap();
        assert_eq!(&b, b"abcd");
        // Stored at offsets 14, 15, 0, 1.
        let mut raw = [0u8; 2];
        mem.read_slice(&mut raw, GuestAddress(0x1000)).unwrap();
        assert_eq!(&raw, b"cd");
        // Free-running index wraps around u32.
        r.write(&mem, u32::MAX, b"xy").unwrap();
        r.read(&mem, u32::MAX, &mut raw).unwrap();
        assert_eq!(&raw, b"xy");
    }

    #[test]
    fn ring_outside_memory_is_efault() {
        let mem = test_util::mem();
        let r = ByteRing {
            base: GuestAddress(0x20000),
            size: 16,
        };
        let e = r.read(&mem, 0, &mut [0u8; 1]).unwrap_err();
        assert_eq!(e.errno(), xen_abi::Errno::EFAULT);
        assert!(load_idx(&mem, 0x20000).is_err());
        assert!(page_base(u64::MAX).is_err());
    }
}
