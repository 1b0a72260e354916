//! Shared harness of the fuzz targets. The dispatcher targets decode the
//! input into a sequence of guest reads/writes (at valid offsets, their
//! neighbours or anywhere, any size) and device-side stores, run against the
//! generated dispatcher and the reference model in lockstep: a panic
//! anywhere, or any disagreement with the model, is a crash. The whole-device
//! target is [`device`]; the map loader, validator and generator target is
//! [`map_load`] (with its map generator, [`mapgen`]).

pub use dispatch_tests::model::{unflatten, Model};

pub mod device;
pub mod map_load;
pub mod mapgen;

/// Reads fuzz input bytes, returning zeros once exhausted.
pub struct Input<'a> {
    data: &'a [u8],
}

impl<'a> Input<'a> {
    /// Wraps the fuzzer's bytes.
    pub fn new(data: &'a [u8]) -> Self {
        Input { data }
    }
    /// Whether input remains.
    pub fn is_empty(&self) -> bool {
        self.data.is_empty()
    }
    /// Next byte (0 when exhausted).
    pub fn u8(&mut self) -> u8 {
        match self.data.split_first() {
            Some((b, rest)) => {
                self.data = rest;
                *b
            }
            None => 0,
        }
    }
    /// Next little-endian u16.
    pub fn u16(&mut self) -> u16 {
        u16::from_le_bytes([self.u8(), self.u8()])
    }
    /// Next little-endian u64.
    pub fn u64(&mut self) -> u64 {
        let mut b = [0u8; 8];
        for x in &mut b {
            *x = self.u8();
        }
        u64::from_le_bytes(b)
    }
}

/// One decoded operation.
#[derive(Debug, Clone, Copy)]
pub enum Op {
    /// Guest read.
    Read {
        /// Offset.
        off: u64,
        /// Size in bytes.
        size: usize,
    },
    /// Guest write.
    Write {
        /// Offset.
        off: u64,
        /// Size in bytes.
        size: usize,
        /// Value.
        value: u64,
    },
    /// Device-side store into the storage element a guest access at `off`
    /// reaches, or the `pick`-th storage element when it reaches none.
    Set {
        /// Offset whose element is stored into.
        off: u64,
        /// Element selector (modulo the number of elements).
        pick: usize,
        /// Value.
        value: u64,
    },
}

/// Decodes the next operation; offsets favour real register elements.
pub fn next_op(inp: &mut Input<'_>, offsets: &[u64]) -> Op {
    let tag = inp.u8();
    let size = match tag >> 4 {
        0..=8 => 4,
        9..=13 => 8,
        n => usize::from(n) - 12, // 2, 3: bad sizes
    };
    let off = match (tag >> 2) & 3 {
        0 | 1 => {
            let i = usize::from(inp.u16()) % offsets.len().max(1);
            offsets.get(i).copied().unwrap_or(0)
        }
        2 => {
            let i = usize::from(inp.u16()) % offsets.len().max(1);
            offsets
                .get(i)
                .copied()
                .unwrap_or(0)
                .wrapping_add(u64::from(inp.u8() % 16))
        }
        _ => inp.u64(),
    };
    match tag & 3 {
        0 | 1 => Op::Read { off, size },
        2 => Op::Write {
            off,
            size,
            value: inp.u64(),
        },
        _ => Op::Set {
            off,
            pick: usize::from(inp.u16()),
            value: inp.u64(),
        },
    }
}

