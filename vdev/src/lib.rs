//! `vdev`: the std layer of the project — device models for a virtual SMMUv3 with
//! the NVIDIA Tegra241 CMDQV extension, and the backends that bind them to a host.
//!
//! * [`backend`]: the kernel boundary. The iommufd operations split by
//!   audience ([`backend::Backend`] for a production VMM, [`backend::Selftest`]
//!   for the kernel's selftest mock, [`backend::Kick`] for the simulator's
//!   hardware), RAII handles, the real backend on Linux `/dev/iommu`
//!   (`backend::real`) and, with the default cargo feature `sim`, the simulated
//!   kernel and Tegra241 hardware (`backend::sim`).
//! * [`vmm`]: what a VMM plugs the models into: guest memory, RAM regions,
//!   interrupt lines, device attachment, the `vm-device` bus adapter.
//! * [`smmuv3`] and [`cmdqv`]: the device models (MMIO front ends, the
//!   emulated SMMU, the CMDQV lifecycle).
//! * [`bus`]: a guest's physical address space around the device, for the
//!   demo, tests and an in-process guest driver; also the shared-device
//!   windows a VMM registers on its bus.
//!
//! Built without `sim` (`default-features = false`) the crate carries no
//! simulator code: the models and the real backend depend only on [`vmm`] and
//! the [`backend`] traits.

#![deny(missing_docs)]

/// The crate's README, compiled as a doctest so its example stays true (its
/// examples run on the simulated backend).
#[doc = include_str!("../README.md")]
#[cfg(all(doctest, feature = "sim"))]
pub struct ReadmeDoctests;

pub mod backend;
pub mod bus;
pub mod cmdqv;
pub mod smmuv3;
pub mod vmm;
