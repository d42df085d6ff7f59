// SPDX-License-Identifier: Apache-2.0 OR BSD-3-Clause
//! The built-in demo guest, assembled at run time with iced-x86: a 64-bit
//! guest for two vCPUs that calls xen_version, maps shared_info, registers
//! a vcpu_info, sets the callback vector, sends event-channel IPIs between
//! its two vCPUs, takes VIRQ_TIMER from single-shot and periodic timers,
//! prints what it saw through `console_io` and powers off. Given more vCPUs,
//! the others halt with interrupts off until the VM ends.

use iced_x86::code_asm::*;
use iced_x86::IcedError;

use crate::memory::layout::RAW_LOAD;

const PAGE: u64 = 0x1f_f000;
const DATA: u64 = 0x20_0000;
const ARGS: u64 = 0x28_0000;
const BUF: u64 = 0x29_0000;
const SHINFO: u64 = 0x30_0000;
const VCPU_INFO0: u64 = 0x31_0040;
const IDT: u64 = 0x32_0000;
const VEC: u64 = 0xf3;

const READY: u64 = DATA + 0x800;
const P1_SLOT: u64 = DATA + 0x810;
const P0_SLOT: u64 = DATA + 0x818;
const PT_SLOT: u64 = DATA + 0x820;
const OWNED: u64 = DATA + 0x900;
const COUNT: u64 = DATA + 0x180;
const SEEN: u64 = DATA + 0x1c0; // per vCPU: ports its handler took
const VINFO: u64 = DATA + 0x980; // vcpu_info address per vCPU

type R = Result<(), IcedError>;

struct Demo {
    a: CodeAssembler,
    print_hex: CodeLabel,
    strings: Vec<(CodeLabel, Vec<u8>)>,
}

impl Demo {
    fn call(&mut self, nr: u64, args: &[u64]) -> R {
        for (i, &v) in args.iter().enumerate() {
            self.a.mov([rdi, rsi, rdx][i], v)?;
        }
        self.a.call(PAGE + nr * 32)
    }

    fn store32(&mut self, addr: u64, v: u32) -> R {
        self.a.mov(rcx, addr)?;
        self.a.mov(dword_ptr(rcx), v)
    }

    fn store64(&mut self, addr: u64, v: u64) -> R {
        self.store32(addr, v as u32)?;
        self.store32(addr + 4, (v >> 32) as u32)
    }

    /// Prints `text`.
    fn print(&mut self, text: &str) -> R {
        let l = self.a.create_label();
        self.strings.push((l, text.as_bytes().to_vec()));
        self.a.lea(rdx, ptr(l))?;
        self.a.mov(rsi, text.len() as u64)?;
        self.a.xor(edi, edi)?;
        self.a.call(PAGE + 18 * 32)
    }

    /// Prints `text` then r8 in hex.
    fn print_val(&mut self, text: &str) -> R {
        self.print(text)?;
        self.a.call(self.print_hex)
    }

    /// Prints the u64 at `addr` after `text`.
    fn print_mem(&mut self, text: &str, addr: u64) -> R {
        self.a.mov(rcx, addr)?;
        self.a.mov(r8, qword_ptr(rcx))?;
        self.print_val(text)
    }

    fn slot(&mut self, base: u64) -> R {
        self.a.lea(rcx, ptr(r15 * 8 + base as i32))
    }

    /// `sti; hlt` until this vCPU's handler has taken the port stored at `slot`.
    fn wait_seen(&mut self, slot: u64) -> R {
        let mut top = self.a.create_label();
        let out = self.a.create_label();
        self.a.nop()?;
        self.a.set_label(&mut top)?;
        self.a.cli()?;
        self.slot(SEEN)?;
        self.a.mov(rax, qword_ptr(rcx))?;
        self.a.mov(rcx, slot)?;
        self.a.mov(rcx, qword_ptr(rcx))?;
        self.a.bt(rax, rcx)?;
        self.a.jb(out)?;
        self.a.sti()?;
        self.a.hlt()?;
        self.a.jmp(top)?;
        let mut out = out;
        self.a.set_label(&mut out)?;
        self.a.sti()
    }

