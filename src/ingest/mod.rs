//! Loading CSV: tag pairs, attributes and purchases, from any [`io::Read`](std::io::Read)
//! (feature `csv`, on by default).
//!
//! Three loaders on [`Engine`](crate::Engine), one per kind of file, each configured by a
//! [`CsvOptions`] and answering with a [`LoadReport`]:
//!
//! | loader | columns | applied with |
//! |---|---|---|
//! | [`Engine::load_tags_csv`](crate::Engine::load_tags_csv) | `customer,tag` | [`Engine::tag_id_pairs`](crate::Engine::tag_id_pairs) |
//! | [`Engine::load_attrs_csv`](crate::Engine::load_attrs_csv) | `customer,name,value` | [`Engine::set_attrs`](crate::Engine::set_attrs) |
//! | [`Engine::load_purchases_csv`](crate::Engine::load_purchases_csv) | `customer,date,amount` | [`Engine::record_purchases`](crate::Engine::record_purchases) |
//!
//! ```
//! use audience::{CsvOptions, Engine};
//! let mut engine = Engine::new();
//! let pairs = "alice,vip\nbob,\"shoes, red\"\r\nbob,高消费\n";
//! let report = engine.load_tags_csv(pairs.as_bytes(), &CsvOptions::new("pairs.csv"))?;
//! assert_eq!((report.records, report.new_customers, report.changed), (3, 2, 3));
//! assert_eq!(engine.count("vip OR 高消费")?, 2);
//!
//! let tx = "date,amount,customer_id\n2024-06-30,19.90,alice\n";
//! let options = CsvOptions::new("tx.csv").columns(["customer_id", "date", "amount"]);
//! engine.load_purchases_csv(tx.as_bytes(), &options)?;
//! assert_eq!(engine.purchase_count(), 1);
//!
//! let bad = "alice,age,34\nbob,age,x\n";
//! let err = engine.load_attrs_csv(bad.as_bytes(), &CsvOptions::new("attrs.csv")).unwrap_err();
//! assert!(err.to_string().starts_with("attrs.csv:2: invalid value \"x\" for attribute \"age\""));
//! assert_eq!(engine.attributes().count(), 0); // nothing applied: not even alice's age
//! # Ok::<(), audience::Error>(())
//! ```
//!
//! # The format
//!
//! RFC 4180, as the [`csv`](https://docs.rs/csv) crate reads it (its parser,
//! [`csv-core`](https://docs.rs/csv-core), does the reading): fields split on the
//! delimiter (`,` unless [`CsvOptions::delimiter`]); a field may be double-quoted, and then
//! holds delimiters, line breaks and quotes written `""`; records end with `\n`, `\r\n` or
//! `\r`; blank lines are skipped; a UTF-8 byte order mark at the start is skipped. Fields
//! are taken as they are (`" x"` keeps its space), but for an attribute's value, an
//! integer, which is trimmed of white space first. Dates and amounts are not: they are
//! read by [`Day`](crate::Day)'s `FromStr` and [`Money::parse`](crate::Money::parse),
//! where a stray space is an error, never a silent guess. Without a header,
//! the columns are the first two (tags) or three fields of each record, in the order above;
//! with one, by name or position ([`CsvOptions::columns`]).
//!
//! # Bad records
//!
//! A record is bad when it has another number of fields than the input's records have (with
//! a header, the header's; without one, the loader's two or three, or the first record's
//! when [`CsvOptions::columns`] gives positions), is longer than [`MAX_RECORD_BYTES`] (never read into memory whole), has a field
//! that is not UTF-8, or has a value the engine refuses: an empty customer key or one
//! longer than [`MAX_CUSTOMER_KEY_LEN`](crate::MAX_CUSTOMER_KEY_LEN), an invalid tag or
//! attribute name, a value that is not an `i64`, an impossible date (`2024-02-30`), an
//! amount with three decimals or `NaN`. Its error is an [`Error::Csv`](crate::Error::Csv)
//! naming the input, the line the record starts on, the column, and what is wrong (with a
//! hint).
//!
//! By default the first bad record stops the load, and **nothing is applied**: no customer
//! registered, no tag created, no value set. With [`CsvOptions::skip_bad_records`] bad
//! records are left out and counted ([`LoadReport::skipped`]), the first few of their
//! errors kept ([`LoadReport::errors`]); everything else is applied.
//!
//! # How it is applied
//!
//! Every key new to the engine gets the next id in the order of first appearance, exactly
//! as [`Engine::customer`](crate::Engine::customer) one line at a time would give (for a
//! new engine, ids `0, 1, ...` in that order), and new tags are created likewise (as
//! [`Engine::ensure_tag`](crate::Engine::ensure_tag) does: kind `Custom`, or the group's);
//! then the whole file is applied with one bulk call, so the result is that of applying the
//! records one by one in file order (for an exclusive group, the last value wins; for an
//! attribute, the last value). On an engine with a journal, a load is a few records: the
//! new keys, the new names, the bulk call.
//!
//! # Threads
//!
//! A big input is read in blocks of a few MiB, which are parsed, checked and looked up on
//! [`CsvOptions::threads`] threads (by default, the machine's); the keys new to the engine
//! are numbered, and the records applied, in file order on the calling thread. The result,
//! errors included, is the same at any thread count.

