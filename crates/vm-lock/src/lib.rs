//! vm-lock (work in progress).
