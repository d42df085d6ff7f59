// SPDX-License-Identifier: Apache-2.0 OR BSD-3-Clause
//! Guest memory in a snapshot: a region table in the versioned state, then
//! every region's bytes streamed through a small bounce buffer (never a second
//! copy of guest memory), with a running CRC64.

use std::io::{Read, Write};

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

/// Writes every region of `mem`, in order, to `out`; returns (bytes, CRC64).
pub fn dump<M: GuestMemoryBackend, W: Write>(mem: &M, out: &mut W) -> Result<(u64, u64)> {
    let mut buf = vec![0u8; CHUNK];
    let mut crc = 0u64;
    let mut total = 0u64;
    for region in mem.iter() {
        let mut off = 0u64;
        while off < region.len() {
            let n = (region.len() - off).min(CHUNK as u64) as usize;
            region
                .read_slice(&mut buf[..n], MemoryRegionAddress(off))
                .map_err(|e| Error::Memory(e.to_string()))?;
            crc = crc64::crc64(crc, &buf[..n]);
            out.write_all(&buf[..n])
                .map_err(Error::io("writing guest memory"))?;
            off += n as u64;
        }
        total += region.len();
    }
    Ok((total, crc))
}

/// Reads the memory section of a snapshot into `mem`, which must have the
/// layout `layout` (checked first); returns the CRC64 of the bytes read.
///
/// A short read gives [`Error::Truncated`]; the caller must compare the CRC
/// before letting the guest run.
pub fn load<M: GuestMemoryBackend, R: Read>(
    mem: &M,
    layout: &MemoryState,
    input: &mut R,
) -> Result<u64> {
    layout.validate()?;
    layout.check_matches(mem)?;
    let mut buf = vec![0u8; CHUNK];
    let mut crc = 0u64;
    let mut done = 0u64;
    let total = layout.total_len();
    for region in mem.iter() {
        let mut off = 0u64;
        while off < region.len() {
            let n = (region.len() - off).min(CHUNK as u64) as usize;
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
            crc = crc64::crc64(crc, &buf[..n]);
            region
                .write_slice(&buf[..n], MemoryRegionAddress(off))
                .map_err(|e| Error::Memory(e.to_string()))?;
            off += n as u64;
            done += n as u64;
        }
    }
    Ok(crc)
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

    #[test]
    fn dump_load_round_trip() {
        let l = layout(&[(0, 0x3000), (0x10000, 0x201000)]);
        let src = l.create_guest_memory().unwrap();
        src.write_slice(b"hello", GuestAddress(0x1ffe)).unwrap();
        src.write_slice(b"world", GuestAddress(0x210ffb)).unwrap();
        let mut out = Vec::new();
        let (n, crc) = dump(&src, &mut out).unwrap();
        assert_eq!(n, l.total_len());
        assert_eq!(out.len() as u64, n);
        let dst = l.create_guest_memory().unwrap();
        assert_eq!(load(&dst, &l, &mut out.as_slice()).unwrap(), crc);
        let mut b = [0u8; 5];
        dst.read_slice(&mut b, GuestAddress(0x210ffb)).unwrap();
        assert_eq!(&b, b"world");
        dst.read_slice(&mut b, GuestAddress(0x1ffe)).unwrap();
        assert_eq!(&b, b"hello");
    }

    #[test]
    fn load_checks_layout_and_length() {
        let l = layout(&[(0, 0x4000)]);
        let other = layout(&[(0, 0x2000)]).create_guest_memory().unwrap();
        assert!(matches!(
            load(&other, &l, &mut [0u8; 0x4000].as_slice()),
            Err(Error::MemoryLayout(_))
        ));
        let dst = l.create_guest_memory().unwrap();
        assert!(matches!(
            load(&dst, &l, &mut [0u8; 0x3000].as_slice()),
            Err(Error::Truncated { .. })
        ));
    }
}
