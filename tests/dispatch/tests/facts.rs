//! The generated crates and register files checked against the register
//! facts typed from the public sources (`facts/*.csv`, see its README):
//!
//! - guest accessors of smmuv3-regs and cmdqv-regs, one test per table row
//!   (generated from the table by build.rs): each register module's offset,
//!   width, reset, masks per access kind and reserved bits, array count and
//!   stride, every field's mask and shift, the module's field list, and the
//!   offset, width and access type of the accessor of every element, seen
//!   through a recording MMIO backend;
//! - register files (the `-regs` crates' for SMMUv3 and CMDQV, this crate's
//!   for the two test maps): every storage element's reset value, then a
//!   fixed battery of guest reads and writes (all ones, zeros, halves of
//!   64-bit registers) and device-side stores on every element, in lockstep
//!   with the reference model built from the table, results and storage
//!   compared after every access; and every 4-byte offset of the device's
//!   windows read at sizes 4 and 8, so an offset the table does not map must
//!   be `Unmapped` in the register file too (and the other way round).
//!
//! A register-file test collects every disagreement before failing, so one
//! run lists them all.

use std::cell::RefCell;

use dispatch_tests::facts::{Register, Table, CMDQV, SMMUV3};
use dispatch_tests::model::{unflatten, Error, Model};
use regmap_rt::{Layout, Mmio, Reg};

// ---------------------------------------------------------------------------
// Guest accessors

/// An MMIO backend that records every access (offset, bytes) and reads zero.
#[derive(Default)]
struct Recorder {
    log: RefCell<Vec<(usize, usize)>>,
}

impl Mmio for Recorder {
    fn read32(&self, offset: usize) -> u32 {
        self.log.borrow_mut().push((offset, 4));
        0
    }
    fn read64(&self, offset: usize) -> u64 {
        self.log.borrow_mut().push((offset, 8));
        0
    }
    fn write32(&self, offset: usize, _value: u32) {
        self.log.borrow_mut().push((offset, 4));
    }
    fn write64(&self, offset: usize, _value: u64) {
        self.log.borrow_mut().push((offset, 8));
    }
}

/// The table's name for an accessor's access marker, and one access through
/// it (a read when it can read, else a write of zero).
trait Kind: Sized {
    const NAME: &'static str;
    fn touch<M: Mmio + ?Sized, L: Layout>(r: &Reg<'_, M, L, Self>);
}

impl Kind for regmap_rt::ReadWrite {
    const NAME: &'static str = "rw";
    fn touch<M: Mmio + ?Sized, L: Layout>(r: &Reg<'_, M, L, Self>) {
        let _ = r.get();
    }
}

impl Kind for regmap_rt::ReadOnly {
    const NAME: &'static str = "ro";
    fn touch<M: Mmio + ?Sized, L: Layout>(r: &Reg<'_, M, L, Self>) {
        let _ = r.get();
    }
}

impl Kind for regmap_rt::WriteOnly {
    const NAME: &'static str = "wo";
    fn touch<M: Mmio + ?Sized, L: Layout>(r: &Reg<'_, M, L, Self>) {
        r.set(L::Word::default());
    }
}

/// A generated constant (`u32` or `u64`) widened for comparison.
fn w<T: Into<u64>>(x: T) -> u64 {
    x.into()
}

/// The constants of one generated register module.
struct Consts {
    offset: u64,
    width: u32,
    reset: u64,
    masks: [u64; 10],
    reserved: u64,
}

fn check_consts(row: &str, reg: &Register, c: Consts) {
    assert_eq!(c.offset, reg.offset, "{row}: OFFSET");
    assert_eq!(c.width, reg.width, "{row}: WIDTH");
    assert_eq!(c.reset, reg.reset, "{row}: RESET");
    let want = reg.masks();
    for (i, a) in dispatch_tests::facts::Access::ALL.iter().enumerate() {
        assert_eq!(
            c.masks[i],
            want[i],
            "{row}: {}_MASK",
            a.name().to_uppercase()
        );
    }
    assert_eq!(c.reserved, reg.reserved(), "{row}: RESERVED_MASK");
}

/// `fields`: (name, tock `Field::mask`, `Field::shift`) of every table field,
/// read from the generated constants; `listed` the module's `FIELDS`.
fn check_fields(
    row: &str,
    reg: &Register,
    fields: &[(&str, u64, usize)],
    listed: regmap_rt::Fields,
) {
    for (f, &(name, mask, shift)) in reg.fields.iter().zip(fields) {
        assert_eq!(name, f.name);
        let width_mask = f.mask() >> f.lsb;
        assert_eq!(
            (mask, shift as u32),
            (width_mask, f.lsb),
            "{row}: field {name} (mask, shift)"
        );
    }
    let mut got: Vec<&str> = listed.iter().map(|(n, _, _)| *n).collect();
    let mut want: Vec<&str> = reg.fields.iter().map(|f| f.name).collect();
    got.sort_unstable();
    want.sort_unstable();
    assert_eq!(got, want, "{row}: the module's FIELDS list");
}

fn check_accessor<L: Layout, A: Kind>(
    row: &str,
    reg: &Register,
    rec: &Recorder,
    r: &Reg<'_, &Recorder, L, A>,
    offset: u64,
) {
    assert_eq!(A::NAME, reg.access.name(), "{row}: accessor access type");
    assert_eq!(r.offset() as u64, offset, "{row}: accessor offset");
    rec.log.borrow_mut().clear();
    A::touch(r);
    let log = rec.log.borrow();
    assert_eq!(
        log.as_slice(),
        &[(offset as usize, reg.width as usize / 8)],
        "{row}: the access an accessor makes"
    );
}

mod accessors_smmuv3 {
    use super::*;
    include!(concat!(env!("OUT_DIR"), "/facts_smmuv3_accessors.rs"));
}

mod accessors_cmdqv {
    use super::*;
    include!(concat!(env!("OUT_DIR"), "/facts_cmdqv_accessors.rs"));
}

// ---------------------------------------------------------------------------
// Register files

/// Disagreements of one register-file check, reported together.
#[derive(Default)]
struct Report {
    lines: Vec<String>,
}

impl Report {
    fn check<T: PartialEq + std::fmt::Debug>(
        &mut self,
        what: impl FnOnce() -> String,
        got: T,
        want: T,
    ) {
        if got != want {
            self.lines.push(format!(
                "{}: register file {got:x?}, table {want:x?}",
                what()
            ));
        }
    }

