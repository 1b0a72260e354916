//! The firmware's driver scenarios (`smmu_driver::scenarios`) run
//! in-process against `vdev`'s vSMMUv3, and the comparison of their
//! values with what QEMU's SMMUv3 showed for the same scenarios.
//!
//! * [`rig`]: the in-process platform (VMM, simulated host, guest RAM,
//!   loopback MMIO).
//! * [`master`]: the DMA master and the host SMMU double in front of it.
//! * [`observe`]: one run's values and verdicts, as the console lines the
//!   firmware prints.
//! * [`known`]: the checked-in known differences and the declared
//!   scenario count.
//! * [`compare`]: the comparison.
//!
//! `tests/firmware/run` boots the firmware under QEMU, keeps its lines,
//! and runs the `scenario-diff` binary on them.

pub mod compare;
pub mod known;
pub mod master;
pub mod observe;
pub mod rig;

use observe::Observations;

/// Runs every scenario in-process on a fresh [`rig::Rig`].
pub fn run_in_process() -> Observations {
    let mut rig = rig::Rig::new();
    let mut obs = Observations::default();
    smmu_driver::scenarios::run_all(&mut rig, &mut obs);
    obs
}
