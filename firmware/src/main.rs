//! Bare-metal aarch64 firmware for QEMU's `virt` machine with
//! `iommu=smmuv3`: runs `smmu-driver` scenarios against QEMU's SMMUv3 and
//! prints one `PASS name` or `FAIL name: reason` line per scenario, then
//! exits through semihosting with status 0 only when every scenario passed.

#![no_std]
#![no_main]

mod arena;
mod boot;
mod pci;
mod scenarios;
mod semihosting;
mod timer;
#[macro_use]
mod uart;

use core::panic::PanicInfo;
use scenarios::{Outcome, World};

type Scenario = fn(&mut World) -> Outcome;

/// In order; a scenario may rely on the state the previous ones left.
const SCENARIOS: &[(&str, Scenario)] = &[
    ("probe", scenarios::probe),
    ("enable", scenarios::enable),
    ("cfgi_all_sync", scenarios::cfgi_all_sync),
    ("ignored_opcodes", scenarios::ignored_opcodes),
    ("illegal_opcode", scenarios::illegal_opcode),
    ("pci_edu", scenarios::pci_edu),
    ("invalid_ste_event", scenarios::invalid_ste_event),
    ("bypass_ste_dma", scenarios::bypass_ste_dma),
    ("stage1_dma", scenarios::stage1_dma),
    (
        "translation_fault_event",
        scenarios::translation_fault_event,
    ),
    ("abort_ste", scenarios::abort_ste),
    ("two_level", scenarios::two_level),
    ("back_to_linear", scenarios::back_to_linear),
];

#[no_mangle]
extern "C" fn fw_main() -> ! {
    let el: u64;
    // SAFETY: reading CurrentEL has no side effect.
    unsafe { core::arch::asm!("mrs {}, CurrentEL", out(reg) el) };
    println!("firmware: booted at EL{}", (el >> 2) & 3);
    let mut world = World::new();
    let mut failed = 0u32;
    for (name, run) in SCENARIOS {
        println!("-- {}", name);
        let outcome = run(&mut world);
        scenarios::snapshot(&world);
        match outcome {
            Ok(()) => println!("PASS {}", name),
            Err(e) => {
                failed += 1;
                println!("FAIL {}: {}", name, e);
            }
        }
    }
    println!("firmware: {} scenarios, {} failed", SCENARIOS.len(), failed);
    semihosting::exit(if failed == 0 { 0 } else { 1 })
}

#[panic_handler]
fn panic(info: &PanicInfo) -> ! {
    println!("FAIL panic: {}", info);
    semihosting::exit(2)
}
