//! "Did you mean" suggestions: the names closest to a misspelt one.
//!
//! Used by the CLI for register and structure names (`regmap decode`) and
//! for command names. Comparison ignores ASCII case, as name lookup does.

/// Edit distance between `a` and `b`, ignoring ASCII case: the fewest
/// insertions, deletions, substitutions and swaps of two adjacent
/// characters that turn one into the other (optimal string alignment). A
/// swap counts as one edit because it is the commonest typo (`CTLR`).
pub fn edit_distance(a: &str, b: &str) -> usize {
    let a: Vec<char> = a.chars().map(|c| c.to_ascii_lowercase()).collect();
    let b: Vec<char> = b.chars().map(|c| c.to_ascii_lowercase()).collect();
    // Three rows of the dynamic-programming table: `row[j]` is the distance
    // between a[..i] and b[..j]; `prev` and `prev2` hold i - 1 and i - 2.
    let mut prev2 = vec![0; b.len() + 1];
    let mut prev: Vec<usize> = (0..=b.len()).collect();
    let mut row = vec![0; b.len() + 1];
    for i in 0..a.len() {
        row[0] = i + 1;
        for j in 0..b.len() {
            let mut d = (prev[j] + usize::from(a[i] != b[j]))
                .min(prev[j + 1] + 1)
                .min(row[j] + 1);
            if i > 0 && j > 0 && a[i] == b[j - 1] && a[i - 1] == b[j] {
                d = d.min(prev2[j - 1] + 1);
            }
            row[j + 1] = d;
        }
        std::mem::swap(&mut prev2, &mut prev);
        std::mem::swap(&mut prev, &mut row);
    }
    prev[b.len()]
}

/// The largest distance still worth suggesting for a name of `len`
/// characters: one typo in a short name, about one in three in a long one
/// (further than that the suggestion is noise).
fn threshold(len: usize) -> usize {
    (len / 3).max(1)
}

/// Up to `max` candidates close to `query`, best first (ties in candidate
/// order). A dotted candidate (`VINTF.SID_MATCH`) also matches by its last
/// segment when the query has no dot, so `SID_MATCH` finds the register
/// inside its block.
pub fn closest<'a>(
    query: &str,
    candidates: impl IntoIterator<Item = &'a str>,
    max: usize,
) -> Vec<&'a str> {
    let limit = threshold(query.chars().count());
    let mut scored: Vec<(usize, usize, &str)> = Vec::new();
    for (order, c) in candidates.into_iter().enumerate() {
        let mut d = edit_distance(query, c);
        if !query.contains('.') {
            if let Some((_, last)) = c.rsplit_once('.') {
                d = d.min(edit_distance(query, last));
            }
        }
        if d <= limit && !scored.iter().any(|&(_, _, s)| s == c) {
            scored.push((d, order, c));
        }
    }
    scored.sort_unstable();
    scored.into_iter().take(max).map(|(_, _, c)| c).collect()
}

/// ` (did you mean `A`, `B`?)`, or nothing when there is no suggestion.
pub fn did_you_mean(suggestions: &[&str]) -> String {
    if suggestions.is_empty() {
        return String::new();
    }
    let list: Vec<String> = suggestions.iter().map(|s| format!("`{s}`")).collect();
    format!(" (did you mean {}?)", list.join(" or "))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn distance_counts_edits_and_ignores_case() {
        assert_eq!(edit_distance("", ""), 0);
        assert_eq!(edit_distance("abc", ""), 3);
        assert_eq!(edit_distance("", "ab"), 2);
        assert_eq!(edit_distance("CR0", "cr0"), 0);
        assert_eq!(edit_distance("kitten", "sitting"), 3);
        assert_eq!(edit_distance("GERROR", "GERRORN"), 1);
        assert_eq!(edit_distance("CR0", "CR1ACK"), 4);
        assert_eq!(edit_distance("CTLR", "CTRL"), 1);
        assert_eq!(edit_distance("ab", "ba"), 1);
        assert_eq!(edit_distance("abc", "ca"), 3);
    }

    #[test]
    fn closest_ranks_by_distance_and_drops_far_names() {
        let names = ["CR0", "CR0ACK", "CR1", "GERROR", "VINTF.SID_MATCH", "IDR0"];
        assert_eq!(closest("CR2", names, 3), ["CR0", "CR1"]);
        assert_eq!(closest("gerorr", names, 3), ["GERROR"]);
        assert_eq!(closest("CRO", names, 3), ["CR0", "CR1"]);
        assert_eq!(closest("SID_MATCH", names, 3), ["VINTF.SID_MATCH"]);
        assert_eq!(closest("VINTF.SID_MACH", names, 3), ["VINTF.SID_MATCH"]);
        assert!(closest("STRTAB_BASE", names, 3).is_empty());
        assert_eq!(closest("CR", names, 1), ["CR0"]);
    }

    #[test]
    fn did_you_mean_lists_suggestions_or_nothing() {
        assert_eq!(did_you_mean(&[]), "");
        assert_eq!(did_you_mean(&["CR0"]), " (did you mean `CR0`?)");
        assert_eq!(
            did_you_mean(&["CR0", "CR1"]),
            " (did you mean `CR0` or `CR1`?)"
        );
    }
}
