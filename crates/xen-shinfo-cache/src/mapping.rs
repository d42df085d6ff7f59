// SPDX-License-Identifier: Apache-2.0 OR BSD-3-Clause
//! Host mappings of guest-physical ranges, and atomic accesses to them.

use std::sync::atomic::{fence, AtomicU32, AtomicU64, AtomicU8, Ordering};
use std::sync::Arc;

use vm_memory::bitmap::Bitmap;
use vm_memory::{GuestAddress, GuestMemoryBackend, GuestMemoryRegion, GuestRegionCollection};

use crate::error::{Error, Result};
use crate::layout::{GuestWidth, WidthLayout};

/// A guest memory map that can hand out shared ownership of its regions.
///
/// Holding an `Arc` of a region keeps its host mapping alive after the region has been
/// removed from the map (hot-unplug, map replaced): a cached mapping can never point at
/// freed memory.
pub trait RegionArcs: GuestMemoryBackend {
    /// The region containing `addr`, shared.
    fn region_arc(&self, addr: GuestAddress) -> Option<Arc<Self::R>>;
}

impl<R: GuestMemoryRegion> RegionArcs for GuestRegionCollection<R> {
    fn region_arc(&self, addr: GuestAddress) -> Option<Arc<R>> {
        let region = self.find_region(addr)?;
        // `GuestRegionCollection` only exposes its `Arc`s through `remove_region`, which
        // returns a new collection (dropped here) and the shared region. Revalidation is
        // rare, so the cost of cloning the region vector does not matter.
        self.remove_region(region.start_addr(), region.len())
            .ok()
            .map(|(_, arc)| arc)
    }
}

/// One host-contiguous piece of a mapped range.
#[derive(Debug)]
struct Segment<R> {
    /// Keeps the host mapping alive.
    region: Arc<R>,
    /// Host address of the first byte of this segment.
    host: usize,
    /// Offset of the segment inside `region` (for dirty tracking).
    region_offset: usize,
    /// Length in bytes.
    len: usize,
}

impl<R> Clone for Segment<R> {
    fn clone(&self) -> Self {
        Segment {
            region: Arc::clone(&self.region),
            host: self.host,
            region_offset: self.region_offset,
            len: self.len,
        }
    }
}

/// The host mapping of a guest-physical range `[gpa, gpa + len)`.
///
/// It owns `Arc`s of the memory regions it points into, so it stays valid (points at live,
/// mapped host memory) for as long as it exists, even after the guest memory map has
/// changed. After such a change it may point at memory the guest no longer sees: the owning
/// [`crate::GpaCache`] revalidates before use.
///
/// Offsets given to its methods are relative to `gpa`; out-of-range accesses return
/// [`Error::OutOfRange`], never touch memory.
#[derive(Debug)]
pub struct MappedRange<R> {
    gpa: u64,
    len: usize,
    segs: [Option<Segment<R>>; 2],
}

impl<R> Clone for MappedRange<R> {
    fn clone(&self) -> Self {
        MappedRange {
            gpa: self.gpa,
            len: self.len,
            segs: self.segs.clone(),
        }
    }
}

impl<R: GuestMemoryRegion> MappedRange<R> {
    /// Maps `[gpa, gpa + len)` through `mem`. The range may span at most two regions.
    pub fn new<M>(mem: &M, gpa: u64, len: usize) -> Result<Self>
    where
        M: RegionArcs<R = R>,
    {
        let not_mapped = Error::NotMapped {
            gpa,
            len: len as u64,
        };
        if len == 0 {
            return Err(not_mapped);
        }
        gpa.checked_add(len as u64 - 1)
            .ok_or(Error::AddressOverflow(gpa))?;
        let mut segs: [Option<Segment<R>>; 2] = [None, None];
        let mut done = 0usize;
        for seg in segs.iter_mut() {
            if done == len {
                break;
            }
            let addr = GuestAddress(gpa + done as u64);
            let region = mem.region_arc(addr).ok_or(not_mapped.clone())?;
            let region_addr = region.to_region_addr(addr).ok_or(not_mapped.clone())?;
            let region_offset = region_addr.0 as usize;
            let avail = (region.len() as usize).saturating_sub(region_offset);
            let take = avail.min(len - done);
            if take == 0 {
                return Err(not_mapped);
            }
            let host = region
                .get_host_address(region_addr)
                .map_err(|_| not_mapped.clone())? as usize;
            *seg = Some(Segment {
                region,
                host,
                region_offset,
                len: take,
            });
            done += take;
        }
        if done != len {
            return Err(Error::Fragmented(gpa));
        }
        Ok(MappedRange { gpa, len, segs })
    }

    /// Guest-physical start of the range.
    pub fn gpa(&self) -> u64 {
        self.gpa
    }

    /// Length of the range in bytes.
    pub fn len(&self) -> usize {
        self.len
    }

