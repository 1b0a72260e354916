//! The driver against a small in-process SMMUv3/CMDQV stand-in: it
//! consumes commands synchronously from the driver's own buffers (their
//! "physical" addresses are host addresses here), refuses opcodes it does
//! not know with CERROR_ILL the way QEMU does, and mirrors enables into
//! their acknowledgement registers. It checks the driver's logic (queue
//! arithmetic, wrap-around, handshakes, error recovery, event draining),
//! not the device models, which live in `vdev`.

use std::cell::RefCell;
use std::collections::HashMap;
use std::rc::Rc;

use smmu_driver::cmdqv::Cmdqv;
use smmu_driver::smmu::MAX_L2_TABLES;
use smmu_driver::smmuv3_regs::CR0;
use smmu_driver::{cmd, event, ste, CmdError, Command, DmaBuf, Error, EventBatch, Mmio, Smmu};

#[derive(Default)]
struct State {
    regs: HashMap<usize, u64>,
    /// Opcodes consumed, in order.
    consumed: Vec<u8>,
    /// CR0 writes are not acknowledged (to test the timeout).
    stuck_cr0: bool,
    /// Opcodes the VCMDQ accepts (the guest subset).
    vcmdq_ok: Vec<u8>,
}

const CMDQ_BASE: usize = 0x90;
const CMDQ_PROD: usize = 0x98;
const CMDQ_CONS: usize = 0x9c;
const GERROR: usize = 0x60;
const GERRORN: usize = 0x64;
const KNOWN: &[u8] = &[
    0x01, 0x02, 0x03, 0x04, 0x05, 0x06, 0x10, 0x11, 0x12, 0x20, 0x30, 0x46,
];

impl State {
    fn reg(&self, off: usize) -> u64 {
        self.regs.get(&off).copied().unwrap_or(0)
    }

    /// Consumes commands of a queue whose base register is at `base`,
    /// indices at `prod`/`cons`, errors at `gerror`/`gerrorn`.
    fn consume(
        &mut self,
        base: usize,
        prod: usize,
        cons: usize,
        gerror: usize,
        gerrorn: usize,
        ok: &[u8],
    ) {
        let b = self.reg(base);
        let log2 = (b & 0x1f) as u32;
        let addr = b & 0x00ff_ffff_ffff_ffe0;
        let mask = (2u64 << log2) - 1;
        loop {
            if (self.reg(gerror) ^ self.reg(gerrorn)) & 1 != 0 {
                return;
            }
            let p = self.reg(prod) & mask;
            let c = self.reg(cons) & mask;
            if p == c {
                return;
            }
            let slot = c & ((1 << log2) - 1);
            // SAFETY: the driver handed out this buffer with its host
            // address as the "physical" one.
            let w0 = unsafe { std::ptr::read_volatile((addr + slot * 16) as *const u64) };
            let op = (w0 & 0xff) as u8;
            if !ok.contains(&op) {
                let old = self.reg(cons) & !(0x7f << 24);
                self.regs.insert(cons, old | (1 << 24));
                let g = self.reg(gerror) ^ 1;
                self.regs.insert(gerror, g);
                return;
            }
            self.consumed.push(op);
            let next = (c + 1) & mask;
            self.regs.insert(cons, (self.reg(cons) & !mask) | next);
        }
    }
}

#[derive(Clone)]
struct Fake(Rc<RefCell<State>>);

impl Fake {
    fn smmu() -> Fake {
        let mut s = State::default();
        s.regs.insert(0x0, 0x0D40_101A);
        s.regs.insert(0x4, 0x0273_0010);
        s.regs.insert(0xc, 0x404);
        s.regs.insert(0x14, 0x54);
        s.regs.insert(0x1c, 0x1);
        Fake(Rc::new(RefCell::new(s)))
    }
}

