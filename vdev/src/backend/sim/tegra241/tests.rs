//! The Tegra241 driver's rules, its hardware and its event reporting,
//! through the backend traits.

use super::validate_vste;
use crate::backend::sim::testing::{
    atc_inv, cmd_bytes, errno, hwq, rig, rig_with, selftest_viommu, sim, tlbi_asid, Rig, PSID, RAM,
};
use crate::backend::sim::{regs, KernelInvalidation, SimConfig, SimModel, Tegra241Host};
use crate::backend::{uapi, Backend, Device, HwInfoQuery, VEvent, Viommu, ViommuDataIn};
use libc::{EBUSY, EEXIST, EINVAL, EIO, ENOENT, ENOSPC, EOPNOTSUPP};

#[test]
fn vste_rules() {
    assert_eq!(validate_vste([0, 0]), Ok(()));
    assert_eq!(validate_vste([1 | (0b100 << 1), 0]), Ok(()));
    assert_eq!(validate_vste([1 | (0b101 << 1) | 0x1000, 0]), Ok(()));
    assert_eq!(validate_vste([1 | (0b110 << 1), 0]), Err(libc::EIO));
    assert_eq!(
        validate_vste([1 | (0b101 << 1) | (1 << 52), 0]),
        Err(libc::EIO)
    );
    assert_eq!(validate_vste([1 | (0b101 << 1), 2 << 28]), Err(libc::EIO));
    assert_eq!(validate_vste([1 | (0b101 << 1), 1 << 8]), Err(libc::EIO));
}

#[test]
fn tegra241_ids_follow_the_core() {
    let b = sim(SimConfig::tegra241());
    let ioas = b.ioas_alloc().unwrap();
    let dev = b.add_device(0x10);
    b.ioas_map(ioas, RAM, 2 << 20, 0).unwrap();
    let parent = b.hwpt_alloc_nest_parent(dev, ioas).unwrap();
    let v = b
        .viommu_alloc(
            dev,
            parent,
            uapi::VIOMMU_TYPE_TEGRA241_CMDQV,
            ViommuDataIn::Tegra241,
        )
        .unwrap()
        .viommu_id;
    assert_eq!((ioas, dev, parent, v), (1, 2, 3, 4));
    let t = uapi::HW_QUEUE_TYPE_TEGRA241_CMDQV;
    let q0 = b.hw_queue_alloc(v, t, 0, RAM, 4096).unwrap();
    let q1 = b.hw_queue_alloc(v, t, 1, RAM + 4096, 4096).unwrap();
    assert_eq!((q0, q1), (5, 7));
    assert_eq!(errno(b.destroy(6)), libc::EBUSY);
    let vd = b.vdevice_alloc(v, dev, 0x99).unwrap();
    assert_eq!(vd, 9, "after two queues and their two accesses");
    b.destroy(vd).unwrap();
    let q = b
        .veventq_alloc(v, uapi::VEVENTQ_TYPE_TEGRA241_CMDQV, 2)
        .unwrap();
    assert_eq!(q, 9);
}

