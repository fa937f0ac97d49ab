//! Tag and group name validation and normalization.
//!
//! A tag name is any Unicode text, trimmed of surrounding white space, without control
//! characters. `/` separates the levels of a hierarchy (`interest/sports/running`); each
//! level is trimmed too and may not be empty. `group:value` names a value of an exclusive
//! group when `group` is declared exclusive.

use std::borrow::Cow;

use crate::error::{Error, Result};

/// Validates `raw` and returns its normal form: trimmed, each `/` level trimmed, and no white
/// space around the first `:` (so `tier : gold` is `tier:gold`, the same exclusive-group value).
/// Borrows when `raw` is already normal, so the common path does not allocate.
pub(crate) fn normalize_tag(raw: &str) -> Result<Cow<'_, str>> {
    let bad = |reason: String| Error::InvalidTagName { name: raw.to_owned(), reason };
    let name = raw.trim();
    if name.is_empty() {
        return Err(bad("a tag name cannot be empty (hint: give it some text, e.g. \"vip\")".into()));
    }
    if let Some((at, c)) = name.char_indices().find(|&(_, c)| c.is_control() || matches!(c, '\u{2028}' | '\u{2029}')) {
        return Err(bad(format!(
            "contains the control or line-separator character U+{:04X} at byte {} (hint: remove it; tab and newline are not allowed either)",
            c as u32,
            at + (raw.len() - raw.trim_start().len())
        )));
    }
    let mut clean = true;
    for level in name.split('/') {
        if level.trim().is_empty() {
            return Err(bad("has an empty level: '/' separates hierarchy levels, as in \"interest/sports/running\" \
                 (hint: remove the leading, trailing or doubled '/')"
                .into()));
        }
        clean &= level.trim().len() == level.len();
    }
    if let Some((group, value)) = name.split_once(':') {
        clean &= group.trim_end().len() == group.len() && value.trim_start().len() == value.len();
    }
    match (clean, name.len() == raw.len()) {
        (true, true) => Ok(Cow::Borrowed(raw)),
        (true, false) => Ok(Cow::Borrowed(name)),
        (false, _) => {
            let joined = name.split('/').map(str::trim).collect::<Vec<_>>().join("/");
            Ok(Cow::Owned(match joined.split_once(':') {
                Some((group, value)) => format!("{}:{}", group.trim_end(), value.trim_start()),
                None => joined,
            }))
        }
    }
}

/// Validates an exclusive group name: a tag name without `/` or `:`.
pub(crate) fn normalize_group(raw: &str) -> Result<Cow<'_, str>> {
    let name = normalize_tag(raw)?;
    if name.contains(['/', ':']) {
        return Err(Error::InvalidTagName {
            name: raw.to_owned(),
            reason:
                "a group name cannot contain '/' or ':' (its values are tags \"<group>:<value>\", e.g. \"tier:gold\")"
                    .into(),
        });
    }
    Ok(name)
}

/// The parent of a hierarchical name: `a/b` for `a/b/c`, `None` for a top-level name.
pub(crate) fn parent_name(name: &str) -> Option<&str> {
    name.rfind('/').map(|i| &name[..i])
}

/// The group prefix and value of `group:value` (the first `:` splits), if any.
pub(crate) fn split_group(name: &str) -> Option<(&str, &str)> {
    name.split_once(':')
}

/// Edit distance (optimal string alignment: insert, delete, substitute, swap two neighbours)
/// between `a` and `b`, counted in characters; gives up (returns `limit + 1`) past `limit`.
pub(crate) fn edit_distance(a: &str, b: &str, limit: usize) -> usize {
    let a: Vec<char> = a.chars().collect();
    let b: Vec<char> = b.chars().collect();
    if a.len().abs_diff(b.len()) > limit {
        return limit + 1;
    }
    let w = b.len() + 1;
    let mut prev2 = vec![0usize; w];
    let mut prev: Vec<usize> = (0..w).collect();
    let mut cur = vec![0usize; w];
    for i in 1..=a.len() {
        cur[0] = i;
        let mut row_min = cur[0];
        for j in 1..=b.len() {
            let cost = usize::from(a[i - 1] != b[j - 1]);
            let mut d = (prev[j] + 1).min(cur[j - 1] + 1).min(prev[j - 1] + cost);
            if i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1] {
                d = d.min(prev2[j - 2] + 1);
            }
            cur[j] = d;
            row_min = row_min.min(d);
        }
        if row_min > limit {
            return limit + 1;
        }
        std::mem::swap(&mut prev2, &mut prev);
        std::mem::swap(&mut prev, &mut cur);
    }
    prev[b.len()].min(limit + 1)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_trimmed_per_level() {
        assert_eq!(normalize_tag("  High Value ").unwrap(), "High Value");
        assert_eq!(normalize_tag("a / b/ c").unwrap(), "a/b/c");
        assert_eq!(normalize_tag("高消费").unwrap(), "高消费");
        assert_eq!(normalize_tag("a(b)").unwrap(), "a(b)");
        assert!(matches!(normalize_tag("vip").unwrap(), Cow::Borrowed(_)));
        assert_eq!(normalize_tag("tier : gold").unwrap(), "tier:gold");
        assert_eq!(normalize_tag("tier: gold").unwrap(), "tier:gold");
        assert_eq!(normalize_tag("a / b : c d").unwrap(), "a/b:c d");
        assert_eq!(normalize_tag("note: a: b").unwrap(), "note:a: b");
    }

    #[test]
    fn bad_names_say_why() {
        for bad in ["", "   ", "a\nb", "a\tb", "/a", "a/", "a//b", "a/ /b", "a\u{2028}b"] {
            let err = normalize_tag(bad).unwrap_err();
            assert!(matches!(err, Error::InvalidTagName { .. }), "{bad:?}: {err}");
        }
        let err = normalize_tag(" a\u{7}").unwrap_err().to_string();
        assert!(err.contains("U+0007 at byte 2"), "{err}");
    }

    #[test]
    fn group_names() {
        assert_eq!(normalize_group(" tier ").unwrap(), "tier");
        assert!(normalize_group("a:b").is_err());
        assert!(normalize_group("a/b").is_err());
    }

    #[test]
    fn hierarchy_and_groups() {
        assert_eq!(parent_name("a/b/c"), Some("a/b"));
        assert_eq!(parent_name("a"), None);
        assert_eq!(split_group("tier:gold"), Some(("tier", "gold")));
        assert_eq!(split_group("vip"), None);
    }

    #[test]
    fn distances() {
        assert_eq!(edit_distance("vip", "vpi", 3), 1);
        assert_eq!(edit_distance("outdor", "outdoor", 3), 1);
        assert_eq!(edit_distance("", "abc", 5), 3);
        assert_eq!(edit_distance("abcdef", "x", 2), 3);
        assert_eq!(edit_distance("高消费", "高消", 3), 1);
    }
}
