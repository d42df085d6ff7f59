// SPDX-License-Identifier: Apache-2.0 OR BSD-3-Clause
//! A complete KVM VMM for a Xen PVH guest, built only from the library crates
//! (xen-platform, xen-hypercall, xen-abi, vm-lock, vm-memory) and
//! kvm-ioctls / kvm-bindings. One vCPU, KVM's in-kernel irqchip, event-channel
//! upcalls as MSIs (`KVM_SIGNAL_MSI`), hypercalls through the port-I/O stubs
//! of the hypercall page, the guest's PV console on stdout.
//!
//! ```text
//! cargo run -p xen-platform --example minimal_vmm -- <pvh-elf>
//! ```
//!
//! It boots GRUB's `i386-xen_pvh` image (see `tests/minimal_vmm.rs`) and
//! exits with the guest's `SHUTDOWN_*` reason (poweroff: 0). The lines that
//! exist only because the guest is a Xen guest lie between `xen-glue`
//! markers (`tests/minimal_vmm.rs` holds them to 80 lines). Left out (GRUB's
//! echo and power-off need none of them): host timers for Xen timers
//! (`XenHost::set_timer`; a blocked vCPU still wakes at its deadline), a
//! `VcpuAccess` with the TSC (pvclock; without it GRUB's clock stands still,
//! so `sleep` never ends) and with `KVM_TRANSLATE` (guests that make
//! hypercalls with paging on), console input, more vCPUs, the GSI callback.

use std::io::Write;
use std::sync::Arc;
use std::time::Duration;

use kvm_bindings::KVM_MAX_CPUID_ENTRIES;
use kvm_bindings::{kvm_regs, kvm_segment, kvm_userspace_memory_region, CpuId};
use kvm_ioctls::{Kvm, VcpuExit, VcpuFd, VmFd};
use vm_lock::{MemoryMap, Root};
use vm_memory::{
    Bytes, GuestAddress, GuestMemoryBackend, GuestMemoryMmap, GuestMemoryRegion, GuestRegionMmap,
    MemoryRegionAddress, MmapRegion,
};
use xen_abi::{E820Entry, HvmMemmapTableEntry, HvmStartInfo, E820_RAM, E820_RESERVED};

// xen-glue: begin
use kvm_bindings::{kvm_cpuid_entry2, kvm_enable_cap, kvm_msi};
use kvm_ioctls::{MsrFilterDefaultAction, MsrFilterRange, MsrFilterRangeFlags};
use xen_hypercall::X86Regs;
use xen_platform::{cpuid::is_hypervisor_leaf, HypercallExit as Hc, MsrWrite, NoVcpuAccess};
use xen_platform::{PlatformConfig, Retry, UpcallKind, XenHost, XenPlatform};
// xen-glue: end

/// A boxed error.
pub type Result<T> = std::result::Result<T, Box<dyn std::error::Error + Send + Sync>>;

/// Guest RAM: `[0, 640 KiB)` and `[1 MiB, MEM)`.
const MEM: u64 = 64 << 20;
const LOW_END: u64 = 0xa_0000;
const HIGH_START: u64 = 0x10_0000;
/// `hvm_start_info`, then its memory map (low RAM).
const START_INFO: u64 = 0x9000;
const MEMMAP: u64 = 0x9100;

