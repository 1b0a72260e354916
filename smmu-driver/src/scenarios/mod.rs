//! The driver scenarios, written once and run on two platforms: the
//! bare-metal firmware under QEMU's SMMUv3 (`firmware/`) and the in-process
//! run against `vdev`'s vSMMUv3 (`tests/firmware/`). A [`Platform`] gives a
//! scenario its register window, DMA memory and a DMA master; a
//! [`Recorder`] receives every value the scenario read (registers, queue
//! indices, event record fields, DMA results) under a stable key, so the
//! two runs can be compared value by value.
//!
//! Each scenario asserts what the architecture guarantees for what it
//! does, on any conforming platform; what may legitimately differ between
//! platforms (ID registers, whether a fault is reported to the guest,
//! which optional commands are accepted) is recorded, not asserted, and
//! left to the comparison and its list of known differences.
//!
//! Scenarios run in order on one [`World`]: later ones build on the state
//! earlier ones leave (the SMMU enabled, the DMA master found, buffers).

mod dma;
mod setup;
mod tables;

use core::fmt;

use crate::dma::DmaBuf;
use crate::error::Error;
use crate::mmio::Mmio;
use crate::smmu::Smmu;
use crate::structs::{event, Event, EventBatch};
use regmap_rt::{StructField, Words};
use smmuv3_regs::enums::EventId;
use smmuv3_regs::{CMDQ_CONS, EVENTQ_CONS, EVENTQ_PROD};

/// What a scenario runs on.
pub trait Platform {
    /// The SMMU register window's backend.
    type Mmio: Mmio;

    /// A handle on the SMMU's register window (page 0 and page 1).
    fn smmu_mmio(&mut self) -> Self::Mmio;

    /// `bytes` bytes of DMA memory (a multiple of 8) aligned to `align` (a
    /// power of two) in device address space, zeroed; `None` when
    /// exhausted.
    fn alloc(&mut self, bytes: usize, align: usize) -> Option<DmaBuf<'static>>;

    /// Finds and prepares the DMA master; returns its StreamID.
    fn find_dma_master(&mut self) -> Option<u32>;

    /// The DMA master reads `len` bytes (at most 4096) at device address
    /// `addr` into its own buffer and waits for completion. A transfer the
    /// SMMU refuses still completes from the device's view (it cannot
    /// tell); only a master that does not answer is an error.
    fn dma_read(&mut self, addr: u64, len: u32) -> Result<(), Fail>;

    /// The DMA master writes `len` bytes of its buffer to device address
    /// `addr` and waits for completion (see [`Platform::dma_read`]).
    fn dma_write(&mut self, addr: u64, len: u32) -> Result<(), Fail>;
}

