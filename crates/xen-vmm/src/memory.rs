// SPDX-License-Identifier: Apache-2.0 OR BSD-3-Clause
//! Guest physical memory: the layout this VMM gives guests, building the
//! `GuestMemoryMmap`, registering it with KVM, and adding single pages in
//! holes (for shared_info / grant frames mapped at GFNs outside RAM).

use std::sync::Arc;

use kvm_bindings::kvm_userspace_memory_region;
use kvm_ioctls::VmFd;
use vm_memory::{
    Address, GuestAddress, GuestMemoryBackend, GuestMemoryMmap, GuestMemoryRegion, GuestRegionMmap,
    MmapRegion,
};

use crate::error::{Error, Result};

/// Guest page size.
pub const PAGE_SIZE: u64 = 0x1000;
/// End of low RAM (start of the legacy hole, as Xen gives PVH guests).
pub const LOW_RAM_END: u64 = 0xA_0000;
/// Start of high RAM (end of the legacy hole).
pub const HIGH_RAM_START: u64 = 0x10_0000;
/// Grant-table frames a guest may map.
pub const GRANT_FRAMES: u32 = 4;
/// Smallest guest RAM size accepted.
pub const MIN_MEM_BYTES: u64 = 4 << 20;
/// Largest guest RAM size accepted. Up to [`LOW_RAM_TOP`] it is all below 4 GiB; the rest
/// starts at [`ABOVE_4G_START`].
pub const MAX_MEM_BYTES: u64 = 64 << 30;
/// Where RAM below 4 GiB ends for guests larger than this (the 32-bit MMIO window and
/// the GFNs guests map grant frames and shared_info at lie above it).
pub const LOW_RAM_TOP: u64 = 3 << 30;
/// Where RAM above the 32-bit MMIO window starts (for guests of more than
/// [`LOW_RAM_TOP`]).
pub const ABOVE_4G_START: u64 = 1 << 32;
/// Number of special pages reserved at the top of RAM (console ring, xenstore ring).
pub const SPECIAL_PAGES: u64 = 2;
pub use xen_platform::memory::{hole_page_allowed, MMIO_HOLE_END, MMIO_HOLE_START};

/// Where the VMM puts things in low memory.
pub mod layout {
    /// GDT used for raw 64-bit boot.
    pub const GDT: u64 = 0x1000;
    /// PML4 of the identity map for raw 64-bit boot (then PDPT, 4 PDs).
    pub const PML4: u64 = 0x2000;
    /// hvm_start_info for PVH boot.
    pub const START_INFO: u64 = 0x9000;
    /// e820-style memory map referenced by hvm_start_info.
    pub const MEMMAP: u64 = 0x9100;
    /// Module list (`hvm_modlist_entry`, the initrd) referenced by hvm_start_info.
    pub const MODLIST: u64 = 0x9800;
    /// Kernel command line (NUL terminated, at most `CMDLINE_MAX` bytes with the NUL).
    pub const CMDLINE: u64 = 0xA000;
    /// Maximum command line size including the terminating NUL.
    pub const CMDLINE_MAX: usize = 0x1000;
    /// Where raw 64-bit images are loaded and entered.
    pub const RAW_LOAD: u64 = 0x10_0000;
    /// Initial stack pointer for raw 64-bit images.
    pub const RAW_STACK: u64 = 0x8_0000;
    /// The ACPI tables (RSDP first): the last page of low RAM, which the
    /// memory map marks `E820_ACPI`.
    pub const ACPI: u64 = 0x9_F000;
    /// Size of the ACPI area.
    pub const ACPI_SIZE: u64 = 0x1000;
}

/// End of the RAM below 4 GiB for a guest with `mem_bytes` of RAM: `mem_bytes` up to
/// [`LOW_RAM_TOP`], then [`LOW_RAM_TOP`].
pub fn low_ram_end(mem_bytes: u64) -> u64 {
    mem_bytes.min(LOW_RAM_TOP)
}

