// SPDX-License-Identifier: Apache-2.0 OR BSD-3-Clause
//! Guest memory in a snapshot: a region table in the versioned state, then
//! every region's bytes streamed through a small bounce buffer (never a second
//! copy of guest memory), with a running CRC64.
//!
//! Written to a file ([`dump_sparse`]), all-zero pages are not written: the
//! writer seeks over them, so guest pages never touched leave holes in a
//! sparse file, which read back as zeros. The memory section still has every
//! byte of every region (holes included), so dense and sparse files are read
//! alike.
//!
//! The checksum ([`MemoryChecksum`]) depends on the format version: from
//! version 9 it is CRC-64/XZ (`crc64fast`, PCLMULQDQ) over the 8-byte
//! little-endian index and the bytes of every page that is not all zeros
//! (a zero page costs only its zero test, and a page that turns zero or
//! non-zero changes the sum); versions 1-8 use CRC-64/Jones (`crc64`) over
//! every byte, zero pages advanced by a table.

use std::io::{Read, Seek, SeekFrom, Write};
use std::sync::OnceLock;

use versionize::{VersionMap, Versionize, VersionizeResult};
use versionize_derive::Versionize;
use vm_memory::{
    Bytes, GuestAddress, GuestMemoryBackend, GuestMemoryMmap, GuestMemoryRegion,
    MemoryRegionAddress,
};

use super::error::{Error, Result};

/// Most memory regions a snapshot may describe.
pub const MAX_REGIONS: usize = 64;
/// Guest-physical addresses must be below 2^52 (x86 MAXPHYADDR).
pub const MAX_GPA: u64 = 1 << 52;
/// Region starts and sizes are multiples of this.
pub const PAGE_SIZE: u64 = 4096;
/// Bounce buffer used while streaming memory.
const CHUNK: usize = 1 << 20;

/// One guest memory region.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Versionize)]
pub struct MemoryRegionState {
    /// First guest-physical address.
    pub guest_addr: u64,
    /// Length in bytes.
    pub size: u64,
}

/// The layout of guest memory; the bytes follow the state in the file.
#[derive(Clone, Debug, Default, PartialEq, Eq, Versionize)]
pub struct MemoryState {
    /// Regions in ascending address order.
    pub regions: Vec<MemoryRegionState>,
}

impl MemoryState {
    /// Describes the regions of `mem`.
    pub fn of<M: GuestMemoryBackend>(mem: &M) -> Self {
        MemoryState {
            regions: mem
                .iter()
                .map(|r| MemoryRegionState {
                    guest_addr: r.start_addr().0,
                    size: r.len(),
                })
                .collect(),
        }
    }

    /// Total bytes of all regions (call after [`MemoryState::validate`]).
    pub fn total_len(&self) -> u64 {
        self.regions.iter().map(|r| r.size).sum()
    }

    /// Checks count, alignment, ordering, overlap and address range.
    pub fn validate(&self) -> Result<()> {
        if self.regions.is_empty() {
            return Err(Error::Invalid("no guest memory region".into()));
        }
        if self.regions.len() > MAX_REGIONS {
            return Err(Error::TooLarge {
                what: "memory regions",
                claimed: self.regions.len() as u64,
                limit: MAX_REGIONS as u64,
            });
        }
        let mut next_free = 0u64;
        for (i, r) in self.regions.iter().enumerate() {
            let end = r.guest_addr.checked_add(r.size);
            let bad = r.size == 0
                || r.guest_addr % PAGE_SIZE != 0
                || r.size % PAGE_SIZE != 0
                || r.guest_addr < next_free
                || end.is_none_or(|e| e > MAX_GPA);
            if bad {
                return Err(Error::Invalid(format!(
                    "memory region {i} [{:#x} + {:#x}] is unaligned, empty, overlapping, \
                     out of order or beyond 2^52",
                    r.guest_addr, r.size
                )));
            }
            next_free = end.unwrap_or(MAX_GPA);
        }
        Ok(())
    }

    /// Whether `addr..addr+len` lies within one region.
    pub fn contains(&self, addr: u64, len: u64) -> bool {
        self.regions.iter().any(|r| {
            addr >= r.guest_addr
                && addr
                    .checked_add(len)
                    .is_some_and(|e| e <= r.guest_addr + r.size)
        })
    }

