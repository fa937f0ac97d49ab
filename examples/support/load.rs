//! Loading the CSV files of the `query` and `segment` examples into an [`Engine`]: the pairs
//! file (`customer_key,tag`) through the bulk path, then the optional attributes file
//! (`customer_key,name,value`), with load time, engine sizes and memory on stderr. Errors are
//! ready to print: `file:line: what went wrong (hint: ...)`.
//!
//! Included by each of these examples, next to [`support`](crate::support), with
//! `#[path = "support/load.rs"] mod load;`.

use std::collections::{HashMap, HashSet};
use std::fs::File;
use std::io::BufReader;
use std::time::Instant;

use audience::{CustomerId, Engine, TagId};

use crate::support::{Line, MAX_LINE_BYTES, excerpt, read_line_capped, too_long};

/// A new engine with the pairs of `pairs` and, if given, the attributes of `attrs`; load
/// times, engine sizes and memory on stderr.
pub fn load_engine(pairs: &str, attrs: Option<&str>) -> Result<Engine, String> {
    let mut engine = Engine::new();
    let rss_before = proc_status_kb("VmRSS:");
    load(&mut engine, pairs)?;
    if let Some(path) = attrs {
        load_attrs(&mut engine, path)?;
    }
    report_engine(&engine, rss_before);
    Ok(engine)
}

/// Reads the pairs CSV and loads it into `engine` through the bulk path; timings on stderr.
/// Errors are ready to print.
fn load(engine: &mut Engine, path: &str) -> Result<(), String> {
    let t0 = Instant::now();
    let file = File::open(path).map_err(|e| format!("cannot open {path}: {e}"))?;
    let mut reader = BufReader::with_capacity(1 << 20, file);

    let mut pairs: Vec<(CustomerId, TagId)> = Vec::new();
    let mut tags: HashMap<String, TagId> = HashMap::new();
    // Sorted or grouped input repeats the previous key or tag: skip the hash lookups then.
    let (mut last_key, mut last_customer) = (String::new(), None);
    let (mut last_tag, mut last_tag_id) = (String::new(), None);
    let (mut key_buf, mut tag_buf) = (String::new(), String::new());
    let mut raw: Vec<u8> = Vec::new();
    let mut lineno = 0u64;

    loop {
        let line =
            read_line_capped(&mut reader, &mut raw, MAX_LINE_BYTES).map_err(|e| format!("{path}: read error: {e}"))?;
        if line == Line::End {
            break;
        }
        lineno += 1;
        let at = |msg: &str| format!("{path}:{lineno}: {msg}");
        if let Line::TooLong(len) = line {
            return Err(at(&too_long(len)));
        }
        let Some(line) = csv_line(&raw, lineno).map_err(|m| at(&m))? else {
            continue;
        };
        let (key, tag) = split_pair(line, &mut key_buf, &mut tag_buf).map_err(|m| at(&m))?;

        let customer = match last_customer {
            Some(id) if last_key == key => id,
            _ => {
                let id = engine.customer(key).map_err(|e| at(&e.to_string()))?;
                last_key.clear();
                last_key.push_str(key);
                last_customer = Some(id);
                id
            }
        };
        let tag_id = match last_tag_id {
            Some(id) if last_tag == tag => id,
            _ => {
                let id = match tags.get(tag) {
                    Some(&id) => id,
                    None => {
                        let id = engine.ensure_tag(tag).map_err(|e| at(&e.to_string()))?;
                        tags.insert(tag.to_owned(), id);
                        id
                    }
                };
                last_tag.clear();
                last_tag.push_str(tag);
                last_tag_id = Some(id);
                id
            }
        };
        pairs.push((customer, tag_id));
    }
    let read_s = t0.elapsed().as_secs_f64();
    let n_pairs = pairs.len();

    let t1 = Instant::now();
    let added = engine.tag_id_pairs(pairs).map_err(|e| format!("{path}: bulk load failed: {e}"))?;
    let build_s = t1.elapsed().as_secs_f64();

    eprintln!(
        "loaded {path}: {lines} lines, {n_pairs} pairs ({dups} duplicates) in {total:.3} s \
         (read + intern {read_s:.3} s, bulk build {build_s:.3} s)",
        lines = lineno,
        dups = n_pairs as u64 - added,
        total = read_s + build_s,
    );
    Ok(())
}

