// SPDX-License-Identifier: Apache-2.0 OR BSD-3-Clause
//! Layout and value checks against Xen's own public headers, not against numbers of ours.
//!
//! A C program is generated from the list below, compiled with the system `cc` against
//! `<xen/*.h>` (package `libxen-dev`) for `-m64` and `-m32` (package `gcc-multilib`), in the
//! guest's view (`__XEN_INTERFACE_VERSION__` set to the headers' latest, no `__XEN_TOOLS__`;
//! `sysctl.h` / `domctl.h` refuse to be included without `__XEN_TOOLS__`, so their few items
//! are compiled in a second, tools view), and run: it prints every size, offset, field size
//! and constant, which are compared with `size_of`, `offset_of!` and the constants of
//! xen-abi.
//!
//! Completeness: `src/*.rs` is parsed for `#[repr(C...)] pub struct`s (with every field),
//! `pub type`s and top-level `pub const`s; each must be in the list, or in [`EXCLUDED`] with
//! the reason it cannot be checked against the headers.
//!
//! Without a compiler, the headers or the 32-bit toolchain the test fails if
//! `XEN_ON_KVM_REQUIRE_KVM=1` or `CI` is set, and otherwise skips with a message.

use core::mem::{offset_of, size_of};
use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::process::Command;

use xen_abi::*;

/// Items of `src/*.rs` the headers cannot check, and why.
const EXCLUDED: &[(&str, &str)] = &[
    (
        "HYPERCALL_ENTRY_SIZE",
        "hypercall page geometry: a convention of Xen's hypercall page code, not a header item",
    ),
    (
        "HYPERCALL_PAGE_SIZE",
        "hypercall page geometry: a convention of Xen's hypercall page code, not a header item",
    ),
    (
        "HYPERCALL_PAGE_ENTRIES",
        "hypercall page geometry: a convention of Xen's hypercall page code, not a header item",
    ),
    (
        "XEN_HYPERCALL_MSR",
        "the MSR index is given to the guest at run time in CPUID leaf base+2 (EBX)",
    ),
    (
        "XEN_CPUID_LEAF_SIGNATURE",
        "arch-x86/cpuid.h numbers its leaves in comments only",
    ),
    (
        "XEN_CPUID_LEAF_VERSION",
        "arch-x86/cpuid.h numbers its leaves in comments only",
    ),
    (
        "XEN_CPUID_LEAF_HYPERCALL",
        "arch-x86/cpuid.h numbers its leaves in comments only",
    ),
    (
        "XEN_CPUID_LEAF_TIME",
        "arch-x86/cpuid.h numbers its leaves in comments only",
    ),
    (
        "XEN_CPUID_LEAF_HVM",
        "arch-x86/cpuid.h numbers its leaves in comments only",
    ),
    (
        "XEN_CPUID_LEAF_PV",
        "arch-x86/cpuid.h numbers its leaves in comments only",
    ),
    (
        "XEN_ELFNOTE_NAME",
        "a byte string (the ELF note owner), named in elfnote.h's comments only",
    ),
    (
        "E820Entry",
        "the BIOS e820 entry XENMEM_memory_map returns is described in memory.h's comments \
         only (checked by tests/layout.rs)",
    ),
    (
        "EVTCHNOP_RESET_CONT",
        "Xen-internal (`#ifdef __XEN__` in event_channel.h): no guest may issue it",
    ),
    (
        "XENFEAT_GRANT_MAP_IDENTITY",
        "deprecated: features.h keeps its definition (12) inside a comment",
    ),
    (
        "EvtchnPort",
        "a plain integer alias (evtchn_port_t), checked through the structs using it",
    ),
    (
        "DomId",
        "a plain integer alias (domid_t), checked through the structs using it",
    ),
];

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum W {
    /// Same layout/value in both widths: compared with `-m64` and `-m32`.
    Both,
    B64,
    B32,
}

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum View {
    Guest,
    Tools,
}

struct Check {
    label: String,
    width: W,
    view: View,
    c_expr: String,
    rust: i128,
}

#[derive(Default)]
struct Model {
    checks: Vec<Check>,
    view: Option<View>,
    /// Rust struct name -> field names (including padding fields).
    structs: BTreeMap<String, BTreeSet<String>>,
    types: BTreeSet<String>,
    consts: BTreeSet<String>,
    /// Rust-side problems (implicit padding).
    errors: Vec<String>,
}

impl Model {
    fn check(&mut self, w: W, label: String, c_expr: String, rust: i128) {
        self.checks.push(Check {
            label,
            width: w,
            view: self.view.unwrap_or(View::Guest),
            c_expr,
            rust,
        });
    }

    fn konst(&mut self, w: W, name: &str, c_expr: &str, rust: i128) {
        assert!(self.consts.insert(name.to_string()), "{name} listed twice");
        self.check(w, name.to_string(), c_expr.to_string(), rust);
    }

    /// Records a struct: every field, padding included, must tile it without holes (so that
    /// `ByteValued` is sound and each padding field is exactly C's implicit padding).
    fn strukt(&mut self, name: &str, size: usize, mut fields: Vec<(&str, usize, usize)>) {
        fields.sort_by_key(|f| f.1);
        let mut at = 0;
        for (f, off, len) in &fields {
            if *off != at {
                self.errors
                    .push(format!("{name}.{f} at {off}: implicit padding from {at}"));
            }
            at = off + len;
        }
        if at != size {
            self.errors
                .push(format!("{name}: implicit tail padding from {at} to {size}"));
        }
        let set = fields.iter().map(|f| f.0.to_string()).collect();
        assert!(
            self.structs.insert(name.to_string(), set).is_none(),
            "{name} listed twice"
        );
    }
}

fn assert_byte_valued<T: vm_memory::ByteValued>() {}

/// Size of field `$f` of `$t` (read by value: works for packed structs too).
macro_rules! field_size {
    ($t:ty, $f:ident) => {{
        fn size_of_ret<T, F>(_: impl Fn(&T) -> F) -> usize {
            size_of::<F>()
        }
        size_of_ret(|v: &$t| v.$f)
    }};
}

/// A struct: `st!(m, width, RustType, "C type", [field, field => "c_name", ...], pads [...])`.
/// Pads are fields of ours with no C counterpart (C's implicit padding).
macro_rules! st {
    (@c $f:ident) => { stringify!($f) };
    (@c $f:ident $cf:literal) => { $cf };
    ($m:expr, $w:ident, $t:ident, $c:literal, [$($f:ident $(=> $cf:literal)?),* $(,)?]
        $(, pads [$($p:ident),* $(,)?])?) => {{
        assert_byte_valued::<$t>();
        let name = stringify!($t);
        #[allow(unused_mut)]
        let mut fields: Vec<(&str, usize, usize)> = Vec::new();
        $m.check(W::$w, format!("sizeof {name}"), format!("sizeof({})", $c),
            size_of::<$t>() as i128);
        $(
            let cf = st!(@c $f $($cf)?);
            let (off, len) = (offset_of!($t, $f), field_size!($t, $f));
            $m.check(W::$w, format!("offset {name}.{}", stringify!($f)),
                format!("offsetof({}, {})", $c, cf), off as i128);
            $m.check(W::$w, format!("sizeof {name}.{}", stringify!($f)),
                format!("sizeof((({} *)0)->{})", $c, cf), len as i128);
            fields.push((stringify!($f), off, len));
        )*
        $($(
            fields.push((stringify!($p), offset_of!($t, $p), field_size!($t, $p)));
        )*)?
        $m.strukt(name, size_of::<$t>(), fields);
    }};
}

/// A type alias: `ty!(m, width, RustType, "C type")`.
macro_rules! ty {
    ($m:expr, $w:ident, $t:ident, $c:literal) => {{
        $m.types.insert(stringify!($t).to_string());
        $m.check(
            W::$w,
            format!("sizeof {}", stringify!($t)),
            format!("sizeof({})", $c),
            size_of::<$t>() as i128,
        );
    }};
}

/// Constants: `k!(m, width, NAME)` (same name in C) or `k!(m, width, NAME = "C expression")`.
macro_rules! k {
    (@c $n:ident) => { stringify!($n) };
    (@c $n:ident $c:literal) => { $c };
    ($m:expr, $w:ident, $($n:ident $(= $c:literal)?),* $(,)?) => {{
        $( $m.konst(W::$w, stringify!($n), k!(@c $n $($c)?), $n as i128); )*
    }};
}

