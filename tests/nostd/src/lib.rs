//! Touches the generated accessors, structures and register files, the
//! driver and the `defmt::Format` impls so the aarch64 build compiles and
//! codegens them, not only type-checks.
#![no_std]

use regmap_rt::regfile::AccessError;
use regmap_rt::{VolatileMmio, Words};
use smmu_driver::Smmu;
use smmuv3_regs::{structs::CmdCfgiSte, Smmuv3, CR0};

/// Enables the SMMU's queues on a real window (aarch64: single ldr/str).
///
/// # Safety
/// `base` must be the SMMU's mapped MMIO window (both pages, 8-aligned),
/// accessed through nothing else meanwhile.
pub unsafe fn enable(base: *mut u8) -> u32 {
    let smmu = Smmuv3::new(unsafe { VolatileMmio::new(base, smmuv3_regs::WINDOW_SIZE) });
    smmu.cr0().modify(CR0::EVENTQEN::SET + CR0::CMDQEN::SET);
    smmu.cr0ack().get()
}

/// Builds a CFGI_STE command.
pub fn cfgi_ste(sid: u64) -> [u64; 2] {
    CmdCfgiSte::new()
        .with(CmdCfgiSte::SID, sid)
        .with(CmdCfgiSte::LEAF, 1)
        .words()
}

/// A trapped read through the SMMU's emulated register file.
pub fn emulate(offset: u64) -> u64 {
    let mut rf = smmuv3_regs::regfile::RegFile::new();
    let mut cmdqv = cmdqv_regs::regfile::RegFile::new();
    let a = rf.read(offset, 4).unwrap_or(0);
    let b = cmdqv.read(offset, 4).unwrap_or(0);
    a ^ b
}

/// The generated accessor's read-modify-write of one field (for
/// `scripts/modify-asm`, which compares its instructions with the
/// hand-written versions below).
///
/// # Safety
/// `base` must be the SMMU's mapped MMIO window.
#[no_mangle]
pub unsafe extern "C" fn generated_modify(base: *mut u8) {
    let smmu = Smmuv3::new(unsafe { VolatileMmio::new(base, smmuv3_regs::WINDOW_SIZE) });
    smmu.cr0().modify(CR0::EVENTQEN::SET);
}

/// The same read-modify-write written by hand with the same single-register
/// access primitive the backend uses.
///
/// # Safety
/// As [`generated_modify`].
#[no_mangle]
pub unsafe extern "C" fn handwritten_modify(base: *mut u8) {
    use regmap_rt::Mmio;
    let mmio = unsafe { VolatileMmio::new(base, smmuv3_regs::WINDOW_SIZE) };
    let v = mmio.read32(0x20);
    mmio.write32(0x20, (v & !0x4) | 0x4);
}

/// The same read-modify-write with plain `read_volatile`/`write_volatile`.
///
/// # Safety
/// As [`generated_modify`].
#[no_mangle]
pub unsafe extern "C" fn volatile_modify(base: *mut u8) {
    let p = base.wrapping_add(0x20).cast::<u32>();
    unsafe {
        let v = p.read_volatile();
        p.write_volatile((v & !0x4) | 0x4);
    }
}

/// Probes the SMMU with the driver and logs what it found through defmt:
/// the capabilities or the error, CR0 as a register value and a refused
/// trapped access, so every kind of `Format` impl (derived driver types,
/// generated register values, structures, regmap-rt's errors) is
/// instantiated for the target.
///
/// # Safety
/// `base` must be the SMMU's mapped MMIO window.
pub unsafe fn probe_and_log(base: *mut u8) {
    let mmio = unsafe { VolatileMmio::new(base, smmuv3_regs::WINDOW_SIZE) };
    match Smmu::probe(mmio) {
        Ok(smmu) => {
            defmt::info!("SMMUv3 {}", smmu.capabilities());
            defmt::info!("{}", smmu.regs().cr0().value());
        }
        Err(e) => defmt::error!("probe: {}", e),
    }
    let refused: Result<u64, AccessError> = smmuv3_regs::regfile::RegFile::new().read(0x3, 4);
    if let Err(e) = refused {
        defmt::warn!("trapped read refused: {}", e);
    }
    defmt::debug!("{}", CmdCfgiSte::new().with(CmdCfgiSte::SID, 1));
}

/// Transmits one byte on a PL011 (the firmware's console, through the
/// generated accessors) and logs the flags it saw and the UART's emulated
/// reset flags through defmt, so the third generated crate's accessors,
/// register file and `Format` impls are built for the target too.
///
/// # Safety
/// `base` must be a PL011's mapped MMIO window, accessed through nothing
/// else meanwhile.
pub unsafe fn pl011_putc(base: *mut u8, byte: u8) {
    use pl011_regs::{Pl011, UARTDR, UARTFR};
    let uart = Pl011::new(unsafe { VolatileMmio::new(base, pl011_regs::WINDOW_SIZE) });
    while uart.uartfr().is_set(UARTFR::TXFF) {}
    uart.uartdr().write(UARTDR::DATA.val(u32::from(byte)));
    defmt::debug!("{}", uart.uartfr().value());
    let reset = pl011_regs::regfile::RegFile::new().read(UARTFR::OFFSET as u64, 4);
    if let Ok(flags) = reset {
        defmt::debug!("UARTFR reset {=u64:#x}", flags);
    }
}
