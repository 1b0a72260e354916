//! Entry point, stack, .bss and exception vectors.
//!
//! QEMU's `virt` machine enters an ELF passed with `-kernel` at its entry
//! point at EL1 with the MMU and caches off, so physical == virtual and
//! every data access is Device memory (the target is built with
//! `+strict-align`, so no unaligned access is ever emitted).

use core::arch::global_asm;

global_asm!(
    r#"
    .section .text.boot, "ax"
    .global _start
_start:
    // Secondary cores (if any) park: the scenarios are single-threaded.
    mrs     x0, mpidr_el1
    and     x0, x0, #0xff
    cbnz    x0, 9f
    // The compiler may use FP/SIMD registers; do not trap them at EL1.
    mov     x0, #(3 << 20)
    msr     cpacr_el1, x0
    isb
    ldr     x0, =__stack_top
    mov     sp, x0
    ldr     x0, =__bss_start
    ldr     x1, =__bss_end
1:  cmp     x0, x1
    b.hs    2f
    str     xzr, [x0], #8
    b       1b
2:  ldr     x0, =exception_vectors
    msr     vbar_el1, x0
    isb
    bl      fw_main
9:  wfe
    b       9b

    // 16 entries of 0x80 bytes; each hands its index and the syndrome to
    // Rust, which reports it and exits non-zero instead of hanging.
    .balign 0x800
exception_vectors:
    .set idx, 0
    .rept 16
    .balign 0x80
    mov     x0, #idx
    mrs     x1, esr_el1
    mrs     x2, elr_el1
    mrs     x3, far_el1
    b       fw_exception
    .set idx, idx + 1
    .endr
    "#
);

/// Called from the vector table for any exception: the firmware expects
/// none, so any exception is a failure.
#[no_mangle]
extern "C" fn fw_exception(index: u64, esr: u64, elr: u64, far: u64) -> ! {
    crate::println!(
        "FAIL exception: vector {} ESR={:#x} ELR={:#x} FAR={:#x}",
        index,
        esr,
        elr,
        far
    );
    crate::semihosting::exit(3)
}
