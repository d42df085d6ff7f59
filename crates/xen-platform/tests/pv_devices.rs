// SPDX-License-Identifier: Apache-2.0 OR BSD-3-Clause
//! The PV console and xenstore as a guest drives them: bytes in the console
//! ring page (`HVM_PARAM_CONSOLE_PFN`) plus a send on its port reach the
//! output sink given to `XenPlatform::new`; host input reaches the `in`
//! ring (or `CONSOLEIO_read`); a xenstore request in the store ring gets its
//! reply; `CONSOLEIO_write` is Xen's console, `(d1) `-prefixed.

mod common;

use std::mem::{offset_of, size_of};

use common::*;
use vm_memory::ByteValued;
use xen_abi::*;
use xen_platform::console::{IN_CONS, IN_OFF, IN_PROD, OUT_CONS, OUT_OFF, OUT_PROD};
use xen_platform::UpcallKind;

const VEC: u8 = 0xf3;
/// Default config: the console ring is the last page of RAM.
const CONSOLE: u64 = MEM - 0x1000;
/// And the xenstore ring the one before.
const STORE: u64 = MEM - 0x2000;

const REQ: u64 = offset_of!(XenstoreDomainInterface, req) as u64;
const RSP: u64 = offset_of!(XenstoreDomainInterface, rsp) as u64;
const REQ_CONS: u64 = offset_of!(XenstoreDomainInterface, req_cons) as u64;
const REQ_PROD: u64 = offset_of!(XenstoreDomainInterface, req_prod) as u64;
const RSP_PROD: u64 = offset_of!(XenstoreDomainInterface, rsp_prod) as u64;
const HDR: usize = size_of::<XsdSockmsg>();

fn setup() -> (Vm, u32, u32) {
    let mut vm = Vm::new(1);
    assert_eq!(vm.get_param(HVM_PARAM_CONSOLE_PFN), CONSOLE >> 12);
    assert_eq!(vm.get_param(HVM_PARAM_STORE_PFN), STORE >> 12);
    let console = vm.get_param(HVM_PARAM_CONSOLE_EVTCHN) as u32;
    let store = vm.get_param(HVM_PARAM_STORE_EVTCHN) as u32;
    vm.map_shared_info(SHINFO_GFN);
    vm.callback_vector(VEC);
    let _ = vm.events();
    (vm, console, store)
}

/// The guest puts `bytes` on the console's `out` ring at index `prod`.
fn console_write(vm: &mut Vm, prod: u32, bytes: &[u8]) -> u32 {
    for (i, b) in bytes.iter().enumerate() {
        let idx = prod.wrapping_add(i as u32) % 2048;
        vm.write(CONSOLE + OUT_OFF + u64::from(idx), *b);
    }
    let end = prod.wrapping_add(bytes.len() as u32);
    vm.write(CONSOLE + OUT_PROD, end);
    end
}

#[test]
fn console_output_reaches_the_sink() {
    let (mut vm, console, _) = setup();
    console_write(&mut vm, 0, b"hello, world\n");
    // Nothing happens until the guest notifies.
    assert_eq!(vm.output(), b"");
    assert_eq!(vm.send(0, console), 0);
    assert_eq!(vm.output(), b"hello, world\n");
    assert_eq!(vm.read::<u32>(CONSOLE + OUT_CONS), 13);
    // Across the end of the ring (indices are free-running).
    vm.write(CONSOLE + OUT_CONS, 2046u32);
    console_write(&mut vm, 2046, b"wrap");
    assert_eq!(vm.send(0, console), 0);
    assert_eq!(vm.output(), b"wrap");
    assert_eq!(vm.read::<u32>(CONSOLE + OUT_CONS), 2050);
    // Indices wrapping around u32.
    vm.write(CONSOLE + OUT_CONS, u32::MAX - 1);
    console_write(&mut vm, u32::MAX - 1, b"xyz");
    assert_eq!(vm.send(0, console), 0);
    assert_eq!(vm.output(), b"xyz");
    assert_eq!(vm.read::<u32>(CONSOLE + OUT_CONS), 1);
}

