//! Hooks, index-mapped and static alias blocks, typed accessors and byte
//! helpers of a generated register file (the dispatcher-coverage map).

use dispatch_tests::features::regfile::{AccessError, Hooks, NoHooks, Read, Reg, RegFile, Write};
use dispatch_tests::features::{CTRL, EVT};

/// Records hook calls; maps logical queue `(vm, lq)` to `vm * 4 + lq`
/// when `map` is set (and to an out-of-range queue when `bad` is set).
#[derive(Default)]
struct Dev {
    writes: Vec<(Reg, Vec<u32>, u64, u64)>,
    reads: Vec<(Reg, Vec<u32>)>,
    map_calls: Vec<Vec<u32>>,
    map: bool,
    bad: bool,
    status_count: u32,
}

impl Hooks for Dev {
    fn ctrl_write(&mut self, regs: &mut RegFile, w: Write<'_, CTRL::Value>) {
        let (old, new) = (u64::from(w.old.get()), u64::from(w.new.get()));
        self.writes.push((w.reg, w.idx.to_vec(), old, new));
        // The device acknowledges EN into STATUS.BUSY.
        regs.update_status(1, w.new.read(CTRL::EN));
    }
    fn status_read(&mut self, regs: &mut RegFile, r: Read<'_>) {
        self.reads.push((r.reg, r.idx.to_vec()));
        regs.update_status(0xff00, self.status_count << 8);
    }
    fn q_map(&mut self, _regs: &RegFile, idx: &[u32]) -> Option<[u32; 1]> {
        self.map_calls.push(idx.to_vec());
        if self.bad {
            return Some([8]);
        }
        match idx {
            [vm, lq] if self.map => Some([vm * 4 + lq]),
            _ => None,
        }
    }
    fn both_on_write(&mut self, _regs: &mut RegFile, w: Write<'_, EVT::Value>) {
        let (old, new) = (w.old.get(), w.new.get());
        self.writes.push((w.reg, w.idx.to_vec(), old, new));
    }
    fn both_on_read(&mut self, _regs: &mut RegFile, r: Read<'_>) {
        self.reads.push((r.reg, r.idx.to_vec()));
    }
}

const CTRL: u64 = 0x0;
const STATUS: u64 = 0x4;
const IRQ: u64 = 0x8;
const EVT: u64 = 0x10;
const Q: u64 = 0x1000;
const VM: u64 = 0x1_0000;
const QMIRROR: u64 = 0x1_8000;

#[test]
fn write_hook_sees_old_new_and_self_clearing_bit() {
    let mut rf = RegFile::new();
    let mut dev = Dev::default();
    rf.write_with(&mut dev, CTRL, 4, 0xffff_ffff).unwrap();
    // EN rw, GO sc (seen, then cleared), KEY wo, res0/raz_wi dropped, ONE res1.
    assert_eq!(
        dev.writes,
        vec![(Reg::CTRL, vec![], 0x8000_0000, 0x8000_ff03)]
    );
    assert_eq!(rf.ctrl(), 0x8000_ff01, "GO cleared after the hook");
    assert_eq!(
        rf.read(CTRL, 4),
        Ok(0x8000_0001),
        "KEY reads zero, ONE reads one"
    );
    assert_eq!(
        rf.status() & 1,
        1,
        "the hook's device-side update is visible"
    );
}

#[test]
fn read_hook_computes_the_value_first() {
    let mut rf = RegFile::new();
    let mut dev = Dev {
        status_count: 0x2a,
        ..Dev::default()
    };
    assert_eq!(rf.read_with(&mut dev, STATUS, 4), Ok(0x2a00));
    assert_eq!(dev.reads, vec![(Reg::STATUS, vec![])]);
    assert_eq!(rf.read(STATUS, 4), Ok(0x2a00), "stored by the hook");
}

#[test]
fn hook_used_for_reads_and_writes_gets_two_methods() {
    let mut rf = RegFile::new();
    let mut dev = Dev::default();
    rf.write_with(&mut dev, EVT + 4, 4, 0xff).unwrap();
    assert_eq!(
        dev.writes,
        vec![(Reg::EVT, vec![], 0, 0)],
        "rc bits are not writable"
    );
    rf.set_evt(0x0000_ff0f_0000_0f05);
    assert_eq!(rf.read_with(&mut dev, EVT + 4, 4), Ok(0xff0f));
    assert_eq!(dev.reads, vec![(Reg::EVT, vec![])]);
    // Reading the high half cleared only the high rc bits.
    assert_eq!(rf.evt(), 0x0000_ff00_0000_0f05);
    assert_eq!(rf.read(EVT, 8), Ok(0x0000_ff00_0000_0f05));
    assert_eq!(rf.evt(), 0x0000_ff00_0000_0f00);
    // w1c in the high half through a 32-bit write.
    rf.write(EVT + 4, 4, 0x0f00).unwrap();
    assert_eq!(rf.evt(), 0x0000_f000_0000_0f00);
}

#[test]
fn w1c_and_w1s() {
    let mut rf = RegFile::new();
    rf.set_irq(0xf);
    rf.write(IRQ, 4, 0x5).unwrap();
    assert_eq!(rf.read(IRQ, 4), Ok(0xa));
    rf.write(IRQ, 4, 0x30).unwrap();
    assert_eq!(rf.read(IRQ, 4), Ok(0x3a));
    rf.write(IRQ, 4, 0).unwrap();
    assert_eq!(rf.read(IRQ, 4), Ok(0x3a));
}

