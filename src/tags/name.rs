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

use crate::error::{Error, NameProblem, Result, excerpt};

pub use crate::id::{MAX_TAG_DEPTH, MAX_TAG_NAME_LEN};

/// Validates `raw` and returns its normal form: trimmed, each `/` level trimmed, no white
/// space around the first `:` (so `tier : gold` is `tier:gold`, the same exclusive-group
/// value), in Unicode Normalization Form C. Borrows when `raw` is already normal, so the
/// common path does not allocate; a name over the limits is refused before anything is
/// allocated for it.
pub(crate) fn normalize_tag(raw: &str) -> Result<Cow<'_, str>> {
    let bad = |reason: NameProblem| Error::InvalidTagName { name: excerpt(raw), reason };
    let name = raw.trim();
    let lead = raw.len() - raw.trim_start().len();
    if name.is_empty() {
        return Err(bad(NameProblem::Empty));
    }
    // Bytes that normalization keeps (it drops only white space, and composing shrinks a
    // name at most three to one): past three times the limit the normal form is over it, and
    // the name is refused there, having read at most that much of it.
    let over = || bad(NameProblem::FarTooLong { len: name.len() });
    let mut solid = 0;
    for (at, c) in name.char_indices() {
        if c.is_ascii_graphic() {
            solid += 1; // the common case: nothing more to check
        } else if c.is_control() || matches!(c, '\u{2028}' | '\u{2029}') {
            return Err(bad(NameProblem::Control { ch: c, at: at + lead }));
        } else if let Some(what) = invisible(name, at, c) {
            return Err(bad(NameProblem::Invisible { ch: c, what, at: at + lead }));
        } else if !c.is_whitespace() {
            solid += c.len_utf8();
        }
        if solid > 3 * MAX_TAG_NAME_LEN {
            return Err(over());
        }
    }
    let mut clean = true;
    let mut levels = 0;
    for level in name.split('/') {
        levels += 1;
        if level.trim().is_empty() {
            return Err(bad(NameProblem::EmptyLevel));
        }
        if levels > MAX_TAG_DEPTH {
            return Err(bad(NameProblem::TooDeep));
        }
        clean &= level.trim().len() == level.len();
    }
    if let Some((group, value)) = name.split_once(':') {
        clean &= group.trim_end().len() == group.len() && value.trim_start().len() == value.len();
    }
    let nfc = name.is_ascii() || is_nfc_quick(name.chars()) == IsNormalized::Yes;
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
        return Err(bad(NameProblem::TooLong { len: norm.len() }));
    }
    Ok(norm)
}

const ZWJ: char = '\u{200D}';
const VS15: char = '\u{FE0E}';
const VS16: char = '\u{FE0F}';

/// Why the character `c` at byte `at` of `name` is refused as invisible, if it is: every
/// default-ignorable code point of Unicode (zero-width characters, text-direction controls,
/// variation selectors, tag characters, fillers...) and the blank braille pattern, except
/// where an emoji needs one (Unicode's emoji properties, from `unicode-properties`): a
/// zero-width joiner between two emoji (👩‍💻, 🏳️‍🌈), a presentation selector after an emoji
/// or inside a keycap (❤️, ▶️, 1️⃣), and the tag characters of a subdivision flag (🏴 then
/// tag letters or digits then the cancel tag, as the flags of England, Scotland and Wales).
fn invisible(name: &str, at: usize, c: char) -> Option<&'static str> {
    let what = invisible_name(c)?;
    let before = name[..at].chars().next_back();
    let after = name[at + c.len_utf8()..].chars().next();
    let in_emoji = match c {
        ZWJ => before.is_some_and(|b| b == VS16 || is_emoji(b)) && after.is_some_and(is_emoji),
        VS15 | VS16 => before
            .is_some_and(|b| if matches!(b, '0'..='9' | '#' | '*') { after == Some('\u{20E3}') } else { is_emoji(b) }),
        '\u{E0020}'..='\u{E007F}' => in_flag_tags(name, at),
        _ => false,
    };
    (!in_emoji).then_some(what)
}

