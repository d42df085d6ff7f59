// SPDX-License-Identifier: Apache-2.0 OR BSD-3-Clause
//! Bounds-checked access to guest memory through guest-virtual addresses.

use std::sync::atomic::Ordering;

use vm_memory::{ByteValued, Bytes, GuestAddress};
use xen_abi::{GuestWidth, XEN_PAGE_SIZE};

use crate::error::{Errno, XenResult};

/// Translates guest addresses used as hypercall pointers to guest-physical addresses.
///
/// Xen hypercall pointers are guest-virtual. A VMM whose guests run with paging must walk the
/// guest page tables here; the default is the identity (correct for flat, unpaged guests such
/// as PVH boot code and the tests).
pub trait AddressTranslate {
    /// Returns the GPA of the page containing `gva` (any offset within the page is accepted),
    /// or `None` if it is unmapped.
    fn translate_gva(&mut self, vcpu: u32, gva: u64) -> Option<u64> {
        let _ = vcpu;
        Some(gva)
    }
}

/// One vCPU's view of guest memory for the duration of a hypercall.
pub struct GuestAccess<'a, M: ?Sized, T: ?Sized> {
    mem: &'a M,
    xlate: &'a mut T,
    vcpu: u32,
    width: GuestWidth,
}

impl<'a, M, T> GuestAccess<'a, M, T>
where
    M: Bytes<GuestAddress> + ?Sized,
    T: AddressTranslate + ?Sized,
{
    /// Creates an accessor for `vcpu` of a guest of width `width`.
    pub fn new(mem: &'a M, xlate: &'a mut T, vcpu: u32, width: GuestWidth) -> Self {
        Self {
            mem,
            xlate,
            vcpu,
            width,
        }
    }

    /// Checks that `[gva, gva+len)` is a valid range for the guest width.
    fn check_range(&self, gva: u64, len: usize) -> XenResult<()> {
        let end = gva.checked_add(len as u64).ok_or(Errno::EFAULT)?;
        if self.width == GuestWidth::Bits32 && end > 1 << 32 {
            return Err(Errno::EFAULT);
        }
        Ok(())
    }

    /// Calls `f(gpa, offset_in_buffer, chunk_len)` for each page-bounded piece of the range.
    fn for_each_chunk(
        &mut self,
        gva: u64,
        len: usize,
        mut f: impl FnMut(&M, GuestAddress, usize, usize) -> XenResult<()>,
    ) -> XenResult<()> {
        self.check_range(gva, len)?;
        let mut done = 0usize;
        while done < len {
            let cur = gva + done as u64;
            let in_page = (XEN_PAGE_SIZE - (cur & (XEN_PAGE_SIZE - 1))) as usize;
            let n = in_page.min(len - done);
            let page_gpa = self
                .xlate
                .translate_gva(self.vcpu, cur)
                .ok_or(Errno::EFAULT)?
                & !(XEN_PAGE_SIZE - 1);
            let gpa = page_gpa | (cur & (XEN_PAGE_SIZE - 1));
            f(self.mem, GuestAddress(gpa), done, n)?;
            done += n;
        }
        Ok(())
    }

    /// Translates `gva` to a GPA (page-granular translation plus offset).
    pub fn translate(&mut self, gva: u64) -> XenResult<u64> {
        self.check_range(gva, 1)?;
        let page = self
            .xlate
            .translate_gva(self.vcpu, gva)
            .ok_or(Errno::EFAULT)?;
        Ok((page & !(XEN_PAGE_SIZE - 1)) | (gva & (XEN_PAGE_SIZE - 1)))
    }

    /// Reads `buf.len()` bytes at `gva`; `-EFAULT` if any byte is unmapped or not backed.
    pub fn read_bytes(&mut self, gva: u64, buf: &mut [u8]) -> XenResult<()> {
        let len = buf.len();
        self.for_each_chunk(gva, len, |mem, gpa, off, n| {
            let dst = &mut buf[off..off + n];
            // Most hypercall arguments are one aligned 4- or 8-byte field
            // (a port, a handle): one load instead of a byte-copy loop.
            match dst.len() {
                4 if gpa.0 % 4 == 0 => mem
                    .load::<u32>(gpa, Ordering::Relaxed)
                    .map(|v| dst.copy_from_slice(&v.to_ne_bytes())),
                8 if gpa.0 % 8 == 0 => mem
                    .load::<u64>(gpa, Ordering::Relaxed)
                    .map(|v| dst.copy_from_slice(&v.to_ne_bytes())),
                _ => mem.read_slice(dst, gpa),
            }
            .map_err(|_| Errno::EFAULT)
        })
    }

    /// Writes `buf` at `gva`; `-EFAULT` if any byte is unmapped or not backed.
    ///
    /// A fault part-way leaves the preceding pages written, as in Xen's `copy_to_guest`.
    pub fn write_bytes(&mut self, gva: u64, buf: &[u8]) -> XenResult<()> {
        self.for_each_chunk(gva, buf.len(), |mem, gpa, off, n| {
            mem.write_slice(&buf[off..off + n], gpa)
                .map_err(|_| Errno::EFAULT)
        })
    }

    /// Reads a `T` at `gva`.
    pub fn read_obj<V: ByteValued + Default>(&mut self, gva: u64) -> XenResult<V> {
        let mut v = V::default();
        self.read_bytes(gva, v.as_mut_slice())?;
        Ok(v)
    }

    /// Writes a `T` at `gva`.
    pub fn write_obj<V: ByteValued>(&mut self, gva: u64, v: &V) -> XenResult<()> {
        self.write_bytes(gva, v.as_slice())
    }
}
