// SPDX-License-Identifier: Apache-2.0 OR BSD-3-Clause
//! Hypercall families from 64- and 32-bit guests on real KVM.

mod common;

use common::*;
use iced_x86::code_asm::*;
use xen_vmm::ExitReason;

const EFAULT: i64 = -14;
const EINVAL: i64 = -22;
const ENOSYS: i64 = -38;

fn version_and_console(mut g: Guest) -> Run {
    g.hypercall_page();
    g.hcall(17, &[0, 0]); // XENVER_version
    g.store_result(DATA);
    g.hcall(17, &[1, DATA + 0x100]); // XENVER_extraversion
    g.store_result(DATA + 8);
    g.hcall(17, &[1, 0xdead_0000]); // bad buffer
    g.store_result(DATA + 16);
    g.hcall(99, &[0, 0]); // no such hypercall
    g.store_result(DATA + 24);
    let msg = b"hello from the guest\n";
    for (i, chunk) in msg.chunks(4).enumerate() {
        let mut w = [0u8; 4];
        w[..chunk.len()].copy_from_slice(chunk);
        g.store32(DATA + 0x200 + 4 * i as u64, u32::from_le_bytes(w));
    }
    g.hcall(18, &[0, msg.len() as u64, DATA + 0x200]); // CONSOLEIO_write
    g.store_result(DATA + 32);
    g.hcall(18, &[0, 1 << 30, DATA + 0x200]); // huge length
    g.store_result(DATA + 40);
    g.hcall(7, &[0, 0]); // XENVER_pagesize (hypercall 17 sub 7) via wrong nr 7 -> ENOSYS
    g.store_result(DATA + 48);
    g.shutdown(0);
    let img = g.assemble();
    if g.bits == 64 {
        run64(img, 1)
    } else {
        run32(img, 1)
    }
}

fn check_version_and_console(r: &Run, wide: bool) {
    let v = |a| {
        if wide {
            r.i64(a)
        } else {
            r.u32(a) as i32 as i64
        }
    };
    assert_eq!(r.reason, ExitReason::Shutdown(0));
    assert_eq!(v(DATA), (4 << 16) | 17);
    assert_eq!(v(DATA + 8), 0);
    assert_eq!(&r.u64(DATA + 0x100).to_le_bytes()[..6], b".0-kvm");
    assert_eq!(v(DATA + 16), EFAULT);
    assert_eq!(v(DATA + 24), ENOSYS);
    assert_eq!(v(DATA + 32), 0);
    assert_eq!(v(DATA + 40), EINVAL);
    assert_eq!(v(DATA + 48), ENOSYS);
    assert!(r.output.contains("hello from the guest"), "{:?}", r.output);
}

#[test]
fn xen_version_console_io_64() {
    if !require_kvm() {
        return;
    }
    let r = version_and_console(Guest::new64());
    check_version_and_console(&r, true);
}

#[test]
fn xen_version_console_io_32() {
    if !require_kvm() {
        return;
    }
    let r = version_and_console(Guest::new32());
    check_version_and_console(&r, false);
}

#[test]
fn shutdown_reasons_give_exit_status() {
    if !require_kvm() {
        return;
    }
    for (reason, status) in [(0u32, 0), (3, 3), (1, 1)] {
        let mut g = Guest::new64();
        g.hypercall_page();
        g.shutdown(reason);
        let r = run64(g.assemble(), 1);
        assert_eq!(r.reason, ExitReason::Shutdown(reason));
        assert_eq!(r.reason.exit_status(), status);
    }
    // As Xen: a reason above SHUTDOWN_MAX stops the VM too, as a u8 (1000 is 232).
    let mut g = Guest::new64();
    g.hypercall_page();
    g.shutdown(1000);
    g.shutdown(0);
    let r = run64(g.assemble(), 1);
    assert_eq!(r.reason, ExitReason::Shutdown(232));
    // Below the binary's own statuses (64, 70, 71).
    assert_eq!(r.reason.exit_status(), 63);
}

#[test]
fn triple_fault_is_a_vmm_error() {
    if !require_kvm() {
        return;
    }
    // A guest that triple-faults (jump to a non-canonical address with no IDT).
    let mut g = Guest::new64();
    g.a.mov(rax, 0x8000_0000_0000_0000u64).unwrap();
    g.a.jmp(rax).unwrap();
    let r = run64(g.assemble(), 1);
    assert_eq!(r.reason, ExitReason::VmmError);
    assert_eq!(r.reason.exit_status(), 71);
    let f = r.vm.shared().fault().expect("fault recorded");
    assert_eq!(f.reason, "triple fault (KVM_EXIT_SHUTDOWN)");
}

