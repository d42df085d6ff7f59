// SPDX-License-Identifier: Apache-2.0 OR BSD-3-Clause
//! Snapshot and restore of Xen guests, with versionize.
//!
//! A snapshot holds guest memory, the KVM state of every vCPU and of the VM,
//! and all the Xen state the VMM emulates ([`xen_state::XenState`]). The file
//! layout is described in [`format`](mod@format): a checked header, a versionize-encoded
//! [`VmSnapshot`], the raw guest memory streamed region by region, and a
//! trailer with the memory CRC64.
//!
//! Loading is staged so that nothing reaches a VM before the file has been
//! checked: [`SnapshotReader::open`] checks the header, the file size, the
//! state CRC and every value of the state; [`SnapshotReader::load_memory`]
//! then fills guest memory and checks the memory CRC. Only after both
//! succeed should the VMM apply vCPU and Xen state.
//!
//! [`crate::Vm::snapshot`] and [`crate::Vm::restore`] do this for the
//! reference VMM (the `xen-vmm run --snapshot-on-signal FILE` and
//! `xen-vmm restore FILE` commands): a snapshot stops the host threads that
//! write guest memory (timer thread, console input) and the vCPU threads,
//! takes every vCPU with `vm_lock::lock_all_vcpus`, and saves memory (pages added in holes are regions too), KVM state, the
//! VMM's Xen state, xen-evtchn's and xen-shinfo-cache's states and the
//! devices' (console, xenstore, grant table); timers are saved as absolute
//! deadlines on the Xen clock, which a restore continues.
//!
//! ```
//! use xen_vmm::snapshot::kvm_state::VcpuState;
//! use xen_vmm::snapshot::memory::{MemoryRegionState, MemoryState};
//! use xen_vmm::snapshot::xen_state::XenVcpuState;
//! use xen_vmm::snapshot::{parse, write_snapshot, VmSnapshot};
//!
//! let region = MemoryRegionState { guest_addr: 0, size: 0x4000 };
//! let layout = MemoryState { regions: vec![region] };
//! let mem = layout.create_guest_memory().unwrap();
//! let mut state = VmSnapshot {
//!     memory: layout,
//!     vcpus: vec![VcpuState::default()],
//!     ..Default::default()
//! };
//! state.xen.vcpus.push(XenVcpuState { online: true, ..Default::default() });
//! let mut file = Vec::new();
//! write_snapshot(&mut file, &state, &mem).unwrap();
//! let parsed = parse(&file).unwrap();
//! assert_eq!(parsed.state, state);
//! assert_eq!(parsed.memory.len(), 0x4000);
//! ```

pub mod error;
pub mod format;
pub mod kvm_state;
pub mod memory;
pub mod xen_state;

use std::io::{Read, Seek, SeekFrom, Write};
use std::path::Path;

use versionize::{VersionMap, Versionize, VersionizeResult};
use versionize_derive::Versionize;
use vm_memory::{GuestMemoryBackend, GuestMemoryMmap};

pub use error::{Error, Result};
use format::{Header, CURRENT_FORMAT_VERSION, HEADER_LEN, TRAILER_LEN};
use kvm_state::{VcpuState, VmKvmState};
use memory::MemoryState;
use xen_state::{XenState, MAX_VCPUS};

/// Everything in a snapshot except the bytes of guest memory.
#[derive(Clone, Debug, Default, PartialEq, Eq, Versionize)]
pub struct VmSnapshot {
    /// Guest memory layout (the bytes follow the state in the file).
    pub memory: MemoryState,
    /// VM-wide KVM state.
    pub vm: VmKvmState,
    /// KVM state of each vCPU, index = vCPU id.
    pub vcpus: Vec<VcpuState>,
    /// Xen state.
    pub xen: XenState,
}

