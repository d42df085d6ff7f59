//! Guest memory as a hypercall sees it: guest-virtual addresses translated
//! through the calling vCPU's page tables (`KVM_TRANSLATE`), page by page,
//! every failure turned into `-EFAULT`. Also atomic read-modify-write of
//! guest words (the event-channel bitmaps the guest updates concurrently).

use std::sync::atomic::{AtomicU32, AtomicU64, AtomicU8, Ordering};

use kvm_ioctls::VcpuFd;
use vm_memory::{ByteValued, Bytes, GuestAddress, GuestMemoryBackend, GuestMemoryMmap};

use crate::abi::errno::EFAULT;
use crate::memory::PAGE_SIZE;

/// A Xen errno (positive); hypercalls return its negation.
pub type Errno = i64;

/// How to turn a guest pointer into a guest physical address.
pub enum Translate<'a> {
    /// Paging off: virtual = physical.
    Identity,
    /// Paging on: ask KVM to walk this vCPU's page tables.
    Vcpu(&'a VcpuFd),
}

/// Guest memory as seen by one hypercall.
pub struct GuestView<'a> {
    /// The memory map snapshot.
    pub mem: &'a GuestMemoryMmap,
    /// Address translation.
    pub translate: Translate<'a>,
}

impl GuestView<'_> {
    /// Translates one guest-virtual address.
    pub fn gpa(&self, gva: u64) -> Result<u64, Errno> {
        match self.translate {
            Translate::Identity => Ok(gva),
            Translate::Vcpu(fd) => {
                // KVM's walker ignores bits 63:48; a non-canonical pointer faults.
                let top = gva >> 47;
                if top != 0 && top != (1 << 17) - 1 {
                    return Err(EFAULT);
                }
                let t = fd.translate_gva(gva).map_err(|_| EFAULT)?;
                if t.valid == 0 {
                    return Err(EFAULT);
                }
                Ok(t.physical_address)
            }
        }
    }

    /// Reads `buf.len()` bytes at guest-virtual `gva`.
    pub fn read(&self, gva: u64, buf: &mut [u8]) -> Result<(), Errno> {
        let mut done = 0usize;
        while done < buf.len() {
            let va = gva.checked_add(done as u64).ok_or(EFAULT)?;
            let in_page = (PAGE_SIZE - (va & (PAGE_SIZE - 1))) as usize;
            let n = in_page.min(buf.len() - done);
            let pa = self.gpa(va)?;
            self.mem
                .read_slice(&mut buf[done..done + n], GuestAddress(pa))
                .map_err(|_| EFAULT)?;
            done += n;
        }
        Ok(())
    }

    /// Writes `buf` at guest-virtual `gva`.
    pub fn write(&self, gva: u64, buf: &[u8]) -> Result<(), Errno> {
        let mut done = 0usize;
        while done < buf.len() {
            let va = gva.checked_add(done as u64).ok_or(EFAULT)?;
            let in_page = (PAGE_SIZE - (va & (PAGE_SIZE - 1))) as usize;
            let n = in_page.min(buf.len() - done);
            let pa = self.gpa(va)?;
            self.mem
                .write_slice(&buf[done..done + n], GuestAddress(pa))
                .map_err(|_| EFAULT)?;
            done += n;
        }
        Ok(())
    }

    /// Reads a plain-data object.
    pub fn read_obj<T: ByteValued + Default>(&self, gva: u64) -> Result<T, Errno> {
        let mut v = T::default();
        self.read(gva, v.as_mut_slice())?;
        Ok(v)
    }

    /// Writes a plain-data object.
    pub fn write_obj<T: ByteValued>(&self, gva: u64, v: T) -> Result<(), Errno> {
        self.write(gva, v.as_slice())
    }

    /// Reads a little-endian unsigned value of `size` (4 or 8) bytes.
    pub fn read_ulong(&self, gva: u64, size: usize) -> Result<u64, Errno> {
        let mut b = [0u8; 8];
        self.read(gva, &mut b[..size])?;
        Ok(u64::from_le_bytes(b))
    }

    /// Writes a little-endian unsigned value of `size` (4 or 8) bytes.
    pub fn write_ulong(&self, gva: u64, size: usize, v: u64) -> Result<(), Errno> {
        self.write(gva, &v.to_le_bytes()[..size])
    }
}

fn host_ptr(mem: &GuestMemoryMmap, gpa: u64, size: u64) -> Option<*mut u8> {
    if gpa % size != 0 {
        return None;
    }
    // The object must lie inside one region (aligned, so it cannot straddle a page).
    mem.get_slice(GuestAddress(gpa), size as usize).ok()?;
    mem.get_host_address(GuestAddress(gpa)).ok()
}

/// Atomically ORs `bits` into the aligned 64-bit guest word at `gpa`; returns the old value.
pub fn fetch_or_u64(mem: &GuestMemoryMmap, gpa: u64, bits: u64) -> Option<u64> {
    let p = host_ptr(mem, gpa, 8)?;
    // SAFETY: `p` points to 8 aligned bytes inside a region of the mapping that
    // `mem` keeps alive; the guest accesses the same word only with atomic or
    // plain CPU accesses, which is what AtomicU64 compiles to.
    let a = unsafe { &*(p as *const AtomicU64) };
    Some(a.fetch_or(bits, Ordering::SeqCst))
}

/// Atomically clears `bits` in the aligned 64-bit guest word at `gpa`; returns the old value.
pub fn fetch_and_not_u64(mem: &GuestMemoryMmap, gpa: u64, bits: u64) -> Option<u64> {
    let p = host_ptr(mem, gpa, 8)?;
    // SAFETY: as in `fetch_or_u64`.
    let a = unsafe { &*(p as *const AtomicU64) };
    Some(a.fetch_and(!bits, Ordering::SeqCst))
}

/// Atomically ORs `bits` into the aligned 32-bit guest word at `gpa`; returns the old value.
pub fn fetch_or_u32(mem: &GuestMemoryMmap, gpa: u64, bits: u32) -> Option<u32> {
    let p = host_ptr(mem, gpa, 4)?;
    // SAFETY: as in `fetch_or_u64`, for 4 aligned bytes.
    let a = unsafe { &*(p as *const AtomicU32) };
    Some(a.fetch_or(bits, Ordering::SeqCst))
}

/// Atomically clears `bits` in the aligned 32-bit guest word at `gpa`; returns the old value.
pub fn fetch_and_not_u32(mem: &GuestMemoryMmap, gpa: u64, bits: u32) -> Option<u32> {
    let p = host_ptr(mem, gpa, 4)?;
    // SAFETY: as in `fetch_or_u64`, for 4 aligned bytes.
    let a = unsafe { &*(p as *const AtomicU32) };
    Some(a.fetch_and(!bits, Ordering::SeqCst))
}

/// Atomically swaps the guest byte at `gpa`; returns the old value.
pub fn swap_u8(mem: &GuestMemoryMmap, gpa: u64, v: u8) -> Option<u8> {
    let p = host_ptr(mem, gpa, 1)?;
    // SAFETY: `p` points to one byte inside a live region of `mem`.
    let a = unsafe { &*(p as *const AtomicU8) };
    Some(a.swap(v, Ordering::SeqCst))
}

/// Atomically loads the guest byte at `gpa`.
pub fn load_u8(mem: &GuestMemoryMmap, gpa: u64) -> Option<u8> {
    let p = host_ptr(mem, gpa, 1)?;
    // SAFETY: `p` points to one byte inside a live region of `mem`.
    let a = unsafe { &*(p as *const AtomicU8) };
    Some(a.load(Ordering::SeqCst))
}
