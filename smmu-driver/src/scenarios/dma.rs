//! Traffic through the SMMU: the DMA master's transfers with an invalid,
//! a bypass, a stage-1 and an abort STE, and a translation fault.

use super::{ensure, expect, Drained, Fail, Outcome, Platform, World, STRTAB_LOG2};
use crate::dma::DmaBuf;
use crate::smmu::Smmu;
use crate::structs::{cd, cmd, event, ste, Event, Granule, Stage1Config};
use regmap_rt::Words;
use smmuv3_regs::enums::EventId;
use smmuv3_regs::structs::{EvtCBadSte, EvtFTranslation};

/// Bytes per round trip. QEMU 7.2's edu rejects (with a fatal "hardware
/// error") a transfer that reaches the last byte of its 4 KiB buffer.
pub(super) const XFER: u32 = 2048;
/// Bytes of the transfers that are expected to fault.
pub(super) const PROBE_LEN: u32 = 64;

/// IOVAs of the scenarios' layout (scenario parameters): the source page
/// the stage-1 tables map,
pub(super) const IOVA_SRC: u64 = 0x1000;
/// the destination page they map,
pub(super) const IOVA_DST: u64 = 0x2000;
/// and one they leave unmapped.
const IOVA_UNMAPPED: u64 = 0x5000;

/// What a destination buffer holds after a transfer.
pub(super) struct Landed {
    /// It holds the source's first [`XFER`] bytes.
    pub copied: bool,
    /// It still holds what it held before.
    pub untouched: bool,
}

fn pattern(seed: u64, i: usize) -> u64 {
    seed ^ (i as u64).wrapping_mul(0x9e37_79b9_7f4a_7c15)
}

fn fill(buf: &mut DmaBuf<'_>, seed: u64) {
    for i in 0..buf.len_words() {
        buf.write(i, pattern(seed, i));
    }
}

fn holds(buf: &DmaBuf<'_>, seed: u64) -> bool {
    (0..buf.len_words()).all(|i| buf.read(i) == pattern(seed, i))
}

impl<P: Platform> World<'_, P> {
    /// The DMA source and destination pages (allocated on first use).
    pub(super) fn buffers(&mut self) -> Result<(u64, u64), Fail> {
        if self.src.is_none() {
            self.src = Some(self.alloc(4096, 4096)?);
            self.dst = Some(self.alloc(4096, 4096)?);
        }
        let src = self.src.as_ref().map(DmaBuf::phys);
        let dst = self.dst.as_ref().map(DmaBuf::phys);
        src.zip(dst).ok_or(Fail::Msg("no DMA buffers"))
    }

    fn dst_mut(&mut self) -> Result<&mut DmaBuf<'static>, Fail> {
        self.dst.as_mut().ok_or(Fail::Msg("no DMA buffers"))
    }

    /// Copies [`XFER`] bytes source -> DMA master -> destination through
    /// the SMMU at the given device addresses, and says what arrived.
    pub(super) fn round_trip(
        &mut self,
        src_addr: u64,
        dst_addr: u64,
        seed: u64,
    ) -> Result<Landed, Fail> {
        self.buffers()?;
        if let Some(src) = self.src.as_mut() {
            fill(src, seed);
        }
        self.dst_mut()?.zero();
        self.p.dma_read(src_addr, XFER)?;
        self.p.dma_write(dst_addr, XFER)?;
        let (src, dst) = (self.src.as_ref(), self.dst.as_ref());
        let (src, dst) = src.zip(dst).ok_or(Fail::Msg("no DMA buffers"))?;
        let words = XFER as usize / 8;
        Ok(Landed {
            copied: (0..words).all(|i| dst.read(i) == src.read(i)),
            untouched: (0..dst.len_words()).all(|i| dst.read(i) == 0),
        })
    }

    /// The DMA master writes [`PROBE_LEN`] bytes over a patterned
    /// destination at `addr`; returns whether the destination kept its
    /// pattern.
    pub(super) fn write_probe(&mut self, addr: u64) -> Result<bool, Fail> {
        const SEED: u64 = 0x0bad_cafe_f00d_0001;
        self.buffers()?;
        fill(self.dst_mut()?, SEED);
        self.p.dma_write(addr, PROBE_LEN)?;
        Ok(holds(self.dst_mut()?, SEED))
    }

    /// Records a round trip's result and the events it raised.
    pub(super) fn rec_landed(&mut self, landed: &Landed, d: &Drained) {
        self.rec(&["copied"], landed.copied.into());
        self.rec(&["untouched"], landed.untouched.into());
        self.rec_events("dma", d, Event::FIELDS);
    }
}

/// dma_master: the platform's DMA master is found; its StreamID fits the
/// scenarios' linear stream table.
pub(super) fn dma_master<P: Platform>(w: &mut World<'_, P>) -> Outcome {
    let sid =
        w.p.find_dma_master()
            .ok_or(Fail::Msg("no DMA master found"))?;
    w.sid = Some(sid);
    w.rec(&["sid"], sid.into());
    ensure(
        u64::from(sid) < 1 << STRTAB_LOG2,
        "DMA master's StreamID beyond the stream table",
    )
}

