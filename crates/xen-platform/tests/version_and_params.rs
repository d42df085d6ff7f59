// SPDX-License-Identifier: Apache-2.0 OR BSD-3-Clause
//! `xen_version`, `XENVER_get_features`, `HVMOP_get_param` of the store and
//! console rings, and `XENMEM_memory_map`, through `XenPlatform::on_hypercall`
//! with the registers of 64- and 32-bit guests.

mod common;

use common::*;
use xen_abi::*;
use xen_platform::{PlatformConfig, XEN_VERSION};

#[test]
fn xen_version_and_strings() {
    let mut vm = Vm::new(1);
    let want = (i64::from(XEN_VERSION.0) << 16) | i64::from(XEN_VERSION.1);
    assert_eq!(want, (4 << 16) | 17);
    let v = u64::from(XENVER_VERSION);
    assert_eq!(vm.hc(0, HYPERVISOR_XEN_VERSION, &[v, 0]), want);
    assert_eq!(vm.hc32(0, HYPERVISOR_XEN_VERSION, &[v, 0]), want);
    // The upper half of a 64-bit cmd register is ignored (a C int in Xen).
    assert_eq!(
        vm.hc(0, HYPERVISOR_XEN_VERSION, &[0xdead_0000_0000, 0]),
        want
    );
    let pagesize = u64::from(XENVER_PAGESIZE);
    assert_eq!(vm.hc(0, HYPERVISOR_XEN_VERSION, &[pagesize, 0]), 4096);

    // Strings are NUL-terminated in the guest's buffer.
    vm.write_bytes(BUF, &[0xff; 16]);
    let extra = u64::from(XENVER_EXTRAVERSION);
    assert_eq!(vm.hc(0, HYPERVISOR_XEN_VERSION, &[extra, BUF]), 0);
    assert_eq!(vm.read_bytes(BUF, 7), b".0-kvm\0");
    let caps = u64::from(XENVER_CAPABILITIES);
    assert_eq!(vm.hc32(0, HYPERVISOR_XEN_VERSION, &[caps, BUF]), 0);
    let s = vm.read_bytes(BUF, 1024);
    let s = &s[..s.iter().position(|&b| b == 0).unwrap()];
    assert!(s.starts_with(b"hvm-3.0-x86_64"), "{s:?}");
}

#[test]
fn features_of_an_hvm_guest() {
    let mut vm = Vm::new(1);
    let cmd = u64::from(XENVER_GET_FEATURES);
    vm.write(
        ARGS,
        XenFeatureInfo {
            submap_idx: 0,
            submap: 0xdead_beef,
        },
    );
    assert_eq!(vm.hc(0, HYPERVISOR_XEN_VERSION, &[cmd, ARGS]), 0);
    let f: XenFeatureInfo = vm.read(ARGS);
    assert_eq!(
        f.submap,
        (1 << XENFEAT_AUTO_TRANSLATED_PHYSMAP)
            | (1 << XENFEAT_HVM_CALLBACK_VECTOR)
            | (1 << XENFEAT_HVM_SAFE_PVCLOCK)
    );
    // Only submap 0 exists.
    vm.write(
        ARGS,
        XenFeatureInfo {
            submap_idx: 1,
            submap: 7,
        },
    );
    assert_eq!(
        vm.hc(0, HYPERVISOR_XEN_VERSION, &[cmd, ARGS]),
        err(errno::EINVAL)
    );
    assert_eq!(vm.read::<XenFeatureInfo>(ARGS).submap, 7, "untouched");
}

#[test]
fn ring_params_name_the_configured_frames_and_bound_ports() {
    let mut config = PlatformConfig::new(1, MEM);
    config.store_gfn = 0x800;
    config.console_gfn = 0x801;
    let mut vm = Vm::with_config(config);
    assert_eq!(vm.get_param(HVM_PARAM_STORE_PFN), 0x800);
    assert_eq!(vm.get_param(HVM_PARAM_CONSOLE_PFN), 0x801);
    let store = vm.get_param(HVM_PARAM_STORE_EVTCHN) as u32;
    let console = vm.get_param(HVM_PARAM_CONSOLE_EVTCHN) as u32;
    assert_ne!(store, 0);
    assert_ne!(console, 0);
    assert_ne!(store, console);
    // Both are interdomain channels to the backends' domain 0.
    for port in [store, console] {
        let (r, st) = vm.status(port);
        assert_eq!(r, 0);
        assert_eq!(st.status, EVTCHNSTAT_INTERDOMAIN, "port {port}");
        assert_eq!(st.u[0], 0, "remote domain of port {port}");
    }
    // The toolstack's params are read-only for the guest.
    assert_eq!(
        vm.set_param(HVM_PARAM_STORE_PFN, 5),
        err(errno::EPERM),
        "store pfn"
    );
    assert_eq!(vm.get_param(HVM_PARAM_STORE_PFN), 0x800);
    // Params the guest may not read.
    vm.write(
        ARGS,
        XenHvmParam {
            domid: DOMID_SELF,
            pad: 0,
            index: HVM_PARAM_IOREQ_PFN,
            value: 0,
        },
    );
    let get = u64::from(HVMOP_GET_PARAM);
    assert_eq!(vm.hc(0, HYPERVISOR_HVM_OP, &[get, ARGS]), err(errno::EPERM));
    // Another domain's params: -ESRCH.
    vm.write(
        ARGS,
        XenHvmParam {
            domid: 7,
            pad: 0,
            index: HVM_PARAM_STORE_PFN,
            value: 0,
        },
    );
    assert_eq!(vm.hc(0, HYPERVISOR_HVM_OP, &[get, ARGS]), err(errno::ESRCH));
}