#[test]
fn smmu_events_follow_the_kernels_forwarding_rules() {
    let b = sim(SimConfig::tegra241());
    let ioas = b.ioas_alloc().unwrap();
    b.ioas_map(ioas, RAM, 2 << 20, 0).unwrap();
    let d0 = b.add_device(0x100);
    b.add_device(0x200);
    let parent = b.hwpt_alloc_nest_parent(d0, ioas).unwrap();
    let v = b
        .viommu_alloc(d0, parent, uapi::VIOMMU_TYPE_ARM_SMMUV3, ViommuDataIn::None)
        .unwrap()
        .viommu_id;
    // F_TRANSLATION from SID 0x100: SSV/SSID, RnW, input address, IPA.
    let rec =
        |sid: u64, id: u64, w1: u64| [(sid << 32) | (1 << 11) | (5 << 12) | id, w1, 0x5000, 0x7000];
    let fault = rec(0x100, 0x10, 1 << 35);
    // No vEVENTQ, no vDEVICE, not attached: dropped.
    assert_eq!(errno(b.report_smmu_event(fault)), libc::EOPNOTSUPP);
    let q = b
        .veventq_alloc(v, uapi::VEVENTQ_TYPE_ARM_SMMUV3, 2)
        .unwrap();
    assert_eq!(errno(b.report_smmu_event(fault)), libc::EOPNOTSUPP);
    b.vdevice_alloc(v, d0, 0x42).unwrap();
    // A vDEVICE but attached to the nesting parent: no vmaster yet.
    b.attach_device(d0, parent).unwrap();
    assert_eq!(errno(b.report_smmu_event(fault)), libc::EOPNOTSUPP);
    let ste: Vec<u8> = [1u64 | (0b100 << 1), 0]
        .iter()
        .flat_map(|w| w.to_le_bytes())
        .collect();
    let nested = b
        .hwpt_alloc_nested(d0, v, uapi::HWPT_DATA_ARM_SMMUV3, &ste)
        .unwrap();
    b.attach_device(d0, nested).unwrap();
    assert!(b.veventq_read(q).unwrap().is_empty());
    // Unknown StreamID, unhandled id, stall, stage 2: not forwarded.
    assert_eq!(
        errno(b.report_smmu_event(rec(0x300, 0x10, 0))),
        libc::EINVAL
    );
    assert_eq!(
        errno(b.report_smmu_event(rec(0x100, 0x01, 0))),
        libc::EOPNOTSUPP
    );
    assert_eq!(
        errno(b.report_smmu_event(rec(0x100, 0x10, 1 << 31))),
        libc::EOPNOTSUPP
    );
    assert_eq!(
        errno(b.report_smmu_event(rec(0x100, 0x13, 1 << 39))),
        libc::EOPNOTSUPP
    );
    // The other device has no vDEVICE.
    assert_eq!(
        errno(b.report_smmu_event(rec(0x200, 0x10, 0))),
        libc::EOPNOTSUPP
    );
    assert!(b.veventq_read(q).unwrap().is_empty());
    // Forwarded: the virtual id in the SID field, every other bit kept.
    b.report_smmu_event(fault).unwrap();
    b.report_smmu_event(rec(0x100, 0x04, 0)).unwrap();
    let ev = b.veventq_read(q).unwrap();
    assert_eq!(ev.len(), 2);
    let words = |e: &VEvent| -> Vec<u64> {
        e.data
            .chunks(8)
            .map(|c| u64::from_le_bytes(c.try_into().unwrap()))
            .collect()
    };
    let mut want = fault;
    want[0] = (0x42 << 32) | (fault[0] & 0xffff_ffff);
    assert_eq!(words(&ev[0]), want.to_vec());
    assert_eq!((ev[0].sequence, ev[1].sequence), (0, 1));
    assert_eq!(
        words(&ev[1])[0],
        (0x42 << 32) | (1 << 11) | (5 << 12) | 0x04
    );
    // A full queue keeps its records and reports the loss after them.
    for _ in 0..3 {
        b.report_smmu_event(fault).unwrap();
    }
    let ev = b.veventq_read(q).unwrap();
    let seqs: Vec<(u32, bool)> = ev
        .iter()
        .map(|e| (e.sequence, e.is_lost_marker()))
        .collect();
    assert_eq!(seqs, vec![(2, false), (3, false), (4, true)]);
    // Detached from the nested domain: the vmaster is gone.
    b.attach_device(d0, parent).unwrap();
    assert_eq!(errno(b.report_smmu_event(fault)), libc::EOPNOTSUPP);
    // The selftest mock has no SMMU.
    let (st, _, _) = selftest_viommu();
    assert_eq!(errno(st.report_smmu_event(fault)), libc::EOPNOTSUPP);
}

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

// ---------------------------------------------------------------------------
// A host with several SMMUs, each with its own CMDQV.
// ---------------------------------------------------------------------------

/// Two SMMUs: SMMU 0 the default CMDQV, SMMU 1 one with 8 LVCMDQs per VINTF
/// and only 2 VINTFs (one for guests); an IOAS over RAM and a device behind
/// each, both with StreamID 0x100 (StreamIDs are per SMMU).
struct Two {
    b: crate::backend::sim::SimBackend,
    ioas: u32,
    devs: [u32; 2],
}

fn two_smmus() -> Two {
    let wide = Tegra241Host {
        num_vintfs: 2,
        lvcmdqs_per_vintf: 8,
        ..Default::default()
    };
    let b = sim(SimConfig::tegra241_smmus(vec![
        Tegra241Host::default(),
        wide,
    ]));
    let ioas = b.ioas_alloc().unwrap();
    b.ioas_map(ioas, RAM, 2 << 20, 0).unwrap();
    let devs = [
        b.add_device_on(0, 0x100).unwrap(),
        b.add_device_on(1, 0x100).unwrap(),
    ];
    Two { b, ioas, devs }
}

impl Two {
    fn parent(&self, i: usize) -> u32 {
        self.b
            .hwpt_alloc_nest_parent(self.devs[i], self.ioas)
            .unwrap()
    }
    fn viommu(&self, dev: u32, parent: u32) -> crate::backend::Result<u32> {
        self.b
            .viommu_alloc(
                dev,
                parent,
                uapi::VIOMMU_TYPE_TEGRA241_CMDQV,
                ViommuDataIn::Tegra241,
            )
            .map(|o| o.viommu_id)
    }
}

