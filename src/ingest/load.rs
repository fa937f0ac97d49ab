//! The three loaders: blocks parsed (on several threads) into rows, rows merged in file
//! order on the calling thread, then everything applied at once.
//!
//! - **Parse** ([`parse_block`], any thread): each record is checked (field count, UTF-8,
//!   key, value), its key hashed and looked up in the directory (read-only), its tag or
//!   attribute name numbered within the block.
//! - **Merge** ([`Load::merge`], in order): names checked against the engine once per
//!   block, bad records stop the load or are counted, keys not in the directory resolved
//!   among the staged ones ([`Staged::resolve`], by shard, on the threads) and the new ones
//!   numbered in order of first appearance.
//! - **Apply** (the engine's, with what [`read`] returns): new names, new keys, then one
//!   bulk write. Before it the engine is untouched, so a load that stops has changed
//!   nothing.

use std::collections::HashMap;
use std::io::Read;

use super::parse::{Blocks, Dialect, Lines, Parser, Record};
use super::{Column, CsvOptions, LoadReport};
use crate::attrs::Attrs;
use crate::customers::{Directory, Staged, key_problem};
use crate::error::{CsvColumn, CsvProblem, Error, Result};
use crate::history::{Day, Money};
use crate::id::{CustomerId, TagId};
use crate::tags::Tags;

/// What a loader reads.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Kind {
    Tags,
    Attrs,
    Purchases,
}

impl Kind {
    /// Its columns' names, in its order.
    fn names(self) -> &'static [&'static str] {
        match self {
            Kind::Tags => &["customer", "tag"],
            Kind::Attrs => &["customer", "name", "value"],
            Kind::Purchases => &["customer", "date", "amount"],
        }
    }
}

/// Where a loader's columns are in the input's records, and their names for errors.
#[derive(Debug)]
struct Shape {
    kind: Kind,
    input: String,
    /// Each column's field position.
    at: Vec<usize>,
    /// Each column's name (the header's, or the loader's).
    names: Vec<String>,
    /// Fields a record must have.
    width: usize,
    /// Errors a block keeps: as many as the load reports (at least the first, which stops a
    /// load that does not skip).
    keep: usize,
}

impl Shape {
    fn error(&self, line: u64, column: Option<usize>, problem: CsvProblem) -> Error {
        let column = column.map(|c| CsvColumn { number: self.at[c] + 1, name: self.names[c].clone() });
        Error::Csv { input: self.input.clone(), line, column, problem }
    }
}

/// A record's customer key: found (in the directory or staged), to be staged, or none (a
/// bad record without a usable key).
#[derive(Clone, Copy, Debug)]
enum Key {
    None,
    Found(CustomerId),
    /// Bytes `at..at + len` of the block's key bytes, and the key's hash.
    New {
        at: u32,
        len: u32,
        hash: u64,
    },
}

/// A record's value: a tag or attribute name (by its number in the block), the attribute's
/// value, a purchase, or what is wrong (an error of the block).
#[derive(Clone, Copy, Debug)]
enum Value {
    Tag(u32),
    Attr(u32, i64),
    Purchase(Day, Money),
    Bad(u32),
}

#[derive(Clone, Copy, Debug)]
struct Row {
    line: u64,
    key: Key,
    value: Value,
}

/// One block's records, parsed.
struct Batch {
    rows: Vec<Row>,
    /// Bytes of the keys to stage.
    keys: String,
    /// Tag or attribute names, in order of first appearance in the block, and the line of
    /// that appearance.
    names: Vec<(String, u64)>,
    errors: Vec<Error>,
    /// The parser after the block: [`Parser::clean`] says whether the next block, parsed
    /// from a fresh parser, was parsed right.
    parser: Option<Parser>,
}

/// A bad row whose error was not kept: past the first [`Shape::keep`] of its block (the
/// load keeps no more than that of the whole input, and blocks merge in order).
const UNKEPT: u32 = u32::MAX;

