// SPDX-License-Identifier: Apache-2.0 OR BSD-3-Clause
//! KVM's in-kernel irqchip (the default, `Irqchip::Kernel`) on real KVM:
//! upcalls through the LAPIC (per-vCPU and global vectors, EOIed by the
//! guest), the GSI callback as a level-triggered IOAPIC line that goes down
//! once the guest cleared `evtchn_upcall_pending`, HLT with interrupts
//! disabled (the vCPU goes offline, the last one powers the domain off),
//! INIT/SIPI through the LAPIC, and a snapshot / restore of the irqchip.

mod common;

use common::*;
use iced_x86::code_asm::*;
use xen_vmm::{ExitReason, Irqchip};

const IDT: u64 = 0x21_0000;
const COUNT: u64 = DATA;
/// Upcalls taken while the LAPIC's task priority held them back.
const HELD_COUNT: u64 = DATA + 0x8;
/// The LAPIC's IRR word of the vector, while held back.
const IRR_HELD: u64 = DATA + 0x10;
/// The same, once taken.
const IRR_AFTER: u64 = DATA + 0x18;
/// The IOAPIC redirection entry (low word) the guest read last, and the
/// tries it had left.
const RTE_LOG: u64 = DATA + 0x40;
const MARK: u64 = DATA + 0x28;
const RES: u64 = DATA + 0x100;
/// vCPU 1's runstate area (registered by vCPU 0).
const RS1: u64 = DATA + 0x400;

const LAPIC: u64 = 0xfee0_0000;
const LAPIC_TPR: u64 = LAPIC + 0x80;
const LAPIC_EOI: u64 = LAPIC + 0xb0;
const LAPIC_ICR_LO: u64 = LAPIC + 0x300;
const LAPIC_ICR_HI: u64 = LAPIC + 0x310;
const IOAPIC: u64 = 0xfec0_0000;

/// rcx = vcpu_info of vCPU 0; clears its upcall_pending, its selector and
/// every pending bit (only rax and rcx change).
fn clear_pending(a: &mut CodeAssembler) {
    a.mov(rcx, SHINFO).unwrap();
    a.mov(byte_ptr(rcx), 0).unwrap();
    a.xor(eax, eax).unwrap();
    a.xchg(qword_ptr(rcx + 8), rax).unwrap();
    a.mov(rcx, SHINFO + 2048).unwrap();
    a.xor(eax, eax).unwrap();
    a.mov(qword_ptr(rcx), rax).unwrap();
}

/// Installs `label` at `vector` in the IDT at [`IDT`] and loads it.
fn load_idt(a: &mut CodeAssembler, vector: u64, label: CodeLabel) {
    let off = (vector * 16) as i32;
    a.mov(rbx, IDT).unwrap();
    a.lea(rax, ptr(label)).unwrap();
    a.mov(word_ptr(rbx + off), ax).unwrap();
    a.mov(word_ptr(rbx + off + 2), 0x08u32).unwrap();
    a.mov(word_ptr(rbx + off + 4), 0x8e00u32).unwrap();
    a.shr(rax, 16).unwrap();
    a.mov(word_ptr(rbx + off + 6), ax).unwrap();
    a.shr(rax, 16).unwrap();
    a.mov(dword_ptr(rbx + off + 8), eax).unwrap();
    a.mov(dword_ptr(rbx + off + 12), 0u32).unwrap();
    a.mov(word_ptr(rbx + 0xff0), 0xfffu32).unwrap();
    a.mov(qword_ptr(rbx + 0xff2), rbx).unwrap();
    a.lidt(ptr(rbx + 0xff0)).unwrap();
}

/// Waits (sti; hlt) until [`COUNT`] reaches `n`.
fn wait_count(a: &mut CodeAssembler, n: u32) {
    let mut top = a.create_label();
    let mut out = a.create_label();
    a.set_label(&mut top).unwrap();
    a.cli().unwrap();
    a.mov(rcx, COUNT).unwrap();
    a.cmp(qword_ptr(rcx), n as i32).unwrap();
    a.jae(out).unwrap();
    a.sti().unwrap();
    a.hlt().unwrap();
    a.jmp(top).unwrap();
    a.set_label(&mut out).unwrap();
    a.sti().unwrap();
}

