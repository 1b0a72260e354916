//! Each kernel/hardware rule the simulated backend enforces, one test per rule
//! (or a few closely related ones), against the Tegra241 model and the selftest
//! mock model.

use std::sync::Arc;

use libc::{EBUSY, EEXIST, EFAULT, EINVAL, EIO, ENOENT, ENOSPC, ENXIO, EOPNOTSUPP, EOVERFLOW};
use vdev::backend::sim::{
    regs, Fault, FaultWhen, HwCommand, KernelInvalidation, SimBackend, SimConfig, SimGuestRam,
    SimModel, Tegra241Host,
};
use vdev::backend::{
    uapi, Backend, Device, HwInfoQuery, Ioas, Kick, NestParent, ObjectTypes, Op, Selftest, VEvent,
    Viommu, ViommuDataIn,
};
use vdev::vmm::GuestMemory;

const RAM: u64 = 0x4000_0000;
const RAM_LEN: u64 = 16 << 20;
/// A second region backed by scattered 4 KiB pages (not physically contiguous).
const FRAG: u64 = 0x8000_0000;
const FRAG_LEN: u64 = 64 << 10;
const PSID: u32 = 0x1234;

fn ram() -> Arc<SimGuestRam> {
    Arc::new(
        SimGuestRam::new()
            .with_region(RAM, RAM_LEN, 2 << 20)
            .with_region(FRAG, FRAG_LEN, 4096),
    )
}

struct Rig {
    sim: SimBackend,
    ram: Arc<SimGuestRam>,
    b: Arc<dyn Backend>,
    ioas: Arc<Ioas>,
    dev: Arc<Device>,
    parent: Arc<NestParent>,
}

