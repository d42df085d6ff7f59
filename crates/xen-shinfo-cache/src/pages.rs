// SPDX-License-Identifier: Apache-2.0 OR BSD-3-Clause
//! [`XenPages`]: the per-VM set of cached Xen pages and the protocols used to update them.

use std::sync::atomic::{AtomicBool, AtomicU64, AtomicU8, Ordering};

use vm_lock::{Level, LockAfter, PageCache, Token};

use crate::cache::GpaCache;
use crate::error::{Error, Result};
use crate::layout::{self, time_info, GuestWidth, WidthLayout, PAGE_SIZE, VCPU_INFO_SIZE};
use crate::mapping::{barrier, MappedRange, RegionArcs};
use crate::state::{PagesState, VcpuPagesState};
use vm_lock::MemReadGuard;

/// Contents of a `vcpu_time_info` (pvclock) update.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct PvclockTime {
    /// TSC value at `system_time`.
    pub tsc_timestamp: u64,
    /// Guest system time in nanoseconds at `tsc_timestamp`.
    pub system_time: u64,
    /// TSC-to-nanoseconds multiplier (32.32 fixed point).
    pub tsc_to_system_mul: u32,
    /// TSC shift applied before the multiply.
    pub tsc_shift: i8,
    /// `XEN_PVCLOCK_*` flags.
    pub flags: u8,
}

/// Contents of a `vcpu_runstate_info` update.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Runstate {
    /// `RUNSTATE_running` (0), `runnable` (1), `blocked` (2) or `offline` (3).
    pub state: i32,
    /// When the vCPU entered `state` (ns); bit 63 is reserved for `XEN_RUNSTATE_UPDATE`.
    pub state_entry_time: u64,
    /// Time spent in each state (ns).
    pub time: [u64; 4],
}

/// A `vcpu_info` inside a mapped range (in `shared_info` or registered elsewhere).
#[derive(Debug, Clone, Copy)]
pub struct VcpuInfoRef<'r, R> {
    range: &'r MappedRange<R>,
    base: usize,
    width: GuestWidth,
}

impl<R: vm_memory::GuestMemoryRegion> VcpuInfoRef<'_, R> {
    /// The range holding this `vcpu_info` and its offset in it.
    pub fn location(&self) -> (&MappedRange<R>, usize) {
        (self.range, self.base)
    }

    /// Atomically sets `evtchn_upcall_pending`; returns its old value (true: already set).
    #[inline]
    pub fn test_and_set_upcall_pending(&self) -> Result<bool> {
        let a = self
            .range
            .atomic_u8(self.base + layout::VCPU_INFO_UPCALL_PENDING)?;
        Ok(a.swap(1, Ordering::SeqCst) != 0)
    }

    /// Reads `evtchn_upcall_pending`.
    pub fn upcall_pending(&self) -> Result<bool> {
        let a = self
            .range
            .atomic_u8(self.base + layout::VCPU_INFO_UPCALL_PENDING)?;
        Ok(a.load(Ordering::SeqCst) != 0)
    }

    /// Reads `evtchn_upcall_mask`.
    pub fn upcall_mask(&self) -> Result<bool> {
        let a = self
            .range
            .atomic_u8(self.base + layout::VCPU_INFO_UPCALL_MASK)?;
        Ok(a.load(Ordering::SeqCst) != 0)
    }

    /// Atomically sets bit `bit` of `evtchn_pending_sel`; returns its old value.
    #[inline]
    pub fn test_and_set_pending_sel(&self, bit: u32) -> Result<bool> {
        let off = self.base + self.width.vcpu_info_pending_sel();
        self.range.test_and_set_bit(self.width, off, bit)
    }

    /// Reads `evtchn_pending_sel`.
    pub fn pending_sel(&self) -> Result<u64> {
        self.range
            .read_long(self.width, self.base + self.width.vcpu_info_pending_sel())
    }

    /// Sets every bit of `evtchn_pending_sel` (after moving `vcpu_info`, as Xen does).
    pub fn set_all_pending_sel(&self) -> Result<()> {
        self.range.fetch_or_long(
            self.width,
            self.base + self.width.vcpu_info_pending_sel(),
            u64::MAX,
        )?;
        Ok(())
    }
}

/// Per-vCPU caches.
#[derive(Debug)]
struct VcpuPages<M: RegionArcs> {
    vcpu_info: GpaCache<PageCache<1>, M>,
    time_info: GpaCache<PageCache<1>, M>,
    runstate: GpaCache<PageCache<1>, M>,
}

