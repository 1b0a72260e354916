//! The Tegra241 CMDQV kernel driver (Linux `tegra241-cmdqv.c` and the
//! arm-smmu-v3 iommufd glue) on the simulated hardware:
//!
//! * `IOMMU_GET_HW_INFO`: the SMMU's ID registers, the CMDQV's version and
//!   sizes;
//! * a Tegra241 vIOMMU takes a free VINTF (VINTF 0 stays with the host),
//!   guest-owned (HYP_OWN 0), with the nesting parent's VMID, and publishes
//!   its 64 KiB page 0 for mmap;
//! * a vDEVICE takes the lowest free SID_MATCH/SID_REPLACE slot;
//! * a HW queue is a logical VCMDQ: indices in ascending order, a length
//!   that is a power of two between 32 bytes and the IDR1.CMDQS bound, a base
//!   aligned to it;
//! * nested HWPTs only on a vIOMMU, with a vSTE the driver accepts;
//! * `IOMMU_HWPT_INVALIDATE` forwards the SMMUv3 invalidation commands with
//!   the vSID replaced by the pSID;
//! * [`hw`]: the VCMDQs themselves, run on the [`crate::backend::Kick`];
//!   [`events`]: queue errors and SMMU events reported to user space.

pub(crate) mod events;
pub(crate) mod hw;

use std::sync::Arc;

use smmuv3_regs::enums::{CmdOpcode as Op, SteConfig};
use smmuv3_regs::structs::{CmdAtcInv, CmdCfgiCd, CmdCfgiCdAll, Command, Words};

use cmdqv_regs::VINTF::SID_MATCH;

use self::hw::{regs, Lvq, PageMem};
use super::config::Tegra241Host;
use super::iommufd::invalidate::{word64, KernelInvalidation};
use super::iommufd::mmap;
use super::objects::{State, ViommuObj};
use super::SimBackend;
use crate::backend::{uapi, ObjId, ViommuDataIn, ViommuDataOut};

/// The VINTF behind a Tegra241 vIOMMU.
pub(crate) struct Vintf {
    pub(crate) idx: u16,
    pub(crate) vmid: u16,
    pub(crate) config: u32,
    pub(crate) sid_match: Vec<u32>,
    pub(crate) sid_replace: Vec<u32>,
    pub(crate) lvq: Vec<Option<Lvq>>,
    pub(crate) err_map: u128,
    pub(crate) page: Arc<PageMem>,
}

/// A snapshot of a simulated VINTF.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VintfSnapshot {
    /// The physical SMMU whose CMDQV the VINTF belongs to.
    pub smmu: usize,
    /// VINTF index in that CMDQV (never 0).
    pub index: u16,
    /// VINTF_CONFIG (EN, VMID, HYP_OWN).
    pub config: u32,
    /// VMID taken from the nesting parent.
    pub vmid: u16,
    /// SID_MATCH registers.
    pub sid_match: Vec<u32>,
    /// SID_REPLACE registers.
    pub sid_replace: Vec<u32>,
    /// The LVCMDQ error map.
    pub err_map: u128,
    /// Per logical VCMDQ: (HW queue id, base PA, log2 entries) when allocated.
    pub queues: Vec<Option<(ObjId, u64, u32)>>,
}

/// The data of `IOMMU_GET_HW_INFO` of type `t` (0: the default, SMMUv3):
/// its type and bytes, or `None` for a type the driver does not report.
pub(crate) fn hw_info(h: &Tegra241Host, t: u32) -> Option<(u32, Vec<u8>)> {
    let mut data = Vec::new();
    match t {
        0 | uapi::HW_INFO_TYPE_ARM_SMMUV3 => {
            data.extend_from_slice(&[0u8; 8]);
            for r in h.idr {
                data.extend_from_slice(&r.to_le_bytes());
            }
            data.extend_from_slice(&h.iidr.to_le_bytes());
            data.extend_from_slice(&h.aidr.to_le_bytes());
            Some((uapi::HW_INFO_TYPE_ARM_SMMUV3, data))
        }
        uapi::HW_INFO_TYPE_TEGRA241_CMDQV => {
            data.extend_from_slice(&[0u8; 4]);
            data.push(h.version);
            data.push(h.lvcmdqs_per_vintf.trailing_zeros() as u8);
            data.push(h.sids_per_vintf.trailing_zeros() as u8);
            data.push(0);
            Some((uapi::HW_INFO_TYPE_TEGRA241_CMDQV, data))
        }
        _ => None,
    }
}