/// Binds an IPI port to vCPU 0 (its number at `ARGS + 4`); result at `at`.
fn bind_ipi(g: &mut Guest, at: u64) {
    g.store32(ARGS, 0);
    g.hcall(32, &[7, ARGS]);
    g.store_result(at);
}

/// EVTCHNOP_send on the port at `ARGS + 4`; result at `at`.
fn send_ipi(g: &mut Guest, at: u64) {
    g.a.mov(rcx, ARGS + 4).unwrap();
    g.a.mov(eax, dword_ptr(rcx)).unwrap();
    g.a.mov(rcx, ARGS + 0x40).unwrap();
    g.a.mov(dword_ptr(rcx), eax).unwrap();
    g.hcall(32, &[4, ARGS + 0x40]);
    g.store_result(at);
}

/// A guest takes upcalls through the LAPIC on `vector`, set as the per-vCPU
/// upcall vector (`per_vcpu`) or as the global callback vector, and EOIs
/// them. With the LAPIC's task priority at 0xf0 the upcall waits in the
/// LAPIC's IRR (the vCPU enters the guest several times with interrupts
/// enabled and does not take it); once the priority is lowered the vCPU
/// takes it. A second upcall follows.
fn lapic_upcall(per_vcpu: bool, vector: u8) -> Run {
    let irr = LAPIC + 0x200 + u64::from(vector / 32) * 0x10;
    let bit = 1u64 << (vector % 32);
    let mut g = Guest::new64();
    let mut handler = g.a.create_label();
    let mut start = g.a.create_label();
    g.a.jmp(start).unwrap();
    g.a.set_label(&mut handler).unwrap();
    g.a.push(rax).unwrap();
    g.a.push(rcx).unwrap();
    clear_pending(&mut g.a);
    g.a.mov(rcx, LAPIC_EOI).unwrap();
    g.a.mov(dword_ptr(rcx), 0u32).unwrap();
    g.a.mov(rcx, COUNT).unwrap();
    g.a.lock().inc(qword_ptr(rcx)).unwrap();
    g.a.pop(rcx).unwrap();
    g.a.pop(rax).unwrap();
    g.a.iretq().unwrap();
    g.a.set_label(&mut start).unwrap();
    g.hypercall_page();
    load_idt(&mut g.a, u64::from(vector), handler);
    g.map_shared_info(SHINFO);
    g.store_result(RES);
    if per_vcpu {
        g.store32(ARGS + 0x200, 0);
        g.store32(ARGS + 0x204, u32::from(vector));
        g.hcall(34, &[23, ARGS + 0x200]); // HVMOP_set_evtchn_upcall_vector
    } else {
        g.callback_vector(vector);
    }
    g.store_result(RES + 8);
    bind_ipi(&mut g, RES + 16);
    g.a.mov(rcx, LAPIC_TPR).unwrap();
    g.a.mov(dword_ptr(rcx), 0xf0u32).unwrap();
    g.a.sti().unwrap();
    send_ipi(&mut g, RES + 24);
    for _ in 0..3 {
        g.hcall(17, &[0, 0]); // xen_version: more entries with IF set
    }
    g.a.mov(rcx, COUNT).unwrap();
    g.a.mov(rax, qword_ptr(rcx)).unwrap();
    g.a.mov(rcx, HELD_COUNT).unwrap();
    g.a.mov(qword_ptr(rcx), rax).unwrap();
    g.a.mov(rcx, irr).unwrap();
    g.a.mov(eax, dword_ptr(rcx)).unwrap();
    g.a.mov(rcx, IRR_HELD).unwrap();
    g.a.mov(qword_ptr(rcx), rax).unwrap();
    g.a.mov(rcx, LAPIC_TPR).unwrap();
    g.a.mov(dword_ptr(rcx), 0u32).unwrap();
    wait_count(&mut g.a, 1);
    g.a.mov(rcx, irr).unwrap();
    g.a.mov(eax, dword_ptr(rcx)).unwrap();
    g.a.mov(rcx, IRR_AFTER).unwrap();
    g.a.mov(qword_ptr(rcx), rax).unwrap();
    send_ipi(&mut g, RES + 32);
    wait_count(&mut g.a, 2);
    g.shutdown(0);
    let r = run64(g.assemble(), 1);
    assert_eq!(r.reason, ExitReason::Shutdown(0), "{}", r.output);
    for off in [0u64, 8, 16, 24, 32] {
        assert_eq!(r.i64(RES + off), 0, "result at +{off:#x}");
    }
    assert_eq!(r.u64(HELD_COUNT), 0, "upcall taken despite the LAPIC's TPR");
    assert_ne!(
        r.u64(IRR_HELD) & bit,
        0,
        "upcall not pending in the LAPIC's IRR"
    );
    assert_eq!(r.u64(IRR_AFTER) & bit, 0, "upcall still pending in the IRR");
    assert_eq!(r.u64(COUNT), 2);
    r
}

