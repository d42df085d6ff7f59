// SPDX-License-Identifier: Apache-2.0 OR BSD-3-Clause
//! Which HVM params a guest may set or get for itself, and the values it may
//! set: Xen's policy (`hvm_allow_set_param` / `hvm_allow_get_param`,
//! `hvm_set_param`) for a domain acting on itself. Indices are already below
//! `HVM_NR_PARAMS` (the decoder refuses the others with -EINVAL).

use xen_abi::{
    HVM_PARAM_CALLBACK_IRQ, HVM_PARAM_CONSOLE_EVTCHN, HVM_PARAM_CONSOLE_PFN, HVM_PARAM_PAE_ENABLED,
    HVM_PARAM_STORE_EVTCHN, HVM_PARAM_STORE_PFN, HVM_PARAM_VM86_TSS,
};
use xen_hypercall::{Errno, XenResult};

/// `HVM_PARAM_DM_DOMAIN` (deprecated).
pub const HVM_PARAM_DM_DOMAIN: u32 = 13;
/// `HVM_PARAM_ACPI_IOPORTS_LOCATION`: PM timer / PM1a port layout.
pub const HVM_PARAM_ACPI_IOPORTS_LOCATION: u32 = 19;
/// `HVM_PARAM_MEMORY_EVENT_CR0` .. `_SINGLE_STEP` are 20..=25 (deprecated).
pub const HVM_PARAM_MEMORY_EVENT_CR0: u32 = 20;
/// `HVM_PARAM_MEMORY_EVENT_SINGLE_STEP` (deprecated).
pub const HVM_PARAM_MEMORY_EVENT_SINGLE_STEP: u32 = 25;
/// `HVM_PARAM_BUFIOREQ_EVTCHN` (deprecated).
pub const HVM_PARAM_BUFIOREQ_EVTCHN: u32 = 26;
/// `HVM_PARAM_MEMORY_EVENT_MSR` (deprecated).
pub const HVM_PARAM_MEMORY_EVENT_MSR: u32 = 30;
/// `HVM_PARAM_VM_GENERATION_ID_ADDR`.
pub const HVM_PARAM_VM_GENERATION_ID_ADDR: u32 = 34;
/// `HVM_PARAM_ALTP2M` (read-only for the guest).
pub const HVM_PARAM_ALTP2M: u32 = 35;
/// `HVM_PARAM_X87_FIP_WIDTH`: 0, 4 or 8.
pub const HVM_PARAM_X87_FIP_WIDTH: u32 = 36;
/// `HVM_PARAM_VM86_TSS_SIZED`: size in bits 63..32, address in 31..0.
pub const HVM_PARAM_VM86_TSS_SIZED: u32 = 37;

/// Bytes of a 32-bit TSS: the smallest `HVM_PARAM_VM86_TSS_SIZED` size.
const TSS32_BYTES: u64 = 104;
/// Largest useful vm86 TSS: the TSS, the interrupt redirection bitmap, the
/// I/O bitmap and its closing byte (larger sizes are capped to it, as Xen).
const VM86_TSS_MAX_BYTES: u64 = TSS32_BYTES + 0x100 / 8 + 0x10000 / 8 + 1;
/// Size Xen gives a vm86 TSS set with the unsized `HVM_PARAM_VM86_TSS`.
const VM86_TSS_LEGACY_BYTES: u64 = 128;

fn deprecated(index: u32) -> bool {
    matches!(
        index,
        HVM_PARAM_PAE_ENABLED | HVM_PARAM_DM_DOMAIN | HVM_PARAM_MEMORY_EVENT_CR0
            ..=HVM_PARAM_MEMORY_EVENT_SINGLE_STEP
                | HVM_PARAM_BUFIOREQ_EVTCHN
                | HVM_PARAM_MEMORY_EVENT_MSR
    )
}

/// Whether the guest may set param `index` for itself: the few it owns are
/// allowed, `ALTP2M` is read-only (-EEXIST), deprecated ones are -EINVAL and
/// the rest (the toolstack's: store / console pfn, ioreq pages, `IDENT_PT`,
/// `ACPI_S_STATE`, ...) -EPERM.
pub fn guest_may_set(index: u32) -> XenResult<()> {
    match index {
        HVM_PARAM_CALLBACK_IRQ
        | HVM_PARAM_VM86_TSS
        | HVM_PARAM_VM86_TSS_SIZED
        | HVM_PARAM_ACPI_IOPORTS_LOCATION
        | HVM_PARAM_VM_GENERATION_ID_ADDR
        | HVM_PARAM_STORE_EVTCHN
        | HVM_PARAM_CONSOLE_EVTCHN
        | HVM_PARAM_X87_FIP_WIDTH => Ok(()),
        HVM_PARAM_ALTP2M => Err(Errno::EEXIST),
        i if deprecated(i) => Err(Errno::EINVAL),
        _ => Err(Errno::EPERM),
    }
}

