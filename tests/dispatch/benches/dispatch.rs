//! ns per trapped 32-bit access on a realistic mix of offsets (SMMUv3 ID
//! registers, CR0/CR0ACK, GERROR/GERRORN, command and event queue PROD/CONS
//! on both pages, and — when the CMDQV map is present — arrayed VCMDQ
//! PROD/CONS), for:
//!
//! (a) the generated dispatcher (`RegFile::read`/`write`);
//! (b) a hand-written `match` with the same semantics for the same registers;
//! (c) a `BTreeMap` range lookup to a per-register handler, as rust-vmm buses
//!     route MMIO (one entry per register element, handlers behind function
//!     pointers), with the same semantics.
//!
//! Ends with one line: `dispatch: generated=<ns> handwritten=<ns> btreemap=<ns>`.

use std::collections::BTreeMap;
use std::hint::black_box;
use std::time::Instant;

use criterion::{Criterion, Throughput};
use dispatch_tests::smmuv3::regfile as smmu;

/// Which device an access goes to (a VMM routes by base address first).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Dev {
    Smmu,
    #[cfg_attr(not(have_cmdqv), allow(dead_code))]
    Cmdqv,
}

/// One trapped 32-bit access.
#[derive(Clone, Copy, Debug)]
struct Acc {
    dev: Dev,
    off: u64,
    write: bool,
    value: u64,
}

/// Errors of the baselines (mirrors the generated `AccessError`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Err {
    Unmapped,
    BadSize,
    Unaligned,
}

fn check(off: u64, size: usize) -> Result<(), Err> {
    if size != 4 && size != 8 {
        return Err(Err::BadSize);
    }
    if off & (size as u64 - 1) != 0 {
        return Err(Err::Unaligned);
    }
    Ok(())
}

// SMMUv3 offsets and masks (from the map) used by the baselines.
const IDR0: u64 = 0x0;
const IDR1: u64 = 0x4;
const IDR5: u64 = 0x14;
const CR0: u64 = 0x20;
const CR0ACK: u64 = 0x24;
const GERROR: u64 = 0x60;
const GERRORN: u64 = 0x64;
const CMDQ_PROD: u64 = 0x98;
const CMDQ_CONS: u64 = 0x9c;
const EVENTQ_PROD_PAGE0: u64 = 0xa8;
const EVENTQ_CONS_PAGE0: u64 = 0xac;
const EVENTQ_PROD: u64 = 0x100a8;
const EVENTQ_CONS: u64 = 0x100ac;
const CR0_RW: u32 = 0x5df;
const CR0ACK_RO: u32 = 0x5df;
const GERROR_BITS: u32 = 0x7fd;
const PROD_RW: u32 = 0xf_ffff;
const CMDQ_CONS_RW: u32 = 0x7f0f_ffff;
const EVQ_RW: u32 = 0x800f_ffff;

/// The registers of the mix, stored like the generated file stores them.
#[derive(Clone, Debug)]
struct Smmu {
    idr0: u32,
    idr1: u32,
    idr5: u32,
    cr0: u32,
    cr0ack: u32,
    gerror: u32,
    gerrorn: u32,
    cmdq_prod: u32,
    cmdq_cons: u32,
    eventq_prod: u32,
    eventq_cons: u32,
}

impl Smmu {
    fn new() -> Self {
        let rf = smmu::RegFile::new();
        Smmu {
            idr0: rf.idr0(),
            idr1: rf.idr1(),
            idr5: rf.idr5(),
            cr0: rf.cr0(),
            cr0ack: rf.cr0ack(),
            gerror: rf.gerror(),
            gerrorn: rf.gerrorn(),
            cmdq_prod: rf.cmdq_prod(),
            cmdq_cons: rf.cmdq_cons(),
            eventq_prod: rf.eventq_prod(),
            eventq_cons: rf.eventq_cons(),
        }
    }

