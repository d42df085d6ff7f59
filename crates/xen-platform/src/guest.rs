// SPDX-License-Identifier: Apache-2.0 OR BSD-3-Clause
//! Reading guest bytes the guest may change concurrently (the vCPU thread
//! polls `evtchn_upcall_pending` before each entry), and the direct loads of
//! the per-hypercall reads: a scalar argument is one region lookup and one
//! aligned atomic load, a page-table walk one region lookup (while its tables
//! stay in one region) and one aligned atomic load per entry.

use std::sync::atomic::Ordering;

use vm_memory::{
    AtomicAccess, AtomicInteger, Bytes, GuestAddress, GuestMemoryBackend, GuestMemoryError,
    GuestMemoryMmap, GuestMemoryRegion, GuestRegionMmap, MemoryRegionAddress, ReadVolatile,
    WriteVolatile,
};

/// Atomically loads the guest byte at `gpa` (None if it is not RAM).
pub fn load_u8(mem: &GuestMemoryMmap, gpa: u64) -> Option<u8> {
    load_direct(mem, gpa, Ordering::SeqCst)
}

/// The host address of `[gpa, gpa + len)` if it lies in `region` and the
/// address is a multiple of `align` (a power of two).
fn region_ptr(region: &GuestRegionMmap, gpa: u64, len: u64, align: usize) -> Option<*mut u8> {
    let offset = gpa.checked_sub(region.start_addr().0)?;
    if offset.checked_add(len)? > region.len() {
        return None;
    }
    let p = region.get_host_address(MemoryRegionAddress(offset)).ok()?;
    (p as usize % align == 0).then_some(p)
}

/// Atomically loads the naturally aligned `T` at `gpa` from `region` (None if
/// it is misaligned or not all in the region): one load.
fn load_in<T: AtomicAccess>(region: &GuestRegionMmap, gpa: u64, order: Ordering) -> Option<T> {
    let p = region_ptr(region, gpa, size_of::<T>() as u64, align_of::<T::A>())?;
    // SAFETY: `p` is aligned for `T::A` (checked by `region_ptr`), which has
    // the size of `T`, and those bytes lie inside `region` (checked by
    // `region_ptr`), a mapping that the borrow of `region` keeps alive; the
    // guest changes them with plain or atomic CPU accesses, which an atomic
    // load tolerates.
    let a = unsafe { &*(p as *const T::A) };
    Some(a.load(order).into())
}

/// Atomically loads the naturally aligned `T` at `gpa` (None if it is
/// misaligned or not all in one region): one region lookup and one load.
fn load_direct<T: AtomicAccess>(mem: &GuestMemoryMmap, gpa: u64, order: Ordering) -> Option<T> {
    load_in(mem.find_region(GuestAddress(gpa))?, gpa, order)
}

/// Atomically loads the naturally aligned guest `u64` at `gpa` (None if it is
/// misaligned or not RAM): the reference [`QwordLoader`] is tested against.
#[cfg(test)]
pub fn load_u64(mem: &GuestMemoryMmap, gpa: u64) -> Option<u64> {
    load_direct(mem, gpa, Ordering::Relaxed)
}

/// Aligned guest `u64` loads that remember the last region they found: the
/// entries of one page-table walk usually lie in one region, so a walk looks
/// a region up once rather than at each level.
pub(crate) struct QwordLoader<'a> {
    mem: &'a GuestMemoryMmap,
    /// The last region found.
    last: Option<&'a GuestRegionMmap>,
}

impl<'a> QwordLoader<'a> {
    /// Loads from `mem`, no region remembered yet.
    pub(crate) fn new(mem: &'a GuestMemoryMmap) -> Self {
        QwordLoader { mem, last: None }
    }