fn model() -> Model {
    let mut m = Model::default();
    structs(&mut m);
    constants(&mut m);
    m.view = Some(View::Tools);
    st!(
        m,
        Both,
        XenSysctl,
        "struct xen_sysctl",
        [cmd, interface_version, u]
    );
    st!(
        m,
        Both,
        XenDomctl,
        "struct xen_domctl",
        [cmd, interface_version, domain, pad => "_pad", u]
    );
    k!(
        m,
        Both,
        XEN_SYSCTL_INTERFACE_VERSION,
        XEN_DOMCTL_INTERFACE_VERSION,
        XEN_CONTROL_UNION_SIZE = "sizeof(((struct xen_domctl *)0)->u)",
        XEN_DOMCTL_CREATEDOMAIN = "XEN_DOMCTL_createdomain",
        XEN_DOMCTL_GETDOMAININFO = "XEN_DOMCTL_getdomaininfo",
        XEN_DOMCTL_ASSIGN_DEVICE = "XEN_DOMCTL_assign_device",
        XEN_DOMCTL_BIND_PT_IRQ = "XEN_DOMCTL_bind_pt_irq",
        XEN_DOMCTL_MEMORY_MAPPING = "XEN_DOMCTL_memory_mapping",
        XEN_DOMCTL_IOPORT_MAPPING = "XEN_DOMCTL_ioport_mapping",
        XEN_DOMCTL_TEST_ASSIGN_DEVICE = "XEN_DOMCTL_test_assign_device",
        XEN_DOMCTL_DEASSIGN_DEVICE = "XEN_DOMCTL_deassign_device",
        XEN_DOMCTL_UNBIND_PT_IRQ = "XEN_DOMCTL_unbind_pt_irq",
        XEN_DOMCTL_VM_EVENT_OP = "XEN_DOMCTL_vm_event_op",
        // The headers show these to the toolstack only.
        HVM_PARAM_PAE_ENABLED,
        XENMEM_GET_SHARING_FREED_PAGES = "XENMEM_get_sharing_freed_pages",
        XENMEM_GET_SHARING_SHARED_PAGES = "XENMEM_get_sharing_shared_pages",
        XENMEM_PAGING_OP = "XENMEM_paging_op",
        XENMEM_ACCESS_OP = "XENMEM_access_op",
        XENMEM_SHARING_OP = "XENMEM_sharing_op",
        XENMEM_CLAIM_PAGES = "XENMEM_claim_pages",
        XENMEM_RESERVED_DEVICE_MEMORY_MAP = "XENMEM_reserved_device_memory_map",
    );
    m.view = None;
    m
}