#[test]
fn event_delivery_uses_the_32_bit_layout_for_32_bit_guests() {
    if !require_kvm() {
        return;
    }
    let mut g = Guest::new32();
    g.hypercall_page();
    g.map_shared_info(SHINFO);
    g.store_result(DATA);
    // IPI to ourselves, then send on it (no upcall configured: bits only).
    g.store32(ARGS, 0);
    g.hcall(32, &[7, ARGS]);
    g.store_result(DATA + 4);
    g.a.mov(eax, dword_ptr((ARGS + 4) as u32)).unwrap();
    g.a.mov(dword_ptr((DATA + 8) as u32), eax).unwrap();
    g.a.mov(dword_ptr((ARGS + 0x40) as u32), eax).unwrap();
    g.hcall(32, &[4, ARGS + 0x40]);
    g.store_result(DATA + 12);
    // SCHEDOP_poll on the now pending port returns at once.
    g.store32(ARGS + 0x80, ARGS as u32 + 0x40); // ports pointer (32-bit)
    g.store32(ARGS + 0x84, 1); // nr_ports
    g.store32(ARGS + 0x88, 0); // timeout (u64)
    g.store32(ARGS + 0x8c, 0);
    g.hcall(29, &[3, ARGS + 0x80]);
    g.store_result(DATA + 16);
    g.shutdown(0);
    let r = run32(g.assemble(), 1);
    assert_eq!(r.reason, ExitReason::Shutdown(0));
    for off in [0, 4, 12, 16] {
        assert_eq!(r.u32(DATA + off), 0, "result at +{off}");
    }
    let port = r.u32(DATA + 8);
    assert!(port > 0 && port < 32);
    // 32-bit shared_info: evtchn_pending is u32[32] at 2048, the selector a u32
    // at offset 4 of vcpu_info.
    assert_eq!(r.u32(SHINFO + 2048), 1 << port);
    assert_eq!(r.u32(SHINFO + 4), 1);
    assert_eq!(r.u32(SHINFO) & 0xff, 1, "evtchn_upcall_pending");
    assert_eq!(r.u32(SHINFO + 2048 + 128), 0, "mask array follows at 2176");
}

#[test]
fn serial_port_output_reaches_the_console() {
    if !require_kvm() {
        return;
    }
    let mut g = Guest::new64();
    g.a.mov(dx, 0x3f8u32).unwrap();
    for &b in b"uart ok\n" {
        g.a.mov(al, b as u32).unwrap();
        g.a.out(dx, al).unwrap();
    }
    // Line status register: transmitter empty.
    g.a.mov(dx, 0x3fdu32).unwrap();
    g.a.in_(al, dx).unwrap();
    g.a.movzx(eax, al).unwrap();
    g.a.mov(rcx, DATA).unwrap();
    g.a.mov(qword_ptr(rcx), rax).unwrap();
    g.hypercall_page();
    g.shutdown(0);
    let r = run64(g.assemble(), 1);
    assert_eq!(r.reason, ExitReason::Shutdown(0));
    assert!(r.output.contains("uart ok"), "{:?}", r.output);
    assert_ne!(r.u64(DATA) & 0x20, 0, "THR empty");
}

#[test]
fn set_timer_op_fires_virq_timer_and_wakes_block() {
    if !require_kvm() {
        return;
    }
    let mut g = Guest::new64();
    g.hypercall_page();
    g.map_shared_info(SHINFO);
    g.store32(ARGS, 0); // VIRQ_TIMER
    g.store32(ARGS + 4, 0); // vCPU 0
    g.hcall(32, &[1, ARGS]);
    g.store_result(DATA);
    g.hcall(15, &[1]); // set_timer_op(1 ns): already past, fires at once
    g.store_result(DATA + 8);
    g.hcall(29, &[1, 0]); // SCHEDOP_block until it arrives
    g.store_result(DATA + 16);
    g.shutdown(0);
    let r = run64(g.assemble(), 1);
    assert_eq!(r.reason, ExitReason::Shutdown(0));
    assert_eq!(r.i64(DATA), 0);
    assert_eq!(r.i64(DATA + 8), 0);
    assert_eq!(r.i64(DATA + 16), 0);
    let port = r.u32(ARGS + 8);
    assert_ne!(r.u64(SHINFO + 2048) & (1 << port), 0, "VIRQ_TIMER pending");
    assert_eq!(r.u32(SHINFO) & 0xff, 1, "upcall pending");
}

