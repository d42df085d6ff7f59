//! Event channels: the port table and 2-level delivery into shared_info /
//! vcpu_info in guest memory.

use vm_memory::GuestMemoryMmap;

use crate::abi::errno::{EINVAL, ENOSPC};
use crate::guest::{self, Errno};

/// What a port is bound to.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PortKind {
    /// Not allocated.
    Free,
    /// Allocated, waiting for `remote` to bind.
    Unbound {
        /// The domain allowed to bind.
        remote: u16,
    },
    /// Connected to another port of this domain (loopback).
    Interdomain {
        /// The peer port.
        peer: u32,
    },
    /// A virtual IRQ.
    Virq(u32),
    /// An IPI port.
    Ipi,
    /// Connected to a VMM backend (console, xenstore): sends go to the device.
    Backend(Backend),
}

/// VMM-side devices reachable through an event channel.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Backend {
    /// The PV console.
    Console,
    /// The xenstore ring.
    Store,
}

/// One event channel.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Port {
    /// Binding.
    pub kind: PortKind,
    /// vCPU notified when the port becomes pending.
    pub vcpu: u32,
}

impl Default for Port {
    fn default() -> Self {
        Port {
            kind: PortKind::Free,
            vcpu: 0,
        }
    }
}

/// The port table (port 0 is never allocated, as in Xen).
#[derive(Clone, Debug, Default)]
pub struct PortTable {
    /// Ports, indexed by number.
    pub ports: Vec<Port>,
}

impl PortTable {
    /// Largest usable port + 1 for this guest width.
    pub fn limit(long_mode: bool) -> u32 {
        if long_mode {
            4096
        } else {
            1024
        }
    }

    /// Looks a port up (None for out-of-range or free ports).
    pub fn get(&self, port: u32) -> Option<&Port> {
        self.ports
            .get(port as usize)
            .filter(|p| p.kind != PortKind::Free)
    }

    /// Mutable lookup of an allocated port.
    pub fn get_mut(&mut self, port: u32) -> Option<&mut Port> {
        self.ports
            .get_mut(port as usize)
            .filter(|p| p.kind != PortKind::Free)
    }

    /// Allocates the lowest free port.
    pub fn alloc(&mut self, kind: PortKind, vcpu: u32, long_mode: bool) -> Result<u32, Errno> {
        if self.ports.is_empty() {
            self.ports.push(Port::default());
        }
        let limit = Self::limit(long_mode) as usize;
        let idx = match self.ports[1..]
            .iter()
            .position(|p| p.kind == PortKind::Free)
        {
            Some(i) => i + 1,
            None if self.ports.len() < limit => {
                self.ports.push(Port::default());
                self.ports.len() - 1
            }
            None => return Err(ENOSPC),
        };
        self.ports[idx] = Port { kind, vcpu };
        Ok(idx as u32)
    }

    /// Frees a port (Err(EINVAL) if not allocated).
    pub fn free(&mut self, port: u32) -> Result<Port, Errno> {
        let p = self.get_mut(port).ok_or(EINVAL)?;
        let old = *p;
        *p = Port::default();
        Ok(old)
    }

    /// Finds the port bound to `virq` on `vcpu`.
    pub fn find_virq(&self, virq: u32, vcpu: u32) -> Option<u32> {
        self.ports
            .iter()
            .position(|p| p.kind == PortKind::Virq(virq) && p.vcpu == vcpu)
            .map(|i| i as u32)
    }
}

/// Where the 2-level bitmaps live for one guest.
#[derive(Clone, Copy, Debug)]
pub struct Bitmaps {
    /// shared_info GPA.
    pub shared_info: u64,
    /// Guest in long mode (64-bit words) or not (32-bit words).
    pub long_mode: bool,
}

impl Bitmaps {
    fn word_bits(&self) -> u32 {
        if self.long_mode {
            64
        } else {
            32
        }
    }

    fn pending_base(&self) -> u64 {
        self.shared_info + 2048
    }

    fn mask_base(&self) -> u64 {
        if self.long_mode {
            self.shared_info + 2560
        } else {
            self.shared_info + 2176
        }
    }

    fn word_addr(&self, base: u64, port: u32) -> (u64, u64) {
        let bits = self.word_bits();
        let bytes = u64::from(bits / 8);
        (base + u64::from(port / bits) * bytes, 1u64 << (port % bits))
    }

    fn or(&self, mem: &GuestMemoryMmap, gpa: u64, bit: u64) -> Option<u64> {
        if self.long_mode {
            guest::fetch_or_u64(mem, gpa, bit)
        } else {
            guest::fetch_or_u32(mem, gpa, bit as u32).map(u64::from)
        }
    }

    fn clear(&self, mem: &GuestMemoryMmap, gpa: u64, bit: u64) -> Option<u64> {
        if self.long_mode {
            guest::fetch_and_not_u64(mem, gpa, bit)
        } else {
            guest::fetch_and_not_u32(mem, gpa, bit as u32).map(u64::from)
        }
    }

