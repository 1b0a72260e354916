//! The simulated Tegra241 host shared by the integration tests: guest RAM,
//! an IOAS mapping it, two bound devices, a nesting parent and the CMDQV
//! lifecycle over them.
// Each test crate that includes this module uses only part of it.
#![allow(dead_code)]

use std::sync::Arc;

use vdev::backend::sim::{SimBackend, SimConfig, SimGuestRam, SimModel};
use vdev::backend::{Backend, Device, Ioas, NestParent};
use vdev::cmdqv::lifecycle::{Lifecycle, NUM_LVCMDQS};
use vdev::vmm::RecordingRegions;

/// Guest RAM: base and size (2 MiB backing pages).
pub const RAM: u64 = 0x4000_0000;
pub const RAM_LEN: u64 = 16 << 20;

/// What [`host`] built.
pub struct Host {
    pub sim: SimBackend,
    pub ram: Arc<SimGuestRam>,
    pub regions: Arc<RecordingRegions>,
    /// Bound devices with StreamIDs 0x100 and 0x200.
    pub devs: Vec<Arc<Device>>,
    /// A lifecycle installing the VINTF page through `regions`.
    pub lc: Lifecycle,
    /// Live objects that are not the lifecycle's (IOAS, nesting parent,
    /// bound devices).
    pub baseline: usize,
}

/// A simulated host whose lifecycle installs the VINTF page at `vintf_gpa`.
pub fn host(vintf_gpa: u64) -> Host {
    host_with_lvcmdqs(vintf_gpa, NUM_LVCMDQS)
}

/// [`host`] with a lifecycle of `n` logical VCMDQs, on a host CMDQV with
/// `n` per VINTF (at least its default two).
pub fn host_with_lvcmdqs(vintf_gpa: u64, n: usize) -> Host {
    let ram = Arc::new(SimGuestRam::new().with_region(RAM, RAM_LEN, 2 << 20));
    let sim = SimBackend::new(sim_config(n), ram.clone());
    let b: Arc<dyn Backend> = Arc::new(sim.clone());
    let ioas = Ioas::new(&b).unwrap();
    ioas.map(RAM, RAM_LEN, 0).unwrap();
    let devs = vec![
        Device::external(&b, sim.add_device(0x100)),
        Device::external(&b, sim.add_device(0x200)),
    ];
    let parent = NestParent::new(&devs[0], &ioas).unwrap();
    let baseline = sim.live_objects();
    let regions = Arc::new(RecordingRegions::new());
    let lc = Lifecycle::new(b, parent, regions.clone(), vintf_gpa)
        .with_kick(Arc::new(sim.clone()))
        .with_lvcmdqs(n)
        .expect("a power of two up to 128");
    Host {
        sim,
        ram,
        regions,
        devs,
        lc,
        baseline,
    }
}

/// A Grace host (one SMMU) whose CMDQV has `n` logical VCMDQs per VINTF,
/// or its default two when `n` is smaller.
pub fn sim_config(n: usize) -> SimConfig {
    let mut cfg = SimConfig::tegra241();
    if let SimModel::Tegra241(h) = &mut cfg.model {
        h.lvcmdqs_per_vintf = h.lvcmdqs_per_vintf.max(n as u16);
    }
    cfg
}

/// The four preconditions of a VCMDQ's HW queue: BASE written,
/// CMDQ_ALLOC_MAP.ALLOC, CONFIG.CMDQV_EN, VINTF CONFIG.ENABLE.
#[derive(Clone, Copy, Debug)]
pub enum Pre {
    Base,
    Alloc,
    CmdqvEn,
    VintfEn,
}

/// Every order of `items`.
pub fn permutations(items: &[Pre]) -> Vec<Vec<Pre>> {
    if items.len() <= 1 {
        return vec![items.to_vec()];
    }
    let mut out = Vec::new();
    for i in 0..items.len() {
        let mut rest = items.to_vec();
        let x = rest.remove(i);
        for mut p in permutations(&rest) {
            p.insert(0, x);
            out.push(p);
        }
    }
    out
}