/// Receives what the scenarios observed.
pub trait Recorder {
    /// A value read by `scenario`; `key` is a dotted path given as its
    /// segments (`["end", "cmdq_prod"]`), stable across runs and platforms.
    fn value(&mut self, scenario: &'static str, key: &[&str], value: u64);

    /// The scenario's verdict, after its values.
    fn outcome(&mut self, scenario: &'static str, outcome: &Outcome);
}

/// Result of one scenario.
pub type Outcome = Result<(), Fail>;

/// Why a scenario failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fail {
    /// A condition that did not hold.
    Msg(&'static str),
    /// A driver call failed.
    Driver(Error),
    /// A value differs from what the architecture requires: what, got, want.
    Value(&'static str, u64, u64),
}

impl From<Error> for Fail {
    fn from(e: Error) -> Self {
        Fail::Driver(e)
    }
}

impl fmt::Display for Fail {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Fail::Msg(m) => write!(f, "{m}"),
            Fail::Driver(e) => write!(f, "driver: {e}"),
            Fail::Value(what, got, want) => write!(f, "{what} = {got:#x}, expected {want:#x}"),
        }
    }
}

fn expect(what: &'static str, got: u64, want: u64) -> Outcome {
    if got == want {
        Ok(())
    } else {
        Err(Fail::Value(what, got, want))
    }
}

fn ensure(cond: bool, msg: &'static str) -> Outcome {
    if cond {
        Ok(())
    } else {
        Err(Fail::Msg(msg))
    }
}

/// Declares the scenario list once: [`NAMES`] and the dispatch in
/// [`run_all`] come from the same line.
macro_rules! scenarios {
    ($($name:ident),* $(,)?) => {
        /// Every scenario, in the order they run.
        pub const NAMES: &[&str] = &[$(stringify!($name)),*];

        /// The scenario functions for platform `P`, named as in [`NAMES`].
        #[allow(clippy::type_complexity)]
        fn steps<P: Platform>() -> [(&'static str, fn(&mut World<'_, P>) -> Outcome); NAMES.len()] {
            [$((stringify!($name), $name::<P> as fn(&mut World<'_, P>) -> Outcome)),*]
        }
    };
}

use dma::translation_fault_event;
use dma::{abort_ste, bypass_ste_dma, dma_master, invalid_ste_event, stage1_dma};
use setup::{cfgi_all_sync, enable, ignored_opcodes, illegal_opcode, probe};
use tables::{back_to_linear, two_level};

scenarios!(
    probe,
    enable,
    cfgi_all_sync,
    ignored_opcodes,
    illegal_opcode,
    dma_master,
    invalid_ste_event,
    bypass_ste_dma,
    stage1_dma,
    translation_fault_event,
    abort_ste,
    two_level,
    back_to_linear,
);

/// Runs every scenario in order on `platform`, giving `rec` each one's
/// values, then its register snapshot (`end.*`), then its outcome.
/// Returns how many failed.
pub fn run_all<P: Platform>(platform: &mut P, rec: &mut dyn Recorder) -> usize {
    let mut w = World {
        p: platform,
        rec,
        scenario: "",
        smmu: None,
        sid: None,
        cd_phys: None,
        src: None,
        dst: None,
    };
    let mut failed = 0;
    for (name, step) in steps::<P>() {
        w.scenario = name;
        let outcome = step(&mut w);
        w.snapshot();
        if outcome.is_err() {
            failed += 1;
        }
        w.rec.outcome(name, &outcome);
    }
    failed
}

/// Everything the scenarios share.
pub struct World<'r, P: Platform> {
    p: &'r mut P,
    rec: &'r mut dyn Recorder,
    scenario: &'static str,
    smmu: Option<Smmu<'static, P::Mmio>>,
    /// The DMA master's StreamID.
    sid: Option<u32>,
    /// Device address of the stage-1 CD (stage1_dma builds it).
    cd_phys: Option<u64>,
    /// DMA source and destination pages.
    src: Option<DmaBuf<'static>>,
    dst: Option<DmaBuf<'static>>,
}

/// log2 sizes of the tables and queues the scenarios install (scenario
/// parameters): StreamIDs of the stream table,
const STRTAB_LOG2: u32 = 8;
/// entries of the command queue,
const CMDQ_LOG2: u32 = 8;
/// entries of the event queue.
const EVTQ_LOG2: u32 = 7;
/// Records the event queue holds: the capacity of the drain's batch, so
/// one [`Smmu::pop_events`] takes everything pending.
const EVTQ_SLOTS: usize = 1 << EVTQ_LOG2;

/// Events kept by [`World::drain_events`] beyond the count.
struct Drained {
    /// How many records were taken.
    count: u64,
    /// The first one.
    first: Option<Event>,
    /// Every record has the first one's EVENT_ID and StreamID.
    uniform: bool,
    /// The overflow flag was seen (records were lost).
    overflow: bool,
}

impl Drained {
    /// Checks that every record (if any) is `id` for `sid`.
    fn only(&self, id: EventId, sid: u32) -> Outcome {
        let Some(e) = self.first else {
            return Ok(());
        };
        ensure(self.uniform, "events of different kinds or streams")?;
        expect("event id", event::id(&e).into(), id.value())?;
        expect("event StreamID", event::sid(&e).into(), sid.into())
    }
}

impl<P: Platform> World<'_, P> {
    fn smmu(&mut self) -> Result<&mut Smmu<'static, P::Mmio>, Fail> {
        self.smmu
            .as_mut()
            .ok_or(Fail::Msg("no SMMU (probe failed)"))
    }

    fn sid(&self) -> Result<u32, Fail> {
        self.sid.ok_or(Fail::Msg("no DMA master"))
    }

    fn alloc(&mut self, bytes: usize, align: usize) -> Result<DmaBuf<'static>, Fail> {
        self.p
            .alloc(bytes, align)
            .ok_or(Fail::Msg("DMA memory exhausted"))
    }

    /// Records `value` under `key`.
    fn rec(&mut self, key: &[&str], value: u64) {
        self.rec.value(self.scenario, key, value);
    }

    /// Records every field of a register value under `group.FIELD`.
    fn rec_fields(&mut self, group: &str, value: u32, fields: regmap_rt::Fields) {
        for &(name, shift, mask) in fields {
            self.rec(&[group, name], (u64::from(value) >> shift) & mask);
        }
    }

    /// Records the command queue's indices and the global error state
    /// under `group`.
    fn rec_cmdq(&mut self, group: &str) -> Result<(), Fail> {
        let (prod, cons, gerror, gerrorn) = {
            let r = self.smmu()?.regs();
            (
                r.cmdq_prod().get(),
                r.cmdq_cons().get(),
                r.gerror().get(),
                r.gerrorn().get(),
            )
        };
        self.rec(&[group, "cmdq_prod"], prod.into());
        self.rec(&[group, "cmdq_cons.rd"], CMDQ_CONS::RD.read(cons).into());
        self.rec(&[group, "cmdq_cons.err"], CMDQ_CONS::ERR.read(cons).into());
        self.rec(&[group, "gerror_active"], (gerror ^ gerrorn).into());
        Ok(())
    }