#[test]
fn console_output_with_bad_indices_is_not_taken() {
    let (mut vm, console, _) = setup();
    // out_prod more than a ring ahead of out_cons: a broken guest.
    vm.write(CONSOLE + OUT_PROD, 5000u32);
    assert_eq!(vm.send(0, console), 0);
    assert_eq!(vm.output(), b"");
    // The device keeps working once the guest behaves.
    vm.write(CONSOLE + OUT_CONS, 0u32);
    console_write(&mut vm, 0, b"ok");
    assert_eq!(vm.send(0, console), 0);
    assert_eq!(vm.output(), b"ok");
}

#[test]
fn console_input_reaches_the_ring() {
    let (mut vm, console, _) = setup();
    vm.platform.console_input(vm.root.token(), b"abc");
    assert_eq!(vm.read::<u32>(CONSOLE + IN_PROD), 3);
    assert_eq!(vm.read_bytes(CONSOLE + IN_OFF, 3), b"abc");
    // The guest is notified on the console port.
    assert!(vm.port_pending(console));
    assert_eq!(vm.upcalls(), vec![(0, UpcallKind::Vector(VEC))]);
    // The ring holds 1024 bytes: the rest waits until the guest consumes.
    let big = vec![b'x'; 1100];
    vm.platform.console_input(vm.root.token(), &big);
    assert_eq!(vm.read::<u32>(CONSOLE + IN_PROD), 1024);
    vm.write(CONSOLE + IN_CONS, 1024u32);
    assert_eq!(vm.send(0, console), 0);
    assert_eq!(vm.read::<u32>(CONSOLE + IN_PROD), 1103);
}

#[test]
fn console_io_read_takes_input_once_the_guest_uses_it() {
    let (mut vm, console, _) = setup();
    let virq = vm.bind_virq(VIRQ_CONSOLE, 0);
    let read = u64::from(CONSOLEIO_READ);
    assert_eq!(vm.hc(0, HYPERVISOR_CONSOLE_IO, &[read, 16, BUF]), 0);
    // From now on input stays queued for CONSOLEIO_read, with VIRQ_CONSOLE.
    vm.platform.console_input(vm.root.token(), b"xy");
    assert_eq!(vm.read::<u32>(CONSOLE + IN_PROD), 0, "not in the ring");
    assert!(vm.port_pending(virq));
    assert_eq!(vm.hc(0, HYPERVISOR_CONSOLE_IO, &[read, 16, BUF]), 2);
    assert_eq!(vm.read_bytes(BUF, 2), b"xy");
    assert_eq!(vm.hc(0, HYPERVISOR_CONSOLE_IO, &[read, 16, BUF]), 0);
    // A send on the console port switches back to the ring.
    assert_eq!(vm.send(0, console), 0);
    vm.platform.console_input(vm.root.token(), b"z");
    assert_eq!(vm.read::<u32>(CONSOLE + IN_PROD), 1);
    assert_eq!(vm.hc(0, HYPERVISOR_CONSOLE_IO, &[read, 16, BUF]), 0);
}

#[test]
fn console_io_write_is_xens_console() {
    let (mut vm, _, _) = setup();
    vm.write_bytes(BUF, b"hi\nyo");
    let write = u64::from(CONSOLEIO_WRITE);
    assert_eq!(vm.hc(0, HYPERVISOR_CONSOLE_IO, &[write, 5, BUF]), 0);
    assert_eq!(vm.output(), b"(d1) hi\n");
    vm.platform.flush_console(vm.root.token());
    assert_eq!(vm.output(), b"(d1) yo\n");
    // A buffer outside RAM: -EFAULT, nothing written.
    assert_eq!(
        vm.hc(0, HYPERVISOR_CONSOLE_IO, &[write, 16, MEM - 8]),
        err(errno::EFAULT)
    );
    vm.platform.flush_console(vm.root.token());
    assert_eq!(vm.output(), b"");
}