    /// (b) the hand-written match.
    #[inline]
    fn read(&mut self, off: u64, size: usize) -> Result<u64, Err> {
        check(off, size)?;
        if size == 8 {
            return Err(Err::Unmapped);
        }
        let v = match off {
            IDR0 => self.idr0,
            IDR1 => self.idr1,
            IDR5 => self.idr5,
            CR0 => self.cr0 & CR0_RW,
            CR0ACK => self.cr0ack & CR0ACK_RO,
            GERROR => self.gerror & GERROR_BITS,
            GERRORN => self.gerrorn & GERROR_BITS,
            CMDQ_PROD => self.cmdq_prod & PROD_RW,
            CMDQ_CONS => self.cmdq_cons & CMDQ_CONS_RW,
            EVENTQ_PROD | EVENTQ_PROD_PAGE0 => self.eventq_prod & EVQ_RW,
            EVENTQ_CONS | EVENTQ_CONS_PAGE0 => self.eventq_cons & EVQ_RW,
            _ => return Err(Err::Unmapped),
        };
        Ok(u64::from(v))
    }

    #[inline]
    fn write(&mut self, off: u64, size: usize, value: u64) -> Result<(), Err> {
        check(off, size)?;
        if size == 8 {
            return Err(Err::Unmapped);
        }
        let v = value as u32;
        match off {
            IDR0 | IDR1 | IDR5 | CR0ACK | GERROR => {}
            CR0 => self.cr0 = v & CR0_RW,
            GERRORN => self.gerrorn = v & GERROR_BITS,
            CMDQ_PROD => self.cmdq_prod = v & PROD_RW,
            CMDQ_CONS => self.cmdq_cons = v & CMDQ_CONS_RW,
            EVENTQ_PROD | EVENTQ_PROD_PAGE0 => self.eventq_prod = v & EVQ_RW,
            EVENTQ_CONS | EVENTQ_CONS_PAGE0 => self.eventq_cons = v & EVQ_RW,
            _ => return Err(Err::Unmapped),
        }
        Ok(())
    }
}

/// A per-register handler of the BTreeMap bus: (state, element, read?, value).
type Handler = fn(&mut Hand, u32, bool, u64) -> u64;

/// One bus entry: length of the range and its handler.
#[derive(Clone, Copy)]
struct Entry {
    len: u64,
    elem: u32,
    handler: Handler,
}

/// Hand-written state of every device of the mix, for (b) and (c).
#[derive(Clone, Debug)]
struct Hand {
    smmu: Smmu,
    #[cfg(have_cmdqv)]
    cmdqv: cmdqv_hand::Cmdqv,
}

impl Hand {
    fn new() -> Self {
        Hand {
            smmu: Smmu::new(),
            #[cfg(have_cmdqv)]
            cmdqv: cmdqv_hand::Cmdqv::new(),
        }
    }
}

/// Builds a handler that stores `mask` bits of a field of `Smmu`.
macro_rules! smmu_rw {
    ($field:ident, $mask:expr) => {
        (|h: &mut Hand, _e: u32, read: bool, v: u64| {
            if read {
                u64::from(h.smmu.$field & $mask)
            } else {
                h.smmu.$field = (v as u32) & $mask;
                0
            }
        }) as Handler
    };
}

macro_rules! smmu_ro {
    ($field:ident, $mask:expr) => {
        (|h: &mut Hand, _e: u32, read: bool, _v: u64| {
            if read {
                u64::from(h.smmu.$field & $mask)
            } else {
                0
            }
        }) as Handler
    };
}

/// Base of the CMDQV window on the (c) bus.
const CMDQV_BASE: u64 = 0x100_0000;

/// (c) the BTreeMap bus.
struct Bus {
    map: BTreeMap<u64, Entry>,
    hand: Hand,
}

impl Bus {
    fn new() -> Self {
        let mut map = BTreeMap::new();
        let mut add = |off: u64, h: Handler| {
            map.insert(
                off,
                Entry {
                    len: 4,
                    elem: 0,
                    handler: h,
                },
            );
        };
        add(IDR0, smmu_ro!(idr0, u32::MAX));
        add(IDR1, smmu_ro!(idr1, u32::MAX));
        add(IDR5, smmu_ro!(idr5, u32::MAX));
        add(CR0, smmu_rw!(cr0, CR0_RW));
        add(CR0ACK, smmu_ro!(cr0ack, CR0ACK_RO));
        add(GERROR, smmu_ro!(gerror, GERROR_BITS));
        add(GERRORN, smmu_rw!(gerrorn, GERROR_BITS));
        add(CMDQ_PROD, smmu_rw!(cmdq_prod, PROD_RW));
        add(CMDQ_CONS, smmu_rw!(cmdq_cons, CMDQ_CONS_RW));
        add(EVENTQ_PROD, smmu_rw!(eventq_prod, EVQ_RW));
        add(EVENTQ_PROD_PAGE0, smmu_rw!(eventq_prod, EVQ_RW));
        add(EVENTQ_CONS, smmu_rw!(eventq_cons, EVQ_RW));
        add(EVENTQ_CONS_PAGE0, smmu_rw!(eventq_cons, EVQ_RW));
        #[cfg(have_cmdqv)]
        cmdqv_hand::bus_entries(&mut map);
        Bus {
            map,
            hand: Hand::new(),
        }
    }