    /// Checks that `mem` has exactly this layout.
    pub fn check_matches<M: GuestMemoryBackend>(&self, mem: &M) -> Result<()> {
        let actual = MemoryState::of(mem);
        if actual != *self {
            return Err(Error::MemoryLayout(format!(
                "snapshot has {:x?}, guest memory has {:x?}",
                self.regions, actual.regions
            )));
        }
        Ok(())
    }

    /// Allocates fresh anonymous guest memory with this layout (validated first).
    pub fn create_guest_memory(&self) -> Result<GuestMemoryMmap> {
        self.validate()?;
        let ranges: Vec<(GuestAddress, usize)> = self
            .regions
            .iter()
            .map(|r| {
                usize::try_from(r.size)
                    .map(|s| (GuestAddress(r.guest_addr), s))
                    .map_err(|_| Error::Invalid(format!("region size {:#x}", r.size)))
            })
            .collect::<Result<_>>()?;
        GuestMemoryMmap::from_ranges(&ranges).map_err(|e| Error::Memory(e.to_string()))
    }
}

/// Whether `page` holds only zeros (64 bytes at a time, which vectorises).
fn is_zero(page: &[u8]) -> bool {
    page.chunks(64)
        .all(|c| c.iter().fold(0u8, |acc, &b| acc | b) == 0)
}

/// The CRC64 state after `crc` has run over one page of zeros: the same
/// value as `crc64::crc64(crc, &[0; 4096])`, in 8 table look-ups.
///
/// The crc64 crate's update has no pre- or post-inversion, so running over
/// a fixed number of zero bytes is a linear map of the 64-bit state over
/// GF(2): the image of `crc` is the XOR of the images of its 8 bytes, each
/// taken once from a table built (once per process) with the crate itself.
fn crc_zero_page(crc: u64) -> u64 {
    static TABLES: OnceLock<Box<[[u64; 256]; 8]>> = OnceLock::new();
    let t = TABLES.get_or_init(|| {
        let zeros = [0u8; PAGE_SIZE as usize];
        let mut t = Box::new([[0u64; 256]; 8]);
        for (k, table) in t.iter_mut().enumerate() {
            for (b, e) in table.iter_mut().enumerate() {
                *e = crc64::crc64((b as u64) << (8 * k), &zeros);
            }
        }
        t
    });
    t.iter().enumerate().fold(0, |acc, (k, table)| {
        acc ^ table[((crc >> (8 * k)) & 0xff) as usize]
    })
}

/// The checksum of a snapshot's memory section, as its format version
/// defines it (see the module docs), fed page by page in file order.
#[derive(Clone)]
pub struct MemoryChecksum {
    sum: Sum,
    /// Pages fed so far (the index of the next one).
    pages: u64,
}

#[derive(Clone)]
enum Sum {
    /// Versions 1-8: CRC-64/Jones of every byte.
    Jones(u64),
    /// Version 9 on: CRC-64/XZ of (index, bytes) of the non-zero pages.
    NonZeroPages(crc64fast::Digest),
}

impl std::fmt::Debug for MemoryChecksum {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MemoryChecksum")
            .field("value", &self.value())
            .field("pages", &self.pages)
            .finish()
    }
}

impl MemoryChecksum {
    /// An empty checksum of format version `format_version`'s kind.
    pub fn new(format_version: u16) -> Self {
        let sum = if format_version >= super::format::FORMAT_V9 {
            Sum::NonZeroPages(crc64fast::Digest::new())
        } else {
            Sum::Jones(0)
        };
        MemoryChecksum { sum, pages: 0 }
    }

    /// Feeds `buf`, the next bytes of the memory section (whole pages but
    /// perhaps the last); sets `zero[i]` to whether page `i` of `buf` is a
    /// whole page of zeros.
    pub fn add(&mut self, buf: &[u8], zero: &mut Vec<bool>) {
        zero.clear();
        for p in buf.chunks(PAGE_SIZE as usize) {
            let z = p.len() == PAGE_SIZE as usize && is_zero(p);
            match &mut self.sum {
                Sum::Jones(crc) => {
                    *crc = if z {
                        crc_zero_page(*crc)
                    } else {
                        crc64::crc64(*crc, p)
                    };
                }
                Sum::NonZeroPages(d) => {
                    if !z {
                        d.write(&self.pages.to_le_bytes());
                        d.write(p);
                    }
                }
            }
            self.pages += 1;
            zero.push(z);
        }
    }

