//! The CMDQV window with other counts of logical VCMDQs than QEMU's two:
//! PARAM, CMDQ_ALLOC_MAP, the VCMDQ pages, VINTF 0's logical pages and the
//! error maps follow the count (1, 4, 8 and the map's 128), and the queues
//! run through the installed page.

use super::*;

/// Queue `l`'s memory: 4 KiB apart, clear of the rig's other structures.
fn qmem(l: usize) -> u64 {
    RAM + 0x40_0000 + 0x1000 * l as u64
}

/// Offset of register `reg` (an offset of `VINTF_PAGE0::LVCMDQ`) of queue `l`.
fn lvreg(l: usize, reg: usize) -> u64 {
    lv(l, reg)
}

impl Rig {
    /// The guest brings up `n` queues, global VCMDQ `l` as logical `l`
    /// (Linux's assignment for VINTF 0), the VINTF enabled last.
    fn bring_up_n(&mut self, n: usize) {
        self.cmdqv_en(true);
        for l in 0..n {
            self.alloc(l, l, true);
            self.base(l, qmem(l));
        }
        self.vintf_en(true);
        for l in 0..n {
            assert!(self.allocated(l), "LVCMDQ{l} of {n}");
            self.bus
                .write32(lvreg(l, cq::VINTF_PAGE0::LVCMDQ::CONFIG::OFFSET), 1);
        }
    }
    /// Commands into queue `l` (of [`qmem`]) and PROD published; CONS after.
    fn submit_n(&mut self, l: usize, prod: &mut u32, cmds: &[[u64; 2]]) -> u32 {
        for c in cmds {
            let slot = u64::from(*prod & ((1 << LOG2) - 1));
            assert!(self.ram.write_u64(qmem(l) + slot * 16, c[0]));
            assert!(self.ram.write_u64(qmem(l) + slot * 16 + 8, c[1]));
            *prod = (*prod + 1) & ((2 << LOG2) - 1);
        }
        self.bus
            .write32(lvreg(l, cq::VINTF_PAGE0::LVCMDQ::PROD::OFFSET), *prod);
        self.bus
            .read32(lvreg(l, cq::VINTF_PAGE0::LVCMDQ::CONS::OFFSET))
    }
}

#[test]
fn param_alloc_map_and_pages_follow_the_lvcmdq_count() {
    for n in [1usize, 4, 8, 128] {
        let mut r = rig_n(n);
        r.plug_all();
        let param = r.bus.read32(CMDQV + cq::PARAM::OFFSET as u64);
        assert_eq!(1 << cq::PARAM::NUM_VCMDQ_LOG2.read(param), n, "n={n}");
        assert_eq!(cq::PARAM::NUM_VINTF_LOG2.read(param), 0);
        // Past the count: CMDQ_ALLOC_MAP, a VCMDQ's page 0 and page 1, and a
        // logical VCMDQ of VINTF 0 are not the model's.
        if n < cq::CMDQ_ALLOC_MAP::COUNT {
            let before = r.bus.device().cmdqv_stats().unwrap().ignored;
            let map = CMDQV + (cq::CMDQ_ALLOC_MAP::OFFSET + 4 * n) as u64;
            r.bus.write32(map, 1);
            assert_eq!(r.bus.read32(map), 0, "n={n}");
            r.bus
                .write64(q(n, cq::VCMDQ_PAGE1::BASE::OFFSET), qmem(0) | 8);
            assert_eq!(r.bus.read64(q(n, cq::VCMDQ_PAGE1::BASE::OFFSET)), 0);
            assert_eq!(r.bus.read32(q(n, cq::VCMDQ::CONFIG::OFFSET)), 0);
            let ignored = r.bus.device().cmdqv_stats().unwrap().ignored - before;
            assert_eq!(ignored, 5, "n={n}");
        }
        r.bring_up_n(n);
        assert_eq!(r.regions.installed(), vec![(VINTF_GPA, 0x1_0000)]);
        let snap = r.sim.vintf(r.viommu()).unwrap();
        assert!(snap.queues[..n].iter().all(|q| q.is_some()), "n={n}");
        // Every queue runs its own commands through the installed page.
        let direct = r.bus.stats().direct;
        for l in 0..n {
            let mut prod = 0;
            let cmds = [[0x11 | ((l as u64) << 48), 0], [0x46, 0]];
            assert_eq!(r.submit_n(l, &mut prod, &cmds), 2, "LVCMDQ{l} of {n}");
        }
        assert_eq!(r.bus.stats().direct - direct, 2 * n as u64, "no trap");
        let per_queue: Vec<usize> = (0..n)
            .map(|l| {
                r.sim
                    .hw_invalidations()
                    .iter()
                    .filter(|h| h.lidx as usize == l)
                    .count()
            })
            .collect();
        assert!(per_queue.iter().all(|c| *c == 2), "n={n}: {per_queue:?}");
        r.finish();
    }
}

