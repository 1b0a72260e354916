//! Where each node of a map's YAML text is, and edits that change some
//! nodes while copying every other byte (comments, blank lines, ordering,
//! quoting) unchanged.
//!
//! The tree comes from the YAML parser's events and their byte spans; only
//! positions and scalar values are kept. Edits replace, insert or delete
//! byte ranges: a value of a block mapping is replaced in place, a new key
//! goes on its own line after its predecessor, list items are inserted,
//! replaced or removed whole lines at a time. A flow mapping (`{ ... }` on
//! one line) that changes is written again as a whole; the nodes inside it
//! that did not change are copied verbatim.

use std::fmt::Write as _;

use granit_parser::{Event, Parser, StructureStyle};

/// A node of the YAML text.
#[derive(Clone, Debug)]
pub(crate) struct Node {
    pub kind: NodeKind,
    /// Written in flow style (`{}` / `[]`), or a scalar inside one.
    pub flow: bool,
    /// Sits inside a flow collection (so it must be written on one line).
    pub in_flow: bool,
    /// Byte offset of the node's first character (first key, first `-`,
    /// opening bracket, or scalar text).
    pub start: usize,
    /// Byte offset just past its last character (trailing blanks excluded).
    pub end: usize,
}

/// What a node is.
#[derive(Clone, Debug)]
pub(crate) enum NodeKind {
    /// A scalar and its value.
    Scalar(String),
    /// A mapping: (key, value) pairs in order.
    Map(Vec<(Node, Node)>),
    /// A sequence.
    Seq(Vec<Node>),
}

impl Node {
    /// The value of `key` in a mapping.
    pub fn get(&self, key: &str) -> Option<&Node> {
        self.entry(key).map(|(_, v)| v)
    }

    /// The (key, value) entry of `key` in a mapping.
    pub fn entry(&self, key: &str) -> Option<(&Node, &Node)> {
        match &self.kind {
            NodeKind::Map(es) => es
                .iter()
                .find(|(k, _)| k.scalar() == Some(key))
                .map(|(k, v)| (k, v)),
            _ => None,
        }
    }

    /// The scalar's value.
    pub fn scalar(&self) -> Option<&str> {
        match &self.kind {
            NodeKind::Scalar(s) => Some(s),
            _ => None,
        }
    }

    /// A sequence's items (empty for any other node).
    pub fn items(&self) -> &[Node] {
        match &self.kind {
            NodeKind::Seq(v) => v,
            _ => &[],
        }
    }

    /// The item of a sequence whose `name` key is `name`, with its index.
    pub fn item_named(&self, name: &str) -> Option<(usize, &Node)> {
        self.items()
            .iter()
            .enumerate()
            .find(|(_, n)| n.get("name").and_then(Node::scalar) == Some(name))
    }

    /// The mapping's keys, in order.
    pub fn keys(&self) -> Vec<&str> {
        match &self.kind {
            NodeKind::Map(es) => es.iter().filter_map(|(k, _)| k.scalar()).collect(),
            _ => Vec::new(),
        }
    }
}