#[test]
fn per_vcpu_upcall_vector_goes_through_the_lapic_and_is_eoied() {
    if !require_kvm() {
        return;
    }
    lapic_upcall(true, 0xe0);
}

#[test]
fn global_callback_vector_goes_through_the_lapic_and_is_eoied() {
    if !require_kvm() {
        return;
    }
    lapic_upcall(false, 0xf3);
}

/// IOAPIC register `reg` = `v` (rcx, eax change).
fn ioapic_write(a: &mut CodeAssembler, reg: u32, v: u32) {
    a.mov(rcx, IOAPIC).unwrap();
    a.mov(dword_ptr(rcx), reg).unwrap();
    a.mov(dword_ptr(rcx + 0x10), v).unwrap();
}

#[test]
fn gsi_callback_is_an_ioapic_line_that_drops_once_pending_is_cleared() {
    if !require_kvm() {
        return;
    }
    const GSI: u32 = 10;
    const VEC: u32 = 0x30;
    const TRIES: u32 = 1_000_000;
    const STABLE: u32 = 2_000;
    let rte = 0x10 + 2 * GSI;
    let mut g = Guest::new64();
    let mut handler = g.a.create_label();
    let mut start = g.a.create_label();
    let mut keep = g.a.create_label();
    g.a.jmp(start).unwrap();
    // The first entry leaves evtchn_upcall_pending set: after its EOI the
    // VMM must raise the line again. The next ones clear it.
    g.a.set_label(&mut handler).unwrap();
    g.a.push(rax).unwrap();
    g.a.push(rcx).unwrap();
    g.a.mov(rcx, COUNT).unwrap();
    g.a.lock().inc(qword_ptr(rcx)).unwrap();
    g.a.cmp(qword_ptr(rcx), 1).unwrap();
    g.a.je(keep).unwrap();
    clear_pending(&mut g.a);
    g.a.set_label(&mut keep).unwrap();
    g.a.mov(rcx, LAPIC_EOI).unwrap();
    g.a.mov(dword_ptr(rcx), 0u32).unwrap();
    g.a.pop(rcx).unwrap();
    g.a.pop(rax).unwrap();
    g.a.iretq().unwrap();
    g.a.set_label(&mut start).unwrap();
    // The legacy PIC (which also sees GSIs 0-15) masked: the IOAPIC only.
    g.a.mov(al, 0xffu32).unwrap();
    g.a.out(0x21, al).unwrap();
    g.a.out(0xa1, al).unwrap();
    g.hypercall_page();
    load_idt(&mut g.a, u64::from(VEC), handler);
    g.map_shared_info(SHINFO);
    g.store_result(RES);
    // Pin GSI: vector VEC, level-triggered, active high, to APIC 0, unmasked.
    ioapic_write(&mut g.a, rte + 1, 0);
    ioapic_write(&mut g.a, rte, VEC | (1 << 15));
    // HVM_PARAM_CALLBACK_IRQ = GSI (type 0).
    g.store32(ARGS + 0x300, 0x7ff0);
    g.store32(ARGS + 0x304, 0);
    g.store64(ARGS + 0x308, u64::from(GSI));
    g.hcall(34, &[0, ARGS + 0x300]);
    g.store_result(RES + 8);
    bind_ipi(&mut g, RES + 16);
    send_ipi(&mut g, RES + 24);
    // One event, two entries: the line came up again while pending was set.
    wait_count(&mut g.a, 2);
    send_ipi(&mut g, RES + 32);
    wait_count(&mut g.a, 3);
    // Pending is clear and EOIed: the line goes down (remote IRR clear) and
    // stays down (no more entries) for STABLE tries in a row. On a host that
    // EOIs at delivery (KVM-PVM) the VMM may see the flag still set at that
    // EOI and raise the line once more (a spurious entry, as in Xen); that
    // settles too. Interrupts stay enabled; each try exits to the VMM once.
    let mut again = g.a.create_label();
    let mut unsettled = g.a.create_label();
    let mut next = g.a.create_label();
    let mut down = g.a.create_label();
    g.a.mov(r12d, TRIES).unwrap();
    g.a.xor(r13d, r13d).unwrap(); // tries in a row with the line down
    g.a.mov(rcx, COUNT).unwrap();
    g.a.mov(r14, qword_ptr(rcx)).unwrap();
    g.a.set_label(&mut again).unwrap();
    g.hcall(17, &[0, 0]); // xen_version
    g.a.mov(rcx, IOAPIC).unwrap();
    g.a.mov(dword_ptr(rcx), rte).unwrap();
    g.a.mov(eax, dword_ptr(rcx + 0x10)).unwrap();
    g.a.test(eax, 1u32 << 14).unwrap();
    g.a.jnz(unsettled).unwrap();
    g.a.mov(rcx, COUNT).unwrap();
    g.a.cmp(r14, qword_ptr(rcx)).unwrap();
    g.a.jne(unsettled).unwrap();
    g.a.inc(r13d).unwrap();
    g.a.cmp(r13d, STABLE).unwrap();
    g.a.jae(down).unwrap();
    g.a.jmp(next).unwrap();
    g.a.set_label(&mut unsettled).unwrap();
    g.a.xor(r13d, r13d).unwrap();
    g.a.mov(rcx, COUNT).unwrap();
    g.a.mov(r14, qword_ptr(rcx)).unwrap();
    g.a.set_label(&mut next).unwrap();
    g.a.dec(r12d).unwrap();
    g.a.jnz(again).unwrap();
    g.a.set_label(&mut down).unwrap();
    g.a.cli().unwrap();
    g.a.mov(rcx, RTE_LOG).unwrap();
    g.a.mov(qword_ptr(rcx), rax).unwrap();
    g.a.mov(qword_ptr(rcx + 8), r12).unwrap();
    g.shutdown(0);
    let r = run64(g.assemble(), 1);
    assert_eq!(r.reason, ExitReason::Shutdown(0), "{}", r.output);
    for off in [0u64, 8, 16, 24, 32] {
        assert_eq!(r.i64(RES + off), 0, "result at +{off:#x}");
    }
    assert!(r.u64(COUNT) >= 3, "count {}", r.u64(COUNT));
    let remote_irr = 1 << 14;
    let e = r.u64(RTE_LOG);
    assert_eq!(e & 0xff, u64::from(VEC), "{e:#x}");
    assert_eq!(e & remote_irr, 0, "the guest saw the line stay up: {e:#x}");
    assert_ne!(r.u64(RTE_LOG + 8), 0, "the line never went down");
    // The host's view (KVM_GET_IRQCHIP): line down, nothing in flight.
    let chip = r.vm.shared().irqchip.as_ref().expect("in-kernel irqchip");
    assert_eq!(chip.asserted_lines().unwrap() & (1 << GSI), 0, "line up");
    assert_eq!(chip.redirection_entry(GSI).unwrap() & remote_irr, 0);
}