    fn finish(self, table: &Table) {
        assert!(
            self.lines.is_empty(),
            "{} disagreement(s) with {}:\n{}",
            self.lines.len(),
            table.file,
            self.lines.join("\n")
        );
    }
}

macro_rules! regfile_checks {
    ($name:ident, $table:expr, $rf:path) => {
        mod $name {
            use super::*;
            use $rf as rf;

            fn model() -> Model {
                dispatch_tests::model_of!($table, $rf)
            }

            fn storage(path: &str) -> Option<rf::Reg> {
                rf::Reg::ALL.iter().copied().find(|r| r.path() == path)
            }

            /// The generated error as the model names it.
            fn kind<T>(r: Result<T, rf::AccessError>) -> Result<T, Error> {
                r.map_err(|e| match e {
                    rf::AccessError::Unmapped => Error::Unmapped,
                    rf::AccessError::BadSize => Error::BadSize,
                    rf::AccessError::Unaligned => Error::Unaligned,
                    rf::AccessError::Straddle => Error::Straddle,
                    rf::AccessError::AliasUnmapped => Error::AliasUnmapped,
                    rf::AccessError::BadIndex => Error::BadIndex,
                })
            }

            /// The table's registers with storage of their own, each with the
            /// generated storage of its path; a row without one is reported.
            fn rows(t: &Table, rep: &mut Report) -> Vec<(&'static Register, rf::Reg)> {
                let mut out = Vec::new();
                for r in t.registers.iter().filter(|r| r.alias.is_none()) {
                    match storage(r.path) {
                        Some(s) => out.push((r, s)),
                        None => rep.lines.push(format!(
                            "{}:{} {}: no storage in the register file",
                            t.file, r.line, r.path
                        )),
                    }
                }
                out
            }

            /// Every storage element holds the table's reset value.
            #[test]
            fn reset_values() {
                let t: &Table = &$table;
                let regs = rf::RegFile::new();
                let mut rep = Report::default();
                for (r, s) in rows(t, &mut rep) {
                    for flat in 0..r.elements() {
                        let idx = unflatten(flat, r.dims);
                        rep.check(
                            || format!("{}:{} {}{idx:?} reset", t.file, r.line, r.path),
                            regs.get(s, &idx).ok(),
                            Some(r.reset),
                        );
                    }
                }
                rep.finish(t);
            }

            /// Guest accesses and device-side stores on every element of
            /// every register, in lockstep with the table's model.
            #[test]
            fn access_semantics() {
                let t: &Table = &$table;
                let mut rep = Report::default();
                for (r, s) in rows(t, &mut rep) {
                    let mut regs = rf::RegFile::new();
                    let mut m = model();
                    let ms = m
                        .element(r.offset)
                        .map(|(s, _, _)| s)
                        .expect("the table maps its own offsets");
                    let ones = if r.width == 64 { u64::MAX } else { 0xffff_ffff };
                    let size = r.width as usize / 8;
                    for flat in 0..r.elements() {
                        let idx = unflatten(flat, r.dims);
                        let off = r.element_offset(flat);
                        let at = |what: &str| {
                            format!("{}:{} {}{idx:?} @{off:#x} {what}", t.file, r.line, r.path)
                        };
                        let mut ops: Vec<(&str, u64, usize, Option<u64>)> = vec![
                            ("read", off, size, None),
                            ("write ones", off, size, Some(ones)),
                            ("read", off, size, None),
                            ("device stores ones", off, 0, Some(ones)),
                            ("read", off, size, None),
                            ("read again", off, size, None),
                            ("write zero", off, size, Some(0)),
                            ("read", off, size, None),
                            ("device stores ones", off, 0, Some(ones)),
                            ("write ones", off, size, Some(ones)),
                            ("read", off, size, None),
                        ];
                        if r.width == 64 {
                            ops.extend([
                                (
                                    "device stores a pattern",
                                    off,
                                    0,
                                    Some(0x0123_4567_89ab_cdef),
                                ),
                                ("read low half", off, 4, None),
                                ("read high half", off + 4, 4, None),
                                ("device stores zero", off, 0, Some(0)),
                                ("write high half ones", off + 4, 4, Some(0xffff_ffff)),
                                ("read", off, 8, None),
                                ("write low half ones", off, 4, Some(0xffff_ffff)),
                                ("read", off, 8, None),
                                ("device stores ones", off, 0, Some(ones)),
                                ("write high half zero", off + 4, 4, Some(0)),
                                ("read", off, 8, None),
                            ]);
                        }
                        for (what, o, sz, value) in ops {
                            match (sz, value) {
                                (0, Some(v)) => {
                                    let _ = regs.set(s, &idx, v);
                                    m.store[ms][flat] = v & ones;
                                }
                                (_, Some(v)) => {
                                    rep.check(
                                        || at(what),
                                        kind(regs.write(o, sz, v)),
                                        m.write(o, sz, v),
                                    );
                                }
                                (_, None) => {
                                    rep.check(|| at(what), kind(regs.read(o, sz)), m.read(o, sz));
                                }
                            }
                            rep.check(
                                || at(&format!("storage after {what}")),
                                regs.get(s, &idx).ok(),
                                Some(m.store[ms][flat]),
                            );
                        }
                    }
                    // Nothing else of the register file changed.
                    for c in t.registers.iter().filter(|c| c.alias.is_none()) {
                        let (Some(cs), Some((mcs, _, _))) = (storage(c.path), m.element(c.offset))
                        else {
                            continue;
                        };
                        for flat in 0..c.elements() {
                            let idx = unflatten(flat, c.dims);
                            rep.check(
                                || {
                                    format!(
                                        "{} after exercising {}: {}{idx:?}",
                                        t.file, r.path, c.path
                                    )
                                },
                                regs.get(cs, &idx).ok(),
                                Some(m.store[mcs][flat]),
                            );
                        }
                    }
                }
                rep.finish(t);
            }

            /// Every 4-byte offset up to past the last register: the register
            /// file maps exactly what the table maps, at sizes 4 and 8.
            #[test]
            fn decode_covers_the_table() {
                let t: &Table = &$table;
                let end = t
                    .registers
                    .iter()
                    .map(|r| r.element_offset(r.elements() - 1) + u64::from(r.width / 8))
                    .max()
                    .unwrap_or(0);
                let mut regs = rf::RegFile::new();
                let mut m = model();
                let mut rep = Report::default();
                for off in (0..end + 0x1000).step_by(4) {
                    for size in [4, 8] {
                        let (got, want) = (kind(regs.read(off, size)), m.read(off, size));
                        if rep.lines.len() < 64 {
                            rep.check(|| format!("{} read {off:#x}/{size}", t.file), got, want);
                        }
                    }
                }
                rep.finish(t);
            }
        }
    };
}

regfile_checks!(regfile_smmuv3, SMMUV3, smmuv3_regs::regfile);
regfile_checks!(regfile_cmdqv, CMDQV, cmdqv_regs::regfile);
regfile_checks!(
    regfile_example,
    dispatch_tests::facts::EXAMPLE,
    dispatch_tests::example::regfile
);
regfile_checks!(
    regfile_features,
    dispatch_tests::facts::FEATURES,
    dispatch_tests::features::regfile
);
