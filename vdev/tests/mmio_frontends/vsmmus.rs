//! Several vSMMUv3 instances in one VMM on one iommufd, on a simulated Grace
//! host with two physical SMMUs (each with its CMDQV): each vSMMU with its
//! own nesting parent, vIOMMU, VINTF and windows, its queues running side by
//! side; a device plugged into the vSMMU of another SMMU, and a vSMMU past
//! its host CMDQV's VINTFs, refused with clear errors and nothing left.

use super::*;
use vdev::backend::sim::{SimConfig, Tegra241Host};
use vdev::cmdqv::lifecycle::LifecycleError;

/// Windows of vSMMU `k`.
fn smmu_at(k: usize) -> u64 {
    SMMU + 0x20_0000 * k as u64
}
fn cmdqv_at(k: usize) -> u64 {
    CMDQV + 0x20_0000 * k as u64
}
/// Logical queue `l`'s memory for vSMMU `k`.
fn mem_at(k: usize, l: usize) -> u64 {
    RAM + 0x40_0000 + 0x10_0000 * k as u64 + 0x1000 * l as u64
}

/// The host: SMMU 0 with the default CMDQV (three guest VINTFs) and two
/// devices (pSIDs 0x100, 0x200), SMMU 1 with two VINTFs (one for guests)
/// and two devices (pSIDs 0x100 again, StreamIDs being per SMMU, and
/// 0x300); each CMDQV with `n` LVCMDQs per VINTF (at least 2).
struct Host {
    sim: SimBackend,
    ram: Arc<SimGuestRam>,
    b: Arc<dyn Backend>,
    ioas: Arc<Ioas>,
    regions: Arc<RecordingRegions>,
    /// Devices by SMMU.
    devs: [Vec<Arc<Device>>; 2],
    baseline: usize,
}

fn host(n: usize) -> Host {
    let per = (n as u16).max(2);
    let smmus = vec![
        Tegra241Host {
            lvcmdqs_per_vintf: per,
            ..Default::default()
        },
        Tegra241Host {
            num_vintfs: 2,
            lvcmdqs_per_vintf: per,
            ..Default::default()
        },
    ];
    let ram = Arc::new(SimGuestRam::new().with_region(RAM, RAM_LEN, 2 << 20));
    let sim = SimBackend::new(SimConfig::tegra241_smmus(smmus), ram.clone());
    let b: Arc<dyn Backend> = Arc::new(sim.clone());
    let ioas = Ioas::new(&b).unwrap();
    ioas.map(RAM, RAM_LEN, 0).unwrap();
    let dev = |smmu, psid| Device::external(&b, sim.add_device_on(smmu, psid).unwrap());
    let devs = [
        vec![dev(0, 0x100), dev(0, 0x200)],
        vec![dev(1, 0x100), dev(1, 0x300)],
    ];
    let baseline = sim.live_objects();
    Host {
        sim,
        ram,
        b,
        ioas,
        regions: Arc::new(RecordingRegions::new()),
        devs,
        baseline,
    }
}

impl Host {
    /// A vSMMUv3 with `n` LVCMDQs whose nesting parent is allocated through
    /// `through` (so it is that device's SMMU's), windows of slot `k`.
    fn vsmmu(&self, through: &Arc<Device>, k: usize, n: usize) -> Vsmmuv3 {
        let parent = NestParent::new(through, &self.ioas).unwrap();
        let lc = Lifecycle::new(
            self.b.clone(),
            parent,
            self.regions.clone(),
            cmdqv_at(k) + VINTF0_PAGE0,
        )
        .with_kick(Arc::new(self.sim.clone()))
        .with_lvcmdqs(n)
        .unwrap();
        let core = SmmuCore::new(lc, Arc::new(self.sim.clone()), self.ram.clone());
        let irq = Arc::new(CountingIrq::new());
        let cfg = Vsmmuv3Config {
            backing_page: 2 << 20,
            cmdqv: true,
            irqs: Irqs::shared(irq),
        };
        Vsmmuv3::new(core, &host_smmuv3_info(through).unwrap(), cfg).unwrap()
    }
}