    /// Whether the range is empty (never true for a constructed range).
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Whether `self` still maps the same host memory as `mem` does for the same range.
    pub fn same_as<M: RegionArcs<R = R>>(&self, mem: &M) -> bool {
        MappedRange::new(mem, self.gpa, self.len).is_ok_and(|other| {
            self.segs
                .iter()
                .zip(other.segs.iter())
                .all(|(a, b)| match (a, b) {
                    (Some(a), Some(b)) => a.host == b.host && a.len == b.len,
                    (None, None) => true,
                    _ => false,
                })
        })
    }

    #[inline]
    fn check(&self, offset: usize, len: usize) -> Result<()> {
        match offset.checked_add(len) {
            Some(end) if end <= self.len => Ok(()),
            _ => Err(Error::OutOfRange {
                offset,
                len,
                size: self.len,
            }),
        }
    }

    /// The segment holding `offset` and the offset inside it.
    #[inline]
    fn locate(&self, offset: usize) -> Option<(&Segment<R>, usize)> {
        let mut base = 0;
        for seg in self.segs.iter().flatten() {
            if offset < base + seg.len {
                return Some((seg, offset - base));
            }
            base += seg.len;
        }
        None
    }

    /// Host pointer to `[offset, offset + size)` if it is inside one segment.
    #[inline]
    fn contiguous(&self, offset: usize, size: usize) -> Result<(*mut u8, &Segment<R>, usize)> {
        self.check(offset, size)?;
        let (seg, inner) = self.locate(offset).ok_or(Error::NotAtomic(offset))?;
        if inner + size > seg.len {
            return Err(Error::NotAtomic(offset));
        }
        Ok(((seg.host + inner) as *mut u8, seg, inner))
    }

    #[inline]
    fn mark_dirty(seg: &Segment<R>, inner: usize, len: usize) {
        seg.region
            .bitmap()
            .mark_dirty(seg.region_offset + inner, len);
    }

    /// A reference to an aligned atomic of type `A` (size `size`) at `offset`.
    #[inline]
    fn atomic<A>(&self, offset: usize, size: usize) -> Result<&A> {
        let (ptr, seg, inner) = self.contiguous(offset, size)?;
        if (ptr as usize) % size != 0 {
            return Err(Error::NotAtomic(offset));
        }
        // Atomics may write: account for it up front (dirty logging is conservative).
        Self::mark_dirty(seg, inner, size);
        // SAFETY: `ptr` points at `size` bytes inside a live host mapping: the segment's
        // `Arc<R>` keeps the region mapped for as long as `self` (and so the returned
        // reference) lives; the bounds were checked above; the pointer is aligned to `size`,
        // which is the size and alignment of `A` (AtomicU8/U32/U64). Guest memory is shared
        // with the guest and other threads, which is exactly what atomic types allow: all
        // accesses through the reference are atomic.
        Ok(unsafe { &*(ptr as *const A) })
    }

    /// Atomic `u8` at `offset`.
    #[inline]
    pub fn atomic_u8(&self, offset: usize) -> Result<&AtomicU8> {
        self.atomic::<AtomicU8>(offset, 1)
    }

    /// Atomic `u32` at `offset` (must be 4-byte aligned on the host and in one segment).
    #[inline]
    pub fn atomic_u32(&self, offset: usize) -> Result<&AtomicU32> {
        self.atomic::<AtomicU32>(offset, 4)
    }

    /// Atomic `u64` at `offset` (must be 8-byte aligned on the host and in one segment).
    #[inline]
    pub fn atomic_u64(&self, offset: usize) -> Result<&AtomicU64> {
        self.atomic::<AtomicU64>(offset, 8)
    }

    /// Copies bytes out of the range (volatile, byte by byte across segments).
    pub fn read_bytes(&self, offset: usize, buf: &mut [u8]) -> Result<()> {
        self.check(offset, buf.len())?;
        for (i, b) in buf.iter_mut().enumerate() {
            let (seg, inner) = self.locate(offset + i).ok_or(Error::NotAtomic(offset))?;
            // SAFETY: `inner < seg.len`, so the byte is inside the live mapping kept alive
            // by the segment's `Arc`; a volatile read of a `u8` has no alignment needs.
            *b = unsafe { std::ptr::read_volatile((seg.host + inner) as *const u8) };
        }
        Ok(())
    }

    /// Copies bytes into the range. Multi-byte values are not written atomically.
    pub fn write_bytes(&self, offset: usize, buf: &[u8]) -> Result<()> {
        self.check(offset, buf.len())?;
        for (i, b) in buf.iter().enumerate() {
            let (seg, inner) = self.locate(offset + i).ok_or(Error::NotAtomic(offset))?;
            // SAFETY: as in `read_bytes`: in bounds of a live mapping, byte access.
            unsafe { std::ptr::write_volatile((seg.host + inner) as *mut u8, *b) };
            Self::mark_dirty(seg, inner, 1);
        }
        Ok(())
    }