/// Boots the PVH ELF `elf` with the guest console going to `output`; returns
/// the guest's `SHUTDOWN_*` reason.
pub fn run(elf: &[u8], output: Box<dyn Write + Send>) -> Result<u32> {
    let kvm = Kvm::new()?;
    let vm = Arc::new(kvm.create_vm()?);
    vm.set_tss_address(0xfffb_d000)?;
    vm.create_irq_chip()?;
    let ram = [(0, LOW_END), (HIGH_START, MEM - HIGH_START)];
    let mem = GuestMemoryMmap::from_ranges(&ram.map(|(a, n)| (GuestAddress(a), n as usize)))?;
    for (slot, region) in mem.iter().enumerate() {
        add_slot(&vm, slot as u32, region)?;
    }
    // The top two pages hold the console and xenstore rings
    // (`PlatformConfig::new`): reserved, so that the guest leaves them alone.
    let e820 = [
        e820_entry(0, LOW_END, E820_RAM),
        e820_entry(HIGH_START, MEM - HIGH_START - 0x2000, E820_RAM),
        e820_entry(MEM - 0x2000, 0x2000, E820_RESERVED),
    ];
    let entry = load_pvh(&mem, elf)?;
    write_start_info(&mem, &e820)?;
    let mem = MemoryMap::new(mem);
    // xen-glue: begin
    let mut config = PlatformConfig::new(1, MEM);
    config.memory_map = e820.to_vec();
    let xen = XenPlatform::new(config, mem, Arc::new(Host(vm.clone())), output)?;
    // Writes of the hypercall MSR exit to user space: the MSR filter denies
    // them in the kernel (a clear bitmap bit).
    let cap = kvm_enable_cap {
        cap: kvm_bindings::KVM_CAP_X86_USER_SPACE_MSR,
        args: [kvm_bindings::KVM_MSR_EXIT_REASON_FILTER.into(), 0, 0, 0],
        ..Default::default()
    };
    vm.enable_cap(&cap)?;
    let range = MsrFilterRange {
        flags: MsrFilterRangeFlags::WRITE,
        base: xen_abi::XEN_HYPERCALL_MSR,
        msr_count: 1,
        bitmap: &[0],
    };
    vm.set_msr_filter(MsrFilterDefaultAction::ALLOW, &[range])?;
    // xen-glue: end
    let mut root = Root::new()?;
    let mut vcpu = vm.create_vcpu(0)?;
    let mut cpuid = kvm
        .get_supported_cpuid(KVM_MAX_CPUID_ENTRIES)?
        .as_slice()
        .to_vec();
    // xen-glue: begin
    // KVM's hypervisor leaves give way to Xen's (`KVM_CPUID_FLAG_SIGNIFCANT_INDEX` is 1).
    cpuid.retain(|e| !is_hypervisor_leaf(e.function));
    for l in xen.cpuid_leaves(0) {
        let mut e = kvm_cpuid_entry2::default();
        (e.function, e.index, e.flags) = (l.function, l.index, l.significant_index.into());
        (e.eax, e.ebx, e.ecx, e.edx) = (l.eax, l.ebx, l.ecx, l.edx);
        cpuid.push(e);
    }
    // xen-glue: end
    vcpu.set_cpuid2(&CpuId::from_entries(&cpuid)?)?;
    set_pvh_entry(&vcpu, entry)?;
    loop {
        // `Some`: a write of the hypercall MSR; `None`: a hypercall.
        let msr = match vcpu.run() {
            // xen-glue: begin
            Ok(VcpuExit::IoOut(port, _)) if port == u16::from(HYPERCALL_PORT) => None,
            Ok(VcpuExit::X86Wrmsr(m)) => Some((m.index, m.data)),
            // xen-glue: end
            // Port 0xe9: the guest's early panic messages.
            Ok(VcpuExit::IoOut(0xe9, data)) => {
                std::io::stderr().write_all(data)?;
                continue;
            }
            Ok(VcpuExit::IoIn(_, data) | VcpuExit::MmioRead(_, data)) => {
                data.fill(0xff);
                continue;
            }
            // HLT waits in the kernel (in-kernel irqchip).
            Ok(VcpuExit::IoOut(..) | VcpuExit::MmioWrite(..) | VcpuExit::Hlt) => continue,
            Ok(VcpuExit::IrqWindowOpen | VcpuExit::Intr) => continue,
            Ok(other) => return Err(format!("vCPU exit {other:?}").into()),
            Err(e) if e.errno() == libc::EINTR || e.errno() == libc::EAGAIN => continue,
            Err(e) => return Err(e.into()),
        };
        // xen-glue: begin
        // The registers xen-hypercall decodes (width, calling convention, CPL, paging).
        let (mut r, s, mut x) = (vcpu.get_regs()?, vcpu.get_sregs()?, X86Regs::default());
        [x.rax, x.rbx, x.rcx, x.rdx, x.rsi, x.rdi] = [r.rax, r.rbx, r.rcx, r.rdx, r.rsi, r.rdi];
        [x.rbp, x.r8, x.r9, x.r10, x.efer, x.cr0] = [r.rbp, r.r8, r.r9, r.r10, s.efer, s.cr0];
        (x.cs_l, x.ss_dpl) = (s.cs.l != 0, s.ss.dpl);
        if let Some((msr, value)) = msr {
            let done = xen.on_msr_write(root.token(), 0, msr, value, x.long_mode(), HYPERCALL_PORT);
            // Refused (not a page of the guest's RAM): #GP.
            vcpu.get_kvm_run().__bindgen_anon_1.msr.error = (done != MsrWrite::Done).into();
            continue;
        }
        let mut retry = Retry::No;
        r.rax = loop {
            let (regs, access) = (x.hypercall_regs(), &mut NoVcpuAccess);
            match xen.on_hypercall(root.token(), 0, &regs, x.paging(), access, retry) {
                Hc::Resume { rax } => break rax,
                Hc::MapPage { gpa } => match add_page(&xen, &mut root, &vm, gpa) {
                    Ok(()) => retry = Retry::PageAdded,
                    Err(_) => retry = Retry::PageRefused, // the guest gets -ENOMEM
                },
                Hc::Block { rax, wait } => {
                    while !xen.wait_ready(root.token(), 0, &wait) {
                        let ns = xen.wait_timeout_ns(&wait).unwrap_or(u64::MAX);
                        std::thread::sleep(Duration::from_nanos(ns.min(1_000_000)));
                    }
                    xen.wait_end(0, &wait);
                    break rax;
                }
                Hc::Shutdown { reason, .. } => return Ok(reason),
                other => return Err(format!("{other:?}").into()),
            }
        };
        vcpu.set_regs(&r)?;
        // xen-glue: end
    }
}

