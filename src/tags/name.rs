//! Tag and group name validation and normalization, and the limits on names.
//!
//! A tag name is Unicode text, trimmed of surrounding white space, in Unicode Normalization
//! Form C (so `víp` typed with a combining accent is the same tag as `víp` typed with the
//! precomposed letter), without control characters and without invisible characters that
//! would let two names look alike (zero-width and text-direction characters, see
//! [`invisible_name`]). `/` separates the levels of a hierarchy (`interest/sports/running`);
//! each level is trimmed too and may not be empty. `group:value` names a value of an
//! exclusive group when `group` is declared exclusive. A name is at most
//! [`MAX_TAG_NAME_LEN`] bytes and [`MAX_TAG_DEPTH`] levels long.

use std::borrow::Cow;

use unicode_normalization::{IsNormalized, UnicodeNormalization, is_nfc_quick};

use crate::error::{Error, Result, excerpt};

/// The longest tag (or attribute, or exclusive group) name, in bytes of its normal form:
/// 256 bytes is 256 ASCII letters, 85 CJK characters or 64 emoji.
///
/// A longer name is an [`Error::InvalidTagName`](crate::Error::InvalidTagName) (or
/// [`Error::InvalidAttributeName`](crate::Error::InvalidAttributeName)), refused before
/// anything is allocated for it. The limit bounds what one name costs (each level of a
/// hierarchy is a tag with its own full name, so a name of `n` bytes costs at most
/// `MAX_TAG_DEPTH * n` bytes of names) and what an error message quotes.
pub const MAX_TAG_NAME_LEN: usize = 256;

/// The most `/` levels a tag name may have: `a/b/c` has three.
///
/// A deeper name is an [`Error::InvalidTagName`](crate::Error::InvalidTagName). Every level
/// is a tag of its own (creating `a/b/c` creates `a/b` and `a`), and a query on a level reads
/// the cached union of everything below it, so the depth bounds the work a change of one tag
/// does for its ancestors.
pub const MAX_TAG_DEPTH: usize = 16;

/// Validates `raw` and returns its normal form: trimmed, each `/` level trimmed, no white
/// space around the first `:` (so `tier : gold` is `tier:gold`, the same exclusive-group
/// value), in Unicode Normalization Form C. Borrows when `raw` is already normal, so the
/// common path does not allocate; a name over the limits is refused before anything is
/// allocated for it.
pub(crate) fn normalize_tag(raw: &str) -> Result<Cow<'_, str>> {
    let bad = |reason: String| Error::InvalidTagName { name: excerpt(raw), reason };
    let name = raw.trim();
    let lead = raw.len() - raw.trim_start().len();
    if name.is_empty() {
        return Err(bad("a tag name cannot be empty (hint: give it some text, e.g. \"vip\")".into()));
    }
    // Normalization may shrink a name (Hangul jamo compose three to one), so the exact check
    // comes after it; anything four times the limit is refused before any work.
    if name.len() > 4 * MAX_TAG_NAME_LEN {
        return Err(bad(too_long(name.len())));
    }
    for (at, c) in name.char_indices() {
        if c.is_control() || matches!(c, '\u{2028}' | '\u{2029}') {
            return Err(bad(format!(
                "contains the control or line-separator character U+{:04X} at byte {} (hint: remove it; tab and newline are not allowed either)",
                c as u32,
                at + lead
            )));
        }
        if let Some(what) = invisible_name(c).filter(|_| !(c == ZWJ && joins_emoji(name, at))) {
            return Err(bad(format!(
                "contains the invisible character U+{:04X} {what} at byte {} (hint: remove it; zero-width and \
                 text-direction characters are not allowed in names, since they make different names look the same)",
                c as u32,
                at + lead
            )));
        }
    }
    let mut clean = true;
    let mut levels = 0;
    for level in name.split('/') {
        levels += 1;
        if level.trim().is_empty() {
            return Err(bad("has an empty level: '/' separates hierarchy levels, as in \"interest/sports/running\" \
                 (hint: remove the leading, trailing or doubled '/')"
                .into()));
        }
        if levels > MAX_TAG_DEPTH {
            return Err(bad(format!(
                "has more than {MAX_TAG_DEPTH} levels, the limit (MAX_TAG_DEPTH) (hint: '/' separates hierarchy \
                 levels; keep hierarchies shallow, e.g. \"interest/sports/running\")"
            )));
        }
        clean &= level.trim().len() == level.len();
    }
    if let Some((group, value)) = name.split_once(':') {
        clean &= group.trim_end().len() == group.len() && value.trim_start().len() == value.len();
    }
    let nfc = is_nfc_quick(name.chars()) == IsNormalized::Yes;
    let norm = match (clean && nfc, name.len() == raw.len()) {
        (true, true) => Cow::Borrowed(raw),
        (true, false) => Cow::Borrowed(name),
        (false, _) => {
            let joined = name.split('/').map(str::trim).collect::<Vec<_>>().join("/");
            let spaced = match joined.split_once(':') {
                Some((group, value)) => format!("{}:{}", group.trim_end(), value.trim_start()),
                None => joined,
            };
            Cow::Owned(if nfc { spaced } else { spaced.nfc().collect() })
        }
    };
    if norm.len() > MAX_TAG_NAME_LEN {
        return Err(bad(too_long(norm.len())));
    }
    Ok(norm)
}

