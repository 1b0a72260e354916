//! Stream tables (linear and two-level), STEs and CDs.

use super::{Smmu, CD_WORDS, MAX_L2_TABLES, STE_WORDS};
use crate::dma::{dma_wmb, DmaBuf};
use crate::error::Error;
use crate::mmio::Mmio;
use crate::structs::{cmd, ste, Cd, Ste};
use heapless::LinearMap;
use regmap_rt::Words;
use smmuv3_regs::structs::L1Std;
use smmuv3_regs::{STRTAB_BASE, STRTAB_BASE_CFG};

// One per SMMU and no allocator to box into: the size difference is fine.
#[allow(clippy::large_enum_variant)]
pub(super) enum StreamTable<'a> {
    Linear {
        buf: DmaBuf<'a>,
        log2size: u32,
    },
    TwoLevel {
        l1: DmaBuf<'a>,
        log2size: u32,
        split: u32,
        /// The level-2 tables installed, by level-1 index.
        l2: LinearMap<u32, DmaBuf<'a>, MAX_L2_TABLES>,
    },
}

impl<'a, M: Mmio> Smmu<'a, M> {
    /// Installs a linear stream table of `1 << log2size` STEs, all invalid.
    /// The SMMU must be disabled.
    pub fn setup_strtab_linear(&mut self, mut buf: DmaBuf<'a>, log2size: u32) -> Result<(), Error> {
        self.require_disabled("stream table set up while enabled")?;
        if log2size > u32::from(self.caps.sid_bits) {
            return Err(Error::OutOfRange("stream table larger than IDR1.SIDSIZE"));
        }
        let bytes = 64u64 << log2size;
        if (buf.len_bytes() as u64) < bytes || !buf.is_aligned(bytes) {
            return Err(Error::BadBuffer("linear stream table"));
        }
        buf.zero();
        self.regs
            .strtab_base()
            .write(STRTAB_BASE::RA::SET + STRTAB_BASE::ADDR.val(buf.phys() >> 6));
        self.regs
            .strtab_base_cfg()
            .write(STRTAB_BASE_CFG::FMT::LINEAR + STRTAB_BASE_CFG::LOG2SIZE.val(log2size));
        self.strtab = Some(StreamTable::Linear { buf, log2size });
        Ok(())
    }

    /// Installs a two-level stream table covering `1 << log2size` stream
    /// IDs, `split` of whose bits index the level-2 tables; every level-1
    /// descriptor starts invalid (add level-2 tables with
    /// [`Smmu::install_l2_table`]). The SMMU must be disabled.
    pub fn setup_strtab_2level(
        &mut self,
        mut l1: DmaBuf<'a>,
        log2size: u32,
        split: u32,
    ) -> Result<(), Error> {
        self.require_disabled("stream table set up while enabled")?;
        if !self.caps.two_level_strtab {
            return Err(Error::Unsupported(
                "two-level stream tables (IDR0.ST_LEVEL)",
            ));
        }
        if log2size > u32::from(self.caps.sid_bits) {
            return Err(Error::OutOfRange("stream table larger than IDR1.SIDSIZE"));
        }
        // The architecture allows SPLIT values 6, 8 and 10.
        if !matches!(split, 6 | 8 | 10) || split > log2size {
            return Err(Error::OutOfRange(
                "SPLIT must be 6, 8 or 10 and <= LOG2SIZE",
            ));
        }
        let l1_entries = 1u64 << (log2size - split);
        let bytes = l1_entries * 8;
        if (l1.len_bytes() as u64) < bytes || !l1.is_aligned(bytes.max(64)) {
            return Err(Error::BadBuffer("level-1 stream table"));
        }
        l1.zero();
        self.regs
            .strtab_base()
            .write(STRTAB_BASE::RA::SET + STRTAB_BASE::ADDR.val(l1.phys() >> 6));
        self.regs.strtab_base_cfg().write(
            STRTAB_BASE_CFG::FMT::TWO_LEVEL
                + STRTAB_BASE_CFG::SPLIT.val(split)
                + STRTAB_BASE_CFG::LOG2SIZE.val(log2size),
        );
        self.strtab = Some(StreamTable::TwoLevel {
            l1,
            log2size,
            split,
            l2: LinearMap::new(),
        });
        Ok(())
    }

