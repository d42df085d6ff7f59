// SPDX-License-Identifier: Apache-2.0 OR BSD-3-Clause
//! ACPI tables for PVH guests (built with rust-vmm's `acpi_tables`): the
//! RSDP that `hvm_start_info.rsdp_paddr` points at, an XSDT, a
//! hardware-reduced FADT, an empty DSDT and a MADT with one local APIC per
//! vCPU (APIC id = vCPU id), the IOAPIC and the interrupt source override a
//! PC has (ISA IRQ 0 on GSI 2). They sit in the page at [`layout::ACPI`],
//! which the memory map marks `E820_ACPI`.
//!
//! A PVH Linux without a MADT finds one CPU only and no IOAPIC.

use acpi_tables::fadt::{FADTBuilder, Flags};
use acpi_tables::madt::{EnabledStatus, IoApic, ProcessorLocalApic};
use acpi_tables::rsdp::Rsdp;
use acpi_tables::sdt::Sdt;
use acpi_tables::xsdt::XSDT;
use acpi_tables::Aml;
use vm_memory::{Bytes, GuestAddress, GuestMemoryMmap};

use crate::error::{Error, Result};
use crate::memory::layout;

/// OEM id in every table.
pub const OEM_ID: [u8; 6] = *b"XENKVM";
/// OEM table id in every table.
pub const OEM_TABLE_ID: [u8; 8] = *b"XENKVMPV";
/// The local APICs' address (the architectural default).
pub const LAPIC_ADDR: u32 = 0xfee0_0000;
/// The IOAPIC's address (the architectural default); its GSI base is 0.
pub const IOAPIC_ADDR: u32 = 0xfec0_0000;
/// The IOAPIC's APIC id (after the vCPUs' ids, which the MADT gives 0..n).
pub const IOAPIC_ID: u8 = 0xfe;
/// Most vCPUs the tables describe (APIC ids fit in a byte below [`IOAPIC_ID`]).
pub const MAX_VCPUS: u32 = 0xfe;

/// MADT flag: the platform also has dual 8259 PICs (`PCAT_COMPAT`).
const MADT_PCAT_COMPAT: u32 = 1;
/// FADT `IAPC_BOOT_ARCH`: no VGA, no CMOS RTC.
const IAPC_NO_VGA: u16 = 1 << 2;
const IAPC_NO_CMOS_RTC: u16 = 1 << 5;

fn bytes(t: &dyn Aml) -> Vec<u8> {
    let mut v = Vec::new();
    t.to_aml_bytes(&mut v);
    v
}

fn align16(x: u64) -> u64 {
    (x + 15) & !15
}

/// The MADT for `vcpus` vCPUs.
pub fn madt(vcpus: u32) -> Result<Vec<u8>> {
    if vcpus == 0 || vcpus > MAX_VCPUS {
        return Err(Error::Config(format!(
            "{vcpus} vCPUs do not fit in the MADT (1 to {MAX_VCPUS})"
        )));
    }
    let mut body = Vec::new();
    body.extend_from_slice(&LAPIC_ADDR.to_le_bytes());
    body.extend_from_slice(&MADT_PCAT_COMPAT.to_le_bytes());
    for id in 0..vcpus as u8 {
        body.extend(bytes(&ProcessorLocalApic::new(
            id,
            id,
            EnabledStatus::Enabled,
        )));
    }
    body.extend(bytes(&IoApic::new(IOAPIC_ID, IOAPIC_ADDR, 0)));
    // Interrupt source override (type 2): ISA IRQ 0 (the PIT) on GSI 2,
    // polarity and trigger as the bus (edge, active high).
    body.extend_from_slice(&[2, 10, 0, 0]);
    body.extend_from_slice(&2u32.to_le_bytes());
    body.extend_from_slice(&0u16.to_le_bytes());
    // Local APIC NMI (type 4): every processor (uid 0xff), LINT1.
    body.extend_from_slice(&[4, 6, 0xff, 0, 0, 1]);
    let mut sdt = Sdt::new(*b"APIC", 36, 5, OEM_ID, OEM_TABLE_ID, 1);
    sdt.append_slice(&body);
    Ok(sdt.as_slice().to_vec())
}

/// An empty DSDT (the platform has no devices to describe in AML).
pub fn dsdt() -> Vec<u8> {
    Sdt::new(*b"DSDT", 36, 2, OEM_ID, OEM_TABLE_ID, 1)
        .as_slice()
        .to_vec()
}

/// A hardware-reduced FADT pointing at the DSDT at `dsdt_addr`.
pub fn fadt(dsdt_addr: u64) -> Vec<u8> {
    let mut b = FADTBuilder::new(OEM_ID, OEM_TABLE_ID, 1)
        .flag(Flags::HwReducedAcpi)
        .dsdt_64(dsdt_addr);
    b.iapc_boot_arch = (IAPC_NO_VGA | IAPC_NO_CMOS_RTC).into();
    bytes(&b.finalize())
}

