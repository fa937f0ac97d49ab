//! How errors print: lists of names, excerpts of long input, quotes, and the caret under a
//! query's span (used by [`Error`](super::Error)'s messages and by the layers that build
//! them).

use std::fmt;

use crate::id::{DERIVED_ATTRS, DERIVED_GROUPS, DERIVED_OWNER};
use crate::span::Span;

/// An error's payload lists at most this many names and one more (children, groups); the
/// one more says there are more.
pub(crate) const LISTED: usize = 16;

/// How many names a list holds: `more than 16` when it holds the one more.
pub(crate) struct Count(pub(crate) usize);

impl fmt::Display for Count {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.0 > LISTED { write!(f, "more than {LISTED}") } else { write!(f, "{}", self.0) }
    }
}

/// At most this many bytes of one input are quoted in an error (a longer one is cut to an
/// excerpt): every valid tag name fits.
pub(crate) const EXCERPT_BYTES: usize = 256;

// Errors quote every valid name whole.
const _: () = assert!(crate::id::MAX_TAG_NAME_LEN <= EXCERPT_BYTES);

/// After the reason of a rejected input that was cut to an excerpt: its length.
pub(crate) struct LengthNote(pub(crate) usize);

impl fmt::Display for LengthNote {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.0 > EXCERPT_BYTES { write!(f, " (the input is {} bytes long)", self.0) } else { Ok(()) }
    }
}

/// `s`, or when longer than [`EXCERPT_BYTES`] its first and last bytes around `…`, cut at
/// character boundaries: for error payloads that hold a rejected input.
pub(crate) fn excerpt(s: &str) -> String {
    if s.len() <= EXCERPT_BYTES {
        return s.to_owned();
    }
    let head = floor_char_boundary(s, EXCERPT_BYTES * 3 / 4);
    let tail = ceil_char_boundary(s, s.len() - EXCERPT_BYTES / 8);
    format!("{}…{}", &s[..head], &s[tail..])
}

pub(crate) fn floor_char_boundary(s: &str, mut i: usize) -> usize {
    while !s.is_char_boundary(i) {
        i -= 1;
    }
    i
}

pub(crate) fn ceil_char_boundary(s: &str, mut i: usize) -> usize {
    while !s.is_char_boundary(i) {
        i += 1;
    }
    i
}

/// Quotes a string in a message (Rust string syntax, as `{:?}` does), as an excerpt with its
/// length when it is longer than [`EXCERPT_BYTES`].
pub(crate) struct Quote<'a>(pub(crate) &'a str);

impl fmt::Display for Quote<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.0.len() <= EXCERPT_BYTES {
            write!(f, "{:?}", self.0)
        } else {
            write!(f, "{:?} ({} bytes)", excerpt(self.0), self.0.len())
        }
    }
}

/// A list of quoted names, at most ten of them.
pub(crate) struct QuoteList<'a>(pub(crate) &'a [String]);

impl fmt::Display for QuoteList<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("[")?;
        for (i, s) in self.0.iter().take(10).enumerate() {
            if i > 0 {
                f.write_str(", ")?;
            }
            write!(f, "{}", Quote(s))?;
        }
        if self.0.len() > 10 {
            write!(f, ", … {} in all", Count(self.0.len()))?;
        }
        f.write_str("]")
    }
}

/// A query up to this many bytes is shown whole under an error.
pub(crate) const WHOLE_QUERY: usize = 1_024;
/// How many characters of a longer query are shown on each side of the problem.
pub(crate) const WINDOW_CHARS: usize = 80;

