//! The in-process DMA master and the host SMMU in front of it: the part of
//! the machine `vdev` leaves to hardware. Under QEMU the scenarios' DMA
//! comes from the edu device and QEMU's SMMUv3 translates it with the
//! guest's own tables; under `vdev` the guest's STE becomes a kernel
//! object ([`Attach`]) and the physical SMMU translates the device's
//! traffic with it. This module is a small double of that physical SMMU,
//! written for this comparison from the architecture's rules (4 KiB
//! granule only), so that DMA results and fault records can be compared
//! with QEMU's:
//!
//! * the master moves data in 4-byte accesses, each translated on its own,
//!   as the edu's transfers reach QEMU's SMMU;
//! * [`Attach::Abort`] (the kernel's abort STE, which is also what an
//!   invalid vSTE becomes) terminates every access without a record;
//! * [`Attach::Bypass`] applies stage 2 only (the VM's IOAS: guest RAM);
//! * [`Attach::Nested`] fetches the guest's CD through stage 2, walks its
//!   stage-1 tables and then stage 2; a fault gives the event record the
//!   SMMU writes (with the physical StreamID), which the caller hands to
//!   the simulated kernel. The kernel, not this module, decides which
//!   records reach the guest.

use smmu_driver::smmuv3_regs::enums::{EventClass, EventId, Tg0};
use smmu_driver::smmuv3_regs::structs::{
    Cd, EvtCBadCd, EvtFCdFetch, EvtFWalkEabt, EvtTranslationFault, Ste,
};
use smmu_driver::Words;
use vdev::smmuv3::strtab::Attach;
use vdev::vmm::GuestMemory;

/// Bytes in the master's own buffer (the edu's).
pub const BUF_LEN: u32 = 4096;
/// Bytes per access.
const BEAT: u32 = 4;
/// Output address bits of a descriptor ([47:12]).
const OA_MASK: u64 = 0x0000_ffff_ffff_f000;

/// A device with a buffer, behind the host SMMU.
pub struct Master {
    psid: u32,
    buf: Vec<u8>,
}

/// Why an access did not go through: the record the SMMU writes, if it
/// writes one.
type Fault = Option<[u64; 4]>;

impl Master {
    /// A master with physical StreamID `psid`.
    pub fn new(psid: u32) -> Master {
        Master {
            psid,
            buf: vec![0; BUF_LEN as usize],
        }
    }

    /// Moves `len` bytes between the buffer and device address `addr`
    /// (`write`: buffer to memory), one access at a time, through the SMMU
    /// configured by `attach`; gives each fault record to `report`.
    pub fn transfer(
        &mut self,
        attach: Option<Attach>,
        addr: u64,
        len: u32,
        write: bool,
        mem: &dyn GuestMemory,
        mut report: impl FnMut([u64; 4]),
    ) {
        for off in (0..len.min(BUF_LEN)).step_by(BEAT as usize) {
            let Some(iova) = addr.checked_add(u64::from(off)) else {
                return;
            };
            let beat = &mut self.buf[off as usize..(off + BEAT) as usize];
            match translate(attach, self.psid, iova, write, mem) {
                // An access outside RAM is an external abort: data lost.
                Ok(pa) if write => drop(mem.write(pa, beat)),
                Ok(pa) => drop(mem.read(pa, beat)),
                Err(Some(record)) => report(record),
                Err(None) => {}
            }
        }
    }
}

/// Translates one access of `psid` at `iova`.
fn translate(
    attach: Option<Attach>,
    psid: u32,
    iova: u64,
    write: bool,
    mem: &dyn GuestMemory,
) -> Result<u64, Fault> {
    let fault = Record { psid, iova, write };
    match attach {
        None | Some(Attach::Abort) => Err(None),
        Some(Attach::Bypass) => stage2(iova, &fault, EventClass::IN, mem),
        Some(Attach::Nested(vste)) => {
            let ipa = stage1(vste, &fault, mem)?;
            stage2(ipa, &fault, EventClass::IN, mem)
        }
    }
}

/// Builds the event records of one access.
struct Record {
    psid: u32,
    iova: u64,
    write: bool,
}

impl Record {
    fn translation(&self, id: EventId, class: EventClass, s2: Option<u64>) -> [u64; 4] {
        let r = EvtTranslationFault::new()
            .with_enum(EvtTranslationFault::EVENT_ID, id)
            .with(EvtTranslationFault::SID, self.psid.into())
            .with(EvtTranslationFault::RNW, (!self.write).into())
            .with_enum(EvtTranslationFault::CLASS, class)
            .with(EvtTranslationFault::INPUT_ADDR, self.iova);
        match s2 {
            Some(ipa) => {
                r.with(EvtTranslationFault::S2, 1)
                    .with(EvtTranslationFault::IPA, ipa >> 12)
                    .0
            }
            None => r.0,
        }
    }
}