/// An emoji (Unicode `Emoji=Yes`), other than the keycap bases (digits, `#`, `*`) and the
/// regional indicators (flags are pairs of those, without joiners or selectors).
fn is_emoji(c: char) -> bool {
    use unicode_properties::UnicodeEmoji;
    !matches!(c, '0'..='9' | '#' | '*' | '\u{1F1E6}'..='\u{1F1FF}') && c.is_emoji_char()
}

/// Whether the tag character at byte `at` belongs to a subdivision flag: 🏴, then one or more
/// tag digits or lower-case tag letters, then the cancel tag U+E007F.
fn in_flag_tags(name: &str, at: usize) -> bool {
    let is_tag = |c: char| ('\u{E0020}'..='\u{E007F}').contains(&c);
    let body = |c: char| matches!(c, '\u{E0030}'..='\u{E0039}' | '\u{E0061}'..='\u{E007A}');
    let mut back = name[..at].chars().rev().skip_while(|&c| is_tag(c));
    let start_ok = back.next() == Some('\u{1F3F4}');
    let run: Vec<char> = name[..at]
        .chars()
        .rev()
        .take_while(|&c| is_tag(c))
        .collect::<Vec<_>>()
        .into_iter()
        .rev()
        .chain(name[at..].chars().take_while(|&c| is_tag(c)))
        .collect();
    let Some((&last, letters)) = run.split_last() else { return false };
    start_ok && last == '\u{E007F}' && !letters.is_empty() && letters.iter().all(|&c| body(c))
}

/// The name of `c` when it is an invisible character (see [`invisible`]).
fn invisible_name(c: char) -> Option<&'static str> {
    Some(match c {
        '\u{00AD}' => "SOFT HYPHEN",
        '\u{034F}' => "COMBINING GRAPHEME JOINER",
        '\u{061C}' => "ARABIC LETTER MARK",
        '\u{115F}' | '\u{1160}' | '\u{3164}' | '\u{FFA0}' => "HANGUL FILLER",
        '\u{17B4}' | '\u{17B5}' => "KHMER INHERENT VOWEL",
        '\u{180B}'..='\u{180D}' | '\u{180F}' => "MONGOLIAN FREE VARIATION SELECTOR",
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
        '\u{2061}'..='\u{2065}' => "INVISIBLE OPERATOR",
        '\u{2066}' => "LEFT-TO-RIGHT ISOLATE",
        '\u{2067}' => "RIGHT-TO-LEFT ISOLATE",
        '\u{2068}' => "FIRST STRONG ISOLATE",
        '\u{2069}' => "POP DIRECTIONAL ISOLATE",
        '\u{206A}'..='\u{206F}' => "DEPRECATED FORMAT CHARACTER",
        '\u{2800}' => "BRAILLE PATTERN BLANK",
        '\u{FE00}'..='\u{FE0F}' => "VARIATION SELECTOR",
        '\u{FEFF}' => "ZERO WIDTH NO-BREAK SPACE (BYTE ORDER MARK)",
        '\u{FFF0}'..='\u{FFFB}' => "INTERLINEAR ANNOTATION OR RESERVED FORMAT CHARACTER",
        '\u{1BCA0}'..='\u{1BCA3}' => "SHORTHAND FORMAT CONTROL",
        '\u{1D173}'..='\u{1D17A}' => "MUSICAL FORMAT CONTROL",
        '\u{E0000}'..='\u{E007F}' => "TAG CHARACTER",
        '\u{E0080}'..='\u{E0FFF}' => "VARIATION SELECTOR SUPPLEMENT OR RESERVED",
        _ => return None,
    })
}

/// Validates an exclusive group name: a tag name without `/` or `:`.
pub(crate) fn normalize_group(raw: &str) -> Result<Cow<'_, str>> {
    let name = normalize_tag(raw)?;
    if name.contains(['/', ':']) {
        return Err(Error::InvalidTagName { name: excerpt(raw), reason: NameProblem::GroupSeparator });
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
        return Err(Error::InvalidTagName { name: excerpt(name), reason: NameProblem::TooLong { len: name.len() } });
    }
    if name.split('/').nth(MAX_TAG_DEPTH).is_some() {
        return Err(Error::InvalidTagName { name: excerpt(name), reason: NameProblem::TooDeep });
    }
    Ok(())
}

