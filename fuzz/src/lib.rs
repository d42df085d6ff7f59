// SPDX-License-Identifier: Apache-2.0 OR BSD-3-Clause
//! Shared code of the xen-on-kvm fuzz targets: input decoders and harnesses that both the
//! targets and the seed-corpus generator (`gen_corpus`) use, so that seeds mean what the
//! targets read, and the seeds run as unit tests (`cargo test --lib`) on stable.

pub mod blk_ops;
pub mod cursor;
pub mod evtchn_input;
pub mod grant_ops;
pub mod loader_ops;
pub mod platform_ops;
pub mod platform_seeds;
pub mod ring_ops;
pub mod snapshot_restore;

#[cfg(test)]
mod seed_tests {
    use crate::platform_ops;
    use crate::platform_seeds;
    use crate::snapshot_restore::{self, Outcome};

    /// Every input the long runs found (`fuzz/regressions/<target>/`) runs
    /// clean now.
    #[test]
    fn long_run_findings_stay_fixed() {
        let targets: [(&str, fn(&[u8])); 3] = [
            ("hypercall_dispatch", |d| {
                platform_ops::run(d);
            }),
            ("xenstore_ring", crate::ring_ops::xenstore),
            ("blkif_ring", |d| {
                crate::blk_ops::run(d);
            }),
        ];
        for (target, run) in targets {
            let dir = format!("{}/regressions/{target}", env!("CARGO_MANIFEST_DIR"));
            let mut n = 0;
            for e in std::fs::read_dir(&dir).expect("regressions directory") {
                let path = e.expect("entry").path();
                println!("{}", path.display());
                run(&std::fs::read(&path).expect("regression input"));
                n += 1;
            }
            assert!(n > 0, "{dir} is empty");
        }
    }

    /// The ring seeds run (their invariants hold).
    #[test]
    fn ring_seeds_run() {
        for (name, data) in crate::ring_ops::seed::xenstore() {
            println!("xenstore {name}");
            crate::ring_ops::xenstore(&data);
        }
        for (name, data) in crate::ring_ops::seed::console() {
            println!("console {name}");
            crate::ring_ops::console(&data);
        }
    }

    /// The `snapshot_load` seeds go through the whole restore path.
    #[test]
    fn snapshot_seeds_restore() {
        for (name, data) in snapshot_restore::seed::all() {
            assert_eq!(snapshot_restore::run(&data), Outcome::Restored, "{name}");
        }
        // A flipped byte in a file's memory is refused by the CRC.
        let (_, mut f) = snapshot_restore::seed::all().swap_remove(6);
        let at = f.len() - 100;
        f[at] ^= 1;
        assert!(matches!(snapshot_restore::run(&f), Outcome::Refused(_)));
    }

    /// Every `hypercall_dispatch` seed runs, and those meant to reach a
    /// handler pass the sub-op switch (their last hypercall is not -ENOSYS).
    #[test]
    fn hypercall_seeds_reach_their_handlers() {
        let seeds = platform_seeds::all();
        let mut reached = 0;
        for s in &seeds {
            let stats = platform_ops::run(&s.data);
            let (nr, last) = *stats.results.last().unwrap_or_else(|| panic!("{}", s.name));
            let enosys = last == -38;
            if let Some(e) = s.expect_enosys {
                assert_eq!(enosys, e, "{}: nr {nr} -> {last}", s.name);
            }
            reached += usize::from(!enosys);
        }
        println!("{reached} of {} seeds reach a handler", seeds.len());
        assert!(reached > 150, "{reached}");
    }

    /// The boot scenarios succeed all the way (a guest that does what Linux
    /// does gets no error), with a snapshot round trip in the middle.
    #[test]
    fn boot_seeds_succeed() {
        for s in platform_seeds::all()
            .iter()
            .filter(|s| s.name.ends_with("-boot"))
        {
            let stats = platform_ops::run(&s.data);
            assert!(stats.results.len() >= 10, "{}", s.name);
            assert!(
                stats.results.iter().all(|&(_, r)| r >= 0),
                "{}: {:?}",
                s.name,
                stats.results
            );
            assert_eq!((stats.round_trips, stats.pages_added), (2, 1), "{}", s.name);
        }
    }
}
