//! xen-evtchn (work in progress).
