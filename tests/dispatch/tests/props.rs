//! Property tests: random sequences of trapped accesses (valid offsets,
//! neighbours, random offsets and sizes) never panic, agree with the
//! reference model access by access, and keep the invariants: `ro` bits
//! constant, `res0`/`raz_wi`/unmapped bits read zero, `w1c` bits only clear,
//! 64-bit halves compose.

use dispatch_tests::model::{kind, unflatten, Model};
use proptest::prelude::*;

#[derive(Clone, Debug)]
enum Op {
    Read {
        off: u64,
        size: usize,
    },
    Write {
        off: u64,
        size: usize,
        value: u64,
    },
    /// Device-side store into the storage element that a guest access at
    /// `off` reaches, or storage element `pick` (modulo the number of
    /// elements) when `off` reaches none, so that device-set bits (`ro`,
    /// `rc`, `w1c`) get exercised.
    Set {
        off: u64,
        pick: usize,
        value: u64,
    },
}

/// Random sequences of operations. Each sequence focuses on one to three
/// register elements (most operations go to them or their neighbours), so
/// that device-side stores, writes and reads of the same register meet
/// within a sequence even in maps with thousands of elements.
fn ops(offsets: Vec<u64>) -> impl Strategy<Value = Vec<Op>> {
    let all = offsets.clone();
    let n = offsets.len();
    prop::sample::subsequence(offsets, 1..=3.min(n)).prop_flat_map(move |focus| {
        let all = all.clone();
        let f = focus.len();
        let off = prop_oneof![
            6 => (0..f, prop_oneof![Just(0u64), Just(4u64), 0u64..8]).prop_map(move |(i, d)| focus[i] + d),
            2 => (0..n, prop_oneof![Just(0u64), Just(4u64), 0u64..8]).prop_map(move |(i, d)| all[i] + d),
            1 => any::<u64>(),
            1 => 0u64..0x4_0000,
        ];
        let size = prop_oneof![6 => Just(4usize), 3 => Just(8usize), 1 => 0usize..17];
        let op = (0u8..9, off, size, any::<u64>(), any::<usize>()).prop_map(
            |(r, off, size, value, pick)| match r {
                0..=3 => Op::Read { off, size },
                4..=6 => Op::Write { off, size, value },
                _ => Op::Set { off, pick, value },
            },
        );
        prop::collection::vec(op, 1..64)
    })
}