    /// Atomically loads the naturally aligned guest `u64` at `gpa` (None if
    /// it is misaligned or not RAM).
    pub(crate) fn load(&mut self, gpa: u64) -> Option<u64> {
        let region = match self.last {
            Some(r) if r.to_region_addr(GuestAddress(gpa)).is_some() => r,
            _ => {
                let r = self.mem.find_region(GuestAddress(gpa))?;
                self.last = Some(r);
                r
            }
        };
        load_in(region, gpa, Ordering::Relaxed)
    }
}

/// Guest RAM as the platform hands it to xen-hypercall: [`GuestMemoryMmap`],
/// with [`Bytes::load`] of an aligned scalar (most hypercall arguments: a
/// port, a handle) done with one region lookup and one load rather than
/// vm-memory's generic slice iterator. Everything else is `GuestMemoryMmap`'s.
#[derive(Clone, Copy, Debug)]
pub(crate) struct GuestRam<'a>(pub &'a GuestMemoryMmap);

impl Bytes<GuestAddress> for GuestRam<'_> {
    type E = GuestMemoryError;

    fn write(&self, buf: &[u8], addr: GuestAddress) -> Result<usize, Self::E> {
        self.0.write(buf, addr)
    }
    fn read(&self, buf: &mut [u8], addr: GuestAddress) -> Result<usize, Self::E> {
        self.0.read(buf, addr)
    }
    fn write_slice(&self, buf: &[u8], addr: GuestAddress) -> Result<(), Self::E> {
        self.0.write_slice(buf, addr)
    }
    fn read_slice(&self, buf: &mut [u8], addr: GuestAddress) -> Result<(), Self::E> {
        self.0.read_slice(buf, addr)
    }
    fn read_volatile_from<F: ReadVolatile>(
        &self,
        addr: GuestAddress,
        src: &mut F,
        count: usize,
    ) -> Result<usize, Self::E> {
        self.0.read_volatile_from(addr, src, count)
    }
    fn read_exact_volatile_from<F: ReadVolatile>(
        &self,
        addr: GuestAddress,
        src: &mut F,
        count: usize,
    ) -> Result<(), Self::E> {
        self.0.read_exact_volatile_from(addr, src, count)
    }
    fn write_volatile_to<F: WriteVolatile>(
        &self,
        addr: GuestAddress,
        dst: &mut F,
        count: usize,
    ) -> Result<usize, Self::E> {
        self.0.write_volatile_to(addr, dst, count)
    }
    fn write_all_volatile_to<F: WriteVolatile>(
        &self,
        addr: GuestAddress,
        dst: &mut F,
        count: usize,
    ) -> Result<(), Self::E> {
        self.0.write_all_volatile_to(addr, dst, count)
    }
    fn store<T: AtomicAccess>(
        &self,
        val: T,
        addr: GuestAddress,
        order: Ordering,
    ) -> Result<(), Self::E> {
        self.0.store(val, addr, order)
    }
    fn load<T: AtomicAccess>(&self, addr: GuestAddress, order: Ordering) -> Result<T, Self::E> {
        match load_direct(self.0, addr.0, order) {
            Some(v) => Ok(v),
            // Misaligned, across regions or not RAM: vm-memory's answer.
            None => self.0.load(addr, order),
        }
    }
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

    #[test]
    fn loads_aligned_qwords_of_ram_only() {
        let mem = GuestMemoryMmap::from_ranges(&[
            (GuestAddress(0), 0x1000),
            (GuestAddress(0x3000), 0x1000),
        ])
        .unwrap();
        mem.write_obj(0x1122_3344_5566_7788u64, GuestAddress(0xff8))
            .unwrap();
        mem.write_obj(9u64, GuestAddress(0x3000)).unwrap();
        assert_eq!(load_u64(&mem, 0xff8), Some(0x1122_3344_5566_7788));
        assert_eq!(load_u64(&mem, 0x3000), Some(9));
        // Misaligned, in the hole between the regions, past the end, at the top.
        assert_eq!(load_u64(&mem, 0xff4), None);
        assert_eq!(load_u64(&mem, 0x1000), None);
        assert_eq!(load_u64(&mem, 0x2ff8), None);
        assert_eq!(load_u64(&mem, 0x4000), None);
        assert_eq!(load_u64(&mem, !7), None);
    }

    #[test]
    fn qword_loader_loads_as_load_u64_does() {
        let mem = GuestMemoryMmap::from_ranges(&[
            (GuestAddress(0), 0x1000),
            (GuestAddress(0x3000), 0x2000),
        ])
        .unwrap();
        for i in (0..0x1000u64).step_by(8) {
            mem.write_obj(i ^ 0x5a5a, GuestAddress(i)).unwrap();
        }
        for i in (0x3000..0x5000u64).step_by(8) {
            mem.write_obj(!i, GuestAddress(i)).unwrap();
        }
        let addrs = [
            0u64,
            8,
            0xff8,
            0xffc,
            0x1000,
            0x2ff8,
            0x3000,
            0x3004,
            0x4ff8,
            0x5000,
            0xff8,
            0x3ff8,
            0,
            !7,
            u64::MAX,
        ];
        // One loader across all of them: the remembered region never
        // answers for an address outside it.
        let mut loader = QwordLoader::new(&mem);
        for a in addrs {
            assert_eq!(loader.load(a), load_u64(&mem, a), "{a:#x}");
        }
        for a in addrs.iter().rev() {
            assert_eq!(loader.load(*a), load_u64(&mem, *a), "{a:#x}");
        }
    }

    #[test]
    fn guest_ram_loads_as_guest_memory_does() {
        let mem = GuestMemoryMmap::from_ranges(&[
            (GuestAddress(0), 0x1000),
            (GuestAddress(0x3000), 0x1000),
        ])
        .unwrap();
        for i in 0..0x1000u64 {
            mem.write_obj(i as u8 ^ 0x5a, GuestAddress(i)).unwrap();
            mem.write_obj(i as u8, GuestAddress(0x3000 + i)).unwrap();
        }
        let ram = GuestRam(&mem);
        let o = Ordering::Relaxed;
        // Aligned, misaligned (vm-memory's answer), at the ends of regions, in
        // the hole, across the hole: every answer is GuestMemoryMmap's.
        for a in [
            0u64,
            4,
            8,
            0x7fc,
            0xff8,
            0xffc,
            0xffe,
            0xfff,
            0x1000,
            0x2ffc,
            0x3000,
            0x3001,
            0x3ff8,
            0x3ffc,
            0x4000,
            u64::MAX - 3,
        ] {
            let g = GuestAddress(a);
            assert_eq!(
                ram.load::<u8>(g, o).ok(),
                mem.load::<u8>(g, o).ok(),
                "{a:#x}"
            );
            assert_eq!(
                ram.load::<u16>(g, o).ok(),
                mem.load::<u16>(g, o).ok(),
                "{a:#x}"
            );
            assert_eq!(
                ram.load::<u32>(g, o).ok(),
                mem.load::<u32>(g, o).ok(),
                "{a:#x}"
            );
            assert_eq!(
                ram.load::<u64>(g, o).ok(),
                mem.load::<u64>(g, o).ok(),
                "{a:#x}"
            );
        }
        assert_eq!(
            ram.load::<u32>(GuestAddress(0x3004), o).unwrap(),
            0x0706_0504
        );
        // The other methods are GuestMemoryMmap's.
        ram.write_obj(0xabcd_u16, GuestAddress(0x3010)).unwrap();
        assert_eq!(ram.read_obj::<u16>(GuestAddress(0x3010)).unwrap(), 0xabcd);
        ram.store(7u32, GuestAddress(0x3020), o).unwrap();
        assert_eq!(mem.read_obj::<u32>(GuestAddress(0x3020)).unwrap(), 7);
        assert!(ram.read_obj::<u64>(GuestAddress(0xffc)).is_err());
        assert!(ram.write_slice(&[1; 8], GuestAddress(0x3ffc)).is_err());
    }
}