/// Parses `text` into its node tree. Anchors, aliases and tags are refused:
/// the maps do not use them and an edit could not keep their meaning.
pub(crate) fn parse(text: &str) -> Result<Node, String> {
    let mut parser = Parser::new_from_str(text);
    enum Open {
        Map(bool, usize, Vec<Node>),
        Seq(bool, usize, Vec<Node>),
    }
    let mut stack: Vec<Open> = Vec::new();
    let mut root: Option<Node> = None;
    let bytes = |m: &granit_parser::Marker| m.byte_offset().unwrap_or(0).min(text.len());
    while let Some(ev) = parser.next_event() {
        let (ev, span) = ev.map_err(|e| e.to_string())?;
        let (s, e) = (bytes(&span.start), bytes(&span.end));
        let line = span.start.line();
        let done: Option<Node> = match ev {
            Event::Scalar(v, _, anchor, tag) => {
                if anchor != 0 || tag.is_some() {
                    return Err(format!(
                        "line {line}: anchors and tags are not supported by the map editor"
                    ));
                }
                let end = s + text[s..e.max(s)].trim_end().len();
                Some(Node {
                    kind: NodeKind::Scalar(v.into_owned()),
                    flow: false,
                    in_flow: false,
                    start: s,
                    end,
                })
            }
            Event::MappingStart(_, anchor, tag) | Event::SequenceStart(_, anchor, tag)
                if anchor != 0 || tag.is_some() =>
            {
                return Err(format!(
                    "line {line}: anchors and tags are not supported by the map editor"
                ));
            }
            Event::MappingStart(style, ..) => {
                stack.push(Open::Map(style == StructureStyle::Flow, s, Vec::new()));
                None
            }
            Event::SequenceStart(style, ..) => {
                stack.push(Open::Seq(style == StructureStyle::Flow, s, Vec::new()));
                None
            }
            Event::MappingEnd => match stack.pop() {
                Some(Open::Map(flow, start, kids)) => {
                    let end = if flow {
                        e
                    } else {
                        kids.last().map_or(start, |k| k.end)
                    };
                    let mut it = kids.into_iter();
                    let mut pairs = Vec::new();
                    while let (Some(k), Some(v)) = (it.next(), it.next()) {
                        pairs.push((k, v));
                    }
                    Some(Node {
                        kind: NodeKind::Map(pairs),
                        flow,
                        in_flow: false,
                        start,
                        end,
                    })
                }
                _ => return Err("unbalanced mapping".into()),
            },
            Event::SequenceEnd => match stack.pop() {
                Some(Open::Seq(flow, start, kids)) => {
                    let end = if flow {
                        e
                    } else {
                        kids.last().map_or(start, |k| k.end)
                    };
                    Some(Node {
                        kind: NodeKind::Seq(kids),
                        flow,
                        in_flow: false,
                        start,
                        end,
                    })
                }
                _ => return Err("unbalanced sequence".into()),
            },
            Event::Alias(_) | Event::UnresolvedAlias(_) | Event::Anchor(..) => {
                return Err(format!(
                    "line {line}: aliases are not supported by the map editor"
                ))
            }
            Event::DocumentStart(..) if root.is_some() => {
                return Err("the map holds more than one YAML document".into())
            }
            _ => None,
        };
        if let Some(mut n) = done {
            let in_flow = matches!(
                stack.last(),
                Some(Open::Map(true, ..) | Open::Seq(true, ..))
            );
            n.flow |= in_flow;
            n.in_flow = in_flow;
            match stack.last_mut() {
                Some(Open::Map(_, _, kids) | Open::Seq(_, _, kids)) => kids.push(n),
                None => root = Some(n),
            }
        }
    }
    root.ok_or_else(|| "the map is empty".into())
}

/// Byte offset of the start of the line holding `pos`.
pub(crate) fn line_start(text: &str, pos: usize) -> usize {
    text[..pos].rfind('\n').map_or(0, |i| i + 1)
}

/// Byte offset of the end of the line holding `pos`: its line break
/// (`\n`, or the `\r` of `\r\n`), or the end of the text.
pub(crate) fn line_end(text: &str, pos: usize) -> usize {
    let e = text[pos..].find('\n').map_or(text.len(), |i| pos + i);
    if text[..e].ends_with('\r') {
        e - 1
    } else {
        e
    }
}

/// Byte offset of the line break ending the line before the one holding
/// `pos` (0 on the first line).
pub(crate) fn prev_line_end(text: &str, pos: usize) -> usize {
    let s = line_start(text, pos);
    if s == 0 {
        0
    } else {
        line_end(text, s - 1)
    }
}

/// Column (0-based, in characters) of `pos`.
pub(crate) fn column(text: &str, pos: usize) -> usize {
    text[line_start(text, pos)..pos].chars().count()
}