/// The driver half of a Tegra241 vIOMMU's allocation: a free VINTF of the
/// CMDQV of the vIOMMU's SMMU (`obj.smmu`, whose CMDQV `h` is) and its page
/// 0 published for mmap.
pub(crate) fn init_viommu(
    sim: &SimBackend,
    st: &mut State,
    h: &Tegra241Host,
    vmid: u16,
    data: ViommuDataIn,
    obj: &mut ViommuObj,
    out: &mut ViommuDataOut,
) -> std::result::Result<(), i32> {
    if data != ViommuDataIn::Tegra241 {
        return Err(libc::EINVAL);
    }
    // A free VINTF of the CMDQV of the vIOMMU's SMMU (Linux: its VINTF
    // id allocator, ENOSPC when all are taken).
    let used = st.vintf_used.get(obj.smmu).ok_or(libc::ENODEV)?;
    let idx = used.iter().position(|u| !u).ok_or(libc::ENOSPC)?;
    let (off, page) = mmap::publish(sim, st, out.viommu_id, regs::VINTF_PAGE0_SIZE);
    st.vintf_used[obj.smmu][idx] = true;
    obj.vintf = Some(Vintf {
        idx: idx as u16,
        vmid,
        // HYP_OWN forced to 0: a guest-owned VINTF.
        config: ((vmid as u32) << regs::VINTF_VMID_SHIFT) | regs::VINTF_EN,
        sid_match: vec![0; h.sids_per_vintf as usize],
        sid_replace: vec![0; h.sids_per_vintf as usize],
        lvq: vec![None; h.lvcmdqs_per_vintf as usize],
        err_map: 0,
        page,
    });
    obj.mmap_offset = Some(off);
    out.mmap_offset = off;
    out.mmap_length = regs::VINTF_PAGE0_SIZE as u64;
    Ok(())
}

/// The driver's HW queue rules for logical VCMDQ `index` at `base_pa`:
/// returns the previous queue (the destroy dependency) and log2 of the
/// entries.
pub(crate) fn queue_rules(
    vi: &Vintf,
    h: &Tegra241Host,
    index: u32,
    base_pa: u64,
    length: u64,
) -> std::result::Result<(Option<ObjId>, Option<u32>), i32> {
    let i = index as usize;
    if i >= vi.lvq.len() {
        return Err(libc::EINVAL);
    }
    if vi.lvq[i].is_some() {
        return Err(libc::EEXIST);
    }
    let prev = if i > 0 {
        Some(vi.lvq[i - 1].ok_or(libc::EIO)?.hw_queue)
    } else {
        None
    };
    let max = (Command::SIZE_BYTES as u64) << h.cmdqs();
    if !length.is_power_of_two() || length < 32 || length > max {
        return Err(libc::EINVAL);
    }
    if base_pa & !regs::VCMDQ_ADDR_MASK != 0 || base_pa & (length - 1) != 0 {
        return Err(libc::EINVAL);
    }
    Ok((prev, Some(length.trailing_zeros() - 4)))
}

/// Logical VCMDQ `lidx` got HW queue `hw_queue`.
pub(crate) fn set_queue(
    vi: &mut Vintf,
    lidx: usize,
    hw_queue: ObjId,
    base_pa: u64,
    base_gpa: u64,
    log2size: u32,
) {
    vi.lvq[lidx] = Some(Lvq {
        hw_queue,
        base_pa,
        base_gpa,
        log2size,
    });
}

/// Logical VCMDQ `lidx`'s HW queue is destroyed: its registers reset, its
/// error cleared.
pub(crate) fn free_queue(vi: &mut Vintf, lidx: usize) {
    hw::deinit_queue(&vi.page, lidx);
    vi.err_map &= !(1u128 << lidx);
    vi.lvq[lidx] = None;
}

/// The lowest free SID_MATCH/SID_REPLACE slot, programmed for a vDEVICE.
pub(crate) fn take_sid_slot(
    vi: &mut Vintf,
    psid: u32,
    virt_id: u64,
) -> std::result::Result<usize, i32> {
    if virt_id > u32::MAX as u64 {
        return Err(libc::EINVAL);
    }
    let slot = vi
        .sid_match
        .iter()
        .position(|m| !SID_MATCH::ENABLE.is_set(*m))
        .ok_or(libc::ENOSPC)?;
    vi.sid_replace[slot] = psid;
    // The whole id at VIRT_SID's position, as the driver writes it (bits
    // beyond the field never match a command's StreamID).
    vi.sid_match[slot] =
        ((virt_id as u32) << SID_MATCH::VIRT_SID.shift) | SID_MATCH::ENABLE::SET.value;
    Ok(slot)
}