/// The RAM above 4 GiB for a guest with `mem_bytes` of RAM: `(start, len)`, if any.
pub fn ram_above_4g(mem_bytes: u64) -> Option<(u64, u64)> {
    let len = mem_bytes.saturating_sub(LOW_RAM_TOP);
    (len > 0).then_some((ABOVE_4G_START, len))
}

/// Checks that all of a `mem_bytes` guest's RAM lies below `2^phys_addr_bits` (the
/// physical address width its vCPUs are given).
///
/// # Errors
/// [`Error::Config`] if the RAM above 4 GiB ends beyond that.
pub fn check_addressable(mem_bytes: u64, phys_addr_bits: u8) -> Result<()> {
    let end = ram_above_4g(mem_bytes).map_or(low_ram_end(mem_bytes), |(start, len)| start + len);
    let limit = 1u64.checked_shl(phys_addr_bits.into()).unwrap_or(u64::MAX);
    if end > limit {
        return Err(Error::Config(format!(
            "guest memory {} MiB ends at {end:#x}, beyond the vCPUs' {phys_addr_bits} \
             physical address bits",
            mem_bytes >> 20
        )));
    }
    Ok(())
}

/// GPA of the xenstore ring page for a guest with `mem_bytes` of RAM (at the top of
/// the RAM below 4 GiB, where a 32-bit guest reaches it).
pub fn store_page(mem_bytes: u64) -> u64 {
    low_ram_end(mem_bytes) - SPECIAL_PAGES * PAGE_SIZE
}

/// GPA of the PV console ring page for a guest with `mem_bytes` of RAM.
pub fn console_page(mem_bytes: u64) -> u64 {
    low_ram_end(mem_bytes) - PAGE_SIZE
}

/// Builds the guest RAM: `[0, 640 KiB)`, `[1 MiB, low_ram_end)` and, for more than
/// [`LOW_RAM_TOP`], the rest from [`ABOVE_4G_START`].
pub fn create_guest_memory(mem_bytes: u64) -> Result<GuestMemoryMmap> {
    if mem_bytes < MIN_MEM_BYTES {
        return Err(Error::Config(format!(
            "guest memory {} MiB is too small (minimum {} MiB)",
            mem_bytes >> 20,
            MIN_MEM_BYTES >> 20
        )));
    }
    if mem_bytes > MAX_MEM_BYTES {
        return Err(Error::Config(format!(
            "guest memory {} MiB is too large (maximum {} MiB)",
            mem_bytes >> 20,
            MAX_MEM_BYTES >> 20
        )));
    }
    if !mem_bytes.is_multiple_of(PAGE_SIZE) {
        return Err(Error::Config("guest memory must be page aligned".into()));
    }
    let mut ranges = vec![
        (GuestAddress(0), LOW_RAM_END as usize),
        (
            GuestAddress(HIGH_RAM_START),
            (low_ram_end(mem_bytes) - HIGH_RAM_START) as usize,
        ),
    ];
    if let Some((start, len)) = ram_above_4g(mem_bytes) {
        ranges.push((GuestAddress(start), len as usize));
    }
    GuestMemoryMmap::from_ranges(&ranges)
        .map_err(|e| Error::Memory(format!("cannot allocate guest RAM: {e}")))
}

/// Registers one region with KVM in `slot`.
pub fn register_region(vm: &VmFd, slot: u32, region: &GuestRegionMmap) -> Result<()> {
    let host = region
        .get_host_address(vm_memory::MemoryRegionAddress(0))
        .map_err(|e| Error::Memory(format!("region without host mapping: {e}")))?;
    let desc = kvm_userspace_memory_region {
        slot,
        guest_phys_addr: region.start_addr().raw_value(),
        memory_size: region.len(),
        userspace_addr: host as u64,
        flags: 0,
    };
    // SAFETY: the region is a live anonymous mapping of `len` bytes owned by the
    // guest memory object, which the VM keeps alive (in its memory map, never
    // unmapping a registered region) for as long as the VM exists.
    unsafe { vm.set_user_memory_region(desc) }.map_err(Error::kvm("KVM_SET_USER_MEMORY_REGION"))
}