fn too_long(len: usize) -> String {
    format!(
        "is {len} bytes long, over the limit of {MAX_TAG_NAME_LEN} bytes (MAX_TAG_NAME_LEN) \
         (hint: shorten it; a tag names a trait, its description belongs elsewhere)"
    )
}

const ZWJ: char = '\u{200D}';

/// Whether the zero-width joiner at byte `at` of `name` joins two emoji (an emoji ZWJ
/// sequence such as 👩‍💻 or 🏳️‍🌈, which shows as one picture): after an emoji (or the emoji
/// presentation selector U+FE0F, or a skin tone) and before one.
fn joins_emoji(name: &str, at: usize) -> bool {
    let before = name[..at].chars().next_back();
    let after = name[at + ZWJ.len_utf8()..].chars().next();
    before.is_some_and(|c| c == '\u{FE0F}' || is_emoji(c)) && after.is_some_and(is_emoji)
}

/// Code points of the emoji blocks (pictographs, symbols, dingbats, skin tones).
fn is_emoji(c: char) -> bool {
    matches!(c as u32, 0x1F000..=0x1FAFF | 0x2600..=0x27BF | 0x2300..=0x23FF | 0x2B00..=0x2BFF | 0x2190..=0x21FF)
}

/// The name of `c` when it is an invisible character refused in names: zero-width
/// characters (spaces, non-joiner, the byte order mark, and the joiner except inside an
/// emoji sequence such as 👩‍💻), text-direction marks, embeddings, overrides and isolates,
/// the soft hyphen, the combining grapheme joiner and the invisible mathematical operators.
pub(crate) fn invisible_name(c: char) -> Option<&'static str> {
    Some(match c {
        '\u{00AD}' => "SOFT HYPHEN",
        '\u{034F}' => "COMBINING GRAPHEME JOINER",
        '\u{061C}' => "ARABIC LETTER MARK",
        '\u{180E}' => "MONGOLIAN VOWEL SEPARATOR",
        '\u{200B}' => "ZERO WIDTH SPACE",
        '\u{200C}' => "ZERO WIDTH NON-JOINER",
        '\u{200D}' => "ZERO WIDTH JOINER",
        '\u{200E}' => "LEFT-TO-RIGHT MARK",
        '\u{200F}' => "RIGHT-TO-LEFT MARK",
        '\u{202A}' => "LEFT-TO-RIGHT EMBEDDING",
        '\u{202B}' => "RIGHT-TO-LEFT EMBEDDING",
        '\u{202C}' => "POP DIRECTIONAL FORMATTING",
        '\u{202D}' => "LEFT-TO-RIGHT OVERRIDE",
        '\u{202E}' => "RIGHT-TO-LEFT OVERRIDE",
        '\u{2060}' => "WORD JOINER",
        '\u{2061}' => "FUNCTION APPLICATION",
        '\u{2062}' => "INVISIBLE TIMES",
        '\u{2063}' => "INVISIBLE SEPARATOR",
        '\u{2064}' => "INVISIBLE PLUS",
        '\u{2066}' => "LEFT-TO-RIGHT ISOLATE",
        '\u{2067}' => "RIGHT-TO-LEFT ISOLATE",
        '\u{2068}' => "FIRST STRONG ISOLATE",
        '\u{2069}' => "POP DIRECTIONAL ISOLATE",
        '\u{206A}'..='\u{206F}' => "DEPRECATED FORMAT CHARACTER",
        '\u{FEFF}' => "ZERO WIDTH NO-BREAK SPACE (BYTE ORDER MARK)",
        _ => return None,
    })
}