impl Mmio for Fake {
    fn read32(&self, offset: usize) -> u32 {
        let s = self.0.borrow();
        let off = if (0x10000..0x20000).contains(&offset) && offset < 0x10100 {
            offset - 0x10000
        } else {
            offset
        };
        s.reg(off) as u32
    }
    fn write32(&self, offset: usize, value: u32) {
        let mut s = self.0.borrow_mut();
        let off = if (0x10000..0x20000).contains(&offset) && offset < 0x10100 {
            offset - 0x10000
        } else {
            offset
        };
        s.regs.insert(off, u64::from(value));
        let ok = KNOWN.to_vec();
        match off {
            0x20 if !s.stuck_cr0 => {
                s.regs.insert(0x24, u64::from(value));
            }
            CMDQ_PROD | GERRORN => s.consume(CMDQ_BASE, CMDQ_PROD, CMDQ_CONS, GERROR, GERRORN, &ok),
            // CMDQV: CONFIG/STATUS, VINTF0 CONFIG/STATUS, VCMDQ CONFIG/STATUS
            0x0 => {
                s.regs.insert(0x8, u64::from(value & 1));
            }
            0x1000 => {
                s.regs.insert(0x1004, u64::from(value & 1));
                // HYP_OWN is wired to 0 for a guest.
                s.regs.insert(0x1000, u64::from(value & 1));
            }
            o if o >= 0x30000 && (o & 0x7f) == 0x8 => {
                s.regs.insert(o + 4, u64::from(value & 1));
            }
            o if o >= 0x30000 && ((o & 0x7f) == 0x4 || (o & 0x7f) == 0x14) => {
                let p0 = o & !0x7f;
                let ok = s.vcmdq_ok.clone();
                s.consume(p0 + 0x10000, p0 + 4, p0, p0 + 0x10, p0 + 0x14, &ok);
            }
            _ => {}
        }
    }
    fn read64(&self, offset: usize) -> u64 {
        self.0.borrow().reg(offset)
    }
    fn write64(&self, offset: usize, value: u64) {
        self.0.borrow_mut().regs.insert(offset, value);
    }
}

/// Memory for 2^log2 entries of `words` words, aligned to its size and
/// leaked (the test inspects it while the driver holds it).
fn aligned(words: usize, log2: u32) -> *mut u64 {
    let n = words << log2;
    let v: &'static mut [u64] = Vec::leak(vec![0u64; n * 2]);
    let addr = v.as_ptr() as usize;
    let bytes = n * 8;
    let off = (bytes - addr % bytes) % bytes / 8;
    v[off..].as_mut_ptr()
}

fn buf(p: *mut u64, words: usize) -> DmaBuf<'static> {
    // SAFETY: `p` comes from `aligned`, which leaked at least `words`
    // words past it; the test only reads it through volatile accesses.
    unsafe { DmaBuf::from_raw(p, words, p as u64) }
}

fn peek(p: *mut u64, i: usize) -> u64 {
    // SAFETY: as in `buf`.
    unsafe { std::ptr::read_volatile(p.add(i)) }
}

#[test]
fn probe_decodes_qemu_7_2_ids() {
    let smmu = Smmu::probe(Fake::smmu()).unwrap();
    let c = smmu.capabilities();
    assert!(c.stage1 && !c.stage2 && c.two_level_strtab && c.asid16 && c.coherent);
    assert_eq!(
        (c.sid_bits, c.ssid_bits, c.cmdq_max_log2, c.eventq_max_log2),
        (16, 0, 19, 19)
    );
    assert_eq!(c.oas_bits, 44);
    assert!(c.gran4k && !c.gran16k && c.gran64k && c.range_inv);
    assert_eq!(c.arch_minor, 1);
}