#[test]
fn set_timer_op_with_a_wrapped_deadline_fires_soon() {
    if !require_kvm() {
        return;
    }
    // Deadlines that look negative (s64) or lie more than 2^50 ns ahead come
    // from Linux's wrapped jiffies arithmetic: Xen fires them after 100 ms.
    let mut g = Guest::new64();
    g.hypercall_page();
    g.map_shared_info(SHINFO);
    g.store32(ARGS, 0); // VIRQ_TIMER
    g.store32(ARGS + 4, 0); // vCPU 0
    g.hcall(32, &[1, ARGS]);
    g.store_result(DATA);
    for i in 0..3u64 {
        // Clear upcall_pending, the selector and the pending bits.
        g.a.mov(rcx, SHINFO).unwrap();
        g.a.mov(byte_ptr(rcx), 0).unwrap();
        g.a.xor(eax, eax).unwrap();
        g.a.xchg(qword_ptr(rcx + 8), rax).unwrap();
        g.a.xor(eax, eax).unwrap();
        g.a.xchg(qword_ptr(rcx + 2048), rax).unwrap();
        match i {
            0 => g.a.mov(rdi, u64::MAX).unwrap(),                 // -1 ns
            1 => g.a.mov(rdi, 0x8000_0000_0000_0000u64).unwrap(), // most negative
            _ => {
                // Xen system time now + 2^51 ns (about 26 days).
                g.a.mov(rcx, SHINFO).unwrap();
                g.a.mov(rdi, qword_ptr(rcx + 48)).unwrap();
                g.a.mov(rax, 1u64 << 51).unwrap();
                g.a.add(rdi, rax).unwrap();
            }
        }
        g.call(15); // set_timer_op
        g.store_result(DATA + 8 + 16 * i);
        g.hcall(29, &[1, 0]); // SCHEDOP_block until the timer fires
        g.store_result(DATA + 16 + 16 * i);
        g.a.mov(rcx, SHINFO).unwrap();
        g.a.movzx(eax, byte_ptr(rcx)).unwrap();
        g.a.mov(rcx, DATA + 0x100 + 8 * i).unwrap();
        g.a.mov(qword_ptr(rcx), rax).unwrap();
    }
    g.shutdown(0);
    // A generous hang guard: without the workaround the timer never fires.
    let r = run_vm(
        xen_vmm::Kernel::Raw64(g.assemble()),
        1,
        std::time::Duration::from_secs(20),
    );
    assert_eq!(r.reason, ExitReason::Shutdown(0), "{}", r.output);
    for off in 0..7u64 {
        assert_eq!(r.i64(DATA + 8 * off), 0, "result {off}");
    }
    let port = r.u32(ARGS + 8);
    for i in 0..3 {
        assert_eq!(r.u64(DATA + 0x100 + 8 * i), 1, "deadline {i}: upcall");
    }
    assert_ne!(r.u64(SHINFO + 2048) & (1 << port), 0, "VIRQ_TIMER pending");
}

#[test]
fn vcpu_info_cannot_be_registered_twice() {
    if !require_kvm() {
        return;
    }
    const VI_PAGE: u64 = DATA + 0x1000;
    let mut g = Guest::new64();
    g.hypercall_page();
    g.map_shared_info(SHINFO);
    g.store_result(DATA);
    for (i, offset) in [0x100u32, 0x400, 0x100].into_iter().enumerate() {
        g.store64(ARGS, VI_PAGE >> 12);
        g.store32(ARGS + 8, offset);
        g.store32(ARGS + 12, 0);
        g.hcall(24, &[10, 0, ARGS]); // VCPUOP_register_vcpu_info
        g.store_result(DATA + 8 + 8 * i as u64);
    }
    // Registration marks everything pending at the new place: clear it.
    g.a.mov(rcx, VI_PAGE + 0x100).unwrap();
    g.a.mov(byte_ptr(rcx), 0).unwrap();
    g.a.xor(eax, eax).unwrap();
    g.a.xchg(qword_ptr(rcx + 8), rax).unwrap();
    // An IPI to ourselves reaches the vcpu_info registered first.
    g.store32(ARGS + 0x40, 0);
    g.hcall(32, &[7, ARGS + 0x40]); // EVTCHNOP_bind_ipi
    g.store_result(DATA + 0x20);
    g.a.mov(rcx, ARGS + 0x44).unwrap();
    g.a.mov(eax, dword_ptr(rcx)).unwrap();
    g.a.mov(rcx, ARGS + 0x80).unwrap();
    g.a.mov(dword_ptr(rcx), eax).unwrap();
    g.hcall(32, &[4, ARGS + 0x80]); // EVTCHNOP_send
    g.store_result(DATA + 0x28);
    g.shutdown(0);
    let r = run64(g.assemble(), 1);
    assert_eq!(r.reason, ExitReason::Shutdown(0), "{}", r.output);
    assert_eq!(r.i64(DATA), 0, "map shared_info");
    assert_eq!(r.i64(DATA + 8), 0, "first registration");
    assert_eq!(r.i64(DATA + 16), EINVAL, "second registration elsewhere");
    assert_eq!(
        r.i64(DATA + 24),
        EINVAL,
        "second registration at the same place"
    );
    assert_eq!(r.i64(DATA + 0x20), 0, "bind_ipi");
    assert_eq!(r.i64(DATA + 0x28), 0, "send");
    assert_eq!(
        r.u64(VI_PAGE + 0x100) & 0xff,
        1,
        "upcall at the first vcpu_info"
    );
    assert_eq!(r.u64(VI_PAGE + 0x400), 0, "nothing at the refused one");
}

