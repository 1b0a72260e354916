//! The emulated command queue: consumes 16-byte commands from guest memory
//! between CONS and PROD, batches what can be batched (invalidations for
//! `IOMMU_HWPT_INVALIDATE`), and stops on the first bad command with the
//! architecture's CERROR code in CMDQ_CONS.ERR.
//!
//! The consumer is independent of the register file: it takes the queue
//! geometry and the two indices and returns the new CONS and the error, so the
//! `CMDQ_PROD` write hook of the front end is a few lines around it.

use smmuv3_regs::enums::{CmdError, CmdOpcode};
use smmuv3_regs::structs::{self as cs, Words};
use smmuv3_regs::{fieldsets::CmdQueueBase, CMDQ_CONS, CMDQ_PROD};

use crate::vmm::GuestMemory;

/// `CERROR_NONE` (the map's `CmdError`).
pub const CERROR_NONE: u32 = CmdError::CERROR_NONE.value() as u32;
/// `CERROR_ILL`: illegal or malformed command.
pub const CERROR_ILL: u32 = CmdError::CERROR_ILL.value() as u32;
/// `CERROR_ABT`: the command fetch aborted.
pub const CERROR_ABT: u32 = CmdError::CERROR_ABT.value() as u32;
/// `CERROR_ATC_INV_SYNC`: a CMD_SYNC failed because an ATC invalidation timed out.
pub const CERROR_ATC_INV_SYNC: u32 = CmdError::CERROR_ATC_INV_SYNC.value() as u32;

/// Physical address bits the model keeps (model parameter: queue, table and
/// MSI addresses above 2^52 are dropped, the 52-bit PA the model offers).
pub const MODEL_PA_MASK: u64 = (1u64 << 52) - 1;

/// Bytes per queue entry (the map's `Command` size).
const ENTRY: usize = cs::Command::SIZE_BYTES;

/// A command as read from the queue.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Command(pub [u64; 2]);

impl Command {
    /// The opcode byte (`Command.OPCODE`), named or not.
    pub fn opcode(&self) -> u8 {
        cs::Command(self.0).get(cs::Command::OPCODE) as u8
    }
    /// The opcode, if the map names it.
    pub fn op(&self) -> Option<CmdOpcode> {
        cs::Command(self.0).get_enum(cs::Command::OPCODE)
    }
    /// `StreamID` of CFGI_STE(_RANGE), CFGI_CD(_ALL), ATC_INV, from each
    /// command's layout (the CFGI_STE one for any other command).
    pub fn sid(&self) -> u32 {
        let w = self.0;
        (match self.op() {
            Some(CmdOpcode::CFGI_STE_RANGE) => cs::CmdCfgiSteRange(w).get(cs::CmdCfgiSteRange::SID),
            Some(CmdOpcode::CFGI_CD) => cs::CmdCfgiCd(w).get(cs::CmdCfgiCd::SID),
            Some(CmdOpcode::CFGI_CD_ALL) => cs::CmdCfgiCdAll(w).get(cs::CmdCfgiCdAll::SID),
            Some(CmdOpcode::ATC_INV) => cs::CmdAtcInv(w).get(cs::CmdAtcInv::SID),
            _ => cs::CmdCfgiSte(w).get(cs::CmdCfgiSte::SID),
        }) as u32
    }
    /// `SSEC` = 1 on a command that carries it (PREFETCH_*, CFGI_*): it
    /// names a Secure stream, which the Non-secure queue may not (CERROR_ILL).
    pub fn secure_stream(&self) -> bool {
        let w = self.0;
        match self.op() {
            Some(CmdOpcode::PREFETCH_CONFIG) => {
                cs::CmdPrefetchConfig(w).get(cs::CmdPrefetchConfig::SSEC) != 0
            }
            Some(CmdOpcode::PREFETCH_ADDR) => {
                cs::CmdPrefetchAddr(w).get(cs::CmdPrefetchAddr::SSEC) != 0
            }
            Some(CmdOpcode::CFGI_STE) => cs::CmdCfgiSte(w).get(cs::CmdCfgiSte::SSEC) != 0,
            Some(CmdOpcode::CFGI_STE_RANGE) => {
                cs::CmdCfgiSteRange(w).get(cs::CmdCfgiSteRange::SSEC) != 0
            }
            Some(CmdOpcode::CFGI_CD) => cs::CmdCfgiCd(w).get(cs::CmdCfgiCd::SSEC) != 0,
            Some(CmdOpcode::CFGI_CD_ALL) => cs::CmdCfgiCdAll(w).get(cs::CmdCfgiCdAll::SSEC) != 0,
            _ => false,
        }
    }
    /// `CFGI_STE_RANGE.Range`: 2^(Range+1) StreamIDs.
    pub fn range(&self) -> u32 {
        cs::CmdCfgiSteRange(self.0).get(cs::CmdCfgiSteRange::RANGE) as u32
    }
    /// `CMD_SYNC.CS`: 0 none, 1 IRQ (MSI write), 2 SEV.
    pub fn sync_cs(&self) -> u8 {
        cs::CmdSync(self.0).get(cs::CmdSync::CS) as u8
    }
    /// `CMD_SYNC.MSIData`.
    pub fn sync_msi_data(&self) -> u32 {
        cs::CmdSync(self.0).get(cs::CmdSync::MSIDATA) as u32
    }
    /// `CMD_SYNC.MSIAddress`, in place, within the model's physical
    /// addresses.
    pub fn sync_msi_addr(&self) -> u64 {
        let f = cs::CmdSync::MSIADDR;
        (cs::CmdSync(self.0).get(f) << f.shift) & MODEL_PA_MASK
    }
}

