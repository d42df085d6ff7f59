// SPDX-License-Identifier: Apache-2.0 OR BSD-3-Clause
//! The debug-build runtime backstop: a per-thread stack of the levels held.
//!
//! The types already reject out-of-order locking; this catches what they cannot see (two roots
//! on one thread through [`crate::Root::new_unchecked`], a blocking wait entered by a path that
//! forgot its token). Each lock pushes its level and each guard pops it on drop; a lock taken
//! while an equal or later level is held, a `synchronize` under a level after `SlotsLock`, or a
//! blocking wait ([`crate::blocking`], [`crate::MayBlock`] APIs) while anything is held panics
//! with the held levels, before it can deadlock.
//!
//! Only with `debug_assertions`: in release builds every function here is an empty inline
//! function and guards carry nothing extra.

#[cfg(debug_assertions)]
mod imp {
    use std::cell::RefCell;

    use crate::relation::Level;

    /// One held level: rank, name, and whether it was taken out of order (`try_lock_unordered`).
    #[derive(Clone, Copy)]
    struct Held {
        rank: u8,
        name: &'static str,
        unordered: bool,
    }

    thread_local! {
        static HELD: RefCell<Vec<Held>> = const { RefCell::new(Vec::new()) };
    }

    fn names(held: &[Held]) -> String {
        let v: Vec<&str> = held.iter().map(|h| h.name).collect();
        format!("[{}]", v.join(", "))
    }

    /// Checks that `L` may be taken now (every level held in order is before it).
    pub(crate) fn check<L: Level>() {
        let bad = HELD
            .try_with(|h| {
                let h = h.borrow();
                h.iter()
                    .any(|x| !x.unordered && x.rank >= L::RANK)
                    .then(|| names(&h))
            })
            .ok()
            .flatten();
        if let Some(held) = bad {
            panic!(
                "vm-lock (debug check): lock order violation at run time: taking `{}` while \
                 holding {held}",
                L::NAME
            );
        }
    }

    /// Records that `L` is now held (`count` times: `lock_all_vcpus` holds several).
    pub(crate) fn push<L: Level>(count: usize, unordered: bool) {
        let _ = HELD.try_with(|h| {
            let mut h = h.borrow_mut();
            for _ in 0..count {
                h.push(Held {
                    rank: L::RANK,
                    name: L::NAME,
                    unordered,
                });
            }
        });
    }

    /// Records that one `L` (taken in order or not, as `unordered` says) was released.
    pub(crate) fn pop<L: Level>(unordered: bool) {
        let _ = HELD.try_with(|h| {
            let mut h = h.borrow_mut();
            if let Some(i) = h
                .iter()
                .rposition(|x| x.rank == L::RANK && x.unordered == unordered)
            {
                h.remove(i);
            }
        });
    }

    /// Panics if anything is held: `what` is about to block on another thread.
    pub(crate) fn assert_nothing_held(what: &str) {
        let held = HELD
            .try_with(|h| {
                let h = h.borrow();
                (!h.is_empty()).then(|| names(&h))
            })
            .ok()
            .flatten();
        if let Some(held) = held {
            panic!("vm-lock (debug check): {what} would block while holding {held}");
        }
    }

    /// Panics if a level after `max_rank` is held: `what` waits for memory-map readers.
    pub(crate) fn assert_at_most(max_rank: u8, what: &str) {
        let held = HELD
            .try_with(|h| {
                let h = h.borrow();
                h.iter().any(|x| x.rank > max_rank).then(|| names(&h))
            })
            .ok()
            .flatten();
        if let Some(held) = held {
            panic!("vm-lock (debug check): {what} would wait while holding {held}");
        }
    }

    /// The levels this thread holds, outermost first (for tests).
    pub(crate) fn held_names() -> Vec<&'static str> {
        HELD.try_with(|h| h.borrow().iter().map(|x| x.name).collect())
            .unwrap_or_default()
    }
}

#[cfg(not(debug_assertions))]
mod imp {
    use crate::relation::Level;

    #[inline(always)]
    pub(crate) fn check<L: Level>() {}
    #[inline(always)]
    pub(crate) fn push<L: Level>(_count: usize, _unordered: bool) {}
    /// (Guards only pop in debug builds, where they have a `Drop`.)
    #[allow(dead_code)]
    #[inline(always)]
    pub(crate) fn pop<L: Level>(_unordered: bool) {}
    #[inline(always)]
    pub(crate) fn assert_nothing_held(_what: &str) {}
    #[inline(always)]
    pub(crate) fn assert_at_most(_max_rank: u8, _what: &str) {}
    pub(crate) fn held_names() -> Vec<&'static str> {
        Vec::new()
    }
}

pub(crate) use imp::*;

/// The levels this thread holds right now, outermost first, as the debug-build backstop sees
/// them (always empty in release builds). For tests and diagnostics.
pub fn held_levels() -> Vec<&'static str> {
    held_names()
}
