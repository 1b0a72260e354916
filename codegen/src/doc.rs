//! Map descriptions as documentation text, never code: what a map says
//! goes into `///` comments, so it must not be able to break the build or
//! become a doctest.
//!
//! - Line breaks are the only control characters kept: `\r\n` is a line
//!   break; a lone `\r`, every other control character, the Unicode line
//!   separators, the byte-order mark and the bidirectional-text controls
//!   (which rustc rejects in comments, or which would show other text than
//!   the source holds) are written as a visible escape such as `\u{d}`. A
//!   tab becomes four spaces.
//! - A fenced code block (three or more backticks or tildes at the start of
//!   a line) is kept but marked `text`, whatever language it named, so
//!   rustdoc never compiles or runs it; a fence left open is closed. Any
//!   other run of three backticks or tildes (after a list marker or `>`,
//!   where it could open a nested fence) is backslash-escaped.
//! - Outside fences, runs of four or more spaces shrink to three, so no line
//!   (and nothing after a list marker or `>`) becomes an indented code block,
//!   which rustdoc would also run.
//! - Outside fences and inline code spans, `[` and `]` are
//!   backslash-escaped: map text such as "address bits `[55:12]`" would
//!   otherwise be read as an intra-doc link, which `cargo doc` with
//!   `-D warnings` rejects (and which could never name a Rust item the map
//!   author meant).
//! - Trailing blanks and leading and trailing empty lines are dropped.

/// The lines of `text` as documentation (see the module docs).
pub fn lines(text: &str) -> Vec<String> {
    let text = text.replace("\r\n", "\n");
    let mut out: Vec<String> = Vec::new();
    let mut fence: Option<(char, usize)> = None;
    for raw in text.split('\n') {
        let line = escape(raw);
        if let Some((c, n)) = fence {
            let t = line.trim_start_matches(' ');
            if line.len() - t.len() < 4 && closes(t, c, n) {
                fence = None;
            }
            out.push(line.trim_end().to_string());
            continue;
        }
        let line = collapse_spaces(&line);
        let t = line.trim_start_matches(' ');
        let indent = &line[..line.len() - t.len()];
        if let Some((c, n)) = fence_marker(t) {
            fence = Some((c, n));
            out.push(format!("{indent}{}text", c.to_string().repeat(n)));
            continue;
        }
        out.push(
            escape_brackets(&escape_fences(&line))
                .trim_end()
                .to_string(),
        );
    }
    if let Some((c, n)) = fence {
        out.push(c.to_string().repeat(n));
    }
    while out.last().is_some_and(|l| l.is_empty()) {
        out.pop();
    }
    let first = out.iter().position(|l| !l.is_empty()).unwrap_or(out.len());
    out.drain(..first);
    out
}

/// The fence character and length if `line` starts a fenced block.
fn fence_marker(line: &str) -> Option<(char, usize)> {
    let c = line.chars().next().filter(|c| *c == '`' || *c == '~')?;
    let n = line.chars().take_while(|x| *x == c).count();
    // A backtick fence's info string may not contain backticks.
    if n < 3 || (c == '`' && line[n..].contains('`')) {
        return None;
    }
    Some((c, n))
}

/// Whether `line` (indentation removed) closes a fence of `n` `c`s.
fn closes(line: &str, c: char, n: usize) -> bool {
    let run = line.chars().take_while(|x| *x == c).count();
    run >= n && line[run..].trim().is_empty()
}

/// Runs of four or more spaces shortened to three.
fn collapse_spaces(line: &str) -> String {
    let mut out = String::with_capacity(line.len());
    let mut run = 0;
    for c in line.chars() {
        if c == ' ' {
            run += 1;
            if run > 3 {
                continue;
            }
        } else {
            run = 0;
        }
        out.push(c);
    }
    out
}

/// Runs of three or more backticks or tildes, backslash-escaped.
fn escape_fences(line: &str) -> String {
    let chars: Vec<char> = line.chars().collect();
    let mut out = String::with_capacity(line.len());
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        let run = chars[i..].iter().take_while(|x| **x == c).count();
        if (c == '`' || c == '~') && run >= 3 {
            for _ in 0..run {
                out.push('\\');
                out.push(c);
            }
        } else {
            out.extend(&chars[i..i + run]);
        }
        i += run;
    }
    out
}