/// invalid_ste_event: the master's STE is invalid (V = 0), so its write
/// must not reach memory; whatever event is recorded must be C_BAD_STE
/// for its StreamID.
pub(super) fn invalid_ste_event<P: Platform>(w: &mut World<'_, P>) -> Outcome {
    let sid = w.sid()?;
    ensure(
        !ste::is_valid(&w.smmu()?.read_ste(sid)?),
        "STE unexpectedly valid",
    )?;
    let (_, dst) = w.buffers()?;
    w.drain_events()?;
    let untouched = w.write_probe(dst)?;
    let d = w.drain_events()?;
    w.rec(&["untouched"], untouched.into());
    w.rec_events("dma", &d, EvtCBadSte::FIELDS);
    ensure(untouched, "DMA through an invalid STE reached memory")?;
    d.only(EventId::C_BAD_STE, sid)
}

/// bypass_ste_dma: with a bypass STE the round trip reaches physical
/// memory and raises no event.
pub(super) fn bypass_ste_dma<P: Platform>(w: &mut World<'_, P>) -> Outcome {
    let sid = w.sid()?;
    w.smmu()?.write_ste(sid, &ste::bypass())?;
    let (src, dst) = w.buffers()?;
    let landed = w.round_trip(src, dst, 0x1111_2222_3333_4444)?;
    let d = w.drain_events()?;
    w.rec_landed(&landed, &d);
    ensure(landed.copied, "bypass DMA did not copy the data")?;
    expect("events", d.count, 0)
}

/// Builds 4 KiB-granule tables for a 39-bit input range (start level 1)
/// mapping [`IOVA_SRC`] and [`IOVA_DST`] to the given pages; returns TTB0.
fn build_page_tables<P: Platform>(
    w: &mut World<'_, P>,
    src_pa: u64,
    dst_pa: u64,
) -> Result<u64, Fail> {
    let mut l1 = w.alloc(4096, 4096)?;
    let mut l2 = w.alloc(4096, 4096)?;
    let mut l3 = w.alloc(4096, 4096)?;
    const TABLE: u64 = 0b11;
    // Page: valid + page, AttrIndx 0, AP = 00 (read/write), SH inner, AF.
    const PAGE: u64 = 0b11 | (3 << 8) | (1 << 10);
    l1.write(0, l2.phys() | TABLE);
    l2.write(0, l3.phys() | TABLE);
    l3.write((IOVA_SRC >> 12) as usize, src_pa | PAGE);
    l3.write((IOVA_DST >> 12) as usize, dst_pa | PAGE);
    Ok(l1.phys())
}

/// stage1_dma: STE + CD + page tables: the round trip through IOVAs
/// arrives and raises no event.
pub(super) fn stage1_dma<P: Platform>(w: &mut World<'_, P>) -> Outcome {
    let sid = w.sid()?;
    let (src, dst) = w.buffers()?;
    let ttb0 = build_page_tables(w, src, dst)?;
    let mut cd_buf = w.alloc(64, 64)?;
    let cd = cd::stage1(&Stage1Config {
        asid: 1,
        ttb0,
        t0sz: 25,
        granule: Granule::Size4K,
        ips: 4,
        mair: 0xff,
        record_faults: true,
    });
    let cd_phys = Smmu::<P::Mmio>::write_cd(&mut cd_buf, &cd)?;
    w.cd_phys = Some(cd_phys);
    let smmu = w.smmu()?;
    smmu.write_ste(sid, &ste::stage1(cd_phys))?;
    smmu.submit_and_sync(&[cmd::cfgi_cd(sid, true), cmd::tlbi_nh_asid(1)])?;
    let landed = w.round_trip(IOVA_SRC, IOVA_DST, 0x5555_aaaa_0f0f_f0f0)?;
    let d = w.drain_events()?;
    w.rec_landed(&landed, &d);
    ensure(landed.copied, "translated DMA did not copy the data")?;
    expect("events", d.count, 0)
}

/// translation_fault_event: a read from an IOVA the tables leave unmapped
/// gives F_TRANSLATION records (the CD asks for them: R = 1) for the
/// master's StreamID, the first with that input address, as a read.
pub(super) fn translation_fault_event<P: Platform>(w: &mut World<'_, P>) -> Outcome {
    let sid = w.sid()?;
    w.p.dma_read(IOVA_UNMAPPED, PROBE_LEN)?;
    let d = w.drain_events()?;
    w.rec_events("dma", &d, EvtFTranslation::FIELDS);
    ensure(d.count >= 1, "no event for an unmapped IOVA")?;
    d.only(EventId::F_TRANSLATION, sid)?;
    let first = EvtFTranslation(d.first.map_or([0; 4], |e| e.words()));
    expect(
        "event input address",
        event::input_addr(&Event(first.0)),
        IOVA_UNMAPPED,
    )?;
    expect("event RnW", first.get(EvtFTranslation::RNW), 1)
}

/// abort_ste: CONFIG = abort terminates the master's write silently: memory
/// keeps its contents and no event is recorded.
pub(super) fn abort_ste<P: Platform>(w: &mut World<'_, P>) -> Outcome {
    let sid = w.sid()?;
    w.smmu()?.write_ste(sid, &ste::abort())?;
    let (_, dst) = w.buffers()?;
    let untouched = w.write_probe(dst)?;
    let d = w.drain_events()?;
    w.rec(&["untouched"], untouched.into());
    w.rec_events("dma", &d, Event::FIELDS);
    ensure(untouched, "aborted DMA wrote memory")?;
    expect("events", d.count, 0)
}
