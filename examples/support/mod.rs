//! What the examples share for reading untrusted text: a line reader with a length cap,
//! bounded quoting of input in error messages, and the loaders' thread count.
//!
//! Included by each example with `#[path = "support/mod.rs"] mod support;` (cargo builds
//! only `examples/*.rs` and `examples/*/main.rs` as examples, so this file is not one). The
//! examples that load a pairs CSV (`query`, `segment`, `describe`) also include
//! `support/load.rs`, the loading itself, kept apart so an example that does not load pairs
//! (`rfm`) does not compile it. The peer harness's `tags.bin` reader, for the benchmark
//! examples, is `support/tags_bin.rs`.

// Each example uses some of these helpers, not all.
#![allow(dead_code)]

use std::fmt;
use std::io::{self, BufRead, Read, Write};
use std::process::ExitCode;

/// The threads the crate's CSV loaders parse on and a refresh works on
/// (`Engine::set_threads`): `AUDIENCE_THREADS` when set to a number, else 0 (the default).
pub fn threads() -> usize {
    std::env::var("AUDIENCE_THREADS").ok().and_then(|t| t.trim().parse().ok()).unwrap_or(0)
}

/// The command line `args` as `parse` reads it, or the code to exit with: `parse` giving
/// `Ok(None)` (`--help`) prints the usage on stdout and exits 0 (a pipe closed early, as by
/// `| head -1`, is no error); an `Err` prints `name: message` (unless there were no
/// arguments at all) and the usage on stderr, and exits 2.
pub fn command_line<'a, T>(
    name: &str,
    usage: &str,
    args: &'a [String],
    parse: impl FnOnce(&'a [String]) -> Result<Option<T>, String>,
) -> Result<T, ExitCode> {
    match parse(args) {
        Ok(Some(parsed)) => Ok(parsed),
        Ok(None) => {
            let _ = writeln!(io::stdout(), "{usage}");
            Err(ExitCode::SUCCESS)
        }
        Err(msg) => {
            if !args.is_empty() {
                eprintln!("{name}: {msg}\n");
            }
            eprintln!("{usage}");
            Err(ExitCode::from(2))
        }
    }
}

/// The longest line an example reads: 1 MiB, its line break not counted. A longer line is an
/// error (or a skipped line), never a buffer of its full length.
pub const MAX_LINE_BYTES: usize = 1 << 20;

/// Input up to this many bytes is quoted whole by [`excerpt`].
const WHOLE: usize = 80;
/// How much of the start and of the end of a longer input [`excerpt`] quotes (about).
const HEAD: usize = 60;
const TAIL: usize = 16;

/// `s` quoted for an error message: up to 80 bytes Debug-quoted whole (`"vip"`), longer
/// text as its first ~60 bytes, `…`, its last ~16 bytes (cut at char boundaries), quoted,
/// then its length: `"alice,vip,…,x" (104857600 bytes)`.
pub fn excerpt(s: &str) -> Excerpt<'_> {
    Excerpt(s)
}

/// See [`excerpt`].
pub struct Excerpt<'a>(&'a str);

impl fmt::Display for Excerpt<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let s = self.0;
        if s.len() <= WHOLE {
            return write!(f, "{s:?}");
        }
        let mut head = HEAD;
        while !s.is_char_boundary(head) {
            head -= 1;
        }
        let mut tail = s.len() - TAIL;
        while !s.is_char_boundary(tail) {
            tail += 1;
        }
        let cut = format!("{}…{}", &s[..head], &s[tail..]);
        write!(f, "{cut:?} ({} bytes)", s.len())
    }
}

/// What [`read_line_capped`] found.
#[derive(Debug, PartialEq, Eq)]
pub enum Line {
    /// A line, now in the buffer without its line break (`\n` or `\r\n`; the last line may
    /// have none).
    Text,
    /// A line longer than the cap: its length in bytes (line break not counted). The rest of
    /// it has been read and dropped up to its `\n`, so the next call reads the next line; the
    /// buffer holds its first bytes (at most cap + 2).
    TooLong(u64),
    /// The end of the input: nothing was read.
    End,
}

/// Reads the next line of `r` into `buf` (cleared first), keeping at most `cap` bytes of it
/// (plus room for the line break) in memory; see [`Line`]. A `\r` before the `\n`, or at the
/// very end of the input, is dropped like the `\n`.
pub fn read_line_capped(r: &mut impl BufRead, buf: &mut Vec<u8>, cap: usize) -> io::Result<Line> {
    buf.clear();
    // The line, its `\r` and its `\n` fit in `cap + 2` bytes when the line is not too long.
    let limit = cap as u64 + 2;
    let n = (&mut *r).take(limit).read_until(b'\n', buf)?;
    if n == 0 {
        return Ok(Line::End);
    }
    let complete = buf.last() == Some(&b'\n') || (n as u64) < limit;
    if complete {
        if buf.last() == Some(&b'\n') {
            buf.pop();
        }
        if buf.last() == Some(&b'\r') {
            buf.pop();
        }
        return Ok(if buf.len() > cap { Line::TooLong(buf.len() as u64) } else { Line::Text });
    }
    // Too long: drop the rest up to the line break, counting it.
    let (mut len, mut last) = (buf.len() as u64, buf.last().copied());
    loop {
        let chunk = match r.fill_buf() {
            Ok(chunk) => chunk,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        };
        if chunk.is_empty() {
            break;
        }
        let (take, done) = match chunk.iter().position(|&b| b == b'\n') {
            Some(i) => (i, true),
            None => (chunk.len(), false),
        };
        len += take as u64;
        if take > 0 {
            last = Some(chunk[take - 1]);
        }
        r.consume(if done { take + 1 } else { take });
        if done {
            break;
        }
    }
    Ok(Line::TooLong(len - u64::from(last == Some(b'\r'))))
}

