//! The NVIDIA Tegra241 CMDQV device model (host side).
//!
//! [`lifecycle`] is the core: the kernel objects behind the emulated CMDQV and
//! the order rules between them, driven by explicit events.

pub mod device;
pub mod lifecycle;

pub use lifecycle::{ErrorEvents, Lifecycle, LifecycleError, QueueRegCache, Transition};
