// SPDX-License-Identifier: Apache-2.0 OR BSD-3-Clause
//! Xen time as a guest reads it: the pvclock (`vcpu_time_info`: a TSC
//! reading, the Xen system time at that reading and the TSC-to-ns scale),
//! the wall clock in `shared_info` (Unix time at Xen system time 0), and
//! the values of the CPUID time leaf `0x4000_0003`.
//!
//! The platform writes a vCPU's pvclock (both copies: `vcpu_info.time` and
//! the area of `VCPUOP_register_vcpu_time_memory_area`) when Xen would
//! update it: when the guest places vcpu_info, the time area or
//! shared_info, when it arms its single-shot timer (`set_timer_op`,
//! `VCPUOP_set_singleshot_timer`), and when the VMM says the vCPU starts,
//! wakes from `SCHEDOP_block` / `SCHEDOP_poll` / HLT or was restored
//! ([`crate::XenPlatform::update_vcpu_time`]). Each write follows the
//! version protocol (odd while writing, even after). The wall clock is
//! written with the `wc_version` protocol, `wc_sec_hi` included, when
//! shared_info is placed and after a restore (system time then continues
//! from the saved instant, so the wall clock is moved to keep
//! `wall clock + system time` equal to the host's time).

use xen_shinfo_cache::PvclockTime;

use crate::host::TscReading;

/// `tsc_to_system_mul` and `tsc_shift` for a TSC of `khz` kHz, as Xen's
/// `set_time_scale`: the rate is shifted into (1 GHz, 2 GHz] and `mul` is
/// 10^9 / that rate as a 0.32 fixed-point fraction, so `mul` lies in
/// [2^31, 2^32). A guest converts `delta` ticks with
/// `((delta << shift) * mul) >> 32` (`>> -shift` for a negative shift),
/// see [`pvclock_delta_ns`]. `khz` 0 is taken as 1.
pub fn pvclock_scale(khz: u64) -> (u32, i8) {
    let mut hz = u128::from(khz.max(1)) * 1000;
    let mut shift = 0i8;
    while hz > 2_000_000_000 {
        hz >>= 1;
        shift -= 1;
    }
    while hz <= 1_000_000_000 {
        hz <<= 1;
        shift += 1;
    }
    let mul = (1_000_000_000u128 << 32) / hz;
    (mul as u32, shift)
}

/// Nanoseconds of `delta` TSC ticks with a pvclock scale, as a guest
/// computes them (wrapping as the guest's 64-bit arithmetic does).
pub fn pvclock_delta_ns(delta: u64, mul: u32, shift: i8) -> u64 {
    let d = if shift >= 0 {
        delta.wrapping_shl(u32::from(shift.unsigned_abs()))
    } else {
        delta
            .checked_shr(u32::from(shift.unsigned_abs()))
            .unwrap_or(0)
    };
    ((u128::from(d) * u128::from(mul)) >> 32) as u64
}

/// The pvclock record for a TSC `reading` taken at Xen system time
/// `system_time_ns`; `stable`: the TSC is invariant and synchronised across
/// vCPUs (sets `XEN_PVCLOCK_TSC_STABLE_BIT`).
pub fn pvclock_time(reading: TscReading, system_time_ns: u64, stable: bool) -> PvclockTime {
    let (mul, shift) = pvclock_scale(u64::from(reading.khz));
    PvclockTime {
        tsc_timestamp: reading.tsc,
        system_time: system_time_ns,
        tsc_to_system_mul: mul,
        tsc_shift: shift,
        flags: if stable {
            xen_abi::XEN_PVCLOCK_TSC_STABLE_BIT
        } else {
            0
        },
    }
}

/// The wall clock Xen publishes (`wc_sec` with `wc_sec_hi`, `wc_nsec`): the
/// Unix time at Xen system time 0, from the Unix time `unix_ns` at system
/// time `system_time_ns` (0 if the system time is ahead of it).
pub fn wallclock_base(unix_ns: u128, system_time_ns: u64) -> (u64, u32) {
    let base = unix_ns.saturating_sub(u128::from(system_time_ns));
    (
        u64::try_from(base / 1_000_000_000).unwrap_or(u64::MAX),
        (base % 1_000_000_000) as u32,
    )
}

/// The host's Unix time in ns (0 before 1970).
pub(crate) fn unix_now_ns() -> u128 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Xen's own computation (`set_time_scale`), as the reference.
    fn xen_scale(khz: u64) -> (u32, i8) {
        let mut tps64 = khz * 1000;
        let mut shift = 0i8;
        while tps64 > 2_000_000_000 {
            tps64 >>= 1;
            shift -= 1;
        }
        let mut tps32 = tps64 as u32;
        while tps32 <= 1_000_000_000 {
            tps32 <<= 1;
            shift += 1;
        }
        (((1_000_000_000u64 << 32) / u64::from(tps32)) as u32, shift)
    }

    #[test]
    fn scale_is_xens_and_converts_ticks_to_ns() {
        for khz in [
            1u64,
            1_000,
            100_000,
            500_000,
            999_999,
            1_000_000,
            1_000_001,
            2_000_000,
            2_000_001,
            2_494_222,
            3_000_000,
            4_200_000,
            10_000_000,
            u64::from(u32::MAX),
        ] {
            let (mul, shift) = pvclock_scale(khz);
            assert_eq!((mul, shift), xen_scale(khz), "{khz} kHz");
            assert!(mul >= 1 << 31, "{khz} kHz: mul {mul:#x} not normalised");
            // One second and one hour of ticks: within 1 ppm.
            for secs in [1u64, 3600] {
                let ns = pvclock_delta_ns(khz * 1000 * secs, mul, shift);
                let want = secs * 1_000_000_000;
                assert!(
                    ns.abs_diff(want) <= want / 1_000_000 + 1,
                    "{khz} kHz, {secs} s: {ns} ns"
                );
            }
        }
        assert_eq!(pvclock_scale(0), pvclock_scale(1));
    }

    #[test]
    fn delta_conversion_never_overflows() {
        for shift in [-32i8, -1, 0, 1, 31, 63, 64, 127, -128] {
            let _ = pvclock_delta_ns(u64::MAX, u32::MAX, shift);
        }
        assert_eq!(pvclock_delta_ns(1 << 20, 1 << 31, -1), 1 << 18);
        assert_eq!(pvclock_delta_ns(1 << 20, 1 << 31, 1), 1 << 20);
    }

    #[test]
    fn stable_bit_only_when_stable() {
        let r = TscReading {
            tsc: 1234,
            khz: 2_000_000,
        };
        let t = pvclock_time(r, 99, true);
        assert_eq!(t.flags, xen_abi::XEN_PVCLOCK_TSC_STABLE_BIT);
        assert_eq!((t.tsc_timestamp, t.system_time), (1234, 99));
        assert_eq!((t.tsc_to_system_mul, t.tsc_shift), pvclock_scale(2_000_000));
        assert_eq!(pvclock_time(r, 99, false).flags, 0);
    }

    #[test]
    fn wallclock_is_unix_time_at_system_time_zero() {
        let unix = 1_700_000_000_123_456_789u128;
        assert_eq!(
            wallclock_base(unix, 3_000_000_001),
            (1_699_999_997, 123_456_788)
        );
        // Past 2106: the seconds need wc_sec_hi.
        let (s, _) = wallclock_base(u128::from(u64::MAX) * 2, 0);
        assert!(s > u64::from(u32::MAX));
        assert_eq!(wallclock_base(5, 10), (0, 0));
    }
}