    /// Feeds `count` whole pages of zeros (a hole of the file).
    pub fn add_zero_pages(&mut self, count: u64) {
        if let Sum::Jones(crc) = &mut self.sum {
            for _ in 0..count {
                *crc = crc_zero_page(*crc);
            }
        }
        self.pages += count;
    }

    /// The checksum of what was fed.
    pub fn value(&self) -> u64 {
        match &self.sum {
            Sum::Jones(crc) => *crc,
            Sum::NonZeroPages(d) => d.sum64(),
        }
    }
}

/// The checksum of a whole memory section `memory` (regions concatenated)
/// of format version `format_version`.
pub fn checksum(format_version: u16, memory: &[u8]) -> u64 {
    let mut c = MemoryChecksum::new(format_version);
    let mut zero = Vec::new();
    for chunk in memory.chunks(CHUNK) {
        c.add(chunk, &mut zero);
    }
    c.value()
}

/// Calls `f(region, offset, len)` for every piece of at most [`CHUNK`] bytes of
/// every region of `mem`, in order (the memory section's order); returns the
/// bytes walked.
fn for_each_chunk<M: GuestMemoryBackend>(
    mem: &M,
    mut f: impl FnMut(&M::R, u64, usize) -> Result<()>,
) -> Result<u64> {
    let mut total = 0u64;
    for region in mem.iter() {
        let mut off = 0u64;
        while off < region.len() {
            let n = (region.len() - off).min(CHUNK as u64);
            f(region, off, n as usize)?;
            off += n;
        }
        total += region.len();
    }
    Ok(total)
}

/// Writes every region of `mem`, in order, to `out`; returns (bytes,
/// checksum of format version `format_version`).
///
/// Every byte is written (a stream cannot have holes): see [`dump_sparse`]
/// for files.
pub fn dump<M: GuestMemoryBackend, W: Write>(
    mem: &M,
    out: &mut W,
    format_version: u16,
) -> Result<(u64, u64)> {
    let mut buf = vec![0u8; CHUNK];
    let mut zero = Vec::with_capacity(CHUNK / PAGE_SIZE as usize);
    let mut sum = MemoryChecksum::new(format_version);
    let total = for_each_chunk(mem, |region, off, n| {
        region
            .read_slice(&mut buf[..n], MemoryRegionAddress(off))
            .map_err(|e| Error::Memory(e.to_string()))?;
        sum.add(&buf[..n], &mut zero);
        out.write_all(&buf[..n])
            .map_err(Error::io("writing guest memory"))
    })?;
    Ok((total, sum.value()))
}

/// As [`dump`], but all-zero pages are skipped with a seek instead of being
/// written: on a file, they become holes. `out` must be positioned at the
/// end of a freshly created (or truncated) file, so that what is skipped
/// reads as zeros, and the caller must write past the last skipped byte (the
/// trailer) or extend the file. The checksum is [`dump`]'s, and the bytes
/// read back are [`dump`]'s.
///
/// Guest pages never touched (private anonymous memory without a frame, as
/// [`crate::memory::PageMap`] reads `/proc/self/pagemap`) are skipped without
/// being read, a chunk at a time: an idle guest costs its page-table walk, not
/// a read of all its memory.
pub fn dump_sparse<W: Write + Seek>(
    mem: &GuestMemoryMmap,
    out: &mut W,
    format_version: u16,
) -> Result<(u64, u64)> {
    let mut buf = vec![0u8; CHUNK];
    let mut zero = Vec::with_capacity(CHUNK / PAGE_SIZE as usize);
    let mut sum = MemoryChecksum::new(format_version);
    let pagemap = crate::memory::PageMap::open();
    let mut entries = Vec::new();
    // Zero bytes skipped and not yet seeked over: a run of zero pages
    // becomes one seek.
    let mut hole = 0u64;
    let io = |e| Error::io("writing guest memory")(e);
    let total = for_each_chunk(mem, |region, off, n| {
        let gpa = region.start_addr().0 + off;
        if pagemap
            .as_ref()
            .is_some_and(|pm| pm.untouched(mem, gpa, n as u64, &mut entries))
        {
            // Never touched: zero pages, not read.
            sum.add_zero_pages(n as u64 / PAGE_SIZE);
            hole += n as u64;
            return Ok(());
        }
        region
            .read_slice(&mut buf[..n], MemoryRegionAddress(off))
            .map_err(|e| Error::Memory(e.to_string()))?;
        sum.add(&buf[..n], &mut zero);
        // Runs of non-zero pages are written in one call.
        let mut i = 0;
        while i < zero.len() {
            let start = i * PAGE_SIZE as usize;
            let z = zero[i];
            while i < zero.len() && zero[i] == z {
                i += 1;
            }
            let end = (i * PAGE_SIZE as usize).min(n);
            if z {
                hole += (end - start) as u64;
            } else {
                if hole != 0 {
                    skip(out, hole).map_err(io)?;
                    hole = 0;
                }
                out.write_all(&buf[start..end]).map_err(io)?;
            }
        }
        Ok(())
    })?;
    if hole != 0 {
        skip(out, hole).map_err(io)?;
    }
    Ok((total, sum.value()))
}

