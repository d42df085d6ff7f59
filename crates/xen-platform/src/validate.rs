// SPDX-License-Identifier: Apache-2.0 OR BSD-3-Clause
//! The checks [`XenPlatform::restore`](crate::XenPlatform::restore) applies
//! to a saved [`PlatformState`] before it builds anything: a state is
//! accepted only if a running platform configured as the target could have
//! reached it, judged with the rules the hypercalls apply:
//!
//! * every page the state points at is backed by guest memory (which the
//!   VMM loaded before the restore): shared_info, each vcpu_info (64 bytes
//!   inside one page), time area (one page), runstate area (both ends), the
//!   console and xenstore ring pages, the grant frames;
//! * the platform's mirrors agree with the crates' states (shared_info and
//!   vcpu_info placement, per-vCPU upcall vectors, grant frames, the guest
//!   width the page caches were given, the domain id);
//! * timers within the hypercalls' bounds: a period in
//!   [`MIN_PERIOD_NS`]..=[`MAX_PERIOD_NS`], its next expiry at most one
//!   period ahead, a single-shot deadline at most
//!   [`MAX_SINGLESHOT_AHEAD_NS`] after the saved system time; runstates in
//!   range and entered no later than the saved system time;
//! * table sizes as configured (vCPUs, HVM params, grant frames) and HVM
//!   params with values the guest (or the platform) could have stored;
//! * the ring pages where the configuration puts them;
//! * FIFO event channels as `EVTCHNOP_init_control` / `expand_array` /
//!   `set_priority` leave them: one control block per vCPU at most, each
//!   8-byte aligned inside its page and backed, at least one (the switch
//!   registers one), event-array pages backed and at most
//!   [`xen_evtchn::MAX_EVENT_ARRAY_PAGES`], priorities up to
//!   `EVTCHN_FIFO_PRIORITY_MIN`, queue tails and saved ports within the
//!   ports the array covers, port lists ascending, no 2-level deferred
//!   ports left.
//!
//! The devices' own limits (xenstore partial request and pending replies,
//! console input) are checked by their `from_state`. Each error names the
//! field.

use vm_memory::{GuestAddress, GuestMemoryBackend, GuestMemoryMmap};
use xen_shinfo_cache::{GuestWidth, WidthLayout};

use crate::error::{Error, Result};
use crate::memory::PAGE_SIZE;
use crate::platform::PlatformConfig;
use crate::snapshot::PlatformState;
use crate::timers::{MAX_PERIOD_NS, MAX_SINGLESHOT_AHEAD_NS, MIN_PERIOD_NS};

/// Bytes of a `vcpu_info`.
const VCPU_INFO_SIZE: u64 = 64;
/// Bytes of a `vcpu_time_info`.
const TIME_INFO_SIZE: u64 = 32;

fn refuse(field: &str, why: impl std::fmt::Display) -> Error {
    Error::Config(format!("saved state: {field}: {why}"))
}

/// `len` bytes at `gpa` all in guest memory, in one piece.
fn backed(mem: &GuestMemoryMmap, gpa: u64, len: u64) -> bool {
    usize::try_from(len).is_ok_and(|l| mem.get_slice(GuestAddress(gpa), l).is_ok())
}

/// Both ends of `len` bytes at `gpa` in guest memory (the rule of a
/// registered area, which may span two adjacent pages).
fn ends_backed(mem: &GuestMemoryMmap, gpa: u64, len: u64) -> bool {
    let Some(last) = len.checked_sub(1).and_then(|l| gpa.checked_add(l)) else {
        return false;
    };
    mem.address_in_range(GuestAddress(gpa)) && mem.address_in_range(GuestAddress(last))
}

/// A page-aligned page at `gpa`, all in guest memory.
fn check_page(mem: &GuestMemoryMmap, field: &str, gpa: u64) -> Result<()> {
    if gpa % PAGE_SIZE != 0 {
        return Err(refuse(field, format!("{gpa:#x} is not page aligned")));
    }
    if !backed(mem, gpa, PAGE_SIZE) {
        return Err(refuse(
            field,
            format!("page {gpa:#x} is not backed by guest memory"),
        ));
    }
    Ok(())
}

/// A ring page: where the configuration put it, and backed.
fn check_ring(mem: &GuestMemoryMmap, field: &str, gfn: u64, configured: u64) -> Result<()> {
    if gfn != configured {
        return Err(refuse(
            field,
            format!("ring at gfn {gfn:#x}, the platform puts it at {configured:#x}"),
        ));
    }
    let gpa = gfn
        .checked_mul(PAGE_SIZE)
        .ok_or_else(|| refuse(field, format!("gfn {gfn:#x} out of range")))?;
    check_page(mem, field, gpa)
}