    /// `sti; hlt` until vCPU 0 took `n` more upcalls than when this starts.
    fn wait_more(&mut self, n: i32) -> R {
        self.a.mov(rcx, COUNT)?;
        self.a.mov(r13, qword_ptr(rcx))?;
        self.a.add(r13, n)?;
        let mut top = self.a.create_label();
        let out = self.a.create_label();
        self.a.set_label(&mut top)?;
        self.a.cli()?;
        self.a.mov(rcx, COUNT)?;
        self.a.cmp(qword_ptr(rcx), r13)?;
        self.a.jae(out)?;
        self.a.sti()?;
        self.a.hlt()?;
        self.a.jmp(top)?;
        let mut out = out;
        self.a.set_label(&mut out)?;
        self.a.sti()
    }

    fn wait_nonzero(&mut self, addr: u64) -> R {
        let mut top = self.a.create_label();
        self.a.nop()?;
        self.a.set_label(&mut top)?;
        self.a.pause()?;
        self.a.mov(rcx, addr)?;
        self.a.cmp(qword_ptr(rcx), 0)?;
        self.a.je(top)
    }

    fn own_port(&mut self, vcpu: u64, slot: u64) -> R {
        self.a.mov(rcx, slot)?;
        self.a.mov(rcx, qword_ptr(rcx))?;
        self.a.mov(eax, 1u32)?;
        self.a.shl(rax, cl)?;
        self.a.mov(rcx, OWNED + vcpu * 8)?;
        self.a.lock().or(qword_ptr(rcx), rax)
    }

    /// Copies the u32 at `from` into the u64 at `to`.
    fn copy32(&mut self, from: u64, to: u64) -> R {
        self.a.mov(rcx, from)?;
        self.a.mov(eax, dword_ptr(rcx))?;
        self.a.mov(rcx, to)?;
        self.a.mov(qword_ptr(rcx), rax)
    }

    fn subroutines(&mut self, handler: &mut CodeLabel) -> R {
        // print_hex: r8 -> "0x" + 16 hex digits + "\n".
        let a = &mut self.a;
        let mut ph = self.print_hex;
        a.set_label(&mut ph)?;
        a.mov(rdx, BUF)?;
        a.mov(word_ptr(rdx), 0x7830u32)?; // "0x"
        a.add(rdx, 2)?;
        a.mov(ecx, 16u32)?;
        let mut digit = a.create_label();
        let mut num = a.create_label();
        a.set_label(&mut digit)?;
        a.rol(r8, 4)?;
        a.mov(eax, r8d)?;
        a.and(eax, 0xf)?;
        a.add(eax, 0x30)?;
        a.cmp(eax, 0x3a)?;
        a.jb(num)?;
        a.add(eax, 0x27)?;
        a.set_label(&mut num)?;
        a.mov(byte_ptr(rdx), al)?;
        a.inc(rdx)?;
        a.dec(ecx)?;
        a.jnz(digit)?;
        a.mov(byte_ptr(rdx), 0x0a)?;
        a.xor(edi, edi)?;
        a.mov(esi, 19u32)?;
        a.mov(rdx, BUF)?;
        a.call(PAGE + 18 * 32)?;
        a.ret()?;

        // Upcall handler: clear upcall_pending and the selector of this vCPU,
        // take the pending ports it owns, count.
        a.set_label(handler)?;
        a.push(rax)?;
        a.push(rcx)?;
        a.push(rdx)?;
        a.lea(rcx, ptr(r15 * 8 + VINFO as i32))?;
        a.mov(rcx, qword_ptr(rcx))?;
        a.mov(byte_ptr(rcx), 0)?;
        a.xor(eax, eax)?;
        a.xchg(qword_ptr(rcx + 8), rax)?;
        a.lea(rcx, ptr(r15 * 8 + OWNED as i32))?;
        a.mov(rdx, qword_ptr(rcx))?;
        a.mov(rcx, SHINFO + 2048)?;
        a.mov(rax, qword_ptr(rcx))?;
        a.and(rax, rdx)?;
        a.mov(rdx, rax)?;
        a.not(rax)?;
        a.lock().and(qword_ptr(rcx), rax)?;
        a.lea(rcx, ptr(r15 * 8 + SEEN as i32))?;
        a.lock().or(qword_ptr(rcx), rdx)?;
        a.lea(rcx, ptr(r15 * 8 + COUNT as i32))?;
        a.lock().inc(qword_ptr(rcx))?;
        a.pop(rdx)?;
        a.pop(rcx)?;
        a.pop(rax)?;
        a.iretq()
    }