fn skip<W: Seek>(out: &mut W, n: u64) -> std::io::Result<()> {
    let n = i64::try_from(n).map_err(|_| std::io::Error::other("hole too large"))?;
    out.seek(SeekFrom::Current(n)).map(|_| ())
}

/// Reads the memory section of a snapshot into `mem`, which must have the
/// layout `layout` (checked first); returns the checksum (of format version
/// `format_version`) of the bytes read.
///
/// A short read gives [`Error::Truncated`]; the caller must compare the
/// checksum before letting the guest run. Holes of a sparse file read as
/// zeros.
pub fn load<M: GuestMemoryBackend, R: Read>(
    mem: &M,
    layout: &MemoryState,
    input: &mut R,
    format_version: u16,
) -> Result<u64> {
    layout.validate()?;
    layout.check_matches(mem)?;
    let mut buf = vec![0u8; CHUNK];
    let mut zero = Vec::with_capacity(CHUNK / PAGE_SIZE as usize);
    let mut sum = MemoryChecksum::new(format_version);
    let mut done = 0u64;
    let total = layout.total_len();
    for_each_chunk(mem, |region, off, n| {
        input.read_exact(&mut buf[..n]).map_err(|e| {
            if e.kind() == std::io::ErrorKind::UnexpectedEof {
                Error::Truncated {
                    section: "guest memory",
                    needed: total,
                    available: done,
                }
            } else {
                Error::Io {
                    op: "reading guest memory",
                    source: e,
                }
            }
        })?;
        sum.add(&buf[..n], &mut zero);
        region
            .write_slice(&buf[..n], MemoryRegionAddress(off))
            .map_err(|e| Error::Memory(e.to_string()))?;
        done += n as u64;
        Ok(())
    })?;
    Ok(sum.value())
}

