#![no_std]
//! A guest-side driver for the ARM SMMUv3 and the NVIDIA Tegra241 CMDQV
//! extension, without an allocator: the caller provides the memory for
//! queues and tables ([`DmaBuf`]) with its device addresses, and the
//! register window as any [`Mmio`] backend, so the same code runs on
//! bare metal (volatile MMIO) and against a host-side model (loopback).

pub mod cmdqv;
pub mod dma;
pub mod error;
pub mod mmio;
pub mod queue;
mod regs;
pub mod smmu;
pub mod structs;

pub use dma::DmaBuf;
pub use error::{CmdError, CommandFault, Error};
pub use mmio::{Mmio, VolatileMmio};
pub use smmu::{Capabilities, GlobalErrors, Smmu};
pub use structs::{Cd, Command, Event, Granule, Stage1Config, Ste};