/// One line of a headerless CSV file (as read by [`read_line_capped`]: its line break
/// dropped) as text, a byte order mark at the start of the file ignored; `None` for a blank
/// line.
fn csv_line(raw: &[u8], lineno: u64) -> Result<Option<&str>, String> {
    let line = std::str::from_utf8(raw).map_err(|e| format!("not valid UTF-8 ({e})"))?;
    let line = if lineno == 1 { line.strip_prefix('\u{feff}').unwrap_or(line) } else { line };
    Ok(if line.trim().is_empty() { None } else { Some(line) })
}

/// Reads the attributes CSV and applies it with one [`Engine::set_attrs`] call. Keys new to
/// the engine are registered as customers. Each distinct attribute name is checked (with
/// [`Engine::define_attr`]) on the line it first appears on, so a bad name is reported with
/// its line number rather than by the bulk call.
fn load_attrs(engine: &mut Engine, path: &str) -> Result<(), String> {
    let t0 = Instant::now();
    let customers_before = engine.customer_count();
    let file = File::open(path).map_err(|e| format!("cannot open {path}: {e}"))?;
    let mut reader = BufReader::with_capacity(1 << 20, file);
    let mut values: Vec<(CustomerId, String, i64)> = Vec::new();
    let mut names: HashSet<String> = HashSet::new();
    let mut bufs = [String::new(), String::new(), String::new()];
    let mut raw: Vec<u8> = Vec::new();
    let mut lineno = 0u64;
    loop {
        let line =
            read_line_capped(&mut reader, &mut raw, MAX_LINE_BYTES).map_err(|e| format!("{path}: read error: {e}"))?;
        if line == Line::End {
            break;
        }
        lineno += 1;
        let at = |msg: &str| format!("{path}:{lineno}: {msg}");
        if let Line::TooLong(len) = line {
            return Err(at(&too_long(len)));
        }
        let Some(line) = csv_line(&raw, lineno).map_err(|m| at(&m))? else {
            continue;
        };
        let (key, name, value) = split_attr(line, &mut bufs).map_err(|m| at(&m))?;
        if !names.contains(name) {
            engine.define_attr(name).map_err(|e| at(&e.to_string()))?;
            names.insert(name.to_owned());
        }
        let customer = engine.customer(key).map_err(|e| at(&e.to_string()))?;
        values.push((customer, name.to_owned(), value));
    }
    let read_s = t0.elapsed().as_secs_f64();
    let t1 = Instant::now();
    let n = engine.set_attrs(values).map_err(|e| format!("{path}: bulk load failed: {e}"))?;
    eprintln!(
        "loaded {path}: {lineno} lines, {n} values of {attrs} attributes, {new} customers not in the pairs \
         in {total:.3} s (read + intern {read_s:.3} s, bulk build {build_s:.3} s)",
        attrs = names.len(),
        new = engine.customer_count() - customers_before,
        build_s = t1.elapsed().as_secs_f64(),
        total = t0.elapsed().as_secs_f64(),
    );
    Ok(())
}

/// Engine sizes and memory, on stderr.
fn report_engine(engine: &Engine, rss_before: Option<f64>) {
    let s = engine.stats();
    let rss = proc_status_kb("VmRSS:");
    let hwm = proc_status_kb("VmHWM:");
    eprintln!(
        "engine: {} customers ({} keyed), {} tags, {} assignments; bitmaps {:.1} MB serialized, directory ~{:.1} MB",
        s.customers,
        s.keyed_customers,
        s.tags,
        s.assignments,
        mb(s.bitmap_bytes as f64),
        mb(s.directory_bytes as f64),
    );
    match (rss, hwm) {
        (Some(rss), Some(hwm)) => eprintln!(
            "memory: RSS {:.1} MB (+{:.1} MB for the load), peak {:.1} MB",
            rss / 1024.0,
            (rss - rss_before.unwrap_or(0.0)) / 1024.0,
            hwm / 1024.0
        ),
        _ => eprintln!("memory: /proc/self/status not available"),
    }
}