pub(crate) mod load;
mod parse;
#[cfg(test)]
mod tests;

use std::fmt;

pub use parse::MAX_RECORD_BYTES;

use crate::error::Error;
use crate::par::MAX_THREADS;

/// A column of a CSV input: its position (from 0) or, with a header, its name.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Column {
    /// The field at this position (0 is the first).
    At(usize),
    /// The field under this name in the header (the first such field).
    Named(String),
}

impl From<usize> for Column {
    fn from(i: usize) -> Column {
        Column::At(i)
    }
}

impl From<&str> for Column {
    fn from(name: &str) -> Column {
        Column::Named(name.to_owned())
    }
}

impl From<String> for Column {
    fn from(name: String) -> Column {
        Column::Named(name)
    }
}

/// How a CSV input is read: its name (for errors), header, columns, delimiter, what to do
/// with a bad record, threads. A builder:
///
/// ```
/// use audience::CsvOptions;
/// let options = CsvOptions::new("exports/tags.csv")
///     .columns(["user_id", "label"]) // by name: the input has a header
///     .delimiter(b';')
///     .skip_bad_records(true)
///     .threads(1);
/// # let _ = options;
/// ```
#[derive(Clone, Debug)]
pub struct CsvOptions {
    pub(crate) input: String,
    pub(crate) header: bool,
    pub(crate) columns: Option<Vec<Column>>,
    pub(crate) delimiter: u8,
    pub(crate) skip_bad: bool,
    pub(crate) keep_errors: usize,
    pub(crate) threads: usize,
    pub(crate) keys_of_bad_records: bool,
    /// Bytes a block (the unit of work of a thread) holds: [`parse::BLOCK`], smaller in
    /// tests to exercise cuts.
    pub(crate) block: usize,
}

impl CsvOptions {
    /// Options for the input named `input` (a file name, say: it starts every error
    /// message, `input:line: ...`). No header, the loader's columns in order, `,`, the first
    /// bad record stops the load, the machine's threads.
    pub fn new(input: impl Into<String>) -> CsvOptions {
        CsvOptions {
            input: input.into(),
            header: false,
            columns: None,
            delimiter: b',',
            skip_bad: false,
            keep_errors: 5,
            threads: 0,
            keys_of_bad_records: false,
            block: parse::BLOCK,
        }
    }

    /// Whether the first record is a header (skipped; columns may then be named). Default
    /// `false`.
    pub fn header(mut self, yes: bool) -> CsvOptions {
        self.header = yes;
        self
    }