/// Writes the tables for `vcpus` vCPUs at [`layout::ACPI`]; returns the RSDP's GPA.
pub fn write_tables(mem: &GuestMemoryMmap, vcpus: u32) -> Result<u64> {
    let base = layout::ACPI;
    let rsdp_addr = base;
    let xsdt_addr = base + 0x40;
    // The XSDT has two entries: FADT and MADT.
    let fadt_addr = align16(xsdt_addr + 36 + 2 * 8);
    let dsdt_addr = align16(fadt_addr + acpi_tables::fadt::FADT::len() as u64);
    let dsdt = dsdt();
    let madt_addr = align16(dsdt_addr + dsdt.len() as u64);
    let madt = madt(vcpus)?;
    let end = madt_addr + madt.len() as u64;
    if end > base + layout::ACPI_SIZE {
        return Err(Error::Config(format!(
            "ACPI tables of {} bytes do not fit in {} bytes",
            end - base,
            layout::ACPI_SIZE
        )));
    }
    let fadt = fadt(dsdt_addr);
    let mut xsdt = XSDT::new(OEM_ID, OEM_TABLE_ID, 1);
    xsdt.add_entry(fadt_addr);
    xsdt.add_entry(madt_addr);
    let rsdp = Rsdp::new(OEM_ID, xsdt_addr);
    let err = |e| Error::Memory(format!("writing ACPI tables: {e}"));
    mem.write_slice(&vec![0u8; layout::ACPI_SIZE as usize], GuestAddress(base))
        .map_err(err)?;
    for (addr, t) in [
        (rsdp_addr, bytes(&rsdp)),
        (xsdt_addr, bytes(&xsdt)),
        (fadt_addr, fadt),
        (dsdt_addr, dsdt),
        (madt_addr, madt),
    ] {
        mem.write_slice(&t, GuestAddress(addr)).map_err(err)?;
    }
    Ok(rsdp_addr)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sum(b: &[u8]) -> u8 {
        b.iter().fold(0u8, |a, x| a.wrapping_add(*x))
    }

    fn u32_at(b: &[u8], off: usize) -> u32 {
        u32::from_le_bytes(b[off..off + 4].try_into().unwrap())
    }

    fn u64_at(b: &[u8], off: usize) -> u64 {
        u64::from_le_bytes(b[off..off + 8].try_into().unwrap())
    }

    fn table(mem: &GuestMemoryMmap, gpa: u64) -> Vec<u8> {
        let mut h = [0u8; 8];
        mem.read_slice(&mut h, GuestAddress(gpa)).unwrap();
        let mut t = vec![0u8; u32_at(&h, 4) as usize];
        mem.read_slice(&mut t, GuestAddress(gpa)).unwrap();
        assert_eq!(sum(&t), 0, "checksum of {:?}", &t[..4]);
        t
    }

    #[test]
    fn rsdp_xsdt_fadt_madt_walk_with_valid_checksums() {
        let mem = crate::memory::create_guest_memory(8 << 20).unwrap();
        let rsdp = write_tables(&mem, 3).unwrap();
        let mut r = [0u8; 36];
        mem.read_slice(&mut r, GuestAddress(rsdp)).unwrap();
        assert_eq!(&r[..8], b"RSD PTR ");
        assert_eq!(sum(&r[..20]), 0);
        assert_eq!(sum(&r), 0);
        assert_eq!(r[15], 2, "ACPI 2.0+ RSDP");
        let xsdt = table(&mem, u64_at(&r, 24));
        assert_eq!(&xsdt[..4], b"XSDT");
        let entries: Vec<u64> = (36..xsdt.len())
            .step_by(8)
            .map(|o| u64_at(&xsdt, o))
            .collect();
        assert_eq!(entries.len(), 2);
        let fadt = table(&mem, entries[0]);
        assert_eq!(&fadt[..4], b"FACP");
        assert_ne!(u32_at(&fadt, 112) & (1 << 20), 0, "HW_REDUCED_ACPI");
        let dsdt = table(&mem, u64_at(&fadt, 140));
        assert_eq!(&dsdt[..4], b"DSDT");
        let madt = table(&mem, entries[1]);
        assert_eq!(&madt[..4], b"APIC");
        assert_eq!(u32_at(&madt, 36), LAPIC_ADDR);
        let mut off = 44;
        let (mut lapics, mut ioapics, mut isos) = (Vec::new(), 0, 0);
        while off < madt.len() {
            let (ty, len) = (madt[off], madt[off + 1] as usize);
            match ty {
                0 => lapics.push((madt[off + 2], madt[off + 3], u32_at(&madt, off + 4))),
                1 => {
                    ioapics += 1;
                    assert_eq!(u32_at(&madt, off + 4), IOAPIC_ADDR);
                    assert_eq!(u32_at(&madt, off + 8), 0);
                }
                2 => {
                    isos += 1;
                    assert_eq!((madt[off + 3], u32_at(&madt, off + 4)), (0, 2));
                }
                _ => {}
            }
            off += len;
        }
        assert_eq!(off, madt.len());
        assert_eq!(lapics, vec![(0, 0, 1), (1, 1, 1), (2, 2, 1)]);
        assert_eq!((ioapics, isos), (1, 1));
    }

    #[test]
    fn tables_for_many_vcpus_fit_and_zero_is_refused() {
        let mem = crate::memory::create_guest_memory(8 << 20).unwrap();
        assert!(write_tables(&mem, 32).is_ok());
        assert!(write_tables(&mem, MAX_VCPUS).is_ok());
        assert!(write_tables(&mem, 0).is_err());
        assert!(write_tables(&mem, MAX_VCPUS + 1).is_err());
    }
}