// xen-glue: begin
/// The port the hypercall page's stubs write to.
const HYPERCALL_PORT: u8 = 0x88;

/// Delivers upcalls as MSIs to the vCPU's local APIC (which wakes it).
struct Host(Arc<VmFd>);

impl XenHost for Host {
    fn upcall(&self, vcpu: u32, how: UpcallKind) {
        // No vector (yet), or the GSI callback (not wired here): GRUB polls.
        if let UpcallKind::Vector(v) | UpcallKind::PerVcpuVector(v) = how {
            let mut msi = kvm_msi::default();
            (msi.address_lo, msi.data) = (0xfee0_0000 | (vcpu << 12), v.into());
            // Fails only without an in-kernel irqchip; 0: the APIC refused it.
            let _ = self.0.signal_msi(msi);
        }
    }
}

/// Backs `gpa`, a page the guest placed outside RAM (shared_info, grant
/// frames), with a new page in a KVM slot of its own (KVM's slot limit
/// bounds how many).
fn add_page(xen: &XenPlatform, root: &mut Root, vm: &VmFd, gpa: u64) -> Result<()> {
    let page = GuestRegionMmap::new(MmapRegion::new(0x1000)?, GuestAddress(gpa));
    let (page, memory) = (Arc::new(page.ok_or("bad address")?), xen.memory());
    let new = memory.read(root.token()).0.insert_region(page.clone())?;
    add_slot(vm, new.num_regions() as u32 - 1, &page)?;
    memory.replace(root.token(), new);
    Ok(())
}
// xen-glue: end

/// Registers `region` with KVM in `slot`.
fn add_slot(vm: &VmFd, slot: u32, region: &GuestRegionMmap) -> Result<()> {
    let desc = kvm_userspace_memory_region {
        slot,
        guest_phys_addr: region.start_addr().0,
        memory_size: region.len(),
        userspace_addr: region.get_host_address(MemoryRegionAddress(0))? as u64,
        flags: 0,
    };
    // SAFETY: the region is a live anonymous mapping of `len` bytes. It stays
    // mapped while the vCPU can run: regions are never removed from the guest
    // memory map, which the platform holds until after the `KVM_RUN` loop.
    Ok(unsafe { vm.set_user_memory_region(desc) }?)
}

fn e820_entry(addr: u64, size: u64, kind: u32) -> E820Entry {
    E820Entry { addr, size, kind }
}

/// Loads the `PT_LOAD` segments of the ELF `elf` (32 or 64 bit) at their
/// physical addresses; returns the entry point of its
/// `XEN_ELFNOTE_PHYS32_ENTRY` note.
fn load_pvh(mem: &GuestMemoryMmap, elf: &[u8]) -> Result<u64> {
    let rd = |off: u64, n: usize| -> Result<u64> {
        let b = usize::try_from(off)
            .ok()
            .and_then(|o| elf.get(o..)?.get(..n));
        let mut v = [0u8; 8];
        v[..n].copy_from_slice(b.ok_or("truncated ELF file")?);
        Ok(u64::from_le_bytes(v))
    };
    if elf.get(..4) != Some(b"\x7fELF") {
        return Err("not an ELF file".into());
    }
    let is64 = elf.get(4) == Some(&2); // ELFCLASS64
    let (w, phoff, phentsize, phnum) = if is64 {
        (8, rd(32, 8)?, rd(54, 2)?, rd(56, 2)?)
    } else {
        (4, rd(28, 4)?, rd(42, 2)?, rd(44, 2)?)
    };
    let mut entry = None;
    for i in 0..phnum {
        let ph = phoff.checked_add(i * phentsize).ok_or("bad ELF")?;
        let field = |o32: u64, o64: u64| rd(ph.saturating_add(if is64 { o64 } else { o32 }), w);
        let (offset, paddr) = (field(4, 8)?, field(12, 24)?);
        let (filesz, memsz) = (field(16, 32)?, field(20, 40)?);
        let data = usize::try_from(offset)
            .ok()
            .and_then(|o| elf.get(o..)?.get(..usize::try_from(filesz).ok()?))
            .ok_or("ELF segment past the end of the file")?;
        match rd(ph, 4)? {
            // Fresh anonymous guest memory is zero: no BSS to clear.
            1 if filesz <= memsz && mem.check_range(GuestAddress(paddr), memsz as usize) => {
                mem.write_slice(data, GuestAddress(paddr))?
            }
            1 => return Err(format!("ELF segment at {paddr:#x} outside guest RAM").into()),
            4 => entry = entry.or(phys32_entry(data)),
            _ => {}
        }
    }
    Ok(entry.ok_or("no XEN_ELFNOTE_PHYS32_ENTRY note: not a PVH kernel")?)
}

