// SPDX-License-Identifier: Apache-2.0 OR BSD-3-Clause
//! xen_version.

mod common;
use common::*;
use xen_abi::errno::*;
use xen_abi::*;

fn cstr(b: &[u8]) -> &[u8] {
    &b[..b.iter().position(|&c| c == 0).unwrap()]
}

#[test]
fn version_and_pagesize() {
    for w in both() {
        let mut e = Env::new(w);
        assert_eq!(
            e.op(HYPERVISOR_XEN_VERSION, XENVER_VERSION, 0),
            4 << 16 | 17
        );
        assert_eq!(e.op(HYPERVISOR_XEN_VERSION, XENVER_PAGESIZE, 0), 4096);
    }
}

#[test]
fn strings_written_to_fixed_buffers() {
    for w in both() {
        let mut e = Env::new(w);
        e.mem
            .write_slice(&[0xffu8; 2048], vm_memory::GuestAddress(BUF))
            .unwrap();
        use vm_memory::Bytes;
        assert_eq!(e.op(HYPERVISOR_XEN_VERSION, XENVER_EXTRAVERSION, BUF), 0);
        let b: [u8; 16] = e.get(BUF);
        assert_eq!(cstr(&b), b".0-xok");
        assert_eq!(b[15], 0);
        // Exactly 16 bytes written.
        assert_eq!(e.get::<u8>(BUF + 16), 0xff);

        assert_eq!(e.op(HYPERVISOR_XEN_VERSION, XENVER_CAPABILITIES, BUF), 0);
        let mut b = [0u8; 1024];
        e.mem
            .read_slice(&mut b, vm_memory::GuestAddress(BUF))
            .unwrap();
        assert_eq!(cstr(&b), b"hvm-3.0-x86_64 hvm-3.0-x86_32");
        assert_eq!(e.get::<u8>(BUF + 1024), 0xff);

        assert_eq!(e.op(HYPERVISOR_XEN_VERSION, XENVER_CHANGESET, BUF), 0);
        let mut b = [0u8; 64];
        e.mem
            .read_slice(&mut b, vm_memory::GuestAddress(BUF))
            .unwrap();
        assert_eq!(cstr(&b), b"xen-on-kvm");

        assert_eq!(e.op(HYPERVISOR_XEN_VERSION, XENVER_COMPILE_INFO, BUF), 0);
        let c: XenCompileInfo = e.get(BUF);
        assert_eq!(cstr(&c.compiler), b"rustc");
        assert_eq!(c.compile_date[0], 0);
    }
}

#[test]
fn strings_to_bad_buffer_efault() {
    for w in both() {
        let mut e = Env::new(w);
        for cmd in [
            XENVER_EXTRAVERSION,
            XENVER_CAPABILITIES,
            XENVER_CHANGESET,
            XENVER_COMPILE_INFO,
        ] {
            assert_eq!(e.op(HYPERVISOR_XEN_VERSION, cmd, BAD), neg(EFAULT));
            // Buffer running off the end of RAM.
            assert_eq!(e.op(HYPERVISOR_XEN_VERSION, cmd, RAM - 8), neg(EFAULT));
        }
    }
}

#[test]
fn get_features() {
    for w in both() {
        let mut e = Env::new(w);
        e.put(XenFeatureInfo {
            submap_idx: 0,
            submap: 0,
        });
        assert_eq!(e.op(HYPERVISOR_XEN_VERSION, XENVER_GET_FEATURES, ARG), 0);
        let f: XenFeatureInfo = e.get(ARG);
        assert_eq!(f.submap, 1 << XENFEAT_HVM_CALLBACK_VECTOR);
        e.put(XenFeatureInfo {
            submap_idx: 1,
            submap: 0,
        });
        assert_eq!(
            e.op(HYPERVISOR_XEN_VERSION, XENVER_GET_FEATURES, ARG),
            neg(EINVAL)
        );
        assert_eq!(
            e.op(HYPERVISOR_XEN_VERSION, XENVER_GET_FEATURES, BAD),
            neg(EFAULT)
        );
    }
}

/// `XENVER_pagesize` wants a NULL argument (-EINVAL otherwise), as Xen's `do_xen_version`.
#[test]
fn pagesize_with_an_argument_is_einval() {
    for w in both() {
        let mut e = Env::new(w);
        assert_eq!(
            e.op(HYPERVISOR_XEN_VERSION, XENVER_PAGESIZE, BUF),
            neg(EINVAL)
        );
    }
}

/// Xen 4.17 answers `XENVER_platform_parameters` with `HYPERVISOR_VIRT_START` to 64-bit
/// callers (8 bytes) and with the domain's compat start, 0 for HVM, to 32-bit ones (4 bytes).
#[test]
fn platform_parameters_by_width() {
    for w in both() {
        let mut e = Env::new(w);
        e.put_at([0xffu8; 16], BUF);
        assert_eq!(
            e.op(HYPERVISOR_XEN_VERSION, XENVER_PLATFORM_PARAMETERS, BUF),
            0
        );
        let b: [u8; 16] = e.get(BUF);
        match w {
            GuestWidth::Bits64 => {
                assert_eq!(e.get::<u64>(BUF), 0xffff_8000_0000_0000);
                assert_eq!(b[8], 0xff);
            }
            GuestWidth::Bits32 => {
                assert_eq!(e.get::<u32>(BUF), 0);
                assert_eq!(b[4], 0xff);
            }
        }
        assert_eq!(
            e.op(HYPERVISOR_XEN_VERSION, XENVER_PLATFORM_PARAMETERS, BAD),
            neg(EFAULT)
        );
    }
}

/// An unprivileged domain gets `"<denied>"` (9 bytes with the NUL) for the command line and
/// -EPERM for the build id, whatever the argument; its handle is readable (all zero here).
#[test]
fn commandline_build_id_and_handle_as_a_domu_sees_them() {
    for w in both() {
        let mut e = Env::new(w);
        e.put_at([0xffu8; 32], BUF);
        assert_eq!(e.op(HYPERVISOR_XEN_VERSION, XENVER_COMMANDLINE, BUF), 0);
        let b: [u8; 32] = e.get(BUF);
        assert_eq!(&b[..9], b"<denied>\0");
        assert_eq!(b[9], 0xff, "only the denied string is written");
        assert_eq!(
            e.op(HYPERVISOR_XEN_VERSION, XENVER_COMMANDLINE, BAD),
            neg(EFAULT)
        );
        for arg in [0, BUF, BAD] {
            assert_eq!(
                e.op(HYPERVISOR_XEN_VERSION, XENVER_BUILD_ID, arg),
                neg(EPERM)
            );
        }
        e.put_at([0xffu8; 32], BUF);
        assert_eq!(e.op(HYPERVISOR_XEN_VERSION, XENVER_GUEST_HANDLE, BUF), 0);
        let b: [u8; 32] = e.get(BUF);
        assert_eq!(b[..16], [0; 16]);
        assert_eq!(b[16], 0xff);
        assert_eq!(
            e.op(HYPERVISOR_XEN_VERSION, XENVER_GUEST_HANDLE, BAD),
            neg(EFAULT)
        );
        assert_eq!(e.op(HYPERVISOR_XEN_VERSION, 11, BUF), neg(ENOSYS));
    }
}
