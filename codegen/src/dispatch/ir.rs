//! Pass 1: lower the elaborated model to the dispatch IR: storage slots,
//! per-register access masks, alias resolution and hook roles. Pass 2
//! ([`super::decode`]) builds the offset decode tree from it.

use regmap::model::{Access, Block, Device, Register, Width};

use super::names::{snake, upper};

/// The dispatch IR of one device.
#[derive(Clone, Debug)]
pub struct Ir {
    /// Device name.
    pub device: String,
    /// Storage slots: one per register that is not an alias.
    pub slots: Vec<Slot>,
    /// One entry per model register (aliases included), in model order.
    pub regs: Vec<RegIr>,
    /// Declared hooks with the roles they are used in.
    pub hooks: Vec<HookIr>,
    /// Problems that make the map impossible to emit (reported through
    /// `compile_error!` in the generated code).
    pub errors: Vec<String>,
}

/// One array dimension.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Dim {
    /// Name of the block or register the dimension belongs to.
    pub name: String,
    /// Number of elements.
    pub count: u32,
    /// Distance between elements in bytes.
    pub stride: u64,
}

/// Storage of one non-alias register (all its array elements).
#[derive(Clone, Debug)]
pub struct Slot {
    /// Index of the register in [`Device::registers`].
    pub reg: usize,
    /// Register path (`VCMDQ.PROD`).
    pub path: String,
    /// Snake-case name of the storage field and accessors (`vcmdq_prod`).
    pub field: String,
    /// Variant of the generated `Reg` enum (`VCMDQ_PROD`).
    pub variant: String,
    /// Register width.
    pub width: Width,
    /// Array dimensions, outermost first.
    pub dims: Vec<Dim>,
    /// Number of elements (product of counts), at least 1.
    pub len: u64,
    /// Reset value.
    pub reset: u64,
    /// Free-text description.
    pub description: String,
}

/// Masks of one register by what reads and writes do with each bit.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Masks {
    /// Bits a read returns from storage (`rw`, `ro`, `w1c`, `w1s`, `rc`).
    pub read: u64,
    /// Bits that always read one (`res1`).
    pub res1: u64,
    /// Bits cleared after a read (`rc`).
    pub rc: u64,
    /// Bits a write stores as given (`rw`, `wo`, `sc`).
    pub store: u64,
    /// Bits a written one clears (`w1c`).
    pub w1c: u64,
    /// Bits a written one sets (`w1s`).
    pub w1s: u64,
    /// Bits that clear once the write hook has seen them (`sc`).
    pub sc: u64,
    /// Masks per access kind, in [`Access::ALL`] order (metadata for tests).
    pub by_access: [u64; 10],
}

impl Masks {
    /// Computes the masks of a register from its fields.
    pub fn of(r: &Register) -> Masks {
        let m = |a| r.mask_of(a);
        let mut by_access = [0; 10];
        for (slot, a) in by_access.iter_mut().zip(Access::ALL) {
            *slot = m(a);
        }
        Masks {
            read: m(Access::Rw) | m(Access::Ro) | m(Access::W1c) | m(Access::W1s) | m(Access::Rc),
            res1: m(Access::Res1),
            rc: m(Access::Rc),
            store: m(Access::Rw) | m(Access::Wo) | m(Access::Sc),
            w1c: m(Access::W1c),
            w1s: m(Access::W1s),
            sc: m(Access::Sc),
            by_access,
        }
    }
}

/// How a register reaches its storage.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Kind {
    /// Its own storage.
    Plain,
    /// A static alias: the target's storage, element for element.
    Alias,
    /// An alias block element mapped by a hook: the hook maps the first
    /// `outer` indices to the target's first `target_outer` indices; the
    /// remaining (inner) indices carry over.
    Mapped {
        /// The `index_map` hook.
        hook: String,
        /// Number of this register's indices the hook receives.
        outer: usize,
        /// Number of target indices the hook returns.
        target_outer: usize,
    },
}

/// One register of the map as the dispatcher sees it.
#[derive(Clone, Debug)]
pub struct RegIr {
    /// Index in [`Device::registers`].
    pub reg: usize,
    /// Register path.
    pub path: String,
    /// Snake-case name for the per-register access functions.
    pub func: String,
    /// Absolute offset of element 0.
    pub offset: u64,
    /// Width.
    pub width: Width,
    /// Array dimensions, outermost first.
    pub dims: Vec<Dim>,
    /// Access masks.
    pub masks: Masks,
    /// Storage slot (its own, or its target's for an alias).
    pub slot: usize,
    /// How indices reach the storage.
    pub kind: Kind,
    /// Write hook (for an alias: the target's).
    pub on_write: Option<String>,
    /// Read hook (for an alias: the target's).
    pub on_read: Option<String>,
}

/// What a hook is used for; its generated method signature follows.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Role {
    /// `on_write`: called after a write with the old and new values.
    Write,
    /// `on_read`: called before a read.
    Read,
    /// `index_map`: maps alias indices to target indices.
    Map {
        /// Number of target indices returned.
        target_outer: usize,
    },
}

/// A declared hook and the methods it becomes.
#[derive(Clone, Debug)]
pub struct HookIr {
    /// Hook name.
    pub name: String,
    /// Free-text description.
    pub description: String,
    /// Roles it is used in (at least one: unused hooks get the write role).
    pub roles: Vec<Role>,
}

impl HookIr {
    /// Name of the trait method for `role`: the hook's name when it has one
    /// role, otherwise suffixed with the role.
    pub fn method(&self, role: Role) -> String {
        let base = snake(&self.name);
        if self.roles.len() <= 1 {
            return base;
        }
        match role {
            Role::Write => format!("{base}_on_write"),
            Role::Read => format!("{base}_on_read"),
            Role::Map { .. } => format!("{base}_index_map"),
        }
    }
}