/// Registers every region of `mem` with KVM, slots numbered from 0.
pub fn register_all(vm: &VmFd, mem: &GuestMemoryMmap) -> Result<u32> {
    let mut slot = 0;
    for region in mem.iter() {
        register_region(vm, slot, region)?;
        slot += 1;
    }
    Ok(slot)
}

/// Returns a copy of `mem` with one extra zeroed page at `gpa`, and the new region.
///
/// Fails if `gpa` is not page aligned, overlaps existing memory, lies in
/// the MMIO window below 4 GiB or beyond 52-bit physical addresses (the
/// caller checks the guest's own width with [`xen_platform::memory::hole_page_allowed`]).
pub fn with_extra_page(
    mem: &GuestMemoryMmap,
    gpa: u64,
) -> Result<(GuestMemoryMmap, Arc<GuestRegionMmap>)> {
    if !hole_page_allowed(gpa, xen_platform::memory::MAX_PHYS_ADDR_BITS) {
        return Err(Error::Memory(format!("cannot map a page at {gpa:#x}")));
    }
    if mem.address_in_range(GuestAddress(gpa)) {
        return Err(Error::Memory(format!("{gpa:#x} is already backed")));
    }
    let mmap = MmapRegion::new(PAGE_SIZE as usize)
        .map_err(|e| Error::Memory(format!("mmap of an extra page: {e}")))?;
    let region = Arc::new(
        GuestRegionMmap::new(mmap, GuestAddress(gpa))
            .ok_or_else(|| Error::Memory("region overflows".into()))?,
    );
    let new = mem
        .insert_region(region.clone())
        .map_err(|e| Error::Memory(format!("insert region at {gpa:#x}: {e}")))?;
    Ok((new, region))
}

/// The host address of `[gpa, gpa + len)` if it is whole pages inside one region of
/// `ram` that is private anonymous memory (where a page without a frame reads as
/// zero); `None` otherwise.
fn private_anon_host(ram: &GuestMemoryMmap, gpa: u64, len: u64) -> Option<*mut u8> {
    if len == 0 || !gpa.is_multiple_of(PAGE_SIZE) || !len.is_multiple_of(PAGE_SIZE) {
        return None;
    }
    let region = ram.find_region(GuestAddress(gpa))?;
    let off = gpa - region.start_addr().raw_value();
    if off.checked_add(len).is_none_or(|end| end > region.len()) {
        return None;
    }
    let private_anon = libc::MAP_PRIVATE | libc::MAP_ANONYMOUS;
    if region.file_offset().is_some() || region.flags() & private_anon != private_anon {
        return None;
    }
    region
        .get_host_address(vm_memory::MemoryRegionAddress(off))
        .ok()
}

/// Gives the host memory behind guest pages `[gpa, gpa + count * 4096)` back to
/// the host (`madvise(MADV_DONTNEED)`): they read as zero afterwards and take
/// memory again only when touched. The pages must be whole and inside one region
/// of `ram` that is private anonymous memory (where `MADV_DONTNEED` means zero
/// pages); anything else is refused (`false`).
pub fn discard_pages(ram: &GuestMemoryMmap, gpa: u64, count: u64) -> bool {
    advise_pages(ram, gpa, count, Advice::Discard)
}

/// Faults in `count` pages of guest RAM at `gpa` for writing, in one call
/// (`MADV_POPULATE_WRITE`) where the RAM is private anonymous memory: a restore
/// about to fill them then takes no page fault per page. Returns whether it
/// did (false: not such memory, or a kernel older than 5.14); the pages are
/// then faulted in as they are written, as before.
pub fn populate_pages(ram: &GuestMemoryMmap, gpa: u64, count: u64) -> bool {
    advise_pages(ram, gpa, count, Advice::Populate)
}

/// What [`advise_pages`] asks of the kernel.
#[derive(Clone, Copy)]
enum Advice {
    /// `MADV_DONTNEED`: the pages become zero-fill-on-demand.
    Discard,
    /// `MADV_POPULATE_WRITE`: the pages are faulted in, their contents kept.
    Populate,
}