/// `cli; hlt` on vCPU 0 alone: it goes offline and, no vCPU being left,
/// the domain powers off (as Xen's hvm_hlt), rather than hanging.
fn hlt_with_if_clear(irqchip: Irqchip) {
    let mut g = Guest::new64();
    g.hypercall_page();
    g.store64(MARK, 1);
    g.a.cli().unwrap();
    g.a.hlt().unwrap();
    // Not reached: would crash the domain.
    g.shutdown(3);
    let r = run64_with(g.assemble(), 1, irqchip);
    assert_eq!(r.u64(MARK), 1);
    assert_eq!(
        r.reason,
        ExitReason::Shutdown(xen_abi::SHUTDOWN_POWEROFF),
        "{}",
        r.output
    );
}

#[test]
fn hlt_with_interrupts_disabled_powers_off_with_the_kernel_irqchip() {
    if !require_kvm() {
        return;
    }
    hlt_with_if_clear(Irqchip::Kernel);
}

#[test]
fn hlt_with_interrupts_disabled_powers_off_without_an_irqchip() {
    if !require_kvm() {
        return;
    }
    hlt_with_if_clear(Irqchip::None);
}

/// vCPU 0 registers vCPU 1's runstate area at [`RS1`] and waits until it
/// reads offline (vCPU 1 ran `cli; hlt`). Jumps to `vcpu1` on vCPU 1.
fn second_vcpu_goes_down(g: &mut Guest, vcpu1: CodeLabel) {
    g.hypercall_page();
    g.a.mov(eax, 0x4000_0004u32).unwrap();
    g.a.xor(ecx, ecx).unwrap();
    g.a.cpuid().unwrap();
    g.a.test(ebx, ebx).unwrap();
    g.a.jnz(vcpu1).unwrap();
    g.store64(ARGS + 0x20, RS1);
    g.hcall(24, &[5, 1, ARGS + 0x20]); // VCPUOP_register_runstate_memory_area(1)
    g.store_result(RES);
    let mut wait = g.a.create_label();
    g.a.set_label(&mut wait).unwrap();
    g.a.pause().unwrap();
    g.a.mov(rcx, RS1).unwrap();
    g.a.cmp(dword_ptr(rcx), xen_abi::RUNSTATE_OFFLINE as i32)
        .unwrap();
    g.a.jne(wait).unwrap();
}