impl<M: RegionArcs> Default for VcpuPages<M> {
    fn default() -> Self {
        VcpuPages {
            vcpu_info: GpaCache::new(None),
            time_info: GpaCache::new(None),
            runstate: GpaCache::new(None),
        }
    }
}

/// The Xen pages of one VM: `shared_info` (lock level `PageCache<0>`) and, per vCPU, a
/// registered `vcpu_info`, `vcpu_time_info` and runstate area (level `PageCache<1>`).
///
/// Share it (`Arc`) between the hypercall handlers, the event-channel code and the timer
/// code; every method is callable from any thread.
#[derive(Debug)]
pub struct XenPages<M: RegionArcs> {
    width: AtomicU8,
    runstate_update_flag: AtomicBool,
    /// The memory map (`vm_lock::MapId`) of the VM these pages belong to, fixed by the first
    /// read section used with them (0: none yet): another VM's section is refused.
    map: AtomicU64,
    shared_info: GpaCache<PageCache<0>, M>,
    vcpus: Box<[VcpuPages<M>]>,
}

fn width_from_u8(v: u8) -> GuestWidth {
    if v == 32 {
        GuestWidth::Bits32
    } else {
        GuestWidth::Bits64
    }
}

fn width_to_u8(w: GuestWidth) -> u8 {
    match w {
        GuestWidth::Bits64 => 64,
        GuestWidth::Bits32 => 32,
    }
}

/// Checks a guest address for a structure of `len` bytes: alignment, overflow and (when
/// `one_page`) that it does not cross a page.
fn check_gpa(gpa: u64, len: u64, align: u64, one_page: bool) -> Result<()> {
    if gpa % align != 0 {
        return Err(Error::Misaligned { gpa, align });
    }
    gpa.checked_add(len).ok_or(Error::AddressOverflow(gpa))?;
    if one_page && (gpa % PAGE_SIZE) + len > PAGE_SIZE {
        return Err(Error::CrossesPage { gpa, len });
    }
    Ok(())
}

fn gfn_to_gpa(gfn: u64) -> Result<u64> {
    gfn.checked_mul(PAGE_SIZE)
        .filter(|g| g.checked_add(PAGE_SIZE).is_some())
        .ok_or(Error::AddressOverflow(gfn))
}

/// Writes a pvclock record at `base` of `range` with the version protocol: version odd,
/// barrier, fields, barrier, version even.
fn write_pvclock<R: vm_memory::GuestMemoryRegion>(
    range: &MappedRange<R>,
    base: usize,
    t: &PvclockTime,
) -> Result<()> {
    let version = range.read_u32(base + time_info::VERSION)?;
    let odd = version.wrapping_add(1) | 1;
    range.write_u32(base + time_info::VERSION, odd)?;
    barrier();
    range.write_u64(base + time_info::TSC_TIMESTAMP, t.tsc_timestamp)?;
    range.write_u64(base + time_info::SYSTEM_TIME, t.system_time)?;
    range.write_u32(base + time_info::TSC_TO_SYSTEM_MUL, t.tsc_to_system_mul)?;
    range.write_bytes(base + time_info::TSC_SHIFT, &[t.tsc_shift as u8, t.flags])?;
    barrier();
    range.write_u32(base + time_info::VERSION, odd.wrapping_add(1))
}

impl<M: RegionArcs> XenPages<M> {
    /// Pages for a VM with `max_vcpus` vCPUs, 64-bit layout, nothing placed yet.
    pub fn new(max_vcpus: u32) -> Self {
        XenPages {
            width: AtomicU8::new(64),
            runstate_update_flag: AtomicBool::new(false),
            map: AtomicU64::new(0),
            shared_info: GpaCache::new(None),
            vcpus: (0..max_vcpus).map(|_| VcpuPages::default()).collect(),
        }
    }

    /// Refuses a read section of another VM's memory map (the first section used binds the
    /// pages to its map).
    #[inline]
    fn check_map(&self, snap: &MemReadGuard<'_, M>) -> Result<()> {
        let id = snap.map_id().get();
        // A plain load on the hot path (no write to a line every vCPU reads).
        let bound = match self.map.load(Ordering::Acquire) {
            0 => match self
                .map
                .compare_exchange(0, id, Ordering::AcqRel, Ordering::Acquire)
            {
                Ok(_) => id,
                Err(b) => b,
            },
            b => b,
        };
        if bound == id {
            Ok(())
        } else {
            Err(Error::ForeignMap)
        }
    }