/// Defines `run(data)` for one generated `regfile` module: lockstep with
/// the reference model built from register-facts table `$table`
/// (`dispatch_tests::facts::*`), using `$hooks` (an expression building the
/// hooks).
/// When the hooks map index-mapped aliases (the model cannot), the model is
/// resynchronised from the register file after such an access.
///
/// Besides every access's result, the whole register file is compared with
/// the model at the end of each input, through a shadow register file that
/// receives every storage element the model changes (so that the comparison
/// is one `==`, not one lookup per element of the 3,500 the CMDQV map has).
#[macro_export]
macro_rules! dispatch_harness {
    ($table:expr, $rf:path, $hooks:expr) => {
        use $rf as rf;

        /// Copies every storage element of `regs` into the model.
        fn resync(m: &mut $crate::Model, regs: &rf::RegFile) {
            for d in m.descs.clone().iter().filter(|d| !d.alias) {
                for flat in 0..m.store[d.storage].len() {
                    let idx = $crate::unflatten(flat, d.dims);
                    m.store[d.storage][flat] = regs.get(rf::Reg::ALL[d.storage], &idx).expect("valid index");
                }
            }
        }

        /// Panics naming the first element where `regs` and the model differ.
        fn compare_all(m: &$crate::Model, regs: &rf::RegFile) {
            for d in m.descs.iter().filter(|d| !d.alias) {
                for (flat, want) in m.store[d.storage].iter().enumerate() {
                    let idx = $crate::unflatten(flat, d.dims);
                    assert_eq!(regs.get(rf::Reg::ALL[d.storage], &idx), Ok(*want), "{}{:?}", d.path, idx);
                }
            }
        }

        /// Copies the model's storage element `(s, flat)` into `shadow`.
        fn mirror(m: &$crate::Model, shadow: &mut rf::RegFile, s: usize, flat: usize) {
            let d = m.owner(s);
            let idx = $crate::unflatten(flat, d.dims);
            shadow.set(rf::Reg::ALL[s], &idx, m.store[s][flat]).expect("valid index");
        }

        /// The model at reset with its element offsets and storage cells,
        /// built once (clones share the layout). Checks that the generated
        /// reset state is the model's.
        fn base() -> &'static ($crate::Model, Vec<u64>, Vec<(usize, usize)>) {
            static BASE: std::sync::OnceLock<($crate::Model, Vec<u64>, Vec<(usize, usize)>)> =
                std::sync::OnceLock::new();
            BASE.get_or_init(|| {
                let m = dispatch_tests::model_of!($table, $rf);
                compare_all(&m, &rf::RegFile::new());
                let offsets = m.offsets();
                let cells = m.cells();
                (m, offsets, cells)
            })
        }

        /// Runs one fuzz input; panics on a disagreement with the model.
        pub fn run(data: &[u8]) {
            let (base, offsets, cells) = base();
            let mut m = base.clone();
            let mut regs = rf::RegFile::new();
            let mut shadow = rf::RegFile::new();
            let mut hooks = $hooks;
            let mut inp = $crate::Input::new(data);
            let mut n = 0;
            while !inp.is_empty() && n < 4096 {
                n += 1;
                let op = $crate::next_op(&mut inp, offsets);
                let (off, got, want) = match op {
                    $crate::Op::Read { off, size } => {
                        let got = regs.read_with(&mut hooks, off, size).map_err(|e| format!("{e:?}"));
                        let want = m.read(off, size).map_err(|e| format!("{e:?}"));
                        (off, got, want)
                    }
                    $crate::Op::Write { off, size, value } => {
                        let got = regs.write_with(&mut hooks, off, size, value).map(|()| 0).map_err(|e| format!("{e:?}"));
                        let want = m.write(off, size, value).map(|()| 0).map_err(|e| format!("{e:?}"));
                        (off, got, want)
                    }
                    $crate::Op::Set { off, pick, value } => {
                        let target = m.element(off).map(|(s, flat, _)| (s, flat));
                        if let Some((s, flat)) = target.or_else(|| cells.get(pick % cells.len().max(1)).copied()) {
                            let d = m.owner(s);
                            let idx = $crate::unflatten(flat, d.dims);
                            regs.set(rf::Reg::ALL[s], &idx, value).expect("valid index");
                            m.store[s][flat] = if d.bits == 64 { value } else { value & 0xffff_ffff };
                            mirror(&m, &mut shadow, s, flat);
                        }
                        continue;
                    }
                };
                if matches!(&want, Err(e) if e == "AliasUnmapped") {
                    // The hooks decided; take the register file's state.
                    resync(&mut m, &regs);
                    shadow = regs.clone();
                    continue;
                }
                assert_eq!(got, want, "{op:?}");
                if want.is_ok() {
                    if let Some((s, flat, _)) = m.element(off) {
                        mirror(&m, &mut shadow, s, flat);
                    }
                }
            }
            // Whole-state agreement at the end.
            if regs != shadow {
                compare_all(&m, &regs);
                panic!("the shadow register file is out of step with the model (harness bug)");
            }
        }
    };
}