/// Parses `block` (the input's end when `last`) on from `parser`.
fn parse_block(shape: &Shape, dir: &Directory, mut parser: Parser, block: &[u8], last: bool) -> Batch {
    let mut batch = Batch {
        rows: Vec::with_capacity(block.len() / 24),
        keys: String::new(),
        names: Vec::new(),
        errors: Vec::new(),
        parser: None,
    };
    let mut names: HashMap<String, u32> = HashMap::new();
    let mut last_name: Option<u32> = None; // the previous record's name
    let mut last_date: (Vec<u8>, Option<Day>) = (Vec::new(), None);
    let mut each = |r: &Record<'_>| {
        let bad = |batch: &mut Batch, key: Key, column: Option<usize>, problem: CsvProblem| {
            let value = if batch.errors.len() < shape.keep {
                batch.errors.push(shape.error(r.line, column, problem));
                Value::Bad(batch.errors.len() as u32 - 1)
            } else {
                Value::Bad(UNKEPT)
            };
            batch.rows.push(Row { line: r.line, key, value });
        };
        if let Some(len) = r.too_long {
            bad(&mut batch, Key::None, None, CsvProblem::TooLong { len });
            return true;
        }
        if r.fields != shape.width {
            bad(&mut batch, Key::None, None, CsvProblem::FieldCount { expected: shape.width, found: r.fields });
            return true;
        }
        let text = |c: usize| -> std::result::Result<&str, CsvProblem> {
            let bytes = r.field(shape.at[c]).unwrap_or_default();
            std::str::from_utf8(bytes).map_err(|e| CsvProblem::NotUtf8 { valid_up_to: e.valid_up_to() })
        };
        // The key.
        let key = match text(0) {
            Err(p) => {
                bad(&mut batch, Key::None, Some(0), p);
                return true;
            }
            Ok(k) => k,
        };
        if let Some(reason) = key_problem(key) {
            let e = Error::InvalidCustomerKey { key: crate::error::excerpt(key), reason };
            bad(&mut batch, Key::None, Some(0), CsvProblem::Invalid(Box::new(e)));
            return true;
        }
        let hash = dir.hash_key(key);
        let key = match dir.lookup(key, hash) {
            Some(id) => Key::Found(id),
            None => {
                let at = batch.keys.len() as u32;
                batch.keys.push_str(key);
                Key::New { at, len: key.len() as u32, hash }
            }
        };
        // The value.
        let mut name = |batch: &mut Batch, text: &str| -> u32 {
            if let Some(i) = last_name
                && batch.names[i as usize].0 == text
            {
                return i;
            }
            let i = match names.get(text) {
                Some(&i) => i,
                None => {
                    batch.names.push((text.to_owned(), r.line));
                    names.insert(text.to_owned(), batch.names.len() as u32 - 1);
                    batch.names.len() as u32 - 1
                }
            };
            last_name = Some(i);
            i
        };
        let value = match shape.kind {
            Kind::Tags => match text(1) {
                Ok(tag) => Ok(Value::Tag(name(&mut batch, tag))),
                Err(p) => Err((1, p)),
            },
            Kind::Attrs => match (text(1), text(2)) {
                (Err(p), _) => Err((1, p)),
                (_, Err(p)) => Err((2, p)),
                (Ok(attr), Ok(value)) => match value.trim().parse::<i64>() {
                    Ok(v) => Ok(Value::Attr(name(&mut batch, attr), v)),
                    Err(e) => Err((
                        2,
                        CsvProblem::NotInteger {
                            value: crate::error::excerpt(value),
                            attribute: crate::error::excerpt(attr),
                            reason: e,
                        },
                    )),
                },
            },
            Kind::Purchases => match (text(1), text(2)) {
                (Err(p), _) => Err((1, p)),
                (_, Err(p)) => Err((2, p)),
                (Ok(date), Ok(amount)) => {
                    let day = match &last_date {
                        (t, Some(day)) if t.as_slice() == date.as_bytes() => Ok(*day),
                        _ => date.parse::<Day>().inspect(|&day| {
                            last_date.0.clear();
                            last_date.0.extend_from_slice(date.as_bytes());
                            last_date.1 = Some(day);
                        }),
                    };
                    match (day, Money::parse(amount)) {
                        (Err(e), _) => Err((1, CsvProblem::Invalid(Box::new(e)))),
                        (_, Err(e)) => Err((2, CsvProblem::Invalid(Box::new(e)))),
                        (Ok(day), Ok(amount)) => Ok(Value::Purchase(day, amount)),
                    }
                }
            },
        };
        match value {
            Ok(value) => batch.rows.push(Row { line: r.line, key, value }),
            Err((column, problem)) => bad(&mut batch, key, Some(column), problem),
        }
        true
    };
    parser.feed(block, last, &mut each);
    batch.parser = Some(parser);
    batch
}