#[test]
fn hlt_with_interrupts_disabled_downs_one_vcpu_and_the_last_powers_off() {
    if !require_kvm() {
        return;
    }
    let mut g = Guest::new64();
    let mut vcpu1 = g.a.create_label();
    second_vcpu_goes_down(&mut g, vcpu1);
    // vCPU 1 is offline and the domain still runs.
    g.store64(MARK, 1);
    g.a.cli().unwrap();
    g.a.hlt().unwrap();
    g.shutdown(3);
    g.a.set_label(&mut vcpu1).unwrap();
    g.a.cli().unwrap();
    g.a.hlt().unwrap();
    g.shutdown(3);
    let r = run64(g.assemble(), 2);
    assert_eq!(
        r.reason,
        ExitReason::Shutdown(xen_abi::SHUTDOWN_POWEROFF),
        "{}",
        r.output
    );
    assert_eq!(r.i64(RES), 0);
    assert_eq!(r.u64(MARK), 1);
    assert_eq!(r.u32(RS1), xen_abi::RUNSTATE_OFFLINE);
}

#[test]
fn init_sipi_through_the_lapic_starts_an_offline_vcpu() {
    if !require_kvm() {
        return;
    }
    init_sipi_starts_offline_vcpu(0);
}

/// The INIT/SIPI comes while vCPU 1's thread is still on its way offline
/// (the test hook holds it there 300 ms after the guest can see it offline):
/// the SIPI is not lost. Before the fix the thread parked the vCPU in KVM
/// only after that point, which threw such a SIPI away and the guest waited
/// for vCPU 1 forever (half the runs of the test above, on this host).
#[test]
fn an_init_sipi_sent_as_soon_as_the_vcpu_is_offline_is_not_lost() {
    if !require_kvm() {
        return;
    }
    init_sipi_starts_offline_vcpu(300);
}