    /// Gives the two-level stream table a level-2 table for the stream IDs
    /// whose upper bits are `l1_index` (2^split STEs, all invalid), and
    /// invalidates the SMMU's cached copy of the level-1 descriptor when
    /// the command queue runs.
    pub fn install_l2_table(&mut self, l1_index: u32, mut buf: DmaBuf<'a>) -> Result<(), Error> {
        let Some(StreamTable::TwoLevel {
            l1,
            log2size,
            split,
            l2,
        }) = self.strtab.as_mut()
        else {
            return Err(Error::NotConfigured("two-level stream table"));
        };
        let (log2size, split) = (*log2size, *split);
        if u64::from(l1_index) >= 1u64 << (log2size - split) {
            return Err(Error::OutOfRange("level-1 index"));
        }
        let bytes = 64u64 << split;
        if (buf.len_bytes() as u64) < bytes || !buf.is_aligned(bytes) {
            return Err(Error::BadBuffer("level-2 stream table"));
        }
        // Refused before anything is written: a new index needs a free
        // slot, a known one replaces its table.
        if l2.is_full() && !l2.contains_key(&l1_index) {
            return Err(Error::OutOfRange("too many level-2 tables"));
        }
        buf.zero();
        let desc = L1Std::new()
            .with(L1Std::SPAN, u64::from(split) + 1)
            .with(L1Std::L2PTR, buf.phys() >> 6);
        dma_wmb();
        l1.write(l1_index as usize, desc.0[0]);
        // Room was checked above, so this only fails if that check is wrong.
        if l2.insert(l1_index, buf).is_err() {
            return Err(Error::OutOfRange("too many level-2 tables"));
        }
        if self.cmdq_running() {
            let first_sid = l1_index << split;
            let mut b = self.batch();
            b.push(cmd::cfgi_ste(first_sid, false))?;
            b.sync()?;
        }
        Ok(())
    }

    fn ste_location(&mut self, sid: u32) -> Result<(&mut DmaBuf<'a>, usize), Error> {
        match self.strtab.as_mut() {
            None => Err(Error::NotConfigured("stream table")),
            Some(StreamTable::Linear { buf, log2size }) => {
                if u64::from(sid) >= 1u64 << *log2size {
                    return Err(Error::OutOfRange("stream ID beyond the stream table"));
                }
                Ok((buf, sid as usize * STE_WORDS))
            }
            Some(StreamTable::TwoLevel {
                log2size,
                split,
                l2,
                ..
            }) => {
                if u64::from(sid) >= 1u64 << *log2size {
                    return Err(Error::OutOfRange("stream ID beyond the stream table"));
                }
                let (hi, lo) = (sid >> *split, sid & ((1 << *split) - 1));
                let table = l2
                    .get_mut(&hi)
                    .ok_or(Error::NotConfigured("no level-2 table for this stream ID"))?;
                Ok((table, lo as usize * STE_WORDS))
            }
        }
    }

    /// Reads back the STE of `sid`.
    pub fn read_ste(&mut self, sid: u32) -> Result<Ste, Error> {
        let (buf, at) = self.ste_location(sid)?;
        let mut w = [0u64; 8];
        for (i, x) in w.iter_mut().enumerate() {
            *x = buf.read(at + i);
        }
        Ok(Ste(w))
    }

    /// Installs `ste` for `sid`. A live STE is first made invalid and the
    /// SMMU told (CFGI_STE + SYNC), then words 1-7 are written, then word 0
    /// (which holds V), then CFGI_STE + SYNC again, so the SMMU never sees
    /// a half-written valid entry.
    pub fn write_ste(&mut self, sid: u32, ste: &Ste) -> Result<(), Error> {
        let running = self.cmdq_running();
        let (buf, at) = self.ste_location(sid)?;
        let was_valid = ste::is_valid(&Ste([buf.read(at), 0, 0, 0, 0, 0, 0, 0]));
        if was_valid {
            buf.write(at, 0);
            if running {
                dma_wmb();
                self.invalidate_ste(sid)?;
            }
        }
        let (buf, at) = self.ste_location(sid)?;
        for i in 1..STE_WORDS {
            buf.write(at + i, ste.0[i]);
        }
        dma_wmb();
        buf.write(at, ste.0[0]);
        dma_wmb();
        if running {
            self.invalidate_ste(sid)?;
        }
        Ok(())
    }

    fn invalidate_ste(&mut self, sid: u32) -> Result<(), Error> {
        let mut b = self.batch();
        b.push(cmd::cfgi_ste(sid, true))?;
        b.sync()
    }

    /// Writes the CD `cd` into `buf` (8 words, 64-byte aligned), V last.
    /// Returns the device address to put in an STE.
    pub fn write_cd(buf: &mut DmaBuf<'_>, cd: &Cd) -> Result<u64, Error> {
        if buf.len_words() < CD_WORDS || !buf.is_aligned(64) {
            return Err(Error::BadBuffer("context descriptor"));
        }
        for i in 1..CD_WORDS {
            buf.write(i, cd.0[i]);
        }
        dma_wmb();
        buf.write(0, cd.0[0]);
        dma_wmb();
        Ok(buf.phys())
    }
}
