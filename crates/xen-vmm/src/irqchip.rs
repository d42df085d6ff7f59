// SPDX-License-Identifier: Apache-2.0 OR BSD-3-Clause
//! KVM's in-kernel interrupt controllers (`KVM_CREATE_IRQCHIP`: a LAPIC per
//! vCPU, the IOAPIC and the PIC, with KVM's default GSI routing: GSIs 0-15
//! to the PIC and the IOAPIC, 16-23 to the IOAPIC), and how Xen upcalls go
//! through them ([`Irqchip::Kernel`], the default).
//!
//! - The per-vCPU upcall vector (`HVMOP_set_evtchn_upcall_vector`) and the
//!   global callback vector (`HVM_PARAM_CALLBACK_IRQ` type vector) are sent
//!   as fixed, edge-triggered MSIs (`KVM_SIGNAL_MSI`) to the LAPIC of the
//!   vCPU (APIC ID = vCPU index) when its `evtchn_upcall_pending` goes from 0
//!   to 1. KVM delivers them itself (it wakes a halted vCPU); no signal is
//!   sent to the vCPU thread. The guest EOIs them through its LAPIC. For the
//!   per-vCPU vector this is what Xen does; Xen injects the global callback
//!   vector outside the LAPIC (no EOI), which KVM's full in-kernel irqchip
//!   cannot do: a guest on this irqchip must EOI the global callback vector
//!   too (or use the per-vCPU vector, or run with [`Irqchip::None`]).
//! - The GSI callback (`HVM_PARAM_CALLBACK_IRQ` type GSI) is a
//!   level-triggered IOAPIC line: an irqfd with a resample eventfd
//!   (`KVM_IRQFD_FLAG_RESAMPLE`). It is asserted when vCPU 0's
//!   `evtchn_upcall_pending` goes from 0 to 1; KVM deasserts it when the
//!   guest EOIs the interrupt and signals the resample eventfd, on which the
//!   timer thread asserts it again only if vCPU 0's `evtchn_upcall_pending`
//!   is still set. So the line is down once the guest has cleared the flag,
//!   as in Xen (which deasserts it on the guest's next exit, e.g. the EOI,
//!   once it sees the flag clear: `hvm_maybe_deassert_evtchn_irq`).
//! - The PCI INTx callback (type 1) keeps its current answer: there is no
//!   PCI bus.
//!
//! [`Irqchip::None`] keeps the old path: no interrupt controller, upcalls
//! injected with `KVM_INTERRUPT` from the vCPU loop (see [`crate::vcpu`]).
//! The split irqchip (`KVM_CAP_SPLIT_IRQCHIP`) is not offered: it needs a
//! user-space IOAPIC and PIC, which this VMM does not have.

use std::os::fd::AsRawFd;
use std::sync::OnceLock;

use kvm_bindings::{kvm_irqchip, kvm_msi, KVM_IRQCHIP_IOAPIC};
use kvm_ioctls::{Kvm, VmFd};
use vmm_sys_util::eventfd::EventFd;

use crate::error::{Error, Result};

/// Pins of KVM's IOAPIC (GSIs 0 to 23).
pub const IOAPIC_PINS: u32 = 24;

/// The address of the LAPIC (and of MSIs).
pub const LAPIC_BASE: u64 = 0xfee0_0000;

/// Offset of the spurious-interrupt vector register in the LAPIC page.
const APIC_SVR: usize = 0xf0;

/// Which interrupt controller a VM has ([`crate::VmConfig::irqchip`]).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Irqchip {
    /// KVM's in-kernel LAPIC, IOAPIC and PIC (`KVM_CREATE_IRQCHIP`); upcalls
    /// are LAPIC interrupts and IOAPIC lines (see [the module](self)).
    #[default]
    Kernel,
    /// No interrupt controller: upcalls are injected with `KVM_INTERRUPT`
    /// (a GSI callback as vector 0x20 + GSI on vCPU 0).
    None,
}