    /// Number of vCPUs.
    pub fn max_vcpus(&self) -> u32 {
        self.vcpus.len() as u32
    }

    /// The guest width the layouts follow.
    #[inline]
    pub fn width(&self) -> GuestWidth {
        width_from_u8(self.width.load(Ordering::Acquire))
    }

    /// Sets the guest width (from the hypercall-page MSR write / `HVM_PARAM` in long mode).
    pub fn set_width(&self, width: GuestWidth) {
        self.width.store(width_to_u8(width), Ordering::Release);
    }

    /// Whether runstate updates set `XEN_RUNSTATE_UPDATE` (`VMASST_TYPE_runstate_update_flag`).
    pub fn set_runstate_update_flag(&self, on: bool) {
        self.runstate_update_flag.store(on, Ordering::Release);
    }

    #[inline]
    fn vcpu(&self, vcpu: u32) -> Result<&VcpuPages<M>> {
        self.vcpus.get(vcpu as usize).ok_or(Error::NoSuchVcpu(vcpu))
    }

    /// Places `shared_info` at guest frame `gfn` (`None`: removes it). Drops the old mapping.
    pub fn set_shared_info_gfn<P: Level>(
        &self,
        token: &mut Token<'_, P>,
        gfn: Option<u64>,
    ) -> Result<()>
    where
        PageCache<0>: LockAfter<P>,
    {
        let target = gfn
            .map(gfn_to_gpa)
            .transpose()?
            .map(|gpa| (gpa, PAGE_SIZE as usize));
        self.shared_info.set_target(token, target);
        Ok(())
    }