    #[inline]
    fn access(&mut self, addr: u64, size: usize, read: bool, value: u64) -> Result<u64, Err> {
        check(addr, size)?;
        let (&base, e) = self.map.range(..=addr).next_back().ok_or(Err::Unmapped)?;
        if addr - base >= e.len || size as u64 > e.len {
            return Err(Err::Unmapped);
        }
        Ok((e.handler)(&mut self.hand, e.elem, read, value))
    }
}

#[cfg(have_cmdqv)]
mod cmdqv_hand {
    include!("dispatch_cmdqv.rs");
}

/// The generated side: one register file per device.
struct Generated {
    smmu: smmu::RegFile,
    #[cfg(have_cmdqv)]
    cmdqv: dispatch_tests::cmdqv::regfile::RegFile,
}

/// Deterministic mix of accesses, weighted like a guest driver's hot path:
/// queue kicks and polls dominate, control and ID registers are rarer.
fn mix() -> Vec<Acc> {
    let mut seed: u64 = 0x2545_f491_4f6c_dd1d;
    let mut next = move || {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        seed
    };
    let smmu = |off, write, value| Acc {
        dev: Dev::Smmu,
        off,
        write,
        value,
    };
    let mut out = Vec::with_capacity(1024);
    while out.len() < 1024 {
        let r = next();
        let value = next() & 0xffff_ffff;
        let a = match r % 100 {
            0..=3 => smmu([IDR0, IDR1, IDR5][(r >> 8) as usize % 3], false, 0),
            4..=6 => smmu(CR0, true, value),
            7..=11 => smmu(CR0ACK, false, 0),
            12..=14 => smmu(GERROR, false, 0),
            15..=16 => smmu(GERRORN, true, value),
            17..=36 => smmu(CMDQ_PROD, true, value),
            37..=56 => smmu(CMDQ_CONS, false, 0),
            57..=61 => smmu(EVENTQ_PROD, false, 0),
            62..=66 => smmu(EVENTQ_CONS, true, value),
            67..=69 => smmu(EVENTQ_PROD_PAGE0, false, 0),
            #[cfg(have_cmdqv)]
            _ => cmdqv_hand::mix_access(r, value),
            #[cfg(not(have_cmdqv))]
            _ => smmu(
                [CMDQ_PROD, CMDQ_CONS][(r >> 8) as usize % 2],
                r & 1 == 0,
                value,
            ),
        };
        out.push(a);
    }
    out
}

#[inline(never)]
fn run_generated(g: &mut Generated, mix: &[Acc]) -> u64 {
    let mut acc = 0u64;
    for a in mix {
        let off = black_box(a.off);
        let r = match a.dev {
            Dev::Smmu => {
                if a.write {
                    g.smmu.write(off, 4, a.value).map(|_| 0)
                } else {
                    g.smmu.read(off, 4)
                }
            }
            #[cfg(have_cmdqv)]
            Dev::Cmdqv => {
                if a.write {
                    g.cmdqv.write(off, 4, a.value).map(|_| 0)
                } else {
                    g.cmdqv.read(off, 4)
                }
            }
            #[cfg(not(have_cmdqv))]
            Dev::Cmdqv => Ok(0),
        };
        acc = acc.wrapping_add(r.unwrap_or(0));
    }
    acc
}