/// The guest brings up `n` queues of vSMMU `k` on the bus.
fn bring_up(bus: &mut GuestBus, k: usize, n: usize) {
    let c = cmdqv_at(k);
    bus.write32(c + cq::CONFIG::OFFSET as u64, 1);
    for l in 0..n {
        let map =
            cq::CMDQ_ALLOC_MAP::ALLOC.val(1).value | cq::CMDQ_ALLOC_MAP::LVCMDQ.val(l as u32).value;
        bus.write32(c + (cq::CMDQ_ALLOC_MAP::OFFSET + 4 * l) as u64, map);
        let base = c + (cq::VCMDQ_PAGE1::BASE::OFFSET + 0x80 * l) as u64;
        bus.write64(base, mem_at(k, l) | u64::from(LOG2));
    }
    bus.write32(c + cq::VINTF::CONFIG::OFFSET as u64, 1);
    for l in 0..n {
        let cfg = c + (cq::VINTF_PAGE0::LVCMDQ::CONFIG::OFFSET + 0x80 * l) as u64;
        bus.write32(cfg, 1);
    }
}

/// Commands into queue `l` of vSMMU `k`, PROD published through its page;
/// returns CONS.
fn submit(h: &Host, bus: &mut GuestBus, k: usize, l: usize, cmds: &[[u64; 2]]) -> u32 {
    for (i, c) in cmds.iter().enumerate() {
        let at = mem_at(k, l) + 16 * i as u64;
        assert!(h.ram.write_u64(at, c[0]) && h.ram.write_u64(at + 8, c[1]));
    }
    let page = cmdqv_at(k) + VINTF0_PAGE0 + 0x80 * l as u64;
    bus.write32(page + 4, cmds.len() as u32);
    bus.read32(page)
}

#[test]
fn two_vsmmus_run_their_own_queues_side_by_side() {
    let n = 4;
    let h = host(n);
    let mut v0 = h.vsmmu(&h.devs[0][0], 0, n);
    let mut v1 = h.vsmmu(&h.devs[1][0], 1, n);
    for (d, vsid) in h.devs[0].iter().zip([0x10, 0x11]) {
        v0.plug(d, vsid).unwrap();
    }
    v1.plug(&h.devs[1][0], 0x10).unwrap();
    let mut bus = GuestBus::new(v0, h.regions.clone(), smmu_at(0), cmdqv_at(0));
    assert_eq!(bus.add_device(v1, smmu_at(1), cmdqv_at(1)), Ok(1));
    assert_eq!(bus.devices(), 2);
    for k in 0..2 {
        bring_up(&mut bus, k, n);
    }
    // Two VINTF pages installed, one in each CMDQV window.
    assert_eq!(
        h.regions.installed(),
        vec![
            (cmdqv_at(0) + VINTF0_PAGE0, 0x1_0000),
            (cmdqv_at(1) + VINTF0_PAGE0, 0x1_0000)
        ]
    );
    let viommus: Vec<u32> = (0..2)
        .map(|k| bus.device_at(k).unwrap().core().lc.viommu().unwrap().id())
        .collect();
    // Each on a VINTF of its own SMMU's CMDQV.
    for (k, v) in viommus.iter().enumerate() {
        let s = h.sim.vintf(*v).unwrap();
        assert_eq!((s.smmu, s.index), (k, 1));
        assert!(s.queues[..n].iter().all(|q| q.is_some()));
    }
    // Commands on every queue of both: a TLBI with the queue's ASID, an
    // ATC_INV of vSID 0x10 (each vSMMU's own device 0x10), a CMD_SYNC.
    for k in 0..2 {
        for l in 0..n {
            let asid = (10 * k + l) as u64;
            let cmds = [
                [0x11 | (asid << 48), 0],
                [0x40 | (0x10 << 32), 0],
                [0x46, 0],
            ];
            assert_eq!(submit(&h, &mut bus, k, l, &cmds), 3, "vSMMU{k} LVCMDQ{l}");
        }
    }
    let hw = h.sim.hw_invalidations();
    for (k, v) in viommus.iter().enumerate() {
        let vmid = h.sim.vintf(*v).unwrap().vmid;
        for l in 0..n {
            let ran: Vec<_> = hw
                .iter()
                .filter(|x| x.viommu == *v && x.lidx as usize == l)
                .map(|x| x.cmd)
                .collect();
            let asid = (10 * k + l) as u16;
            assert!(
                matches!(
                    ran[..],
                    [
                        HwCommand::TlbiNhAsid { vmid: m, asid: a },
                        HwCommand::AtcInv { vsid: 0x10, psid: 0x100, .. },
                        HwCommand::Sync { .. }
                    ] if m == vmid && a == asid
                ),
                "vSMMU{k} LVCMDQ{l}: {ran:?}"
            );
        }
    }
    // Teardown of both: nothing left.
    for mut d in bus.into_devices() {
        d.teardown();
    }
    assert_eq!(h.sim.live_objects(), h.baseline);
    assert_eq!(h.sim.live_mappings(), 0);
    assert!(h.regions.installed().is_empty());
}