fn custom_map() -> Vec<E820Entry> {
    vec![
        E820Entry {
            addr: 0,
            size: 0x9f000,
            kind: E820_RAM,
        },
        E820Entry {
            addr: 0x9f000,
            size: 0x61000,
            kind: E820_RESERVED,
        },
        E820Entry {
            addr: 0x10_0000,
            size: MEM - 0x10_0000,
            kind: E820_RAM,
        },
    ]
}

fn read_entries(vm: &mut Vm, n: usize) -> Vec<E820Entry> {
    (0..n)
        .map(|i| vm.read(BUF + (i * std::mem::size_of::<E820Entry>()) as u64))
        .collect()
}

#[test]
fn memory_map_is_the_configured_one() {
    let mut config = PlatformConfig::new(1, MEM);
    config.memory_map = custom_map();
    let mut vm = Vm::with_config(config);
    let cmd = u64::from(XENMEM_MEMORY_MAP);

    // 64-bit: room for 8, three come back.
    vm.write(
        ARGS,
        XenMemoryMap64 {
            nr_entries: 8,
            pad: 0,
            buffer: BUF,
        },
    );
    assert_eq!(vm.hc(0, HYPERVISOR_MEMORY_OP, &[cmd, ARGS]), 0);
    assert_eq!(vm.read::<XenMemoryMap64>(ARGS).nr_entries, 3);
    assert_eq!(read_entries(&mut vm, 3), custom_map());

    // Room for 2: the first two, and nr_entries says 2.
    vm.write_bytes(BUF, &[0; 128]);
    vm.write(
        ARGS,
        XenMemoryMap64 {
            nr_entries: 2,
            pad: 0,
            buffer: BUF,
        },
    );
    assert_eq!(vm.hc(0, HYPERVISOR_MEMORY_OP, &[cmd, ARGS]), 0);
    assert_eq!(vm.read::<XenMemoryMap64>(ARGS).nr_entries, 2);
    assert_eq!(read_entries(&mut vm, 3)[..2], custom_map()[..2]);
    assert_eq!(read_entries(&mut vm, 3)[2], E820Entry::default());

    // 32-bit layout.
    vm.write_bytes(BUF, &[0; 128]);
    vm.write(
        ARGS,
        XenMemoryMap32 {
            nr_entries: 128,
            buffer: BUF as u32,
        },
    );
    assert_eq!(vm.hc32(0, HYPERVISOR_MEMORY_OP, &[cmd, ARGS]), 0);
    assert_eq!(vm.read::<XenMemoryMap32>(ARGS).nr_entries, 3);
    assert_eq!(read_entries(&mut vm, 3), custom_map());

    // A buffer past the end of RAM: -EFAULT.
    vm.write(
        ARGS,
        XenMemoryMap64 {
            nr_entries: 8,
            pad: 0,
            buffer: MEM - 8,
        },
    );
    assert_eq!(
        vm.hc(0, HYPERVISOR_MEMORY_OP, &[cmd, ARGS]),
        err(errno::EFAULT)
    );
}

#[test]
fn default_memory_map_is_all_ram() {
    let mut vm = Vm::new(1);
    vm.write(
        ARGS,
        XenMemoryMap64 {
            nr_entries: 8,
            pad: 0,
            buffer: BUF,
        },
    );
    let cmd = u64::from(XENMEM_MEMORY_MAP);
    assert_eq!(vm.hc(0, HYPERVISOR_MEMORY_OP, &[cmd, ARGS]), 0);
    assert_eq!(vm.read::<XenMemoryMap64>(ARGS).nr_entries, 1);
    assert_eq!(
        read_entries(&mut vm, 1),
        vec![E820Entry {
            addr: 0,
            size: MEM,
            kind: E820_RAM
        }]
    );
}

#[test]
fn the_guest_may_overwrite_the_channel_params_without_moving_the_backends() {
    let mut vm = Vm::new(1);
    let console = vm.get_param(HVM_PARAM_CONSOLE_EVTCHN) as u32;
    assert_eq!(vm.set_param(HVM_PARAM_CONSOLE_EVTCHN, 99), 0);
    assert_eq!(vm.get_param(HVM_PARAM_CONSOLE_EVTCHN), 99);
    // The console still answers on its real port.
    let ring = MEM - 0x1000;
    vm.write_bytes(ring + xen_platform::console::OUT_OFF, b"still");
    vm.write(ring + xen_platform::console::OUT_PROD, 5u32);
    vm.write(ARGS, EvtchnSend { port: console });
    let send = u64::from(EVTCHNOP_SEND);
    assert_eq!(vm.hc(0, HYPERVISOR_EVENT_CHANNEL_OP, &[send, ARGS]), 0);
    assert_eq!(vm.output(), b"still");
}