/// vCPU 1 goes offline (HLT with interrupts off); vCPU 0 sees it offline in
/// its runstate, then starts it with INIT/SIPI through the LAPIC.
/// `delay_ms`: [`xen_vmm::VmShared::debug_offline_delay_ms`].
fn init_sipi_starts_offline_vcpu(delay_ms: u64) {
    const TRAMPOLINE: u64 = 0x8000;
    const SEEN: u64 = 0x8800;
    let mut g = Guest::new64();
    let mut vcpu1 = g.a.create_label();
    second_vcpu_goes_down(&mut g, vcpu1);
    // Real-mode start-up code: mov al, 0x55; mov [0x8800], al; cli; hlt.
    let code: [u8; 7] = [0xb0, 0x55, 0xa2, 0x00, 0x88, 0xfa, 0xf4];
    for (i, b) in code.iter().enumerate() {
        g.a.mov(rcx, TRAMPOLINE + i as u64).unwrap();
        g.a.mov(byte_ptr(rcx), u32::from(*b)).unwrap();
    }
    // INIT, then SIPI with vector 0x08 (start at 0x8000), to APIC ID 1.
    g.a.mov(rcx, LAPIC_ICR_HI).unwrap();
    g.a.mov(dword_ptr(rcx), 1u32 << 24).unwrap();
    g.a.mov(rcx, LAPIC_ICR_LO).unwrap();
    g.a.mov(dword_ptr(rcx), 0x4500u32).unwrap();
    g.a.mov(rcx, LAPIC_ICR_HI).unwrap();
    g.a.mov(dword_ptr(rcx), 1u32 << 24).unwrap();
    g.a.mov(rcx, LAPIC_ICR_LO).unwrap();
    g.a.mov(dword_ptr(rcx), 0x4600u32 | (TRAMPOLINE >> 12) as u32)
        .unwrap();
    let mut wait = g.a.create_label();
    g.a.set_label(&mut wait).unwrap();
    g.a.pause().unwrap();
    g.a.mov(rcx, SEEN).unwrap();
    g.a.cmp(byte_ptr(rcx), 0x55).unwrap();
    g.a.jne(wait).unwrap();
    g.store64(MARK, 1);
    g.a.cli().unwrap();
    g.a.hlt().unwrap();
    g.shutdown(3);
    g.a.set_label(&mut vcpu1).unwrap();
    g.a.cli().unwrap();
    g.a.hlt().unwrap();
    g.shutdown(3);
    let r = run_vm_hooked(
        xen_vmm::Kernel::Raw64(g.assemble()),
        2,
        std::time::Duration::from_secs(30),
        |_| {},
        |vm| {
            vm.shared()
                .debug_offline_delay_ms
                .store(delay_ms, std::sync::atomic::Ordering::Relaxed);
        },
    );
    assert_eq!(r.i64(RES), 0);
    match r.reason {
        // A host that runs real-mode code: vCPU 1 ran the start-up code
        // (and halted with IF clear again), then vCPU 0: powered off.
        ExitReason::Shutdown(reason) => {
            assert_eq!(reason, xen_abi::SHUTDOWN_POWEROFF, "{}", r.output);
            assert_eq!(r.u64(SEEN) & 0xff, 0x55);
            assert_eq!(r.u64(MARK), 1);
        }
        // This host (KVM-PVM) cannot run real mode: vCPU 1 fails right at
        // the SIPI vector, which shows that INIT/SIPI reached it.
        ExitReason::VmmError => {
            let f = r.vm.shared().fault().expect("the vCPU failure");
            eprintln!("host cannot run the real-mode start-up code: {f}");
            assert_eq!(f.vcpu, 1, "{f}");
            let s = f.sregs.expect("vCPU 1's registers");
            assert_eq!(s.cs.base, TRAMPOLINE, "{f}");
            assert_eq!(s.cr0 & 1, 0, "not in real mode: {f}");
            assert_eq!(r.u64(MARK), 0);
        }
        other => panic!("unexpected end {other:?}: {}", r.output),
    }
}

/// Ends the VM when dropped (a failed wait must not leave it running).
struct EndOnDrop<'a>(&'a xen_vmm::Vm);

impl Drop for EndOnDrop<'_> {
    fn drop(&mut self) {
        self.0.shared().finish(ExitReason::Crash);
    }
}

/// Waits (hang guard: 30 s) until `f` holds.
fn wait_until(what: &str, f: impl Fn() -> bool) {
    let start = std::time::Instant::now();
    while !f() {
        assert!(
            start.elapsed() < std::time::Duration::from_secs(30),
            "timed out waiting for: {what}"
        );
        std::thread::sleep(std::time::Duration::from_millis(2));
    }
}

fn read_u64(vm: &xen_vmm::Vm, gpa: u64) -> u64 {
    use vm_memory::{Bytes, GuestAddress};
    let mut root = vm_lock::Root::new().unwrap();
    let (m, _t) = vm.shared().mem.read(root.token());
    m.read_obj(GuestAddress(gpa)).unwrap()
}