impl std::str::FromStr for Irqchip {
    type Err = String;

    fn from_str(s: &str) -> std::result::Result<Self, String> {
        match s {
            "kernel" => Ok(Irqchip::Kernel),
            "none" => Ok(Irqchip::None),
            _ => Err(format!("unknown irqchip `{s}` (kernel or none)")),
        }
    }
}

impl std::fmt::Display for Irqchip {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Irqchip::Kernel => "kernel",
            Irqchip::None => "none",
        })
    }
}

/// One IOAPIC line driven through an irqfd with a resample eventfd.
#[derive(Debug)]
struct Line {
    /// Written to assert the line.
    trigger: EventFd,
    /// Signalled by KVM when the guest EOIs the line (KVM deasserted it).
    resample: EventFd,
    /// Whether the irqfd is registered (registered on first use).
    registered: OnceLock<bool>,
}

/// The in-kernel irqchip of a VM: sends upcall vectors to LAPICs and drives
/// the callback GSI (see [the module](self)).
#[derive(Debug)]
pub struct KernelIrqchip {
    /// Our own handle on the VM fd (a duplicate) for `KVM_SIGNAL_MSI` and irqfds.
    vm: VmFd,
    lines: Vec<Line>,
}

impl KernelIrqchip {
    /// Creates the in-kernel irqchip of `vm` (before its vCPUs are created).
    pub fn create(kvm: &Kvm, vm: &VmFd) -> Result<KernelIrqchip> {
        vm.create_irq_chip()
            .map_err(Error::kvm("KVM_CREATE_IRQCHIP"))?;
        // SAFETY: dup of a valid fd we own; the result is checked.
        let fd = unsafe { libc::dup(vm.as_raw_fd()) };
        if fd < 0 {
            return Err(Error::Io {
                op: "dup VM fd",
                source: std::io::Error::last_os_error(),
            });
        }
        // SAFETY: `fd` is a fresh duplicate of a KVM VM fd, owned by the new VmFd only.
        let vm = unsafe { kvm.create_vmfd_from_rawfd(fd) }.map_err(Error::kvm("VM fd"))?;
        let mut lines = Vec::new();
        for _ in 0..IOAPIC_PINS {
            let ev = || {
                EventFd::new(libc::EFD_NONBLOCK).map_err(|source| Error::Io {
                    op: "eventfd",
                    source,
                })
            };
            lines.push(Line {
                trigger: ev()?,
                resample: ev()?,
                registered: OnceLock::new(),
            });
        }
        Ok(KernelIrqchip { vm, lines })
    }

    /// Sends `vector` to the LAPIC with ID `apic_id` as a fixed,
    /// edge-triggered MSI in physical destination mode. False if KVM refused.
    pub fn send_vector(&self, apic_id: u32, vector: u8) -> bool {
        let msi = kvm_msi {
            address_lo: (LAPIC_BASE as u32) | ((apic_id & 0xff) << 12),
            address_hi: 0,
            data: u32::from(vector),
            ..Default::default()
        };
        match self.vm.signal_msi(msi) {
            Ok(_) => true,
            Err(e) => {
                log::warn!("KVM_SIGNAL_MSI(vector {vector:#x} to APIC {apic_id}): {e}");
                false
            }
        }
    }

    /// Registers the irqfd of `gsi` if it is not yet; false if `gsi` is not
    /// an IOAPIC pin or KVM refused.
    fn line(&self, gsi: u32) -> Option<&Line> {
        let l = self.lines.get(gsi as usize)?;
        let ok = *l.registered.get_or_init(|| {
            match self
                .vm
                .register_irqfd_with_resample(&l.trigger, &l.resample, gsi)
            {
                Ok(()) => true,
                Err(e) => {
                    log::error!("KVM_IRQFD(GSI {gsi}, resample): {e}");
                    false
                }
            }
        });
        ok.then_some(l)
    }