    fn load_idt(&mut self, handler: CodeLabel) -> R {
        let a = &mut self.a;
        a.mov(rbx, r15)?;
        a.shl(rbx, 12)?;
        a.mov(rax, IDT)?;
        a.add(rbx, rax)?;
        let off = (VEC * 16) as i32;
        a.lea(rax, ptr(handler))?;
        a.mov(word_ptr(rbx + off), ax)?;
        a.mov(word_ptr(rbx + off + 2), 0x08u32)?;
        a.mov(word_ptr(rbx + off + 4), 0x8e00u32)?;
        a.shr(rax, 16)?;
        a.mov(word_ptr(rbx + off + 6), ax)?;
        a.shr(rax, 16)?;
        a.mov(dword_ptr(rbx + off + 8), eax)?;
        a.mov(dword_ptr(rbx + off + 12), 0u32)?;
        a.mov(word_ptr(rbx + 0xff0), 0xfffu32)?;
        a.mov(qword_ptr(rbx + 0xff2), rbx)?;
        a.lidt(ptr(rbx + 0xff0))
    }

    fn build(&mut self) -> R {
        let mut handler = self.a.create_label();
        let mut main = self.a.create_label();
        let mut vcpu1 = self.a.create_label();
        self.a.jmp(main)?;
        self.subroutines(&mut handler)?;
        self.a.set_label(&mut main)?;
        // Hypercall page, vCPU id from the Xen HVM CPUID leaf.
        self.a.mov(ecx, 0x4000_0000u32)?;
        self.a.mov(eax, PAGE as u32)?;
        self.a.xor(edx, edx)?;
        self.a.wrmsr()?;
        self.a.mov(eax, 0x4000_0004u32)?;
        self.a.xor(ecx, ecx)?;
        self.a.cpuid()?;
        self.a.mov(r15d, ebx)?;
        // vCPUs beyond the two the demo uses halt for good: they must not take
        // vCPU 1's part (its IPI ports, slots and counters are single).
        let mut extra = self.a.create_label();
        self.a.cmp(r15, DEMO_VCPUS as i32)?;
        self.a.jae(extra)?;
        self.load_idt(handler)?;
        self.a.test(r15, r15)?;
        self.a.jnz(vcpu1)?;

        // ---- vCPU 0 ----
        self.print("xen-vmm demo guest: hello from vCPU 0\n")?;
        self.a.mov(eax, 0x4000_0000u32)?;
        self.a.xor(ecx, ecx)?;
        self.a.cpuid()?;
        self.a.mov(rsi, BUF + 0x100)?;
        self.a.mov(dword_ptr(rsi), ebx)?;
        self.a.mov(dword_ptr(rsi + 4), ecx)?;
        self.a.mov(dword_ptr(rsi + 8), edx)?;
        self.a.mov(byte_ptr(rsi + 12), 0x0a)?;
        self.print("CPUID hypervisor signature: ")?;
        self.call(18, &[0, 13, BUF + 0x100])?;
        self.call(17, &[0, 0])?;
        self.a.mov(r8, rax)?;
        self.print_val("xen_version (major<<16|minor): ")?;
        self.call(17, &[1, BUF + 0x200])?;
        self.print("xen_version extraversion: ")?;
        // strlen (at most 15) of the NUL-terminated string, then print it.
        {
            let a = &mut self.a;
            a.xor(esi, esi)?;
            a.mov(rdx, BUF + 0x200)?;
            let mut top = a.create_label();
            let mut done = a.create_label();
            a.set_label(&mut top)?;
            a.cmp(byte_ptr(rdx + rsi), 0)?;
            a.je(done)?;
            a.inc(esi)?;
            a.cmp(esi, 15)?;
            a.jb(top)?;
            a.set_label(&mut done)?;
            a.xor(edi, edi)?;
            a.call(PAGE + 18 * 32)?;
        }
        self.print("\n")?;

        // shared_info at SHINFO, vcpu_info of vCPU 0 registered elsewhere.
        self.store32(ARGS, 0x7ff0)?;
        self.store32(ARGS + 4, 0)?;
        self.store64(ARGS + 8, 0)?;
        self.store64(ARGS + 16, SHINFO >> 12)?;
        self.call(12, &[7, ARGS])?;
        self.a.mov(r8, rax)?;
        self.print_val("XENMEM_add_to_physmap(shared_info) -> ")?;
        self.store64(ARGS, VCPU_INFO0 >> 12)?;
        self.store32(ARGS + 8, (VCPU_INFO0 & 0xfff) as u32)?;
        self.store32(ARGS + 12, 0)?;
        self.call(24, &[10, 0, ARGS])?;
        self.a.mov(r8, rax)?;
        self.print_val("VCPUOP_register_vcpu_info(vCPU 0) -> ")?;
        self.store64(VINFO, VCPU_INFO0)?;
        self.store64(VINFO + 8, SHINFO + 64)?;
        // Callback vector.
        self.store32(ARGS, 0x7ff0)?;
        self.store32(ARGS + 4, 0)?;
        self.store64(ARGS + 8, (2 << 56) | VEC)?;
        self.call(34, &[0, ARGS])?;
        self.a.mov(r8, rax)?;
        self.print_val("HVM_PARAM_CALLBACK_IRQ = vector 0xf3 -> ")?;
        self.store64(READY, 1)?;

        // IPIs with vCPU 1.
        self.wait_nonzero(P0_SLOT)?;
        self.own_port(0, P0_SLOT)?;
        self.store32(ARGS, 1)?;
        self.call(32, &[7, ARGS])?;
        self.copy32(ARGS + 4, P1_SLOT)?;
        self.print_mem("EVTCHNOP_bind_ipi(vCPU 1) -> port ", P1_SLOT)?;
        self.copy32(P1_SLOT, ARGS + 0x40)?;
        self.call(32, &[4, ARGS + 0x40])?;
        self.wait_seen(P0_SLOT)?;
        self.print_mem("vCPU 0: upcall from vCPU 1's IPI on port ", P0_SLOT)?;
        self.print_mem("vCPU 1 saw upcalls: ", COUNT + 8)?;

        // Timers.
        self.store32(ARGS + 0x80, 0)?;
        self.store32(ARGS + 0x84, 0)?;
        self.call(32, &[1, ARGS + 0x80])?;
        self.copy32(ARGS + 0x88, PT_SLOT)?;
        self.own_port(0, PT_SLOT)?;
        self.print_mem("EVTCHNOP_bind_virq(VIRQ_TIMER) -> port ", PT_SLOT)?;
        self.store64(ARGS + 0xc0, 1)?;
        self.store64(ARGS + 0xc8, 0)?;
        self.call(24, &[8, 0, ARGS + 0xc0])?;
        self.wait_seen(PT_SLOT)?;
        self.print("single-shot timer fired\n")?;
        self.store64(ARGS + 0x100, 10_000_000)?;
        self.call(24, &[6, 0, ARGS + 0x100])?;
        self.wait_more(5)?;
        self.call(24, &[7, 0, 0])?;
        self.print("periodic 10 ms timer: 5 ticks\n")?;
        self.print_mem("upcalls on vCPU 0 in all: ", COUNT)?;
        self.print("demo done, powering off\n")?;
        self.store32(ARGS, 0)?;
        self.call(29, &[2, ARGS])?;
        self.a.hlt()?;

        // ---- vCPU 1 ----
        self.a.set_label(&mut vcpu1)?;
        self.wait_nonzero(READY)?;
        self.store32(ARGS + 0x240, 0)?;
        self.call(32, &[7, ARGS + 0x240])?;
        self.copy32(ARGS + 0x244, P0_SLOT)?;
        self.wait_nonzero(P1_SLOT)?;
        self.own_port(1, P1_SLOT)?;
        self.wait_seen(P1_SLOT)?;
        self.copy32(P0_SLOT, ARGS + 0x280)?;
        self.call(32, &[4, ARGS + 0x280])?;
        let mut idle = self.a.create_label();
        self.a.set_label(&mut idle)?;
        self.a.hlt()?;
        self.a.jmp(idle)?;

        // ---- vCPUs 2 and up ----
        self.a.set_label(&mut extra)?;
        self.a.cli()?;
        self.a.hlt()?;
        self.a.jmp(extra)?;

        for (mut l, bytes) in std::mem::take(&mut self.strings) {
            self.a.set_label(&mut l)?;
            self.a.db(&bytes)?;
        }
        Ok(())
    }
}

/// Number of vCPUs the demo guest needs (and uses: any further vCPUs halt).
pub const DEMO_VCPUS: u32 = 2;

/// The demo guest image (raw 64-bit, loaded at 1 MiB).
pub fn demo_image() -> Result<Vec<u8>, IcedError> {
    let mut a = CodeAssembler::new(64)?;
    let print_hex = a.create_label();
    let mut d = Demo {
        a,
        print_hex,
        strings: Vec::new(),
    };
    d.build()?;
    d.a.assemble(RAW_LOAD)
}
