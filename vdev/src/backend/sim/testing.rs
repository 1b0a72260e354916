//! What the simulator's unit tests share: a simulated kernel over guest
//! RAM, errno extraction, the selftest vIOMMU fixture, and the rig of the
//! rule tests (a Tegra241 host with an IOAS, a bound device and a nesting
//! parent, built through the RAII handles).

use std::sync::Arc;

use super::objects::Obj;
use super::{SimBackend, SimConfig, SimGuestRam};
use crate::backend::uapi::{self, selftest};
use crate::backend::{
    Backend, Device, Ioas, MockDomain, NestParent, ObjId, Result, Selftest, Viommu, ViommuDataIn,
};

/// Guest RAM: its base ([`sim`] has 4 MiB there, the [`rig`] [`RAM_LEN`]),
/// in 2 MiB backing pages.
pub(super) const RAM: u64 = 0x4000_0000;
/// Bytes of the rig's guest RAM.
pub(super) const RAM_LEN: u64 = 16 << 20;
/// A second region of the rig, backed by scattered 4 KiB pages (not
/// physically contiguous).
pub(super) const FRAG: u64 = 0x8000_0000;
/// Bytes of [`FRAG`].
pub(super) const FRAG_LEN: u64 = 64 << 10;
/// Physical StreamID of the rig's device.
pub(super) const PSID: u32 = 0x1234;

/// A simulated kernel of `cfg` over [`RAM`].
pub(super) fn sim(cfg: SimConfig) -> SimBackend {
    let ram = SimGuestRam::new().with_region(RAM, 4 << 20, 2 << 20);
    SimBackend::new(cfg, Arc::new(ram))
}

/// The errno of a result (0 for success).
pub(super) fn errno<T>(r: Result<T>) -> i32 {
    r.err().map_or(0, |x| x.errno)
}

/// The HWPT a device is attached to.
pub(super) fn attached(b: &SimBackend, dev: ObjId) -> Option<ObjId> {
    match b.lock().objs.get(&dev) {
        Some(Obj::Device { attached, .. }) => *attached,
        _ => None,
    }
}

/// Selftest: IOAS 1, mock device (stdev 2, idev 3, HWPT 4), parent 5,
/// vIOMMU 6.
pub(super) fn selftest_viommu() -> (SimBackend, MockDomain, ObjId) {
    let b = sim(SimConfig::selftest());
    let ioas = b.ioas_alloc().unwrap();
    let dev = b.mock_domain(ioas).unwrap();
    let parent = b.hwpt_alloc_nest_parent(dev.idev_id, ioas).unwrap();
    let v = b
        .viommu_alloc(
            dev.idev_id,
            parent,
            selftest::VIOMMU_TYPE_SELFTEST,
            ViommuDataIn::None,
        )
        .unwrap();
    assert_eq!((ioas, dev.stdev_id, dev.idev_id, dev.hwpt_id), (1, 2, 3, 4));
    assert_eq!((parent, v.viommu_id), (5, 6));
    (b, dev, v.viommu_id)
}

/// The rig's guest memory: [`RAM`] and [`FRAG`].
pub(super) fn ram() -> Arc<SimGuestRam> {
    Arc::new(
        SimGuestRam::new()
            .with_region(RAM, RAM_LEN, 2 << 20)
            .with_region(FRAG, FRAG_LEN, 4096),
    )
}

/// A simulated host with an IOAS over its guest memory, a bound device and
/// a nesting parent.
pub(super) struct Rig {
    pub(super) sim: SimBackend,
    pub(super) ram: Arc<SimGuestRam>,
    pub(super) b: Arc<dyn Backend>,
    pub(super) ioas: Arc<Ioas>,
    pub(super) dev: Arc<Device>,
    pub(super) parent: Arc<NestParent>,
}

pub(super) fn rig_with(cfg: SimConfig) -> Rig {
    let ram = ram();
    let sim = SimBackend::new(cfg, ram.clone());
    let b: Arc<dyn Backend> = Arc::new(sim.clone());
    let ioas = Ioas::new(&b).unwrap();
    ioas.map(RAM, RAM_LEN, 0).unwrap();
    ioas.map(FRAG, FRAG_LEN, 0).unwrap();
    let dev = Device::external(&b, sim.add_device(PSID));
    let parent = NestParent::new(&dev, &ioas).unwrap();
    Rig {
        sim,
        ram,
        b,
        ioas,
        dev,
        parent,
    }
}

pub(super) fn rig() -> Rig {
    rig_with(SimConfig::tegra241())
}

pub(super) fn hwq(r: &Rig, v: &Viommu, index: u32, iova: u64, len: u64) -> i32 {
    // A probe: a queue it manages to allocate is freed again at once.
    match r
        .b
        .hw_queue_alloc(v.id(), uapi::HW_QUEUE_TYPE_TEGRA241_CMDQV, index, iova, len)
    {
        Ok(id) => {
            r.b.destroy(id).unwrap();
            0
        }
        Err(e) => e.errno,
    }
}

pub(super) fn cmd_bytes(cmd: [u64; 2]) -> [u8; 16] {
    let mut b = [0u8; 16];
    b[..8].copy_from_slice(&cmd[0].to_le_bytes());
    b[8..].copy_from_slice(&cmd[1].to_le_bytes());
    b
}

pub(super) fn tlbi_asid(asid: u16) -> [u64; 2] {
    [0x11 | ((asid as u64) << 48), 0]
}

pub(super) fn atc_inv(sid: u32) -> [u64; 2] {
    [0x40 | ((sid as u64) << 32), 0x5000]
}

pub(super) fn sync() -> [u64; 2] {
    [0x46, 0]
}