    /// Whether `port` is pending.
    pub fn is_pending(&self, mem: &GuestMemoryMmap, port: u32) -> bool {
        let (a, bit) = self.word_addr(self.pending_base(), port);
        self.or(mem, a, 0).is_some_and(|w| w & bit != 0)
    }

    /// Whether `port` is masked.
    pub fn is_masked(&self, mem: &GuestMemoryMmap, port: u32) -> bool {
        let (a, bit) = self.word_addr(self.mask_base(), port);
        self.or(mem, a, 0).is_some_and(|w| w & bit != 0)
    }

    /// Sets `port` pending; if it was not pending and is not masked, sets the
    /// selector bit and `evtchn_upcall_pending` in the vcpu_info at
    /// `vcpu_info` and returns true when an upcall must be raised.
    pub fn set_pending(&self, mem: &GuestMemoryMmap, port: u32, vcpu_info: Option<u64>) -> bool {
        let (a, bit) = self.word_addr(self.pending_base(), port);
        match self.or(mem, a, bit) {
            Some(old) if old & bit == 0 => {}
            _ => return false,
        }
        if self.is_masked(mem, port) {
            return false;
        }
        self.raise_selector(mem, port, vcpu_info)
    }

    /// Sets the selector bit for `port` and `evtchn_upcall_pending`; true if
    /// the upcall flag went from 0 to 1.
    pub fn raise_selector(&self, mem: &GuestMemoryMmap, port: u32, vcpu_info: Option<u64>) -> bool {
        let Some(vi) = vcpu_info else { return false };
        let word = port / self.word_bits();
        let sel = 1u64 << word;
        let (sel_addr, ok) = if self.long_mode {
            (vi + 8, guest::fetch_or_u64(mem, vi + 8, sel).is_some())
        } else {
            (
                vi + 4,
                guest::fetch_or_u32(mem, vi + 4, sel as u32).is_some(),
            )
        };
        let _ = sel_addr;
        if !ok {
            return false;
        }
        guest::swap_u8(mem, vi, 1) == Some(0)
    }

    /// Clears the pending bit of `port`.
    pub fn clear_pending(&self, mem: &GuestMemoryMmap, port: u32) {
        let (a, bit) = self.word_addr(self.pending_base(), port);
        let _ = self.clear(mem, a, bit);
    }

    /// Clears the mask bit of `port`; if it is pending, re-raises the
    /// selector/upcall and returns true when an upcall must be raised.
    pub fn unmask(&self, mem: &GuestMemoryMmap, port: u32, vcpu_info: Option<u64>) -> bool {
        let (a, bit) = self.word_addr(self.mask_base(), port);
        if self.clear(mem, a, bit).is_none() {
            return false;
        }
        if self.is_pending(mem, port) {
            self.raise_selector(mem, port, vcpu_info)
        } else {
            false
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use vm_memory::{Bytes, GuestAddress};

    #[test]
    fn alloc_free_and_limits() {
        let mut t = PortTable::default();
        assert_eq!(t.alloc(PortKind::Ipi, 0, false), Ok(1));
        assert_eq!(t.alloc(PortKind::Ipi, 1, false), Ok(2));
        t.free(1).unwrap();
        assert_eq!(t.free(1), Err(EINVAL));
        assert_eq!(t.alloc(PortKind::Virq(0), 0, false), Ok(1));
        for _ in 3..1024 {
            t.alloc(PortKind::Ipi, 0, false).unwrap();
        }
        assert_eq!(t.alloc(PortKind::Ipi, 0, false), Err(ENOSPC));
        assert!(t.get(5000).is_none());
    }

    #[test]
    fn two_level_delivery_64() {
        let mem = GuestMemoryMmap::from_ranges(&[(GuestAddress(0), 0x10000)]).unwrap();
        let b = Bitmaps {
            shared_info: 0x1000,
            long_mode: true,
        };
        let vi = Some(0x1000 + 64);
        assert!(b.set_pending(&mem, 70, vi));
        assert!(!b.set_pending(&mem, 70, vi), "already pending");
        let sel: u64 = mem.read_obj(GuestAddress(0x1000 + 64 + 8)).unwrap();
        assert_eq!(sel, 2);
        let w: u64 = mem.read_obj(GuestAddress(0x1000 + 2048 + 8)).unwrap();
        assert_eq!(w, 1 << 6);
        // Masked port: pending but no upcall; unmask raises it.
        mem.write_obj(1u8 << 3, GuestAddress(0x1000 + 2560))
            .unwrap();
        mem.write_obj(0u8, GuestAddress(0x1000 + 64)).unwrap();
        assert!(!b.set_pending(&mem, 3, vi));
        assert!(b.unmask(&mem, 3, vi));
    }
}
