//! The host's SMMUv3 vEVENTQ (`IOMMU_VEVENTQ_TYPE_ARM_SMMUV3`): the events
//! the kernel reports for the guest's devices (translation and configuration
//! faults), already in the guest's terms (the vSID), as 32-byte SMMUv3 event
//! records. The device model copies them into the guest's event queue.

use std::sync::Arc;

use crate::backend::{uapi, Backend, ObjId, Result, Viommu};

/// Records the vEVENTQ holds before the kernel drops events (VMM parameter:
/// the depth the model asks the kernel for).
pub const DEPTH: u32 = 64;

/// An SMMUv3 vEVENTQ on a vIOMMU; destroyed on drop (before the vIOMMU it
/// holds).
pub struct HostEvents {
    viommu: Arc<Viommu>,
    id: ObjId,
    #[cfg(unix)]
    fd: Option<crate::backend::PollFd>,
}

/// What one read of the vEVENTQ returned.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Read {
    /// Event records, oldest first.
    pub records: Vec<[u64; 4]>,
    /// The read included the lost-events marker: the vEVENTQ overflowed and
    /// the kernel dropped records that are not among `records`.
    pub lost: bool,
}

impl HostEvents {
    fn b(&self) -> &Arc<dyn Backend> {
        self.viommu.parent().ioas().backend()
    }

    /// `IOMMU_VEVENTQ_ALLOC` of the SMMUv3 type on `viommu`.
    pub fn alloc(viommu: &Arc<Viommu>) -> Result<Self> {
        let b = viommu.parent().ioas().backend();
        let id = b.veventq_alloc(viommu.id(), uapi::VEVENTQ_TYPE_ARM_SMMUV3, DEPTH)?;
        Ok(HostEvents {
            viommu: viommu.clone(),
            id,
            #[cfg(unix)]
            fd: crate::backend::handles::poll_fd(b, id)?,
        })
    }

    /// The object id.
    pub fn id(&self) -> ObjId {
        self.id
    }

    /// The descriptor readable while the vEVENTQ holds records (`None` when
    /// the backend has no descriptors).
    #[cfg(unix)]
    pub fn fd(&self) -> Option<std::os::fd::BorrowedFd<'_>> {
        self.fd.as_ref().map(|f| f.as_fd())
    }

    /// Reads what is pending, without blocking.
    pub fn read(&self) -> Result<Read> {
        let mut out = Read::default();
        for ev in self.b().veventq_read(self.id)? {
            if ev.is_lost_marker() {
                out.lost = true;
                continue;
            }
            // Little-endian words; a short payload leaves the rest zero.
            let mut rec = [0u64; 4];
            for (w, b) in rec.iter_mut().zip(ev.data.chunks_exact(8)) {
                *w = u64::from_le_bytes(b.try_into().unwrap_or([0; 8]));
            }
            out.records.push(rec);
        }
        Ok(out)
    }
}

impl Drop for HostEvents {
    fn drop(&mut self) {
        // The descriptor first: an open vEVENTQ file keeps the object busy.
        #[cfg(unix)]
        drop(self.fd.take());
        crate::backend::handles::release(self.b(), self.id, "SMMUv3 vEVENTQ");
    }
}
