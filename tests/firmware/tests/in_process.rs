//! The scenarios in-process against vdev's vSMMUv3: every one passes, the
//! list has the declared length, the run is repeatable, and a scenario
//! fails when what it is about goes wrong.

use firmware_tests::known::Known;
use firmware_tests::observe::Observations;
use firmware_tests::rig::{Loopback, Rig};
use firmware_tests::run_in_process;
use smmu_driver::scenarios::{run_all, Fail, Platform, NAMES};
use smmu_driver::DmaBuf;

#[test]
fn every_scenario_passes_in_process() {
    let obs = run_in_process();
    assert_eq!(obs.failed(), Vec::<&str>::new(), "{}", obs.to_text());
    let ran: Vec<&str> = obs.outcomes.iter().map(|(s, _)| s.as_str()).collect();
    assert_eq!(ran, NAMES);
}

#[test]
fn the_list_has_the_declared_number_of_scenarios() {
    let known = Known::checked_in().unwrap();
    assert_eq!(NAMES.len(), known.scenarios);
}

#[test]
fn two_runs_observe_the_same() {
    assert_eq!(run_in_process(), run_in_process());
}

/// The rig with its DMA master's writes damaged after `after` intact
/// transfers: dropped, or cut to their first half.
struct Damaged {
    rig: Rig,
    after: usize,
    half: bool,
}

impl Platform for Damaged {
    type Mmio = Loopback;
    fn smmu_mmio(&mut self) -> Loopback {
        self.rig.smmu_mmio()
    }
    fn alloc(&mut self, bytes: usize, align: usize) -> Option<DmaBuf<'static>> {
        self.rig.alloc(bytes, align)
    }
    fn find_dma_master(&mut self) -> Option<u32> {
        Platform::find_dma_master(&mut self.rig)
    }
    fn dma_read(&mut self, addr: u64, len: u32) -> Result<(), Fail> {
        Platform::dma_read(&mut self.rig, addr, len)
    }
    fn dma_write(&mut self, addr: u64, len: u32) -> Result<(), Fail> {
        if self.after > 0 {
            self.after -= 1;
            return Platform::dma_write(&mut self.rig, addr, len);
        }
        if self.half {
            Platform::dma_write(&mut self.rig, addr, len / 2)
        } else {
            Ok(())
        }
    }
}

/// Runs every scenario with the master's writes damaged once
/// `back_to_linear` is reached (the earlier scenarios make 6 writes).
fn damaged_back_to_linear(half: bool) -> Option<String> {
    let mut p = Damaged {
        rig: Rig::new(),
        after: 6,
        half,
    };
    let mut obs = Observations::default();
    run_all(&mut p, &mut obs);
    assert_eq!(
        obs.failed(),
        ["back_to_linear"],
        "only the last scenario sees the damage"
    );
    obs.verdict_of("back_to_linear").cloned().flatten()
}

#[test]
fn back_to_linear_fails_on_a_silent_loss_or_a_partial_copy() {
    let lost = damaged_back_to_linear(false).unwrap();
    assert!(lost.contains("DMA lost without an event"), "{lost}");
    let partial = damaged_back_to_linear(true).unwrap();
    assert!(partial.contains("partial copy"), "{partial}");
}
