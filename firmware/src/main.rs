//! Bare-metal aarch64 firmware for QEMU's `virt` machine with
//! `iommu=smmuv3`: runs the shared driver scenarios
//! (`smmu_driver::scenarios`) against QEMU's SMMUv3, prints every value
//! they observed (`OBS` lines) and one `PASS name` or `FAIL name: reason`
//! line per scenario, then exits through semihosting with status 0 only
//! when every scenario passed.

#![no_std]
#![no_main]

mod arena;
mod boot;
mod pci;
mod platform;
mod semihosting;
mod timer;
#[macro_use]
mod uart;

use core::panic::PanicInfo;

#[no_mangle]
extern "C" fn fw_main() -> ! {
    let el: u64;
    // SAFETY: reading CurrentEL has no side effect.
    unsafe { core::arch::asm!("mrs {}, CurrentEL", out(reg) el) };
    println!("firmware: booted at EL{}", (el >> 2) & 3);
    let mut qemu = platform::Qemu::take();
    let failed = smmu_driver::scenarios::run_all(&mut qemu, &mut platform::Console);
    println!(
        "firmware: {} scenarios, {} failed",
        smmu_driver::scenarios::NAMES.len(),
        failed
    );
    semihosting::exit(if failed == 0 { 0 } else { 1 })
}

#[panic_handler]
fn panic(info: &PanicInfo) -> ! {
    println!("FAIL panic: {}", info);
    semihosting::exit(2)
}