/// Renders `query` with a caret line under `span`, indented by two spaces. A query longer
/// than [`WHOLE_QUERY`] bytes is shown as a window of [`WINDOW_CHARS`] characters on each
/// side of the span's start (the caret line at most twice that long), with `…` where it is
/// cut and a note with the span's byte offset and the query's length.
pub(crate) fn caret_lines(query: &str, span: Span) -> String {
    let start = floor_char_boundary(query, span.start.min(query.len()));
    let end = floor_char_boundary(query, span.end.clamp(start, query.len()));
    let (from, to) = if query.len() <= WHOLE_QUERY {
        (0, query.len())
    } else {
        let from = query[..start].char_indices().rev().nth(WINDOW_CHARS - 1).map_or(0, |(i, _)| i);
        let to = query[start..].char_indices().nth(2 * WINDOW_CHARS).map_or(query.len(), |(i, _)| start + i);
        (from, to)
    };
    let shown: String = query[from..to].chars().map(|c| if c.is_control() { ' ' } else { c }).collect();
    let lead = if from > 0 { "…" } else { "" };
    let trail = if to < query.len() { "…" } else { "" };
    let pad = display_width(lead) + display_width(&query[from..start]);
    let width = display_width(&query[start..end.min(to)]).max(1);
    let mut out = format!("  {lead}{shown}{trail}\n  {}{}", " ".repeat(pad), "^".repeat(width));
    if from > 0 || to < query.len() {
        out += &format!("\n  (byte {start} of a {}-byte query)", query.len());
    }
    out
}

/// Terminal columns of `s`: East Asian wide characters count two, others one.
pub(crate) fn display_width(s: &str) -> usize {
    s.chars().map(|c| if is_wide(c) { 2 } else { 1 }).sum()
}

pub(crate) fn is_wide(c: char) -> bool {
    matches!(c as u32,
        0x1100..=0x115F | 0x2E80..=0x303E | 0x3041..=0x33FF | 0x3400..=0x4DBF | 0x4E00..=0x9FFF
        | 0xA000..=0xA4CF | 0xAC00..=0xD7A3 | 0xF900..=0xFAFF | 0xFE30..=0xFE4F | 0xFF00..=0xFF60
        | 0xFFE0..=0xFFE6 | 0x1F300..=0x1F64F | 0x1F680..=0x1F6FF | 0x1F900..=0x1F9FF | 0x1FA70..=0x1FAFF
        | 0x20000..=0x3FFFD)
}

pub(crate) fn render_unknown_tag(
    name: &str,
    span: Option<Span>,
    query: Option<&str>,
    suggestions: &[String],
) -> String {
    let derived = name.split_once(':').is_some_and(|(g, _)| DERIVED_GROUPS.contains(&g));
    let hint = if derived {
        format!(
            "the {} tags are derived by {DERIVED_OWNER}: they exist after the first Engine::refresh, which creates them",
            Quote(&format!("{}:", name.split_once(':').map_or("", |(g, _)| g)))
        )
    } else {
        "define it with Engine::define_tag, or check the spelling".to_owned()
    };
    render_unknown("tag", &hint, name, span, query, suggestions)
}

pub(crate) fn render_unknown_attr(
    name: &str,
    span: Option<Span>,
    query: Option<&str>,
    suggestions: &[String],
) -> String {
    let hint = if DERIVED_ATTRS.contains(&name) {
        format!(
            "{} is derived by {DERIVED_OWNER}: it exists after the first Engine::refresh, which sets it",
            Quote(name)
        )
    } else {
        "no customer has a value for it; set one with Engine::set_attr, or check the spelling".to_owned()
    };
    render_unknown("attribute", &hint, name, span, query, suggestions)
}

/// `unknown <what> "name" at a..b (did you mean ...?)` plus the caret lines.
pub(crate) fn render_unknown(
    what: &str,
    hint: &str,
    name: &str,
    span: Option<Span>,
    query: Option<&str>,
    suggestions: &[String],
) -> String {
    let mut out = format!("unknown {what} {}", Quote(name));
    if let Some(span) = span {
        out += &format!(" at {span}");
    }
    match suggestions {
        [] => out += &format!(" (hint: {hint})"),
        [one] => out += &format!(" (did you mean {}?)", Quote(one)),
        many => {
            let list: Vec<String> = many.iter().map(|s| Quote(s).to_string()).collect();
            out += &format!(" (did you mean one of {}?)", list.join(", "));
        }
    }
    if let (Some(span), Some(query)) = (span, query) {
        out.push('\n');
        out += &caret_lines(query, span);
    }
    out
}

pub(crate) fn render_parse(query: &str, span: Span, message: &str, hint: Option<&str>) -> String {
    let mut out = format!("query parse error at {span}: {message}\n{}", caret_lines(query, span));
    if let Some(hint) = hint {
        out += &format!("\nhint: {hint}");
    }
    out
}