fn mb(bytes: f64) -> f64 {
    bytes / (1024.0 * 1024.0)
}

/// A `VmRSS:`-style field of /proc/self/status, in kB.
fn proc_status_kb(field: &str) -> Option<f64> {
    let s = std::fs::read_to_string("/proc/self/status").ok()?;
    s.lines().find(|l| l.starts_with(field))?.split_whitespace().nth(1)?.parse().ok()
}

/// Splits one CSV line into (key, tag). A quoted field with `""` escapes is unescaped into
/// the matching buffer; otherwise the line is borrowed.
fn split_pair<'a>(
    line: &'a str,
    key_buf: &'a mut String,
    tag_buf: &'a mut String,
) -> Result<(&'a str, &'a str), String> {
    let (key, rest) = field(line, key_buf)?;
    let Some(rest) = rest.strip_prefix(',') else {
        return Err(format!("expected `customer_key,tag`, found no comma in {}", excerpt(line)));
    };
    if key.is_empty() {
        return Err("empty customer key".to_owned());
    }
    let (tag, rest) = field(rest, tag_buf)?;
    if !rest.is_empty() {
        return Err(format!(
            "more than two fields in {} (hint: double-quote a tag that contains a comma: key,\"a, b\")",
            excerpt(line)
        ));
    }
    if tag.trim().is_empty() {
        return Err("empty tag".to_owned());
    }
    Ok((key, tag))
}

/// Splits one CSV line into (key, attribute name, value), with the rules of [`split_pair`].
fn split_attr<'a>(line: &'a str, bufs: &'a mut [String; 3]) -> Result<(&'a str, &'a str, i64), String> {
    let [key_buf, name_buf, value_buf] = bufs;
    let (key, rest) = field(line, key_buf)?;
    let Some(rest) = rest.strip_prefix(',') else {
        return Err(format!("expected `customer_key,name,value`, found no comma in {}", excerpt(line)));
    };
    if key.is_empty() {
        return Err("empty customer key".to_owned());
    }
    let (name, rest) = field(rest, name_buf)?;
    let Some(rest) = rest.strip_prefix(',') else {
        return Err(format!("expected `customer_key,name,value`, found two fields in {}", excerpt(line)));
    };
    if name.trim().is_empty() {
        return Err("empty attribute name".to_owned());
    }
    let (value, rest) = field(rest, value_buf)?;
    if !rest.is_empty() {
        return Err(format!(
            "more than three fields in {} (hint: double-quote a name that contains a comma: key,\"a, b\",1)",
            excerpt(line)
        ));
    }
    let value = value.trim().parse::<i64>().map_err(|e| {
        format!(
            "invalid value {} for attribute {}: {e} (hint: an integer such as 42 or -5, no decimals)",
            excerpt(value),
            excerpt(name)
        )
    })?;
    Ok((key, name, value))
}