#[test]
fn enable_invalidates_and_acknowledges() {
    let fake = Fake::smmu();
    let st = aligned(8, 4);
    let cq = aligned(2, 2);
    let eq = aligned(4, 2);
    let mut smmu = Smmu::probe(fake.clone()).unwrap();
    smmu.setup_strtab_linear(buf(st, 8 << 4), 4).unwrap();
    smmu.setup_cmdq(buf(cq, 2 << 2), 2).unwrap();
    smmu.setup_eventq(buf(eq, 4 << 2), 2).unwrap();
    smmu.enable().unwrap();
    assert_eq!(smmu.cr0ack(), 0xd);
    assert_eq!(fake.0.borrow().consumed, vec![0x04, 0x30, 0x46]);
    // Queue set-up is refused while enabled.
    let cq2 = aligned(2, 2);
    assert!(matches!(
        smmu.setup_cmdq(buf(cq2, 8), 2),
        Err(Error::OutOfRange(_))
    ));

    // A 4-entry queue takes 11 commands plus a sync, wrapping three times.
    fake.0.borrow_mut().consumed.clear();
    let cmds: Vec<Command> = (0..11).map(cmd::tlbi_nh_asid).collect();
    smmu.submit_and_sync(&cmds).unwrap();
    assert_eq!(fake.0.borrow().consumed.len(), 12);

    // STE installation issues CFGI_STE + SYNC, and the entry reads back.
    fake.0.borrow_mut().consumed.clear();
    smmu.write_ste(3, &ste::bypass()).unwrap();
    assert_eq!(smmu.read_ste(3).unwrap(), ste::bypass());
    assert_eq!(fake.0.borrow().consumed, vec![0x03, 0x46]);
    // Replacing a valid STE invalidates it first.
    fake.0.borrow_mut().consumed.clear();
    smmu.write_ste(3, &ste::abort()).unwrap();
    assert_eq!(fake.0.borrow().consumed, vec![0x03, 0x46, 0x03, 0x46]);
    assert!(matches!(
        smmu.write_ste(16, &ste::abort()),
        Err(Error::OutOfRange(_))
    ));

    // An unknown opcode stops the queue; recovery skips it.
    let r = smmu.submit_and_sync(&[cmd::raw(0x7f, 0)]);
    assert_eq!(r, Err(Error::Command(CmdError::Ill)));
    assert!(smmu.global_errors().cmdq_err());
    let fault = smmu.recover_command_error().unwrap().unwrap();
    assert_eq!((fault.opcode, fault.error), (0x7f, CmdError::Ill));
    assert!(smmu.global_errors().is_empty());
    smmu.submit_and_sync(&[cmd::cfgi_all()]).unwrap();
    assert_eq!(smmu.recover_command_error().unwrap(), None);

    // Events: the "SMMU" writes two records and moves PROD.
    let evq_addr = eq;
    for i in 0..2u64 {
        // SAFETY: inside the event queue buffer.
        unsafe {
            std::ptr::write_volatile(evq_addr.add(4 * i as usize), 0x10_0000_0004 + (i << 32))
        };
    }
    fake.0.borrow_mut().regs.insert(0xa8, 2);
    let (e, ovf) = smmu.pop_event().unwrap();
    let e = e.unwrap();
    assert!(!ovf);
    assert_eq!((event::id(&e), event::sid(&e)), (4, 0x10));
    assert_eq!(
        event::kind(&e),
        Some(smmu_driver::smmuv3_regs::enums::EventId::C_BAD_STE)
    );
    assert_eq!(event::sid(&smmu.pop_event().unwrap().0.unwrap()), 0x11);
    assert_eq!(smmu.pop_event().unwrap(), (None, false));
    assert_eq!(fake.0.borrow().reg(0xac), 2);
    // Overflow is reported once and acknowledged.
    fake.0.borrow_mut().regs.insert(0xa8, 2 | 1 << 31);
    assert_eq!(smmu.pop_event().unwrap(), (None, true));
    assert_eq!(fake.0.borrow().reg(0xac), 2 | 1 << 31);
    assert_eq!(smmu.pop_event().unwrap(), (None, false));
    // Hostile PROD values stay inside the queue (masked to 3 bits here).
    fake.0.borrow_mut().regs.insert(0xa8, 0xffff_fff3);
    let (e, _) = smmu.pop_event().unwrap();
    assert!(e.is_some());
}

#[test]
fn cr0_without_ack_times_out() {
    let fake = Fake::smmu();
    fake.0.borrow_mut().stuck_cr0 = true;
    fake.0.borrow_mut().regs.insert(0x24, 0);
    let mut smmu = Smmu::probe(fake).unwrap();
    smmu.set_poll_limit(100);
    assert_eq!(
        smmu.write_cr0(CR0::CMDQEN::SET),
        Err(Error::Timeout("CR0ACK"))
    );
}