/// The queue's geometry, from CMDQ_BASE.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Geometry {
    /// Guest physical address of entry 0 (aligned to the queue size).
    pub addr: u64,
    /// log2 of the number of entries (already clamped to IDR1.CMDQS).
    pub log2size: u32,
}

impl Geometry {
    /// From a CMDQ_BASE value: ADDR (within the model's physical
    /// addresses) and LOG2SIZE, clamped to `max_log2` (IDR1.CMDQS). The
    /// address is aligned down to the queue size, as the architecture
    /// treats the low bits as zero.
    pub fn from_base(base: u64, max_log2: u32) -> Self {
        let log2size = (CmdQueueBase::LOG2SIZE.read(base) as u32).min(max_log2);
        let bytes = (cs::Command::SIZE_BYTES as u64) << log2size;
        let addr = base & CmdQueueBase::ADDR.val(u64::MAX).value & MODEL_PA_MASK & !(bytes - 1);
        Geometry { addr, log2size }
    }

    fn entries(&self) -> u32 {
        1 << self.log2size
    }

    /// Mask of index plus wrap bit.
    fn wrap_mask(&self) -> u32 {
        (self.entries() << 1) - 1
    }
}

/// What the queue's executor does with commands.
pub trait Executor {
    /// Whether `cmd` goes into the current batch rather than being executed
    /// alone (invalidations that one `IOMMU_HWPT_INVALIDATE` can carry).
    fn batchable(&self, cmd: &Command) -> bool;
    /// Adds a batchable command to the batch.
    fn batch(&mut self, cmd: &Command);
    /// Performs the batch. On failure: how many batched commands completed
    /// and the CERROR code of the next one.
    fn flush(&mut self) -> Result<(), (usize, u32)>;
    /// Executes a non-batchable command (the batch was flushed before).
    fn execute(&mut self, cmd: &Command) -> Result<(), u32>;
}

/// What one run of the queue did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Outcome {
    /// New CMDQ_CONS value (index, wrap, and ERR when stopped).
    pub cons: u32,
    /// The CERROR code the queue stopped with, if any.
    pub error: Option<u32>,
    /// Commands completed.
    pub executed: u64,
}

/// Most commands batched into one flush (model parameter).
pub const MAX_BATCH: usize = 128;

