#![no_std]
//! A guest-side driver for the ARM SMMUv3 and the NVIDIA Tegra241 CMDQV
//! extension, without an allocator: the caller provides the memory for
//! queues and tables ([`DmaBuf`]) with its device addresses, and the
//! register window as any [`Mmio`] backend, so the same code runs on
//! bare metal (volatile MMIO) and against a host-side model (loopback).
//!
//! Every register access goes through the accessors generated from the
//! register maps (`smmuv3_regs::Smmuv3`, `cmdqv_regs::Cmdqv`) and every
//! in-memory structure (STE, CD, L1 descriptor, command, event) is a
//! generated structure read and built through [`regmap_rt::Words`]; the
//! driver itself holds no register offsets or bit positions.

pub mod cmdqv;
pub mod dma;
pub mod error;
pub mod mmio;
pub mod queue;
#[cfg(feature = "scenarios")]
pub mod scenarios;
pub mod smmu;
pub mod structs;

pub use cmdqv_regs;
pub use regmap_rt::Words;
pub use smmuv3_regs;

pub use dma::DmaBuf;
pub use error::{CmdError, CommandFault, Error};
pub use mmio::{Mmio, VolatileMmio};
pub use smmu::{Capabilities, GlobalErrors, Smmu};
pub use structs::{
    cd, cmd, event, ste, Cd, Command, Event, EventBatch, Granule, Stage1Config, Ste,
};
