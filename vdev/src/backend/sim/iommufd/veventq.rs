//! vEVENTQs: one per vIOMMU and type, a bounded depth, every report taking
//! a sequence number, a full queue losing the event behind a lost-events
//! marker, and reads that drain the queue.

use std::collections::VecDeque;

use super::super::objects::{Obj, State};
use super::super::{e, SimBackend};
use crate::backend::{uapi, ObjId, Op, Result, VEvent};

/// `IOMMU_VEVENTQ_ALLOC` of `veventq_type` on `viommu`.
pub(crate) fn alloc(
    sim: &SimBackend,
    viommu: ObjId,
    veventq_type: u32,
    depth: u32,
) -> Result<ObjId> {
    let op = Op::VeventqAlloc;
    let mut st = sim.begin(op)?;
    if veventq_type == 0 {
        return Err(e(op, libc::EOPNOTSUPP));
    }
    if depth == 0 || depth > uapi::VEVENTQ_MAX_DEPTH {
        return Err(e(op, libc::EINVAL));
    }
    if st.viommu(viommu).is_none() {
        return Err(e(op, libc::ENOENT));
    }
    let dup = st.objs.values().any(
        |o| matches!(o, Obj::Veventq { viommu: v, vtype, .. } if *v == viommu && *vtype == veventq_type),
    );
    if dup {
        return Err(e(op, libc::EEXIST));
    }
    let id = st.alloc_id();
    st.objs.insert(
        id,
        Obj::Veventq {
            viommu,
            vtype: veventq_type,
            depth,
            events: VecDeque::new(),
            seq: 0,
            lost: None,
        },
    );
    Ok(id)
}

/// A read of the vEVENTQ's file: every pending vEVENT, then the lost-events
/// marker if events were lost.
pub(crate) fn read(sim: &SimBackend, veventq: ObjId) -> Result<Vec<VEvent>> {
    let op = Op::VeventqRead;
    let mut st = sim.begin(op)?;
    let Some(Obj::Veventq { events, lost, .. }) = st.objs.get_mut(&veventq) else {
        return Err(e(op, libc::ENOENT));
    };
    let mut out: Vec<VEvent> = events.drain(..).collect();
    if let Some(sequence) = lost.take() {
        out.push(VEvent {
            flags: uapi::VEVENTQ_FLAG_LOST_EVENTS,
            sequence,
            data: Vec::new(),
        });
    }
    Ok(out)
}

impl State {
    /// Appends a vEVENT to `viommu`'s queue of `vtype`, as
    /// `iommufd_viommu_report_event` does (a full queue loses it).
    pub(crate) fn report(
        &mut self,
        viommu: ObjId,
        vtype: u32,
        data: Vec<u8>,
    ) -> std::result::Result<(), i32> {
        let q = self.objs.values_mut().find_map(|o| match o {
            Obj::Veventq {
                viommu: v,
                vtype: t,
                depth,
                events,
                seq,
                lost,
            } if *v == viommu && *t == vtype => Some((depth, events, seq, lost)),
            _ => None,
        });
        let (depth, events, seq, lost) = q.ok_or(libc::EOPNOTSUPP)?;
        // Every report takes a sequence number, a lost one included: a full
        // queue moves the lost-events marker to the tail under that number.
        if events.len() as u32 >= *depth {
            *lost = Some(*seq);
        } else {
            // The kernel drops a marker that is last in the list when a
            // vEVENT is queued behind it (the gap in sequence numbers shows
            // the loss); reads here drain the whole queue, so this only keeps
            // the model exact.
            *lost = None;
            events.push_back(VEvent {
                flags: 0,
                sequence: *seq,
                data,
            });
        }
        *seq = (*seq + 1) & 0x7fff_ffff;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use crate::backend::sim::testing::{errno, rig_with, selftest_viommu};
    use crate::backend::sim::SimConfig;
    use crate::backend::uapi::selftest;
    use crate::backend::{uapi, Backend, Device, NestParent, Selftest, VEvent, Viommu};
    use libc::{EBUSY, EEXIST, EINVAL, ENOENT, EOPNOTSUPP};

    #[test]
    fn lost_events_marker_takes_its_own_sequence() {
        let (b, dev, v) = selftest_viommu();
        let q = b
            .veventq_alloc(v, selftest::VEVENTQ_TYPE_SELFTEST, 2)
            .unwrap();
        b.vdevice_alloc(v, dev.idev_id, 0x99).unwrap();
        let nested = b
            .hwpt_alloc_nested(dev.idev_id, v, selftest::HWPT_DATA_SELFTEST, &[0; 8])
            .unwrap();
        b.mock_domain_replace(dev.stdev_id, nested).unwrap();
        let seqs = |ev: Vec<VEvent>| -> Vec<(u32, bool)> {
            ev.iter()
                .map(|e| (e.sequence, e.flags & uapi::VEVENTQ_FLAG_LOST_EVENTS != 0))
                .collect()
        };
        for _ in 0..3 {
            b.trigger_vevent(dev.idev_id).unwrap();
        }
        assert_eq!(
            seqs(b.veventq_read(q).unwrap()),
            vec![(0, false), (1, false), (2, true)]
        );
        b.trigger_vevent(dev.idev_id).unwrap();
        assert_eq!(seqs(b.veventq_read(q).unwrap()), vec![(3, false)]);
        // Losing more moves the one marker to the latest lost number.
        for _ in 0..4 {
            b.trigger_vevent(dev.idev_id).unwrap();
        }
        assert_eq!(
            seqs(b.veventq_read(q).unwrap()),
            vec![(4, false), (5, false), (7, true)]
        );
        assert!(b.veventq_read(q).unwrap().is_empty());
        b.trigger_vevent(dev.idev_id).unwrap();
        assert_eq!(seqs(b.veventq_read(q).unwrap()), vec![(8, false)]);
    }

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
}