/// Consumes the commands between `cons` and `prod` (CMDQ register values).
/// Stops at the first failing command: CONS points at it and carries its
/// CERROR code in ERR. Never panics, whatever the guest wrote, and never runs
/// more than one queue's worth (`2^LOG2SIZE` commands) per call: a PROD more
/// than a full queue ahead of CONS is read as a full queue.
pub fn consume<E: Executor + ?Sized>(
    g: Geometry,
    prod: u32,
    cons: u32,
    mem: &dyn GuestMemory,
    exec: &mut E,
) -> Outcome {
    let mask = g.wrap_mask();
    let entries = g.entries();
    let prod = CMDQ_PROD::WR.read(prod) & mask;
    let mut cur = CMDQ_CONS::RD.read(cons) & mask;
    // Queue indices of the batched commands, to rewind to the failing one.
    let mut pending: Vec<u32> = Vec::with_capacity(MAX_BATCH);
    let mut executed = 0u64;
    let mut buf = [0u8; ENTRY * 64];
    let stop = |at: u32, code: u32, executed: u64| Outcome {
        cons: (CMDQ_CONS::RD.val(at) + CMDQ_CONS::ERR.val(code)).value,
        error: Some(code),
        executed,
    };
    let flush = |exec: &mut E, pending: &mut Vec<u32>, executed: &mut u64| {
        let n = pending.len();
        let r = match exec.flush() {
            Ok(()) => Ok(()),
            Err((done, code)) => Err((pending.get(done).copied(), done, code)),
        };
        pending.clear();
        match r {
            Ok(()) => {
                *executed += n as u64;
                Ok(())
            }
            Err((at, done, code)) => {
                *executed += done as u64;
                Err((at, code))
            }
        }
    };
    // Commands still to run. A PROD more than one queue ahead of CONS is
    // CONSTRAINED UNPREDICTABLE (the indices no longer describe a ring); the
    // model reads it as a full queue, runs `entries` commands from CONS and
    // stops, so one trap never does more than one queue's worth of work.
    let mut left = (prod.wrapping_sub(cur) & mask).min(entries);
    while left > 0 {
        // Read a run of contiguous entries (up to the wrap or PROD) at once.
        let slot = cur & (entries - 1);
        let run = left.min(entries - slot).min((buf.len() / ENTRY) as u32);
        let bytes = &mut buf[..run as usize * ENTRY];
        if !mem.read(g.addr + u64::from(slot) * ENTRY as u64, bytes) {
            if let Err((at, code)) = flush(exec, &mut pending, &mut executed) {
                return stop(at.unwrap_or(cur), code, executed);
            }
            return stop(cur, CERROR_ABT, executed);
        }
        for k in 0..run as usize {
            let w = |i: usize| {
                let mut b = [0u8; 8];
                b.copy_from_slice(&bytes[k * ENTRY + i * 8..k * ENTRY + i * 8 + 8]);
                u64::from_le_bytes(b)
            };
            let cmd = Command([w(0), w(1)]);
            if cmd.secure_stream() {
                if let Err((at, code)) = flush(exec, &mut pending, &mut executed) {
                    return stop(at.unwrap_or(cur), code, executed);
                }
                return stop(cur, CERROR_ILL, executed);
            }
            if exec.batchable(&cmd) {
                exec.batch(&cmd);
                pending.push(cur);
                if pending.len() >= MAX_BATCH {
                    if let Err((at, code)) = flush(exec, &mut pending, &mut executed) {
                        return stop(at.unwrap_or(cur), code, executed);
                    }
                }
            } else {
                if let Err((at, code)) = flush(exec, &mut pending, &mut executed) {
                    return stop(at.unwrap_or(cur), code, executed);
                }
                if let Err(code) = exec.execute(&cmd) {
                    return stop(cur, code, executed);
                }
                executed += 1;
            }
            cur = (cur + 1) & mask;
        }
        left -= run;
    }
    if let Err((at, code)) = flush(exec, &mut pending, &mut executed) {
        return stop(at.unwrap_or(cur), code, executed);
    }
    Outcome {
        cons: cur,
        error: None,
        executed,
    }
}

// The tests take guest memory (or a host's ID registers) from the simulator.
#[cfg(all(test, feature = "sim"))]
mod tests {
    use super::*;
    use crate::backend::sim::SimGuestRam;

    /// Opcode bytes of the commands the tests write, from the map.
    mod op {
        use smmuv3_regs::enums::CmdOpcode;
        pub const CFGI_STE: u8 = CmdOpcode::CFGI_STE.value() as u8;
        pub const CFGI_CD_ALL: u8 = CmdOpcode::CFGI_CD_ALL.value() as u8;
        pub const TLBI_NH_ASID: u8 = CmdOpcode::TLBI_NH_ASID.value() as u8;
        pub const TLBI_NH_VA: u8 = CmdOpcode::TLBI_NH_VA.value() as u8;
        pub const CMD_SYNC: u8 = CmdOpcode::CMD_SYNC.value() as u8;
    }