#[test]
fn devices_sit_behind_one_smmu_each() {
    let t = two_smmus();
    assert_eq!(t.b.device_smmu(t.devs[0]), Some(0));
    assert_eq!(t.b.device_smmu(t.devs[1]), Some(1));
    assert_eq!(t.b.device_smmu(999), None);
    let e = t.b.add_device_on(2, 0x300).unwrap_err();
    assert_eq!(
        (e.op, e.errno),
        (crate::backend::Op::VfioBind, libc::ENODEV)
    );
    // add_device is SMMU 0's.
    let d = t.b.add_device(0x400);
    assert_eq!(t.b.device_smmu(d), Some(0));
    // Each device's SMMU answers IOMMU_GET_HW_INFO for it.
    let q = HwInfoQuery::Type(uapi::HW_INFO_TYPE_TEGRA241_CMDQV);
    let log2 = |dev| {
        t.b.get_hw_info(dev, q)
            .unwrap()
            .tegra241()
            .unwrap()
            .log2vcmdqs
    };
    assert_eq!((log2(t.devs[0]), log2(t.devs[1])), (1, 3));
}

#[test]
fn a_viommu_takes_a_vintf_of_its_own_smmus_cmdqv() {
    let t = two_smmus();
    let (p0, p1) = (t.parent(0), t.parent(1));
    let before = t.b.live_objects();
    // The stage 2 of one SMMU cannot back a vIOMMU of another (arm_vsmmu_init).
    assert_eq!(errno(t.viommu(t.devs[1], p0)), EINVAL);
    assert_eq!(errno(t.viommu(t.devs[0], p1)), EINVAL);
    assert_eq!(t.b.live_objects(), before, "nothing allocated");
    // SMMU 1's CMDQV has one VINTF for guests; SMMU 0's three are separate.
    let v1 = t.viommu(t.devs[1], p1).unwrap();
    assert_eq!(
        errno(t.viommu(t.devs[1], p1)),
        ENOSPC,
        "SMMU 1 is out of VINTFs"
    );
    let v0: Vec<u32> = (0..3).map(|_| t.viommu(t.devs[0], p0).unwrap()).collect();
    assert_eq!(errno(t.viommu(t.devs[0], p0)), ENOSPC);
    let s1 = t.b.vintf(v1).unwrap();
    assert_eq!((s1.smmu, s1.index), (1, 1));
    let idx: Vec<(usize, u16)> = v0
        .iter()
        .map(|v| {
            let s = t.b.vintf(*v).unwrap();
            (s.smmu, s.index)
        })
        .collect();
    assert_eq!(idx, vec![(0, 1), (0, 2), (0, 3)]);
    // Each SMMU allocates its own VMIDs: both first nesting parents got 1.
    assert_eq!((s1.vmid, t.b.vintf(v0[0]).unwrap().vmid), (1, 1));
    // A destroyed vIOMMU gives its VINTF back to its own CMDQV.
    t.b.destroy(v1).unwrap();
    let again = t.viommu(t.devs[1], p1).unwrap();
    assert_eq!(t.b.vintf(again).unwrap().index, 1);
}

#[test]
fn a_device_of_another_smmu_gets_einval_on_a_viommu() {
    let t = two_smmus();
    let v0 = t.viommu(t.devs[0], t.parent(0)).unwrap();
    // vDEVICE: the core's check comes before the driver takes a SID slot.
    assert_eq!(errno(t.b.vdevice_alloc(v0, t.devs[1], 0x10)), EINVAL);
    assert!(t.b.vintf(v0).unwrap().sid_match.iter().all(|m| *m == 0));
    // Nested HWPT on that vIOMMU for the other SMMU's device.
    let ste: Vec<u8> = [1u64 | (0b100 << 1), 0]
        .iter()
        .flat_map(|w| w.to_le_bytes())
        .collect();
    assert_eq!(
        errno(t.b.hwpt_alloc_nested(t.devs[1], v0, uapi::HWPT_DATA_ARM_SMMUV3, &ste)),
        EINVAL
    );
    // Its own device is fine, and the other device's own vIOMMU too.
    t.b.vdevice_alloc(v0, t.devs[0], 0x10).unwrap();
    let n0 =
        t.b.hwpt_alloc_nested(t.devs[0], v0, uapi::HWPT_DATA_ARM_SMMUV3, &ste)
            .unwrap();
    let v1 = t.viommu(t.devs[1], t.parent(1)).unwrap();
    t.b.vdevice_alloc(v1, t.devs[1], 0x10).unwrap();
    // Attaching across SMMUs: EINVAL for the nested HWPT and the page table.
    assert_eq!(errno(t.b.attach_device(t.devs[1], n0)), EINVAL);
    let p0 = t.parent(0);
    assert_eq!(errno(t.b.attach_device(t.devs[1], p0)), EINVAL);
    t.b.attach_device(t.devs[0], n0).unwrap();
}