    /// Takes every pending event record.
    fn drain_events(&mut self) -> Result<Drained, Fail> {
        let smmu = self.smmu()?;
        let mut d = Drained {
            count: 0,
            first: None,
            uniform: true,
            overflow: false,
        };
        // One batch takes a full queue; a few more rounds cover records
        // written while draining. A batch that is not filled means the
        // queue was empty when it was read.
        let mut batch = EventBatch::<EVTQ_SLOTS>::new();
        for _ in 0..4 {
            batch.clear();
            d.overflow |= smmu.pop_events(&mut batch)?;
            for e in &batch {
                match d.first {
                    None => d.first = Some(*e),
                    Some(f) => {
                        d.uniform &=
                            event::id(&f) == event::id(e) && event::sid(&f) == event::sid(e)
                    }
                }
                d.count += 1;
            }
            if !batch.is_full() {
                return Ok(d);
            }
        }
        Err(Fail::Msg("the event queue never ran empty"))
    }

    /// Records what [`World::drain_events`] found under `group`: the
    /// count, uniformity, overflow, and the first record's fields in the
    /// `layout` the scenario expects (plus any bits it does not name).
    fn rec_events(&mut self, group: &str, d: &Drained, layout: &[(&'static str, StructField)]) {
        self.rec(&[group, "events"], d.count);
        self.rec(&[group, "uniform"], d.uniform.into());
        self.rec(&[group, "overflow"], d.overflow.into());
        let words = d.first.map_or([0; 4], |e| e.words());
        for (name, f) in layout {
            let v = words.get(f.word).map_or(0, |w| (w >> f.shift) & f.mask);
            self.rec(&[group, "event", name], v);
        }
        const UNNAMED: [&str; 4] = ["w0_unnamed", "w1_unnamed", "w2_unnamed", "w3_unnamed"];
        for (i, key) in UNNAMED.iter().enumerate() {
            let named = layout
                .iter()
                .filter(|(_, f)| f.word == i)
                .fold(0u64, |m, (_, f)| m | (f.mask << f.shift));
            self.rec(&[group, "event", key], words[i] & !named);
        }
    }

    /// Records the observable state after a scenario (`end.*`), in terms
    /// that do not depend on earlier scenarios' history: active global
    /// errors rather than the GERROR/GERRORN toggles, the error code only
    /// while GERROR.CMDQ_ERR makes it meaningful, pending events and an
    /// unacknowledged overflow rather than absolute event queue indices
    /// (each scenario records its own event count). Command queue indices
    /// stay absolute: both runs issue the same commands.
    fn snapshot(&mut self) {
        let Some(smmu) = self.smmu.as_ref() else {
            return;
        };
        let r = smmu.regs();
        let active = smmu.global_errors();
        let cons = r.cmdq_cons().get();
        let (eprod, econs) = (r.eventq_prod().get(), r.eventq_cons().get());
        let wrap = (2u32 << EVTQ_LOG2) - 1;
        let pending = EVENTQ_PROD::WR
            .read(eprod)
            .wrapping_sub(EVENTQ_CONS::RD.read(econs))
            & wrap;
        let unacked = EVENTQ_PROD::OVFLG.read(eprod) != EVENTQ_CONS::OVACKFLG.read(econs);
        let cmdq_error = if active.cmdq_err() {
            CMDQ_CONS::ERR.read(cons)
        } else {
            0
        };
        let values: [(&str, u32); 9] = [
            ("cr0", r.cr0().get()),
            ("cr0ack", r.cr0ack().get()),
            ("gerror_active", active.0),
            ("cmdq_prod", r.cmdq_prod().get()),
            ("cmdq_cons.rd", CMDQ_CONS::RD.read(cons)),
            ("cmdq_error", cmdq_error),
            ("eventq_pending", pending),
            ("eventq_overflow", unacked.into()),
            ("strtab_base_cfg", r.strtab_base_cfg().get()),
        ];
        for (k, v) in values {
            self.rec(&["end", k], v.into());
        }
    }
}

/// Writes one observed value as the line both runs use:
/// `OBS <scenario> <key.segments> <0x value>`.
pub fn write_value(
    out: &mut dyn fmt::Write,
    scenario: &str,
    key: &[&str],
    value: u64,
) -> fmt::Result {
    write!(out, "OBS {scenario} ")?;
    for (i, k) in key.iter().enumerate() {
        if i > 0 {
            out.write_char('.')?;
        }
        out.write_str(k)?;
    }
    writeln!(out, " {value:#x}")
}

/// Writes a scenario's verdict: `PASS <scenario>` or
/// `FAIL <scenario>: <why>`.
pub fn write_outcome(out: &mut dyn fmt::Write, scenario: &str, outcome: &Outcome) -> fmt::Result {
    match outcome {
        Ok(()) => writeln!(out, "PASS {scenario}"),
        Err(e) => writeln!(out, "FAIL {scenario}: {e}"),
    }
}
