//! What the Tegra241 host kernel reports to user space: the CMDQV
//! interrupt's LVCMDQ error map on the vIOMMU's Tegra241 vEVENTQ, and the
//! SMMU's event records forwarded by the arm-smmu-v3 driver to the vIOMMU
//! of the faulting device.

use super::super::objects::{Obj, State};
use super::super::{e, SimBackend};
use crate::backend::{uapi, ObjId, Op, Result};

/// As the kernel's CMDQV interrupt handler: the VINTF's LVCMDQ error map,
/// delivered to user space. No vEVENTQ: the event is dropped.
pub(crate) fn report_queue_errors(st: &mut State, viommu: ObjId, err_map: u128) {
    let _ = st.report(
        viommu,
        uapi::VEVENTQ_TYPE_TEGRA241_CMDQV,
        err_map.to_le_bytes().to_vec(),
    );
}

impl SimBackend {
    /// The SMMU writes `record` (a 32-byte event record, StreamID in bits
    /// 63:32 of word 0) to the host's event queue, and the host kernel's
    /// event handler forwards it to user space the way Linux's arm-smmu-v3
    /// driver does (`arm_smmu_handle_event`, `arm_vmaster_report_event`,
    /// `iommufd_viommu_report_event`):
    ///
    /// * only C_BAD_STE, F_STREAM_DISABLED, C_BAD_SUBSTREAMID, C_BAD_CD,
    ///   F_TRANSLATION, F_ADDR_SIZE, F_ACCESS and F_PERMISSION are handled;
    /// * the StreamID names the device (no bound device has it: `EINVAL`);
    /// * a record with STALL (word 1 bit 31) goes to the I/O page fault path,
    ///   which this model lacks, and one with S2 (word 1 bit 39) is the
    ///   host's own stage-2 fault: neither reaches the vIOMMU;
    /// * the device must be attached to a nested HWPT of a vIOMMU on which it
    ///   has its vDEVICE (the kernel's per-device "vmaster", set at that
    ///   attach); the record then goes to that vIOMMU's
    ///   `IOMMU_VEVENTQ_TYPE_ARM_SMMUV3` vEVENTQ with the StreamID replaced by
    ///   the vDEVICE's virtual id, all other bits unchanged;
    /// * a full vEVENTQ loses the record behind its lost-events marker, as
    ///   for every vEVENTQ type (still `Ok`).
    ///
    /// A record that is not forwarded is dropped: the kernel only logs it
    /// (rate-limited) and user space never learns of it. The error says why,
    /// for tests: `EOPNOTSUPP` for an unhandled event id, a stall or stage-2
    /// record, a device without that attachment, or a vIOMMU without an SMMUv3
    /// vEVENTQ (and always on the selftest model, which has no SMMU);
    /// `EINVAL` for an unknown StreamID.
    ///
    /// The event queue is SMMU 0's; [`SimBackend::report_smmu_event_on`]
    /// names the SMMU on a host with several.
    pub fn report_smmu_event(&self, record: [u64; 4]) -> Result<()> {
        self.report_smmu_event_on(0, record)
    }

    /// [`SimBackend::report_smmu_event`] from the event queue of SMMU
    /// `smmu`: the StreamID names a device behind that SMMU (StreamIDs are
    /// per SMMU, so two SMMUs may each have a device with the same one).
    pub fn report_smmu_event_on(&self, smmu: usize, record: [u64; 4]) -> Result<()> {
        use smmuv3_regs::enums::EventId;
        use smmuv3_regs::structs::{EvtTranslationFault as Evt, Words};
        let op = Op::SmmuEvent;
        let mut st = self.begin(op)?;
        if !self.tegra() {
            return Err(e(op, libc::EOPNOTSUPP));
        }
        let evt = Evt(record);
        let handled = [
            EventId::C_BAD_STE,
            EventId::F_STREAM_DISABLED,
            EventId::C_BAD_SUBSTREAMID,
            EventId::C_BAD_CD,
            EventId::F_TRANSLATION,
            EventId::F_ADDR_SIZE,
            EventId::F_ACCESS,
            EventId::F_PERMISSION,
        ];
        let id = evt.get(Evt::EVENT_ID);
        if !handled.iter().any(|h| *h as u64 == id) {
            return Err(e(op, libc::EOPNOTSUPP));
        }
        let psid = evt.get(Evt::SID) as u32;
        let dev = st.objs.values().find_map(|o| match o {
            Obj::Device {
                smmu: s,
                psid: p,
                vdev,
                attached,
            } if *p == psid && *s == smmu => Some((*vdev, *attached)),
            _ => None,
        });
        let (vdev, attached) = dev.ok_or(e(op, libc::EINVAL))?;
        // The kernel reads STALL and S2 from word 1 whatever the event id.
        if evt.get(Evt::STALL) != 0 || evt.get(Evt::S2) != 0 {
            return Err(e(op, libc::EOPNOTSUPP));
        }
        let (viommu, virt_id) = st.vmaster(vdev, attached).ok_or(e(op, libc::EOPNOTSUPP))?;
        // The virtual id fills the 32-bit StreamID field.
        let out = evt.with(Evt::SID, virt_id);
        let data = out.0.iter().flat_map(|w| w.to_le_bytes()).collect();
        st.report(viommu, uapi::VEVENTQ_TYPE_ARM_SMMUV3, data)
            .map_err(|x| e(op, x))
    }
}
