// SPDX-License-Identifier: Apache-2.0 OR BSD-3-Clause
//! vCPU runstate accounting (`vcpu_runstate_info`): the VMM's vCPU loop reports
//! its state changes (running when it enters `KVM_RUN` after a wait, blocked
//! while parked in HLT / `SCHEDOP_block` / `SCHEDOP_poll`, runnable once
//! woken); the time spent in the state it leaves is added to `time[]` and, if
//! the guest registered a runstate area
//! (`VCPUOP_register_runstate_memory_area`), the area is rewritten through
//! xen-shinfo-cache (with `XEN_RUNSTATE_UPDATE` set during the write when the
//! guest enabled it, else the plain protocol: `state_entry_time` written last).
//!
//! Times are Xen system time ([`crate::XenPlatform::system_time_ns`]), so
//! `state_entry_time` never goes backwards and `time[]` only grows
//! (saturating).

use vm_lock::{Level, LockAfter, MemRead, MemReadGuard, Token, XenLock};
use vm_memory::GuestMemoryMmap;
use xen_shinfo_cache::Runstate;

use crate::platform::XenPlatform;

/// Records that vCPU `vcpu` is now in `state` (`RUNSTATE_*`) and updates its
/// runstate area; opens its own read section. Returns the `SHUTDOWN_*`
/// reason when `state` is `RUNSTATE_offline` for the last vCPU up (see
/// [`set_runstate_in`]).
pub fn set_runstate<P: Level>(
    shared: &XenPlatform,
    token: &mut Token<'_, P>,
    vcpu: u32,
    state: u32,
) -> Option<u32>
where
    MemRead: LockAfter<P>,
{
    let (mem, mut t) = shared.memory().read(token);
    set_runstate_in(shared, &mut t, &mem, vcpu, state)
}

/// [`set_runstate`] inside the caller's read section (`mem`, `token`).
///
/// `RUNSTATE_offline` is the VMM reporting the vCPU gone (HLT with interrupts
/// disabled, Xen's `hvm_vcpu_down`): it is down, as after `VCPUOP_down`;
/// but, as there, the last vCPU up is not taken down: the domain shuts down
/// instead, and the reason is returned (poweroff, unless the guest gave a
/// shutdown code before). A domain therefore never has no vCPU up, which a
/// restore would refuse.
pub fn set_runstate_in<P: Level>(
    shared: &XenPlatform,
    token: &mut Token<'_, P>,
    mem: &MemReadGuard<'_, GuestMemoryMmap>,
    vcpu: u32,
    state: u32,
) -> Option<u32>
where
    XenLock: LockAfter<P>,
{
    let now = shared.system_time_ns();
    let (mut xen, mut t) = shared.xen_state().lock(token);
    let others_up = xen
        .vcpus
        .iter()
        .enumerate()
        .any(|(i, v)| i != vcpu as usize && v.up);
    let x = xen.vcpus.get_mut(vcpu as usize)?;
    // A vCPU that is down stays offline whatever its thread reports (e.g. it
    // was taken down while it waited); `VCPUOP_up` moves it on.
    if x.runstate.state as u32 == state || !x.up {
        return None;
    }
    if state == xen_abi::RUNSTATE_OFFLINE {
        if !others_up {
            return Some(*xen.shutdown.get_or_insert(xen_abi::SHUTDOWN_POWEROFF));
        }
        x.up = false;
    }
    advance(&mut x.runstate, state, now);
    let rs = x.runstate;
    if let Err(e) = shared.pages().update_runstate(&mut t, mem, vcpu, &rs) {
        log::debug!("vCPU {vcpu}: runstate area: {e}");
    }
    None
}

/// Moves `rs` into `state` at system time `now`: the time since the last
/// change goes to the state left.
pub fn advance(rs: &mut Runstate, state: u32, now: u64) {
    let now = now.max(rs.state_entry_time);
    let left = (rs.state as u32).min(3) as usize;
    rs.time[left] = rs.time[left].saturating_add(now - rs.state_entry_time);
    rs.state = state.min(3) as i32;
    rs.state_entry_time = now;
}

#[cfg(test)]
mod tests {
    use super::advance;
    use xen_abi::{RUNSTATE_BLOCKED, RUNSTATE_RUNNABLE, RUNSTATE_RUNNING};
    use xen_shinfo_cache::Runstate;

    #[test]
    fn time_goes_to_the_state_left_and_never_backwards() {
        let mut rs = Runstate::default();
        advance(&mut rs, RUNSTATE_BLOCKED, 100);
        assert_eq!(
            (rs.state, rs.state_entry_time, rs.time),
            (2, 100, [100, 0, 0, 0])
        );
        advance(&mut rs, RUNSTATE_RUNNABLE, 350);
        advance(&mut rs, RUNSTATE_RUNNING, 360);
        assert_eq!(rs.time, [100, 10, 250, 0]);
        // A clock going backwards adds nothing and keeps the entry time.
        advance(&mut rs, RUNSTATE_BLOCKED, 5);
        assert_eq!((rs.state_entry_time, rs.time), (360, [100, 10, 250, 0]));
        // Saturates instead of overflowing; an out-of-range state is clamped.
        rs.time[2] = u64::MAX - 1;
        advance(&mut rs, 99, u64::MAX);
        assert_eq!(rs.time[2], u64::MAX);
        assert_eq!(rs.state, 3);
    }
}