#[test]
fn misaligned_buffers_are_refused() {
    let mut smmu = Smmu::probe(Fake::smmu()).unwrap();
    let v = aligned(1, 6);
    let at = |phys: u64| {
        // SAFETY: 64 leaked words; the "physical" address is made up and
        // never dereferenced by the fake (these set-ups are refused).
        unsafe { DmaBuf::from_raw(v, 64, phys) }
    };
    assert!(matches!(
        smmu.setup_cmdq(at(0x1008), 2),
        Err(Error::BadBuffer(_))
    ));
    assert!(matches!(
        smmu.setup_cmdq(at(0x1000), 20),
        Err(Error::OutOfRange(_))
    ));
    assert!(matches!(
        smmu.setup_strtab_linear(at(0x1000), 17),
        Err(Error::OutOfRange(_))
    ));
    assert!(matches!(smmu.enable(), Err(Error::NotConfigured(_))));
}

#[test]
fn two_level_stream_table() {
    let fake = Fake::smmu();
    let mut smmu = Smmu::probe(fake.clone()).unwrap();
    let l1 = aligned(1, 10);
    let l2 = aligned(8, 6);
    smmu.setup_strtab_2level(buf(l1, 256), 16, 6).unwrap_err();
    smmu.setup_strtab_2level(buf(l1, 1024), 16, 6).unwrap();
    assert_eq!(fake.0.borrow().reg(0x88), 1 << 16 | 6 << 6 | 16);
    assert!(matches!(
        smmu.write_ste(0x45, &ste::bypass()),
        Err(Error::NotConfigured(_))
    ));
    smmu.install_l2_table(1, buf(l2, 8 << 6)).unwrap();
    smmu.write_ste(0x45, &ste::bypass()).unwrap();
    assert_eq!(smmu.read_ste(0x45).unwrap(), ste::bypass());
    // L1 descriptor 1: SPAN = 7, L2PTR = the level-2 table.
    assert_eq!(peek(l1, 1), l2 as u64 | 7);

    // Up to MAX_L2_TABLES tables; one more new index is refused before
    // its descriptor is written.
    for i in 2..=MAX_L2_TABLES as u32 {
        smmu.install_l2_table(i, buf(aligned(8, 6), 8 << 6))
            .unwrap();
    }
    let extra = MAX_L2_TABLES as u32 + 1;
    assert!(matches!(
        smmu.install_l2_table(extra, buf(aligned(8, 6), 8 << 6)),
        Err(Error::OutOfRange(_))
    ));
    assert_eq!(peek(l1, extra as usize), 0);
    assert!(matches!(
        smmu.read_ste(extra << 6),
        Err(Error::NotConfigured(_))
    ));
    // A known index takes a new table even when all slots are used; its
    // STEs start invalid again.
    let fresh = aligned(8, 6);
    smmu.install_l2_table(1, buf(fresh, 8 << 6)).unwrap();
    assert_eq!(peek(l1, 1), fresh as u64 | 7);
    assert_eq!(smmu.read_ste(0x45).unwrap(), ste::invalid());
}