/// `madvise` of `count` whole pages of guest RAM at `gpa`, where they lie in
/// one region of private anonymous memory; whether it was done.
fn advise_pages(ram: &GuestMemoryMmap, gpa: u64, count: u64, advice: Advice) -> bool {
    let Some(len) = count.checked_mul(PAGE_SIZE) else {
        return false;
    };
    let Some(host) = private_anon_host(ram, gpa, len) else {
        return false;
    };
    let advice = match advice {
        Advice::Discard => libc::MADV_DONTNEED,
        Advice::Populate => libc::MADV_POPULATE_WRITE,
    };
    // SAFETY: `[host, host + len)` lies inside the live private anonymous mapping of
    // one region of `ram` (checked by `private_anon_host`), which `ram` keeps alive.
    // MADV_DONTNEED only replaces those pages with zero-fill-on-demand ones and
    // MADV_POPULATE_WRITE only faults them in (as a write to each would, contents kept);
    // all guest memory access goes through vm-memory's volatile accessors or the guest
    // itself (KVM follows through its MMU notifier), so no Rust reference into the range
    // is invalidated.
    let r = unsafe { libc::madvise(host.cast(), len as usize, advice) };
    r == 0
}

/// This process's page table as `/proc/self/pagemap` shows it: tells which guest
/// pages were never touched (or were discarded), so that a snapshot can skip them
/// without reading them.
///
/// A page of private anonymous memory with neither a frame (bit 63 of its entry)
/// nor a swap entry (bit 62) has never been written since it was mapped or
/// discarded: it reads as zeros. Any other page, and any page of other memory
/// (shared, file-backed), counts as touched.
#[derive(Debug)]
pub struct PageMap {
    file: std::fs::File,
}

/// Pagemap entry: the page has a frame.
const PM_PRESENT: u64 = 1 << 63;
/// Pagemap entry: the page is swapped out.
const PM_SWAPPED: u64 = 1 << 62;

impl PageMap {
    /// Opens `/proc/self/pagemap`; `None` where it cannot be read (then every page
    /// counts as touched).
    pub fn open() -> Option<PageMap> {
        std::fs::File::open("/proc/self/pagemap")
            .ok()
            .map(|file| PageMap { file })
    }