/// The error text for a line of `len` bytes refused by [`read_line_capped`], to follow a
/// `file:line: ` prefix.
pub fn too_long(len: u64) -> String {
    format!(
        "line longer than 1 MiB ({len} bytes; hint: one record per line, each at most {MAX_LINE_BYTES} bytes; \
         is this a text file with line breaks?)"
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn short_input_is_quoted_whole() {
        assert_eq!(excerpt("vip").to_string(), "\"vip\"");
        assert_eq!(excerpt("say \"hi\"\n").to_string(), r#""say \"hi\"\n""#);
        let s = "x".repeat(WHOLE);
        assert_eq!(excerpt(&s).to_string(), format!("{s:?}"));
    }

    #[test]
    fn long_input_is_cut_at_char_boundaries() {
        let s = "a".repeat(100);
        assert_eq!(excerpt(&s).to_string(), format!("\"{}…{}\" (100 bytes)", "a".repeat(60), "a".repeat(16)));
        // Three-byte characters: byte 60 is a boundary (20 characters), len - 16 is not (the
        // tail starts at the next one: 5 characters, 15 bytes).
        let s = "高消费".repeat(50);
        assert_eq!(excerpt(&s).to_string(), format!("\"{}高消…消费高消费\" (450 bytes)", "高消费".repeat(6)));
        // Four-byte emoji: neither cut is a boundary; the head stops before a partial emoji,
        // the tail starts after one.
        let s = format!("x{}!", "🦀".repeat(40));
        assert_eq!(excerpt(&s).to_string(), format!("\"x{}…{}!\" (162 bytes)", "🦀".repeat(14), "🦀".repeat(3)));
        let huge = "高".repeat(10 << 20);
        let e = excerpt(&huge).to_string();
        assert!(e.len() < 120 && e.ends_with(&format!("({} bytes)", huge.len())), "{e}");
    }

    /// Every line of `input` as read with cap `cap`.
    fn lines(input: &[u8], cap: usize) -> Vec<(Line, Vec<u8>)> {
        // A small buffer, so lines span many `fill_buf` chunks.
        let mut r = io::BufReader::with_capacity(7, input);
        let mut buf = Vec::new();
        let mut out = Vec::new();
        loop {
            match read_line_capped(&mut r, &mut buf, cap).unwrap() {
                Line::End => return out,
                Line::TooLong(n) => out.push((Line::TooLong(n), Vec::new())),
                Line::Text => out.push((Line::Text, buf.clone())),
            }
        }
    }

    fn text(s: &str) -> (Line, Vec<u8>) {
        (Line::Text, s.as_bytes().to_vec())
    }

    #[test]
    fn capped_lines() {
        let at_cap = "x".repeat(10);
        let over = "y".repeat(11);
        let input = format!("{at_cap}\n{over}\n{at_cap}\r\n{over}\r\nok\r\n\nlast");
        assert_eq!(
            lines(input.as_bytes(), 10),
            [
                text(&at_cap),
                (Line::TooLong(11), vec![]),
                text(&at_cap),
                (Line::TooLong(11), vec![]),
                text("ok"),
                text(""),
                text("last"),
            ]
        );
        // Far over the cap, with and without a final line break, and a `\r` at the end.
        let long = "z".repeat(1000);
        assert_eq!(lines(format!("{long}\nok").as_bytes(), 10), [(Line::TooLong(1000), vec![]), text("ok")]);
        assert_eq!(lines(long.as_bytes(), 10), [(Line::TooLong(1000), vec![])]);
        assert_eq!(lines(format!("{long}\r").as_bytes(), 10), [(Line::TooLong(1000), vec![])]);
        assert_eq!(lines(format!("{long}\r\nok\r").as_bytes(), 10), [(Line::TooLong(1000), vec![]), text("ok")]);
        assert_eq!(lines(b"", 10), []);
        assert_eq!(lines(b"\n", 10), [text("")]);
        // Exactly at the cap without a trailing line break; one over.
        assert_eq!(lines(at_cap.as_bytes(), 10), [text(&at_cap)]);
        assert_eq!(lines(over.as_bytes(), 10), [(Line::TooLong(11), vec![])]);
    }

    #[test]
    fn a_long_line_is_never_buffered_whole() {
        let mut input = vec![b'a'; 3 * MAX_LINE_BYTES];
        input.extend_from_slice(b"\nnext\n");
        let mut r = io::BufReader::new(input.as_slice());
        let mut buf = Vec::new();
        let got = read_line_capped(&mut r, &mut buf, MAX_LINE_BYTES).unwrap();
        assert_eq!(got, Line::TooLong(3 * MAX_LINE_BYTES as u64));
        assert!(buf.capacity() < 2 * MAX_LINE_BYTES + 16, "{}", buf.capacity());
        assert_eq!(read_line_capped(&mut r, &mut buf, MAX_LINE_BYTES).unwrap(), Line::Text);
        assert_eq!(buf, b"next");
        assert!(too_long(3 * MAX_LINE_BYTES as u64).starts_with("line longer than 1 MiB (3145728 bytes; hint: "));
    }
}