fn structs(m: &mut Model) {
    // shared_info.rs
    st!(
        m,
        Both,
        VcpuTimeInfo,
        "struct vcpu_time_info",
        [
            version,
            pad0,
            tsc_timestamp,
            system_time,
            tsc_to_system_mul,
            tsc_shift,
            flags,
            pad1
        ]
    );
    st!(m, B64, ArchVcpuInfo64, "struct arch_vcpu_info", [cr2, pad]);
    st!(m, B32, ArchVcpuInfo32, "struct arch_vcpu_info", [cr2, pad]);
    st!(
        m,
        B64,
        VcpuInfo64,
        "struct vcpu_info",
        [
            evtchn_upcall_pending,
            evtchn_upcall_mask,
            evtchn_pending_sel,
            arch,
            time
        ],
        pads[pad0]
    );
    st!(
        m,
        B32,
        VcpuInfo32,
        "struct vcpu_info",
        [
            evtchn_upcall_pending,
            evtchn_upcall_mask,
            evtchn_pending_sel,
            arch,
            time
        ],
        pads[pad0]
    );
    st!(
        m,
        B64,
        ArchSharedInfo64,
        "struct arch_shared_info",
        [
            max_pfn,
            pfn_to_mfn_frame_list_list,
            nmi_reason,
            p2m_cr3,
            p2m_vaddr,
            p2m_generation
        ]
    );
    st!(
        m,
        B32,
        ArchSharedInfo32,
        "struct arch_shared_info",
        [
            max_pfn,
            pfn_to_mfn_frame_list_list,
            nmi_reason,
            p2m_cr3,
            p2m_vaddr,
            p2m_generation,
            wc_sec_hi
        ]
    );
    st!(
        m,
        B64,
        SharedInfo64,
        "struct shared_info",
        [
            vcpu_info,
            evtchn_pending,
            evtchn_mask,
            wc_version,
            wc_sec,
            wc_nsec,
            wc_sec_hi,
            arch
        ]
    );
    st!(
        m,
        B32,
        SharedInfo32,
        "struct shared_info",
        [
            vcpu_info,
            evtchn_pending,
            evtchn_mask,
            wc_version,
            wc_sec,
            wc_nsec,
            arch
        ]
    );
    st!(
        m,
        B64,
        VcpuRunstateInfo64,
        "struct vcpu_runstate_info",
        [state, state_entry_time, time],
        pads[pad0]
    );
    st!(
        m,
        B32,
        VcpuRunstateInfo32,
        "struct vcpu_runstate_info",
        [state, state_entry_time, time]
    );
    // event_channel.rs
    st!(
        m,
        Both,
        EvtchnAllocUnbound,
        "struct evtchn_alloc_unbound",
        [dom, remote_dom, port]
    );
    st!(
        m,
        Both,
        EvtchnBindInterdomain,
        "struct evtchn_bind_interdomain",
        [remote_dom, remote_port, local_port],
        pads[pad]
    );
    st!(
        m,
        Both,
        EvtchnBindVirq,
        "struct evtchn_bind_virq",
        [virq, vcpu, port]
    );
    st!(
        m,
        Both,
        EvtchnBindPirq,
        "struct evtchn_bind_pirq",
        [pirq, flags, port]
    );
    st!(
        m,
        Both,
        EvtchnBindIpi,
        "struct evtchn_bind_ipi",
        [vcpu, port]
    );
    st!(m, Both, EvtchnClose, "struct evtchn_close", [port]);
    st!(m, Both, EvtchnSend, "struct evtchn_send", [port]);
    st!(
        m,
        Both,
        EvtchnStatus,
        "struct evtchn_status",
        [dom, port, status, vcpu, u],
        pads[pad]
    );
    st!(
        m,
        Both,
        EvtchnBindVcpu,
        "struct evtchn_bind_vcpu",
        [port, vcpu]
    );
    st!(m, Both, EvtchnUnmask, "struct evtchn_unmask", [port]);
    st!(m, Both, EvtchnReset, "struct evtchn_reset", [dom]);
    st!(
        m,
        Both,
        EvtchnInitControl,
        "struct evtchn_init_control",
        [control_gfn, offset, vcpu, link_bits, pad => "_pad"]
    );
    st!(
        m,
        Both,
        EvtchnExpandArray,
        "struct evtchn_expand_array",
        [array_gfn]
    );
    st!(
        m,
        Both,
        EvtchnSetPriority,
        "struct evtchn_set_priority",
        [port, priority]
    );
    st!(
        m,
        Both,
        EvtchnFifoControlBlock,
        "struct evtchn_fifo_control_block",
        [ready, rsvd => "_rsvd", head]
    );
    ty!(m, Both, EventWord, "event_word_t");
    // vcpu.rs
    st!(
        m,
        Both,
        VcpuRegisterVcpuInfo,
        "struct vcpu_register_vcpu_info",
        [mfn, offset, rsvd]
    );
    st!(
        m,
        Both,
        VcpuSetPeriodicTimer,
        "struct vcpu_set_periodic_timer",
        [period_ns]
    );
    st!(
        m,
        B64,
        VcpuSetSingleshotTimer64,
        "struct vcpu_set_singleshot_timer",
        [timeout_abs_ns, flags],
        pads[pad]
    );
    st!(
        m,
        B32,
        VcpuSetSingleshotTimer32,
        "struct vcpu_set_singleshot_timer",
        [timeout_abs_ns, flags]
    );
    st!(
        m,
        Both,
        VcpuRegisterRunstateMemoryArea,
        "struct vcpu_register_runstate_memory_area",
        [addr]
    );
    st!(
        m,
        Both,
        VcpuRegisterTimeMemoryArea,
        "struct vcpu_register_time_memory_area",
        [addr]
    );
    // memory.rs
    st!(
        m,
        B64,
        XenAddToPhysmap64,
        "struct xen_add_to_physmap",
        [domid, size, space, idx, gpfn]
    );
    st!(
        m,
        B32,
        XenAddToPhysmap32,
        "struct xen_add_to_physmap",
        [domid, size, space, idx, gpfn]
    );
    st!(
        m,
        B64,
        XenMemoryMap64,
        "struct xen_memory_map",
        [nr_entries, buffer],
        pads[pad]
    );
    st!(
        m,
        B32,
        XenMemoryMap32,
        "struct xen_memory_map",
        [nr_entries, buffer]
    );
    st!(
        m,
        B64,
        XenMemoryReservation64,
        "struct xen_memory_reservation",
        [extent_start, nr_extents, extent_order, mem_flags, domid],
        pads[pad]
    );
    st!(
        m,
        B32,
        XenMemoryReservation32,
        "struct xen_memory_reservation",
        [extent_start, nr_extents, extent_order, mem_flags, domid],
        pads[pad]
    );
    st!(
        m,
        Both,
        XenMemoryDomain,
        "struct xen_memory_domain",
        [domid]
    );
    st!(
        m,
        B64,
        XenRemoveFromPhysmap64,
        "struct xen_remove_from_physmap",
        [domid, gpfn],
        pads[pad]
    );
    st!(
        m,
        B32,
        XenRemoveFromPhysmap32,
        "struct xen_remove_from_physmap",
        [domid, gpfn],
        pads[pad]
    );
    st!(
        m,
        B64,
        XenAddToPhysmapBatch64,
        "struct xen_add_to_physmap_batch",
        [domid, space, size, u, idxs, gpfns, errs]
    );
    st!(
        m,
        B32,
        XenAddToPhysmapBatch32,
        "struct xen_add_to_physmap_batch",
        [domid, space, size, u, idxs, gpfns, errs]
    );
    // sched.rs
    st!(m, Both, SchedShutdown, "struct sched_shutdown", [reason]);
    st!(
        m,
        B64,
        SchedPoll64,
        "struct sched_poll",
        [ports, nr_ports, timeout],
        pads[pad]
    );
    st!(
        m,
        B32,
        SchedPoll32,
        "struct sched_poll",
        [ports, nr_ports, timeout]
    );
    st!(
        m,
        Both,
        SchedRemoteShutdown,
        "struct sched_remote_shutdown",
        [domain_id, reason],
        pads[pad]
    );
    st!(
        m,
        Both,
        SchedWatchdog,
        "struct sched_watchdog",
        [id, timeout]
    );
    st!(
        m,
        Both,
        SchedPinOverride,
        "struct sched_pin_override",
        [pcpu]
    );
    // hvm.rs
    st!(
        m,
        Both,
        XenHvmParam,
        "struct xen_hvm_param",
        [domid, pad, index, value]
    );
    st!(
        m,
        Both,
        XenHvmEvtchnUpcallVector,
        "struct xen_hvm_evtchn_upcall_vector",
        [vcpu, vector],
        pads[pad]
    );
    st!(
        m,
        Both,
        VcpuHvmX86Regs32,
        "struct vcpu_hvm_x86_32",
        [
            eax, ecx, edx, ebx, esp, ebp, esi, edi, eip, eflags, cr0, cr3, cr4, pad1, efer,
            cs_base, ds_base, ss_base, es_base, tr_base, cs_limit, ds_limit, ss_limit, es_limit,
            tr_limit, cs_ar, ds_ar, ss_ar, es_ar, tr_ar, pad2
        ]
    );
    st!(
        m,
        Both,
        VcpuHvmX86Regs64,
        "struct vcpu_hvm_x86_64",
        [rax, rcx, rdx, rbx, rsp, rbp, rsi, rdi, rip, rflags, cr0, cr3, cr4, efer]
    );
    st!(
        m,
        Both,
        VcpuHvmContext,
        "struct vcpu_hvm_context",
        [mode, pad, cpu_regs]
    );
    // start_info.rs
    st!(
        m,
        Both,
        HvmStartInfo,
        "struct hvm_start_info",
        [
            magic,
            version,
            flags,
            nr_modules,
            modlist_paddr,
            cmdline_paddr,
            rsdp_paddr,
            memmap_paddr,
            memmap_entries,
            reserved
        ]
    );
    st!(
        m,
        Both,
        HvmModlistEntry,
        "struct hvm_modlist_entry",
        [paddr, size, cmdline_paddr, reserved]
    );
    st!(
        m,
        Both,
        HvmMemmapTableEntry,
        "struct hvm_memmap_table_entry",
        [addr, size, kind => "type", reserved]
    );
    // grant_table.rs
    st!(
        m,
        Both,
        GrantEntryV1,
        "struct grant_entry_v1",
        [flags, domid, frame]
    );
    st!(
        m,
        B64,
        GnttabSetupTable64,
        "struct gnttab_setup_table",
        [dom, nr_frames, status, frame_list],
        pads [pad0, pad1]
    );
    st!(
        m,
        B32,
        GnttabSetupTable32,
        "struct gnttab_setup_table",
        [dom, nr_frames, status, frame_list],
        pads [pad0, pad1]
    );
    st!(
        m,
        Both,
        GnttabQuerySize,
        "struct gnttab_query_size",
        [dom, nr_frames, max_nr_frames, status],
        pads [pad0, pad1]
    );
    st!(
        m,
        Both,
        GnttabSetVersion,
        "struct gnttab_set_version",
        [version]
    );
    st!(
        m,
        Both,
        GnttabGetVersion,
        "struct gnttab_get_version",
        [dom, pad, version]
    );
    st!(
        m,
        Both,
        GrantEntryHeader,
        "struct grant_entry_header",
        [flags, domid]
    );
    st!(
        m,
        Both,
        GrantEntryV2FullPage,
        "union grant_entry_v2",
        [hdr => "full_page.hdr", pad0 => "full_page.pad0", frame => "full_page.frame"]
    );
    st!(
        m,
        Both,
        GrantEntryV2SubPage,
        "union grant_entry_v2",
        [
            hdr => "sub_page.hdr",
            page_off => "sub_page.page_off",
            length => "sub_page.length",
            frame => "sub_page.frame"
        ]
    );
    st!(
        m,
        Both,
        GrantEntryV2Transitive,
        "union grant_entry_v2",
        [
            hdr => "transitive.hdr",
            trans_domid => "transitive.trans_domid",
            pad0 => "transitive.pad0",
            gref => "transitive.gref"
        ],
        pads[pad1]
    );
    ty!(m, Both, GrantStatus, "grant_status_t");
    st!(
        m,
        Both,
        GnttabMapGrantRef,
        "struct gnttab_map_grant_ref",
        [host_addr, flags, ref_ => "ref", dom, status, handle, dev_bus_addr]
    );
    st!(
        m,
        Both,
        GnttabUnmapGrantRef,
        "struct gnttab_unmap_grant_ref",
        [host_addr, dev_bus_addr, handle, status],
        pads[pad]
    );
    st!(
        m,
        B64,
        GnttabCopy64,
        "struct gnttab_copy",
        [
            source_u => "source.u",
            source_domid => "source.domid",
            source_offset => "source.offset",
            dest_u => "dest.u",
            dest_domid => "dest.domid",
            dest_offset => "dest.offset",
            len,
            flags,
            status
        ],
        pads[pad0, pad1, pad2]
    );
    st!(
        m,
        B32,
        GnttabCopy32,
        "struct gnttab_copy",
        [
            source_u => "source.u",
            source_domid => "source.domid",
            source_offset => "source.offset",
            dest_u => "dest.u",
            dest_domid => "dest.domid",
            dest_offset => "dest.offset",
            len,
            flags,
            status
        ],
        pads[pad]
    );
    st!(
        m,
        B64,
        GnttabGetStatusFrames64,
        "struct gnttab_get_status_frames",
        [nr_frames, dom, status, frame_list]
    );
    st!(
        m,
        B32,
        GnttabGetStatusFrames32,
        "struct gnttab_get_status_frames",
        [nr_frames, dom, status, frame_list]
    );
    st!(
        m,
        Both,
        GnttabSwapGrantRef,
        "struct gnttab_swap_grant_ref",
        [ref_a, ref_b, status],
        pads[pad]
    );
    // version.rs
    ty!(m, Both, XenExtraversion, "xen_extraversion_t");
    ty!(m, Both, XenCapabilitiesInfo, "xen_capabilities_info_t");
    ty!(m, Both, XenChangesetInfo, "xen_changeset_info_t");
    ty!(m, Both, XenCommandline, "xen_commandline_t");
    ty!(m, Both, XenDomainHandle, "xen_domain_handle_t");
    st!(
        m,
        Both,
        XenCompileInfo,
        "struct xen_compile_info",
        [compiler, compile_by, compile_domain, compile_date]
    );
    st!(
        m,
        Both,
        XenFeatureInfo,
        "struct xen_feature_info",
        [submap_idx, submap]
    );
    st!(
        m,
        B64,
        XenPlatformParameters64,
        "struct xen_platform_parameters",
        [virt_start]
    );
    st!(
        m,
        B32,
        XenPlatformParameters32,
        "struct xen_platform_parameters",
        [virt_start]
    );
    st!(m, Both, XenBuildId, "struct xen_build_id", [len]);
    // hypercall.rs
    st!(
        m,
        B64,
        MulticallEntry64,
        "struct multicall_entry",
        [op, result, args]
    );
    st!(
        m,
        B32,
        MulticallEntry32,
        "struct multicall_entry",
        [op, result, args]
    );
    // console.rs, xenstore.rs
    st!(
        m,
        Both,
        XenconsInterface,
        "struct xencons_interface",
        [input => "in", output => "out", in_cons, in_prod, out_cons, out_prod]
    );
    st!(
        m,
        Both,
        XenstoreDomainInterface,
        "struct xenstore_domain_interface",
        [
            req,
            rsp,
            req_cons,
            req_prod,
            rsp_cons,
            rsp_prod,
            server_features,
            connection,
            error
        ]
    );
    st!(
        m,
        Both,
        XsdSockmsg,
        "struct xsd_sockmsg",
        [kind => "type", req_id, tx_id, len]
    );
}