/// Where the value of a mapping entry starts in the text: right after
/// `key:` and its blanks when the value is on the same line (this covers a
/// block scalar's `>-` indicator, which the parser's span skips), else the
/// value node itself.
pub(crate) fn value_start(text: &str, key: &Node, value: &Node) -> usize {
    let rest = &text[key.end..value.start.max(key.end)];
    match rest.find(':') {
        Some(i) => {
            let after = key.end + i + 1;
            let blanks = text[after..]
                .find(|c: char| c != ' ' && c != '\t')
                .map_or(text.len() - after, |j| j);
            let p = after + blanks;
            if text[p..].starts_with('\n') || text[p..].starts_with('\r') {
                value.start
            } else {
                p.min(value.start)
            }
        }
        None => value.start,
    }
}

/// Text to write, with marks saying which parts came from which origin.
#[derive(Clone, Debug)]
pub(crate) struct Text<O> {
    pub s: String,
    /// (byte offset in `s`, mark), in order.
    pub marks: Vec<(usize, Mark<O>)>,
}

/// Where a part of a [`Text`] starts or ends.
#[derive(Clone, Debug)]
pub(crate) enum Mark<O> {
    /// What follows came from this origin...
    Start(O),
    /// ...up to here.
    End,
}

impl<O> Text<O> {
    pub fn push_str(&mut self, s: &str) {
        self.s.push_str(s);
    }
    /// Appends `other`, its marks moved along.
    pub fn append(&mut self, other: Text<O>) {
        let base = self.s.len();
        self.s.push_str(&other.s);
        self.marks
            .extend(other.marks.into_iter().map(|(p, m)| (p + base, m)));
    }
    /// `self` followed by `other`.
    pub fn and(mut self, other: Text<O>) -> Text<O> {
        self.append(other);
        self
    }
}

impl<O> From<String> for Text<O> {
    fn from(s: String) -> Self {
        Text {
            s,
            marks: Vec::new(),
        }
    }
}

impl<O> From<&str> for Text<O> {
    fn from(s: &str) -> Self {
        Text::from(s.to_string())
    }
}

/// One change to the text: replace `start..end` with `text`.
#[derive(Clone, Debug)]
pub(crate) struct Edit<O> {
    pub start: usize,
    pub end: usize,
    pub text: Text<O>,
    /// What asked for the change (a table row), for diagnostics; marks in
    /// `text` name the origins of its parts.
    pub origin: O,
}

/// Where a line of edited text came from.
#[derive(Clone, Debug, PartialEq)]
pub(crate) enum LineOrigin<O> {
    /// Unchanged line `n` (1-based) of the original text.
    Original(usize),
    /// Written or changed by an edit.
    Edit(O),
}