/// Stage 2 of the VM: its IOAS maps guest RAM at the same addresses, so
/// an IPA translates when the RAM holds it. A miss is a stage-2
/// F_TRANSLATION (the kernel keeps those: they are the host's own).
fn stage2(ipa: u64, r: &Record, class: EventClass, mem: &dyn GuestMemory) -> Result<u64, Fault> {
    mem.host_phys(ipa)
        .ok_or_else(|| Some(r.translation(EventId::F_TRANSLATION, class, Some(ipa))))
}

fn read_u64(pa: u64, mem: &dyn GuestMemory) -> Option<u64> {
    let mut b = [0u8; 8];
    mem.read(pa, &mut b).then(|| u64::from_le_bytes(b))
}

/// Stage 1 with the guest's CD (no substreams: the vSTE's S1CDMAX is 0)
/// and 4 KiB-granule AArch64 tables; returns the IPA.
fn stage1(vste: [u64; 2], r: &Record, mem: &dyn GuestMemory) -> Result<u64, Fault> {
    let ste = Ste([vste[0], vste[1], 0, 0, 0, 0, 0, 0]);
    let cd_ipa = ste.get(Ste::S1CONTEXTPTR) << 6;
    let cd_pa = stage2(cd_ipa, r, EventClass::CD, mem)?;
    let mut words = [0u64; 8];
    for (i, w) in words.iter_mut().enumerate() {
        *w = read_u64(cd_pa + 8 * i as u64, mem).ok_or_else(|| {
            Some(
                EvtFCdFetch::new()
                    .with(EvtFCdFetch::SID, r.psid.into())
                    .with(EvtFCdFetch::FETCH_ADDR, cd_pa >> 3)
                    .0,
            )
        })?;
    }
    let cd = Cd(words);
    let t0sz = cd.get(Cd::T0SZ);
    let usable = cd.get(Cd::V) == 1
        && cd.get(Cd::AA64) == 1
        && cd.get_enum(Cd::TG0) == Some(Tg0::GRAN_4K)
        && (16..=39).contains(&t0sz);
    if !usable {
        return Err(Some(EvtCBadCd::new().with(EvtCBadCd::SID, r.psid.into()).0));
    }
    // CD.R = 0: faults terminate the access without a record.
    let record = cd.get(Cd::R) == 1;
    let fault = |id| Err(record.then(|| r.translation(id, EventClass::IN, None)));
    let ia_bits = 64 - t0sz as u32;
    if cd.get(Cd::EPD0) == 1 || r.iova >> ia_bits != 0 {
        return fault(EventId::F_TRANSLATION);
    }
    // 9 bits per level above the 12-bit page offset; the walk ends at 3.
    let levels = (ia_bits - 12).div_ceil(9);
    let mut table = (cd.get(Cd::TTB0) << 4) & OA_MASK;
    for level in (4 - levels)..=3 {
        let shift = 12 + 9 * (3 - level);
        let index = (r.iova >> shift) & 0x1ff;
        let desc_pa = stage2(table + index * 8, r, EventClass::TT, mem)?;
        let desc = read_u64(desc_pa, mem).ok_or_else(|| {
            Some(
                EvtFWalkEabt::new()
                    .with(EvtFWalkEabt::SID, r.psid.into())
                    .with(EvtFWalkEabt::RNW, (!r.write).into())
                    .0,
            )
        })?;
        let table_or_page = desc & 0b10 != 0;
        if desc & 1 == 0 || (level == 3 && !table_or_page) || (level == 0 && !table_or_page) {
            return fault(EventId::F_TRANSLATION);
        }
        if level < 3 && table_or_page {
            table = desc & OA_MASK;
            continue;
        }
        // A block (levels 1 and 2) or a page (level 3).
        if desc & (1 << 10) == 0 && cd.get(Cd::AFFD) == 0 {
            return fault(EventId::F_ACCESS);
        }
        if r.write && desc & (1 << 7) != 0 {
            return fault(EventId::F_PERMISSION);
        }
        let span = (1u64 << shift) - 1;
        return Ok((desc & OA_MASK & !span) | (r.iova & span));
    }
    fault(EventId::F_TRANSLATION)
}