fn constants(m: &mut Model) {
    use xen_abi::errno::*;
    // errno_values.rs: Xen's errno.h enumerates them as XEN_Exxx.
    k!(
        m,
        Both,
        EPERM = "XEN_EPERM",
        ENOENT = "XEN_ENOENT",
        ESRCH = "XEN_ESRCH",
        // Xen-internal (`#ifdef __XEN__` in errno.h); Xen's value is Linux's.
        EINTR = "EINTR",
        EIO = "XEN_EIO",
        E2BIG = "XEN_E2BIG",
        EBADF = "XEN_EBADF",
        EAGAIN = "XEN_EAGAIN",
        ENOMEM = "XEN_ENOMEM",
        EACCES = "XEN_EACCES",
        EFAULT = "XEN_EFAULT",
        EBUSY = "XEN_EBUSY",
        EEXIST = "XEN_EEXIST",
        EXDEV = "XEN_EXDEV",
        ENODEV = "XEN_ENODEV",
        EISDIR = "XEN_EISDIR",
        EINVAL = "XEN_EINVAL",
        ENOSPC = "XEN_ENOSPC",
        EROFS = "XEN_EROFS",
        EDOM = "XEN_EDOM",
        ERANGE = "XEN_ERANGE",
        ENOSYS = "XEN_ENOSYS",
        ENOTEMPTY = "XEN_ENOTEMPTY",
        ETIME = "XEN_ETIME",
        ENODATA = "XEN_ENODATA",
        EILSEQ = "XEN_EILSEQ",
        EOPNOTSUPP = "XEN_EOPNOTSUPP",
        ENOBUFS = "XEN_ENOBUFS",
        EISCONN = "XEN_EISCONN",
        ENOTCONN = "XEN_ENOTCONN",
        ETIMEDOUT = "XEN_ETIMEDOUT",
    );
    // console.rs
    k!(
        m,
        Both,
        CONSOLEIO_WRITE = "CONSOLEIO_write",
        CONSOLEIO_READ = "CONSOLEIO_read",
        XENCONS_IN_SIZE = "sizeof(((struct xencons_interface *)0)->in)",
        XENCONS_OUT_SIZE = "sizeof(((struct xencons_interface *)0)->out)",
    );
    // event_channel.rs
    k!(
        m,
        Both,
        DOMID_SELF,
        DOMID_FIRST_RESERVED,
        DOMID_IO,
        DOMID_XEN,
        DOMID_COW,
        DOMID_INVALID,
        DOMID_IDLE,
        EVTCHNOP_BIND_INTERDOMAIN = "EVTCHNOP_bind_interdomain",
        EVTCHNOP_BIND_VIRQ = "EVTCHNOP_bind_virq",
        EVTCHNOP_BIND_PIRQ = "EVTCHNOP_bind_pirq",
        EVTCHNOP_CLOSE = "EVTCHNOP_close",
        EVTCHNOP_SEND = "EVTCHNOP_send",
        EVTCHNOP_STATUS = "EVTCHNOP_status",
        EVTCHNOP_ALLOC_UNBOUND = "EVTCHNOP_alloc_unbound",
        EVTCHNOP_BIND_IPI = "EVTCHNOP_bind_ipi",
        EVTCHNOP_BIND_VCPU = "EVTCHNOP_bind_vcpu",
        EVTCHNOP_UNMASK = "EVTCHNOP_unmask",
        EVTCHNOP_RESET = "EVTCHNOP_reset",
        EVTCHNOP_INIT_CONTROL = "EVTCHNOP_init_control",
        EVTCHNOP_EXPAND_ARRAY = "EVTCHNOP_expand_array",
        EVTCHNOP_SET_PRIORITY = "EVTCHNOP_set_priority",
        EVTCHN_FIFO_PRIORITY_MAX,
        EVTCHN_FIFO_PRIORITY_DEFAULT,
        EVTCHN_FIFO_PRIORITY_MIN,
        EVTCHN_FIFO_MAX_QUEUES,
        EVTCHN_FIFO_PENDING,
        EVTCHN_FIFO_MASKED,
        EVTCHN_FIFO_LINKED,
        EVTCHN_FIFO_BUSY,
        EVTCHN_FIFO_LINK_BITS,
        EVTCHN_FIFO_LINK_MASK,
        EVTCHN_FIFO_NR_CHANNELS,
        EVTCHNSTAT_CLOSED = "EVTCHNSTAT_closed",
        EVTCHNSTAT_UNBOUND = "EVTCHNSTAT_unbound",
        EVTCHNSTAT_INTERDOMAIN = "EVTCHNSTAT_interdomain",
        EVTCHNSTAT_PIRQ = "EVTCHNSTAT_pirq",
        EVTCHNSTAT_VIRQ = "EVTCHNSTAT_virq",
        EVTCHNSTAT_IPI = "EVTCHNSTAT_ipi",
        VIRQ_TIMER,
        VIRQ_DEBUG,
        VIRQ_CONSOLE,
        VIRQ_DOM_EXC,
        VIRQ_TBUF,
        VIRQ_DEBUGGER,
        VIRQ_XENOPROF,
        VIRQ_CON_RING,
        VIRQ_PCPU_STATE,
        VIRQ_MEM_EVENT,
        VIRQ_ARGO,
        VIRQ_ENOMEM,
        VIRQ_XENPMU,
        VIRQ_ARCH_0,
        NR_VIRQS,
    );
    // grant_table.rs
    k!(
        m,
        Both,
        GNTTABOP_MAP_GRANT_REF = "GNTTABOP_map_grant_ref",
        GNTTABOP_UNMAP_GRANT_REF = "GNTTABOP_unmap_grant_ref",
        GNTTABOP_SETUP_TABLE = "GNTTABOP_setup_table",
        GNTTABOP_DUMP_TABLE = "GNTTABOP_dump_table",
        GNTTABOP_TRANSFER = "GNTTABOP_transfer",
        GNTTABOP_COPY = "GNTTABOP_copy",
        GNTTABOP_QUERY_SIZE = "GNTTABOP_query_size",
        GNTTABOP_UNMAP_AND_REPLACE = "GNTTABOP_unmap_and_replace",
        GNTTABOP_SET_VERSION = "GNTTABOP_set_version",
        GNTTABOP_GET_STATUS_FRAMES = "GNTTABOP_get_status_frames",
        GNTTABOP_GET_VERSION = "GNTTABOP_get_version",
        GNTTABOP_SWAP_GRANT_REF = "GNTTABOP_swap_grant_ref",
        GNTTABOP_CACHE_FLUSH = "GNTTABOP_cache_flush",
        GNTST_OKAY = "GNTST_okay",
        GNTST_GENERAL_ERROR = "GNTST_general_error",
        GNTST_BAD_DOMAIN = "GNTST_bad_domain",
        GNTST_BAD_GNTREF = "GNTST_bad_gntref",
        GNTST_BAD_HANDLE = "GNTST_bad_handle",
        GNTST_BAD_VIRT_ADDR = "GNTST_bad_virt_addr",
        GNTST_BAD_DEV_ADDR = "GNTST_bad_dev_addr",
        GNTST_NO_DEVICE_SPACE = "GNTST_no_device_space",
        GNTST_PERMISSION_DENIED = "GNTST_permission_denied",
        GNTST_BAD_PAGE = "GNTST_bad_page",
        GNTST_BAD_COPY_ARG = "GNTST_bad_copy_arg",
        GNTST_ADDRESS_TOO_BIG = "GNTST_address_too_big",
        GNTST_EAGAIN = "GNTST_eagain",
        GNTST_NO_SPACE = "GNTST_no_space",
        GTF_INVALID = "GTF_invalid",
        GTF_PERMIT_ACCESS = "GTF_permit_access",
        GTF_ACCEPT_TRANSFER = "GTF_accept_transfer",
        GTF_TRANSITIVE = "GTF_transitive",
        GTF_TYPE_MASK = "GTF_type_mask",
        GTF_READONLY = "GTF_readonly",
        GTF_READING = "GTF_reading",
        GTF_WRITING = "GTF_writing",
        GRANT_ENTRIES_V1_PER_FRAME = "(1 << XEN_PAGE_SHIFT) / sizeof(grant_entry_v1_t)",
        GTF_PWT,
        GTF_PCD,
        GTF_PAT,
        GTF_SUB_PAGE = "GTF_sub_page",
        GTF_TRANSFER_COMMITTED = "GTF_transfer_committed",
        GTF_TRANSFER_COMPLETED = "GTF_transfer_completed",
        GNTTAB_NR_RESERVED_ENTRIES,
        GNTTAB_RESERVED_CONSOLE,
        GNTTAB_RESERVED_XENSTORE,
        GNTMAP_DEVICE_MAP = "GNTMAP_device_map",
        GNTMAP_HOST_MAP = "GNTMAP_host_map",
        GNTMAP_READONLY = "GNTMAP_readonly",
        GNTMAP_APPLICATION_MAP = "GNTMAP_application_map",
        GNTMAP_CONTAINS_PTE = "GNTMAP_contains_pte",
        GNTCOPY_SOURCE_GREF = "GNTCOPY_source_gref",
        GNTCOPY_DEST_GREF = "GNTCOPY_dest_gref",
        GRANT_ENTRIES_V2_PER_FRAME = "(1 << XEN_PAGE_SHIFT) / sizeof(grant_entry_v2_t)",
        GRANT_STATUS_PER_FRAME = "(1 << XEN_PAGE_SHIFT) / sizeof(grant_status_t)",
    );
    // hvm.rs
    k!(
        m,
        Both,
        HVMOP_SET_PARAM = "HVMOP_set_param",
        HVMOP_GET_PARAM = "HVMOP_get_param",
        HVMOP_PAGETABLE_DYING = "HVMOP_pagetable_dying",
        HVMOP_GET_TIME = "HVMOP_get_time",
        HVMOP_GET_MEM_TYPE = "HVMOP_get_mem_type",
        HVMOP_SET_EVTCHN_UPCALL_VECTOR = "HVMOP_set_evtchn_upcall_vector",
        HVM_PARAM_CALLBACK_IRQ,
        HVM_PARAM_STORE_PFN,
        HVM_PARAM_STORE_EVTCHN,
        HVM_PARAM_IOREQ_PFN,
        HVM_PARAM_BUFIOREQ_PFN,
        HVM_PARAM_TIMER_MODE,
        HVM_PARAM_HPET_ENABLED,
        HVM_PARAM_IDENT_PT,
        HVM_PARAM_ACPI_S_STATE,
        HVM_PARAM_VM86_TSS,
        HVM_PARAM_VPT_ALIGN,
        HVM_PARAM_CONSOLE_PFN,
        HVM_PARAM_CONSOLE_EVTCHN,
        HVM_NR_PARAMS,
        HVM_PARAM_CALLBACK_IRQ_TYPE_MASK,
        HVM_PARAM_CALLBACK_IRQ_TYPE_SHIFT = "__builtin_ctzll(HVM_PARAM_CALLBACK_IRQ_TYPE_MASK)",
        HVM_PARAM_CALLBACK_TYPE_GSI,
        HVM_PARAM_CALLBACK_TYPE_PCI_INTX,
        HVM_PARAM_CALLBACK_TYPE_VECTOR,
        VCPU_HVM_MODE_32B,
        VCPU_HVM_MODE_64B,
        VCPU_HVM_CPU_REGS_SIZE = "sizeof(((struct vcpu_hvm_context *)0)->cpu_regs)",
    );
    // hypercall.rs
    k!(
        m,
        Both,
        HYPERVISOR_SET_TRAP_TABLE = "__HYPERVISOR_set_trap_table",
        HYPERVISOR_MMU_UPDATE = "__HYPERVISOR_mmu_update",
        HYPERVISOR_SCHED_OP_COMPAT = "__HYPERVISOR_sched_op_compat",
        HYPERVISOR_PLATFORM_OP = "__HYPERVISOR_platform_op",
        HYPERVISOR_MEMORY_OP = "__HYPERVISOR_memory_op",
        HYPERVISOR_MULTICALL = "__HYPERVISOR_multicall",
        HYPERVISOR_SET_TIMER_OP = "__HYPERVISOR_set_timer_op",
        HYPERVISOR_EVENT_CHANNEL_OP_COMPAT = "__HYPERVISOR_event_channel_op_compat",
        HYPERVISOR_XEN_VERSION = "__HYPERVISOR_xen_version",
        HYPERVISOR_CONSOLE_IO = "__HYPERVISOR_console_io",
        HYPERVISOR_PHYSDEV_OP_COMPAT = "__HYPERVISOR_physdev_op_compat",
        HYPERVISOR_GRANT_TABLE_OP = "__HYPERVISOR_grant_table_op",
        HYPERVISOR_VM_ASSIST = "__HYPERVISOR_vm_assist",
        HYPERVISOR_VCPU_OP = "__HYPERVISOR_vcpu_op",
        HYPERVISOR_MMUEXT_OP = "__HYPERVISOR_mmuext_op",
        HYPERVISOR_XSM_OP = "__HYPERVISOR_xsm_op",
        HYPERVISOR_NMI_OP = "__HYPERVISOR_nmi_op",
        HYPERVISOR_SCHED_OP = "__HYPERVISOR_sched_op",
        HYPERVISOR_CALLBACK_OP = "__HYPERVISOR_callback_op",
        HYPERVISOR_XENOPROF_OP = "__HYPERVISOR_xenoprof_op",
        HYPERVISOR_EVENT_CHANNEL_OP = "__HYPERVISOR_event_channel_op",
        HYPERVISOR_PHYSDEV_OP = "__HYPERVISOR_physdev_op",
        HYPERVISOR_HVM_OP = "__HYPERVISOR_hvm_op",
        HYPERVISOR_SYSCTL = "__HYPERVISOR_sysctl",
        HYPERVISOR_DOMCTL = "__HYPERVISOR_domctl",
        HYPERVISOR_KEXEC_OP = "__HYPERVISOR_kexec_op",
        HYPERVISOR_ARGO_OP = "__HYPERVISOR_argo_op",
        HYPERVISOR_XENPMU_OP = "__HYPERVISOR_xenpmu_op",
        HYPERVISOR_DM_OP = "__HYPERVISOR_dm_op",
        HYPERVISOR_HYPFS_OP = "__HYPERVISOR_hypfs_op",
        VMASST_CMD_ENABLE = "VMASST_CMD_enable",
        VMASST_CMD_DISABLE = "VMASST_CMD_disable",
        VMASST_TYPE_RUNSTATE_UPDATE_FLAG = "VMASST_TYPE_runstate_update_flag",
        XEN_CPUID_FIRST_LEAF,
        XEN_CPUID_MAX_NUM_LEAVES,
        XEN_CPUID_SIGNATURE_EBX,
        XEN_CPUID_SIGNATURE_ECX,
        XEN_CPUID_SIGNATURE_EDX,
        XEN_HVM_CPUID_APIC_ACCESS_VIRT,
        XEN_HVM_CPUID_X2APIC_VIRT,
        XEN_HVM_CPUID_IOMMU_MAPPINGS,
        XEN_HVM_CPUID_VCPU_ID_PRESENT,
        XEN_HVM_CPUID_DOMID_PRESENT,
        XEN_HVM_CPUID_EXT_DEST_ID,
        XEN_HVM_CPUID_UPCALL_VECTOR,
        XEN_ELFNOTE_PHYS32_ENTRY,
        XEN_ELFNOTE_HYPERCALL_PAGE,
        XEN_ELFNOTE_SUPPORTED_FEATURES,
    );
    // lib.rs
    k!(
        m,
        Both,
        XEN_PAGE_SIZE = "1 << XEN_PAGE_SHIFT",
        XEN_PAGE_SHIFT,
    );
    // memory.rs
    k!(
        m,
        Both,
        XENMEM_INCREASE_RESERVATION = "XENMEM_increase_reservation",
        XENMEM_DECREASE_RESERVATION = "XENMEM_decrease_reservation",
        XENMEM_MAXIMUM_RAM_PAGE = "XENMEM_maximum_ram_page",
        XENMEM_CURRENT_RESERVATION = "XENMEM_current_reservation",
        XENMEM_MAXIMUM_RESERVATION = "XENMEM_maximum_reservation",
        XENMEM_MACHPHYS_MFN_LIST = "XENMEM_machphys_mfn_list",
        XENMEM_POPULATE_PHYSMAP = "XENMEM_populate_physmap",
        XENMEM_ADD_TO_PHYSMAP = "XENMEM_add_to_physmap",
        XENMEM_MEMORY_MAP = "XENMEM_memory_map",
        XENMEM_MACHINE_MEMORY_MAP = "XENMEM_machine_memory_map",
        XENMEM_EXCHANGE = "XENMEM_exchange",
        XENMEM_MACHPHYS_MAPPING = "XENMEM_machphys_mapping",
        XENMEM_SET_MEMORY_MAP = "XENMEM_set_memory_map",
        XENMEM_MAXIMUM_GPFN = "XENMEM_maximum_gpfn",
        XENMEM_REMOVE_FROM_PHYSMAP = "XENMEM_remove_from_physmap",
        XENMEM_SET_POD_TARGET = "XENMEM_set_pod_target",
        XENMEM_GET_POD_TARGET = "XENMEM_get_pod_target",
        XENMEM_ADD_TO_PHYSMAP_BATCH = "XENMEM_add_to_physmap_batch",
        XENMEM_MACHPHYS_COMPAT_MFN_LIST = "XENMEM_machphys_compat_mfn_list",
        XENMEM_GET_VNUMAINFO = "XENMEM_get_vnumainfo",
        XENMEM_ACQUIRE_RESOURCE = "XENMEM_acquire_resource",
        XENMEMF_POPULATE_ON_DEMAND = "XENMEMF_populate_on_demand",
        XENMEMF_EXACT_NODE_REQUEST = "XENMEMF_exact_node_request",
        XENMEMF_VNODE = "XENMEMF_vnode",
        XENMEMF_ADDRESS_BITS_MASK = "XENMEMF_get_address_bits(~0u)",
        XENMAPSPACE_SHARED_INFO = "XENMAPSPACE_shared_info",
        XENMAPSPACE_GRANT_TABLE = "XENMAPSPACE_grant_table",
        XENMAPSPACE_GMFN = "XENMAPSPACE_gmfn",
        XENMAPSPACE_GMFN_RANGE = "XENMAPSPACE_gmfn_range",
        XENMAPSPACE_GMFN_FOREIGN = "XENMAPSPACE_gmfn_foreign",
        XENMAPSPACE_DEV_MMIO = "XENMAPSPACE_dev_mmio",
        XENMAPIDX_GRANT_TABLE_STATUS = "XENMAPIDX_grant_table_status",
        // The e820 types, which start_info.h's memory map types are defined to equal.
        E820_RAM = "XEN_HVM_MEMMAP_TYPE_RAM",
        E820_RESERVED = "XEN_HVM_MEMMAP_TYPE_RESERVED",
        E820_ACPI = "XEN_HVM_MEMMAP_TYPE_ACPI",
        E820_NVS = "XEN_HVM_MEMMAP_TYPE_NVS",
        E820_UNUSABLE = "XEN_HVM_MEMMAP_TYPE_UNUSABLE",
    );
    // physdev.rs
    k!(
        m,
        Both,
        PHYSDEVOP_EOI = "PHYSDEVOP_eoi",
        PHYSDEVOP_PIRQ_EOI_GMFN_V1 = "PHYSDEVOP_pirq_eoi_gmfn_v1",
        PHYSDEVOP_PIRQ_EOI_GMFN_V2 = "PHYSDEVOP_pirq_eoi_gmfn_v2",
        PHYSDEVOP_IRQ_STATUS_QUERY = "PHYSDEVOP_irq_status_query",
        PHYSDEVOP_SET_IOPL = "PHYSDEVOP_set_iopl",
        PHYSDEVOP_SET_IOBITMAP = "PHYSDEVOP_set_iobitmap",
        PHYSDEVOP_APIC_READ = "PHYSDEVOP_apic_read",
        PHYSDEVOP_APIC_WRITE = "PHYSDEVOP_apic_write",
        PHYSDEVOP_ALLOC_IRQ_VECTOR = "PHYSDEVOP_alloc_irq_vector",
        PHYSDEVOP_FREE_IRQ_VECTOR = "PHYSDEVOP_free_irq_vector",
        PHYSDEVOP_MAP_PIRQ = "PHYSDEVOP_map_pirq",
        PHYSDEVOP_UNMAP_PIRQ = "PHYSDEVOP_unmap_pirq",
        PHYSDEVOP_MANAGE_PCI_ADD = "PHYSDEVOP_manage_pci_add",
        PHYSDEVOP_MANAGE_PCI_REMOVE = "PHYSDEVOP_manage_pci_remove",
        PHYSDEVOP_RESTORE_MSI = "PHYSDEVOP_restore_msi",
        PHYSDEVOP_MANAGE_PCI_ADD_EXT = "PHYSDEVOP_manage_pci_add_ext",
        PHYSDEVOP_SETUP_GSI = "PHYSDEVOP_setup_gsi",
        PHYSDEVOP_GET_FREE_PIRQ = "PHYSDEVOP_get_free_pirq",
        PHYSDEVOP_PCI_MMCFG_RESERVED = "PHYSDEVOP_pci_mmcfg_reserved",
        PHYSDEVOP_PCI_DEVICE_ADD = "PHYSDEVOP_pci_device_add",
        PHYSDEVOP_PCI_DEVICE_REMOVE = "PHYSDEVOP_pci_device_remove",
        PHYSDEVOP_RESTORE_MSI_EXT = "PHYSDEVOP_restore_msi_ext",
        PHYSDEVOP_DBGP_OP = "PHYSDEVOP_dbgp_op",
        PHYSDEVOP_PREPARE_MSIX = "PHYSDEVOP_prepare_msix",
        PHYSDEVOP_RELEASE_MSIX = "PHYSDEVOP_release_msix",
    );
    // sched.rs
    k!(
        m,
        Both,
        SCHEDOP_YIELD = "SCHEDOP_yield",
        SCHEDOP_BLOCK = "SCHEDOP_block",
        SCHEDOP_SHUTDOWN = "SCHEDOP_shutdown",
        SCHEDOP_POLL = "SCHEDOP_poll",
        SCHEDOP_REMOTE_SHUTDOWN = "SCHEDOP_remote_shutdown",
        SCHEDOP_SHUTDOWN_CODE = "SCHEDOP_shutdown_code",
        SCHEDOP_WATCHDOG = "SCHEDOP_watchdog",
        SCHEDOP_PIN_OVERRIDE = "SCHEDOP_pin_override",
        SHUTDOWN_POWEROFF = "SHUTDOWN_poweroff",
        SHUTDOWN_REBOOT = "SHUTDOWN_reboot",
        SHUTDOWN_SUSPEND = "SHUTDOWN_suspend",
        SHUTDOWN_CRASH = "SHUTDOWN_crash",
        SHUTDOWN_WATCHDOG = "SHUTDOWN_watchdog",
        SHUTDOWN_SOFT_RESET = "SHUTDOWN_soft_reset",
        SHUTDOWN_MAX,
    );
    // shared_info.rs
    k!(
        m,
        Both,
        XEN_LEGACY_MAX_VCPUS,
        XEN_PVCLOCK_TSC_STABLE_BIT,
        XEN_PVCLOCK_GUEST_STOPPED,
        RUNSTATE_RUNNING = "RUNSTATE_running",
        RUNSTATE_RUNNABLE = "RUNSTATE_runnable",
        RUNSTATE_BLOCKED = "RUNSTATE_blocked",
        RUNSTATE_OFFLINE = "RUNSTATE_offline",
        XEN_RUNSTATE_UPDATE,
    );
    k!(m, B64, NR_EVENT_CHANNELS_64 = "EVTCHN_2L_NR_CHANNELS");
    k!(m, B64, HYPERVISOR_VIRT_START_64 = "HYPERVISOR_VIRT_START");
    k!(m, B32, NR_EVENT_CHANNELS_32 = "EVTCHN_2L_NR_CHANNELS");
    // start_info.rs
    k!(
        m,
        Both,
        SIF_PRIVILEGED,
        SIF_INITDOMAIN,
        SIF_MULTIBOOT_MOD,
        SIF_MOD_START_PFN,
        SIF_VIRT_P2M_4TOOLS,
        SIF_PM_MASK,
        XEN_HVM_START_MAGIC_VALUE,
        XEN_HVM_MEMMAP_TYPE_RAM,
        XEN_HVM_MEMMAP_TYPE_RESERVED,
        XEN_HVM_MEMMAP_TYPE_ACPI,
        XEN_HVM_MEMMAP_TYPE_NVS,
        XEN_HVM_MEMMAP_TYPE_UNUSABLE,
        XEN_HVM_MEMMAP_TYPE_DISABLED,
        XEN_HVM_MEMMAP_TYPE_PMEM,
    );
    // vcpu.rs
    k!(
        m,
        Both,
        VCPUOP_INITIALISE = "VCPUOP_initialise",
        VCPUOP_UP = "VCPUOP_up",
        VCPUOP_DOWN = "VCPUOP_down",
        VCPUOP_IS_UP = "VCPUOP_is_up",
        VCPUOP_GET_RUNSTATE_INFO = "VCPUOP_get_runstate_info",
        VCPUOP_REGISTER_RUNSTATE_MEMORY_AREA = "VCPUOP_register_runstate_memory_area",
        VCPUOP_SET_PERIODIC_TIMER = "VCPUOP_set_periodic_timer",
        VCPUOP_STOP_PERIODIC_TIMER = "VCPUOP_stop_periodic_timer",
        VCPUOP_SET_SINGLESHOT_TIMER = "VCPUOP_set_singleshot_timer",
        VCPUOP_STOP_SINGLESHOT_TIMER = "VCPUOP_stop_singleshot_timer",
        VCPUOP_REGISTER_VCPU_INFO = "VCPUOP_register_vcpu_info",
        VCPUOP_SEND_NMI = "VCPUOP_send_nmi",
        VCPUOP_GET_PHYSID = "VCPUOP_get_physid",
        VCPUOP_REGISTER_VCPU_TIME_MEMORY_AREA = "VCPUOP_register_vcpu_time_memory_area",
        VCPU_SSHOTTMR_FUTURE = "VCPU_SSHOTTMR_future",
    );
    // version.rs
    k!(
        m,
        Both,
        XENVER_VERSION = "XENVER_version",
        XENVER_EXTRAVERSION = "XENVER_extraversion",
        XENVER_COMPILE_INFO = "XENVER_compile_info",
        XENVER_CAPABILITIES = "XENVER_capabilities",
        XENVER_CHANGESET = "XENVER_changeset",
        XENVER_PLATFORM_PARAMETERS = "XENVER_platform_parameters",
        XENVER_GET_FEATURES = "XENVER_get_features",
        XENVER_PAGESIZE = "XENVER_pagesize",
        XENVER_GUEST_HANDLE = "XENVER_guest_handle",
        XENVER_COMMANDLINE = "XENVER_commandline",
        XENVER_BUILD_ID = "XENVER_build_id",
        XEN_EXTRAVERSION_LEN,
        XEN_CAPABILITIES_INFO_LEN,
        XEN_CHANGESET_INFO_LEN,
        XEN_COMMANDLINE_LEN = "sizeof(xen_commandline_t)",
        XEN_DOMAIN_HANDLE_LEN = "sizeof(xen_domain_handle_t)",
        XENFEAT_NR_SUBMAPS,
        XENFEAT_WRITABLE_PAGE_TABLES = "XENFEAT_writable_page_tables",
        XENFEAT_WRITABLE_DESCRIPTOR_TABLES = "XENFEAT_writable_descriptor_tables",
        XENFEAT_AUTO_TRANSLATED_PHYSMAP = "XENFEAT_auto_translated_physmap",
        XENFEAT_SUPERVISOR_MODE_KERNEL = "XENFEAT_supervisor_mode_kernel",
        XENFEAT_PAE_PGDIR_ABOVE_4GB = "XENFEAT_pae_pgdir_above_4gb",
        XENFEAT_MMU_PT_UPDATE_PRESERVE_AD = "XENFEAT_mmu_pt_update_preserve_ad",
        XENFEAT_HIGHMEM_ASSIST = "XENFEAT_highmem_assist",
        XENFEAT_GNTTAB_MAP_AVAIL_BITS = "XENFEAT_gnttab_map_avail_bits",
        XENFEAT_HVM_CALLBACK_VECTOR = "XENFEAT_hvm_callback_vector",
        XENFEAT_HVM_SAFE_PVCLOCK = "XENFEAT_hvm_safe_pvclock",
        XENFEAT_HVM_PIRQS = "XENFEAT_hvm_pirqs",
        XENFEAT_DOM0 = "XENFEAT_dom0",
        XENFEAT_MEMORY_OP_VNODE_SUPPORTED = "XENFEAT_memory_op_vnode_supported",
        XENFEAT_ARM_SMCCC_SUPPORTED = "XENFEAT_ARM_SMCCC_supported",
        XENFEAT_LINUX_RSDP_UNRESTRICTED = "XENFEAT_linux_rsdp_unrestricted",
        XENFEAT_NOT_DIRECT_MAPPED = "XENFEAT_not_direct_mapped",
        XENFEAT_DIRECT_MAPPED = "XENFEAT_direct_mapped",
    );
    // xenstore.rs (XSD_ERRORS is compared entry by entry in `run`.)
    m.consts.insert("XSD_ERRORS".into());
    k!(
        m,
        Both,
        XENSTORE_RING_SIZE,
        XENSTORE_PAYLOAD_MAX,
        XENSTORE_ABS_PATH_MAX,
        XENSTORE_REL_PATH_MAX,
        XENSTORE_CONNECTED,
        XENSTORE_RECONNECT,
        XENSTORE_SERVER_FEATURE_RECONNECTION,
        XENSTORE_SERVER_FEATURE_ERROR,
        XENSTORE_ERROR_NONE,
        XENSTORE_ERROR_COMM,
        XENSTORE_ERROR_RINGIDX,
        XENSTORE_ERROR_PROTO,
        XS_CONTROL,
        XS_DIRECTORY,
        XS_READ,
        XS_GET_PERMS,
        XS_WATCH,
        XS_UNWATCH,
        XS_TRANSACTION_START,
        XS_TRANSACTION_END,
        XS_INTRODUCE,
        XS_RELEASE,
        XS_GET_DOMAIN_PATH,
        XS_WRITE,
        XS_MKDIR,
        XS_RM,
        XS_SET_PERMS,
        XS_WATCH_EVENT,
        XS_ERROR,
        XS_IS_DOMAIN_INTRODUCED,
        XS_RESUME,
        XS_SET_TARGET,
        XS_RESET_WATCHES,
        XS_DIRECTORY_PART,
        XS_TYPE_COUNT,
        XS_INVALID,
        XS_WATCH_PATH,
        XS_WATCH_TOKEN,
    );
}