    /// The guest frame of `shared_info`.
    pub fn shared_info_gfn<P: Level>(&self, token: &mut Token<'_, P>) -> Option<u64>
    where
        PageCache<0>: LockAfter<P>,
    {
        self.shared_info
            .target(token)
            .map(|(gpa, _)| gpa / PAGE_SIZE)
    }

    /// Drops every cached mapping (e.g. after the VMM changed the memory map behind the
    /// cache's back); all are rebuilt on next use.
    pub fn invalidate_all<P: Level>(&self, token: &mut Token<'_, P>)
    where
        PageCache<0>: LockAfter<P>,
        PageCache<1>: LockAfter<P>,
    {
        self.shared_info.invalidate(token);
        for v in self.vcpus.iter() {
            v.vcpu_info.invalidate(token);
            v.time_info.invalidate(token);
            v.runstate.invalidate(token);
        }
    }

    /// Whether `shared_info` is currently mapped (not invalidated).
    pub fn shared_info_is_mapped<P: Level>(&self, token: &mut Token<'_, P>) -> bool
    where
        PageCache<0>: LockAfter<P>,
    {
        self.shared_info.is_mapped(token)
    }

    /// Runs `f` on the mapped `shared_info` page.
    ///
    /// # Errors
    /// [`Error::Unset`] if no GFN was set, [`Error::NotMapped`] if it is not RAM.
    #[inline]
    pub fn with_shared_info<P: Level, T>(
        &self,
        token: &mut Token<'_, P>,
        snap: &MemReadGuard<'_, M>,
        f: impl FnOnce(&MappedRange<M::R>, &mut Token<'_, PageCache<0>>) -> T,
    ) -> Result<T>
    where
        PageCache<0>: LockAfter<P>,
    {
        self.check_map(snap)?;
        self.shared_info.with(token, snap, f)
    }

    /// Runs `f` on `vcpu`'s `vcpu_info`, while the caller holds `shared_info` (`shinfo`,
    /// `None` if it is not placed) at level `PageCache<0>`. The `vcpu_info` is the
    /// registered one or, if none is registered and `vcpu < 32`, the slot in `shared_info`.
    ///
    /// # Errors
    /// [`Error::NoSuchVcpu`], [`Error::NoVcpuInfo`], or a mapping error.
    #[inline]
    pub fn with_vcpu_info_in<P: Level, T>(
        &self,
        shinfo: Option<&MappedRange<M::R>>,
        token: &mut Token<'_, P>,
        snap: &MemReadGuard<'_, M>,
        vcpu: u32,
        f: impl FnOnce(VcpuInfoRef<'_, M::R>) -> Result<T>,
    ) -> Result<T>
    where
        PageCache<1>: LockAfter<P>,
    {
        self.check_map(snap)?;
        let width = self.width();
        self.vcpu(vcpu)?.vcpu_info.with_opt(token, snap, |vi, _| {
            let (range, base) = match (vi, shinfo) {
                (Some(range), _) => (range, 0),
                (None, Some(range)) if vcpu < layout::LEGACY_MAX_VCPUS => {
                    (range, vcpu as usize * VCPU_INFO_SIZE as usize)
                }
                _ => return Err(Error::NoVcpuInfo(vcpu)),
            };
            // One call of `f`, so the compiler can inline it.
            f(VcpuInfoRef { range, base, width })
        })?
    }

    /// Runs `f` on `vcpu`'s `vcpu_info`.
    ///
    /// A registered `vcpu_info` takes only its own cache's lock; otherwise this takes
    /// `shared_info` (for the slot in it) and then the `vcpu_info` cache's, as
    /// [`XenPages::with_vcpu_info_in`] does.
    pub fn with_vcpu_info<P: Level, T>(
        &self,
        token: &mut Token<'_, P>,
        snap: &MemReadGuard<'_, M>,
        vcpu: u32,
        f: impl FnOnce(VcpuInfoRef<'_, M::R>) -> Result<T>,
    ) -> Result<T>
    where
        PageCache<0>: LockAfter<P>,
        PageCache<1>: LockAfter<P>,
    {
        self.check_map(snap)?;
        let width = self.width();
        let mut f = Some(f);
        let cache = &self.vcpu(vcpu)?.vcpu_info;
        if cache.maybe_targeted() {
            let registered = cache.with_opt(token, snap, |vi, _| {
                let range = vi?;
                let f = f.take()?;
                Some(f(VcpuInfoRef {
                    range,
                    base: 0,
                    width,
                }))
            })?;
            if let Some(r) = registered {
                return r;
            }
        }
        // Not registered (or unregistered meanwhile): the slot in `shared_info`.
        self.shared_info
            .with_opt(token, snap, |sh, t| match f.take() {
                Some(f) => self.with_vcpu_info_in::<PageCache<0>, T>(sh, t, snap, vcpu, f),
                None => Err(Error::NoVcpuInfo(vcpu)),
            })?
    }

    /// Registers `vcpu`'s `vcpu_info` at `gpa` (`VCPUOP_register_vcpu_info`); `None` goes back
    /// to the slot in `shared_info`. The old contents are copied to the new place.
    ///
    /// # Errors
    /// [`Error::Misaligned`] / [`Error::CrossesPage`] (EINVAL) for a bad address,
    /// [`Error::NotMapped`] (EFAULT) if the new place is not RAM.
    pub fn set_vcpu_info<P: Level>(
        &self,
        token: &mut Token<'_, P>,
        snap: &MemReadGuard<'_, M>,
        vcpu: u32,
        gpa: Option<u64>,
    ) -> Result<()>
    where
        PageCache<0>: LockAfter<P>,
        PageCache<1>: LockAfter<P>,
    {
        self.check_map(snap)?;
        let width = self.width();
        let pages = self.vcpu(vcpu)?;
        if let Some(gpa) = gpa {
            check_gpa(gpa, VCPU_INFO_SIZE, width.vcpu_info_align(), true)?;
            // The new place must be RAM before anything changes.
            crate::mapping::MappedRange::new(&**snap, gpa, VCPU_INFO_SIZE as usize)?;
        }
        let mut old = [0u8; VCPU_INFO_SIZE as usize];
        let have_old = self
            .with_vcpu_info(token, snap, vcpu, |vi| {
                let (r, base) = vi.location();
                r.read_bytes(base, &mut old)
            })
            .is_ok();
        pages
            .vcpu_info
            .set_target(token, gpa.map(|g| (g, VCPU_INFO_SIZE as usize)));
        if have_old {
            // Best effort, as in Xen: a new slot without an old one simply starts zeroed.
            let _ = self.with_vcpu_info(token, snap, vcpu, |vi| {
                let (r, base) = vi.location();
                r.write_bytes(base, &old)
            });
        }
        Ok(())
    }

    /// `vcpu`'s registered `vcpu_info` address.
    pub fn vcpu_info_gpa<P: Level>(
        &self,
        token: &mut Token<'_, P>,
        vcpu: u32,
    ) -> Result<Option<u64>>
    where
        PageCache<1>: LockAfter<P>,
    {
        Ok(self.vcpu(vcpu)?.vcpu_info.target(token).map(|t| t.0))
    }

    /// Registers a separate `vcpu_time_info` area (`VCPUOP_register_vcpu_time_memory_area`).
    ///
    /// # Errors
    /// EINVAL-class errors if misaligned (4 bytes) or crossing a page.
    pub fn set_time_info<P: Level>(
        &self,
        token: &mut Token<'_, P>,
        vcpu: u32,
        gpa: Option<u64>,
    ) -> Result<()>
    where
        PageCache<1>: LockAfter<P>,
    {
        let pages = self.vcpu(vcpu)?;
        if let Some(gpa) = gpa {
            check_gpa(gpa, layout::VCPU_TIME_INFO_SIZE, 4, true)?;
        }
        pages.time_info.set_target(
            token,
            gpa.map(|g| (g, layout::VCPU_TIME_INFO_SIZE as usize)),
        );
        Ok(())
    }

    /// Registers the runstate area (`VCPUOP_register_runstate_memory_area`); it may cross a
    /// page boundary.
    pub fn set_runstate_area<P: Level>(
        &self,
        token: &mut Token<'_, P>,
        vcpu: u32,
        gpa: Option<u64>,
    ) -> Result<()>
    where
        PageCache<1>: LockAfter<P>,
    {
        let width = self.width();
        let pages = self.vcpu(vcpu)?;
        if let Some(gpa) = gpa {
            check_gpa(gpa, width.runstate_size() as u64, 1, false)?;
        }
        pages
            .runstate
            .set_target(token, gpa.map(|g| (g, width.runstate_size())));
        Ok(())
    }

    /// Writes `vcpu`'s pvclock into its `vcpu_info.time` and into its registered time area,
    /// each with the version protocol. Returns how many copies were written (0..=2).
    pub fn update_pvclock<P: Level>(
        &self,
        token: &mut Token<'_, P>,
        snap: &MemReadGuard<'_, M>,
        vcpu: u32,
        time: &PvclockTime,
    ) -> Result<u32>
    where
        PageCache<0>: LockAfter<P>,
        PageCache<1>: LockAfter<P>,
    {
        self.check_map(snap)?;
        let pages = self.vcpu(vcpu)?;
        let mut written = 0;
        match self.with_vcpu_info(token, snap, vcpu, |vi| {
            let (r, base) = vi.location();
            write_pvclock(r, base + layout::VCPU_INFO_TIME, time)
        }) {
            Ok(()) => written += 1,
            Err(Error::NoVcpuInfo(_)) => {}
            Err(e) => return Err(e),
        }
        let copied = pages.time_info.with_opt(token, snap, |r, _| match r {
            Some(r) => write_pvclock(r, 0, time).map(|()| 1),
            None => Ok(0),
        })??;
        Ok(written + copied)
    }

    /// Writes `vcpu`'s runstate area (if registered), with `XEN_RUNSTATE_UPDATE` set during
    /// the update when enabled. Returns whether an area was written.
    pub fn update_runstate<P: Level>(
        &self,
        token: &mut Token<'_, P>,
        snap: &MemReadGuard<'_, M>,
        vcpu: u32,
        rs: &Runstate,
    ) -> Result<bool>
    where
        PageCache<1>: LockAfter<P>,
    {
        self.check_map(snap)?;
        let width = self.width();
        let flag = self.runstate_update_flag.load(Ordering::Acquire);
        let pages = self.vcpu(vcpu)?;
        pages.runstate.with_opt(token, snap, |r, _| {
            let Some(r) = r else { return Ok(false) };
            let et = width.runstate_entry_time();
            let entry = (rs.state_entry_time & !layout::XEN_RUNSTATE_UPDATE).to_le_bytes();
            if flag {
                // Set the flag in the top byte first, so the guest sees an update in progress.
                let mut top = [0u8];
                r.read_bytes(et + 7, &mut top)?;
                r.write_bytes(et + 7, &[top[0] | 0x80])?;
                barrier();
            }
            r.write_u32(0, rs.state as u32)?;
            for (i, t) in rs.time.iter().enumerate() {
                r.write_u64(width.runstate_time() + 8 * i, *t)?;
            }
            r.write_bytes(et, &entry[..7])?;
            barrier();
            r.write_bytes(et + 7, &entry[7..])?;
            barrier();
            Ok(true)
        })?
    }

    /// Writes the wall clock (`wc_sec`, `wc_nsec`, `wc_sec_hi`) into `shared_info` with the
    /// `wc_version` protocol.
    pub fn set_wallclock<P: Level>(
        &self,
        token: &mut Token<'_, P>,
        snap: &MemReadGuard<'_, M>,
        sec: u64,
        nsec: u32,
    ) -> Result<()>
    where
        PageCache<0>: LockAfter<P>,
    {
        self.check_map(snap)?;
        let w = self.width();
        self.shared_info.with(token, snap, |r, _| {
            let version = r.read_u32(w.shinfo_wc_version())?;
            let odd = version.wrapping_add(1) | 1;
            r.write_u32(w.shinfo_wc_version(), odd)?;
            barrier();
            r.write_u32(w.shinfo_wc_sec(), sec as u32)?;
            r.write_u32(w.shinfo_wc_nsec(), nsec)?;
            r.write_u32(w.shinfo_wc_sec_hi(), (sec >> 32) as u32)?;
            barrier();
            r.write_u32(w.shinfo_wc_version(), odd.wrapping_add(1))
        })?
    }

    /// The configuration, for snapshots.
    pub fn state<P: Level>(&self, token: &mut Token<'_, P>) -> PagesState
    where
        PageCache<0>: LockAfter<P>,
        PageCache<1>: LockAfter<P>,
    {
        PagesState {
            width: self.width(),
            runstate_update_flag: self.runstate_update_flag.load(Ordering::Acquire),
            shared_info_gfn: self.shared_info_gfn(token),
            vcpus: self
                .vcpus
                .iter()
                .map(|v| VcpuPagesState {
                    vcpu_info_gpa: v.vcpu_info.target(token).map(|t| t.0),
                    time_info_gpa: v.time_info.target(token).map(|t| t.0),
                    runstate_gpa: v.runstate.target(token).map(|t| t.0),
                })
                .collect(),
        }
    }

    /// Rebuilds the pages from a snapshot. Mappings are built lazily on first use.
    ///
    /// # Errors
    /// [`Error::InvalidState`] / address errors for an inconsistent state.
    pub fn from_state(state: &PagesState) -> Result<Self> {
        let w = state.width;
        let vcpus = state
            .vcpus
            .iter()
            .map(|v| {
                // The width may have changed since the registration (a guest
                // registered as 32-bit, then wrote the hypercall MSR in long
                // mode): a place that was aligned for the narrower width is one
                // a running VM holds (its 64-bit accesses there fail as they do
                // before a snapshot).
                if let Some(g) = v.vcpu_info_gpa {
                    let align = w
                        .vcpu_info_align()
                        .min(GuestWidth::Bits32.vcpu_info_align());
                    check_gpa(g, VCPU_INFO_SIZE, align, true)?;
                }
                if let Some(g) = v.time_info_gpa {
                    check_gpa(g, layout::VCPU_TIME_INFO_SIZE, 4, true)?;
                }
                if let Some(g) = v.runstate_gpa {
                    check_gpa(g, w.runstate_size() as u64, 1, false)?;
                }
                Ok(VcpuPages {
                    vcpu_info: GpaCache::new(v.vcpu_info_gpa.map(|g| (g, VCPU_INFO_SIZE as usize))),
                    time_info: GpaCache::new(
                        v.time_info_gpa
                            .map(|g| (g, layout::VCPU_TIME_INFO_SIZE as usize)),
                    ),
                    runstate: GpaCache::new(v.runstate_gpa.map(|g| (g, w.runstate_size()))),
                })
            })
            .collect::<Result<Box<[_]>>>()?;
        if vcpus.is_empty() {
            return Err(Error::InvalidState("no vCPUs"));
        }
        let shinfo = state
            .shared_info_gfn
            .map(gfn_to_gpa)
            .transpose()?
            .map(|g| (g, PAGE_SIZE as usize));
        Ok(XenPages {
            width: AtomicU8::new(width_to_u8(w)),
            runstate_update_flag: AtomicBool::new(state.runstate_update_flag),
            map: AtomicU64::new(0),
            shared_info: GpaCache::new(shinfo),
            vcpus,
        })
    }
}
