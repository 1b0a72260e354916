//! A reference model of the trapped-access semantics, written independently
//! of the generator: every register element is expanded into a table sorted
//! by offset and the field semantics of FORMAT.md are applied from the
//! per-access-kind masks one kind at a time. Its register layout (offsets,
//! arrays, widths, resets, field access kinds, aliases) comes from the
//! register-facts tables ([`crate::facts`]), never from the generated code;
//! only the mapping of a table row to the generated storage it is compared
//! with goes through the generated `Reg::path`. The property tests and fuzz
//! targets run it in lockstep with a generated dispatcher.

use alloc::format;
use alloc::string::String;
use alloc::sync::Arc;
use alloc::vec;
use alloc::vec::Vec;

use crate::facts::Table;

/// Position of each access kind in the mask arrays
/// (FORMAT.md order: rw ro wo w1c w1s rc sc res0 res1 raz_wi).
pub mod kind {
    use crate::facts::Access;
    /// `rw`.
    pub const RW: usize = Access::Rw as usize;
    /// `ro`.
    pub const RO: usize = Access::Ro as usize;
    /// `wo`.
    pub const WO: usize = Access::Wo as usize;
    /// `w1c`.
    pub const W1C: usize = Access::W1c as usize;
    /// `w1s`.
    pub const W1S: usize = Access::W1s as usize;
    /// `rc`.
    pub const RC: usize = Access::Rc as usize;
    /// `sc`.
    pub const SC: usize = Access::Sc as usize;
    /// `res0`.
    pub const RES0: usize = Access::Res0 as usize;
    /// `res1`.
    pub const RES1: usize = Access::Res1 as usize;
    /// `raz_wi`.
    pub const RAZ_WI: usize = Access::RazWi as usize;
}

/// One register as the model sees it (a row of a facts table).
#[derive(Clone, Copy, Debug)]
pub struct Desc {
    /// Path in the map.
    pub path: &'static str,
    /// Absolute offset of element 0.
    pub offset: u64,
    /// Width in bits.
    pub bits: u32,
    /// `(count, stride)` per dimension.
    pub dims: &'static [(u32, u64)],
    /// Reset value of the storage.
    pub reset: u64,
    /// Masks per access kind.
    pub masks: [u64; 10],
    /// Storage number: the position in the generated `Reg::ALL` of the
    /// register whose storage this row reads and writes.
    pub storage: usize,
    /// Alias of another register.
    pub alias: bool,
    /// Alias whose element is chosen by an `index_map` hook.
    pub index_mapped: bool,
}

/// The descriptions of `table`'s rows; `storage_of` gives the position in
/// the generated `Reg::ALL` of the register with a path (the only fact taken
/// from the generated code: which storage to compare a row with).
pub fn descs_of(
    table: &Table,
    storage_of: impl Fn(&str) -> Option<usize>,
) -> Result<Vec<Desc>, String> {
    table
        .registers
        .iter()
        .map(|r| {
            let storage = storage_of(r.owner()).ok_or_else(|| {
                format!(
                    "{}:{}: `{}` has no storage in the generated register file",
                    table.file,
                    r.line,
                    r.owner()
                )
            })?;
            Ok(Desc {
                path: r.path,
                offset: r.offset,
                bits: r.width,
                dims: r.dims,
                reset: r.reset,
                masks: r.masks(),
                storage,
                alias: r.alias.is_some(),
                index_mapped: r.alias.is_some_and(|a| a.mapped),
            })
        })
        .collect()
}

/// The model at reset of facts table `$table` for the generated `regfile`
/// module `$rf`, whose `Reg::ALL` and `Reg::path` link rows to storage.
/// Panics (in tests and fuzz targets) when a row has no generated storage.
#[macro_export]
macro_rules! model_of {
    ($table:expr, $rf:path) => {{
        use $rf as rf;
        let descs = $crate::model::descs_of(&$table, |path| {
            rf::Reg::ALL.iter().position(|r| r.path() == path)
        })
        .unwrap_or_else(|e| panic!("{e}"));
        $crate::model::Model::new(descs)
    }};
}

/// Errors, named like the generated `AccessError` variants.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Error {
    /// No register element at the offset.
    Unmapped,
    /// Size not 4 or 8.
    BadSize,
    /// Offset not a multiple of the size.
    Unaligned,
    /// 8-byte access to a 32-bit register.
    Straddle,
    /// Index-mapped alias without a mapping (the model has no hooks).
    AliasUnmapped,
    /// Index out of range.
    BadIndex,
}

/// The reference model: element map plus storage. The descriptions and the
/// element map never change and are shared between clones, so a model built
/// once (the CMDQV map has some 70,000 elements) is cheap to clone per test
/// case or fuzz input.
#[derive(Clone, Debug)]
pub struct Model {
    /// Register descriptions.
    pub descs: Arc<Vec<Desc>>,
    /// Every element as (offset, description, flat element number), sorted
    /// by offset (a binary search finds the element of an access).
    pub elems: Arc<Vec<(u64, usize, usize)>>,
    /// Storage per `Reg` (flat elements).
    pub store: Vec<Vec<u64>>,
}

fn expand(d: &Desc) -> Vec<u64> {
    let mut offs = vec![d.offset];
    for &(count, stride) in d.dims {
        offs = offs
            .iter()
            .flat_map(|o| (0..u64::from(count)).map(move |i| o + i * stride))
            .collect();
    }
    offs
}

fn width_mask(bits: u32) -> u64 {
    if bits == 64 {
        u64::MAX
    } else {
        0xffff_ffff
    }
}