/// What `src/*.rs` declares.
#[derive(Default)]
struct Declared {
    structs: BTreeMap<String, BTreeSet<String>>,
    types: BTreeSet<String>,
    consts: BTreeSet<String>,
}

fn declared() -> Declared {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut d = Declared::default();
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "rs"))
        .collect();
    files.sort();
    for f in files {
        let text = std::fs::read_to_string(&f).unwrap();
        let lines: Vec<&str> = text.lines().collect();
        let mut i = 0;
        while i < lines.len() {
            let l = lines[i];
            let word = |prefix: &str| -> Option<String> {
                let rest = l.strip_prefix(prefix)?;
                let name: String = rest
                    .chars()
                    .take_while(|c| c.is_alphanumeric() || *c == '_')
                    .collect();
                (!name.is_empty()).then_some(name)
            };
            if let Some(name) = word("pub const ") {
                if name != "fn" {
                    d.consts.insert(name);
                }
            } else if let Some(name) = word("pub type ") {
                d.types.insert(name);
            } else if let Some(name) = word("pub struct ").or_else(|| word("pub union ")) {
                let repr_c = lines[i.saturating_sub(6)..i]
                    .iter()
                    .any(|p| p.starts_with("#[repr(C"));
                let mut fields = BTreeSet::new();
                if l.ends_with('{') {
                    i += 1;
                    while i < lines.len() && !lines[i].starts_with('}') {
                        if let Some(rest) = lines[i].trim_start().strip_prefix("pub ") {
                            if let Some((f, _)) = rest.split_once(':') {
                                fields.insert(f.trim().to_string());
                            }
                        }
                        i += 1;
                    }
                }
                if repr_c {
                    d.structs.insert(name, fields);
                }
            }
            i += 1;
        }
    }
    d
}

