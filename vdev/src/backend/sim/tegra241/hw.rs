//! The simulated Tegra241 hardware: the VINTF logical-VCMDQ page 0 as real
//! memory, and VCMDQs that consume SMMUv3 commands from guest memory when
//! kicked ([`kick`]: the simulator cannot see stores to the page).

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU32, Ordering};

use cmdqv_regs::VINTF;
use cmdqv_regs::VINTF_PAGE0::LVCMDQ;
use smmuv3_regs::enums::CmdOpcode;
use smmuv3_regs::structs::{CmdAtcInv, CmdSync, CmdTlbiNhAsid, CmdTlbiNhVa, Command, Words};

use super::super::{e, SimBackend};
use super::events;
use crate::backend::sim::journal::Journal;
use crate::backend::{ObjId, Op, Result};
use crate::vmm::GuestMemory;

/// Register offsets and fields of the VINTF logical-VCMDQ page 0, each the
/// generated `cmdqv-regs` item (the names the simulator's kernel side and
/// the tests use).
pub mod regs {
    use cmdqv_regs::enums::VcmdqError;
    use cmdqv_regs::VINTF_PAGE0::LVCMDQ as Q;
    use cmdqv_regs::{VCMDQ_PAGE1, VINTF, VINTF_PAGE0, VINTF_PAGE1};

    /// Size of the VINTF page 0 the kernel lets user space mmap: up to the
    /// VINTF's page 1.
    pub const VINTF_PAGE0_SIZE: usize = VINTF_PAGE1::OFFSET - VINTF_PAGE0::OFFSET;
    /// Stride between logical VCMDQs in the page.
    pub const LVCMDQ_STRIDE: usize = Q::STRIDE;
    /// `VCMDQ_CONS`: consumer index (with wrap bit) and error code.
    pub const CONS: usize = Q::CONS::REL_OFFSET;
    /// `VCMDQ_PROD`: producer index (with wrap bit).
    pub const PROD: usize = Q::PROD::REL_OFFSET;
    /// `VCMDQ_CONFIG`: CMDQ_EN enables the queue.
    pub const CONFIG: usize = Q::CONFIG::REL_OFFSET;
    /// `VCMDQ_STATUS`: CMDQ_EN_OK reports the queue enabled.
    pub const STATUS: usize = Q::STATUS::REL_OFFSET;
    /// `VCMDQ_GERROR`: CMDQ_ERR toggles on a command error.
    pub const GERROR: usize = Q::GERROR::REL_OFFSET;
    /// `VCMDQ_GERRORN`: the guest toggles it to match GERROR to acknowledge.
    pub const GERRORN: usize = Q::GERRORN::REL_OFFSET;
    /// `VCMDQ_CONS.ERR` field shift.
    pub const CONS_ERR_SHIFT: u32 = Q::CONS::ERR.shift as u32;
    /// `VCMDQ_CONS.ERR` field mask, in place.
    pub const CONS_ERR_MASK: u32 = Q::CONS::ERR.mask << Q::CONS::ERR.shift;
    /// `VCMDQ_CONFIG.CMDQ_EN`.
    pub const CONFIG_EN: u32 = Q::CONFIG::CMDQ_EN::SET.value;
    /// `VCMDQ_STATUS.CMDQ_EN_OK`.
    pub const STATUS_ENABLED: u32 = Q::STATUS::CMDQ_EN_OK::SET.value;
    /// `VCMDQ_GERROR.CMDQ_ERR`.
    pub const GERROR_CMDQ_ERR: u32 = Q::GERROR::CMDQ_ERR::SET.value;
    /// `CERROR_NONE` (the map's `VcmdqError` codes).
    pub const CERROR_NONE: u32 = VcmdqError::CERROR_NONE.value() as u32;
    /// `CERROR_ILL_OPCODE`: illegal or unsupported command.
    pub const CERROR_ILL: u32 = VcmdqError::CERROR_ILL_OPCODE.value() as u32;
    /// `CERROR_ABT`: abort when fetching the command.
    pub const CERROR_ABT: u32 = VcmdqError::CERROR_ABT.value() as u32;
    /// `CERROR_ILL_ACCESS`: a StreamID the VINTF has not matched.
    pub const CERROR_ILL_ACCESS: u32 = VcmdqError::CERROR_ILL_ACCESS.value() as u32;
    /// `VINTF_CONFIG.ENABLE`.
    pub const VINTF_EN: u32 = VINTF::CONFIG::ENABLE::SET.value;
    /// `VINTF_CONFIG.VMID` shift.
    pub const VINTF_VMID_SHIFT: u32 = VINTF::CONFIG::VMID.shift as u32;
    /// `VINTF_CONFIG.HYP_OWN`.
    pub const VINTF_HYP_OWN: u32 = VINTF::CONFIG::HYP_OWN::SET.value;
    /// `VCMDQ_BASE.ADDR`, in place: the bits a queue base may have.
    pub const VCMDQ_ADDR_MASK: u64 = VCMDQ_PAGE1::BASE::ADDR.val(u64::MAX).value;