/// A name of the load (tag or attribute): an existing tag, one to create, or refused.
#[derive(Clone, Debug)]
pub(crate) enum Name {
    /// A tag the engine has (attributes: one it has or will create; its name is enough).
    Known(Option<TagId>),
    /// Refused by the engine, with its error.
    Refused(Box<Error>),
}

/// What a load read, ready to apply: the keys to register, the names to create (in order
/// of first appearance), and the bulk write's input (names by their number).
pub(crate) struct Loaded {
    pub(crate) report: LoadReport,
    pub(crate) staged: Staged,
    pub(crate) names: Vec<(String, Name)>,
    pub(crate) tags: Vec<(CustomerId, u32)>,
    pub(crate) attrs: Vec<(CustomerId, u32, i64)>,
    pub(crate) purchases: Vec<(CustomerId, Day, Money)>,
}

/// The layers a load reads (it writes nothing).
#[derive(Clone, Copy)]
pub(crate) struct Layers<'e> {
    pub(crate) dir: &'e Directory,
    pub(crate) tags: &'e Tags,
    pub(crate) attrs: &'e Attrs,
}

/// The state of one load, on the calling thread.
struct Load<'e> {
    layers: Layers<'e>,
    shape: Shape,
    options: &'e CsvOptions,
    /// The numbers of `out.names`, by name.
    names: HashMap<String, u32>,
    out: Loaded,
}