#[test]
fn every_item_is_checked_against_the_headers() {
    let m = model();
    assert!(m.errors.is_empty(), "implicit padding: {:#?}", m.errors);
    let d = declared();
    let excluded: BTreeSet<&str> = EXCLUDED.iter().map(|e| e.0).collect();
    let mut missing = Vec::new();
    for c in &d.consts {
        if !m.consts.contains(c) && !excluded.contains(c.as_str()) {
            missing.push(format!("const {c}"));
        }
    }
    for t in &d.types {
        if !m.types.contains(t) && !excluded.contains(t.as_str()) {
            missing.push(format!("type {t}"));
        }
    }
    for (s, fields) in &d.structs {
        if excluded.contains(s.as_str()) {
            continue;
        }
        match m.structs.get(s) {
            None => missing.push(format!("struct {s}")),
            Some(listed) if listed != fields => missing.push(format!(
                "struct {s}: fields {fields:?} in the source, {listed:?} in the list"
            )),
            Some(_) => {}
        }
    }
    for e in &excluded {
        let known = d.consts.contains(*e) || d.types.contains(*e) || d.structs.contains_key(*e);
        if !known {
            missing.push(format!("stale exclusion {e}"));
        }
    }
    assert!(
        missing.is_empty(),
        "items of src/*.rs not checked against the Xen headers (add them to \
         tests/headers.rs, or to EXCLUDED with a reason): {missing:#?}"
    );
    // Sanity: the parser sees what it should.
    assert!(d.structs.contains_key("SharedInfo64") && d.consts.contains("EVTCHNOP_SEND"));
    assert!(d.structs["VcpuInfo64"].contains("evtchn_pending_sel"));
}

