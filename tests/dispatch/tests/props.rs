//! Property tests: random sequences of trapped accesses (valid offsets,
//! neighbours, random offsets and sizes) never panic, agree with the
//! reference model access by access, and keep the invariants: `ro` bits
//! constant, `res0`/`raz_wi`/unmapped bits read zero, `w1c` bits only clear,
//! 64-bit halves compose.

use dispatch_tests::descs;
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
    /// Device-side store into storage `pick` (modulo the number of
    /// elements), so that device-set bits (`ro`, `rc`, `w1c`) get exercised.
    Set {
        pick: usize,
        value: u64,
    },
}

fn ops(offsets: Vec<u64>) -> impl Strategy<Value = Vec<Op>> {
    let n = offsets.len();
    let off = prop_oneof![
        8 => (0..n, prop_oneof![Just(0u64), Just(4u64), 0u64..8]).prop_map(move |(i, d)| offsets[i] + d),
        1 => any::<u64>(),
        1 => 0u64..0x4_0000,
    ];
    let size = prop_oneof![6 => Just(4usize), 3 => Just(8usize), 1 => 0usize..17];
    let op = (0u8..9, off, size, any::<u64>(), any::<usize>()).prop_map(
        |(r, off, size, value, pick)| match r {
            0..=3 => Op::Read { off, size },
            4..=7 => Op::Write { off, size, value },
            _ => Op::Set { pick, value },
        },
    );
    prop::collection::vec(op, 1..64)
}

macro_rules! props {
    ($name:ident, $rf:path) => {
        mod $name {
            use super::*;
            use $rf as rf;

            fn storage_matches(rf: &rf::RegFile, m: &Model) -> Result<(), TestCaseError> {
                for d in m.descs.iter().filter(|d| !d.alias) {
                    for (flat, want) in m.store[d.storage].iter().enumerate() {
                        let idx = unflatten(flat, d.dims);
                        let got = rf.get(rf::Reg::ALL[d.storage], &idx).map_err(|e| TestCaseError::fail(format!("{e:?}")))?;
                        prop_assert_eq!(got, *want, "storage of {}{:?}", d.path, idx);
                    }
                }
                Ok(())
            }

            proptest! {
                #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]
                #[test]
                fn agrees_with_model_and_keeps_invariants(seq in ops(Model::new(descs!($rf)).offsets())) {
                    let mut m = Model::new(descs!($rf));
                    let mut regs = rf::RegFile::new();
                    for op in &seq {
                        match *op {
                            Op::Read { off, size } => {
                                let got = regs.read(off, size).map_err(|e| format!("{e:?}"));
                                let want = m.read(off, size).map_err(|e| format!("{e:?}"));
                                prop_assert_eq!(&got, &want, "read {:#x}/{}", off, size);
                                if let (Ok(v), Some((&base, &(d, _)))) = (got, m.elems.range(..=off).next_back()) {
                                    let desc = m.descs[d];
                                    let shift = if size == 4 && off - base == 4 { 32 } else { 0 };
                                    let zero = desc.masks[kind::RES0] | desc.masks[kind::RAZ_WI] | desc.masks[kind::WO] | desc.masks[kind::SC]
                                        | !desc.masks.iter().fold(0, |a, b| a | b);
                                    prop_assert_eq!(v & (zero >> shift) & if size == 4 { 0xffff_ffff } else { u64::MAX }, 0, "zero bits of {}", desc.path);
                                    let ones = (desc.masks[kind::RES1] >> shift) & if size == 4 { 0xffff_ffff } else { u64::MAX };
                                    prop_assert_eq!(v & ones, ones, "res1 bits of {}", desc.path);
                                }
                            }
                            Op::Set { pick, value } => {
                                let cells: Vec<(usize, usize)> = m.descs.iter().filter(|d| !d.alias)
                                    .flat_map(|d| (0..m.store[d.storage].len()).map(move |f| (d.storage, f)))
                                    .collect();
                                let (s, flat) = cells[pick % cells.len()];
                                let d = m.descs.iter().find(|d| !d.alias && d.storage == s).unwrap();
                                let idx = unflatten(flat, d.dims);
                                regs.set(rf::Reg::ALL[s], &idx, value).unwrap();
                                m.store[s][flat] = if d.bits == 64 { value } else { value & 0xffff_ffff };
                            }
                            Op::Write { off, size, value } => {
                                let before = m.clone();
                                let got = regs.write(off, size, value).map_err(|e| format!("{e:?}"));
                                let want = m.write(off, size, value).map_err(|e| format!("{e:?}"));
                                prop_assert_eq!(&got, &want, "write {:#x}/{} = {:#x}", off, size, value);
                                if want.is_ok() {
                                    let (&_, &(d, flat)) = m.elems.range(..=off).next_back().unwrap();
                                    let desc = m.descs[d];
                                    let old = before.store[desc.storage][flat];
                                    let new = m.store[desc.storage][flat];
                                    let keep = desc.masks[kind::RO] | desc.masks[kind::RC];
                                    prop_assert_eq!(old & keep, new & keep, "ro bits of {} changed", desc.path);
                                    let w1c = desc.masks[kind::W1C];
                                    prop_assert_eq!(new & w1c & !old, 0, "w1c bits of {} set by a write", desc.path);
                                }
                            }
                        }
                        storage_matches(&regs, &m)?;
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

props!(example, dispatch_tests::example::regfile);
props!(features, dispatch_tests::features::regfile);
#[cfg(have_smmuv3)]
props!(smmuv3, dispatch_tests::smmuv3::regfile);
#[cfg(have_cmdqv)]
props!(cmdqv, dispatch_tests::cmdqv::regfile);
