//! The offset decode tree. Registers sharing an array dimension (the
//! registers of one block array, or the elements of one register array) form
//! one node reached by stride arithmetic, so 128 VCMDQs are one arm, not 128.
//! Siblings whose address ranges interleave (a register placed in the gap of
//! a block array) are kept apart by exact-offset arms (see the dispatcher
//! emitter); block arrays whose ranges overlap are tried in order.

use std::collections::HashMap;

use super::{Ir, Reg};

/// One level of decoding: candidates matched against an offset relative to
/// the level's base.
#[derive(Clone, Debug, Default)]
pub struct Node {
    /// Candidates sorted by `lo`.
    pub cands: Vec<Cand>,
}

/// A candidate: an inclusive offset interval and what lives there.
#[derive(Clone, Debug)]
pub struct Cand {
    /// First byte.
    pub lo: u64,
    /// Last byte (inclusive).
    pub hi: u64,
    /// What the interval decodes to.
    pub what: What,
}

/// What a candidate decodes to.
#[derive(Clone, Debug)]
pub enum What {
    /// A 32-bit half (or a whole 32-bit register) at exactly `lo`.
    Leaf {
        /// Index into [`Ir::regs`].
        reg: usize,
        /// The high half of a 64-bit register.
        high: bool,
    },
    /// An array: `index = (o - lo) / stride`, then `child` on the remainder.
    Array {
        /// Number of elements.
        count: u32,
        /// Distance between elements.
        stride: u64,
        /// Position of this index among the registers' indices.
        depth: usize,
        /// Decoding inside one element (offsets relative to the element).
        child: Node,
    },
}

impl Cand {
    /// Whether the candidate is an array (matched by a range).
    pub fn is_array(&self) -> bool {
        matches!(self.what, What::Array { .. })
    }
}

/// Keys identifying each array dimension of a register: registers of one
/// block array share the key of that block's dimension.
fn dim_keys(r: &Reg) -> Vec<String> {
    let mut keys = Vec::new();
    let mut p = 0;
    for a in &r.dims {
        match r.blocks[p.min(r.blocks.len())..]
            .iter()
            .position(|b| *b == a.name)
        {
            Some(q) => {
                let q = p + q;
                keys.push(format!("{}#block", r.blocks[..=q].join(".")));
                p = q + 1;
            }
            None => keys.push(format!("{}#reg", r.path)),
        }
    }
    keys
}

/// A register still to place: index into `Ir::regs`, next dimension,
/// offset of its element 0 relative to the node's base.
#[derive(Clone)]
struct Item {
    reg: usize,
    depth: usize,
    rel: u64,
}

/// Builds the decode tree of the device.
pub fn build(ir: &Ir) -> Node {
    let keys: Vec<Vec<String>> = ir.regs.iter().map(dim_keys).collect();
    let items = ir
        .regs
        .iter()
        .enumerate()
        .map(|(i, r)| Item {
            reg: i,
            depth: 0,
            rel: r.offset,
        })
        .collect();
    node(ir, &keys, items)
}

fn node(ir: &Ir, keys: &[Vec<String>], items: Vec<Item>) -> Node {
    let mut cands = Vec::new();
    // Groups of items sharing the key of their next dimension, in first-seen order.
    let mut groups: Vec<(String, Vec<Item>)> = Vec::new();
    let mut group_at: HashMap<String, usize> = HashMap::new();
    for it in items {
        let r = &ir.regs[it.reg];
        if it.depth >= r.dims.len() {
            cands.push(Cand {
                lo: it.rel,
                hi: it.rel.saturating_add(3),
                what: What::Leaf {
                    reg: it.reg,
                    high: false,
                },
            });
            if r.width.bits() == 64 {
                cands.push(Cand {
                    lo: it.rel.saturating_add(4),
                    hi: it.rel.saturating_add(7),
                    what: What::Leaf {
                        reg: it.reg,
                        high: true,
                    },
                });
            }
            continue;
        }
        let key = &keys[it.reg][it.depth];
        match group_at.get(key) {
            Some(&g) => groups[g].1.push(it),
            None => {
                group_at.insert(key.clone(), groups.len());
                groups.push((key.clone(), vec![it]));
            }
        }
    }
    for (_, members) in groups {
        let first = &members[0];
        let dim = ir.regs[first.reg].dims[first.depth].clone();
        let depth = first.depth;
        let base = members.iter().map(|m| m.rel).min().unwrap_or(0);
        let child = node(
            ir,
            keys,
            members
                .iter()
                .map(|m| Item {
                    reg: m.reg,
                    depth: m.depth + 1,
                    rel: m.rel - base,
                })
                .collect(),
        );
        // Saturating like the bounds above: a loaded map's elements end
        // inside 64 bits, but the tree must not trust that.
        let extent = child
            .cands
            .iter()
            .map(|c| c.hi.saturating_add(1))
            .max()
            .unwrap_or(1);
        let span = dim
            .stride
            .saturating_mul(u64::from(dim.count.saturating_sub(1)));
        cands.push(Cand {
            lo: base,
            hi: base.saturating_add(span).saturating_add(extent - 1),
            what: What::Array {
                count: dim.count,
                stride: dim.stride,
                depth,
                child,
            },
        });
    }
    cands.sort_by_key(|c| (c.lo, c.hi));
    Node { cands }
}

impl Node {
    /// Whether any two array candidates' intervals overlap (a leaf inside
    /// an array's interval is not an overlap: it gets its own exact arm).
    pub fn arrays_overlap(&self) -> bool {
        let arrays: Vec<&Cand> = self.cands.iter().filter(|c| c.is_array()).collect();
        arrays.windows(2).any(|w| w[1].lo <= w[0].hi)
    }
}