#[inline(never)]
fn run_handwritten(h: &mut Hand, mix: &[Acc]) -> u64 {
    let mut acc = 0u64;
    for a in mix {
        let off = black_box(a.off);
        let r = match a.dev {
            Dev::Smmu => {
                if a.write {
                    h.smmu.write(off, 4, a.value).map(|_| 0)
                } else {
                    h.smmu.read(off, 4)
                }
            }
            #[cfg(have_cmdqv)]
            Dev::Cmdqv => {
                if a.write {
                    h.cmdqv.write(off, 4, a.value).map(|_| 0)
                } else {
                    h.cmdqv.read(off, 4)
                }
            }
            #[cfg(not(have_cmdqv))]
            Dev::Cmdqv => Ok(0),
        };
        acc = acc.wrapping_add(r.unwrap_or(0));
    }
    acc
}

#[inline(never)]
fn run_btreemap(b: &mut Bus, mix: &[Acc]) -> u64 {
    let mut acc = 0u64;
    for a in mix {
        let addr = black_box(match a.dev {
            Dev::Smmu => a.off,
            Dev::Cmdqv => CMDQV_BASE + a.off,
        });
        acc = acc.wrapping_add(b.access(addr, 4, !a.write, a.value).unwrap_or(0));
    }
    acc
}

fn generated() -> Generated {
    Generated {
        smmu: smmu::RegFile::new(),
        #[cfg(have_cmdqv)]
        cmdqv: dispatch_tests::cmdqv::regfile::RegFile::new(),
    }
}

/// The three implementations must agree on every access of the mix (same
/// semantics), or the comparison would be meaningless.
fn cross_check(mix: &[Acc]) {
    let mut g = generated();
    let mut h = Hand::new();
    let mut b = Bus::new();
    for (i, a) in mix.iter().enumerate() {
        let x = run_generated(&mut g, std::slice::from_ref(a));
        let y = run_handwritten(&mut h, std::slice::from_ref(a));
        let z = run_btreemap(&mut b, std::slice::from_ref(a));
        assert!(
            x == y && y == z,
            "access {i} {a:?}: generated {x:#x} handwritten {y:#x} btreemap {z:#x}"
        );
    }
}

/// ns per access of each implementation: timed batches interleaved (a, b,
/// c, a, b, c, ...) so that load from other processes hits all three alike;
/// the median batch of each.
fn ns_per_access(fs: &mut [&mut dyn FnMut() -> u64], accesses: usize) -> Vec<f64> {
    const ROUNDS: usize = 100;
    const BATCHES: usize = 61;
    for f in fs.iter_mut() {
        for _ in 0..ROUNDS {
            black_box(f());
        }
    }
    let mut samples = vec![Vec::with_capacity(BATCHES); fs.len()];
    for _ in 0..BATCHES {
        for (f, s) in fs.iter_mut().zip(samples.iter_mut()) {
            let t = Instant::now();
            for _ in 0..ROUNDS {
                black_box(f());
            }
            s.push(t.elapsed().as_nanos() as f64 / (ROUNDS * accesses) as f64);
        }
    }
    samples
        .into_iter()
        .map(|mut s| {
            s.sort_by(|a, b| a.total_cmp(b));
            s[s.len() / 2]
        })
        .collect()
}

fn main() {
    let mix = mix();
    cross_check(&mix);
    let mut c = Criterion::default().configure_from_args();
    {
        let mut group = c.benchmark_group("dispatch");
        group.throughput(Throughput::Elements(mix.len() as u64));
        let mut g = generated();
        group.bench_function("generated", |b| b.iter(|| run_generated(&mut g, &mix)));
        let mut h = Hand::new();
        group.bench_function("handwritten", |b| b.iter(|| run_handwritten(&mut h, &mix)));
        let mut bus = Bus::new();
        group.bench_function("btreemap", |b| b.iter(|| run_btreemap(&mut bus, &mix)));
        group.finish();
    }
    c.final_summary();

    let mut g = generated();
    let mut h = Hand::new();
    let mut bus = Bus::new();
    let ns = ns_per_access(
        &mut [
            &mut || run_generated(&mut g, &mix),
            &mut || run_handwritten(&mut h, &mix),
            &mut || run_btreemap(&mut bus, &mix),
        ],
        mix.len(),
    );
    let (a, b, cc) = (ns[0], ns[1], ns[2]);
    println!("dispatch: generated={a:.2} handwritten={b:.2} btreemap={cc:.2}");
}