/// Validates an exclusive group name: a tag name without `/` or `:`.
pub(crate) fn normalize_group(raw: &str) -> Result<Cow<'_, str>> {
    let name = normalize_tag(raw)?;
    if name.contains(['/', ':']) {
        return Err(Error::InvalidTagName {
            name: excerpt(raw),
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

/// Checks a name built from valid parts (a rename's new names) against the length and depth
/// limits.
pub(crate) fn check_limits(name: &str) -> Result<()> {
    if name.len() > MAX_TAG_NAME_LEN {
        return Err(Error::InvalidTagName { name: excerpt(name), reason: too_long(name.len()) });
    }
    if name.split('/').nth(MAX_TAG_DEPTH).is_some() {
        return Err(Error::InvalidTagName {
            name: excerpt(name),
            reason: format!("has more than {MAX_TAG_DEPTH} levels, the limit (MAX_TAG_DEPTH)"),
        });
    }
    Ok(())
}

/// Edit distance (optimal string alignment: insert, delete, substitute, swap two neighbours)
/// between `a` and `b`, counted in characters; gives up (returns `limit + 1`) past `limit`.
/// Allocates nothing for a `b` of up to 84 characters.
pub(crate) fn edit_distance(a: &[char], b: &[char], limit: usize) -> usize {
    if a.len().abs_diff(b.len()) > limit {
        return limit + 1;
    }
    let w = b.len() + 1;
    let mut buf = smallvec::SmallVec::<[usize; 256]>::from_elem(0, 3 * w);
    let (prev2, rest) = buf.split_at_mut(w);
    let (prev, cur) = rest.split_at_mut(w);
    let (mut prev2, mut prev, mut cur) = (prev2, prev, cur);
    for (j, p) in prev.iter_mut().enumerate() {
        *p = j;
    }
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
    fn names_are_in_normalization_form_c() {
        let composed = "v\u{00ED}p"; // í as one code point
        let decomposed = "vi\u{0301}p"; // i + combining acute accent
        assert_eq!(normalize_tag(decomposed).unwrap(), composed);
        assert!(matches!(normalize_tag(composed).unwrap(), Cow::Borrowed(_)));
        assert_eq!(normalize_tag(" a / vi\u{0301}p ").unwrap(), "a/víp");
        // Hangul jamo compose three to one: a long decomposed name may fit once composed.
        let jamo = "\u{1100}\u{1161}\u{11A8}".repeat(80); // 720 bytes decomposed, 240 composed
        assert_eq!(normalize_tag(&jamo).unwrap().len(), 240);
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
    fn invisible_characters_are_refused_by_code_point() {
        for (c, what) in [
            ('\u{200B}', "ZERO WIDTH SPACE"),
            ('\u{200D}', "ZERO WIDTH JOINER"),
            ('\u{202E}', "RIGHT-TO-LEFT OVERRIDE"),
            ('\u{2066}', "LEFT-TO-RIGHT ISOLATE"),
            ('\u{FEFF}', "BYTE ORDER MARK"),
            ('\u{00AD}', "SOFT HYPHEN"),
        ] {
            let err = normalize_tag(&format!("vip{c}x")).unwrap_err().to_string();
            assert!(err.contains(&format!("U+{:04X}", c as u32)) && err.contains(what), "{err}");
            assert!(err.contains("at byte 3"), "{err}");
        }
        assert!(normalize_tag("\u{200B}").is_err(), "not trimmed away as white space");
        // The joiner of an emoji sequence is part of the picture; anywhere else it hides.
        for ok in ["👩\u{200D}💻 dev", "👨\u{200D}👩\u{200D}👧", "🏳\u{FE0F}\u{200D}🌈", "❤\u{FE0F}\u{200D}🔥"]
        {
            assert!(normalize_tag(ok).is_ok(), "{ok}");
        }
        for bad in ["vip\u{200D}", "\u{200D}👩", "a\u{200D}b", "👩\u{200D}b", "👩\u{200D}\u{200D}💻"] {
            assert!(normalize_tag(bad).unwrap_err().to_string().contains("U+200D"), "{bad}");
        }
        // Visible non-ASCII characters stay valid.
        for ok in ["高消费", "naïve", "🚀", "Ünïcödé/тег", "עברית", "a·b"] {
            assert!(normalize_tag(ok).is_ok(), "{ok}");
        }
    }

    #[test]
    fn length_and_depth_limits() {
        let at_limit = "x".repeat(MAX_TAG_NAME_LEN);
        assert!(normalize_tag(&at_limit).is_ok());
        let over = "x".repeat(MAX_TAG_NAME_LEN + 1);
        let err = normalize_tag(&over).unwrap_err().to_string();
        assert!(err.contains("257 bytes long") && err.contains("MAX_TAG_NAME_LEN"), "{err}");
        let huge = "x".repeat(10_000_000);
        let err = normalize_tag(&huge).unwrap_err();
        let Error::InvalidTagName { name, reason } = &err else { panic!("{err:?}") };
        assert!(name.len() <= MAX_TAG_NAME_LEN + 4, "the payload is an excerpt");
        assert!(reason.contains("10000000 bytes"), "{reason}");
        assert!(err.to_string().len() < 1_000);
        // Padding around a name does not count.
        assert!(normalize_tag(&format!("  {at_limit}  ")).is_ok());

        let deep = vec!["l"; MAX_TAG_DEPTH].join("/");
        assert!(normalize_tag(&deep).is_ok());
        let deeper = vec!["l"; MAX_TAG_DEPTH + 1].join("/");
        assert!(normalize_tag(&deeper).unwrap_err().to_string().contains("MAX_TAG_DEPTH"));
        assert!(check_limits(&deep).is_ok());
        assert!(check_limits(&deeper).is_err());
        assert!(check_limits(&over).is_err());
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
        let d = |a: &str, b: &str, limit| {
            let (a, b): (Vec<char>, Vec<char>) = (a.chars().collect(), b.chars().collect());
            edit_distance(&a, &b, limit)
        };
        assert_eq!(d("vip", "vpi", 3), 1);
        assert_eq!(d("outdor", "outdoor", 3), 1);
        assert_eq!(d("", "abc", 5), 3);
        assert_eq!(d("abcdef", "x", 2), 3);
        assert_eq!(d("高消费", "高消", 3), 1);
        let long = "y".repeat(200);
        assert_eq!(d(&long, &format!("{long}z"), 2), 1, "longer than the inline buffer");
    }
}