/// [`load`] from a snapshot file whose memory section starts at byte `start`:
/// only its data extents are read (`SEEK_DATA`); the guest pages a hole
/// covers are discarded (`MADV_DONTNEED`, so they read as zero) where `mem`
/// is private anonymous memory, else written with zeros. An idle guest's
/// file is read in a few extents instead of byte by byte. The checksum is
/// [`load`]'s.
pub fn load_file(
    mem: &GuestMemoryMmap,
    layout: &MemoryState,
    file: &std::fs::File,
    start: u64,
    format_version: u16,
) -> Result<u64> {
    use std::os::unix::fs::FileExt;
    layout.validate()?;
    layout.check_matches(mem)?;
    let total = layout.total_len();
    let truncated = |done: u64| Error::Truncated {
        section: "guest memory",
        needed: total,
        available: done,
    };
    let file_len = file
        .metadata()
        .map_err(Error::io("reading guest memory"))?
        .len();
    if start.checked_add(total).is_none_or(|end| end > file_len) {
        return Err(truncated(file_len.saturating_sub(start)));
    }
    let mut buf = vec![0u8; CHUNK];
    let zeros = vec![0u8; CHUNK];
    let mut zero = Vec::with_capacity(CHUNK / PAGE_SIZE as usize);
    let mut sum = MemoryChecksum::new(format_version);
    let mut pos = start;
    let mut next_data = data_at(file, pos);
    for_each_chunk(mem, |region, off, n| {
        let len = n as u64;
        if pos + len <= next_data {
            // A hole: zero pages.
            sum.add_zero_pages(len / PAGE_SIZE);
            let gpa = region.start_addr().0 + off;
            if !crate::memory::discard_pages(mem, gpa, len / PAGE_SIZE) {
                region
                    .write_slice(&zeros[..n], MemoryRegionAddress(off))
                    .map_err(|e| Error::Memory(e.to_string()))?;
            }
        } else {
            let b = &mut buf[..n];
            file.read_exact_at(b, pos).map_err(|e| {
                if e.kind() == std::io::ErrorKind::UnexpectedEof {
                    truncated(pos - start)
                } else {
                    Error::Io {
                        op: "reading guest memory",
                        source: e,
                    }
                }
            })?;
            sum.add(b, &mut zero);
            // The new VM's pages are not there yet: fault them in with one call
            // rather than one fault per page as the copy writes them.
            crate::memory::populate_pages(mem, region.start_addr().0 + off, len / PAGE_SIZE);
            region
                .write_slice(b, MemoryRegionAddress(off))
                .map_err(|e| Error::Memory(e.to_string()))?;
            next_data = data_at(file, pos + len);
        }
        pos += len;
        Ok(())
    })?;
    Ok(sum.value())
}