/// Puts one xenstore request in the ring at `prod`; returns the new `req_prod`.
fn xs_request(vm: &mut Vm, prod: u32, kind: u32, req_id: u32, payload: &[u8]) -> u32 {
    let hdr = XsdSockmsg {
        kind,
        req_id,
        tx_id: 0,
        len: payload.len() as u32,
    };
    let mut msg = hdr.as_slice().to_vec();
    msg.extend_from_slice(payload);
    for (i, b) in msg.iter().enumerate() {
        let idx = (prod as usize + i) % XENSTORE_RING_SIZE;
        vm.write(STORE + REQ + idx as u64, *b);
    }
    let end = prod + msg.len() as u32;
    vm.write(STORE + REQ_PROD, end);
    end
}

/// Reads one reply at `cons`: (header, payload, new cons).
fn xs_reply(vm: &mut Vm, cons: u32) -> (XsdSockmsg, Vec<u8>, u32) {
    let get = |vm: &mut Vm, at: u32, n: usize| -> Vec<u8> {
        (0..n)
            .map(|i| vm.read::<u8>(STORE + RSP + ((at as usize + i) % XENSTORE_RING_SIZE) as u64))
            .collect()
    };
    let h = get(vm, cons, HDR);
    let hdr = XsdSockmsg {
        kind: u32::from_le_bytes(h[0..4].try_into().unwrap()),
        req_id: u32::from_le_bytes(h[4..8].try_into().unwrap()),
        tx_id: u32::from_le_bytes(h[8..12].try_into().unwrap()),
        len: u32::from_le_bytes(h[12..16].try_into().unwrap()),
    };
    let payload = get(vm, cons + HDR as u32, hdr.len as usize);
    (hdr, payload, cons + HDR as u32 + hdr.len)
}

#[test]
fn xenstore_read_of_domid() {
    let (mut vm, _, store) = setup();
    let prod = xs_request(&mut vm, 0, XS_READ, 7, b"domid\0");
    assert_eq!(
        vm.read::<u32>(STORE + RSP_PROD),
        0,
        "no reply before the send"
    );
    assert_eq!(vm.send(0, store), 0);
    assert_eq!(vm.read::<u32>(STORE + REQ_CONS), prod);
    let (hdr, payload, cons) = xs_reply(&mut vm, 0);
    assert_eq!((hdr.kind, hdr.req_id, hdr.tx_id), (XS_READ, 7, 0));
    assert_eq!(payload, b"1");
    assert_eq!(vm.read::<u32>(STORE + RSP_PROD), cons);
    // The store port is raised for the reply.
    assert!(vm.port_pending(store));
    assert_eq!(vm.upcalls(), vec![(0, UpcallKind::Vector(VEC))]);

    // Write then read back a node; a missing node is an error reply.
    let prod = xs_request(&mut vm, prod, XS_WRITE, 8, b"data/x\0hello");
    let prod = xs_request(&mut vm, prod, XS_READ, 9, b"data/x\0");
    let prod = xs_request(&mut vm, prod, XS_READ, 10, b"data/nope\0");
    assert_eq!(vm.send(0, store), 0);
    assert_eq!(vm.read::<u32>(STORE + REQ_CONS), prod);
    let (hdr, _, cons) = xs_reply(&mut vm, cons);
    assert_eq!((hdr.kind, hdr.req_id), (XS_WRITE, 8));
    let (hdr, payload, cons) = xs_reply(&mut vm, cons);
    assert_eq!((hdr.kind, hdr.req_id), (XS_READ, 9));
    assert_eq!(payload, b"hello");
    let (hdr, payload, cons) = xs_reply(&mut vm, cons);
    assert_eq!((hdr.kind, hdr.req_id), (XS_ERROR, 10));
    assert_eq!(payload, b"ENOENT\0");
    assert_eq!(vm.read::<u32>(STORE + RSP_PROD), cons);
    // The host side sees the guest's write.
    let (be, _t) = vm.platform.backends().lock(vm.root.token());
    assert_eq!(be.store.read("data/x"), Some(&b"hello"[..]));
}