    /// Offset of register `reg` of logical VCMDQ `lidx` in the page.
    pub const fn lvcmdq(lidx: usize, reg: usize) -> usize {
        Q::REL_OFFSET + lidx * LVCMDQ_STRIDE + reg
    }
}

/// Memory of a mmap-able region: 32-bit words the "hardware" and the mapping
/// share. Every access, the simulator's and the guest's (through the mapping
/// and the regions it is installed as), is an atomic operation on one of
/// these words, so concurrent guest stores and hardware loads never race.
pub(crate) struct PageMem {
    words: Box<[AtomicU32]>,
}

impl PageMem {
    pub(crate) fn new(len: usize) -> Self {
        PageMem {
            words: (0..len / 4).map(|_| AtomicU32::new(0)).collect(),
        }
    }
    pub(crate) fn len(&self) -> usize {
        self.words.len() * 4
    }
    pub(crate) fn read(&self, off: usize) -> Option<u32> {
        if !off.is_multiple_of(4) {
            return None;
        }
        self.words.get(off / 4).map(|w| w.load(Ordering::SeqCst))
    }
    pub(crate) fn write(&self, off: usize, v: u32) -> bool {
        if !off.is_multiple_of(4) {
            return false;
        }
        match self.words.get(off / 4) {
            Some(w) => {
                w.store(v, Ordering::SeqCst);
                true
            }
            None => false,
        }
    }
    fn r(&self, off: usize) -> u32 {
        self.read(off).unwrap_or(0)
    }
    /// The words' address, for [`crate::backend::MappedRegion::host_ptr`]:
    /// writing through it is allowed (atomics are interior-mutable) but only
    /// with aligned 32-bit atomic operations, as the type's own accesses are.
    pub(crate) fn ptr(&self) -> *mut u8 {
        self.words.as_ptr() as *mut u8
    }
}

/// A command a simulated VCMDQ executed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HwCommand {
    /// `TLBI_NH_ASID`, tagged with the VINTF's VMID by the hardware.
    TlbiNhAsid {
        /// VMID of the VINTF (the guest's VMID field is ignored).
        vmid: u16,
        /// ASID.
        asid: u16,
    },
    /// `TLBI_NH_VA`.
    TlbiNhVa {
        /// VMID of the VINTF.
        vmid: u16,
        /// ASID.
        asid: u16,
        /// Address (bits 63:12 of the second word).
        addr: u64,
        /// Leaf only.
        leaf: bool,
    },
    /// `ATC_INV` with the guest vSID replaced by the physical SID.
    AtcInv {
        /// Virtual StreamID the guest wrote.
        vsid: u32,
        /// Physical StreamID from the matching SID_REPLACE.
        psid: u32,
        /// SubstreamID, when SSV is set.
        ssid: Option<u32>,
        /// Address (bits 63:12).
        addr: u64,
        /// Size field (log2 of the range in 4 KiB units).
        size: u8,
        /// Global (`CMDQ_ATC_0_GLOBAL`, word 0 bit 9).
        global: bool,
    },
    /// `CMD_SYNC`.
    Sync {
        /// Completion signal field (0 none, 1 IRQ, 2 SEV).
        cs: u8,
    },
}

/// One command executed by a simulated VCMDQ.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HwInvalidation {
    /// The vIOMMU (VINTF) whose queue ran it.
    pub viommu: u32,
    /// Logical VCMDQ index.
    pub lidx: u32,
    /// The command.
    pub cmd: HwCommand,
}

/// A logical VCMDQ with a HW queue object behind it.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Lvq {
    pub(crate) hw_queue: u32,
    pub(crate) base_pa: u64,
    pub(crate) base_gpa: u64,
    pub(crate) log2size: u32,
}

