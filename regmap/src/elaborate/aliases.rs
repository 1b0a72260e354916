//! Alias registers and alias blocks, resolved once every target is known.

use std::collections::HashSet;

use super::*;

impl Cx {
    pub(super) fn resolve_register_aliases(&mut self) {
        let pending = std::mem::take(&mut self.pending_register_aliases);
        let unresolved: HashSet<usize> = pending.iter().map(|(i, _)| *i).collect();
        for (idx, target) in pending {
            let found = (0..self.registers.len()).find(|&i| {
                !unresolved.contains(&i)
                    && self.registers[i].alias.is_none()
                    && self.registers[i].path() == target.value
            });
            let Some(t) = found else {
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

    pub(super) fn resolve_block_aliases(
        &mut self,
        pending: Vec<PendingBlockAlias>,
        top: &mut [Block],
    ) {
        for p in pending {
            let (target, tspan) = &p.target;
            let Some((tbase, tarrays)) = self.block_bases.get(target).cloned() else {
                self.err(Kind::UnknownReference, *tspan, format!("unknown alias target block `{target}`: expected the path of a block (e.g. `VCMDQ`)"));
                continue;
            };
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
            let prefix: Vec<String> = target.split('.').map(str::to_string).collect();
            let members: Vec<usize> = (0..self.registers.len())
                .filter(|&i| {
                    let r = &self.registers[i];
                    r.alias.is_none()
                        && r.blocks.len() >= prefix.len()
                        && r.blocks[..prefix.len()] == prefix[..]
                })
                .collect();
            let mut new_idx = Vec::new();
            for t in members {
                let tr = self.registers[t].clone();
                let mut blocks = p.path.clone();
                blocks.extend_from_slice(&tr.blocks[prefix.len()..]);
                let mut arrays = p.arrays.clone();
                arrays.extend_from_slice(&tr.arrays[tarrays.len().min(tr.arrays.len())..]);
                let mut r = Register {
                    name: tr.name.clone(),
                    blocks,
                    offset: p.base + (tr.offset - tbase),
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