#[test]
fn xenstore_names_the_ports_and_ring() {
    let (mut vm, console, store) = setup();
    let mut prod = 0;
    let mut cons = 0;
    for (id, (path, want)) in [
        ("store/port\0", store.to_string()),
        ("console/port\0", console.to_string()),
        ("console/ring-ref\0", (CONSOLE >> 12).to_string()),
        ("name\0", "domu".to_string()),
    ]
    .into_iter()
    .enumerate()
    {
        prod = xs_request(&mut vm, prod, XS_READ, id as u32, path.as_bytes());
        assert_eq!(vm.send(0, store), 0);
        let (hdr, payload, c) = xs_reply(&mut vm, cons);
        cons = c;
        assert_eq!(hdr.kind, XS_READ, "{path}");
        assert_eq!(payload, want.as_bytes(), "{path}");
    }
}

#[test]
fn a_closed_backend_port_reused_by_the_guest_is_not_the_backend() {
    let (mut vm, console, _) = setup();
    vm.write(ARGS, EvtchnClose { port: console });
    let close = u64::from(EVTCHNOP_CLOSE);
    assert_eq!(vm.hc(0, HYPERVISOR_EVENT_CHANNEL_OP, &[close, ARGS]), 0);
    // The guest's next port gets the same number, as an IPI.
    let ipi = vm.bind_ipi(0);
    assert_eq!(ipi, console);
    let _ = vm.events();
    // Host input: the console channel is gone, the IPI is not raised (as in
    // Xen, where the backend's notifications go nowhere once the guest
    // closed its end).
    vm.platform.console_input(vm.root.token(), b"abc");
    assert!(!vm.port_pending(ipi), "input raised the guest's IPI");
    assert_eq!(vm.upcalls(), vec![]);
    // An IPI to itself does not run the console device.
    console_write(&mut vm, 0, b"not yet");
    assert_eq!(vm.send(0, ipi), 0);
    assert!(vm.port_pending(ipi));
    assert_eq!(vm.output(), b"", "the IPI ran the console");
    assert_eq!(vm.read::<u32>(CONSOLE + OUT_CONS), 0);
}

#[test]
fn evtchn_reset_rebinds_the_backend_channels() {
    let (mut vm, _, _) = setup();
    let ipi = vm.bind_ipi(0);
    vm.write(ARGS, EvtchnReset { dom: DOMID_SELF });
    let reset = u64::from(EVTCHNOP_RESET);
    assert_eq!(vm.hc(0, HYPERVISOR_EVENT_CHANNEL_OP, &[reset, ARGS]), 0);
    // Every guest port was closed, then the backends bound new channels and
    // published them where the guest reads them again.
    assert_eq!(vm.status(ipi).1.status, EVTCHNSTAT_CLOSED);
    let console2 = vm.get_param(HVM_PARAM_CONSOLE_EVTCHN) as u32;
    let store2 = vm.get_param(HVM_PARAM_STORE_EVTCHN) as u32;
    for p in [console2, store2] {
        let (_, st) = vm.status(p);
        assert_eq!(
            (st.status, st.u[0]),
            (EVTCHNSTAT_INTERDOMAIN, 0),
            "port {p}"
        );
    }
    // The console works through its new port.
    console_write(&mut vm, 0, b"again");
    assert_eq!(vm.send(0, console2), 0);
    assert_eq!(vm.output(), b"again");
    // So does xenstore, and its copies of the ports follow.
    let prod = xs_request(&mut vm, 0, XS_READ, 1, b"console/port\0");
    assert_eq!(vm.send(0, store2), 0);
    assert_eq!(vm.read::<u32>(STORE + REQ_CONS), prod);
    let (hdr, payload, _) = xs_reply(&mut vm, 0);
    assert_eq!(hdr.kind, XS_READ);
    assert_eq!(payload, console2.to_string().as_bytes());
}