    /// Asserts the level-triggered line `gsi` (until the guest EOIs it).
    /// Ignored for a GSI that is not an IOAPIC pin.
    pub fn assert_gsi(&self, gsi: u32) {
        match self.line(gsi) {
            Some(l) => {
                if let Err(e) = l.trigger.write(1) {
                    log::error!("irqfd of GSI {gsi}: {e}");
                }
            }
            None => log::debug!("callback GSI {gsi} is not an IOAPIC pin"),
        }
    }

    /// Makes sure line `gsi` is driven by its irqfd, so that KVM lowers it at
    /// the guest's next EOI (after a restore, an IOAPIC line saved high).
    pub fn claim_gsi(&self, gsi: u32) {
        let _ = self.line(gsi);
    }

    /// The resample eventfd of each IOAPIC pin (index = GSI), for the thread
    /// that waits for them ([`crate::timers`]).
    pub fn resample_fds(&self) -> impl Iterator<Item = (u32, &EventFd)> {
        self.lines
            .iter()
            .enumerate()
            .map(|(i, l)| (i as u32, &l.resample))
    }

    /// Consumes a resample notification of `gsi`: true if there was one.
    pub fn take_resample(&self, gsi: u32) -> bool {
        self.lines
            .get(gsi as usize)
            .is_some_and(|l| l.resample.read().is_ok())
    }

    /// The IOAPIC pins whose line is high in the IOAPIC state (`irr`).
    pub fn asserted_lines(&self) -> Result<u32> {
        let mut chip = kvm_irqchip {
            chip_id: KVM_IRQCHIP_IOAPIC,
            ..Default::default()
        };
        self.vm
            .get_irqchip(&mut chip)
            .map_err(Error::kvm("KVM_GET_IRQCHIP"))?;
        // SAFETY: chip_id IOAPIC selects the `ioapic` member, plain data.
        Ok(unsafe { chip.chip.ioapic }.irr)
    }

    /// The redirection table entry of IOAPIC pin `pin` (bit 14: remote IRR,
    /// bit 16: masked).
    pub fn redirection_entry(&self, pin: u32) -> Result<u64> {
        let mut chip = kvm_irqchip {
            chip_id: KVM_IRQCHIP_IOAPIC,
            ..Default::default()
        };
        self.vm
            .get_irqchip(&mut chip)
            .map_err(Error::kvm("KVM_GET_IRQCHIP"))?;
        // SAFETY: chip_id IOAPIC selects the `ioapic` member; every
        // redirection entry union member is a plain u64 view.
        let ioapic = unsafe { chip.chip.ioapic };
        let e = ioapic
            .redirtbl
            .get(pin as usize)
            .ok_or_else(|| Error::Config(format!("IOAPIC pin {pin}")))?;
        // SAFETY: `bits` is the u64 view of the entry.
        Ok(unsafe { e.bits })
    }
}

/// Enables the LAPIC of a new vCPU in software (spurious-vector register
/// 0x1ff), so that upcall vectors reach a guest that never programs its LAPIC
/// (KVM creates it software-disabled, which drops fixed interrupts). INIT
/// resets it as on hardware.
pub fn enable_lapic(vcpu: &kvm_ioctls::VcpuFd) -> Result<()> {
    let mut l = vcpu.get_lapic().map_err(Error::kvm("KVM_GET_LAPIC"))?;
    let svr: u32 = 0x1ff;
    for (i, b) in svr.to_le_bytes().iter().enumerate() {
        l.regs[APIC_SVR + i] = *b as _;
    }
    vcpu.set_lapic(&l).map_err(Error::kvm("KVM_SET_LAPIC"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn irqchip_names_round_trip_and_default_to_kernel() {
        assert_eq!(Irqchip::default(), Irqchip::Kernel);
        for k in [Irqchip::Kernel, Irqchip::None] {
            assert_eq!(k.to_string().parse::<Irqchip>(), Ok(k));
        }
        assert!("split".parse::<Irqchip>().is_err());
    }
}