/// Whether the guest may read param `index` of its own: what it may set,
/// plus the store / console pfns and `ALTP2M`; deprecated ones are -EINVAL,
/// the rest -EPERM.
pub fn guest_may_get(index: u32) -> XenResult<()> {
    match index {
        HVM_PARAM_STORE_PFN | HVM_PARAM_CONSOLE_PFN | HVM_PARAM_ALTP2M => Ok(()),
        _ => guest_may_set(index),
    }
}

/// The (index, value) to store for a param the guest may set (after
/// [`guest_may_set`]), other than the callback and the event-channel params,
/// or the Xen errno for a bad value.
pub fn checked_value(index: u32, value: u64) -> XenResult<(u32, u64)> {
    match index {
        HVM_PARAM_X87_FIP_WIDTH if !matches!(value, 0 | 4 | 8) => Err(Errno::EINVAL),
        // Xen also crashes a guest that sets these badly for itself.
        HVM_PARAM_VM86_TSS if value > u64::from(u32::MAX) => Err(Errno::EINVAL),
        HVM_PARAM_VM86_TSS if value == 0 => Ok((HVM_PARAM_VM86_TSS_SIZED, 0)),
        HVM_PARAM_VM86_TSS => Ok((
            HVM_PARAM_VM86_TSS_SIZED,
            (VM86_TSS_LEGACY_BYTES << 32) | value,
        )),
        HVM_PARAM_VM86_TSS_SIZED => {
            let size = value >> 32;
            if size < TSS32_BYTES {
                return Err(Errno::EINVAL);
            }
            Ok((
                index,
                (size.min(VM86_TSS_MAX_BYTES) << 32) | (value & 0xffff_ffff),
            ))
        }
        // No emulated ACPI PM timer to move (Xen: a domain without one).
        HVM_PARAM_ACPI_IOPORTS_LOCATION => Err(Errno(xen_abi::errno::ENODEV)),
        _ => Ok((index, value)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn guest_set_policy_follows_xen() {
        for ok in [0u32, 2, 15, 18, 19, 34, 36, 37] {
            assert_eq!(guest_may_set(ok), Ok(()), "param {ok}");
        }
        assert_eq!(guest_may_set(HVM_PARAM_ALTP2M), Err(Errno::EEXIST));
        for dep in [4u32, 13, 20, 21, 22, 23, 24, 25, 26, 30] {
            assert_eq!(guest_may_set(dep), Err(Errno::EINVAL), "param {dep}");
        }
        for denied in [1u32, 3, 5, 6, 9, 10, 11, 12, 14, 16, 17, 27, 31, 32, 33, 38] {
            assert_eq!(guest_may_set(denied), Err(Errno::EPERM), "param {denied}");
        }
    }

    #[test]
    fn guest_get_policy_follows_xen() {
        for ok in [0u32, 1, 2, 15, 17, 18, 19, 34, 35, 36, 37] {
            assert_eq!(guest_may_get(ok), Ok(()), "param {ok}");
        }
        for dep in [4u32, 13, 20, 25, 26, 30] {
            assert_eq!(guest_may_get(dep), Err(Errno::EINVAL), "param {dep}");
        }
        for denied in [5u32, 6, 9, 10, 12, 14, 16, 31, 38] {
            assert_eq!(guest_may_get(denied), Err(Errno::EPERM), "param {denied}");
        }
    }

    #[test]
    fn values_are_checked() {
        assert_eq!(checked_value(36, 8), Ok((36, 8)));
        assert_eq!(checked_value(36, 5), Err(Errno::EINVAL));
        assert_eq!(checked_value(15, 1 << 32), Err(Errno::EINVAL));
        assert_eq!(checked_value(15, 0x1000), Ok((37, (128 << 32) | 0x1000)));
        assert_eq!(checked_value(15, 0), Ok((37, 0)));
        assert_eq!(checked_value(37, (103 << 32) | 1), Err(Errno::EINVAL));
        assert_eq!(
            checked_value(37, (100_000 << 32) | 0x2000),
            Ok((37, (8329 << 32) | 0x2000))
        );
        assert_eq!(checked_value(19, 1), Err(Errno(19)));
        assert_eq!(checked_value(34, 0x1234_5000), Ok((34, 0x1234_5000)));
    }
}