/// With `serve_backends_inline` off the guest's send only signals the
/// console's host-port eventfd (the device does not run); the VMM's thread
/// sees it there and runs the backends; a yield signals `backend_wake`.
#[test]
fn backends_not_served_inline_wait_for_the_vmm() {
    let (mut vm, console, _) = setup();
    assert!(vm.platform.serve_backends_inline(), "the default");
    vm.platform.set_serve_backends_inline(false);
    let ports = vm.platform.backend_host_ports(vm.root.token());
    assert_eq!(ports.len(), 2, "console and store");
    // Cleared, as a serving thread does before it runs the backends.
    for p in &ports {
        let _ = p.eventfd().read();
    }
    assert!(
        vm.platform.backend_wake().read().is_ok(),
        "set when turned off"
    );
    console_write(&mut vm, 0, b"later\n");
    assert_eq!(vm.send(0, console), 0);
    assert_eq!(
        vm.read::<u32>(CONSOLE + OUT_CONS),
        0,
        "not served on the send"
    );
    assert_eq!(vm.output(), b"");
    let signalled: Vec<bool> = ports.iter().map(|p| p.eventfd().read().is_ok()).collect();
    assert_eq!(signalled.iter().filter(|s| **s).count(), 1, "{signalled:?}");
    vm.platform.run_backends(vm.root.token(), None);
    assert_eq!(vm.output(), b"later\n");
    assert_eq!(vm.read::<u32>(CONSOLE + OUT_CONS), 6);
    // SCHEDOP_yield: only the wake-up eventfd.
    assert_eq!(
        vm.hc(0, HYPERVISOR_SCHED_OP, &[u64::from(SCHEDOP_YIELD), 0]),
        0
    );
    assert!(
        vm.platform.backend_wake().read().is_ok(),
        "yield wakes the thread"
    );
    assert_eq!(vm.platform.host_yields(), 1, "and gives the CPU up for it");
    // A guest spinning on yield wakes it at most once per interval.
    let yield_now = |vm: &mut Vm| {
        assert_eq!(
            vm.hc(0, HYPERVISOR_SCHED_OP, &[u64::from(SCHEDOP_YIELD), 0]),
            0
        );
        vm.platform.backend_wake().read().is_ok()
    };
    vm.host.advance(1_000);
    assert!(
        !yield_now(&mut vm),
        "a yield right after: no second wake-up"
    );
    assert_eq!(vm.platform.host_yields(), 1, "nor a host yield (one vCPU)");
    vm.host.advance(xen_platform::YIELD_WAKE_INTERVAL_NS);
    // An interval later, the yield that next reads the clock wakes it again:
    // one of the vCPU's yields in YIELD_CLOCK_EVERY (two made so far).
    let every = xen_platform::YIELD_CLOCK_EVERY;
    let woke: Vec<u64> = (2..every + 2).filter(|_| yield_now(&mut vm)).collect();
    assert_eq!(
        woke,
        [every],
        "woken by the vCPU's yield number {every} only"
    );
    assert_eq!(vm.platform.host_yields(), 2);
    // Within the interval, no yield wakes it, whichever reads the clock.
    vm.host.advance(xen_platform::YIELD_WAKE_INTERVAL_NS - 1);
    assert!(
        !(0..every).any(|_| yield_now(&mut vm)),
        "no second wake-up within the interval"
    );
    assert_eq!(vm.platform.host_yields(), 2);
    assert_eq!(vm.platform.inline_backend_runs(), 0);
    // Back on: the send serves the console again.
    vm.platform.set_serve_backends_inline(true);
    console_write(&mut vm, 6, b"now\n");
    assert_eq!(vm.send(0, console), 0);
    assert_eq!(vm.output(), b"now\n");
    assert_eq!(vm.platform.inline_backend_runs(), 1);
}