#[test]
fn a_device_of_another_smmu_is_refused_with_a_clear_error() {
    let h = host(2);
    let mut v0 = h.vsmmu(&h.devs[0][0], 0, 2);
    let mut v1 = h.vsmmu(&h.devs[1][0], 1, 2);
    let before = h.sim.live_objects();
    // The first plug of vSMMU 1 with SMMU 0's device: its vIOMMU cannot be
    // built on SMMU 1's nesting parent (EINVAL), nothing is left.
    let e = v1.plug(&h.devs[0][1], 0x10).unwrap_err();
    assert!(
        matches!(&e, LifecycleError::OtherSmmu(x) if x.op == Op::ViommuAlloc && x.errno == libc::EINVAL),
        "{e:?}"
    );
    assert!(e.to_string().contains("another physical SMMU"), "{e}");
    assert!(v1.core().lc.viommu().is_none());
    assert_eq!(h.sim.live_objects(), before);
    // vSMMU 0 bound with its own device; SMMU 1's device is refused at its
    // vDEVICE (EINVAL), nothing is left of it.
    v0.plug(&h.devs[0][0], 0x10).unwrap();
    let bound = h.sim.live_objects();
    let e = v0.plug(&h.devs[1][0], 0x11).unwrap_err();
    assert!(
        matches!(&e, LifecycleError::OtherSmmu(x) if x.op == Op::VdeviceAlloc && x.errno == libc::EINVAL),
        "{e:?}"
    );
    assert!(!v0.core().lc.has_vdevice(0x11));
    assert_eq!(h.sim.live_objects(), bound);
    // Each device in its own vSMMU is fine.
    v1.plug(&h.devs[1][0], 0x10).unwrap();
    v0.plug(&h.devs[0][1], 0x11).unwrap();
    drop((v0, v1));
    assert_eq!(h.sim.live_objects(), h.baseline);
}

#[test]
fn a_vsmmu_past_the_host_cmdqvs_vintfs_fails_at_its_first_plug() {
    let h = host(2);
    // SMMU 1's CMDQV has one VINTF for guests: the first vSMMU on it takes it.
    let mut a = h.vsmmu(&h.devs[1][0], 0, 2);
    a.plug(&h.devs[1][0], 0x10).unwrap();
    let mut b = h.vsmmu(&h.devs[1][1], 1, 2);
    let before = h.sim.live_objects();
    let e = b.plug(&h.devs[1][1], 0x10).unwrap_err();
    assert!(
        matches!(&e, LifecycleError::NoVintf(x) if x.op == Op::ViommuAlloc && x.errno == libc::ENOSPC),
        "{e:?}"
    );
    assert!(e.to_string().contains("no free VINTF"), "{e}");
    assert!(e.to_string().contains("ENOSPC"), "{e}");
    assert_eq!(
        h.sim.live_objects(),
        before,
        "nothing left of the failed plug"
    );
    assert_eq!(h.sim.live_mappings(), 1, "only the first vSMMU's page");
    assert_eq!(h.regions.installed(), vec![]);
    // Once the first vSMMU is gone, the VINTF is free again.
    drop(a);
    b.plug(&h.devs[1][1], 0x10).unwrap();
    let s = h.sim.vintf(b.core().lc.viommu().unwrap().id()).unwrap();
    assert_eq!((s.smmu, s.index), (1, 1));
    drop(b);
    assert_eq!(h.sim.live_objects(), h.baseline);
}

#[test]
fn windows_of_two_vsmmus_may_not_overlap() {
    let h = host(2);
    let v0 = h.vsmmu(&h.devs[0][0], 0, 2);
    let v1 = h.vsmmu(&h.devs[1][0], 1, 2);
    let mut bus = GuestBus::new(v0, h.regions.clone(), smmu_at(0), cmdqv_at(0));
    // SMMU window 128 KiB: one at SMMU + 64 KiB overlaps the first.
    let e = bus
        .add_device(v1, smmu_at(0) + 0x1_0000, cmdqv_at(1))
        .unwrap_err();
    assert_eq!((e.base, e.other), (smmu_at(0) + 0x1_0000, smmu_at(0)));
    assert!(e.to_string().contains("overlaps"));
    assert_eq!(bus.devices(), 1);
}