    /// Where the loader's columns are, in its order (`customer, tag`; `customer, name,
    /// value`; `customer, date, amount`), by position or by name; naming one turns the
    /// header on. Other fields of the input are ignored. Giving another number of columns
    /// than the loader reads is an [`Error::Csv`](crate::Error::Csv) from the loader.
    ///
    /// ```
    /// use audience::{Column, CsvOptions, Engine};
    /// let mut engine = Engine::new();
    /// let csv = "id,segment,user\n1,vip,alice\n2,new,bob\n";
    /// let options = CsvOptions::new("x.csv").header(true).columns([Column::At(2), Column::At(1)]);
    /// engine.load_tags_csv(csv.as_bytes(), &options)?;
    /// assert_eq!(engine.tags_of(engine.id_of("bob").unwrap())?, ["new"]);
    /// # Ok::<(), audience::Error>(())
    /// ```
    pub fn columns<C: Into<Column>>(mut self, columns: impl IntoIterator<Item = C>) -> CsvOptions {
        let columns: Vec<Column> = columns.into_iter().map(Into::into).collect();
        if columns.iter().any(|c| matches!(c, Column::Named(_))) {
            self.header = true;
        }
        self.columns = Some(columns);
        self
    }

    /// The field delimiter (default `b','`; `b';'` and `b'\t'` are common).
    pub fn delimiter(mut self, delimiter: u8) -> CsvOptions {
        self.delimiter = delimiter;
        self
    }

    /// Leave bad records out (counted, the first few errors kept) instead of stopping the
    /// load at the first, with nothing applied. Default `false`.
    pub fn skip_bad_records(mut self, yes: bool) -> CsvOptions {
        self.skip_bad = yes;
        self
    }

    /// How many errors of skipped records [`LoadReport::errors`] keeps (the first ones).
    /// Default 5.
    pub fn keep_errors(mut self, n: usize) -> CsvOptions {
        self.keep_errors = n;
        self
    }

    /// With [`CsvOptions::skip_bad_records`]: a skipped record that has the right number of
    /// fields and a valid customer key still registers its customer (only its value is
    /// bad: a transaction with a broken amount still says the customer exists). Default
    /// `false`: a skipped record changes nothing.
    pub fn register_keys_of_bad_records(mut self, yes: bool) -> CsvOptions {
        self.keys_of_bad_records = yes;
        self
    }

    /// Threads to parse on: `0` (the default) for the machine's
    /// ([`std::thread::available_parallelism`]), at most [`MAX_THREADS`] (a thread holds a
    /// 4 MiB block and its rows). The result is the same at any count.
    pub fn threads(mut self, n: usize) -> CsvOptions {
        self.threads = n;
        self
    }

    /// The thread count to use.
    pub(crate) fn thread_count(&self) -> usize {
        match self.threads {
            0 => std::thread::available_parallelism().map_or(1, usize::from),
            n => n,
        }
        .min(MAX_THREADS)
    }
}

/// What a CSV load did.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct LoadReport {
    /// The input's name, from [`CsvOptions::new`].
    pub input: String,
    /// Bytes read.
    pub bytes: u64,
    /// Data records read (the header and blank lines not counted).
    pub records: u64,
    /// Records applied.
    pub loaded: u64,
    /// Bad records left out ([`CsvOptions::skip_bad_records`]).
    pub skipped: u64,
    /// The first errors of the skipped records ([`CsvOptions::keep_errors`] of them), each
    /// an [`Error::Csv`](crate::Error::Csv), in file order.
    pub errors: Vec<Error>,
    /// Customers registered by the load (keys new to the engine).
    pub new_customers: u64,
    /// Tags (or attributes) the load created.
    pub new_names: u64,
    /// What the bulk write returned: (customer, tag) assignments added, attribute values
    /// set, or purchase records recorded.
    pub changed: u64,
}

impl fmt::Display for LoadReport {
    /// `pairs.csv: 3 records, 3 loaded, 0 skipped; 2 new customers, 3 new names, 3 changed`
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}: {} records, {} loaded, {} skipped; {} new customers, {} new names, {} changed",
            self.input, self.records, self.loaded, self.skipped, self.new_customers, self.new_names, self.changed
        )
    }
}