/// Applies `edits` (any order; ranges must not overlap, insertions at one
/// point keep their order) and returns the new text with the origin of each
/// of its lines: an unchanged line's number in the original, or for a line
/// an edit wrote, the origin of the first part starting on it (else of the
/// part it is inside, else the edit's).
pub(crate) fn apply<O: Clone>(
    text: &str,
    mut edits: Vec<Edit<O>>,
) -> Result<(String, Vec<LineOrigin<O>>), String> {
    edits.sort_by_key(|e| (e.start, e.end));
    for w in edits.windows(2) {
        if w[0].end > w[1].start {
            return Err(format!(
                "internal: overlapping edits at bytes {}..{} and {}..{}",
                w[0].start, w[0].end, w[1].start, w[1].end
            ));
        }
    }
    // Written lines end like the text's own.
    let nl = if text.contains("\r\n") { "\r\n" } else { "\n" };
    let mut out = String::with_capacity(text.len() + 1024);
    let mut origins: Vec<LineOrigin<O>> = vec![LineOrigin::Original(1)];
    let mut orig_line = 1usize;
    let mut pos = 0usize;
    // Copies original text, advancing lines.
    let copy =
        |out: &mut String, origins: &mut Vec<LineOrigin<O>>, orig_line: &mut usize, s: &str| {
            for (i, part) in s.split('\n').enumerate() {
                if i > 0 {
                    out.push('\n');
                    *orig_line += 1;
                    origins.push(LineOrigin::Original(*orig_line));
                }
                out.push_str(part);
            }
        };
    for e in edits {
        copy(&mut out, &mut origins, &mut orig_line, &text[pos..e.start]);
        // Lines of the original consumed by the replaced range.
        orig_line += text[e.start..e.end].matches('\n').count();
        let line_end_at = |p: usize| {
            p == text.len() || text[p..].starts_with('\n') || text[p..].starts_with("\r\n")
        };
        let line_start_at = |p: usize| p == 0 || text[..p].ends_with('\n');
        let removes_lines = e.text.s.is_empty()
            && ((line_start_at(e.start) && text[..e.end].ends_with('\n'))
                || ((text[e.start..].starts_with('\n') || text[e.start..].starts_with("\r\n"))
                    && line_end_at(e.end)));
        if removes_lines {
            let last = origins.last_mut().expect("origins start with one line");
            if line_start_at(e.start) && matches!(last, LineOrigin::Original(_)) {
                // The line now starting here is the original line after the range.
                *last = LineOrigin::Original(orig_line);
            }
            pos = e.end;
            continue;
        }
        // Origins of the edit's lines: a stack of open parts over the edit's own.
        let mut stack = vec![e.origin.clone()];
        let mut marks = e.text.marks.iter().peekable();
        let mut offset = 0usize;
        for (i, part) in e.text.s.split('\n').enumerate() {
            let end = offset + part.len();
            let mut first_start = None;
            let at_line_start = stack.last().cloned();
            while let Some((p, m)) = marks.peek() {
                if *p > end {
                    break;
                }
                match m {
                    Mark::Start(o) => {
                        first_start.get_or_insert_with(|| o.clone());
                        stack.push(o.clone());
                    }
                    Mark::End => {
                        if stack.len() > 1 {
                            stack.pop();
                        }
                    }
                }
                marks.next();
            }
            let had_start = first_start.is_some();
            let line_origin = first_start
                .or(at_line_start)
                .unwrap_or_else(|| e.origin.clone());
            if i > 0 {
                out.push_str(nl);
                origins.push(LineOrigin::Edit(line_origin));
            } else if let Some(l) = origins.last_mut() {
                // The first line joins the current one: it becomes the
                // edit's unless an earlier edit claimed it already.
                if had_start || (!part.is_empty() && matches!(l, LineOrigin::Original(_))) {
                    *l = LineOrigin::Edit(line_origin);
                }
            }
            out.push_str(part);
            offset = end + 1;
        }
        pos = e.end;
    }
    copy(&mut out, &mut origins, &mut orig_line, &text[pos..]);
    Ok((out, origins))
}

/// A YAML value to write: scalars already rendered, or collections; `At`
/// marks a part that comes from an origin (a table row).
#[derive(Clone, Debug)]
pub(crate) enum Y<O> {
    /// A scalar's text as it goes into the file (quoted if needed).
    S(String),
    /// A mapping, keys in order.
    M(Vec<(String, Y<O>)>),
    /// A sequence.
    L(Vec<Y<O>>),
    /// Text copied verbatim from the map (one line).
    R(String),
    /// A value and where it comes from.
    At(O, Box<Y<O>>),
}

impl<O: Clone> Y<O> {
    /// The value without its origin marks.
    fn inner(&self) -> &Y<O> {
        match self {
            Y::At(_, y) => y.inner(),
            y => y,
        }
    }

    fn has_list(&self) -> bool {
        match self.inner() {
            Y::M(es) => es
                .iter()
                .any(|(_, v)| matches!(v.inner(), Y::L(items) if !items.is_empty())),
            _ => false,
        }
    }

    /// Whether this is an empty list.
    pub fn is_empty_list(&self) -> bool {
        matches!(self.inner(), Y::L(items) if items.is_empty())
    }

    /// Whether this is a non-empty list.
    pub fn is_list(&self) -> bool {
        matches!(self.inner(), Y::L(items) if !items.is_empty())
    }

    fn marked(&self, t: &mut Text<O>, f: impl FnOnce(&Y<O>, &mut Text<O>)) {
        match self {
            Y::At(o, y) => {
                t.marks.push((t.s.len(), Mark::Start(o.clone())));
                y.marked(t, f);
                t.marks.push((t.s.len(), Mark::End));
            }
            y => f(y, t),
        }
    }