    /// Whether every page of `[gpa, gpa + len)` reads as zeros without being
    /// read: whole pages inside one private anonymous region of `ram`, none with a
    /// frame or a swap entry. `false` when unsure. `buf` is scratch space (kept
    /// between calls to save allocations).
    pub fn untouched(&self, ram: &GuestMemoryMmap, gpa: u64, len: u64, buf: &mut Vec<u8>) -> bool {
        use std::os::unix::fs::FileExt;
        let Some(host) = private_anon_host(ram, gpa, len) else {
            return false;
        };
        let pages = (len / PAGE_SIZE) as usize;
        buf.resize(pages * 8, 0);
        let at = (host as u64 / PAGE_SIZE) * 8;
        if self.file.read_exact_at(buf, at).is_err() {
            return false;
        }
        buf.chunks_exact(8).all(|e| {
            let e = u64::from_le_bytes(e.try_into().unwrap_or([0xff; 8]));
            e & (PM_PRESENT | PM_SWAPPED) == 0
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn too_little_memory_is_refused_by_name() {
        assert!(create_guest_memory(1 << 20)
            .unwrap_err()
            .to_string()
            .contains("too small"));
    }

    #[test]
    fn ram_beyond_three_gib_continues_above_four_gib() {
        use vm_memory::GuestMemoryRegion;
        let regions = |mem: &GuestMemoryMmap| -> Vec<(u64, u64)> {
            mem.iter().map(|r| (r.start_addr().0, r.len())).collect()
        };
        let mem = create_guest_memory(LOW_RAM_TOP).unwrap();
        assert_eq!(
            regions(&mem),
            [
                (0, LOW_RAM_END),
                (HIGH_RAM_START, LOW_RAM_TOP - HIGH_RAM_START)
            ]
        );
        let mem = create_guest_memory(4 << 30).unwrap();
        assert_eq!(
            regions(&mem),
            [
                (0, LOW_RAM_END),
                (HIGH_RAM_START, LOW_RAM_TOP - HIGH_RAM_START),
                (1 << 32, 1 << 30)
            ]
        );
        // RAM, less the two holes below 1 MiB and at 3-4 GiB: the size asked for.
        let ram: u64 = regions(&mem).iter().map(|r| r.1).sum();
        assert_eq!(ram, (4 << 30) - (HIGH_RAM_START - LOW_RAM_END));
        // The rings stay below 4 GiB, where a 32-bit guest reaches them.
        assert_eq!(console_page(4 << 30), LOW_RAM_TOP - PAGE_SIZE);
        assert_eq!(store_page(4 << 30), LOW_RAM_TOP - 2 * PAGE_SIZE);
        assert_eq!(console_page(64 << 20), (64 << 20) - PAGE_SIZE);
        assert_eq!(ram_above_4g(LOW_RAM_TOP), None);
        // 64 GiB ends at 65 GiB: 37 address bits are enough, 36 are not.
        assert!(check_addressable(MAX_MEM_BYTES, 37).is_ok());
        assert!(check_addressable(MAX_MEM_BYTES, 36)
            .unwrap_err()
            .to_string()
            .contains("36 physical address bits"));
        assert!(check_addressable(LOW_RAM_TOP, 32).is_ok());
        assert!(create_guest_memory(MAX_MEM_BYTES + (1 << 20))
            .unwrap_err()
            .to_string()
            .contains("too large"));
    }

    #[test]
    fn discarded_pages_read_as_zero() {
        use vm_memory::Bytes;
        let mem = create_guest_memory(MIN_MEM_BYTES).unwrap();
        let at = HIGH_RAM_START + 0x5000;
        mem.write_slice(&[0xa5; 0x2000], GuestAddress(at)).unwrap();
        mem.write_obj(0x77u8, GuestAddress(at + 0x2000)).unwrap();
        assert!(discard_pages(&mem, at, 2));
        let mut b = [1u8; 0x2000];
        mem.read_slice(&mut b, GuestAddress(at)).unwrap();
        assert!(b.iter().all(|&x| x == 0));
        assert_eq!(mem.read_obj::<u8>(GuestAddress(at + 0x2000)).unwrap(), 0x77);
        // Not whole pages, across regions, outside RAM, nothing.
        assert!(!discard_pages(&mem, at + 1, 1));
        assert!(!discard_pages(&mem, LOW_RAM_END - PAGE_SIZE, 2));
        assert!(!discard_pages(&mem, MIN_MEM_BYTES, 1));
        assert!(!discard_pages(&mem, at, 0));
        assert!(!discard_pages(&mem, at, u64::MAX));
    }

    #[test]
    fn populated_pages_are_present_and_unchanged() {
        use vm_memory::Bytes;
        let Some(pm) = PageMap::open() else {
            panic!("/proc/self/pagemap cannot be read");
        };
        let mem = create_guest_memory(MIN_MEM_BYTES).unwrap();
        let mut buf = Vec::new();
        let at = HIGH_RAM_START + 0x20_0000;
        mem.write_obj(0x5au8, GuestAddress(at + 0x1000)).unwrap();
        assert!(pm.untouched(&mem, at + 0x2000, 0x2000, &mut buf));
        assert!(
            populate_pages(&mem, at, 4),
            "MADV_POPULATE_WRITE (Linux 5.14)"
        );
        assert!(!pm.untouched(&mem, at, 0x1000, &mut buf), "faulted in");
        assert!(!pm.untouched(&mem, at + 0x3000, 0x1000, &mut buf));
        assert!(
            pm.untouched(&mem, at + 0x4000, 0x1000, &mut buf),
            "past the range"
        );
        let mut b = [1u8; 0x4000];
        mem.read_slice(&mut b, GuestAddress(at)).unwrap();
        assert_eq!(b[0x1000], 0x5a, "contents kept");
        assert_eq!(b.iter().filter(|&&x| x != 0).count(), 1);
        // Not whole pages, across regions, outside RAM, nothing.
        assert!(!populate_pages(&mem, at + 1, 1));
        assert!(!populate_pages(&mem, LOW_RAM_END - PAGE_SIZE, 2));
        assert!(!populate_pages(&mem, MIN_MEM_BYTES + (1 << 32), 1));
        assert!(!populate_pages(&mem, at, 0));
        assert!(!populate_pages(&mem, at, u64::MAX));
    }

    #[test]
    fn pagemap_tells_untouched_pages() {
        use vm_memory::Bytes;
        let Some(pm) = PageMap::open() else {
            panic!("/proc/self/pagemap cannot be read");
        };
        let mem = create_guest_memory(MIN_MEM_BYTES).unwrap();
        let mut buf = Vec::new();
        let at = HIGH_RAM_START + 0x10_0000;
        assert!(pm.untouched(&mem, at, 0x10_0000, &mut buf), "fresh memory");
        mem.write_obj(1u8, GuestAddress(at + 0x3000)).unwrap();
        assert!(
            !pm.untouched(&mem, at, 0x10_0000, &mut buf),
            "a written page"
        );
        assert!(pm.untouched(&mem, at, 0x3000, &mut buf));
        assert!(pm.untouched(&mem, at + 0x4000, 0x1000, &mut buf));
        // A page that was read has the zero page behind it: it counts as touched
        // (read, not skipped), which is safe.
        let _: u8 = mem.read_obj(GuestAddress(at + 0x5000)).unwrap();
        assert!(!pm.untouched(&mem, at + 0x5000, 0x1000, &mut buf));
        // Discarded pages are untouched again.
        assert!(discard_pages(&mem, at + 0x3000, 3));
        assert!(pm.untouched(&mem, at, 0x10_0000, &mut buf));
        // Not whole pages, across regions, outside RAM, nothing: unsure.
        assert!(!pm.untouched(&mem, at + 1, 0x1000, &mut buf));
        assert!(!pm.untouched(&mem, at, 0x800, &mut buf));
        assert!(!pm.untouched(&mem, LOW_RAM_END - PAGE_SIZE, 2 * PAGE_SIZE, &mut buf));
        assert!(!pm.untouched(&mem, MIN_MEM_BYTES + (1 << 32), PAGE_SIZE, &mut buf));
        assert!(!pm.untouched(&mem, at, 0, &mut buf));
        // Shared memory: a page without a frame here may have data elsewhere.
        let shared = MmapRegion::<()>::build(
            None,
            0x10000,
            libc::PROT_READ | libc::PROT_WRITE,
            libc::MAP_SHARED | libc::MAP_ANONYMOUS | libc::MAP_NORESERVE,
        )
        .unwrap();
        let shared =
            GuestMemoryMmap::from_regions(vec![
                GuestRegionMmap::new(shared, GuestAddress(0)).unwrap()
            ])
            .unwrap();
        assert!(!pm.untouched(&shared, 0, 0x10000, &mut buf));
    }

    #[test]
    fn extra_page_above_4g() {
        let mem = create_guest_memory(MIN_MEM_BYTES).unwrap();
        let (m, r) = with_extra_page(&mem, 0x1_4000_0000).unwrap();
        assert_eq!(r.start_addr(), GuestAddress(0x1_4000_0000));
        assert!(m.address_in_range(GuestAddress(0x1_4000_0fff)));
        assert!(with_extra_page(&m, 0x1_4000_0000).is_err(), "backed");
        assert!(with_extra_page(&mem, 0x1000).is_err(), "RAM");
        assert!(with_extra_page(&mem, 0xfee0_0000).is_err(), "MMIO");
        assert!(with_extra_page(&mem, 1 << 52).is_err());
    }
}
