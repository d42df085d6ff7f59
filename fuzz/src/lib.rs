// SPDX-License-Identifier: Apache-2.0 OR BSD-3-Clause
//! Shared code of the xen-on-kvm fuzz targets: input decoders that both the targets and the
//! seed-corpus generator (`gen_corpus`) use, so that seeds mean what the targets read.

pub mod evtchn_input;