fn dims_of(r: &Register) -> Vec<Dim> {
    r.arrays
        .iter()
        .map(|a| Dim {
            name: a.name.clone(),
            count: a.count,
            stride: a.stride,
        })
        .collect()
}

/// Number of array dimensions contributed by the blocks along `path`
/// (blocks with more than one element are arrays).
fn block_dims(blocks: &[Block], path: &[&str]) -> Option<usize> {
    let (first, rest) = path.split_first()?;
    let b = blocks.iter().find(|b| b.name == *first)?;
    let here = usize::from(b.count > 1);
    if rest.is_empty() {
        Some(here)
    } else {
        Some(here + block_dims(&b.blocks, rest)?)
    }
}

/// Finds the alias block an index-mapped alias register was expanded from:
/// the first block along the register's path that declares an alias.
fn alias_block<'a>(blocks: &'a [Block], path: &[String]) -> Option<&'a Block> {
    let (first, rest) = path.split_first()?;
    let b = blocks.iter().find(|b| &b.name == first)?;
    if b.alias.is_some() {
        Some(b)
    } else {
        alias_block(&b.blocks, rest)
    }
}

/// Lowers a validated device to the dispatch IR.
pub fn lower(device: &Device) -> Ir {
    let mut errors = Vec::new();
    let mut slots = Vec::new();
    let mut slot_of = vec![usize::MAX; device.registers.len()];
    for (i, r) in device.registers.iter().enumerate() {
        if r.alias.is_some() {
            continue;
        }
        let dims = dims_of(r);
        let len = dims
            .iter()
            .map(|d| u64::from(d.count))
            .product::<u64>()
            .max(1);
        slot_of[i] = slots.len();
        slots.push(Slot {
            reg: i,
            path: r.path(),
            field: snake(&r.path()),
            variant: upper(&r.path()),
            width: r.width,
            dims,
            len,
            reset: r.reset & r.width.mask(),
            description: r.description.clone(),
        });
    }
    let mut seen = std::collections::HashSet::new();
    for s in &slots {
        if !seen.insert(s.field.clone()) {
            errors.push(format!(
                "two registers map to the Rust name `{}`: rename one",
                s.field
            ));
        }
    }

    let mut regs = Vec::new();
    let mut map_roles: Vec<(String, usize)> = Vec::new();
    for (i, r) in device.registers.iter().enumerate() {
        let dims = dims_of(r);
        let (slot, kind) = match &r.alias {
            None => (slot_of[i], Kind::Plain),
            Some(a) => {
                let Some(&slot) = slot_of.get(a.target) else {
                    errors.push(format!("alias `{}` has no target", r.path()));
                    continue;
                };
                if slot == usize::MAX {
                    errors.push(format!("alias `{}` targets another alias", r.path()));
                    continue;
                }
                match &a.index_map {
                    None => (slot, Kind::Alias),
                    Some(hook) => {
                        let target = &device.registers[a.target];
                        let ab = alias_block(&device.blocks, &r.blocks);
                        let tpath: Vec<&str> = ab
                            .and_then(|b| b.alias.as_deref())
                            .map(|p| p.split('.').collect())
                            .unwrap_or_default();
                        let target_outer = block_dims(&device.blocks, &tpath);
                        let Some(target_outer) = target_outer else {
                            errors.push(format!(
                                "cannot find the target block of alias `{}`",
                                r.path()
                            ));
                            continue;
                        };
                        let inner = target.arrays.len().saturating_sub(target_outer);
                        let Some(outer) = r.arrays.len().checked_sub(inner) else {
                            errors.push(format!("alias `{}` has too few indices", r.path()));
                            continue;
                        };
                        map_roles.push((hook.clone(), target_outer));
                        (
                            slot,
                            Kind::Mapped {
                                hook: hook.clone(),
                                outer,
                                target_outer,
                            },
                        )
                    }
                }
            }
        };
        regs.push(RegIr {
            reg: i,
            path: r.path(),
            func: snake(&r.path()),
            offset: r.offset,
            width: r.width,
            dims,
            masks: Masks::of(r),
            slot,
            kind,
            on_write: r.on_write.clone(),
            on_read: r.on_read.clone(),
        });
    }

    let mut hooks = Vec::new();
    for h in &device.hooks {
        let mut roles = Vec::new();
        if device
            .registers
            .iter()
            .any(|r| r.on_write.as_deref() == Some(&h.name))
        {
            roles.push(Role::Write);
        }
        if device
            .registers
            .iter()
            .any(|r| r.on_read.as_deref() == Some(&h.name))
        {
            roles.push(Role::Read);
        }
        let mut outs: Vec<usize> = map_roles
            .iter()
            .filter(|(n, _)| *n == h.name)
            .map(|(_, t)| *t)
            .collect();
        outs.dedup();
        match outs.as_slice() {
            [] => {}
            [t] => roles.push(Role::Map { target_outer: *t }),
            _ => errors.push(format!(
                "index_map hook `{}` maps to targets with different numbers of indices",
                h.name
            )),
        }
        if roles.is_empty() {
            roles.push(Role::Write);
        }
        hooks.push(HookIr {
            name: h.name.clone(),
            description: h.description.clone(),
            roles,
        });
    }

    Ir {
        device: device.name.clone(),
        slots,
        regs,
        hooks,
        errors,
    }
}

impl Ir {
    /// The hook named `name`.
    pub fn hook(&self, name: &str) -> Option<&HookIr> {
        self.hooks.iter().find(|h| h.name == name)
    }
}