#[test]
fn gsi_callback_and_lapic_state_survive_snapshot_and_restore() {
    if !require_kvm() {
        return;
    }
    const GSI: u32 = 10;
    const VEC: u32 = 0x30;
    const READY: u64 = DATA + 0x30;
    let rte = 0x10 + 2 * GSI;
    // VIRQ_TIMER every ms through the GSI callback; the guest idles in
    // `sti; hlt` (in KVM) and counts its upcalls.
    let mut g = Guest::new64();
    let mut handler = g.a.create_label();
    let mut start = g.a.create_label();
    g.a.jmp(start).unwrap();
    g.a.set_label(&mut handler).unwrap();
    g.a.push(rax).unwrap();
    g.a.push(rcx).unwrap();
    clear_pending(&mut g.a);
    g.a.mov(rcx, LAPIC_EOI).unwrap();
    g.a.mov(dword_ptr(rcx), 0u32).unwrap();
    g.a.mov(rcx, COUNT).unwrap();
    g.a.lock().inc(qword_ptr(rcx)).unwrap();
    g.a.pop(rcx).unwrap();
    g.a.pop(rax).unwrap();
    g.a.iretq().unwrap();
    g.a.set_label(&mut start).unwrap();
    g.a.mov(al, 0xffu32).unwrap();
    g.a.out(0x21, al).unwrap();
    g.a.out(0xa1, al).unwrap();
    g.hypercall_page();
    load_idt(&mut g.a, u64::from(VEC), handler);
    g.map_shared_info(SHINFO);
    ioapic_write(&mut g.a, rte + 1, 0);
    ioapic_write(&mut g.a, rte, VEC | (1 << 15));
    g.store32(ARGS + 0x300, 0x7ff0);
    g.store32(ARGS + 0x304, 0);
    g.store64(ARGS + 0x308, u64::from(GSI));
    g.hcall(34, &[0, ARGS + 0x300]); // HVM_PARAM_CALLBACK_IRQ = GSI
    g.store32(ARGS, 0);
    g.store32(ARGS + 4, 0);
    g.hcall(32, &[1, ARGS]); // EVTCHNOP_bind_virq(VIRQ_TIMER, 0)
    g.store64(ARGS + 0x100, 1_000_000);
    g.hcall(24, &[6, 0, ARGS + 0x100]); // VCPUOP_set_periodic_timer, 1 ms
    g.store64(READY, 1);
    let mut idle = g.a.create_label();
    g.a.set_label(&mut idle).unwrap();
    g.a.sti().unwrap();
    g.a.hlt().unwrap();
    g.a.jmp(idle).unwrap();

    let path = std::env::temp_dir().join(format!("xen-vmm-irqchip-{}.snap", std::process::id()));
    let mut cfg = xen_vmm::VmConfig::new(xen_vmm::Kernel::Raw64(g.assemble()));
    cfg.output = Box::new(std::io::sink());
    let vm = xen_vmm::Vm::new(cfg).unwrap();
    let saved = std::thread::scope(|s| {
        s.spawn(|| vm.run().unwrap());
        let _end = EndOnDrop(&vm);
        wait_until("guest set up", || read_u64(&vm, READY) == 1);
        wait_until("timer upcalls", || read_u64(&vm, COUNT) >= 3);
        let q = vm.quiesce(vm_lock::Root::new().unwrap().token()).unwrap();
        let saved = read_u64(&vm, COUNT);
        q.snapshot(vm_lock::Root::new().unwrap().token(), &path)
            .unwrap();
        q.resume();
        saved
    });
    // The snapshot holds the PIC and IOAPIC, and the LAPIC of the vCPU.
    let st = xen_vmm::snapshot::open_file(&path).unwrap().state().clone();
    assert_eq!(st.vm.irqchips.len(), 3);
    assert!(st.vcpus[0].lapic.is_some());
    let vm2 = xen_vmm::Vm::restore(&path, Box::new(std::io::sink())).unwrap();
    let _ = std::fs::remove_file(&path);
    assert!(
        vm2.shared().irqchip.is_some(),
        "restored without the irqchip"
    );
    std::thread::scope(|s| {
        s.spawn(|| vm2.run().unwrap());
        let _end = EndOnDrop(&vm2);
        wait_until("timer upcalls after restore", || {
            read_u64(&vm2, COUNT) >= saved + 5
        });
    });
}