impl VmSnapshot {
    /// Checks every count, length, index and address of the state.
    pub fn validate(&self) -> Result<()> {
        if self.vcpus.is_empty() || self.vcpus.len() > MAX_VCPUS {
            return Err(Error::Invalid(format!(
                "{} vCPUs (expected 1..={MAX_VCPUS})",
                self.vcpus.len()
            )));
        }
        self.memory.validate()?;
        self.vm.validate()?;
        for (i, v) in self.vcpus.iter().enumerate() {
            if v.id as usize != i {
                return Err(Error::Invalid(format!("vCPU entry {i} has id {}", v.id)));
            }
            v.validate()?;
        }
        self.xen.validate(self.vcpus.len(), &self.memory)
    }

    /// Encodes the state at `format_version`.
    pub fn encode(&self, format_version: u16) -> Result<Vec<u8>> {
        if format_version == 0 || format_version > CURRENT_FORMAT_VERSION {
            return Err(Error::UnsupportedVersion {
                found: format_version,
                max: CURRENT_FORMAT_VERSION,
            });
        }
        let mut out = Vec::new();
        self.serialize(&mut out, &format::version_map(), format_version)
            .map_err(|e| Error::Encode(e.to_string()))?;
        Ok(out)
    }

    /// Decodes and validates a state section of `format_version`.
    pub fn decode(mut bytes: &[u8], format_version: u16) -> Result<Self> {
        let s = Self::deserialize(&mut bytes, &format::version_map(), format_version)
            .map_err(|e| Error::Decode(e.to_string()))?;
        if !bytes.is_empty() {
            return Err(Error::Decode(format!(
                "{} bytes left after the state",
                bytes.len()
            )));
        }
        s.validate()?;
        Ok(s)
    }
}

/// Sizes of a written snapshot.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct WriteStats {
    /// Bytes of the state section.
    pub state_len: u64,
    /// Bytes of guest memory.
    pub memory_len: u64,
    /// Whole file.
    pub file_len: u64,
}

/// Writes a snapshot of the current format version.
pub fn write_snapshot<W: Write, M: GuestMemoryBackend>(
    out: &mut W,
    state: &VmSnapshot,
    mem: &M,
) -> Result<WriteStats> {
    write_snapshot_version(out, state, mem, CURRENT_FORMAT_VERSION)
}

/// Writes a snapshot in an older format version (for VMMs that only read that one).
///
/// `state.memory` must describe `mem`.
pub fn write_snapshot_version<W: Write, M: GuestMemoryBackend>(
    out: &mut W,
    state: &VmSnapshot,
    mem: &M,
    format_version: u16,
) -> Result<WriteStats> {
    write_with(out, state, mem, format_version, |m, o| {
        memory::dump(m, o, format_version)
    })
}

/// Writes a snapshot of the current format version to a seekable `out`
/// positioned at the start of an empty file, leaving the guest pages that
/// are all zeros as holes ([`memory::dump_sparse`]): the same bytes as
/// [`write_snapshot`] once read back, the same format, fewer disk blocks.
pub fn write_snapshot_sparse<W: Write + Seek>(
    out: &mut W,
    state: &VmSnapshot,
    mem: &GuestMemoryMmap,
) -> Result<WriteStats> {
    write_with(out, state, mem, CURRENT_FORMAT_VERSION, |m, o| {
        memory::dump_sparse(m, o, CURRENT_FORMAT_VERSION)
    })
}

fn write_with<W: Write, M: GuestMemoryBackend>(
    out: &mut W,
    state: &VmSnapshot,
    mem: &M,
    format_version: u16,
    dump: impl FnOnce(&M, &mut W) -> Result<(u64, u64)>,
) -> Result<WriteStats> {
    state.validate()?;
    state.memory.check_matches(mem)?;
    let encoded = state.encode(format_version)?;
    let header = Header {
        format_version,
        state_len: encoded.len() as u64,
        state_crc: crc64::crc64(0, &encoded),
        memory_len: state.memory.total_len(),
    };
    if header.state_len > format::MAX_STATE_LEN {
        return Err(Error::TooLarge {
            what: "state length",
            claimed: header.state_len,
            limit: format::MAX_STATE_LEN,
        });
    }
    out.write_all(&header.encode())
        .map_err(Error::io("writing header"))?;
    out.write_all(&encoded)
        .map_err(Error::io("writing state"))?;
    let (memory_len, memory_crc) = dump(mem, out)?;
    out.write_all(&format::encode_trailer(memory_crc))
        .map_err(Error::io("writing trailer"))?;
    out.flush().map_err(Error::io("flushing snapshot"))?;
    Ok(WriteStats {
        state_len: header.state_len,
        memory_len,
        file_len: header.file_len().unwrap_or(u64::MAX),
    })
}

