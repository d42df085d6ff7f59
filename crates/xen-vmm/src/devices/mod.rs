//! Xen PV devices as pure logic over guest memory.
//!
//! Each device is a plain state machine that reads and writes a guest
//! page through [`vm_memory::Bytes<GuestAddress>`] (for example a
//! [`vm_memory::GuestMemoryMmap`]). None of them touches KVM, threads,
//! file descriptors or event channels: the VMM core calls them when the
//! guest kicks the matching event channel (`EVTCHNOP_send`) or yields
//! (`SCHEDOP_yield`), and the device tells the core whether it must
//! notify the guest back. Host plumbing (where console bytes go) sits
//! behind [`std::io::Write`]. As in vm-superio, the state that a snapshot
//! needs is split out into plain structs (`*State`) with
//! `state()` / `from_state()`.
//!
//! The xenstore server and the grant table are crates of their own,
//! usable without this VMM: [`xen_store`] and [`xen_gnttab`] (re-exported
//! here as [`xenstore`] and [`gnttab`]).
//!
//! | module | guest ABI | the core calls |
//! | --- | --- | --- |
//! | [`console`] | `xencons_interface` at `HVM_PARAM_CONSOLE_PFN` | [`console::Console::process`], [`console::Console::queue_input`], [`console::Console::read_input`] (`CONSOLEIO_read`), [`console::Console::use_ring`] |
//! | [`xenstore`] (`xen-store`) | `xenstore_domain_interface` at `HVM_PARAM_STORE_PFN` | [`xenstore::Xenstore::process`], [`xenstore::Xenstore::write`] |
//! | [`gnttab`] (`xen-gnttab`) | `GNTTABOP_*`, `XENMEM_add_to_physmap(XENMAPSPACE_grant_table)` | [`gnttab::GrantTable::add_to_physmap`], [`gnttab::GrantTable::setup_table`], ... |
//!
//! # Threat model (console)
//!
//! The guest owns the ring page and may write anything at any time,
//! concurrently with the VMM. Every index is read once per pass with an
//! atomic load, all index arithmetic wraps, ring offsets are masked, and
//! an index that claims more data (or space) than the ring holds is a
//! guest bug: the console logs it, resynchronises (drops what it cannot
//! trust) and carries on. Nothing a guest writes makes it panic,
//! allocate without bound or loop forever. The threat models of the
//! xenstore server and the grant table are in their crates' docs.
//!
//! | guest sends | what happens |
//! | --- | --- |
//! | producer index ahead of consumer by more than the ring size | logged; the pending data is dropped and the consumer jumps to the producer |
//! | consumer index that runs ahead of our producer | logged; our producer is reset to the consumer (ring treated as empty) |
//!
//! See `README-grub.md` next to this file for what a real guest (GRUB's
//! `i386-xen_pvh` port) needs from the VMM around these devices.

pub mod console;
pub use xen_gnttab as gnttab;
pub use xen_store as xenstore;

use vm_memory::{Bytes, GuestAddress};

/// Size of a Xen page (all ring pages are one page).
pub const XEN_PAGE_SIZE: u64 = 4096;

/// Errors of the console.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A guest-memory access at this guest physical address failed (the
    /// ring page is not backed by guest RAM).
    #[error("guest memory access failed at {0:#x}")]
    GuestMemory(u64),
    /// Writing console output to the host sink failed. The guest's data was
    /// consumed (and lost) so the guest does not stall.
    #[error("console output: {0}")]
    Output(#[source] std::io::Error),
    /// A configuration value given by the VMM is out of range.
    #[error("invalid configuration: {0}")]
    Config(&'static str),
}

impl Error {
    /// The Xen errno (negative) a hypercall handler should return for this
    /// error, for the errors that come from guest arguments.
    pub fn xen_errno(&self) -> i64 {
        match self {
            Error::GuestMemory(_) => -14, // EFAULT
            Error::Output(_) => -5,       // EIO
            Error::Config(_) => -22,      // EINVAL
        }
    }
}

/// Result of the device operations.
pub type Result<T> = std::result::Result<T, Error>;

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
        .ok_or(Error::Config("page frame number overflows"))
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
        assert_eq!(e.xen_errno(), -14);
        assert!(load_idx(&mem, 0x20000).is_err());
        assert!(page_base(u64::MAX).is_err());
    }
}
