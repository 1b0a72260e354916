//! The expanded layout: every register element checked for overlaps and windows.

use std::collections::HashSet;

use super::*;

impl Cx {
    pub(super) fn check_layout(&mut self, windows: &[Window], device_span: Span) {
        let total: u64 = self
            .registers
            .iter()
            .map(|r| r.element_count())
            .fold(0u64, |a, b| a.saturating_add(b));
        if total > MAX_ELEMENTS {
            self.err(
                Kind::BadArray,
                device_span,
                format!("the map expands to {total} register elements; at most {MAX_ELEMENTS} are supported"),
            );
            return;
        }
        let mut elems: Vec<(u64, u64, usize)> = Vec::with_capacity(total as usize);
        for (i, r) in self.registers.iter().enumerate() {
            let bytes = r.width.bytes();
            for_each_element(r, &mut |off| {
                elems.push((off, off.saturating_add(bytes), i))
            });
        }
        // Stable sort: each register contributes an already sorted run, which
        // the run-adaptive merge sort exploits (the CMDQV map has 65k elements).
        elems.sort();
        let mut reported: HashSet<(usize, usize)> = HashSet::new();
        let mut outside: HashSet<usize> = HashSet::new();
        let mut win: Vec<&Window> = windows.iter().collect();
        win.sort_by_key(|w| w.offset);
        let mut last: Option<(u64, u64, usize)> = None;
        let mut new_diags = Vec::new();
        for &(start, end, i) in &elems {
            if let Some((ls, le, li)) = last {
                if start < le
                    && li != i
                    && !self.aliased(li, i)
                    && reported.insert((li.min(i), li.max(i)))
                {
                    let (a, b) = if self.registers[li].span <= self.registers[i].span {
                        (li, i)
                    } else {
                        (i, li)
                    };
                    new_diags.push(Diagnostic::new(
                        Kind::RegisterOverlap,
                        self.registers[b].span,
                        format!(
                            "register `{}` at {start:#x}..{end:#x} overlaps register `{}` at {ls:#x}..{le:#x}",
                            self.registers[b].path(),
                            self.registers[a].path()
                        ),
                    ));
                }
            }
            if last.is_none_or(|(_, le, _)| end > le) {
                last = Some((start, end, i));
            }
            if !win.is_empty() {
                let idx = win.partition_point(|w| w.offset <= start);
                let inside = idx > 0 && {
                    let w = win[idx - 1];
                    end <= w.offset + w.size
                };
                if !inside && outside.insert(i) {
                    new_diags.push(Diagnostic::new(
                        Kind::OutsideWindow,
                        self.registers[i].span,
                        format!("register `{}` element at {start:#x}..{end:#x} lies outside every device window", self.registers[i].path()),
                    ));
                }
            }
        }
        self.diags.extend(new_diags);
    }

    pub(super) fn aliased(&self, a: usize, b: usize) -> bool {
        let target = |i: usize| self.registers[i].alias.as_ref().map(|x| x.target);
        target(a) == Some(b) || target(b) == Some(a)
    }
}

/// Calls `f` with the absolute offset of every element of `r`.
pub fn for_each_element(r: &Register, f: &mut impl FnMut(u64)) {
    pub(super) fn rec(dims: &[ArrayDim], off: u64, f: &mut impl FnMut(u64)) {
        match dims.split_first() {
            None => f(off),
            Some((d, rest)) => {
                for i in 0..u64::from(d.count) {
                    rec(rest, off.saturating_add(i.saturating_mul(d.stride)), f);
                }
            }
        }
    }
    rec(&r.arrays, r.offset, f);
}