fn rig_with(cfg: SimConfig) -> Rig {
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

fn rig() -> Rig {
    rig_with(SimConfig::tegra241())
}

fn errno<T>(r: vdev::backend::Result<T>) -> i32 {
    match r {
        Ok(_) => 0,
        Err(e) => e.errno,
    }
}

fn cmd_bytes(cmd: [u64; 2]) -> [u8; 16] {
    let mut b = [0u8; 16];
    b[..8].copy_from_slice(&cmd[0].to_le_bytes());
    b[8..].copy_from_slice(&cmd[1].to_le_bytes());
    b
}

fn tlbi_asid(asid: u16) -> [u64; 2] {
    [0x11 | ((asid as u64) << 48), 0]
}
fn atc_inv(sid: u32) -> [u64; 2] {
    [0x40 | ((sid as u64) << 32), 0x5000]
}
fn sync() -> [u64; 2] {
    [0x46, 0]
}

// ---------------------------------------------------------------- GET_HW_INFO

#[test]
fn hw_info_reports_the_configured_host() {
    let mut host = Tegra241Host {
        lvcmdqs_per_vintf: 4,
        sids_per_vintf: 8,
        ..Default::default()
    };
    host.idr[3] = 0xabcd;
    let r = rig_with(SimConfig {
        model: SimModel::Tegra241(host),
        ..SimConfig::tegra241()
    });
    let smmu = r.dev.hw_info(HwInfoQuery::Default).unwrap();
    assert_eq!(smmu.data_type, uapi::HW_INFO_TYPE_ARM_SMMUV3);
    assert_eq!(smmu.smmuv3().unwrap().idr[3], 0xabcd);
    let c = r.dev.hw_info_typed().unwrap().tegra241().unwrap();
    assert_eq!((c.version, c.log2vcmdqs, c.log2vsids), (1, 2, 3));
    assert_eq!(errno(r.dev.hw_info(HwInfoQuery::Type(77))), EOPNOTSUPP);
    assert_eq!(errno(r.b.get_hw_info(999, HwInfoQuery::Default)), ENOENT);
}

// --------------------------------------------------------------- VIOMMU_ALLOC

#[test]
fn viommu_takes_a_guest_vintf_with_vmid_and_no_hyp_own() {
    let r = rig();
    let v = Viommu::new(&r.dev, &r.parent, 0).unwrap();
    let s = r.sim.vintf(v.id()).unwrap();
    assert_ne!(s.index, 0, "VINTF 0 stays with the host");
    assert_eq!(s.config & regs::VINTF_HYP_OWN, 0);
    assert_eq!(s.config & regs::VINTF_EN, 1);
    assert_eq!((s.config >> 1) & 0xffff, s.vmid as u32);
    assert_ne!(s.vmid, 0);
    assert_eq!(v.data().mmap_length, 64 << 10);
}

#[test]
fn viommu_alloc_exhausts_vintfs_with_enospc_and_reuses_them() {
    let r = rig(); // 4 VINTFs: 3 for guests
    let a = Viommu::new(&r.dev, &r.parent, 0).unwrap();
    let b2 = Viommu::new(&r.dev, &r.parent, 0).unwrap();
    let c = Viommu::new(&r.dev, &r.parent, 0).unwrap();
    let idx: Vec<u16> = [&a, &b2, &c]
        .iter()
        .map(|v| r.sim.vintf(v.id()).unwrap().index)
        .collect();
    assert_eq!(idx, vec![1, 2, 3]);
    assert_eq!(errno(Viommu::new(&r.dev, &r.parent, 0)), ENOSPC);
    drop(b2);
    let d = Viommu::new(&r.dev, &r.parent, 0).unwrap();
    assert_eq!(r.sim.vintf(d.id()).unwrap().index, 2);
}

#[test]
fn viommu_alloc_argument_rules() {
    let r = rig();
    let t = uapi::VIOMMU_TYPE_TEGRA241_CMDQV;
    assert_eq!(
        errno(r.b.viommu_alloc(r.dev.id(), r.parent.id(), 0, ViommuDataIn::Tegra241)),
        EOPNOTSUPP
    );
    assert_eq!(
        errno(r.b.viommu_alloc(r.dev.id(), r.parent.id(), t, ViommuDataIn::None)),
        EINVAL
    );
    assert_eq!(
        errno(r.b.viommu_alloc(999, r.parent.id(), t, ViommuDataIn::Tegra241)),
        ENOENT
    );
    assert_eq!(
        errno(r.b.viommu_alloc(r.dev.id(), 999, t, ViommuDataIn::Tegra241)),
        ENOENT
    );
    // A paging HWPT that is not a nesting parent.
    let m = r.sim.mock_domain(r.ioas.id()).unwrap();
    assert_eq!(
        errno(r.b.viommu_alloc(m.idev_id, m.hwpt_id, t, ViommuDataIn::Tegra241)),
        EINVAL
    );
    r.b.destroy(m.stdev_id).unwrap();
}

// ------------------------------------------------------------------------ mmap

#[test]
fn mmap_needs_the_exact_offset_and_length() {
    let r = rig();
    let v = Viommu::new(&r.dev, &r.parent, 0).unwrap();
    let (off, len) = (v.data().mmap_offset, v.data().mmap_length);
    assert_eq!(errno(r.b.mmap(off + 4096, len - 4096)), ENXIO);
    assert_eq!(errno(r.b.mmap(off, len - 4096)), ENXIO);
    assert_eq!(errno(r.b.mmap(off, 2 * len)), ENXIO);
    assert_eq!(errno(r.b.mmap(off + (1 << 30), len)), ENXIO);
    assert_eq!(errno(r.b.mmap(off, 100)), EINVAL);
    let m = r.b.mmap(off, len).unwrap();
    assert_eq!(m.len(), 64 << 10);
}

#[test]
fn destroying_a_mapped_viommu_is_ebusy() {
    let r = rig();
    let v = Viommu::new(&r.dev, &r.parent, 0).unwrap();
    let page = v.map_page().unwrap();
    assert_eq!(r.sim.live_mappings(), 1);
    assert_eq!(errno(r.b.destroy(v.id())), EBUSY);
    drop(page);
    assert_eq!(r.sim.live_mappings(), 0);
    // Now only the handle holds it: a raw destroy succeeds.
    r.b.destroy(v.id()).unwrap();
    std::mem::forget(v); // its Drop would destroy a second time
}

// -------------------------------------------------------------- HW_QUEUE_ALLOC

fn hwq(r: &Rig, v: &Viommu, index: u32, iova: u64, len: u64) -> i32 {
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

#[test]
fn hw_queue_index_and_order_rules() {
    let r = rig();
    let v = Viommu::new(&r.dev, &r.parent, 0).unwrap();
    assert_eq!(
        hwq(&r, &v, 2, RAM, 4096),
        EINVAL,
        "index below the per-VINTF count"
    );
    assert_eq!(hwq(&r, &v, 1, RAM, 4096), EIO, "ascending order");
    let q0 = v.alloc_hw_queue(None, RAM, 4096).unwrap();
    assert_eq!(hwq(&r, &v, 0, RAM + 0x10000, 4096), EEXIST, "slot taken");
    let q1 = v.alloc_hw_queue(Some(&q0), RAM + 0x10000, 4096).unwrap();
    assert_eq!(q1.index(), 1);
    assert_eq!(
        errno(r.b.destroy(q0.id())),
        EBUSY,
        "descending order on free"
    );
    assert_eq!(
        errno(r.b.destroy(v.id())),
        EBUSY,
        "queues before the vIOMMU"
    );
    let q = r.sim.vintf(v.id()).unwrap().queues;
    assert_eq!(q[0].map(|x| x.2), Some(8)); // 4 KiB = 256 entries of 16 B
    drop(q0); // q1 still holds it
    assert!(r.sim.vintf(v.id()).unwrap().queues[0].is_some());
    drop(q1);
    assert_eq!(r.sim.vintf(v.id()).unwrap().queues, vec![None, None]);
}

#[test]
fn hw_queue_length_rules() {
    let host = Tegra241Host {
        idr: {
            let mut i = Tegra241Host::default().idr;
            i[1] = (i[1] & !(0x1f << 21)) | (8 << 21); // CMDQS = 8: at most 4 KiB
            i
        },
        ..Default::default()
    };
    let r = rig_with(SimConfig {
        model: SimModel::Tegra241(host),
        ..SimConfig::tegra241()
    });
    let v = Viommu::new(&r.dev, &r.parent, 0).unwrap();
    assert_eq!(hwq(&r, &v, 0, RAM, 0), EINVAL, "zero length");
    assert_eq!(hwq(&r, &v, 0, RAM, 48), EINVAL, "not a power of two");
    assert_eq!(hwq(&r, &v, 0, RAM, 16), EINVAL, "below 32 bytes");
    assert_eq!(hwq(&r, &v, 0, RAM, 8192), EINVAL, "above the CMDQS bound");
    assert_eq!(
        hwq(&r, &v, 0, RAM + 0x20, 64),
        EINVAL,
        "base not aligned to the length"
    );
    assert_eq!(
        hwq(&r, &v, 0, RAM + 0x40, 64),
        0,
        "32..=bound, aligned: fine"
    );
}

#[test]
fn hw_queue_memory_rules() {
    let r = rig();
    let v = Viommu::new(&r.dev, &r.parent, 0).unwrap();
    assert_eq!(hwq(&r, &v, 0, u64::MAX - 0xfff, 0x2000), EOVERFLOW);
    assert_eq!(
        hwq(&r, &v, 0, 0x1000_0000, 4096),
        ENOENT,
        "not mapped in the IOAS"
    );
    assert_eq!(
        hwq(&r, &v, 0, RAM + RAM_LEN - 4096, 8192),
        ENOENT,
        "runs off the mapping"
    );
    assert_eq!(
        hwq(&r, &v, 0, FRAG, 8192),
        EFAULT,
        "not physically contiguous"
    );
    assert_eq!(hwq(&r, &v, 0, FRAG, 4096), 0, "one page is contiguous");
    assert_eq!(
        errno(r.b.hw_queue_alloc(v.id(), 0x55, 0, RAM, 4096)),
        EOPNOTSUPP,
        "queue type"
    );
    assert_eq!(errno(r.b.hw_queue_alloc(999, 1, 0, RAM, 4096)), ENOENT);
}

#[test]
fn hw_queue_pins_its_memory() {
    let r = rig();
    let v = Viommu::new(&r.dev, &r.parent, 0).unwrap();
    let q = v.alloc_hw_queue(None, FRAG, 4096).unwrap();
    assert!(r.sim.is_pinned(r.ioas.id(), FRAG));
    assert_eq!(errno(r.ioas.unmap(FRAG, FRAG_LEN)), EBUSY);
    drop(q);
    assert!(!r.sim.is_pinned(r.ioas.id(), FRAG));
    r.ioas.unmap(FRAG, FRAG_LEN).unwrap();
    assert_eq!(errno(r.ioas.unmap(FRAG, FRAG_LEN)), ENOENT);
}

#[test]
fn failed_hw_queue_alloc_leaves_no_pin() {
    let r = rig();
    let v = Viommu::new(&r.dev, &r.parent, 0).unwrap();
    assert_eq!(hwq(&r, &v, 1, FRAG, 4096), EIO); // pinned, then refused by the driver
    assert!(!r.sim.is_pinned(r.ioas.id(), FRAG));
}

// -------------------------------------------------------------- VDEVICE_ALLOC

#[test]
fn vdevice_programs_sid_match_and_replace() {
    let r = rig();
    let v = Viommu::new(&r.dev, &r.parent, 0).unwrap();
    let vd = v.alloc_vdevice(&r.dev, 0x42).unwrap();
    let s = r.sim.vintf(v.id()).unwrap();
    assert_eq!(s.sid_match[0], (0x42 << 1) | 1);
    assert_eq!(s.sid_replace[0], PSID);
    assert_eq!(
        errno(v.alloc_vdevice(&r.dev, 0x43)),
        EEXIST,
        "one per device"
    );
    let other = Device::external(&r.b, r.sim.add_device(0x99));
    assert_eq!(errno(v.alloc_vdevice(&other, 0x42)), EEXIST, "unique vSID");
    assert_eq!(
        errno(v.alloc_vdevice(&other, 1 << 32)),
        EINVAL,
        "vSID is 32 bits"
    );
    drop(vd);
    let s = r.sim.vintf(v.id()).unwrap();
    assert_eq!((s.sid_match[0], s.sid_replace[0]), (0, 0));
}

#[test]
fn vdevice_has_sixteen_sid_slots() {
    let r = rig();
    let v = Viommu::new(&r.dev, &r.parent, 0).unwrap();
    let devs: Vec<_> = (0..17)
        .map(|i| Device::external(&r.b, r.sim.add_device(0x500 + i)))
        .collect();
    let vds: Vec<_> = devs[..16]
        .iter()
        .enumerate()
        .map(|(i, d)| v.alloc_vdevice(d, i as u64 + 1).unwrap())
        .collect();
    assert_eq!(errno(v.alloc_vdevice(&devs[16], 100)), ENOSPC);
    let s = r.sim.vintf(v.id()).unwrap();
    assert_eq!(s.sid_replace[15], 0x50f);
    drop(vds);
    assert!(r
        .sim
        .vintf(v.id())
        .unwrap()
        .sid_match
        .iter()
        .all(|m| *m == 0));
}

// ------------------------------------------------------------ VCMDQ execution

struct Queue {
    r: Rig,
    v: Arc<Viommu>,
    page: vdev::backend::VintfPage,
    _q: Arc<vdev::backend::HwQueue>,
    base: u64,
}

/// An enabled logical VCMDQ 0 of `len` bytes at RAM + 0x10000.
fn queue(len: u64) -> Queue {
    let r = rig();
    let v = Viommu::new(&r.dev, &r.parent, 0).unwrap();
    let page = v.map_page().unwrap();
    let base = RAM + 0x10000;
    let q = v.alloc_hw_queue(None, base, len).unwrap();
    page.write32(regs::lvcmdq(0, regs::CONFIG), regs::CONFIG_EN);
    r.sim.kick(v.id()).unwrap();
    assert_eq!(
        page.read32(regs::lvcmdq(0, regs::STATUS)),
        Some(regs::STATUS_ENABLED)
    );
    Queue {
        r,
        v,
        page,
        _q: q,
        base,
    }
}

impl Queue {
    fn put(&self, slot: u64, cmd: [u64; 2]) {
        assert!(self.r.ram.write(self.base + slot * 16, &cmd_bytes(cmd)));
    }
    fn prod(&self, p: u32) {
        self.page.write32(regs::lvcmdq(0, regs::PROD), p);
        self.r.sim.kick(self.v.id()).unwrap();
    }
    fn cons(&self) -> u32 {
        self.page.read32(regs::lvcmdq(0, regs::CONS)).unwrap()
    }
}

#[test]
fn vcmdq_consumes_commands_and_records_them() {
    let q = queue(4096);
    q.put(0, tlbi_asid(7));
    q.put(1, [0x12 | (7 << 48), 0x8000_1001]);
    q.put(2, sync());
    q.prod(3);
    assert_eq!(q.cons(), 3);
    let vmid = q.r.sim.vintf(q.v.id()).unwrap().vmid;
    let cmds: Vec<HwCommand> = q.r.sim.hw_invalidations().iter().map(|h| h.cmd).collect();
    assert_eq!(
        cmds,
        vec![
            HwCommand::TlbiNhAsid { vmid, asid: 7 },
            HwCommand::TlbiNhVa {
                vmid,
                asid: 7,
                addr: 0x8000_1000,
                leaf: true
            },
            HwCommand::Sync { cs: 0 },
        ]
    );
}

#[test]
fn vcmdq_cons_wraps() {
    let q = queue(32); // two entries: index bit 0, wrap bit 1
    q.put(0, sync());
    q.put(1, sync());
    q.prod(0b10); // two commands: wrap set, index 0
    assert_eq!(q.cons(), 0b10);
    q.put(0, tlbi_asid(1));
    q.prod(0b11);
    assert_eq!(q.cons(), 0b11);
    assert_eq!(q.r.sim.hw_invalidations().len(), 3);
}

#[test]
fn vcmdq_does_nothing_while_disabled() {
    let q = queue(4096);
    q.page.write32(regs::lvcmdq(0, regs::CONFIG), 0);
    q.put(0, sync());
    q.prod(1);
    assert_eq!(q.cons(), 0);
    assert_eq!(q.page.read32(regs::lvcmdq(0, regs::STATUS)), Some(0));
}

#[test]
fn vcmdq_atc_inv_only_for_matched_sids() {
    let q = queue(4096);
    let _vd = q.v.alloc_vdevice(&q.r.dev, 0x42).unwrap();
    q.put(0, atc_inv(0x42));
    q.prod(1);
    assert_eq!(q.cons(), 1);
    assert!(matches!(
        q.r.sim.hw_invalidations()[0].cmd,
        HwCommand::AtcInv {
            vsid: 0x42,
            psid: PSID,
            ..
        }
    ));
    q.put(1, atc_inv(0x43));
    q.prod(2);
    assert_eq!(q.cons(), 1 | (regs::CERROR_ILL << regs::CONS_ERR_SHIFT));
}

#[test]
fn vcmdq_illegal_command_stops_with_cerror_ill_and_a_vevent() {
    let q = queue(4096);
    let evq = q.v.alloc_veventq(8).unwrap();
    q.put(0, sync());
    q.put(1, [0x13, 0]); // TLBI_NH_VAA: not for a guest-owned VCMDQ
    q.put(2, sync());
    q.prod(3);
    let cons = q.cons();
    assert_eq!(cons & !regs::CONS_ERR_MASK, 1, "stopped at the bad command");
    assert_eq!(
        (cons & regs::CONS_ERR_MASK) >> regs::CONS_ERR_SHIFT,
        regs::CERROR_ILL
    );
    let gerror = q.page.read32(regs::lvcmdq(0, regs::GERROR)).unwrap();
    assert_eq!(gerror & regs::GERROR_CMDQ_ERR, 1);
    let ev: Vec<VEvent> = evq.read().unwrap();
    assert_eq!(ev.len(), 1);
    assert_eq!(ev[0].lvcmdq_err_map(), Some(1));
    assert_eq!(q.r.sim.vintf(q.v.id()).unwrap().err_map, 1);
    // Stalled until acknowledged, even when kicked again.
    q.prod(3);
    assert_eq!(q.cons() & !regs::CONS_ERR_MASK, 1);
    // The guest replaces the command (as Linux's skip does) and acks.
    q.put(1, sync());
    q.page.write32(regs::lvcmdq(0, regs::GERRORN), gerror);
    q.r.sim.kick(q.v.id()).unwrap();
    assert_eq!(q.cons(), 3);
    assert_eq!(q.r.sim.vintf(q.v.id()).unwrap().err_map, 0);
}

#[test]
fn vcmdq_is_reset_when_its_queue_is_freed() {
    let q = queue(4096);
    q.put(0, sync());
    q.prod(1);
    let Queue { r, v, page, _q, .. } = q;
    drop(_q);
    assert_eq!(page.read32(regs::lvcmdq(0, regs::CONFIG)), Some(0));
    assert_eq!(page.read32(regs::lvcmdq(0, regs::CONS)), Some(0));
    assert_eq!(page.read32(regs::lvcmdq(0, regs::PROD)), Some(0));
    drop(page);
    drop(v);
    drop(r);
}

// ------------------------------------------------------- HWPT_ALLOC / INVALIDATE

#[test]
fn nested_hwpt_validates_the_guest_ste() {
    let r = rig();
    let v = Viommu::new(&r.dev, &r.parent, 0).unwrap();
    let s1 = [1 | (0b101 << 1) | 0x4000_0000, 0];
    let h = v.alloc_nested_ste(&r.dev, s1).unwrap();
    assert_eq!(
        errno(v.alloc_nested_ste(&r.dev, [1 | (0b011 << 1), 0])),
        EIO
    );
    assert_eq!(
        errno(v.alloc_nested(&r.dev, uapi::HWPT_DATA_ARM_SMMUV3, &[0u8; 8])),
        EINVAL
    );
    assert_eq!(errno(v.alloc_nested(&r.dev, 0x77, &[0u8; 16])), EOPNOTSUPP);
    assert_eq!(
        errno(r.b.destroy(v.id())),
        EBUSY,
        "nested HWPTs hold their vIOMMU"
    );
    drop(h);
}

#[test]
fn kernel_invalidation_replaces_vsid_and_reports_progress() {
    let r = rig();
    let v = Viommu::new(&r.dev, &r.parent, 0).unwrap();
    let _vd = v.alloc_vdevice(&r.dev, 0x42).unwrap();
    let mut buf = Vec::new();
    buf.extend_from_slice(&cmd_bytes(tlbi_asid(3)));
    buf.extend_from_slice(&cmd_bytes(atc_inv(0x42)));
    assert_eq!(v.invalidate(&buf).unwrap(), 2);
    assert_eq!(
        r.sim.kernel_invalidations()[1],
        KernelInvalidation::Smmuv3 {
            viommu: v.id(),
            cmd: [0x40 | ((PSID as u64) << 32), 0x5000]
        }
    );
    buf.extend_from_slice(&cmd_bytes(atc_inv(0x77)));
    let e = v.invalidate(&buf).unwrap_err();
    assert_eq!((e.errno, e.handled), (EIO, Some(2)));
    assert_eq!(errno(r.b.invalidate(v.id(), 99, 16, &buf)), EINVAL);
    assert_eq!(r.b.invalidate(v.id(), 1, 16, &[]).unwrap(), 0);
}

// ------------------------------------------------------------------- vEVENTQ

#[test]
fn veventq_rules_and_overflow() {
    let r = rig_with(SimConfig::selftest());
    let mock = Device::mock(&r.sim, &r.ioas).unwrap();
    let parent = NestParent::new(&mock, &r.ioas).unwrap();
    let v = Viommu::new(&mock, &parent, 5).unwrap();
    assert_eq!(errno(v.alloc_veventq(0)), EINVAL);
    assert_eq!(errno(v.alloc_veventq(uapi::VEVENTQ_MAX_DEPTH + 1)), EINVAL);
    let q = v.alloc_veventq(2).unwrap();
    assert_eq!(errno(v.alloc_veventq(2)), EEXIST, "one per type");
    assert_eq!(
        errno(r.sim.trigger_vevent(mock.id())),
        ENOENT,
        "no vDEVICE yet"
    );
    let vd = v.alloc_vdevice(&mock, 9).unwrap();
    assert_eq!(
        errno(r.sim.trigger_vevent(mock.id())),
        ENOENT,
        "not attached to a nested HWPT"
    );
    let nested = v
        .alloc_nested(&mock, uapi::selftest::HWPT_DATA_SELFTEST, &[0u8; 8])
        .unwrap();
    let stdev = mock.stdev_id().unwrap();
    r.sim.mock_domain_replace(stdev, nested.id()).unwrap();
    for _ in 0..3 {
        r.sim.trigger_vevent(mock.id()).unwrap();
    }
    let ev = q.read().unwrap();
    assert_eq!(ev.len(), 3);
    assert_eq!(
        (ev[0].sequence, ev[0].data.clone()),
        (0, 9u32.to_le_bytes().to_vec())
    );
    assert_eq!(ev[1].sequence, 1);
    assert!(ev[2].is_lost_marker());
    assert!(q.read().unwrap().is_empty());
    drop(q);
    assert_eq!(
        errno(r.sim.trigger_vevent(mock.id())),
        EOPNOTSUPP,
        "no vEVENTQ"
    );
    // Back to a paging domain before the nested HWPT can go.
    assert_eq!(errno(r.b.destroy(nested.id())), EBUSY, "attached");
    r.sim.mock_domain_replace(stdev, r.ioas.id()).unwrap();
    drop((nested, vd));
}

#[test]
fn attaching_a_nested_hwpt_needs_the_vdevice() {
    let r = rig_with(SimConfig::selftest());
    let mock = Device::mock(&r.sim, &r.ioas).unwrap();
    let parent = NestParent::new(&mock, &r.ioas).unwrap();
    let v = Viommu::new(&mock, &parent, 5).unwrap();
    let nested = v
        .alloc_nested(&mock, uapi::selftest::HWPT_DATA_SELFTEST, &[0u8; 8])
        .unwrap();
    let stdev = mock.stdev_id().unwrap();
    assert_eq!(errno(r.sim.mock_domain_replace(stdev, nested.id())), ENOENT);
    assert_eq!(errno(r.sim.mock_domain_replace(stdev, 999)), ENOENT);
    assert_eq!(errno(r.sim.mock_domain_replace(stdev, v.id())), EINVAL);
    // The nested HWPT's own invalidation (mock IOTLB ids 0..=3).
    let t = uapi::selftest::HWPT_INVALIDATE_DATA_SELFTEST;
    let mut e = Vec::new();
    e.extend_from_slice(&0u32.to_le_bytes());
    e.extend_from_slice(&3u32.to_le_bytes());
    assert_eq!(r.b.invalidate(nested.id(), t, 8, &e).unwrap(), 1);
    e[4] = 4;
    assert_eq!(errno(r.b.invalidate(nested.id(), t, 8, &e)), EINVAL);
    assert_eq!(
        errno(r.b.invalidate(r.ioas.id(), t, 8, &e)),
        EINVAL,
        "not an invalidation target"
    );
}

// ------------------------------------------------- fault injection, no leaks

/// The whole lifecycle through RAII handles; every `?` drops what was built.
fn lifecycle(sim: &SimBackend, b: &Arc<dyn Backend>) -> vdev::backend::Result<()> {
    let dev = Device::external(b, sim.add_device(PSID));
    let ioas = Ioas::new(b)?;
    ioas.map(RAM, RAM_LEN, 0)?;
    let info = dev.hw_info_typed()?;
    assert!(info.tegra241().is_some());
    let parent = NestParent::new(&dev, &ioas)?;
    let v = Viommu::new(&dev, &parent, 0)?;
    let page = v.map_page()?;
    let evq = v.alloc_veventq(4)?;
    let vd = v.alloc_vdevice(&dev, 0x42)?;
    let nested = v.alloc_nested_ste(&dev, [1 | (0b100 << 1), 0])?;
    let q0 = v.alloc_hw_queue(None, RAM + 0x1_0000, 4096)?;
    let q1 = v.alloc_hw_queue(Some(&q0), RAM + 0x2_0000, 4096)?;
    page.write32(regs::lvcmdq(1, regs::CONFIG), regs::CONFIG_EN);
    sim.kick(v.id())?;
    v.invalidate(&cmd_bytes(tlbi_asid(1)))?;
    evq.read()?;
    drop((q1, q0, nested, vd, evq, page));
    ioas.unmap(RAM, RAM_LEN)?;
    Ok(())
}

#[test]
fn every_failure_path_leaks_nothing() {
    let sim = SimBackend::new(SimConfig::tegra241(), ram());
    let b: Arc<dyn Backend> = Arc::new(sim.clone());
    lifecycle(&sim, &b).unwrap();
    assert_eq!(
        sim.live_objects(),
        1,
        "only the externally bound device remains"
    );
    // Fail the n-th call of each allocating kind in turn (destroys are not
    // failed: a destroy the kernel refuses leaks by definition).
    let kinds = [
        Op::IoasAlloc,
        Op::IoasMap,
        Op::GetHwInfo,
        Op::HwptAlloc,
        Op::ViommuAlloc,
        Op::Mmap,
        Op::VeventqAlloc,
        Op::VdeviceAlloc,
        Op::HwQueueAlloc,
        Op::Kick,
        Op::HwptInvalidate,
        Op::VeventqRead,
        Op::IoasUnmap,
    ];
    let mut failures = 0;
    for op in kinds {
        for n in 1.. {
            let sim = SimBackend::new(SimConfig::tegra241(), ram());
            let b: Arc<dyn Backend> = Arc::new(sim.clone());
            sim.inject(Fault {
                op: Some(op),
                when: FaultWhen::Nth(n),
                errno: libc::ENOMEM,
            });
            match lifecycle(&sim, &b) {
                Ok(()) => break,
                Err(e) => {
                    assert_eq!((e.op, e.errno), (op, libc::ENOMEM));
                    failures += 1;
                    assert_eq!(sim.live_mappings(), 0, "{op:?} #{n}: a mapping leaked");
                    assert_eq!(sim.live_objects(), 1, "{op:?} #{n}: objects leaked");
                }
            }
        }
    }
    assert_eq!(
        failures, 15,
        "one failure per allocating call of the lifecycle"
    );
}

#[test]
fn fault_injection_by_kind() {
    let r = rig();
    let v = Viommu::new(&r.dev, &r.parent, 0).unwrap();
    r.sim.inject(Fault {
        op: Some(Op::HwQueueAlloc),
        when: FaultWhen::Every,
        errno: libc::EAGAIN,
    });
    let before = r.sim.live_objects();
    assert_eq!(errno(v.alloc_hw_queue(None, RAM, 4096)), libc::EAGAIN);
    assert_eq!(errno(v.alloc_hw_queue(None, RAM, 4096)), libc::EAGAIN);
    assert_eq!(r.sim.live_objects(), before);
    assert!(v.alloc_veventq(1).is_ok(), "other calls unaffected");
    r.sim.clear_faults();
    assert!(v.alloc_hw_queue(None, RAM, 4096).is_ok());
}

#[test]
fn handles_release_everything_in_order() {
    let r = rig();
    let base = r.sim.live_objects();
    {
        let v = Viommu::new(&r.dev, &r.parent, 0).unwrap();
        let _page = v.map_page().unwrap();
        let q0 = v.alloc_hw_queue(None, RAM, 4096).unwrap();
        let q1 = v.alloc_hw_queue(Some(&q0), RAM + 4096, 4096).unwrap();
        drop(q0); // kept alive by q1
        let _vd = v.alloc_vdevice(&r.dev, 3).unwrap();
        let _q = v.alloc_veventq(1).unwrap();
        drop(v); // kept alive by the page, the queue, the vDEVICE, the vEVENTQ
        assert_eq!(r.sim.live_objects(), base + 5);
        drop(q1);
    }
    assert_eq!(r.sim.live_objects(), base);
    assert_eq!(r.sim.live_mappings(), 0);
}

#[test]
fn destroy_refuses_objects_in_use() {
    let r = rig();
    assert_eq!(errno(r.b.destroy(r.ioas.id())), EBUSY, "HWPT on the IOAS");
    let v = Viommu::new(&r.dev, &r.parent, 0).unwrap();
    assert_eq!(
        errno(r.b.destroy(r.parent.id())),
        EBUSY,
        "vIOMMU on the parent"
    );
    assert_eq!(errno(r.b.destroy(12345)), ENOENT);
    drop(v);
}

// -------------------------------------------------------- the selftest model

#[test]
fn selftest_model_matches_the_mock() {
    let r = rig_with(SimConfig::selftest());
    assert_eq!(*r.b.types(), ObjectTypes::SELFTEST);
    let mock = Device::mock(&r.sim, &r.ioas).unwrap();
    let info = mock.hw_info(HwInfoQuery::Default).unwrap();
    assert_eq!(
        info.selftest_reg(),
        Some(uapi::selftest::HW_INFO_SELFTEST_REGVAL)
    );
    assert_eq!(
        errno(mock.hw_info(HwInfoQuery::Type(uapi::HW_INFO_TYPE_TEGRA241_CMDQV))),
        EOPNOTSUPP
    );
    let parent = NestParent::new(&mock, &r.ioas).unwrap();
    let v = Viommu::new(&mock, &parent, 0x1234_5678).unwrap();
    assert_eq!(v.data().out_data, Some(0x1234_5678));
    assert_eq!(v.data().mmap_length, 8192, "two 4 KiB pages");
    let page = v.map_page().unwrap();
    assert_eq!(page.read32(0), Some(0x1234_5678));
    // The mock's HW queue rules: at most 2, ascending, descending; no length rule.
    let t = uapi::selftest::HW_QUEUE_TYPE_SELFTEST;
    assert_eq!(errno(r.b.hw_queue_alloc(v.id(), t, 2, RAM, 4096)), EINVAL);
    assert_eq!(errno(r.b.hw_queue_alloc(v.id(), t, 1, RAM, 4096)), EIO);
    assert_eq!(errno(r.b.hw_queue_alloc(v.id(), t, 0, RAM, 0)), EINVAL);
    assert_eq!(
        errno(r.b.hw_queue_alloc(v.id(), t, 0, 0x1000_0000, 4096)),
        ENOENT
    );
    let q0 = v.alloc_hw_queue(None, RAM + 8, 100).unwrap();
    let q1 = v.alloc_hw_queue(Some(&q0), RAM + 0x3000, 3 * 4096).unwrap();
    assert_eq!(errno(r.b.destroy(q0.id())), EBUSY);
    assert_eq!(errno(r.b.destroy(v.id())), EBUSY);
    drop((q1, q0));
    // Plain vDEVICE rules, no SID slots.
    let devs: Vec<_> = (0..20)
        .map(|_| Device::mock(&r.sim, &r.ioas).unwrap())
        .collect();
    let vds: Vec<_> = devs
        .iter()
        .enumerate()
        .map(|(i, d)| v.alloc_vdevice(d, i as u64).unwrap())
        .collect();
    assert_eq!(vds.len(), 20);
    // Invalidation of the mock's device cache.
    let mut e = Vec::new();
    for w in [0u32, 3, 2] {
        e.extend_from_slice(&w.to_le_bytes());
    }
    assert_eq!(v.invalidate(&e).unwrap(), 1);
    let mut bad = e.clone();
    bad[8] = 4; // cache_id beyond MOCK_DEV_CACHE_ID_MAX
    assert_eq!(errno(v.invalidate(&bad)), EINVAL);
    drop(vds);
    drop(devs);
    drop(page);
}

#[test]
fn selftest_viommu_without_data_has_no_mmap() {
    let r = rig_with(SimConfig::selftest());
    let mock = Device::mock(&r.sim, &r.ioas).unwrap();
    let parent = NestParent::new(&mock, &r.ioas).unwrap();
    let v = Viommu::with_type(
        &mock,
        &parent,
        uapi::selftest::VIOMMU_TYPE_SELFTEST,
        ViommuDataIn::None,
    )
    .unwrap();
    assert_eq!(v.data().mmap_length, 0);
    assert_eq!(errno(v.map_page()), ENXIO);
    assert_eq!(
        errno(Viommu::with_type(
            &mock,
            &parent,
            uapi::VIOMMU_TYPE_TEGRA241_CMDQV,
            ViommuDataIn::Tegra241
        )),
        EOPNOTSUPP
    );
}

#[test]
fn tegra_nested_attach_follows_the_vdevice() {
    let r = rig();
    let v = Viommu::new(&r.dev, &r.parent, 0).unwrap();
    let h = v.alloc_nested_ste(&r.dev, [1 | (0b101 << 1), 0]).unwrap();
    assert_eq!(
        errno(r.sim.attach_device(r.dev.id(), h.id())),
        ENOENT,
        "no vDEVICE yet"
    );
    let vd = v.alloc_vdevice(&r.dev, 7).unwrap();
    r.sim.attach_device(r.dev.id(), h.id()).unwrap();
    assert_eq!(errno(r.b.destroy(h.id())), EBUSY, "attached");
    // ARM SMMUv3 nests through a vIOMMU only; a nested HWPT cannot parent another.
    assert_eq!(
        errno(r.b.hwpt_alloc_nested(
            r.dev.id(),
            r.parent.id(),
            uapi::HWPT_DATA_ARM_SMMUV3,
            &[0; 16]
        )),
        EOPNOTSUPP
    );
    assert_eq!(
        errno(r.b.hwpt_alloc_nested(r.dev.id(), h.id(), uapi::HWPT_DATA_ARM_SMMUV3, &[0; 16])),
        EINVAL
    );
    assert_eq!(
        errno(r.b.hwpt_alloc_nested(r.dev.id(), v.id(), 0, &[])),
        EINVAL,
        "data type NONE"
    );
    r.sim.attach_device(r.dev.id(), r.parent.id()).unwrap();
    assert_eq!(errno(r.b.destroy(r.parent.id())), EBUSY, "attached");
    r.sim.detach_device(r.dev.id()).unwrap();
    drop((h, vd, v));
    // Everything but the device goes with the handles, without complaint.
    let Rig {
        sim,
        ioas,
        parent,
        dev,
        ..
    } = r;
    drop((parent, ioas, dev));
    assert_eq!(sim.live_objects(), 1);
}
