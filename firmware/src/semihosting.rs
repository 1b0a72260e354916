//! Arm semihosting, used only to leave QEMU with a status
//! (`-semihosting` must be on QEMU's command line).

/// SYS_EXIT operation number (Arm semihosting specification). Platform
/// parameter, not a register map fact.
const SYS_EXIT: u64 = 0x18;
/// ADP_Stopped_ApplicationExit: the reason code that carries a status (Arm
/// semihosting specification). Platform parameter, not a register map fact.
const ADP_STOPPED_APPLICATION_EXIT: u64 = 0x20026;

/// Ends the emulation; QEMU's own exit status becomes `status`.
pub fn exit(status: u32) -> ! {
    let block: [u64; 2] = [ADP_STOPPED_APPLICATION_EXIT, u64::from(status)];
    // SAFETY: the AArch64 semihosting trap; x1 points at a two-word
    // parameter block that lives on the stack for the duration of the call.
    unsafe {
        core::arch::asm!(
            "hlt #0xf000",
            in("x0") SYS_EXIT,
            in("x1") block.as_ptr(),
            options(nostack)
        );
    }
    // Without -semihosting the trap is undefined and the vector table
    // reports it; if QEMU returns anyway, stop here.
    loop {
        core::hint::spin_loop();
    }
}