    fn flow_into(&self, t: &mut Text<O>) {
        self.marked(t, |y, t| match y {
            Y::S(s) | Y::R(s) => t.push_str(s),
            Y::M(es) => {
                t.push_str("{ ");
                for (i, (k, v)) in es.iter().enumerate() {
                    if i > 0 {
                        t.push_str(", ");
                    }
                    t.push_str(k);
                    t.push_str(": ");
                    v.flow_into(t);
                }
                t.push_str(" }");
            }
            Y::L(items) if items.is_empty() => t.push_str("[]"),
            Y::L(items) => {
                t.push_str("[ ");
                for (i, it) in items.iter().enumerate() {
                    if i > 0 {
                        t.push_str(", ");
                    }
                    it.flow_into(t);
                }
                t.push_str(" ]");
            }
            Y::At(..) => unreachable!("marked() unwraps At"),
        })
    }

    fn block_item_into(&self, col: usize, t: &mut Text<O>) {
        if !self.has_list() {
            return self.flow_into(t);
        }
        self.marked(t, |y, t| {
            if let Y::M(es) = y {
                for (i, (k, v)) in es.iter().enumerate() {
                    if i > 0 {
                        t.push_str("\n");
                        t.push_str(&" ".repeat(col));
                    }
                    t.push_str(k);
                    t.push_str(":");
                    v.block_value_into(col, t);
                }
            }
        })
    }

    fn block_value_into(&self, col: usize, t: &mut Text<O>) {
        if !self.is_list() {
            t.push_str(" ");
            return self.flow_into(t);
        }
        self.marked(t, |y, t| {
            if let Y::L(items) = y {
                for it in items {
                    t.push_str("\n");
                    t.push_str(&" ".repeat(col + 2));
                    t.push_str("- ");
                    it.block_item_into(col + 4, t);
                }
            }
        })
    }

    /// The value on one line, flow style.
    pub fn flow(&self) -> Text<O> {
        let mut t = Text::from(String::new());
        self.flow_into(&mut t);
        t
    }

    /// The value as a block sequence item whose content starts at column
    /// `col` (the text after `- `). Mappings holding a list are written as
    /// block mappings, everything else on one line.
    pub fn block_item(&self, col: usize) -> Text<O> {
        let mut t = Text::from(String::new());
        self.block_item_into(col, &mut t);
        t
    }

    /// The text after `key:` for a key at column `col` of a block mapping:
    /// a non-empty list goes below as a block sequence, anything else on
    /// the same line.
    pub fn block_value(&self, col: usize) -> Text<O> {
        let mut t = Text::from(String::new());
        self.block_value_into(col, &mut t);
        t
    }
}