const HEADERS: &str = "\
#include <stdio.h>
#include <stddef.h>
#include <stdint.h>
#include <errno.h>
#include <xen/xen.h>
#include <xen/errno.h>
#include <xen/event_channel.h>
#include <xen/grant_table.h>
#include <xen/memory.h>
#include <xen/sched.h>
#include <xen/vcpu.h>
#include <xen/version.h>
#include <xen/features.h>
#include <xen/physdev.h>
#include <xen/elfnote.h>
#include <xen/hvm/hvm_op.h>
#include <xen/hvm/params.h>
#include <xen/hvm/hvm_vcpu.h>
#include <xen/arch-x86/cpuid.h>
#include <xen/arch-x86/hvm/start_info.h>
#include <xen/io/ring.h>
#include <xen/io/console.h>
#include <xen/io/xs_wire.h>
";

const TOOLS_HEADERS: &str = "\
#include <stdio.h>
#include <stddef.h>
#include <stdint.h>
#include <xen/xen.h>
#include <xen/memory.h>
#include <xen/hvm/params.h>
#include <xen/sysctl.h>
#include <xen/domctl.h>
";

/// Requires the headers (a CI run, or `XEN_ON_KVM_REQUIRE_KVM=1`): fail, don't skip.
fn required() -> bool {
    std::env::var_os("CI").is_some()
        || std::env::var("XEN_ON_KVM_REQUIRE_KVM").is_ok_and(|v| v == "1")
}