#[test]
fn index_mapped_alias_block() {
    let mut rf = RegFile::new();
    // Default hooks: unmapped.
    let prod = |vm: u64, lq: u64| VM + vm * 0x1000 + lq * 0x40 + 0x10;
    assert_eq!(rf.read(prod(1, 2), 4), Err(AccessError::AliasUnmapped));
    assert_eq!(rf.write(prod(1, 2), 4, 1), Err(AccessError::AliasUnmapped));
    let mut dev = Dev {
        map: true,
        ..Dev::default()
    };
    rf.write_with(&mut dev, prod(1, 2), 4, 0x1234).unwrap();
    assert_eq!(dev.map_calls, vec![vec![1, 2]]);
    assert_eq!(rf.q_prod(6), Some(0x1234), "VM[1].LQ[2] maps to Q[6]");
    assert_eq!(rf.read(Q + 6 * 0x40 + 0x10, 4), Ok(0x1234));
    assert_eq!(rf.read_with(&mut dev, prod(1, 2), 4), Ok(0x1234));
    // Nested arrays under the alias: VM[1].LQ[1].SUB[1].CFG[1] -> Q[5].SUB[1].CFG[1].
    let cfg = VM + 0x1000 + 0x40 + 0x20 + 0x10 + 4;
    rf.write_with(&mut dev, cfg, 4, 0x1ff).unwrap();
    assert_eq!(rf.q_sub_cfg(5, 1, 1), Some(0xff));
    assert_eq!(rf.get(Reg::Q_SUB_CFG, &[5, 1, 1]), Ok(0xff));
    // A hook returning an out-of-range element is an error, not a panic.
    dev.bad = true;
    assert_eq!(
        rf.read_with(&mut dev, prod(0, 0), 4),
        Err(AccessError::BadIndex)
    );
    assert_eq!(
        rf.write_with(&mut dev, cfg, 4, 1),
        Err(AccessError::BadIndex)
    );
}

#[test]
fn static_alias_block_mirrors_element_for_element() {
    let mut rf = RegFile::new();
    rf.write(QMIRROR + 3 * 0x40 + 0x10, 4, 0xabcde).unwrap();
    assert_eq!(rf.q_prod(3), Some(0xabcde));
    rf.set_q_cons(7, 0x7f00_0005).unwrap();
    assert_eq!(rf.read(QMIRROR + 7 * 0x40 + 0x14, 4), Ok(0x7f00_0005));
    // 64-bit BASE through the mirror, as two halves.
    rf.write(QMIRROR + 0x40, 4, 0xffff_ffff).unwrap();
    rf.write(QMIRROR + 0x44, 4, 0xffff_ffff).unwrap();
    assert_eq!(rf.q_base(1), Some(0x0000_ffff_ffff_ffff));
}

#[test]
fn interleaved_register_in_block_gap() {
    let mut rf = RegFile::new();
    rf.write(0x1008, 4, 0xdead_beef).unwrap();
    assert_eq!(rf.gap(), 0xdead_beef);
    assert_eq!(
        rf.q_base(0),
        Some(5),
        "the block element around it is untouched"
    );
    assert_eq!(rf.read(0x100c, 4), Err(AccessError::Unmapped));
    assert_eq!(
        rf.read(0x1048, 4),
        Err(AccessError::Unmapped),
        "the gap of element 1 is empty"
    );
}

#[test]
fn typed_accessors_check_indices() {
    let mut rf = RegFile::new();
    assert_eq!(rf.q_prod(8), None);
    assert_eq!(rf.set_q_prod(8, 1), Err(AccessError::BadIndex));
    assert_eq!(rf.update_q_prod(u32::MAX, 0, 1), Err(AccessError::BadIndex));
    assert_eq!(rf.q_sub_cfg(0, 2, 0), None);
    assert_eq!(rf.get(Reg::Q_PROD, &[]), Err(AccessError::BadIndex));
    assert_eq!(rf.get(Reg::CTRL, &[0]), Err(AccessError::BadIndex));
    assert_eq!(
        rf.set(Reg::Q_SUB_CFG, &[1, 1, 2], 0),
        Err(AccessError::BadIndex)
    );
    rf.update_q_prod(2, 0, 0x30).unwrap();
    rf.update_q_prod(2, 0x10, 0x1).unwrap();
    assert_eq!(rf.q_prod(2), Some(0x21));
    rf.reset();
    assert_eq!(rf, RegFile::new());
    assert_eq!(rf.q_base(7), Some(5), "reset value of LOG2");
}

#[test]
fn byte_helpers_are_little_endian() {
    let mut rf = RegFile::new();
    rf.write_bytes(&mut NoHooks, Q, &[0xe0, 0xff, 0, 0, 1, 0, 0, 0])
        .unwrap();
    assert_eq!(rf.q_base(0), Some(0x1_0000_ffe0));
    let mut buf = [0u8; 4];
    rf.read_bytes(&mut NoHooks, Q + 4, &mut buf).unwrap();
    assert_eq!(buf, [1, 0, 0, 0]);
    assert_eq!(
        rf.read_bytes(&mut NoHooks, Q, &mut [0u8; 3]),
        Err(AccessError::BadSize)
    );
}

#[test]
fn hooks_work_as_trait_objects() {
    let mut rf = RegFile::new();
    let mut dev = Dev::default();
    let dynh: &mut dyn Hooks = &mut dev;
    rf.write_with(dynh, CTRL, 4, 1).unwrap();
    assert_eq!(dev.writes.len(), 1);
}