/// A vDEVICE's SID slot is cleared when it goes.
pub(crate) fn clear_sid_slot(vi: &mut Vintf, slot: usize) {
    vi.sid_match[slot] = 0;
    vi.sid_replace[slot] = 0;
}

/// The driver's check of a nested HWPT's data: ARM SMMUv3 nests only
/// through a vIOMMU, with an STE the driver accepts.
pub(crate) fn check_nested_data(
    on_viommu: bool,
    data_type: u32,
    data: &[u8],
) -> std::result::Result<(), i32> {
    if !on_viommu || data_type != uapi::HWPT_DATA_ARM_SMMUV3 {
        return Err(libc::EOPNOTSUPP);
    }
    if data.len() < 16 {
        return Err(libc::EINVAL);
    }
    validate_vste([word64(data, 0), word64(data, 1)])
}

/// Validates a guest STE's two words as Linux's `arm_smmu_validate_vste` does.
fn validate_vste(ste: [u64; 2]) -> std::result::Result<(), i32> {
    use crate::smmuv3::strtab::{VSTE_W0_ALLOWED, VSTE_W1_ALLOWED};
    use smmuv3_regs::enums::Eats;
    use smmuv3_regs::structs::Ste;
    let s = Ste([ste[0], ste[1], 0, 0, 0, 0, 0, 0]);
    if s.get(Ste::V) == 0 {
        return Ok(());
    }
    if !matches!(
        s.get_enum(Ste::CONFIG),
        Some(SteConfig::ABORT | SteConfig::BYPASS | SteConfig::S1_TRANS)
    ) {
        return Err(libc::EIO);
    }
    if ste[0] & !VSTE_W0_ALLOWED != 0 || ste[1] & !VSTE_W1_ALLOWED != 0 {
        return Err(libc::EIO);
    }
    if s.get(Ste::EATS) > Eats::TRANS.value() {
        return Err(libc::EIO);
    }
    Ok(())
}

/// One entry of `IOMMU_HWPT_INVALIDATE` on an SMMUv3 vIOMMU: the
/// invalidation commands the driver forwards to the host SMMU, a vSID
/// replaced by the device's pSID; anything else is EIO.
pub(crate) fn smmu_invalidation(
    st: &State,
    viommu: ObjId,
    entry: &[u8],
) -> std::result::Result<KernelInvalidation, i32> {
    let cmd = [word64(entry, 0), word64(entry, 1)];
    // The StreamID field of the commands that carry one, in each
    // command's own layout.
    let sid = match Command(cmd).get_enum(Command::OPCODE) {
        Some(
            Op::TLBI_NSNH_ALL
            | Op::TLBI_NH_VA
            | Op::TLBI_NH_VAA
            | Op::TLBI_NH_ALL
            | Op::TLBI_NH_ASID,
        ) => {
            return Ok(KernelInvalidation::Smmuv3 { viommu, cmd });
        }
        Some(Op::ATC_INV) => CmdAtcInv::SID,
        Some(Op::CFGI_CD) => CmdCfgiCd::SID,
        Some(Op::CFGI_CD_ALL) => CmdCfgiCdAll::SID,
        _ => return Err(libc::EIO),
    };
    let vsid = Command(cmd).get(sid);
    match st.vsid_to_psid(viommu, vsid) {
        Some(psid) => {
            let cmd = Command(cmd).with(sid, u64::from(psid)).0;
            Ok(KernelInvalidation::Smmuv3 { viommu, cmd })
        }
        None => Err(libc::EIO),
    }
}

impl SimBackend {
    /// The VINTF behind a Tegra241 vIOMMU.
    pub fn vintf(&self, viommu: ObjId) -> Option<VintfSnapshot> {
        let st = self.lock();
        let vo = st.viommu(viommu)?;
        let v = vo.vintf.as_ref()?;
        Some(VintfSnapshot {
            smmu: vo.smmu,
            index: v.idx,
            config: v.config,
            vmid: v.vmid,
            sid_match: v.sid_match.clone(),
            sid_replace: v.sid_replace.clone(),
            err_map: v.err_map,
            queues: v
                .lvq
                .iter()
                .map(|q| q.map(|q| (q.hw_queue, q.base_pa, q.log2size)))
                .collect(),
        })
    }
}

#[cfg(test)]
mod tests;