    /// Batches TLBIs, fails the batch entry with ASID 0xbad, executes SYNC
    /// and CFGI_STE, refuses anything else.
    #[derive(Default)]
    struct Fake {
        batch: Vec<Command>,
        done: Vec<Command>,
        flushes: usize,
    }

    impl Executor for Fake {
        fn batchable(&self, c: &Command) -> bool {
            c.opcode() == op::TLBI_NH_VA
        }
        fn batch(&mut self, c: &Command) {
            self.batch.push(*c);
        }
        fn flush(&mut self) -> Result<(), (usize, u32)> {
            if self.batch.is_empty() {
                return Ok(());
            }
            self.flushes += 1;
            let b = std::mem::take(&mut self.batch);
            for (i, c) in b.iter().enumerate() {
                if c.0[0] >> 48 == 0xbad {
                    return Err((i, CERROR_ILL));
                }
                self.done.push(*c);
            }
            Ok(())
        }
        fn execute(&mut self, c: &Command) -> Result<(), u32> {
            if matches!(c.opcode(), op::CMD_SYNC | op::CFGI_STE) {
                self.done.push(*c);
                Ok(())
            } else {
                Err(CERROR_ILL)
            }
        }
    }

    const Q: u64 = 0x1000;

    fn put(m: &SimGuestRam, idx: u32, w0: u64) {
        assert!(m.write_u64(Q + u64::from(idx) * 16, w0));
        assert!(m.write_u64(Q + u64::from(idx) * 16 + 8, 0));
    }

    fn mem() -> SimGuestRam {
        SimGuestRam::new().with_region(0, 0x10000, 4096)
    }

    #[test]
    fn consumes_with_wrap_and_batches() {
        let m = mem();
        let g = Geometry::from_base(Q | 2, 19); // 4 entries
        for i in 0..4 {
            put(&m, i, 0x12 | (u64::from(i) << 48));
        }
        let mut f = Fake::default();
        // cons at index 3 (no wrap), prod at index 2 with wrap: 3 commands.
        let o = consume(g, 0b110, 3, &m, &mut f);
        assert_eq!(o.cons, 0b110);
        assert_eq!(o.error, None);
        assert_eq!(o.executed, 3);
        assert_eq!(f.flushes, 1);
        let asids: Vec<u64> = f.done.iter().map(|c| c.0[0] >> 48).collect();
        assert_eq!(asids, vec![3, 0, 1]);
    }

    #[test]
    fn illegal_command_stops_at_it() {
        let m = mem();
        let g = Geometry::from_base(Q | 3, 19);
        put(&m, 0, 0x12);
        put(&m, 1, 0x46);
        put(&m, 2, 0xff);
        put(&m, 3, 0x12);
        let mut f = Fake::default();
        let o = consume(g, 4, 0, &m, &mut f);
        assert_eq!(o.cons, 2 | (CERROR_ILL << 24));
        assert_eq!(o.error, Some(CERROR_ILL));
        assert_eq!(o.executed, 2);
        assert_eq!(f.done.len(), 2);
    }

    #[test]
    fn secure_stream_commands_are_illegal() {
        let m = mem();
        let g = Geometry::from_base(Q | 3, 19);
        put(&m, 0, 0x12);
        put(&m, 1, u64::from(op::CFGI_STE));
        // CFGI_STE with SSEC = 1 after a batched TLBI and a plain CFGI_STE:
        // those complete, CONS stops at it.
        put(&m, 2, u64::from(op::CFGI_STE) | 1 << 10);
        let mut f = Fake::default();
        let o = consume(g, 3, 0, &m, &mut f);
        assert_eq!(o.cons, 2 | (CERROR_ILL << 24));
        assert_eq!((o.executed, f.done.len()), (2, 2));
        // Bit 10 of a TLBI (no SSEC field) is not a secure stream.
        assert!(!Command([0x12 | 1 << 10, 0]).secure_stream());
        assert!(Command([u64::from(op::CFGI_CD_ALL) | 1 << 10, 0]).secure_stream());
    }

