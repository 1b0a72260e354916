//! The vSMMUv3 front end (host side): ID registers from the host's
//! capabilities ([`idr`]), the stream table walk ([`strtab`]), the emulated
//! command queue ([`cmdq`]) and event queue ([`eventq`]), and the core that
//! applies them to the host through the [`crate::backend::Backend`]
//! ([`core`]).

pub mod cmdq;
pub mod core;
pub mod device;
pub mod eventq;
mod hooks;
pub mod idr;
pub mod strtab;
pub mod vevents;

pub use self::core::{SmmuCore, Stats};
pub use self::device::{Vsmmuv3, Vsmmuv3Config};
