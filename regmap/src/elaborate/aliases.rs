//! Alias registers and alias blocks, resolved once every target is known.

use std::collections::{HashMap, HashSet};

use super::*;

impl Cx {
    /// Resolves every alias register against an index of the registers by
    /// path, built once: linear in the registers, with no allocation per
    /// comparison (the first register of a path wins, as duplicate paths
    /// are already an error).
    pub(super) fn resolve_register_aliases(&mut self) {
        let pending = std::mem::take(&mut self.pending_register_aliases);
        let unresolved: HashSet<usize> = pending.iter().map(|(i, _)| *i).collect();
        let mut by_path: HashMap<String, usize> = HashMap::new();
        for (i, r) in self.registers.iter().enumerate() {
            if !unresolved.contains(&i) && r.alias.is_none() {
                by_path.entry(r.path()).or_insert(i);
            }
        }
        for (idx, target) in pending {
            let Some(&t) = by_path.get(target.value.as_str()) else {
                self.err(Kind::UnknownReference, span(&target), format!("unknown alias target `{}`: expected the path of a register that is not itself an alias", target.value));
                continue;
            };
            let counts = |r: &Register| r.arrays.iter().map(|a| a.count).collect::<Vec<_>>();
            if counts(&self.registers[idx]) != counts(&self.registers[t]) {
                let msg = format!(
                    "alias `{}` has array counts {:?} but its target `{}` has {:?}: a static alias mirrors element for element",
                    self.registers[idx].path(),
                    counts(&self.registers[idx]),
                    target.value,
                    counts(&self.registers[t])
                );
                self.err(Kind::BadAlias, span(&target), msg);
                continue;
            }
            let tr = self.registers[t].clone();
            let r = &mut self.registers[idx];
            mirror(r, &tr, t, None);
        }
    }

    /// Expands every alias block into one alias register per register of
    /// its target. The target's registers are the contiguous run its
    /// [`BlockBase`] records, so each alias block costs what it creates;
    /// what it creates is bounded by [`MAX_ELEMENTS`] and every offset is
    /// checked ([`Cx::fits`]).
    pub(super) fn resolve_block_aliases(
        &mut self,
        pending: Vec<PendingBlockAlias>,
        top: &mut [Block],
    ) {
        for p in pending {
            let (target, tspan) = &p.target;
            let Some(tb) = self.block_bases.get(target) else {
                self.err(Kind::UnknownReference, *tspan, format!("unknown alias target block `{target}`: expected the path of a block (e.g. `VCMDQ`)"));
                continue;
            };
            let (tbase, tarrays, range) = (tb.base, tb.arrays.clone(), tb.regs.clone());
            if p.index_map.is_none() {
                let a: Vec<u32> = p.arrays.iter().map(|d| d.count).collect();
                let b: Vec<u32> = tarrays.iter().map(|d| d.count).collect();
                if a != b {
                    self.err(
                        Kind::BadAlias,
                        p.span,
                        format!("alias block has array counts {a:?} but `{target}` has {b:?}: give an `index_map` hook when the mapping is not one to one"),
                    );
                    continue;
                }
            }
            let depth = target.split('.').count();
            let members: Vec<usize> = range
                .filter(|&i| {
                    let r = &self.registers[i];
                    r.alias.is_none() && r.blocks.len() >= depth
                })
                .collect();
            // Every register has at least one element: more registers than
            // elements allowed is an error before anything is built.
            if (self.registers.len() + members.len()) as u64 > MAX_ELEMENTS {
                let msg = format!(
                    "alias block `{}` of `{target}` ({} registers) takes the map past {MAX_ELEMENTS} registers",
                    p.path.join("."),
                    members.len()
                );
                self.err(Kind::BadArray, p.span, msg);
                continue;
            }
            // Place every mirrored register first: one that does not fit
            // rejects the whole alias block, so none of it is half built.
            let mut placed = Vec::with_capacity(members.len());
            for &t in &members {
                let tr = &self.registers[t];
                let mut blocks = p.path.clone();
                blocks.extend_from_slice(&tr.blocks[depth..]);
                let mut arrays = p.arrays.clone();
                arrays.extend_from_slice(&tr.arrays[tarrays.len().min(tr.arrays.len())..]);
                // The target's register lies at or after the target's base;
                // its distance from it, added to the alias block's base,
                // must stay in 64 bits.
                let rel = tr.offset.saturating_sub(tbase);
                let (name, bytes) = (tr.name.clone(), tr.width.bytes());
                let Some(offset) = p.base.checked_add(rel) else {
                    let msg = format!(
                        "alias block `{}` at {:#x} places `{}` ({rel:#x} into `{target}`) past the 64-bit address space",
                        p.path.join("."),
                        p.base,
                        tr.path()
                    );
                    self.err(Kind::OutsideWindow, p.span, msg);
                    break;
                };
                let path = format!("{}.{name}", blocks.join("."));
                if !self.fits(&path, offset, &arrays, bytes, p.span) {
                    break;
                }
                placed.push((t, blocks, offset, arrays));
            }
            if placed.len() != members.len() {
                continue;
            }
            let mut new_idx = Vec::new();
            for (t, blocks, offset, arrays) in placed {
                let tr = self.registers[t].clone();
                let mut r = Register {
                    name: tr.name.clone(),
                    blocks,
                    offset,
                    arrays,
                    width: tr.width,
                    access: tr.access,
                    reset: tr.reset,
                    description: tr.description.clone(),
                    fields: Vec::new(),
                    fieldset: None,
                    on_write: None,
                    on_read: None,
                    alias: None,
                    span: p.span,
                };
                mirror(&mut r, &tr, t, p.index_map.clone());
                self.registers.push(r);
                new_idx.push(self.registers.len() - 1);
            }
            if let Some(b) = find_block_mut(top, &p.path) {
                b.registers = new_idx;
            }
        }
    }
}

/// Makes `r` a mirror of target `tr` (index `t`).
pub(super) fn mirror(r: &mut Register, tr: &Register, t: usize, index_map: Option<String>) {
    r.width = tr.width;
    r.access = tr.access;
    r.reset = tr.reset;
    r.fields = tr.fields.clone();
    r.fieldset = tr.fieldset.clone();
    r.on_write = tr.on_write.clone();
    r.on_read = tr.on_read.clone();
    if r.description.is_empty() {
        r.description = format!("Alias of {}.", tr.path());
    }
    r.alias = Some(Alias {
        target: t,
        target_path: tr.path(),
        index_map,
    });
}

pub(super) fn find_block_mut<'a>(
    blocks: &'a mut [Block],
    path: &[String],
) -> Option<&'a mut Block> {
    let (first, rest) = path.split_first()?;
    let b = blocks.iter_mut().find(|b| &b.name == first)?;
    if rest.is_empty() {
        Some(b)
    } else {
        find_block_mut(&mut b.blocks, rest)
    }
}
