//! Pending node edits to text edits: block mappings edited in place, list
//! items as whole lines, changed flow mappings written again.

use std::collections::BTreeMap;

use super::*;
use crate::tables::yaml::NodeKind;

impl<'a> Importer<'a> {
    pub(super) fn lower(&mut self) {
        let nes = std::mem::take(&mut self.node_edits);
        // Later nodes first: when an inner list's append and an outer
        // list's insertion meet at one point (the end of the inner list's
        // last line), the inner one must come first. A node nested in
        // another rewritten node would give overlapping edits; the planner
        // never produces that, and `apply` refuses it.
        for (_, ne) in nes.into_iter().rev() {
            if ne.node.flow {
                self.lower_flow(ne);
            } else {
                self.lower_block(ne);
            }
        }
    }

    pub(super) fn verbatim(&self, key: &Node, value: &Node) -> Result<Y, String> {
        let s = yaml::value_start(self.text, key, value);
        let t = &self.text[s..value.end];
        if t.contains('\n') {
            // A multi-line scalar inside a mapping being rewritten: write its value.
            match value.scalar() {
                Some(v) => Ok(Y::S(yaml::string(v))),
                None => Err(format!(
                    "cannot rewrite the mapping at byte {}: `{}` spans several lines",
                    key.start,
                    key.scalar().unwrap_or("")
                )),
            }
        } else {
            Ok(Y::R(t.to_string()))
        }
    }

    pub(super) fn apply_list_ops(&self, items: &[Node], ops: Vec<ItemOp>) -> Vec<Y> {
        let mut out: Vec<Option<Y>> = items
            .iter()
            .map(|n| Some(Y::R(self.text[n.start..n.end].to_string())))
            .collect();
        let mut inserts_before: BTreeMap<usize, Vec<Y>> = BTreeMap::new();
        let mut tail = Vec::new();
        for op in ops {
            match op {
                ItemOp::Replace(i, y, _) => {
                    if let Some(slot) = out.get_mut(i) {
                        *slot = Some(y);
                    }
                }
                ItemOp::Remove(i, _) => {
                    if let Some(slot) = out.get_mut(i) {
                        *slot = None;
                    }
                }
                ItemOp::Insert(Some(i), y, _) if i < items.len() => {
                    inserts_before.entry(i).or_default().push(y)
                }
                ItemOp::Insert(_, y, _) => tail.push(y),
            }
        }
        let mut res = Vec::new();
        for (i, slot) in out.into_iter().enumerate() {
            if let Some(ins) = inserts_before.remove(&i) {
                res.extend(ins);
            }
            res.extend(slot);
        }
        res.extend(tail);
        res
    }

    pub(super) fn lower_flow(&mut self, ne: NodeEdit) {
        let NodeKind::Map(entries) = &ne.node.kind else {
            self.internal("a flow edit on a node that is not a mapping");
            return;
        };
        let mut es: Vec<(String, Y)> = Vec::new();
        for (k, v) in entries {
            let key = k.scalar().unwrap_or("").to_string();
            match self.verbatim(k, v) {
                Ok(y) => es.push((key, y)),
                Err(e) => {
                    self.internal(&e);
                    return;
                }
            }
        }
        es.retain(|(k, _)| !ne.remove.contains(k));
        for (key, y, _) in ne.set {
            put(&mut es, ne.order, key, y);
        }
        for (key, ops) in ne.lists {
            let items = ne
                .node
                .get(&key)
                .map(|n| n.items().to_vec())
                .unwrap_or_default();
            let list = self.apply_list_ops(&items, ops);
            put(&mut es, ne.order, key, Y::L(list));
        }
        let y = Y::M(es);
        let text = if ne.node.in_flow {
            y.flow()
        } else {
            y.block_item(yaml::column(self.text, ne.node.start))
        };
        self.edits.push(Edit {
            start: ne.node.start,
            end: ne.node.end,
            text,
            origin: ne.origin,
        });
    }