/// Writes a snapshot to `path` atomically (temporary file, fsync, rename).
///
/// Guest pages that are all zeros are not written: they are holes of a
/// sparse file ([`write_snapshot_sparse`]), so an idle guest's snapshot
/// takes the disk blocks of the memory it used.
pub fn save_to_file(path: &Path, state: &VmSnapshot, mem: &GuestMemoryMmap) -> Result<WriteStats> {
    let mut tmp = path.as_os_str().to_owned();
    tmp.push(".tmp");
    let tmp = std::path::PathBuf::from(tmp);
    let file = std::fs::File::create(&tmp).map_err(Error::io("creating snapshot file"))?;
    let mut w = std::io::BufWriter::with_capacity(1 << 20, file);
    let res = write_snapshot_sparse(&mut w, state, mem).and_then(|stats| {
        let file = w
            .into_inner()
            .map_err(|e| Error::io("flushing snapshot")(e.into_error()))?;
        // The trailer ends the file after the last hole; this only checks it.
        file.set_len(stats.file_len)
            .map_err(Error::io("sizing snapshot"))?;
        file.sync_all().map_err(Error::io("syncing snapshot"))?;
        Ok(stats)
    });
    match res {
        Ok(stats) => {
            std::fs::rename(&tmp, path).map_err(Error::io("renaming snapshot"))?;
            Ok(stats)
        }
        Err(e) => {
            let _ = std::fs::remove_file(&tmp);
            Err(e)
        }
    }
}

/// A snapshot whose header and state have been read and checked; guest
/// memory is still to be read.
#[derive(Debug)]
pub struct SnapshotReader<R> {
    input: R,
    header: Header,
    state: VmSnapshot,
}

impl<R: Read + Seek> SnapshotReader<R> {
    /// Reads the header and the state and checks them, the file size and the state CRC.
    pub fn open(mut input: R) -> Result<Self> {
        let mut hb = [0u8; HEADER_LEN];
        let got = read_up_to(&mut input, &mut hb)?;
        let header = Header::decode(&hb[..got])?;
        let actual = input
            .seek(SeekFrom::End(0))
            .map_err(Error::io("sizing snapshot"))?;
        check_file_len(&header, actual)?;
        input
            .seek(SeekFrom::Start(HEADER_LEN as u64))
            .map_err(Error::io("seeking snapshot"))?;
        // state_len <= MAX_STATE_LEN and <= the file size: safe to allocate.
        let mut sb = vec![0u8; header.state_len as usize];
        input
            .read_exact(&mut sb)
            .map_err(Error::io("reading state"))?;
        let state = check_state(&header, &sb)?;
        Ok(SnapshotReader {
            input,
            header,
            state,
        })
    }

    /// The checked header.
    pub fn header(&self) -> &Header {
        &self.header
    }

    /// The checked state.
    pub fn state(&self) -> &VmSnapshot {
        &self.state
    }

    /// Reads guest memory into `mem` (which must have the snapshot's layout)
    /// and checks the memory CRC and trailer. On error `mem` holds garbage and
    /// must be discarded.
    pub fn load_memory<M: GuestMemoryBackend>(mut self, mem: &M) -> Result<VmSnapshot> {
        let crc = memory::load(
            mem,
            &self.state.memory,
            &mut self.input,
            self.header.format_version,
        )?;
        let mut tb = [0u8; TRAILER_LEN];
        let got = read_up_to(&mut self.input, &mut tb)?;
        format::check_trailer(&tb[..got], crc)?;
        Ok(self.state)
    }