    #[test]
    fn failed_batch_entry_rewinds_cons_to_it() {
        let m = mem();
        let g = Geometry::from_base(Q | 3, 19);
        put(&m, 0, 0x12);
        put(&m, 1, 0x12 | (0xbad << 48));
        put(&m, 2, 0x12);
        let mut f = Fake::default();
        let o = consume(g, 3, 0, &m, &mut f);
        assert_eq!(o.cons, 1 | (CERROR_ILL << 24));
        assert_eq!(o.executed, 1);
    }

    #[test]
    fn unreadable_queue_is_an_abort() {
        let m = mem();
        let g = Geometry::from_base(0x10_0000 | 3, 19);
        let o = consume(g, 1, 0, &m, &mut Fake::default());
        assert_eq!(o.error, Some(CERROR_ABT));
        assert_eq!(o.cons, CERROR_ABT << 24);
    }

    #[test]
    fn hostile_indices_never_panic() {
        let m = mem();
        for base in [0, u64::MAX, Q | 0x1f, Q | 19] {
            for (p, c) in [(u32::MAX, 0), (0, u32::MAX), (0x8000_0000, 7)] {
                let g = Geometry::from_base(base, 8);
                let _ = consume(g, p, c, &m, &mut Fake::default());
            }
        }
    }

    /// Counts what it is given; batches TLBI_NH_ASID, executes CMD_SYNC.
    #[derive(Default)]
    struct Count {
        batched: u64,
        executed: u64,
    }

    impl Executor for Count {
        fn batchable(&self, c: &Command) -> bool {
            c.opcode() == op::TLBI_NH_ASID
        }
        fn batch(&mut self, _: &Command) {
            self.batched += 1;
        }
        fn flush(&mut self) -> Result<(), (usize, u32)> {
            Ok(())
        }
        fn execute(&mut self, _: &Command) -> Result<(), u32> {
            self.executed += 1;
            Ok(())
        }
    }

    #[test]
    fn a_prod_more_than_a_queue_ahead_runs_one_queue_and_reads_as_full() {
        let m = mem();
        let g = Geometry::from_base(Q | 2, 19); // 4 entries, wrap mask 0b111
        for i in 0..4 {
            put(&m, i, u64::from(op::TLBI_NH_ASID));
        }
        // From CONS 1, PROD 0 with the wrap bit clear is 7 entries ahead:
        // four (a full queue) run, CONS lands on 1 with the wrap toggled.
        for prod in [0u32, 6, 7] {
            let mut f = Count::default();
            let o = consume(g, prod, 1, &m, &mut f);
            assert_eq!(
                (o.executed, f.batched, o.error),
                (4, 4, None),
                "PROD {prod}"
            );
            assert_eq!(o.cons, 0b101);
        }
        // Exactly a full queue ahead is legal and runs the same four.
        let o = consume(g, 0b101, 1, &m, &mut Count::default());
        assert_eq!((o.executed, o.cons), (4, 0b101));
    }

    #[test]
    fn one_trap_at_the_largest_queue_runs_at_most_one_queue() {
        // The hostile case at CMDQS 19: a ring of TLBI_NH_ASID + CMD_SYNC
        // pairs and PROD one short of twice around (2^20 - 1 ahead of CONS).
        let log2 = 19;
        let entries = 1u32 << log2;
        let m = SimGuestRam::new().with_region(0, 16 << log2, 4096);
        for i in 0..entries {
            let opcode = if i % 2 == 0 {
                op::TLBI_NH_ASID
            } else {
                op::CMD_SYNC
            };
            assert!(m.write_u64(u64::from(i) * 16, u64::from(opcode)));
        }
        let g = Geometry::from_base(u64::from(log2), log2);
        let mut f = Count::default();
        let o = consume(g, (entries << 1) - 1, 0, &m, &mut f);
        assert_eq!(o.executed, u64::from(entries));
        assert_eq!(
            (f.batched, f.executed),
            (u64::from(entries / 2), u64::from(entries / 2))
        );
        assert_eq!(o.cons, entries, "CONS one full ring on, wrap toggled");
    }

    #[test]
    fn geometry_clamps_and_aligns() {
        let g = Geometry::from_base(0x1234_5678_9abc_def3 | 0x1f, 8);
        assert_eq!(g.log2size, 8);
        assert_eq!(g.addr % (16 << 8), 0);
        assert!(g.addr < 1 << 52);
    }
}