/// Decodes and checks one command against the VINTF's SID table, with the
/// command layouts of the generated `smmuv3-regs` structures.
///
/// A guest-owned VCMDQ runs TLBI_NH_ASID, TLBI_NH_VA, ATC_INV and CMD_SYNC
/// (Linux's `tegra241_guest_vcmdq_supports_cmd`, plus the CMD_SYNC every
/// queue needs); anything else stops it with `CERROR_ILL_OPCODE`. An
/// ATC_INV whose StreamID no enabled SID_MATCH slot holds stops it with
/// `CERROR_ILL_ACCESS`, the code the CMDQV map gives that case (its value
/// from QEMU's `tegra241-cmdqv.h`; that this is the case it names is the
/// map's reading, see cmdqv-regs/MAP-NOTES.md).
fn decode(
    cmd: [u64; 2],
    vmid: u16,
    sid_match: &[u32],
    sid_replace: &[u32],
) -> std::result::Result<HwCommand, u32> {
    let op = Command::from_words(cmd).get_enum(Command::OPCODE);
    match op {
        Some(CmdOpcode::TLBI_NH_ASID) => {
            let c = CmdTlbiNhAsid::from_words(cmd);
            Ok(HwCommand::TlbiNhAsid {
                vmid,
                asid: c.get(CmdTlbiNhAsid::ASID) as u16,
            })
        }
        Some(CmdOpcode::TLBI_NH_VA) => {
            let c = CmdTlbiNhVa::from_words(cmd);
            Ok(HwCommand::TlbiNhVa {
                vmid,
                asid: c.get(CmdTlbiNhVa::ASID) as u16,
                addr: c.get(CmdTlbiNhVa::ADDR) << CmdTlbiNhVa::ADDR.shift,
                leaf: c.get(CmdTlbiNhVa::LEAF) != 0,
            })
        }
        Some(CmdOpcode::ATC_INV) => {
            let c = CmdAtcInv::from_words(cmd);
            let vsid = c.get(CmdAtcInv::SID) as u32;
            // The hardware only forwards ATC invalidations for a StreamID the
            // VINTF's SID_MATCH table knows.
            let slot = sid_match
                .iter()
                .position(|m| {
                    VINTF::SID_MATCH::ENABLE.is_set(*m)
                        && VINTF::SID_MATCH::VIRT_SID.read(*m) == vsid
                })
                .ok_or(regs::CERROR_ILL_ACCESS)?;
            let ssv = c.get(CmdAtcInv::SSV) != 0;
            Ok(HwCommand::AtcInv {
                vsid,
                psid: sid_replace
                    .get(slot)
                    .map(|r| VINTF::SID_REPLACE::PHYS_SID.read(*r))
                    .unwrap_or(0),
                ssid: ssv.then_some(c.get(CmdAtcInv::SSID) as u32),
                addr: c.get(CmdAtcInv::ADDR) << CmdAtcInv::ADDR.shift,
                size: c.get(CmdAtcInv::SIZE) as u8,
                global: c.get(CmdAtcInv::GLOBAL) != 0,
            })
        }
        Some(CmdOpcode::CMD_SYNC) => Ok(HwCommand::Sync {
            cs: CmdSync::from_words(cmd).get(CmdSync::CS.field) as u8,
        }),
        _ => Err(regs::CERROR_ILL),
    }
}

/// What a queue run left behind.
enum RunOutcome {
    /// Nothing to report.
    Quiet,
    /// The queue stopped on an error: report it in a vEVENT.
    Error,
}

