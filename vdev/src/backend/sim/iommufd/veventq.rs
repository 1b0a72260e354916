//! vEVENTQs: one per vIOMMU and type, a bounded depth, every report taking
//! a sequence number, a full queue losing the event behind a lost-events
//! marker, reads that drain the queue, and a descriptor readable while
//! something is queued (an eventfd, where the kernel has its vEVENTQ file),
//! which keeps the object busy while someone holds it, as the file does.

use std::collections::VecDeque;

use super::super::objects::{Obj, State};
use super::super::{e, SimBackend};
use crate::backend::{uapi, ObjId, Op, Result, VEvent};

/// A simulated vEVENTQ's descriptor: an eventfd signalled with each queued
/// record (or lost-events marker) and cleared by the read that drains the
/// queue, both under the simulator's lock, so it is readable exactly while
/// a read would return something. Without eventfds (not Linux) there is no
/// descriptor and [`crate::backend::Backend::veventq_fd`] says `EOPNOTSUPP`.
pub(crate) struct Readable {
    #[cfg(target_os = "linux")]
    fd: std::sync::Arc<SimEventFd>,
}

/// An eventfd as an [`std::os::fd::AsFd`].
#[cfg(target_os = "linux")]
pub(crate) struct SimEventFd(vmm_sys_util::eventfd::EventFd);

#[cfg(target_os = "linux")]
impl std::os::fd::AsFd for SimEventFd {
    fn as_fd(&self) -> std::os::fd::BorrowedFd<'_> {
        use std::os::fd::AsRawFd;
        // SAFETY: the EventFd owns its descriptor and closes it only when it
        // is dropped, which the borrow of `self` rules out meanwhile.
        unsafe { std::os::fd::BorrowedFd::borrow_raw(self.0.as_raw_fd()) }
    }
}

impl Readable {
    /// A new, unreadable descriptor (`EMFILE` and friends as `open` has them).
    fn new() -> std::result::Result<Self, i32> {
        #[cfg(target_os = "linux")]
        {
            let fd = vmm_sys_util::eventfd::EventFd::new(libc::EFD_NONBLOCK | libc::EFD_CLOEXEC)
                .map_err(|e| e.raw_os_error().unwrap_or(libc::ENOMEM))?;
            Ok(Readable {
                fd: std::sync::Arc::new(SimEventFd(fd)),
            })
        }
        #[cfg(not(target_os = "linux"))]
        Ok(Readable {})
    }

    /// Something was queued.
    fn signal(&self) {
        #[cfg(target_os = "linux")]
        if let Err(e) = self.fd.0.write(1) {
            // Only a counter at its maximum refuses, and a read resets it.
            log::error!("simulated vEVENTQ eventfd: {e}");
        }
    }

    /// The queue was drained.
    fn clear(&self) {
        #[cfg(target_os = "linux")]
        // EAGAIN when nothing was signalled: already clear.
        let _ = self.fd.0.read();
    }

    /// Whether someone besides the object holds the descriptor.
    pub(crate) fn shared(&self) -> bool {
        #[cfg(target_os = "linux")]
        return std::sync::Arc::strong_count(&self.fd) > 1;
        #[cfg(not(target_os = "linux"))]
        false
    }

    /// The descriptor, shared.
    #[cfg(unix)]
    fn share(&self) -> Option<crate::backend::PollFd> {
        #[cfg(target_os = "linux")]
        return Some(self.fd.clone());
        #[cfg(not(target_os = "linux"))]
        None
    }
}

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
    let readable = Readable::new().map_err(|x| e(op, x))?;
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
            readable,
        },
    );
    Ok(id)
}

/// The vEVENTQ's descriptor, shared with the caller.
#[cfg(unix)]
pub(crate) fn fd(sim: &SimBackend, veventq: ObjId) -> Result<crate::backend::PollFd> {
    let op = Op::VeventqFd;
    let st = sim.begin(op)?;
    let Some(Obj::Veventq { readable, .. }) = st.objs.get(&veventq) else {
        return Err(e(op, libc::ENOENT));
    };
    readable.share().ok_or(e(op, libc::EOPNOTSUPP))
}