impl Model {
    /// A model at reset.
    pub fn new(descs: Vec<Desc>) -> Model {
        let n = descs.iter().map(|d| d.storage + 1).max().unwrap_or(0);
        let mut store = vec![Vec::new(); n];
        for d in descs.iter().filter(|d| !d.alias) {
            let len: usize = d.dims.iter().map(|&(c, _)| c as usize).product();
            store[d.storage] = vec![d.reset; len];
        }
        let mut elems: Vec<(u64, usize, usize)> = descs
            .iter()
            .enumerate()
            .flat_map(|(i, d)| {
                expand(d)
                    .into_iter()
                    .enumerate()
                    .map(move |(flat, o)| (o, i, flat))
            })
            .collect();
        elems.sort_unstable();
        Model {
            descs: Arc::new(descs),
            elems: Arc::new(elems),
            store,
        }
    }

    /// The element starting at or below `offset`, nearest first: (its
    /// offset, description, flat element number).
    pub fn below(&self, offset: u64) -> Option<(u64, usize, usize)> {
        let i = self.elems.partition_point(|&(o, _, _)| o <= offset);
        i.checked_sub(1).map(|i| self.elems[i])
    }

    /// The element whose bytes include `offset`: (description, flat, byte
    /// offset in it).
    fn locate(&self, offset: u64) -> Option<(usize, usize, u64)> {
        let (base, d, flat) = self.below(offset)?;
        let within = offset - base;
        (within < u64::from(self.descs[d].bits / 8)).then_some((d, flat, within))
    }

    /// The storage element a guest access at `offset` reaches: (storage,
    /// flat element, description of the register accessed); `None` when
    /// unmapped or index-mapped (only the hooks know the element).
    pub fn element(&self, offset: u64) -> Option<(usize, usize, usize)> {
        let (d, flat, _) = self.locate(offset)?;
        let desc = &self.descs[d];
        (!desc.index_mapped).then_some((desc.storage, flat, d))
    }

    /// The description owning storage `storage` (not an alias).
    pub fn owner(&self, storage: usize) -> Desc {
        *self
            .descs
            .iter()
            .find(|d| !d.alias && d.storage == storage)
            .expect("storage has a register")
    }

    /// Every storage element as (storage, flat element).
    pub fn cells(&self) -> Vec<(usize, usize)> {
        self.descs
            .iter()
            .filter(|d| !d.alias)
            .flat_map(|d| (0..self.store[d.storage].len()).map(move |f| (d.storage, f)))
            .collect()
    }

    /// Finds the element holding `offset`: (description, flat, byte offset in it).
    fn find(&self, offset: u64, size: usize) -> Result<(usize, usize, u64), Error> {
        if size != 4 && size != 8 {
            return Err(Error::BadSize);
        }
        if offset.checked_rem(size as u64) != Some(0) {
            return Err(Error::Unaligned);
        }
        let (d, flat, within) = self.locate(offset).ok_or(Error::Unmapped)?;
        let desc = &self.descs[d];
        if size == 8 && desc.bits == 32 {
            return Err(Error::Straddle);
        }
        if desc.index_mapped {
            return Err(Error::AliasUnmapped);
        }
        Ok((d, flat, within))
    }

    fn lane(bits: u32, size: usize, within: u64) -> (u64, u32) {
        if size == 8 || bits == 32 {
            (width_mask(bits), 0)
        } else if within == 4 {
            (0xffff_ffff_0000_0000, 32)
        } else {
            (0xffff_ffff, 0)
        }
    }

    /// A guest read.
    pub fn read(&mut self, offset: u64, size: usize) -> Result<u64, Error> {
        let (d, flat, within) = self.find(offset, size)?;
        let desc = self.descs[d];
        let (lane, shift) = Self::lane(desc.bits, size, within);
        let m = desc.masks;
        let cell = &mut self.store[desc.storage][flat];
        let mut v = 0;
        for k in [kind::RW, kind::RO, kind::W1C, kind::W1S, kind::RC] {
            v |= *cell & m[k];
        }
        v |= m[kind::RES1];
        *cell &= !(m[kind::RC] & lane);
        Ok((v & lane) >> shift)
    }

    /// A guest write.
    pub fn write(&mut self, offset: u64, size: usize, value: u64) -> Result<(), Error> {
        let (d, flat, within) = self.find(offset, size)?;
        let desc = self.descs[d];
        let (lane, shift) = Self::lane(desc.bits, size, within);
        let v = (value << shift) & lane;
        let m = desc.masks;
        let cell = &mut self.store[desc.storage][flat];
        let mut new = *cell;
        for k in [kind::RW, kind::WO] {
            new = (new & !(m[k] & lane)) | (v & m[k]);
        }
        new &= !(v & m[kind::W1C]);
        new |= v & m[kind::W1S];
        // Self-clearing bits: stored for the hook, then dropped.
        new &= !m[kind::SC];
        *cell = new & width_mask(desc.bits);
        Ok(())
    }

    /// Every element offset of registers that are not index-mapped.
    pub fn offsets(&self) -> Vec<u64> {
        self.elems
            .iter()
            .filter(|&&(_, d, _)| !self.descs[d].index_mapped)
            .map(|&(o, _, _)| o)
            .collect()
    }
}

/// Row-major indices of element `flat` in an array of `dims`.
pub fn unflatten(mut flat: usize, dims: &[(u32, u64)]) -> Vec<u32> {
    let mut idx = vec![0u32; dims.len()];
    for (slot, &(count, _)) in idx.iter_mut().zip(dims).rev() {
        let c = count as usize;
        *slot = (flat % c) as u32;
        flat /= c;
    }
    idx
}