    pub(super) fn lower_block(&mut self, ne: NodeEdit) {
        let text = self.text;
        let col = yaml::column(text, ne.node.start);
        let indent = " ".repeat(col);
        let present = ne.node.keys();
        // Where a new key goes: after the nearest present key before it in
        // the canonical order, else after the last key.
        let insert_at = |key: &str| -> usize {
            let pos = ne
                .order
                .iter()
                .position(|k| *k == key)
                .unwrap_or(ne.order.len());
            let pred = ne.order[..pos].iter().rev().find(|k| present.contains(k));
            let (_, v) = match pred.and_then(|k| ne.node.entry(k)) {
                Some(e) => e,
                None => match &ne.node.kind {
                    NodeKind::Map(es) => match es.last() {
                        Some((k, v)) => (k, v),
                        None => return ne.node.end,
                    },
                    _ => return ne.node.end,
                },
            };
            yaml::line_end(text, v.end)
        };
        let mut new_edits = Vec::new();
        for key in &ne.remove {
            if let Some((k, v)) = ne.node.entry(key) {
                let (s, e) = lines_of(text, k.start, v.end);
                new_edits.push(edit(s, e, String::new(), ne.origin.clone()));
            }
        }
        // New keys go in canonical order, so several inserted at one point read well.
        let rank = |k: &str| ne.order.iter().position(|o| *o == k).unwrap_or(usize::MAX);
        let mut new_keys: Vec<(usize, Edit<Origin>)> = Vec::new();
        let new_key = |key: &str, y: &Y, origin: Origin| {
            let at = insert_at(key);
            let t = Text::from(format!("\n{indent}{key}:")).and(y.block_value(col));
            (rank(key), edit(at, at, t, origin))
        };
        for (key, y, o) in ne.set {
            match ne.node.entry(&key) {
                Some((k, v)) => {
                    if y.is_list() {
                        let t = Text::from(":").and(y.block_value(col));
                        new_edits.push(edit(k.end, v.end, t, o));
                        continue;
                    }
                    let s = yaml::value_start(text, k, v);
                    new_edits.push(edit(s, v.end, y.flow(), o));
                }
                None => new_keys.push(new_key(&key, &y, o)),
            }
        }
        for (key, ops) in ne.lists {
            match ne.node.entry(&key) {
                Some((_, list)) if !list.flow => {
                    let items = list.items();
                    let dash = yaml::column(text, list.start);
                    for op in ops {
                        match op {
                            ItemOp::Replace(i, y, o) => {
                                if let Some(it) = items.get(i) {
                                    let c = yaml::column(text, it.start);
                                    new_edits.push(edit(it.start, it.end, y.block_item(c), o));
                                }
                            }
                            ItemOp::Remove(i, o) => {
                                if let Some(it) = items.get(i) {
                                    let (s, e) = lines_of(text, it.start, it.end);
                                    new_edits.push(edit(s, e, String::new(), o));
                                }
                            }
                            ItemOp::Insert(Some(i), y, o) if i < items.len() => {
                                // At the end of the line before the item: an
                                // insertion and a removal of that item then
                                // meet without overlapping.
                                let at = yaml::prev_line_end(text, items[i].start);
                                let t = Text::from(format!("\n{}- ", " ".repeat(dash)))
                                    .and(y.block_item(dash + 2));
                                new_edits.push(edit(at, at, t, o));
                            }
                            ItemOp::Insert(_, y, o) => {
                                let at = yaml::line_end(text, list.end);
                                let t = Text::from(format!("\n{}- ", " ".repeat(dash)))
                                    .and(y.block_item(dash + 2));
                                new_edits.push(edit(at, at, t, o));
                            }
                        }
                    }
                }
                Some((k, list)) => {
                    // A flow list: written again as a block list.
                    let items = self.apply_list_ops(list.items(), ops);
                    let y = Y::L(items);
                    let t = if list.in_flow || y.is_empty_list() {
                        Text::from(": ").and(y.flow())
                    } else {
                        Text::from(":").and(y.block_value(col))
                    };
                    new_edits.push(edit(k.end, list.end, t, ne.origin.clone()));
                }
                None => {
                    let y = Y::L(self.apply_list_ops(&[], ops));
                    new_keys.push(new_key(&key, &y, ne.origin.clone()));
                }
            }
        }
        new_keys.sort_by_key(|(r, e)| (e.start, *r));
        new_edits.extend(new_keys.into_iter().map(|(_, e)| e));
        self.edits.extend(new_edits);
    }
}

/// A pending rewrite of one YAML mapping node.
pub(super) struct NodeEdit {
    pub(super) node: Node,
    pub(super) order: &'static [&'static str],
    pub(super) origin: Origin,
    pub(super) set: Vec<(String, Y, Origin)>,
    pub(super) remove: Vec<String>,
    pub(super) lists: Vec<(String, Vec<ItemOp>)>,
}

/// An operation on a list (sequence) of a mapping.
pub(super) enum ItemOp {
    Replace(usize, Y, Origin),
    Remove(usize, Origin),
    /// Insert before item `Some(i)`, or at the end.
    Insert(Option<usize>, Y, Origin),
}

pub(super) const REG_ORDER: &[&str] = &[
    "name",
    "offset",
    "width",
    "access",
    "reset",
    "count",
    "stride",
    "description",
    "fieldset",
    "fields",
    "alias",
    "on_write",
    "on_read",
];
pub(super) const BLOCK_ORDER: &[&str] = &[
    "name",
    "offset",
    "count",
    "stride",
    "description",
    "alias",
    "index_map",
    "registers",
    "blocks",
];
pub(super) const ENUM_ORDER: &[&str] = &["name", "description", "bits", "values"];
pub(super) const FIELDSET_ORDER: &[&str] = &["name", "description", "width", "fields"];
pub(super) const ROOT_ORDER: &[&str] = &[
    "device",
    "hooks",
    "enums",
    "fieldsets",
    "registers",
    "blocks",
    "structs",
];

fn edit(start: usize, end: usize, text: impl Into<Text>, origin: Origin) -> Edit<Origin> {
    Edit {
        start,
        end,
        text: text.into(),
        origin,
    }
}

/// Sets `key` in an entry list, keeping the canonical order for a new key.
pub(super) fn put(es: &mut Vec<(String, Y)>, order: &[&str], key: String, y: Y) {
    if let Some(slot) = es.iter_mut().find(|(k, _)| *k == key) {
        slot.1 = y;
        return;
    }
    if y.is_list() {
        // A block list reads best after the mapping's one-line keys.
        es.push((key, y));
        return;
    }
    let rank = |k: &str| order.iter().position(|o| *o == k).unwrap_or(usize::MAX);
    let r = rank(&key);
    let at = es.iter().position(|(k, _)| rank(k) > r).unwrap_or(es.len());
    es.insert(at, (key, y));
}

/// The byte range removing the whole lines from `start` to `end`: from the
/// line break before them to the end of the last line, so that text
/// inserted at either end of the range never overlaps it.
fn lines_of(text: &str, start: usize, end: usize) -> (usize, usize) {
    let e = yaml::line_end(text, end);
    if yaml::line_start(text, start) == 0 {
        let next = text[e..].find('\n').map_or(text.len(), |i| e + i + 1);
        (0, next)
    } else {
        (yaml::prev_line_end(text, start), e)
    }
}