/// Edit distance (optimal string alignment: insert, delete, substitute, swap two neighbours)
/// between `a` and `b`, counted in characters; gives up (returns `limit + 1`) past `limit`.
/// Only the band of cells within `limit` of the diagonal is computed, so the cost is
/// `O(len * limit)`; nothing is allocated for a `b` of up to 84 characters.
pub(crate) fn edit_distance(a: &[char], b: &[char], limit: usize) -> usize {
    if a.len().abs_diff(b.len()) > limit {
        return limit + 1;
    }
    let big = limit + 1;
    let w = b.len() + 1;
    let mut buf = smallvec::SmallVec::<[usize; 256]>::from_elem(big, 3 * w);
    let (prev2, rest) = buf.split_at_mut(w);
    let (prev, cur) = rest.split_at_mut(w);
    let (mut prev2, mut prev, mut cur) = (prev2, prev, cur);
    for (j, p) in prev.iter_mut().enumerate().take(big) {
        *p = j;
    }
    for i in 1..=a.len() {
        let lo = i.saturating_sub(limit).max(1);
        let hi = (i + limit).min(b.len());
        cur[0] = if i <= limit { i } else { big };
        cur[lo - 1] = if lo == 1 { cur[0] } else { big };
        let mut row_min = if lo == 1 { cur[0] } else { big };
        for j in lo..=hi {
            let cost = usize::from(a[i - 1] != b[j - 1]);
            let mut d = (prev[j] + 1).min(cur[j - 1] + 1).min(prev[j - 1] + cost);
            if i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1] {
                d = d.min(prev2[j - 2] + 1);
            }
            cur[j] = d.min(big);
            row_min = row_min.min(cur[j]);
        }
        if hi < b.len() {
            cur[hi + 1] = big;
        }
        if row_min > limit {
            return big;
        }
        std::mem::swap(&mut prev2, &mut prev);
        std::mem::swap(&mut prev, &mut cur);
    }
    prev[b.len()].min(big)
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
        assert!(err.contains("U+0007 at byte 2 of the name"), "{err}");
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
            assert!(err.contains("at byte 3 of the name"), "{err}");
        }
        assert!(normalize_tag("\u{200B}").is_err(), "not trimmed away as white space");
        // The joiners and selectors of an emoji are part of the picture; anywhere else they
        // hide.
        for ok in [
            "👩\u{200D}💻 dev",
            "👨\u{200D}👩\u{200D}👧",
            "🏳\u{FE0F}\u{200D}🌈",
            "❤\u{FE0F}\u{200D}🔥",
            "❤\u{FE0F}",
            "1\u{FE0F}\u{20E3}",
            "🐈\u{200D}⬛",
            "👍\u{1F3FD}",
            "🏴\u{E0067}\u{E0062}\u{E0073}\u{E0063}\u{E0074}\u{E007F}",
            "🇺🇸",
        ] {
            assert!(normalize_tag(ok).is_ok(), "{ok}");
        }
        for bad in [
            "vip\u{200D}",
            "\u{200D}👩",
            "a\u{200D}b",
            "👩\u{200D}b",
            "👩\u{200D}\u{200D}💻",
            "←\u{200D}→",
            "🇺\u{200D}🇸",
        ] {
            assert!(normalize_tag(bad).unwrap_err().to_string().contains("U+200D"), "{bad}");
        }
        // A selector after a letter is refused where it stands, so it cannot carry a joiner.
        assert!(normalize_tag("vip\u{FE0F}\u{200D}🚀").unwrap_err().to_string().contains("U+FE0F"));
        // Selectors only after what is an emoji (▶️ Ⓜ️ ⤴️ ◼️ are; ← ✓ are not).
        for ok in ["▶\u{FE0F}", "Ⓜ\u{FE0F}", "⤴\u{FE0F}", "◼\u{FE0F}", "▪\u{FE0F}", "☺\u{FE0E}", "#\u{FE0F}\u{20E3}"]
        {
            assert!(normalize_tag(ok).is_ok(), "{ok}");
        }
        for bad in ["←\u{FE0F}", "✓\u{FE0F}", "1\u{FE0F}", "a\u{FE0E}"] {
            assert!(normalize_tag(bad).unwrap_err().to_string().contains("VARIATION SELECTOR"), "{bad}");
        }
        // Tag characters only as a subdivision flag: 🏴, tag letters, the cancel tag.
        for bad in [
            "vip🏴\u{E0020}",
            "🏴\u{E0076}\u{E0069}\u{E0070}",
            "🏴\u{E007F}",
            "🏴\u{E0041}\u{E007F}",
            "x\u{E0067}\u{E007F}",
        ] {
            assert!(normalize_tag(bad).unwrap_err().to_string().contains("TAG CHARACTER"), "{bad}");
        }
        assert!(normalize_tag("vip\u{E0041}").unwrap_err().to_string().contains("TAG CHARACTER"));
        // Every other default-ignorable or blank character makes a name that looks like "vip".
        for c in [
            '\u{E0041}',
            '\u{FE0F}',
            '\u{FE00}',
            '\u{180B}',
            '\u{FFF9}',
            '\u{17B4}',
            '\u{3164}',
            '\u{FFA0}',
            '\u{115F}',
            '\u{2800}',
            '\u{2065}',
            '\u{1D173}',
            '\u{E0100}',
        ] {
            assert!(normalize_tag(&format!("vip{c}")).is_err(), "U+{:04X}", c as u32);
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
        assert_eq!(*reason, NameProblem::FarTooLong { len: 10_000_000 });
        assert!(reason.to_string().contains("10000000 bytes"), "{reason}");
        assert!(err.to_string().len() < 1_000);
        // The limit is on the normal form: padding around a name or its levels, or around
        // the group colon, does not count.
        assert!(normalize_tag(&format!("  {at_limit}  ")).is_ok());
        let padded = format!("a{}/b", " ".repeat(1_100));
        assert_eq!(normalize_tag(&padded).unwrap(), "a/b");
        let padded = format!("tier{}:gold", " ".repeat(5_000));
        assert_eq!(normalize_tag(&padded).unwrap(), "tier:gold");
        // The length reported is the normal form's: 200 letters and 180 bytes of decomposed
        // jamo are 260 bytes composed.
        let mixed = format!("{}{}", "a".repeat(200), "\u{1100}\u{1161}\u{11A8}".repeat(20));
        assert!(normalize_tag(&mixed).unwrap_err().to_string().contains("is 260 bytes long"));
        // Over three times the limit besides white space, nothing is built: composing
        // shrinks text three to one at most (1,026 bytes of jamo, 342 composed).
        let jamo = "\u{1100}\u{1161}\u{11A8}".repeat(114);
        assert!(normalize_tag(&jamo).unwrap_err().to_string().contains("is 1026 bytes long, with more than 768"));

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
        assert_eq!(d("abcdef", "badcfe", 3), 3);
        assert_eq!(d("abcdef", "badcfe", 2), 3, "gives up past the limit");
    }

    /// The full table, for comparison.
    fn full_distance(a: &[char], b: &[char]) -> usize {
        let mut t = vec![vec![0usize; b.len() + 1]; a.len() + 1];
        for (i, row) in t.iter_mut().enumerate() {
            row[0] = i;
        }
        for (j, cell) in t[0].iter_mut().enumerate() {
            *cell = j;
        }
        for i in 1..=a.len() {
            for j in 1..=b.len() {
                let cost = usize::from(a[i - 1] != b[j - 1]);
                t[i][j] = (t[i - 1][j] + 1).min(t[i][j - 1] + 1).min(t[i - 1][j - 1] + cost);
                if i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1] {
                    t[i][j] = t[i][j].min(t[i - 2][j - 2] + 1);
                }
            }
        }
        t[a.len()][b.len()]
    }

    proptest::proptest! {
        #[test]
        fn the_band_gives_the_full_tables_distance(a in "[abc]{0,9}", b in "[abc]{0,9}", limit in 0usize..6) {
            let (a, b): (Vec<char>, Vec<char>) = (a.chars().collect(), b.chars().collect());
            let full = full_distance(&a, &b);
            proptest::prop_assert_eq!(edit_distance(&a, &b, limit), full.min(limit + 1));
        }
    }
}