/// The first offset at or after `pos` where `file` has data (`SEEK_DATA`);
/// `pos` itself where the file system cannot tell (every byte is data), the
/// end of the file after its last data.
fn data_at(file: &std::fs::File, pos: u64) -> u64 {
    use std::os::fd::AsRawFd;
    let Ok(p) = libc::off_t::try_from(pos) else {
        return pos;
    };
    // SAFETY: lseek on a descriptor `file` owns; it only moves that
    // descriptor's offset (every read here is positioned: `read_exact_at`).
    let r = unsafe { libc::lseek(file.as_raw_fd(), p, libc::SEEK_DATA) };
    if r >= 0 {
        return r as u64;
    }
    match std::io::Error::last_os_error().raw_os_error() {
        // No data after `pos`.
        Some(libc::ENXIO) => u64::MAX,
        _ => pos,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn layout(r: &[(u64, u64)]) -> MemoryState {
        MemoryState {
            regions: r
                .iter()
                .map(|&(guest_addr, size)| MemoryRegionState { guest_addr, size })
                .collect(),
        }
    }

    #[test]
    fn validate_rejects_bad_layouts() {
        assert!(layout(&[(0, 0x10000), (0x100000, 0x1000)])
            .validate()
            .is_ok());
        for bad in [
            layout(&[]),
            layout(&[(0, 0)]),
            layout(&[(0x10, 0x1000)]),
            layout(&[(0, 0x1001)]),
            layout(&[(0, 0x2000), (0x1000, 0x1000)]),
            layout(&[(0x2000, 0x1000), (0, 0x1000)]),
            layout(&[(u64::MAX - 0xfff, 0x1000)]),
            layout(&[(0, 1 << 53)]),
        ] {
            assert!(bad.validate().is_err(), "{bad:?}");
        }
        let many = MemoryState {
            regions: (0..65)
                .map(|i| MemoryRegionState {
                    guest_addr: i * 0x1000,
                    size: 0x1000,
                })
                .collect(),
        };
        assert!(matches!(many.validate(), Err(Error::TooLarge { .. })));
    }

    use crate::snapshot::format::{FORMAT_V8, FORMAT_V9};

    #[test]
    fn dump_load_round_trip() {
        for v in [FORMAT_V8, FORMAT_V9] {
            let l = layout(&[(0, 0x3000), (0x10000, 0x201000)]);
            let src = l.create_guest_memory().unwrap();
            src.write_slice(b"hello", GuestAddress(0x1ffe)).unwrap();
            src.write_slice(b"world", GuestAddress(0x210ffb)).unwrap();
            let mut out = Vec::new();
            let (n, crc) = dump(&src, &mut out, v).unwrap();
            assert_eq!(n, l.total_len());
            assert_eq!(out.len() as u64, n);
            assert_eq!(checksum(v, &out), crc, "v{v}");
            let dst = l.create_guest_memory().unwrap();
            assert_eq!(load(&dst, &l, &mut out.as_slice(), v).unwrap(), crc);
            let mut b = [0u8; 5];
            dst.read_slice(&mut b, GuestAddress(0x210ffb)).unwrap();
            assert_eq!(&b, b"world");
            dst.read_slice(&mut b, GuestAddress(0x1ffe)).unwrap();
            assert_eq!(&b, b"hello");
        }
    }

    #[test]
    fn checksums_of_each_format_version() {
        let mut mem = vec![0u8; 6 * PAGE_SIZE as usize];
        mem[5] = 1;
        mem[3 * PAGE_SIZE as usize + 7] = 2;
        // Versions 1-8: CRC-64/Jones of every byte.
        assert_eq!(checksum(FORMAT_V8, &mem), crc64::crc64(0, &mem));
        // Version 9: CRC-64/XZ of (index, bytes) of the non-zero pages.
        let mut d = crc64fast::Digest::new();
        for (i, p) in mem.chunks(PAGE_SIZE as usize).enumerate() {
            if p.iter().any(|&b| b != 0) {
                d.write(&(i as u64).to_le_bytes());
                d.write(p);
            }
        }
        let v9 = checksum(FORMAT_V9, &mem);
        assert_eq!(v9, d.sum64());
        // A page turning zero, one turning non-zero, and a page moved to
        // another place each change it.
        let mut gone = mem.clone();
        gone[5] = 0;
        let mut new = mem.clone();
        new[PAGE_SIZE as usize] = 1;
        let mut moved = mem.clone();
        moved[5] = 0;
        moved[PAGE_SIZE as usize + 5] = 1;
        for other in [gone, new, moved] {
            assert_ne!(checksum(FORMAT_V9, &other), v9);
        }
    }

    #[test]
    fn zero_page_crc_matches_the_crate() {
        let zeros = [0u8; PAGE_SIZE as usize];
        for crc in [0, 1, 0x8000_0000_0000_0000, 0xdead_beef_0123_4567, u64::MAX] {
            assert_eq!(crc_zero_page(crc), crc64::crc64(crc, &zeros), "{crc:#x}");
        }
    }

    #[test]
    fn sparse_dump_skips_zero_pages_with_the_same_bytes_and_crc() {
        // Zero pages at the start, in the middle, across a chunk boundary
        // and at the end; a page that is zero but for its last byte.
        let l = layout(&[(0, 0x3000), (0x10000, 0x201000)]);
        let src = l.create_guest_memory().unwrap();
        src.write_slice(b"x", GuestAddress(0x1fff)).unwrap();
        src.write_slice(b"world", GuestAddress(0x110ffb)).unwrap();
        let mut dense = Vec::new();
        let (n, crc) = dump(&src, &mut dense, FORMAT_V9).unwrap();
        // Seeks are counted: the sparse writer must not write zero pages.
        struct Sink {
            c: std::io::Cursor<Vec<u8>>,
            written: usize,
        }
        impl Write for Sink {
            fn write(&mut self, b: &[u8]) -> std::io::Result<usize> {
                self.written += b.len();
                self.c.write(b)
            }
            fn flush(&mut self) -> std::io::Result<()> {
                Ok(())
            }
        }
        impl Seek for Sink {
            fn seek(&mut self, p: SeekFrom) -> std::io::Result<u64> {
                self.c.seek(p)
            }
        }
        let mut sparse = Sink {
            c: std::io::Cursor::new(Vec::new()),
            written: 0,
        };
        // The same memory, never read: the sparse dump skips the chunk that was
        // never touched without reading it (the dense dump faulted every page in).
        let fresh = l.create_guest_memory().unwrap();
        fresh.write_slice(b"x", GuestAddress(0x1fff)).unwrap();
        fresh.write_slice(b"world", GuestAddress(0x110ffb)).unwrap();
        let pm = crate::memory::PageMap::open().unwrap();
        let mut e = Vec::new();
        assert!(pm.untouched(&fresh, 0x10000, CHUNK as u64, &mut e));
        assert_eq!(
            dump_sparse(&fresh, &mut sparse, FORMAT_V9).unwrap(),
            (n, crc)
        );
        assert!(
            pm.untouched(&fresh, 0x10000, CHUNK as u64, &mut e),
            "the dump read an untouched chunk"
        );
        assert_eq!(sparse.written, 2 * PAGE_SIZE as usize);
        let mut fresh_bytes = std::mem::replace(&mut sparse.c, std::io::Cursor::new(Vec::new()));
        sparse.written = 0;
        assert_eq!(fresh_bytes.position(), n);
        fresh_bytes.get_mut().resize(n as usize, 0);
        assert!(fresh_bytes.into_inner() == dense);
        // And memory that was read (the zero page behind every page): each chunk is
        // read and zero-tested.
        assert_eq!(dump_sparse(&src, &mut sparse, FORMAT_V9).unwrap(), (n, crc));
        // 2 non-zero pages written; the final hole is left to the trailer.
        assert_eq!(sparse.written, 2 * PAGE_SIZE as usize);
        assert_eq!(sparse.c.position(), n);
        let mut bytes = sparse.c.into_inner();
        bytes.resize(n as usize, 0);
        assert!(bytes == dense);
        let dst = l.create_guest_memory().unwrap();
        assert_eq!(
            load(&dst, &l, &mut bytes.as_slice(), FORMAT_V9).unwrap(),
            crc
        );
    }

    #[test]
    fn load_file_reads_extents_and_zeroes_the_holes() {
        // A sparse file: a prefix, the memory section with two data pages in
        // 8 MiB + 12 KiB of holes, a trailer.
        let l = layout(&[(0, 0x3000), (0x10000, 0x801000)]);
        let src = l.create_guest_memory().unwrap();
        src.write_slice(b"x", GuestAddress(0x1fff)).unwrap();
        src.write_slice(b"world", GuestAddress(0x610ffb)).unwrap();
        let path = std::env::temp_dir().join(format!("xen-vmm-load-file-{}", std::process::id()));
        let mut f = std::fs::File::create(&path).unwrap();
        f.write_all(b"prefix").unwrap();
        let (n, crc) = dump_sparse(&src, &mut f, FORMAT_V9).unwrap();
        f.write_all(b"trailer!").unwrap();
        drop(f);
        for v in [FORMAT_V8, FORMAT_V9] {
            let (_, want) = dump(&src, &mut std::io::sink(), v).unwrap();
            // The destination holds other bytes everywhere: holes must clear them.
            let dst = l.create_guest_memory().unwrap();
            for r in dst.iter() {
                let junk = vec![0xa5u8; r.len() as usize];
                r.write_slice(&junk, MemoryRegionAddress(0)).unwrap();
            }
            let file = std::fs::File::open(&path).unwrap();
            assert_eq!(load_file(&dst, &l, &file, 6, v).unwrap(), want, "v{v}");
            let mut back = Vec::new();
            dump(&dst, &mut back, v).unwrap();
            let mut dense = Vec::new();
            dump(&src, &mut dense, v).unwrap();
            assert!(back == dense, "v{v}: memory differs");
            // Cut short: truncated.
            assert!(matches!(
                load_file(&dst, &l, &file, n, v),
                Err(Error::Truncated { .. })
            ));
        }
        assert_eq!(crc, dump(&src, &mut std::io::sink(), FORMAT_V9).unwrap().1);
        let _ = std::fs::remove_file(&path);
    }

    #[test]
    fn load_checks_layout_and_length() {
        let l = layout(&[(0, 0x4000)]);
        let other = layout(&[(0, 0x2000)]).create_guest_memory().unwrap();
        assert!(matches!(
            load(&other, &l, &mut [0u8; 0x4000].as_slice(), FORMAT_V9),
            Err(Error::MemoryLayout(_))
        ));
        let dst = l.create_guest_memory().unwrap();
        assert!(matches!(
            load(&dst, &l, &mut [0u8; 0x3000].as_slice(), FORMAT_V9),
            Err(Error::Truncated { .. })
        ));
    }
}