    /// Allocates guest memory with the snapshot's layout and loads it.
    pub fn into_guest_memory(self) -> Result<(VmSnapshot, GuestMemoryMmap)> {
        let mem = self.state.memory.create_guest_memory()?;
        let state = self.load_memory(&mem)?;
        Ok((state, mem))
    }
}

impl SnapshotReader<std::io::BufReader<std::fs::File>> {
    /// [`SnapshotReader::load_memory`] of a file opened with [`open_file`],
    /// reading only the file's data extents ([`memory::load_file`]: the guest
    /// pages of holes are discarded or zeroed, not read).
    pub fn load_memory_sparse(mut self, mem: &GuestMemoryMmap) -> Result<VmSnapshot> {
        let start = self
            .input
            .stream_position()
            .map_err(Error::io("reading guest memory"))?;
        let crc = memory::load_file(
            mem,
            &self.state.memory,
            self.input.get_ref(),
            start,
            self.header.format_version,
        )?;
        self.input
            .seek(SeekFrom::Start(start + self.header.memory_len))
            .map_err(Error::io("reading the trailer"))?;
        let mut tb = [0u8; TRAILER_LEN];
        let got = read_up_to(&mut self.input, &mut tb)?;
        format::check_trailer(&tb[..got], crc)?;
        Ok(self.state)
    }
}

/// Opens a snapshot file and checks its header and state.
pub fn open_file(path: &Path) -> Result<SnapshotReader<std::io::BufReader<std::fs::File>>> {
    let f = std::fs::File::open(path).map_err(Error::io("opening snapshot file"))?;
    SnapshotReader::open(std::io::BufReader::with_capacity(1 << 20, f))
}

/// A snapshot fully checked in memory (see [`parse`]).
#[derive(Debug)]
pub struct ParsedSnapshot<'a> {
    /// The header.
    pub header: Header,
    /// The state.
    pub state: VmSnapshot,
    /// The guest memory bytes, regions concatenated in layout order.
    pub memory: &'a [u8],
}

/// Parses and checks a whole snapshot held in memory: header, sizes, both
/// CRCs, trailer and every value of the state. The entry point of the
/// `snapshot_load` fuzz target; it never panics and allocates at most
/// a bounded multiple of `bytes.len()`.
pub fn parse(bytes: &[u8]) -> Result<ParsedSnapshot<'_>> {
    let header = Header::decode(bytes)?;
    check_file_len(&header, bytes.len() as u64)?;
    let state_end = HEADER_LEN + header.state_len as usize;
    let state = check_state(&header, &bytes[HEADER_LEN..state_end])?;
    let mem_end = state_end + header.memory_len as usize;
    let memory = &bytes[state_end..mem_end];
    format::check_trailer(
        &bytes[mem_end..],
        memory::checksum(header.format_version, memory),
    )?;
    Ok(ParsedSnapshot {
        header,
        state,
        memory,
    })
}

/// A whole snapshot file `bytes` rewritten at format version
/// `format_version` (older or newer, up to [`CURRENT_FORMAT_VERSION`]): the
/// state re-encoded, the memory section as it is, the memory checksum of
/// that version. For a VMM that reads only an older version.
///
/// # Errors
/// [`parse`]'s, and [`Error::UnsupportedVersion`].
pub fn convert(bytes: &[u8], format_version: u16) -> Result<Vec<u8>> {
    let parsed = parse(bytes)?;
    let encoded = parsed.state.encode(format_version)?;
    let header = Header {
        format_version,
        state_len: encoded.len() as u64,
        state_crc: crc64::crc64(0, &encoded),
        memory_len: parsed.header.memory_len,
    };
    let mut out =
        Vec::with_capacity(HEADER_LEN + encoded.len() + parsed.memory.len() + TRAILER_LEN);
    out.extend_from_slice(&header.encode());
    out.extend_from_slice(&encoded);
    out.extend_from_slice(parsed.memory);
    out.extend_from_slice(&format::encode_trailer(memory::checksum(
        format_version,
        parsed.memory,
    )));
    Ok(out)
}