    /// Reads a little-endian `u32` (atomically when aligned and contiguous).
    pub fn read_u32(&self, offset: usize) -> Result<u32> {
        if let Ok(a) = self.atomic_u32(offset) {
            return Ok(a.load(Ordering::Acquire));
        }
        let mut b = [0u8; 4];
        self.read_bytes(offset, &mut b)?;
        Ok(u32::from_le_bytes(b))
    }

    /// Writes a little-endian `u32` (atomically when aligned and contiguous).
    pub fn write_u32(&self, offset: usize, v: u32) -> Result<()> {
        if let Ok(a) = self.atomic_u32(offset) {
            a.store(v, Ordering::Release);
            return Ok(());
        }
        self.write_bytes(offset, &v.to_le_bytes())
    }

    /// Reads a little-endian `u64` (atomically when aligned and contiguous).
    pub fn read_u64(&self, offset: usize) -> Result<u64> {
        if let Ok(a) = self.atomic_u64(offset) {
            return Ok(a.load(Ordering::Acquire));
        }
        let mut b = [0u8; 8];
        self.read_bytes(offset, &mut b)?;
        Ok(u64::from_le_bytes(b))
    }

    /// Writes a little-endian `u64` (atomically when aligned and contiguous).
    pub fn write_u64(&self, offset: usize, v: u64) -> Result<()> {
        if let Ok(a) = self.atomic_u64(offset) {
            a.store(v, Ordering::Release);
            return Ok(());
        }
        self.write_bytes(offset, &v.to_le_bytes())
    }

    /// Offset of the guest long holding `bit` of the bit array at `array`, and the mask.
    #[inline]
    fn long_of(width: GuestWidth, array: usize, bit: u32) -> (usize, u64) {
        let bits = width.long_bits();
        let word = (bit / bits) as usize;
        (array + word * width.long_bytes(), 1u64 << (bit % bits))
    }

    /// Atomically sets `bit` in the array of guest longs at `array`; returns the old value.
    ///
    /// Like Xen's `guest_test_and_set_bit`: a 64-bit guest's longs are 8 bytes, a 32-bit
    /// guest's 4 bytes. Sequentially consistent (a full barrier, as `lock bts` on x86).
    #[inline]
    pub fn test_and_set_bit(&self, width: GuestWidth, array: usize, bit: u32) -> Result<bool> {
        let (off, mask) = Self::long_of(width, array, bit);
        Ok(match width {
            GuestWidth::Bits64 => {
                self.atomic_u64(off)?.fetch_or(mask, Ordering::SeqCst) & mask != 0
            }
            GuestWidth::Bits32 => {
                let m = mask as u32;
                self.atomic_u32(off)?.fetch_or(m, Ordering::SeqCst) & m != 0
            }
        })
    }

    /// Atomically clears `bit` in the array of guest longs at `array`; returns the old value.
    #[inline]
    pub fn test_and_clear_bit(&self, width: GuestWidth, array: usize, bit: u32) -> Result<bool> {
        let (off, mask) = Self::long_of(width, array, bit);
        Ok(match width {
            GuestWidth::Bits64 => {
                self.atomic_u64(off)?.fetch_and(!mask, Ordering::SeqCst) & mask != 0
            }
            GuestWidth::Bits32 => {
                let m = mask as u32;
                self.atomic_u32(off)?.fetch_and(!m, Ordering::SeqCst) & m != 0
            }
        })
    }

    /// Reads `bit` of the array of guest longs at `array`.
    #[inline]
    pub fn test_bit(&self, width: GuestWidth, array: usize, bit: u32) -> Result<bool> {
        let (off, mask) = Self::long_of(width, array, bit);
        Ok(match width {
            GuestWidth::Bits64 => self.atomic_u64(off)?.load(Ordering::SeqCst) & mask != 0,
            GuestWidth::Bits32 => self.atomic_u32(off)?.load(Ordering::SeqCst) & mask as u32 != 0,
        })
    }

    /// Reads the guest long at `offset` (zero-extended).
    pub fn read_long(&self, width: GuestWidth, offset: usize) -> Result<u64> {
        match width {
            GuestWidth::Bits64 => Ok(self.atomic_u64(offset)?.load(Ordering::SeqCst)),
            GuestWidth::Bits32 => Ok(self.atomic_u32(offset)?.load(Ordering::SeqCst) as u64),
        }
    }

    /// Atomically ORs `bits` into the guest long at `offset`; returns the old value.
    pub fn fetch_or_long(&self, width: GuestWidth, offset: usize, bits: u64) -> Result<u64> {
        match width {
            GuestWidth::Bits64 => Ok(self.atomic_u64(offset)?.fetch_or(bits, Ordering::SeqCst)),
            GuestWidth::Bits32 => Ok(self
                .atomic_u32(offset)?
                .fetch_or(bits as u32, Ordering::SeqCst)
                as u64),
        }
    }
}

/// A full memory barrier between guest-visible writes (`smp_wmb`/`smp_mb`).
pub(crate) fn barrier() {
    fence(Ordering::SeqCst);
}