/// Runs logical VCMDQ `lidx` of a VINTF: mirrors CONFIG.EN into STATUS and, on an
/// enabled queue without an unacknowledged error, consumes commands from PROD
/// down to CONS.
#[allow(clippy::too_many_arguments)]
fn run_queue(
    page: &PageMem,
    lidx: usize,
    q: &Lvq,
    mem: &dyn GuestMemory,
    vmid: u16,
    sid_match: &[u32],
    sid_replace: &[u32],
    err_map: &mut u128,
    log: &mut Journal<HwInvalidation, (u32, u32)>,
    viommu: u32,
) -> RunOutcome {
    let reg = |r| regs::lvcmdq(lidx, r);
    if page.r(reg(regs::CONFIG)) & regs::CONFIG_EN == 0 {
        page.write(reg(regs::STATUS), 0);
        return RunOutcome::Quiet;
    }
    page.write(reg(regs::STATUS), regs::STATUS_ENABLED);
    let gerror = page.r(reg(regs::GERROR));
    if (gerror ^ page.r(reg(regs::GERRORN))) & regs::GERROR_CMDQ_ERR != 0 {
        // Stalled until the guest acknowledges the error.
        return RunOutcome::Quiet;
    }
    *err_map &= !(1u128 << lidx);
    let entries = 1u32 << q.log2size;
    let mask = (entries << 1) - 1; // index bits plus the wrap bit
    for _ in 0..entries {
        let prod = LVCMDQ::PROD::INDEX.read(page.r(reg(regs::PROD))) & mask;
        let cons = LVCMDQ::CONS::INDEX.read(page.r(reg(regs::CONS))) & mask;
        if prod == cons {
            break;
        }
        let slot = (cons & (entries - 1)) as u64;
        let mut raw = [0u8; Command::SIZE_BYTES];
        let result = if mem.read(q.base_gpa + slot * Command::SIZE_BYTES as u64, &mut raw) {
            let w0 = u64::from_le_bytes(raw[..8].try_into().unwrap_or([0; 8]));
            let w1 = u64::from_le_bytes(raw[8..].try_into().unwrap_or([0; 8]));
            decode([w0, w1], vmid, sid_match, sid_replace)
        } else {
            Err(regs::CERROR_ABT)
        };
        match result {
            Ok(cmd) => {
                let lidx = lidx as u32;
                log.record((viommu, lidx), HwInvalidation { viommu, lidx, cmd });
                page.write(
                    reg(regs::CONS),
                    LVCMDQ::CONS::INDEX.val((cons + 1) & mask).value,
                );
            }
            Err(code) => {
                let stopped = LVCMDQ::CONS::INDEX.val(cons) + LVCMDQ::CONS::ERR.val(code);
                page.write(reg(regs::CONS), stopped.value);
                page.write(reg(regs::GERROR), gerror ^ regs::GERROR_CMDQ_ERR);
                *err_map |= 1u128 << lidx;
                return RunOutcome::Error;
            }
        }
    }
    RunOutcome::Quiet
}

/// Resets a logical VCMDQ's page registers as the kernel does when it frees it.
pub(crate) fn deinit_queue(page: &PageMem, lidx: usize) {
    let reg = |r| regs::lvcmdq(lidx, r);
    page.write(reg(regs::CONFIG), 0);
    page.write(reg(regs::STATUS), 0);
    page.write(reg(regs::PROD), 0);
    page.write(reg(regs::CONS), 0);
    let gerror = page.r(reg(regs::GERROR));
    page.write(reg(regs::GERRORN), gerror);
}

/// The hardware of `viommu`'s VINTF acts on what was stored into its page 0:
/// every logical VCMDQ with a HW queue runs ([`run_queue`]); a queue that
/// stopped on an error raises the CMDQV interrupt, whose handler reports the
/// VINTF's error map ([`events::report_queue_errors`]).
pub(crate) fn kick(sim: &SimBackend, viommu: ObjId) -> Result<()> {
    let op = Op::Kick;
    let mut st = sim.begin(op)?;
    let mem = sim.sh.mem.clone();
    let mut log = std::mem::take(&mut st.hw_log);
    let v = st.viommu_mut(viommu).ok_or(e(op, libc::ENOENT))?;
    let mut report = None;
    if let Some(vi) = v.vintf.as_mut() {
        for lidx in 0..vi.lvq.len() {
            let Some(q) = vi.lvq[lidx] else { continue };
            let out = run_queue(
                &vi.page,
                lidx,
                &q,
                mem.as_ref(),
                vi.vmid,
                &vi.sid_match,
                &vi.sid_replace,
                &mut vi.err_map,
                &mut log,
                viommu,
            );
            if let RunOutcome::Error = out {
                report = Some(vi.err_map);
            }
        }
    }
    st.hw_log = log;
    if let Some(map) = report {
        events::report_queue_errors(&mut st, viommu, map);
    }
    Ok(())
}

impl SimBackend {
    /// The newest commands the simulated VCMDQs executed, oldest first: at
    /// most the journal's capacity ([`SimBackend::set_journal_capacity`]).
    pub fn hw_invalidations(&self) -> Vec<HwInvalidation> {
        self.lock().hw_log.recent().cloned().collect()
    }

    /// How many commands the simulated VCMDQs executed in all, kept in the
    /// journal or not.
    pub fn hw_invalidation_total(&self) -> u64 {
        self.lock().hw_log.total()
    }