/// One field at the start of `s` and what follows it (empty, or starting with the `,`).
/// Spaces around a quoted field are ignored; an unquoted field is taken as it is.
fn field<'a>(s: &'a str, buf: &'a mut String) -> Result<(&'a str, &'a str), String> {
    let trimmed = s.trim_start_matches([' ', '\t']);
    let Some(body) = trimmed.strip_prefix('"') else {
        let end = s.find(',').unwrap_or(s.len());
        return Ok((&s[..end], &s[end..]));
    };
    // Quoted: runs of text up to a quote; `""` is a literal quote, a lone `"` closes.
    let mut escaped = false;
    let mut i = 0;
    let close = loop {
        let Some(q) = body[i..].find('"') else {
            return Err("unterminated quoted field (hint: a quote inside a quoted field is written \"\")".to_owned());
        };
        let q = i + q;
        if body[q + 1..].starts_with('"') {
            escaped = true;
            i = q + 2;
        } else {
            break q;
        }
    };
    let rest = body[close + 1..].trim_start_matches([' ', '\t']);
    if !(rest.is_empty() || rest.starts_with(',')) {
        return Err(format!("unexpected text {} after a closing quote", excerpt(rest)));
    }
    let value = &body[..close];
    if !escaped {
        return Ok((value, rest));
    }
    buf.clear();
    for (i, part) in value.split("\"\"").enumerate() {
        if i > 0 {
            buf.push('"');
        }
        buf.push_str(part);
    }
    Ok((buf.as_str(), rest))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn split(line: &str) -> Result<(String, String), String> {
        let (mut a, mut b) = (String::new(), String::new());
        split_pair(line, &mut a, &mut b).map(|(k, t)| (k.to_owned(), t.to_owned()))
    }

    #[test]
    fn csv_fields() {
        assert_eq!(split("alice,vip").unwrap(), ("alice".into(), "vip".into()));
        assert_eq!(split("alice,\"shoes, red\"").unwrap(), ("alice".into(), "shoes, red".into()));
        assert_eq!(split("\"a,b\",\"say \"\"hi\"\"\"").unwrap(), ("a,b".into(), "say \"hi\"".into()));
        assert_eq!(split("alice, \"x\" ").unwrap(), ("alice".into(), "x".into()));
        assert!(split("alice").is_err());
        assert!(split(",vip").is_err());
        assert!(split("alice,").is_err());
        assert!(split("alice,a,b").is_err());
        assert!(split("alice,\"open").is_err());
        assert!(split("alice,\"x\"y").is_err());
    }

    #[test]
    fn attr_fields() {
        let attr = |line: &str| {
            let mut bufs = [String::new(), String::new(), String::new()];
            split_attr(line, &mut bufs).map(|(k, n, v)| (k.to_owned(), n.to_owned(), v))
        };
        assert_eq!(attr("alice,age,34").unwrap(), ("alice".into(), "age".into(), 34));
        assert_eq!(attr("\"a,b\",\"net, worth\",-5").unwrap(), ("a,b".into(), "net, worth".into(), -5));
        assert_eq!(attr("alice,age, \"-7\" ").unwrap(), ("alice".into(), "age".into(), -7));
        assert_eq!(attr("alice,age, 8").unwrap(), ("alice".into(), "age".into(), 8));
        for bad in
            ["alice", "alice,age", ",age,1", "alice,,1", "alice,age,", "alice,age,1.5", "alice,age,x", "alice,age,1,2"]
        {
            assert!(attr(bad).is_err(), "{bad}");
        }
        assert!(attr("a,b,99999999999999999999").unwrap_err().contains("invalid value"));
    }

    #[test]
    fn errors_quote_an_excerpt_of_a_long_line() {
        let line = format!("alice{}", "x".repeat(100 << 20));
        let e = split(&line).unwrap_err();
        assert!(e.len() < 200 && e.ends_with(&format!("\" ({} bytes)", line.len())), "{e}");
        let e = split(&format!("alice,a,{}", "b".repeat(1000))).unwrap_err();
        assert!(e.starts_with("more than two fields in \"alice,a,bbb") && e.len() < 300, "{e}");
        let mut bufs = [String::new(), String::new(), String::new()];
        let e = split_attr(&format!("alice,age,{}", "9".repeat(10_000)), &mut bufs).unwrap_err();
        assert!(e.starts_with("invalid value \"999") && e.contains("(10000 bytes)") && e.len() < 300, "{e}");
        // Short input is quoted whole, as the CI checks.
        assert!(
            split_attr("bob,age,x", &mut bufs).unwrap_err().starts_with("invalid value \"x\" for attribute \"age\"")
        );
    }

    #[test]
    fn a_pairs_line_longer_than_the_cap_names_its_line() {
        let path = std::env::temp_dir().join(format!("audience-query-test-{}.csv", std::process::id()));
        let mut text = "alice,vip\n".repeat(6);
        text.push_str(&format!("bob,{}\ncarol,vip\n", "x".repeat(MAX_LINE_BYTES)));
        std::fs::write(&path, text).unwrap();
        let path_str = path.to_str().unwrap().to_owned();
        let got = load(&mut Engine::new(), &path_str);
        let _ = std::fs::remove_file(&path);
        let e = got.unwrap_err();
        let want = format!("{path_str}:7: line longer than 1 MiB ({} bytes; hint: ", MAX_LINE_BYTES + 4);
        assert!(e.starts_with(&want), "{e}");
    }
}