macro_rules! props {
    ($name:ident, $table:expr, $rf:path) => {
        mod $name {
            use super::*;
            use std::sync::OnceLock;
            use $rf as rf;

            /// The model at reset, built once (its layout is shared by clones).
            fn base() -> &'static Model {
                static BASE: OnceLock<Model> = OnceLock::new();
                BASE.get_or_init(|| dispatch_tests::model_of!($table, $rf))
            }

            /// Every storage element as (storage, flat element).
            fn cells() -> &'static [(usize, usize)] {
                static CELLS: OnceLock<Vec<(usize, usize)>> = OnceLock::new();
                CELLS.get_or_init(|| base().cells())
            }

            /// The register file's storage element `(s, flat)` equals the model's.
            fn cell_matches(rf: &rf::RegFile, m: &Model, s: usize, flat: usize) -> Result<(), TestCaseError> {
                let desc = m.owner(s);
                let idx = unflatten(flat, desc.dims);
                let got = rf.get(rf::Reg::ALL[s], &idx).map_err(|e| TestCaseError::fail(format!("{e:?}")))?;
                prop_assert_eq!(got, m.store[s][flat], "storage of {}{:?}", desc.path, idx);
                Ok(())
            }

            proptest! {
                #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]
                #[test]
                fn agrees_with_model_and_keeps_invariants(seq in ops(base().offsets())) {
                    let mut m = base().clone();
                    let mut regs = rf::RegFile::new();
                    for op in &seq {
                        match *op {
                            Op::Read { off, size } => {
                                let got = regs.read(off, size).map_err(|e| format!("{e:?}"));
                                let want = m.read(off, size).map_err(|e| format!("{e:?}"));
                                prop_assert_eq!(&got, &want, "read {:#x}/{}", off, size);
                                if let (Ok(v), Some((base, d, _))) = (got, m.below(off)) {
                                    let desc = m.descs[d];
                                    let shift = if size == 4 && off - base == 4 { 32 } else { 0 };
                                    let zero = desc.masks[kind::RES0] | desc.masks[kind::RAZ_WI] | desc.masks[kind::WO] | desc.masks[kind::SC]
                                        | !desc.masks.iter().fold(0, |a, b| a | b);
                                    prop_assert_eq!(v & (zero >> shift) & if size == 4 { 0xffff_ffff } else { u64::MAX }, 0, "zero bits of {}", desc.path);
                                    let ones = (desc.masks[kind::RES1] >> shift) & if size == 4 { 0xffff_ffff } else { u64::MAX };
                                    prop_assert_eq!(v & ones, ones, "res1 bits of {}", desc.path);
                                    // rc bits cleared by the read, in both.
                                    if let Some((s, flat, _)) = m.element(off) {
                                        cell_matches(&regs, &m, s, flat)?;
                                    }
                                }
                            }
                            Op::Set { off, pick, value } => {
                                let (s, flat) = match m.element(off) {
                                    Some((s, flat, _)) => (s, flat),
                                    None => cells()[pick % cells().len()],
                                };
                                let desc = m.owner(s);
                                let idx = unflatten(flat, desc.dims);
                                regs.set(rf::Reg::ALL[s], &idx, value).unwrap();
                                m.store[s][flat] = if desc.bits == 64 { value } else { value & 0xffff_ffff };
                                cell_matches(&regs, &m, s, flat)?;
                            }
                            Op::Write { off, size, value } => {
                                let target = m.element(off);
                                let old = target.map(|(s, flat, _)| m.store[s][flat]);
                                let got = regs.write(off, size, value).map_err(|e| format!("{e:?}"));
                                let want = m.write(off, size, value).map_err(|e| format!("{e:?}"));
                                prop_assert_eq!(&got, &want, "write {:#x}/{} = {:#x}", off, size, value);
                                if let (Ok(()), Some((s, flat, d)), Some(old)) = (want, target, old) {
                                    let desc = m.descs[d];
                                    let new = m.store[s][flat];
                                    let keep = desc.masks[kind::RO] | desc.masks[kind::RC];
                                    prop_assert_eq!(old & keep, new & keep, "ro bits of {} changed", desc.path);
                                    let w1c = desc.masks[kind::W1C];
                                    prop_assert_eq!(new & w1c & !old, 0, "w1c bits of {} set by a write", desc.path);
                                    cell_matches(&regs, &m, s, flat)?;
                                }
                            }
                        }
                    }
                    // The whole storage agrees at the end (catches a write
                    // that reached the wrong element).
                    for &(s, flat) in cells() {
                        cell_matches(&regs, &m, s, flat)?;
                    }
                    // 64-bit halves compose on every 64-bit register without rc bits.
                    for d in m.descs.iter().filter(|d| d.bits == 64 && d.masks[kind::RC] == 0 && !d.index_mapped) {
                        let full = regs.read(d.offset, 8).unwrap();
                        let lo = regs.read(d.offset, 4).unwrap();
                        let hi = regs.read(d.offset + 4, 4).unwrap();
                        prop_assert_eq!(full, lo | (hi << 32), "halves of {}", d.path);
                    }
                }
            }
        }
    };
}

props!(
    example,
    dispatch_tests::facts::EXAMPLE,
    dispatch_tests::example::regfile
);
props!(
    features,
    dispatch_tests::facts::FEATURES,
    dispatch_tests::features::regfile
);
#[cfg(have_smmuv3)]
props!(
    smmuv3,
    dispatch_tests::facts::SMMUV3,
    dispatch_tests::smmuv3::regfile
);
#[cfg(have_cmdqv)]
props!(
    cmdqv,
    dispatch_tests::facts::CMDQV,
    dispatch_tests::cmdqv::regfile
);