#[test]
fn errors_of_high_queues_reach_every_word_of_the_error_maps() {
    let n = 128;
    let mut r = rig_n(n);
    r.plug_all();
    r.bring_up_n(n);
    let irqs = r.cmdqv_irq.edges();
    // An illegal command (CFGI_STE) on logical queues 5, 70 and 100.
    for l in [5usize, 70, 100] {
        let mut prod = 0;
        let cons = r.submit_n(l, &mut prod, &[[0x03, 0], [0x46, 0]]);
        assert_eq!(cq::VCMDQ::CONS::ERR.read(cons), 1, "LVCMDQ{l} stopped");
    }
    assert_eq!(r.cmdqv_irq.edges() - irqs, 3);
    let rd = |r: &mut Rig, off: usize| r.bus.read32(CMDQV + off as u64);
    // CMDQ_ERR_MAP: global VCMDQ q at word q / 32, bit q % 32.
    let qmaps: Vec<u32> = (0..4)
        .map(|m| rd(&mut r, cq::CMDQ_ERR_MAP::OFFSET + 4 * m))
        .collect();
    assert_eq!(qmaps, vec![1 << 5, 0, 1 << 6, 1 << 4]);
    // LVCMDQ_ERR_MAP: two doublewords, read as the ISR does.
    let lv0 = r
        .bus
        .read64(CMDQV + cq::VINTF::LVCMDQ_ERR_MAP::OFFSET as u64);
    let lv1 = r
        .bus
        .read64(CMDQV + cq::VINTF::LVCMDQ_ERR_MAP::OFFSET as u64 + 8);
    assert_eq!((lv0, lv1), (1 << 5, (1 << 6) | (1 << 36)));
    assert_eq!(rd(&mut r, cq::VINTF_ERR_MAP::OFFSET), 1);
    // Acknowledged one by one, the maps empty; the queues go on.
    for l in [5usize, 70, 100] {
        let ge = r
            .bus
            .read32(lvreg(l, cq::VINTF_PAGE0::LVCMDQ::GERROR::OFFSET));
        // The guest replaces the bad command with a CMD_SYNC first.
        assert!(r.ram.write_u64(qmem(l), 0x46));
        r.bus
            .write32(lvreg(l, cq::VINTF_PAGE0::LVCMDQ::GERRORN::OFFSET), ge);
        let cons = r
            .bus
            .read32(lvreg(l, cq::VINTF_PAGE0::LVCMDQ::CONS::OFFSET));
        assert_eq!(cons, 2, "LVCMDQ{l} resumed");
    }
    let qmaps: Vec<u32> = (0..4)
        .map(|m| rd(&mut r, cq::CMDQ_ERR_MAP::OFFSET + 4 * m))
        .collect();
    assert_eq!(qmaps, vec![0; 4]);
    assert_eq!(
        r.bus
            .read64(CMDQV + cq::VINTF::LVCMDQ_ERR_MAP::OFFSET as u64 + 8),
        0
    );
    assert_eq!(rd(&mut r, cq::VINTF_ERR_MAP::OFFSET), 0);
    r.finish();
}

#[test]
fn a_guest_unmapping_a_middle_queue_frees_the_ones_above_it_first() {
    let n = 8;
    let mut r = rig_n(n);
    r.plug_all();
    r.bring_up_n(n);
    let _ = r.bus.device_mut().take_transitions();
    // CMDQ_ALLOC_MAP[3].ALLOC cleared: LVCMDQs 7 down to 3 lose their HW
    // queues (their registers kept), 0..3 keep theirs.
    r.alloc(3, 3, false);
    let t = r.bus.device_mut().take_transitions();
    let freed: Vec<usize> = t
        .iter()
        .filter_map(|t| match t {
            Transition::QueueFreed { lidx } => Some(*lidx),
            _ => None,
        })
        .collect();
    assert_eq!(freed, vec![7, 6, 5, 4, 3]);
    assert!((0..3).all(|l| r.allocated(l)) && (3..n).all(|l| !r.allocated(l)));
    // Mapped again: they come back in order and run from where they were.
    r.alloc(3, 3, true);
    assert!((0..n).all(|l| r.allocated(l)));
    for l in 3..n {
        let cfg = r
            .bus
            .read32(lvreg(l, cq::VINTF_PAGE0::LVCMDQ::CONFIG::OFFSET));
        assert_eq!(cfg, 1, "LVCMDQ{l} CONFIG kept");
        let mut prod = 0;
        assert_eq!(r.submit_n(l, &mut prod, &[[0x46, 0]]), 1);
    }
    r.finish();
}