/// A read of the vEVENTQ's file: every pending vEVENT, then the lost-events
/// marker if events were lost.
pub(crate) fn read(sim: &SimBackend, veventq: ObjId) -> Result<Vec<VEvent>> {
    let op = Op::VeventqRead;
    let mut st = sim.begin(op)?;
    let Some(Obj::Veventq {
        events,
        lost,
        readable,
        ..
    }) = st.objs.get_mut(&veventq)
    else {
        return Err(e(op, libc::ENOENT));
    };
    readable.clear();
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
                readable,
            } if *v == viommu && *t == vtype => Some((depth, events, seq, lost, readable)),
            _ => None,
        });
        let (depth, events, seq, lost, readable) = q.ok_or(libc::EOPNOTSUPP)?;
        readable.signal();
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
        // The kernel wraps the sequence at INT_MAX.
        *seq = (*seq + 1) & i32::MAX as u32;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use crate::backend::sim::testing::{errno, rig_with, selftest_viommu};
    use crate::backend::sim::SimBackend;
    use crate::backend::sim::SimConfig;
    use crate::backend::uapi::selftest;
    use crate::backend::{uapi, Backend, Device, NestParent, Selftest, VEvent, Viommu};
    use crate::backend::{MockDomain, ObjId};
    use libc::{EBUSY, EEXIST, EINVAL, ENOENT, EOPNOTSUPP};

    /// The selftest vIOMMU with a vEVENTQ of `depth` and a mock device
    /// whose `trigger_vevent` reaches it (vDEVICE 0x99, a nested HWPT).
    fn reporting_queue(depth: u32) -> (SimBackend, MockDomain, ObjId) {
        let (b, dev, v) = selftest_viommu();
        let q = b
            .veventq_alloc(v, selftest::VEVENTQ_TYPE_SELFTEST, depth)
            .unwrap();
        b.vdevice_alloc(v, dev.idev_id, 0x99).unwrap();
        let nested = b
            .hwpt_alloc_nested(dev.idev_id, v, selftest::HWPT_DATA_SELFTEST, &[0; 8])
            .unwrap();
        b.mock_domain_replace(dev.stdev_id, nested).unwrap();
        (b, dev, q)
    }

    #[test]
    fn lost_events_marker_takes_its_own_sequence() {
        let (b, dev, q) = reporting_queue(2);
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

    /// Whether `fd` is readable now (`poll` with no timeout).
    #[cfg(target_os = "linux")]
    fn readable(fd: std::os::fd::BorrowedFd<'_>) -> bool {
        use std::os::fd::AsRawFd;
        let mut p = libc::pollfd {
            fd: fd.as_raw_fd(),
            events: libc::POLLIN,
            revents: 0,
        };
        // SAFETY: one live pollfd for the call.
        let n = unsafe { libc::poll(&mut p, 1, 0) };
        assert!(n >= 0, "poll: {}", std::io::Error::last_os_error());
        n == 1 && p.revents & libc::POLLIN != 0
    }

    #[cfg(target_os = "linux")]
    #[test]
    // Miri does not model it: libc::poll.
    #[cfg_attr(miri, ignore)]
    fn the_descriptor_is_readable_while_records_are_queued_and_holds_the_object() {
        use std::os::fd::AsFd;
        let (b, dev, q) = reporting_queue(1);
        let fd = b.veventq_fd(q).unwrap();
        assert_eq!(errno(b.veventq_fd(999)), ENOENT);
        assert!(!readable(fd.as_fd()), "empty");
        b.trigger_vevent(dev.idev_id).unwrap();
        assert!(readable(fd.as_fd()), "one record");
        assert_eq!(b.veventq_read(q).unwrap().len(), 1);
        assert!(!readable(fd.as_fd()), "drained by the read");
        // A full queue of depth 1: the second report is lost, the marker
        // alone makes the descriptor readable again after a read.
        b.trigger_vevent(dev.idev_id).unwrap();
        b.trigger_vevent(dev.idev_id).unwrap();
        assert!(readable(fd.as_fd()));
        assert_eq!(b.veventq_read(q).unwrap().len(), 2, "record and marker");
        b.trigger_vevent(dev.idev_id).unwrap();
        b.trigger_vevent(dev.idev_id).unwrap();
        let ev = b.veventq_read(q).unwrap();
        assert!(ev.iter().any(|e| e.is_lost_marker()));
        assert!(!readable(fd.as_fd()));
        // Like the kernel's vEVENTQ file, a held descriptor keeps the object.
        assert_eq!(errno(b.destroy(q)), EBUSY);
        drop(fd);
        b.destroy(q).unwrap();
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