fn work_dir() -> PathBuf {
    let d = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("xen-abi-headers");
    std::fs::create_dir_all(&d).unwrap();
    d
}

/// Compiles `src` with `flags` and runs it; `Err` with the compiler's message.
fn compile_and_run(name: &str, src: &str, flags: &[&str]) -> Result<String, String> {
    let dir = work_dir();
    let c = dir.join(format!("{name}.c"));
    let exe = dir.join(name);
    std::fs::write(&c, src).unwrap();
    let out = Command::new("cc")
        .args(flags)
        .arg("-std=gnu11")
        .arg("-D__XEN_INTERFACE_VERSION__=__XEN_LATEST_INTERFACE_VERSION__")
        .arg("-o")
        .arg(&exe)
        .arg(&c)
        .output()
        .map_err(|e| format!("cannot run cc: {e}"))?;
    if !out.status.success() {
        return Err(format!(
            "cc {flags:?} {}: {}",
            c.display(),
            String::from_utf8_lossy(&out.stderr)
        ));
    }
    let run = Command::new(&exe)
        .output()
        .map_err(|e| format!("cannot run {}: {e}", exe.display()))?;
    assert!(run.status.success(), "{} failed", exe.display());
    Ok(String::from_utf8(run.stdout).unwrap())
}

/// Whether `cc` can build a program against the headers with `flags` (the toolchain and
/// headers exist); `Err` says what is missing.
fn toolchain(flags: &[&str]) -> Result<(), String> {
    compile_and_run(
        &format!("probe{}", flags.join("")),
        "#include <stdint.h>\n#include <xen/xen.h>\nint main(void) { return 0; }\n",
        flags,
    )
    .map(|_| ())
}

fn program(m: &Model, w: W, view: View) -> (String, Vec<usize>) {
    let mut src = String::from(match view {
        View::Guest => HEADERS,
        View::Tools => TOOLS_HEADERS,
    });
    src.push_str("int main(void) {\n");
    let mut idx = Vec::new();
    for (i, c) in m.checks.iter().enumerate() {
        if c.view != view || !(c.width == W::Both || c.width == w) {
            continue;
        }
        idx.push(i);
        src.push_str(&format!(
            "    printf(\"{i} %lld %llu\\n\", (long long)({e}), (unsigned long long)({e}));\n",
            e = c.c_expr
        ));
    }
    if view == View::Guest {
        src.push_str(
            "    printf(\"xsd_errors %u\\n\", (unsigned)(sizeof(xsd_errors) / sizeof(xsd_errors[0])));\n\
             for (unsigned i = 0; i < sizeof(xsd_errors) / sizeof(xsd_errors[0]); i++)\n\
             \x20       printf(\"xsd_error %u %d %s\\n\", i, xsd_errors[i].errnum, xsd_errors[i].errstring);\n",
        );
    }
    src.push_str("    return 0;\n}\n");
    (src, idx)
}

fn compare(m: &Model, w: W, out: &str, wanted: &[usize], bad: &mut Vec<String>) -> usize {
    let mut seen = BTreeSet::new();
    let mut xsd = Vec::new();
    for line in out.lines() {
        let parts: Vec<&str> = line.split(' ').collect();
        match parts[0] {
            "xsd_errors" => {
                let n: usize = parts[1].parse().unwrap();
                if n != XSD_ERRORS.len() {
                    bad.push(format!(
                        "{w:?}: xsd_errors has {n} entries, XSD_ERRORS {}",
                        XSD_ERRORS.len()
                    ));
                }
            }
            "xsd_error" => xsd.push((parts[2].parse::<i32>().unwrap(), parts[3].to_string())),
            i => {
                let i: usize = i.parse().unwrap();
                let c = &m.checks[i];
                let signed: i128 = parts[1].parse().unwrap();
                let unsigned: i128 = parts[2].parse().unwrap();
                let theirs = if c.rust < 0 { signed } else { unsigned };
                if theirs != c.rust {
                    bad.push(format!(
                        "{w:?}: {}: ours {} ({:#x}), headers {} ({:#x}) [{}]",
                        c.label, c.rust, c.rust, theirs, theirs, c.c_expr
                    ));
                }
                seen.insert(i);
            }
        }
    }
    for (i, (ours, theirs)) in XSD_ERRORS.iter().zip(&xsd).enumerate() {
        if ours.0 != theirs.0 || ours.1 != theirs.1 {
            bad.push(format!(
                "{w:?}: XSD_ERRORS[{i}]: ours {ours:?}, headers {theirs:?}"
            ));
        }
    }
    for i in wanted {
        assert!(seen.contains(i), "no output for {}", m.checks[*i].label);
    }
    seen.len()
}

#[test]
fn layouts_and_values_match_the_xen_headers() {
    let m = model();
    for flag in ["-m64", "-m32"] {
        if let Err(e) = toolchain(&[flag]) {
            let msg = format!(
                "Xen public headers or the {flag} C toolchain are missing ({e}); install \
                 libxen-dev and gcc-multilib (apt-get install libxen-dev gcc-multilib)"
            );
            if required() {
                panic!("{msg}");
            }
            eprintln!("SKIPPED: {msg}");
            return;
        }
    }
    let mut bad = Vec::new();
    let mut total = 0;
    for (flag, w) in [("-m64", W::B64), ("-m32", W::B32)] {
        for (view, extra) in [(View::Guest, None), (View::Tools, Some("-D__XEN_TOOLS__"))] {
            let (src, idx) = program(&m, w, view);
            let mut flags = vec![flag];
            flags.extend(extra);
            let name = format!("layout{flag}-{view:?}");
            let out = compile_and_run(&name, &src, &flags).unwrap_or_else(|e| panic!("{e}"));
            total += compare(&m, w, &out, &idx, &mut bad);
        }
    }
    assert!(
        bad.is_empty(),
        "xen-abi differs from the Xen headers: {bad:#?}"
    );
    // Every check ran at least once (Both ones twice).
    assert!(
        total >= m.checks.len(),
        "{total} results for {} checks",
        m.checks.len()
    );
}
