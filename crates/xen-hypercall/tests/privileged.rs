// SPDX-License-Identifier: Apache-2.0 OR BSD-3-Clause
//! `XENVER_commandline` and `XENVER_build_id` for a handler that grants them (as Xen does
//! for the control domain): Xen's size query, -EINVAL, -ENOBUFS and -EFAULT paths.

mod common;
use common::*;
use vm_memory::{Bytes, GuestAddress, GuestMemoryMmap};
use xen_abi::errno::*;
use xen_abi::*;
use xen_hypercall::*;

struct Dom0;
impl AddressTranslate for Dom0 {}
impl VersionHandler for Dom0 {
    fn commandline(&mut self, _vcpu: u32, out: &mut XenCommandline) -> bool {
        out[..9].copy_from_slice(b"console=v");
        out.fill(b'x');
        true
    }
    fn build_id(&mut self, _vcpu: u32, out: &mut [u8; MAX_BUILD_ID]) -> Option<usize> {
        out[..20].copy_from_slice(&[0xab; 20]);
        Some(20)
    }
    fn guest_handle(&mut self, _vcpu: u32) -> XenDomainHandle {
        [7; 16]
    }
}
impl MemoryHandler for Dom0 {}
impl HvmHandler for Dom0 {}
impl VcpuHandler for Dom0 {}
impl SchedHandler for Dom0 {}
impl EvtchnHandler for Dom0 {}
impl GnttabHandler for Dom0 {}
impl ConsoleHandler for Dom0 {}
impl VmAssistHandler for Dom0 {}
impl Hypervisor for Dom0 {
    fn domid(&self) -> u16 {
        0
    }
    fn nr_vcpus(&self) -> u32 {
        1
    }
}

fn call(mem: &GuestMemoryMmap<()>, w: GuestWidth, cmd: u32, arg: u64) -> i64 {
    let r = match w {
        GuestWidth::Bits64 => {
            HypercallRegs::from_regs64(0, HYPERVISOR_XEN_VERSION, cmd.into(), arg, 0, 0, 0, 0)
        }
        GuestWidth::Bits32 => {
            HypercallRegs::from_regs32(0, HYPERVISOR_XEN_VERSION, cmd.into(), arg, 0, 0, 0, 0)
        }
    };
    match dispatch(&r, 0, mem, &mut Dom0).outcome {
        HypercallOutcome::Done(v) => v,
        o => panic!("{o:?}"),
    }
}

#[test]
fn granted_build_id_and_commandline() {
    for w in both() {
        let mem = GuestMemoryMmap::<()>::from_ranges(&[(GuestAddress(0), RAM as usize)]).unwrap();
        // NULL: the size.
        assert_eq!(call(&mem, w, XENVER_BUILD_ID, 0), 20);
        // len 0: -EINVAL; too small: -ENOBUFS; unreadable header: -EFAULT.
        mem.write_obj(XenBuildId { len: 0 }, GuestAddress(ARG))
            .unwrap();
        assert_eq!(call(&mem, w, XENVER_BUILD_ID, ARG), neg(EINVAL));
        mem.write_obj(XenBuildId { len: 19 }, GuestAddress(ARG))
            .unwrap();
        assert_eq!(call(&mem, w, XENVER_BUILD_ID, ARG), neg(ENOBUFS));
        assert_eq!(call(&mem, w, XENVER_BUILD_ID, BAD), neg(EFAULT));
        // Room for it: copied after the header, the length is the result.
        mem.write_obj(XenBuildId { len: 32 }, GuestAddress(ARG))
            .unwrap();
        assert_eq!(call(&mem, w, XENVER_BUILD_ID, ARG), 20);
        let b: [u8; 24] = mem.read_obj(GuestAddress(ARG + 4)).unwrap();
        assert_eq!(b[..20], [0xab; 20]);
        assert_eq!(b[20..], [0; 4]);
        // The buffer itself off the end of RAM.
        let at = RAM - 8;
        mem.write_obj(XenBuildId { len: 32 }, GuestAddress(at))
            .unwrap();
        assert_eq!(call(&mem, w, XENVER_BUILD_ID, at), neg(EFAULT));

        // The whole 1024-byte command line, NUL-terminated.
        assert_eq!(call(&mem, w, XENVER_COMMANDLINE, BUF), 0);
        let mut b = [0u8; 1025];
        mem.read_slice(&mut b, GuestAddress(BUF)).unwrap();
        assert!(b[..1023].iter().all(|&c| c == b'x'));
        assert_eq!(b[1023], 0);
        assert_eq!(call(&mem, w, XENVER_COMMANDLINE, RAM - 512), neg(EFAULT));

        assert_eq!(call(&mem, w, XENVER_GUEST_HANDLE, BUF), 0);
        assert_eq!(
            mem.read_obj::<[u8; 16]>(GuestAddress(BUF)).unwrap(),
            [7; 16]
        );
    }
}