impl Load<'_> {
    /// Takes a block's rows in order. Errors: the first bad record unless bad records are
    /// skipped; [`Error::CustomerIdsExhausted`].
    fn merge(&mut self, batch: &Batch) -> Result<()> {
        // The block's names: checked against the engine once each.
        let mut names: Vec<std::result::Result<u32, usize>> = Vec::with_capacity(batch.names.len());
        for (name, _) in &batch.names {
            names.push(self.name(name));
        }
        // The bad rows with their errors (the first few only), and the keys to stage, in
        // order.
        let mut errors: Vec<(usize, Option<Error>)> = Vec::new();
        let mut kept = self.out.report.errors.len();
        let mut todo: Vec<(&str, u64)> = Vec::with_capacity(batch.rows.len());
        for (i, row) in batch.rows.iter().enumerate() {
            let keep = kept < self.shape.keep;
            let bad = match row.value {
                Value::Bad(UNKEPT) => Some(None),
                Value::Bad(e) => Some(keep.then(|| batch.errors[e as usize].clone())),
                Value::Tag(n) | Value::Attr(n, _) => match names[n as usize] {
                    Ok(_) => None,
                    Err(refused) => {
                        let Name::Refused(e) = &self.out.names[refused].1 else { unreachable!("refused") };
                        Some(keep.then(|| self.shape.error(row.line, Some(1), CsvProblem::Invalid(e.clone()))))
                    }
                },
                Value::Purchase(..) => None,
            };
            if let Some(error) = &bad {
                if !self.options.skip_bad {
                    return Err(error.clone().expect("the first error of a load is kept"));
                }
                kept += usize::from(error.is_some());
            }
            let staged = bad.is_none() || self.options.keys_of_bad_records;
            if let (true, Key::New { at, len, hash }) = (staged, row.key) {
                todo.push((&batch.keys[at as usize..(at + len) as usize], hash));
            }
            if let Some(error) = bad {
                errors.push((i, error));
            }
        }
        let ids = self.out.staged.resolve(&todo, self.options.thread_count())?;
        let mut ids = ids.into_iter();
        let mut errors = errors.into_iter().peekable();
        self.out.report.records += batch.rows.len() as u64;
        for (i, row) in batch.rows.iter().enumerate() {
            let bad = errors.next_if(|(at, _)| *at == i).map(|(_, e)| e);
            let id = match row.key {
                Key::Found(id) => Some(id),
                Key::New { .. } if bad.is_none() || self.options.keys_of_bad_records => ids.next(),
                _ => None,
            };
            if let Some(error) = bad {
                self.out.report.skipped += 1;
                if let Some(error) = error
                    && self.out.report.errors.len() < self.options.keep_errors
                {
                    self.out.report.errors.push(error);
                }
                continue;
            }
            let id = id.expect("a good row has a key");
            match row.value {
                Value::Tag(n) => self.out.tags.push((id, names[n as usize].unwrap_or_default())),
                Value::Attr(n, v) => self.out.attrs.push((id, names[n as usize].unwrap_or_default(), v)),
                Value::Purchase(day, amount) => self.out.purchases.push((id, day, amount)),
                Value::Bad(_) => unreachable!("bad rows are skipped above"),
            }
            self.out.report.loaded += 1;
        }
        Ok(())
    }

    /// The load's number of `name`, checked by the engine the first time: `Err(number)` when
    /// refused.
    fn name(&mut self, name: &str) -> std::result::Result<u32, usize> {
        let i = match self.names.get(name) {
            Some(&i) => i as usize,
            None => {
                let checked = match self.shape.kind {
                    Kind::Tags => self.layers.tags.check_ensure(name).map(Name::Known),
                    _ => self.layers.attrs.check_define(name).map(|()| Name::Known(None)),
                };
                let state = checked.unwrap_or_else(|e| Name::Refused(Box::new(e)));
                self.out.names.push((name.to_owned(), state));
                self.names.insert(name.to_owned(), self.out.names.len() as u32 - 1);
                self.out.names.len() - 1
            }
        };
        match self.out.names[i].1 {
            Name::Known(_) => Ok(i as u32),
            Name::Refused(_) => Err(i),
        }
    }
}