/// The FIFO event-channel state of `n` vCPUs (see the module documentation).
fn check_fifo(
    mem: &GuestMemoryMmap,
    n: usize,
    f: &xen_evtchn::FifoState,
    deferred: bool,
) -> Result<()> {
    use xen_abi::{EVTCHN_FIFO_NR_CHANNELS, EVTCHN_FIFO_PRIORITY_MIN};
    use xen_evtchn::{EVENT_WORDS_PER_PAGE, MAX_EVENT_ARRAY_PAGES};
    const CB_SIZE: u64 = std::mem::size_of::<xen_abi::EvtchnFifoControlBlock>() as u64;
    if f.control_blocks.len() != n {
        return Err(refuse(
            "FIFO control blocks",
            format!("{} saved, {n} vCPUs configured", f.control_blocks.len()),
        ));
    }
    if f.tails.len() != n {
        return Err(refuse(
            "FIFO queue tails",
            format!("{} vCPUs saved, {n} configured", f.tails.len()),
        ));
    }
    if f.control_blocks.iter().all(Option::is_none) {
        return Err(refuse(
            "FIFO control blocks",
            "none registered (the switch to FIFO registers one)",
        ));
    }
    if deferred {
        return Err(refuse(
            "evtchn.deferred",
            "2-level deferred ports on the FIFO ABI",
        ));
    }
    for (i, cb) in f.control_blocks.iter().enumerate() {
        let Some((gfn, offset)) = *cb else {
            continue;
        };
        let field = format!("vCPU {i} FIFO control block");
        let off = u64::from(offset);
        if off % 8 != 0 || off > PAGE_SIZE - CB_SIZE {
            return Err(refuse(
                &field,
                format!("offset {offset:#x} is not 8-byte aligned inside the page"),
            ));
        }
        let gpa = gfn.checked_mul(PAGE_SIZE).map(|g| g + off);
        if !gpa.is_some_and(|g| backed(mem, g, CB_SIZE)) {
            return Err(refuse(
                &field,
                format!("frame {gfn:#x} is not backed by guest memory"),
            ));
        }
    }
    let pages = f.event_array.len();
    if pages > MAX_EVENT_ARRAY_PAGES as usize {
        return Err(refuse(
            "FIFO event array",
            format!("{pages} pages, at most {MAX_EVENT_ARRAY_PAGES}"),
        ));
    }
    for (k, &gfn) in f.event_array.iter().enumerate() {
        let field = format!("FIFO event array page {k}");
        let gpa = gfn
            .checked_mul(PAGE_SIZE)
            .ok_or_else(|| refuse(&field, format!("gfn {gfn:#x} out of range")))?;
        check_page(mem, &field, gpa)?;
    }
    // Ports with an event word: only those are ever linked on a queue.
    let words = pages as u32 * EVENT_WORDS_PER_PAGE;
    for (i, (tails, cb)) in f.tails.iter().zip(&f.control_blocks).enumerate() {
        for (q, &port) in tails.iter().enumerate() {
            if port != 0 && (port >= words || cb.is_none()) {
                return Err(refuse(
                    &format!("vCPU {i} FIFO queue {q} tail"),
                    format!("port {port} (event words: {words}, control block: {cb:x?})"),
                ));
            }
        }
    }
    let ascending = |what: &str, ports: &mut dyn Iterator<Item = u32>| -> Result<()> {
        let mut last = None;
        for p in ports {
            if p == 0 || p >= EVTCHN_FIFO_NR_CHANNELS || last.is_some_and(|l| l >= p) {
                return Err(refuse(
                    what,
                    format!("port {p} out of range or out of order"),
                ));
            }
            last = Some(p);
        }
        Ok(())
    };
    ascending("FIFO priorities", &mut f.priorities.iter().map(|&(p, _)| p))?;
    if let Some(&(p, prio)) = f
        .priorities
        .iter()
        .find(|&&(_, prio)| u32::from(prio) > EVTCHN_FIFO_PRIORITY_MIN)
    {
        return Err(refuse(
            "FIFO priorities",
            format!("port {p}: priority {prio} is above {EVTCHN_FIFO_PRIORITY_MIN}"),
        ));
    }
    ascending(
        "FIFO last queues",
        &mut f.last_queues.iter().map(|&(p, _, _)| p),
    )?;
    if let Some(&(p, v, prio)) = f
        .last_queues
        .iter()
        .find(|&&(_, v, prio)| v as usize >= n || u32::from(prio) > EVTCHN_FIFO_PRIORITY_MIN)
    {
        return Err(refuse(
            "FIFO last queues",
            format!("port {p}: queue (vCPU {v}, priority {prio})"),
        ));
    }
    ascending("FIFO saved pending", &mut f.saved_pending.iter().copied())?;
    Ok(())
}