/// A YAML scalar for a string: plain when that reads back as the same
/// string in any context, double-quoted otherwise.
pub(crate) fn string(s: &str) -> String {
    let plain_safe = !s.is_empty()
        && !s.starts_with(|c: char| "-?:,[]{}#&*!|>'\"%@` ".contains(c))
        && !s.ends_with([' ', ':'])
        && !s.contains(": ")
        && !s.contains(" #")
        && !s.contains(|c: char| ",[]{}".contains(c) || c.is_control())
        && !looks_typed(s);
    if plain_safe {
        return s.to_string();
    }
    let mut out = String::from("\"");
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\t' => out.push_str("\\t"),
            '\r' => out.push_str("\\r"),
            c if c.is_control() => {
                let _ = write!(out, "\\u{:04x}", c as u32);
            }
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// Whether a plain scalar `s` would read as something other than a string
/// (number, boolean, null) under YAML 1.1 or 1.2 rules.
fn looks_typed(s: &str) -> bool {
    let l = s.to_ascii_lowercase();
    matches!(
        l.as_str(),
        "true"
            | "false"
            | "yes"
            | "no"
            | "on"
            | "off"
            | "y"
            | "n"
            | "null"
            | "~"
            | ".inf"
            | "-.inf"
            | ".nan"
    ) || s.starts_with(|c: char| c.is_ascii_digit() || c == '+' || c == '.')
}

#[cfg(test)]
mod tests {
    use super::*;

    const T: &str = "# head\nroot:\n  name: d   # trailing\n  description: >-\n    folded\n    text\nlist:\n  - { name: A, bits: 0 }\n  - name: B\n    bits: \"3:1\"\n\n  # between\n  - { name: C, x: [ 1, 2 ] }\n";

    #[test]
    fn positions_cover_each_node() {
        let root = parse(T).unwrap();
        let r = root.get("root").unwrap();
        let (k, v) = r.entry("description").unwrap();
        assert_eq!(&T[value_start(T, k, v)..v.end], ">-\n    folded\n    text");
        let list = root.get("list").unwrap();
        assert_eq!(list.items().len(), 3);
        assert_eq!(
            &T[list.items()[0].start..list.items()[0].end],
            "{ name: A, bits: 0 }"
        );
        let (i, b) = list.item_named("B").unwrap();
        assert_eq!(i, 1);
        assert_eq!(&T[b.start..b.end], "name: B\n    bits: \"3:1\"");
        assert_eq!(
            column(T, list.start),
            2,
            "a block sequence starts at its first dash"
        );
    }

    #[test]
    fn edits_keep_everything_else_and_track_lines() {
        let root = parse(T).unwrap();
        let (k, v) = root.get("root").unwrap().entry("description").unwrap();
        let s = value_start(T, k, v);
        let b = root.get("list").unwrap().item_named("B").unwrap().1;
        let edits = vec![
            Edit {
                start: s,
                end: v.end,
                text: "new".into(),
                origin: 'a',
            },
            Edit {
                start: b.start,
                end: b.end,
                text: "{ name: B, bits: 4 }".into(),
                origin: 'b',
            },
        ];
        let (out, lines) = apply(T, edits).unwrap();
        assert_eq!(
            out,
            "# head\nroot:\n  name: d   # trailing\n  description: new\nlist:\n  - { name: A, bits: 0 }\n  - { name: B, bits: 4 }\n\n  # between\n  - { name: C, x: [ 1, 2 ] }\n"
        );
        assert_eq!(lines[2], LineOrigin::Original(3));
        assert_eq!(lines[3], LineOrigin::Edit('a'));
        assert_eq!(lines[6], LineOrigin::Edit('b'));
        assert_eq!(lines[8], LineOrigin::Original(12), "# between");
    }

    #[test]
    fn strings_are_quoted_when_plain_would_change_them() {
        for (s, plain) in [
            ("Enable the queue", true),
            ("bits [55:6]", false),
            ("a: b", false),
            ("0x10", false),
            ("yes", false),
            ("", false),
            ("say \"x\"\nnext", false),
        ] {
            let y = string(s);
            assert_eq!(y == s, plain, "{s:?} -> {y}");
            let back: String = serde_saphyr::from_str(&format!("v: [ {y} ]\n"))
                .map(|m: std::collections::BTreeMap<String, Vec<String>>| m["v"][0].clone())
                .unwrap();
            assert_eq!(back, s);
        }
    }

    #[test]
    fn rendered_values_parse_and_their_lines_keep_their_origins() {
        let item: Y<char> = Y::At(
            'r',
            Box::new(Y::M(vec![
                ("name".into(), Y::S("T".into())),
                (
                    "values".into(),
                    Y::L(vec![Y::At(
                        'v',
                        Box::new(Y::M(vec![("name".into(), Y::S("Z".into()))])),
                    )]),
                ),
            ])),
        );
        let base = "l:\n  - A\n";
        let at = base.len() - 1;
        let text = Text::from("\n  - ").and(item.block_item(4));
        let (out, lines) = apply(
            base,
            vec![Edit {
                start: at,
                end: at,
                text,
                origin: 'e',
            }],
        )
        .unwrap();
        assert_eq!(
            out,
            "l:\n  - A\n  - name: T\n    values:\n      - { name: Z }\n"
        );
        assert!(parse(&out).is_ok());
        let (o, e) = (LineOrigin::Original, LineOrigin::Edit);
        assert_eq!(lines, [o(1), o(2), e('r'), e('r'), e('v'), o(3)]);
    }
}