/// Reads `input` against `layers`: what to apply, or the first bad record's error (unless
/// bad records are skipped); see [the module](super).
pub(crate) fn read(layers: Layers<'_>, input: impl Read, options: &CsvOptions, kind: Kind) -> Result<Loaded> {
    let dialect = Dialect { delimiter: options.delimiter };
    let read_error = |e: std::io::Error, line: u64| options.error(line, read_problem(&e));
    let mut blocks = Blocks::new(input, options.block);
    let Some((mut first, mut first_last)) = blocks.next_block().map_err(|e| read_error(e, 1))? else {
        unreachable!("the first call gives a block, maybe empty")
    };
    let (shape, parser) = shape(kind, options, dialect, &mut blocks, &mut first, &mut first_last)?;
    let report = LoadReport {
        input: options.input.clone(),
        bytes: 0,
        records: 0,
        loaded: 0,
        skipped: 0,
        errors: Vec::new(),
        new_customers: 0,
        new_names: 0,
        changed: 0,
    };
    let out = Loaded {
        report,
        staged: layers.dir.stage(),
        names: Vec::new(),
        tags: Vec::new(),
        attrs: Vec::new(),
        purchases: Vec::new(),
    };
    let mut load = Load { layers, shape, options, names: HashMap::new(), out };
    let threads = options.thread_count().max(1);
    let mut parser = Some(parser);
    let mut pending = Some((first, first_last));
    let mut failed: Option<Error> = None;
    let dir = layers.dir;
    loop {
        // A round: up to `threads` blocks, the first parsed on from `parser`, the others
        // from fresh parsers on other threads.
        let mut round: Vec<(Vec<u8>, bool, u64)> = Vec::with_capacity(threads);
        // Where each block starts, for a fresh parser's line numbers.
        let mut at = parser.as_ref().map_or(Lines { line: 1, cr: false }, Parser::lines);
        while round.len() < threads && failed.is_none() {
            let next = match pending.take() {
                Some(b) => Some(b),
                // A read error is returned once the blocks before it are taken: a bad
                // record in them comes first, whatever the thread count.
                None => blocks.next_block().unwrap_or_else(|e| {
                    failed = Some(read_error(e, at.line));
                    None
                }),
            };
            let Some((block, last)) = next else { break };
            let start = at.fresh(block.first().copied());
            if threads > 1 {
                at.advance(&block);
            }
            round.push((block, last, start));
            if last {
                break;
            }
        }
        if round.is_empty() {
            break;
        }
        let shape = &load.shape;
        let batches: Vec<Batch> = std::thread::scope(|s| {
            let others: Vec<_> = round[1..]
                .iter()
                .map(|(block, last, line)| {
                    let parser = Parser::mid_input(dialect, shape.width + 1, *line);
                    s.spawn(move || parse_block(shape, dir, parser, block, *last))
                })
                .collect();
            let (block, last, _) = &round[0];
            let parser = parser.take().expect("the parser is back after each round");
            let mut out = vec![parse_block(shape, dir, parser, block, *last)];
            out.extend(others.into_iter().map(|h| h.join().expect("a parsing thread panicked")));
            out
        });
        let mut previous: Option<Parser> = None;
        for (mut batch, (block, last, _)) in batches.into_iter().zip(&round) {
            if let Some(p) = previous.take().filter(|p| !p.clean()) {
                // The block was cut inside a record: parse it again on from the one before.
                batch = parse_block(&load.shape, dir, p, block, *last);
            }
            load.merge(&batch)?;
            previous = batch.parser;
        }
        parser = previous;
        if round.last().is_some_and(|r| r.1) || failed.is_some() {
            break;
        }
    }
    if let Some(e) = failed {
        return Err(e);
    }
    load.out.report.bytes = blocks.bytes;
    load.out.report.new_customers = load.out.staged.len() as u64;
    Ok(load.out)
}

/// A read error of the input, as a [`CsvProblem`].
fn read_problem(e: &std::io::Error) -> CsvProblem {
    CsvProblem::Read { kind: e.kind(), message: e.to_string() }
}

impl CsvOptions {
    /// An error of this input as a whole or of its header: no column at fault.
    fn error(&self, line: u64, problem: CsvProblem) -> Error {
        Error::Csv { input: self.input.clone(), line, column: None, problem }
    }
}

/// The most fields a header may have.
const MAX_HEADER_FIELDS: usize = 4096;

/// The first record of an input.
struct Head {
    line: u64,
    count: usize,
    fields: Vec<Vec<u8>>,
    too_long: Option<u64>,
}