/// The `XEN_ELFNOTE_PHYS32_ENTRY` of an ELF note segment.
fn phys32_entry(mut notes: &[u8]) -> Option<u64> {
    let word = |b: &[u8], o: usize| Some(u32::from_le_bytes(b.get(o..o + 4)?.try_into().ok()?));
    while notes.len() >= 12 {
        let (namesz, descsz) = (word(notes, 0)? as usize, word(notes, 4)? as usize);
        let desc = 12 + namesz.div_ceil(4) * 4;
        let name = notes.get(12..12 + namesz)?;
        if word(notes, 8)? == xen_abi::XEN_ELFNOTE_PHYS32_ENTRY && name.starts_with(b"Xen") {
            return word(notes, desc).map(u64::from);
        }
        notes = notes.get(desc + descsz.div_ceil(4) * 4..)?;
    }
    None
}

/// Writes `hvm_start_info` with the memory map `e820`; no command line
/// (`cmdline_paddr` 0 points at a NUL in zeroed RAM), no modules, no ACPI.
fn write_start_info(mem: &GuestMemoryMmap, e820: &[E820Entry]) -> Result<()> {
    for (i, e) in e820.iter().enumerate() {
        let entry = HvmMemmapTableEntry {
            addr: e.addr,
            size: e.size,
            kind: e.kind,
            reserved: 0,
        };
        mem.write_obj(entry, GuestAddress(MEMMAP + 24 * i as u64))?;
    }
    let info = HvmStartInfo {
        magic: xen_abi::XEN_HVM_START_MAGIC_VALUE,
        version: 1,
        memmap_paddr: MEMMAP,
        memmap_entries: e820.len() as u32,
        ..Default::default()
    };
    Ok(mem.write_obj(info, GuestAddress(START_INFO))?)
}

/// PVH entry state: 32-bit flat protected mode, paging off, `ebx` =
/// `hvm_start_info`.
fn set_pvh_entry(vcpu: &VcpuFd, entry: u64) -> Result<()> {
    let mut sregs = vcpu.get_sregs()?;
    let seg = |selector, type_| kvm_segment {
        limit: 0xffff_ffff,
        selector,
        type_,
        present: 1,
        db: 1,
        s: 1,
        g: 1,
        ..Default::default()
    };
    sregs.cs = seg(0x8, 0xb);
    let d = seg(0x10, 3);
    (sregs.ds, sregs.es, sregs.fs, sregs.gs, sregs.ss) = (d, d, d, d, d);
    (sregs.cr0, sregs.cr4, sregs.efer) = (0x11, 0, 0); // PE | ET
    vcpu.set_sregs(&sregs)?;
    let regs = kvm_regs {
        rip: entry,
        rbx: START_INFO,
        rflags: 0x2,
        ..Default::default()
    };
    Ok(vcpu.set_regs(&regs)?)
}

fn main() {
    let Some(path) = std::env::args_os().nth(1) else {
        eprintln!("usage: minimal_vmm <pvh-elf>");
        std::process::exit(2);
    };
    let result = std::fs::read(&path)
        .map_err(Into::into)
        .and_then(|elf| run(&elf, Box::new(std::io::stdout())));
    match result {
        Ok(reason) => std::process::exit(reason.min(100) as i32),
        Err(e) => {
            eprintln!("minimal_vmm: {e}");
            std::process::exit(101);
        }
    }
}