/// `[` and `]` backslash-escaped, except inside an inline code span (a run
/// of backticks closed by a run of the same length on the line) and where
/// the text already escapes them.
fn escape_brackets(line: &str) -> String {
    let chars: Vec<char> = line.chars().collect();
    let mut out = String::with_capacity(line.len() + 4);
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        if c == '\\' {
            // An escape: the next character stays as the author wrote it.
            out.extend(&chars[i..(i + 2).min(chars.len())]);
            i += 2;
            continue;
        }
        if c == '`' {
            let run = chars[i..].iter().take_while(|x| **x == '`').count();
            let close = (i + run..chars.len()).find(|&j| {
                chars[j] == '`'
                    && chars[j - 1] != '`'
                    && chars[j..].iter().take_while(|x| **x == '`').count() == run
            });
            // A span: copied whole; an unmatched run is literal backticks.
            let end = close.map_or(i + run, |j| j + run);
            out.extend(&chars[i..end]);
            i = end;
            continue;
        }
        if c == '[' || c == ']' {
            out.push('\\');
        }
        out.push(c);
        i += 1;
    }
    out
}

/// Characters rustc rejects in comments, or that would make the comment
/// show other text than the source holds.
fn is_unsafe(c: char) -> bool {
    c.is_control()
        || matches!(
            c,
            '\u{200e}' | '\u{200f}' | '\u{2028}' | '\u{2029}' | '\u{feff}'
                | '\u{202a}'..='\u{202e}'
                | '\u{2066}'..='\u{2069}'
        )
}

fn escape(line: &str) -> String {
    let mut out = String::with_capacity(line.len());
    for c in line.chars() {
        match c {
            '\t' => out.push_str("    "),
            c if is_unsafe(c) => out.push_str(&format!("\\u{{{:x}}}", c as u32)),
            c => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fences_become_text_and_close() {
        let d = lines("Intro.\n```rust\npanic!();\n```\n~~~~\nx\n~~~~\n  ```\nopen");
        assert_eq!(
            d,
            [
                "Intro.",
                "```text",
                "panic!();",
                "```",
                "~~~~text",
                "x",
                "~~~~",
                "  ```text",
                "open",
                "```"
            ]
        );
    }

    #[test]
    fn nested_fences_are_escaped() {
        assert_eq!(lines("- ```\n> ~~~ x"), ["- \\`\\`\\`", "> \\~\\~\\~ x"]);
        assert_eq!(lines("`a` ``b``"), ["`a` ``b``"]);
    }

    #[test]
    fn no_indented_code_and_no_control_characters() {
        let d = lines("a\n\n        let x = 1;\n>     y\n\tb\r\nc\rd\u{202e}e\u{0}  \n\n");
        assert_eq!(
            d,
            [
                "a",
                "",
                "   let x = 1;",
                ">   y",
                "   b",
                "c\\u{d}d\\u{202e}e\\u{0}"
            ]
        );
        assert!(lines("").is_empty());
        // An indented fence is not kept as code either.
        assert_eq!(
            lines("        ```\n        x"),
            ["   ```text", "        x", "```"]
        );
    }

    #[test]
    fn brackets_are_text_outside_code() {
        assert_eq!(
            lines("bits [55:12] of `a[i]`, ``b[`]`` and \\[x\\]"),
            ["bits \\[55:12\\] of `a[i]`, ``b[`]`` and \\[x\\]"]
        );
        // An unmatched backtick opens no span; a fence's body is untouched.
        assert_eq!(lines("` [n]"), ["` \\[n\\]"]);
        assert_eq!(lines("```\n[x]\n```"), ["```text", "[x]", "```"]);
    }

    #[test]
    fn inside_a_fence_indentation_is_kept() {
        let d = lines("```\n    indented\n```");
        assert_eq!(d, ["```text", "    indented", "```"]);
    }
}