/// A multicall of two `xen_version`s, an event-channel op, a nested multicall and an
/// unknown hypercall: each entry gets its own result in its `result` field (64-byte
/// entries for a 64-bit guest, 32-byte ones for a 32-bit guest), the event-channel op
/// really binds a port, and the multicall itself returns 0.
fn multicall_guest(mut g: Guest) -> Run {
    const LIST: u64 = ARGS + 0x400;
    let wide = g.bits == 64;
    let (size, result, args) = if wide { (64, 8, 16) } else { (32, 4, 8) };
    let entries: [(u64, &[u64]); 5] = [
        (17, &[0]),               // XENVER_version
        (17, &[1, DATA + 0x100]), // XENVER_extraversion
        (32, &[7, ARGS]),         // EVTCHNOP_bind_ipi
        (13, &[LIST, 1]),         // nested multicall
        (99, &[]),                // no such hypercall
    ];
    g.hypercall_page();
    g.store32(ARGS, 0); // bind_ipi: vCPU 0
    g.store32(ARGS + 4, 0);
    for (i, (op, a)) in entries.iter().enumerate() {
        let at = LIST + size * i as u64;
        if wide {
            g.store64(at, *op);
            g.store64(at + result, 0x5555);
            for (j, v) in a.iter().enumerate() {
                g.store64(at + args + 8 * j as u64, *v);
            }
        } else {
            g.store32(at, *op as u32);
            g.store32(at + result, 0x5555);
            for (j, v) in a.iter().enumerate() {
                g.store32(at + args + 4 * j as u64, *v as u32);
            }
        }
    }
    g.hcall(13, &[LIST, entries.len() as u64]);
    g.store_result(DATA);
    g.shutdown(0);
    let img = g.assemble();
    if wide {
        run64(img, 1)
    } else {
        run32(img, 1)
    }
}

fn check_multicall(r: &Run, wide: bool) {
    const LIST: u64 = ARGS + 0x400;
    assert_eq!(r.reason, ExitReason::Shutdown(0), "{}", r.output);
    let result = |i: u64| {
        if wide {
            r.i64(LIST + 64 * i + 8)
        } else {
            r.u32(LIST + 32 * i + 4) as i32 as i64
        }
    };
    if wide {
        assert_eq!(r.i64(DATA), 0, "multicall");
    } else {
        assert_eq!(r.u32(DATA), 0, "multicall");
    }
    assert_eq!(result(0), (4 << 16) | 17, "xen_version");
    assert_eq!(result(1), 0, "extraversion");
    assert_eq!(&r.u64(DATA + 0x100).to_le_bytes()[..6], b".0-kvm");
    assert_eq!(result(2), 0, "bind_ipi");
    let port = r.u32(ARGS + 4);
    assert!(port > 0, "bind_ipi wrote its port back");
    assert_eq!(result(3), EINVAL, "nested multicall");
    assert_eq!(result(4), ENOSYS, "unknown hypercall");
}

#[test]
fn multicall_64() {
    if !require_kvm() {
        return;
    }
    check_multicall(&multicall_guest(Guest::new64()), true);
}

#[test]
fn multicall_32() {
    if !require_kvm() {
        return;
    }
    check_multicall(&multicall_guest(Guest::new32()), false);
}