#[test]
fn automatic_domains_are_per_smmu() {
    let t = two_smmus();
    let d0b = t.b.add_device_on(0, 0x200).unwrap();
    t.b.attach_device(t.devs[0], t.ioas).unwrap();
    t.b.attach_device(t.devs[1], t.ioas).unwrap();
    t.b.attach_device(d0b, t.ioas).unwrap();
    let a = |d| crate::backend::sim::testing::attached(&t.b, d).unwrap();
    assert_ne!(a(t.devs[0]), a(t.devs[1]), "SMMU 1 got a domain of its own");
    assert_eq!(a(t.devs[0]), a(d0b), "SMMU 0's domain is shared");
}

#[test]
fn hw_queue_rules_follow_the_viommus_smmu() {
    let t = two_smmus();
    let q = uapi::HW_QUEUE_TYPE_TEGRA241_CMDQV;
    let v0 = t.viommu(t.devs[0], t.parent(0)).unwrap();
    let v1 = t.viommu(t.devs[1], t.parent(1)).unwrap();
    let mut ids = Vec::new();
    // SMMU 1: eight per VINTF, ascending.
    for i in 0..8u32 {
        let at = RAM + 0x1000 * u64::from(i);
        ids.push(t.b.hw_queue_alloc(v1, q, i, at, 4096).unwrap());
    }
    assert_eq!(
        errno(t.b.hw_queue_alloc(v1, q, 8, RAM + 0x8000, 4096)),
        EINVAL
    );
    // SMMU 0: two.
    t.b.hw_queue_alloc(v0, q, 0, RAM + 0x10000, 4096).unwrap();
    t.b.hw_queue_alloc(v0, q, 1, RAM + 0x11000, 4096).unwrap();
    assert_eq!(
        errno(t.b.hw_queue_alloc(v0, q, 2, RAM + 0x12000, 4096)),
        EINVAL
    );
    // Descending free on SMMU 1 whatever its count.
    for id in ids.iter().take(7) {
        assert_eq!(errno(t.b.destroy(*id)), EBUSY);
    }
    for id in ids.iter().rev() {
        t.b.destroy(*id).unwrap();
    }
    assert!(t.b.vintf(v1).unwrap().queues.iter().all(|q| q.is_none()));
}

#[test]
fn smmu_events_come_from_the_named_smmu() {
    let t = two_smmus();
    let ste: Vec<u8> = [1u64 | (0b100 << 1), 0]
        .iter()
        .flat_map(|w| w.to_le_bytes())
        .collect();
    let mut queues = Vec::new();
    for (i, vsid) in [(0usize, 0x10u64), (1, 0x20)] {
        let p = t.parent(i);
        let v =
            t.b.viommu_alloc(
                t.devs[i],
                p,
                uapi::VIOMMU_TYPE_ARM_SMMUV3,
                ViommuDataIn::None,
            )
            .unwrap()
            .viommu_id;
        let evq =
            t.b.veventq_alloc(v, uapi::VEVENTQ_TYPE_ARM_SMMUV3, 4)
                .unwrap();
        t.b.vdevice_alloc(v, t.devs[i], vsid).unwrap();
        let n =
            t.b.hwpt_alloc_nested(t.devs[i], v, uapi::HWPT_DATA_ARM_SMMUV3, &ste)
                .unwrap();
        t.b.attach_device(t.devs[i], n).unwrap();
        queues.push(evq);
    }
    // Both devices have StreamID 0x100: the SMMU decides whose fault it is.
    let fault = [(0x100u64 << 32) | 0x10, 0, 0, 0];
    t.b.report_smmu_event_on(1, fault).unwrap();
    assert!(t.b.veventq_read(queues[0]).unwrap().is_empty());
    let ev = t.b.veventq_read(queues[1]).unwrap();
    assert_eq!(
        ev[0].data[4..8],
        0x20u32.to_le_bytes(),
        "vSID of SMMU 1's device"
    );
    t.b.report_smmu_event(fault).unwrap();
    let ev = t.b.veventq_read(queues[0]).unwrap();
    assert_eq!(ev[0].data[4..8], 0x10u32.to_le_bytes());
    assert_eq!(errno(t.b.report_smmu_event_on(2, fault)), libc::EINVAL);
}