    /// How many commands each logical VCMDQ executed, by (vIOMMU id, logical
    /// index), over the whole run (a reused vIOMMU id adds to its earlier
    /// counts, as the kernel reuses ids).
    pub fn hw_invalidation_counts(&self) -> BTreeMap<(u32, u32), u64> {
        self.lock().hw_log.per_key().clone()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::backend::sim::testing::{atc_inv, cmd_bytes, rig, sync, tlbi_asid, Rig, PSID, RAM};
    use crate::backend::sim::{regs, HwCommand};
    use crate::backend::{Kick, VEvent, Viommu};
    use crate::vmm::GuestMemory;
    use std::sync::Arc;

    #[test]
    fn decode_rules() {
        let m = [(5 << 1) | 1, 0];
        let r = [0x77, 0];
        assert_eq!(
            decode([0x11 | (3 << 48), 0], 9, &m, &r),
            Ok(HwCommand::TlbiNhAsid { vmid: 9, asid: 3 })
        );
        assert!(matches!(
            decode([0x40 | (5 << 32), 0x1000], 9, &m, &r),
            Ok(HwCommand::AtcInv {
                vsid: 5,
                psid: 0x77,
                ..
            })
        ));
        // A StreamID no SID_MATCH slot holds: the map's CERROR_ILL_ACCESS.
        assert_eq!(
            decode([0x40 | (6 << 32), 0], 9, &m, &r),
            Err(regs::CERROR_ILL_ACCESS)
        );
        assert_eq!(regs::CERROR_ILL_ACCESS, 4);
        assert_eq!(decode([0x13, 0], 9, &m, &r), Err(regs::CERROR_ILL));
        assert_eq!(
            decode([0x46 | (1 << 12), 0], 9, &m, &r),
            Ok(HwCommand::Sync { cs: 1 })
        );
    }

    #[test]
    fn atc_inv_fields_are_where_linux_puts_them() {
        use smmuv3_regs::structs::CmdAtcInv;
        let m = [(5 << 1) | 1, 0];
        let r = [0x77, 0];
        // CMDQ_ATC_0_GLOBAL is word 0 bit 9; word 1 bit 0 is SIZE's low bit.
        let global = [0x40 | (1 << 9) | (5 << 32), 0x1000];
        let size1 = [0x40 | (5 << 32), 0x1000 | 1];
        let d = |c| decode(c, 9, &m, &r);
        assert!(matches!(
            d(global),
            Ok(HwCommand::AtcInv {
                global: true,
                size: 0,
                ..
            })
        ));
        assert!(matches!(
            d(size1),
            Ok(HwCommand::AtcInv {
                global: false,
                size: 1,
                ..
            })
        ));
        assert_eq!(CmdAtcInv::GLOBAL.shift, 9);
        // SSV (bit 11) with the SubstreamID in 31:12; the address in 63:12.
        let ssid = [
            0x40 | (1 << 11) | (0x2345 << 12) | (5 << 32),
            0xabcd_e000 | 52,
        ];
        assert_eq!(
            d(ssid),
            Ok(HwCommand::AtcInv {
                vsid: 5,
                psid: 0x77,
                ssid: Some(0x2345),
                addr: 0xabcd_e000,
                size: 52,
                global: false,
            })
        );
    }

    #[test]
    fn addr_mask_is_bits_47_5() {
        assert_eq!(regs::VCMDQ_ADDR_MASK, 0x0000_ffff_ffff_ffe0);
        assert_eq!(regs::lvcmdq(1, regs::GERRORN), 0x94);
    }

    struct Queue {
        r: Rig,
        v: Arc<Viommu>,
        page: crate::backend::VintfPage,
        _q: Arc<crate::backend::HwQueue>,
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
    fn the_hardware_journal_keeps_the_newest_commands_and_counts_all() {
        // A guest's commands must not grow host memory without bound: the
        // journal keeps `capacity` entries, the counts cover the whole run.
        let q = queue(4096);
        q.r.sim.set_journal_capacity(2);
        for (i, c) in [tlbi_asid(1), tlbi_asid(2), sync()].into_iter().enumerate() {
            q.put(i as u64, c);
        }
        q.prod(3);
        assert_eq!(q.cons(), 3);
        let kept: Vec<HwCommand> = q.r.sim.hw_invalidations().iter().map(|h| h.cmd).collect();
        let vmid = q.r.sim.vintf(q.v.id()).unwrap().vmid;
        assert_eq!(
            kept,
            [
                HwCommand::TlbiNhAsid { vmid, asid: 2 },
                HwCommand::Sync { cs: 0 }
            ]
        );
        assert_eq!(q.r.sim.hw_invalidation_total(), 3);
        let counts = q.r.sim.hw_invalidation_counts();
        assert_eq!(counts.into_iter().collect::<Vec<_>>(), [((q.v.id(), 0), 3)]);
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
        assert_eq!(
            q.cons(),
            1 | (regs::CERROR_ILL_ACCESS << regs::CONS_ERR_SHIFT)
        );
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
}