/// The Xen platform of snapshot `state`, rebuilt over guest memory `mem`
/// (already loaded with the snapshot's memory), without KVM: what
/// [`crate::Vm::restore`] does for the Xen side. A platform for a VM of the
/// saved shape is created as `Vm::new` would (`phys_addr_bits`: CPUID
/// 0x8000_0008), its state is overlaid with the saved one
/// ([`xen_state::XenState::platform_state`]) and `XenPlatform::restore`
/// checks it all again. The entry point of the `snapshot_load` fuzz target.
///
/// # Errors
/// A state the platform refuses (its error is in the message).
pub fn restore_platform(
    state: &VmSnapshot,
    mem: vm_lock::MemoryMap<GuestMemoryMmap>,
    host: std::sync::Arc<dyn xen_platform::XenHost>,
    output: Box<dyn Write + Send>,
    phys_addr_bits: u8,
) -> Result<xen_platform::XenPlatform> {
    let mem_bytes = state.xen.mem_bytes;
    // The sizes `Vm::new` accepts.
    let sizes = crate::memory::MIN_MEM_BYTES..=crate::memory::MAX_MEM_BYTES;
    if !sizes.contains(&mem_bytes) || !mem_bytes.is_multiple_of(1 << 20) {
        return Err(Error::Invalid(format!("guest RAM size {mem_bytes:#x}")));
    }
    let mut cfg = crate::VmConfig::new(crate::Kernel::Raw64(Vec::new()));
    cfg.vcpus = state.vcpus.len() as u32;
    cfg.mem_mib = mem_bytes >> 20;
    let config = crate::vm::platform_config(&cfg, mem_bytes, phys_addr_bits);
    let fresh = xen_platform::XenPlatform::new(
        config.clone(),
        mem.clone(),
        host.clone(),
        Box::new(std::io::sink()),
    )
    .map_err(|e| Error::Invalid(format!("Xen state: {e}")))?;
    let fresh = {
        let mut root =
            vm_lock::Root::new().map_err(|e| Error::Invalid(format!("lock root: {e}")))?;
        fresh.state(root.token())
    };
    let saved = state.xen.platform_state(&fresh)?;
    xen_platform::XenPlatform::restore(config, mem, host, output, &saved)
        .map_err(|e| Error::Invalid(format!("Xen state: {e}")))
}

fn check_file_len(header: &Header, actual: u64) -> Result<()> {
    let needed = header.file_len().ok_or(Error::TooLarge {
        what: "memory length",
        claimed: header.memory_len,
        limit: u64::MAX - header.state_len,
    })?;
    if actual < needed {
        return Err(Error::Truncated {
            section: "file",
            needed,
            available: actual,
        });
    }
    if actual > needed {
        return Err(Error::TrailingBytes(actual - needed));
    }
    Ok(())
}

fn check_state(header: &Header, bytes: &[u8]) -> Result<VmSnapshot> {
    let computed = crc64::crc64(0, bytes);
    if computed != header.state_crc {
        return Err(Error::Crc {
            section: "state",
            stored: header.state_crc,
            computed,
        });
    }
    let state = VmSnapshot::decode(bytes, header.format_version)?;
    if state.memory.total_len() != header.memory_len {
        return Err(Error::Invalid(format!(
            "memory section of {} bytes, regions total {}",
            header.memory_len,
            state.memory.total_len()
        )));
    }
    Ok(state)
}

fn read_up_to<R: Read>(r: &mut R, buf: &mut [u8]) -> Result<usize> {
    let mut got = 0;
    while got < buf.len() {
        match r.read(&mut buf[got..]) {
            Ok(0) => break,
            Ok(n) => got += n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) => return Err(Error::io("reading snapshot")(e)),
        }
    }
    Ok(got)
}

#[cfg(test)]
mod tests;