#[test]
fn pop_events_in_batches() {
    let fake = Fake::smmu();
    let (st, cq, eq) = (aligned(8, 4), aligned(2, 2), aligned(4, 2));
    let mut smmu = Smmu::probe(fake.clone()).unwrap();
    smmu.setup_strtab_linear(buf(st, 8 << 4), 4).unwrap();
    smmu.setup_cmdq(buf(cq, 2 << 2), 2).unwrap();
    smmu.setup_eventq(buf(eq, 4 << 2), 2).unwrap();
    smmu.enable().unwrap();
    // Three C_BAD_STE records for StreamIDs 0x20..0x22 in a 4-slot queue.
    for i in 0..3u64 {
        // SAFETY: inside the event queue buffer.
        unsafe { std::ptr::write_volatile(eq.add(4 * i as usize), 0x20_0000_0004 + (i << 32)) };
    }
    fake.0.borrow_mut().regs.insert(0xa8, 3);
    let sids = |b: &EventBatch<4>| b.iter().map(event::sid).collect::<Vec<_>>();
    // A batch of two takes the two oldest and frees their slots at once.
    let mut two = EventBatch::<2>::new();
    assert!(!smmu.pop_events(&mut two).unwrap());
    assert_eq!(two.iter().map(event::sid).collect::<Vec<_>>(), [0x20, 0x21]);
    assert_eq!(fake.0.borrow().reg(0xac), 2);
    // A full batch takes nothing and leaves CONS alone.
    assert!(!smmu.pop_events(&mut two).unwrap());
    assert_eq!((two.len(), fake.0.borrow().reg(0xac)), (2, 2));
    // The rest, then the wrap: PROD passes the end of the queue (index 1
    // with the wrap bit) and records 3 and 0 come out in order.
    let mut four = EventBatch::<4>::new();
    assert!(!smmu.pop_events(&mut four).unwrap());
    assert_eq!(sids(&four), [0x22]);
    for (slot, sid) in [(3usize, 0x23u64), (0, 0x24)] {
        // SAFETY: inside the event queue buffer.
        unsafe { std::ptr::write_volatile(eq.add(4 * slot), (sid << 32) | 4) };
    }
    fake.0.borrow_mut().regs.insert(0xa8, 1 << 2 | 1);
    four.clear();
    assert!(!smmu.pop_events(&mut four).unwrap());
    assert_eq!(sids(&four), [0x23, 0x24]);
    assert_eq!(fake.0.borrow().reg(0xac), 1 << 2 | 1);
    // An overflow is acknowledged with the records taken.
    four.clear();
    for (slot, sid) in [(1usize, 0x25u64), (2, 0x26)] {
        // SAFETY: inside the event queue buffer.
        unsafe { std::ptr::write_volatile(eq.add(4 * slot), (sid << 32) | 4) };
    }
    fake.0.borrow_mut().regs.insert(0xa8, 1 << 31 | 1 << 2 | 3);
    assert!(smmu.pop_events(&mut four).unwrap());
    assert_eq!(sids(&four), [0x25, 0x26]);
    assert_eq!(fake.0.borrow().reg(0xac), 1 << 31 | 1 << 2 | 3);
    four.clear();
    assert!(!smmu.pop_events(&mut four).unwrap());
    assert!(four.is_empty());
}

#[test]
fn cmdqv_guest_vcmdq() {
    let fake = Fake::smmu();
    {
        let mut s = fake.0.borrow_mut();
        s.regs.clear();
        // version 1, 2 VCMDQs (log2 1), 1 VINTF, 16 SIDs (log2 4)
        s.regs.insert(0x4, 1 | 1 << 4 | 4 << 12);
        s.vcmdq_ok = vec![0x11, 0x12, 0x40, 0x46];
    }
    let mut cmdqv = Cmdqv::probe(fake.clone()).unwrap();
    let p = *cmdqv.params();
    assert_eq!(
        (p.version, p.num_vcmdqs, p.num_vintfs, p.sids_per_vintf),
        (1, 2, 1, 16)
    );
    cmdqv.set_enabled(true).unwrap();
    assert!(cmdqv.alloc_vcmdq(0, 0, 0).unwrap());
    assert_eq!(fake.0.borrow().reg(0x200), 1);
    assert!(cmdqv.alloc_vcmdq(1, 0, 2).is_err());
    assert!(
        !cmdqv.enable_vintf(0, true).unwrap(),
        "guest reads HYP_OWN = 0"
    );
    let q = aligned(2, 3);
    let mut vq = cmdqv.setup_vcmdq(0, 0, buf(q, 16), 3).unwrap();
    assert_eq!(fake.0.borrow().reg(0x40000) & 0x1f, 3);
    let cmds: Vec<Command> = (0..20).map(cmd::tlbi_nh_asid).collect();
    cmdqv.submit_and_sync(&mut vq, &cmds).unwrap();
    assert_eq!(fake.0.borrow().consumed.len(), 21);
    // CFGI_ALL is outside the guest subset: refused, then skipped.
    let r = cmdqv.submit_and_sync(&mut vq, &[cmd::cfgi_all()]);
    assert_eq!(r, Err(Error::Command(CmdError::Ill)));
    let f = cmdqv.recover_vcmdq_error(&mut vq).unwrap().unwrap();
    assert_eq!(f.opcode, 0x04);
    cmdqv
        .submit_and_sync(&mut vq, &[cmd::tlbi_nh_asid(7)])
        .unwrap();
    cmdqv.teardown_vcmdq(vq).unwrap();
}
