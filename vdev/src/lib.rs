//! `vdev`: the std layer of the project — device models for a virtual SMMUv3 with
//! the NVIDIA Tegra241 CMDQV extension, and the backends that bind them to a host.
//!
//! The backend layer lives in [`backend`]: one [`backend::Backend`] trait over the
//! iommufd objects the models need, a real implementation on Linux `/dev/iommu`
//! ([`backend::real`]), and an in-process simulation of the kernel and the Tegra241
//! hardware ([`backend::sim`]) that is the default everywhere.

#![deny(missing_docs)]

/// The crate's README, compiled as a doctest so its example stays true.
#[doc = include_str!("../README.md")]
#[cfg(doctest)]
pub struct ReadmeDoctests;

pub mod backend;
pub mod bus;
pub mod cmdqv;
pub mod smmuv3;
pub mod vmm;