/// Whether HVM param `index` may hold `value` in a running platform
/// configured as `config`.
fn param_reachable(config: &PlatformConfig, index: u32, value: u64) -> bool {
    match index {
        xen_abi::HVM_PARAM_STORE_PFN => value == config.store_gfn,
        xen_abi::HVM_PARAM_CONSOLE_PFN => value == config.console_gfn,
        // The guest may write anything there (the backends keep their ports).
        xen_abi::HVM_PARAM_STORE_EVTCHN | xen_abi::HVM_PARAM_CONSOLE_EVTCHN => true,
        // The callback lives in `XenState::callback`; this slot is never
        // read (older VMMs kept a copy there).
        xen_abi::HVM_PARAM_CALLBACK_IRQ => true,
        // What the guest may set, as `HVMOP_set_param` would store it.
        i => {
            value == 0
                || (crate::params::guest_may_set(i).is_ok()
                    && crate::params::checked_value(i, value) == Ok((i, value)))
        }
    }
}

/// Checks `saved` against `config` and guest memory `mem` (see the module
/// documentation).
pub(crate) fn check(
    config: &PlatformConfig,
    mem: &GuestMemoryMmap,
    saved: &PlatformState,
) -> Result<()> {
    let n = config.nr_vcpus as usize;
    let x = &saved.xen;
    let now = saved.system_time_ns;
    if x.vcpus.len() != n {
        return Err(refuse(
            "vcpus",
            format!("{} saved, {n} configured", x.vcpus.len()),
        ));
    }
    if saved.pages.vcpus.len() != n {
        return Err(refuse(
            "pages.vcpus",
            format!("{} saved, {n} configured", saved.pages.vcpus.len()),
        ));
    }
    if saved.evtchn.vcpu_vectors.len() != n {
        return Err(refuse(
            "evtchn.vcpu_vectors",
            format!("{} saved, {n} configured", saved.evtchn.vcpu_vectors.len()),
        ));
    }
    if saved.periodic_next_ns.len() > n {
        return Err(refuse(
            "periodic_next_ns",
            format!("{} entries for {n} vCPUs", saved.periodic_next_ns.len()),
        ));
    }
    if saved.evtchn.domid != config.domid {
        return Err(refuse(
            "evtchn.domid",
            format!("domain {}, configured {}", saved.evtchn.domid, config.domid),
        ));
    }
    // The page caches and the platform are told the width together.
    if x.long_mode != (saved.pages.width == GuestWidth::Bits64) {
        return Err(refuse(
            "long_mode",
            format!(
                "{} while the page caches have a {:?} guest",
                x.long_mode, saved.pages.width
            ),
        ));
    }
    let shinfo_gpa = saved
        .pages
        .shared_info_gfn
        .map(|g| {
            g.checked_mul(PAGE_SIZE)
                .ok_or_else(|| refuse("shared_info", format!("gfn {g:#x} out of range")))
        })
        .transpose()?;
    if x.shared_info != shinfo_gpa {
        return Err(refuse(
            "shared_info",
            format!(
                "at {:x?}, the page caches have it at {shinfo_gpa:x?}",
                x.shared_info
            ),
        ));
    }
    if let Some(gpa) = shinfo_gpa {
        check_page(mem, "shared_info", gpa)?;
    }
    let runstate_len = saved.pages.width.runstate_size() as u64;
    if !x.vcpus.iter().any(|v| v.up) {
        return Err(refuse(
            "vcpus",
            String::from("no vCPU is up (a running domain has one)"),
        ));
    }
    for (i, (v, p)) in x.vcpus.iter().zip(&saved.pages.vcpus).enumerate() {
        let field = |f: &str| format!("vCPU {i} {f}");
        if (v.up || v.start.is_some()) && !v.initialised {
            return Err(refuse(
                &field("initialised"),
                String::from("up or with a start context, but never initialised"),
            ));
        }
        // A start state is one `VCPUOP_initialise` could have given.
        if let Some(s) = v.start {
            let again =
                crate::smp::VcpuStart::from_hvm_context(&s.to_hvm_context(), config.phys_addr_bits);
            if again != Ok(s) {
                return Err(refuse(
                    &field("start"),
                    String::from("not a state VCPUOP_initialise gives"),
                ));
            }
        }
        if v.vcpu_info != p.vcpu_info_gpa {
            return Err(refuse(
                &field("vcpu_info"),
                format!(
                    "at {:x?}, the page caches have it at {:x?}",
                    v.vcpu_info, p.vcpu_info_gpa
                ),
            ));
        }
        if let Some(gpa) = v.vcpu_info {
            if gpa % PAGE_SIZE > PAGE_SIZE - VCPU_INFO_SIZE || !backed(mem, gpa, VCPU_INFO_SIZE) {
                return Err(refuse(
                    &field("vcpu_info"),
                    format!("{gpa:#x} is not 64 bytes of guest memory in one page"),
                ));
            }
        }
        if let Some(gpa) = p.time_info_gpa {
            if gpa % PAGE_SIZE > PAGE_SIZE - TIME_INFO_SIZE
                || !ends_backed(mem, gpa, TIME_INFO_SIZE)
            {
                return Err(refuse(
                    &field("time area"),
                    format!("{gpa:#x} is not 32 bytes of guest memory in one page"),
                ));
            }
        }
        if let Some(gpa) = p.runstate_gpa {
            if !ends_backed(mem, gpa, runstate_len) {
                return Err(refuse(
                    &field("runstate area"),
                    format!("{gpa:#x} (+{runstate_len}) is not in guest memory"),
                ));
            }
        }
        let vector = saved.evtchn.vcpu_vectors.get(i).copied().unwrap_or(0);
        if v.upcall_vector.unwrap_or(0) != vector || v.upcall_vector.is_some_and(|u| u < 0x10) {
            return Err(refuse(
                &field("upcall vector"),
                format!(
                    "{:x?}, the event channels have {vector:#x}",
                    v.upcall_vector
                ),
            ));
        }
        if let Some(d) = v.singleshot_ns {
            if d > now.saturating_add(MAX_SINGLESHOT_AHEAD_NS) {
                return Err(refuse(
                    &field("single-shot timer"),
                    format!(
                        "deadline {d} ns is more than 2^50 ns after the saved system time {now} ns"
                    ),
                ));
            }
        }
        if let Some(period) = v.period_ns {
            if !(MIN_PERIOD_NS..=MAX_PERIOD_NS).contains(&period) {
                return Err(refuse(
                    &field("periodic timer"),
                    format!("period {period} ns is outside 1 ms..=2^50 ns"),
                ));
            }
            let next = saved.periodic_next_ns.get(i).copied().flatten();
            if next.is_some_and(|t| t > now.saturating_add(period)) {
                return Err(refuse(
                    &field("periodic timer"),
                    format!("next expiry {next:?} ns is more than one period after {now} ns"),
                ));
            }
        }
        if !(0..=3).contains(&v.runstate.state) || v.runstate.state_entry_time > now {
            return Err(refuse(
                &field("runstate"),
                format!(
                    "state {} entered at {} ns (saved system time {now} ns)",
                    v.runstate.state, v.runstate.state_entry_time
                ),
            ));
        }
    }
    if x.params.len() != xen_abi::HVM_NR_PARAMS as usize {
        return Err(refuse(
            "HVM params",
            format!(
                "{} saved, the platform has {}",
                x.params.len(),
                xen_abi::HVM_NR_PARAMS
            ),
        ));
    }
    for (i, &value) in x.params.iter().enumerate() {
        if !param_reachable(config, i as u32, value) {
            return Err(refuse(
                &format!("HVM param {i}"),
                format!("value {value:#x} cannot be set"),
            ));
        }
    }
    // Grant frames: the table and the platform's mirror of where frames
    // are, both as large as configured, the same frames, each backed.
    let frames = config.grant_frames as usize;
    if x.grant_frames.len() > frames {
        return Err(refuse(
            "grant frames",
            format!(
                "{} saved, {} configured",
                x.grant_frames.len(),
                config.grant_frames
            ),
        ));
    }
    if saved.gnttab.max_frames != config.grant_frames {
        return Err(refuse(
            "grant table",
            format!(
                "max_frames {}, {} configured",
                saved.gnttab.max_frames, config.grant_frames
            ),
        ));
    }
    for f in 0..frames {
        let at = x.grant_frames.get(f).copied().flatten();
        let table = saved.gnttab.frame_gfns.get(f).copied().flatten();
        if at.map(|g| g / PAGE_SIZE) != table || at.is_some_and(|g| g % PAGE_SIZE != 0) {
            return Err(refuse(
                &format!("grant frame {f}"),
                format!("mapped at {at:x?}, the grant table has gfn {table:x?}"),
            ));
        }
        if let Some(gpa) = at {
            check_page(mem, &format!("grant frame {f}"), gpa)?;
        }
    }
    check_ring(
        mem,
        "console ring",
        saved.console.ring_gfn,
        config.console_gfn,
    )?;
    check_ring(mem, "xenstore ring", saved.store.ring_gfn, config.store_gfn)?;
    if let Some(f) = &saved.evtchn.fifo {
        check_fifo(mem, n, f, !saved.evtchn.deferred.is_empty())?;
    }
    if saved.store.domid != config.domid {
        return Err(refuse(
            "xenstore domid",
            format!("domain {}, configured {}", saved.store.domid, config.domid),
        ));
    }
    Ok(())
}