/// The loader's columns in the input: from the header (read here, and dropped from
/// `first`) or by position. Returns the parser to go on with.
fn shape(
    kind: Kind,
    options: &CsvOptions,
    dialect: Dialect,
    blocks: &mut Blocks<impl Read>,
    first: &mut Vec<u8>,
    first_last: &mut bool,
) -> Result<(Shape, Parser)> {
    let wanted = kind.names();
    let columns: Vec<Column> = match &options.columns {
        Some(c) => c.clone(),
        None => (0..wanted.len()).map(Column::At).collect(),
    };
    let config = |reason: String| options.error(0, CsvProblem::Columns { reason });
    if columns.len() != wanted.len() {
        return Err(config(format!(
            "{} columns given, this loader reads {} ({}) (hint: give one column for each)",
            columns.len(),
            wanted.len(),
            wanted.join(", ")
        )));
    }
    if !options.header && columns.iter().any(|c| matches!(c, Column::Named(_))) {
        return Err(config("columns named, but the input has no header (hint: header(true))".to_owned()));
    }
    // The first record: the header, or the first data record (whose field count sets the
    // width when columns are given by position).
    let mut parser = None;
    let mut head: Option<Head> = None;
    loop {
        let mut grab = |r: &Record<'_>| {
            let few = r.fields <= MAX_HEADER_FIELDS;
            head = Some(Head {
                line: r.line,
                count: r.fields,
                fields: if few {
                    (0..r.fields).map(|i| r.field(i).unwrap_or_default().to_vec()).collect()
                } else {
                    vec![]
                },
                too_long: r.too_long,
            });
            false
        };
        let mut probe = Parser::new(dialect, MAX_HEADER_FIELDS);
        let n = probe.feed(first, *first_last, &mut grab);
        if head.is_some() || *first_last || first.len() > 2 * super::MAX_RECORD_BYTES + options.block {
            if options.header {
                // Go on after the header.
                parser = Some(probe);
                first.drain(..n);
            }
            break;
        }
        // No complete record in this block: take the next one too.
        match blocks.next_block() {
            Ok(Some((more, last))) => {
                first.extend_from_slice(&more);
                *first_last = last;
            }
            Ok(None) => *first_last = true,
            Err(e) => {
                return Err(options.error(1, read_problem(&e)));
            }
        }
    }
    let (at, names, width) = if options.header {
        let Some(Head { line, count, fields, too_long }) = head else {
            // No record at all, or none complete in the first few MiB.
            let problem =
                if *first_last { CsvProblem::NoHeader } else { CsvProblem::TooLong { len: first.len() as u64 } };
            return Err(options.error(1, problem));
        };
        if let Some(len) = too_long {
            return Err(options.error(line, CsvProblem::TooLong { len }));
        }
        if count > MAX_HEADER_FIELDS {
            return Err(options.error(
                line,
                CsvProblem::Columns { reason: format!("a header of {count} fields, more than {MAX_HEADER_FIELDS}") },
            ));
        }
        let header: Vec<String> = fields.iter().map(|f| String::from_utf8_lossy(f).into_owned()).collect();
        let mut at = Vec::new();
        let mut names = Vec::new();
        for (c, col) in columns.iter().enumerate() {
            let i = match col {
                Column::At(i) => *i,
                Column::Named(name) => header.iter().position(|h| h == name).ok_or_else(|| {
                    options.error(
                        line,
                        CsvProblem::MissingColumn {
                            name: crate::error::excerpt(name),
                            header: header.iter().take(20).map(|h| crate::error::excerpt(h)).collect(),
                        },
                    )
                })?,
            };
            at.push(i);
            names.push(header.get(i).map_or_else(|| wanted[c].to_owned(), |h| crate::error::excerpt(h)));
        }
        (at, names, header.len())
    } else {
        let at: Vec<usize> = columns.iter().map(|c| if let Column::At(i) = c { *i } else { 0 }).collect();
        let width = match (&options.columns, &head) {
            // The loader's own columns: exactly those fields.
            (None, _) => wanted.len(),
            (Some(_), Some(Head { count, too_long: None, .. })) => *count,
            _ => at.iter().max().map_or(0, |m| m + 1),
        };
        if width > MAX_HEADER_FIELDS {
            return Err(config(format!("a first record of {width} fields, more than {MAX_HEADER_FIELDS}")));
        }
        (at, wanted.iter().map(|s| s.to_string()).collect(), width)
    };
    if let Some(&past) = at.iter().find(|&&i| i >= width) {
        return Err(config(format!(
            "column position {past} is past the {width} fields of the input's {} (hint: positions count from 0)",
            if options.header { "header" } else { "first record" }
        )));
    }
    // After a header, its parser goes on (its line, a `\r` it ended on); without one, a
    // parser that keeps `width + 1` ends reads from the start.
    let parser_out = parser.unwrap_or_else(|| Parser::new(dialect, width + 1));
    let keep = if options.skip_bad { options.keep_errors } else { 1 };
    Ok((Shape { kind, input: options.input.clone(), at, names, width, keep }, parser_out))
}
