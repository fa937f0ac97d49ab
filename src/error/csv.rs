//! What is wrong with a CSV record or input: the payloads of
//! [`Error::Csv`](crate::Error::Csv), and how its message names the line and column.

use std::fmt;

use super::Quote;

/// A column of a CSV record ([`Error::Csv`](crate::Error::Csv)).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CsvColumn {
    /// Its position in the record, from 1 (as a spreadsheet counts).
    pub number: usize,
    /// Its name: the header's, or the loader's (`customer`, `tag`, `name`, `value`, `date`,
    /// `amount`).
    pub name: String,
}

/// `:12`, or nothing for line 0.
pub(crate) struct LineNote(pub(crate) u64);

impl fmt::Display for LineNote {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.0 > 0 { write!(f, ":{}", self.0) } else { Ok(()) }
    }
}

/// ` (column 3, "amount")`, or nothing.
pub(crate) struct ColumnNote<'a>(pub(crate) Option<&'a CsvColumn>);

impl fmt::Display for ColumnNote<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.0 {
            Some(c) => write!(f, " (column {}, {})", c.number, Quote(&c.name)),
            None => Ok(()),
        }
    }
}

/// What is wrong with a CSV record or input ([`Error::Csv`](crate::Error::Csv)).
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum CsvProblem {
    /// The record has another number of fields than the header, or than the first record
    /// of an input without one.
    FieldCount {
        /// The header's (or first record's) number of fields.
        expected: usize,
        /// This record's.
        found: usize,
    },
    /// The record is longer than [`MAX_RECORD_BYTES`](crate::MAX_RECORD_BYTES) (it was not
    /// read into memory).
    TooLong {
        /// Its field bytes.
        len: u64,
    },
    /// A field is not valid UTF-8.
    NotUtf8 {
        /// The length of its valid start, in bytes.
        valid_up_to: usize,
    },
    /// A value the engine refuses: the engine's own error (an invalid customer key, tag or
    /// attribute name, date or amount).
    Invalid(Box<super::Error>),
    /// An attribute's value that is not an integer (`i64`).
    NotInteger {
        /// The value ([cut to an excerpt](crate::Error#long-input) when long).
        value: String,
        /// The attribute.
        attribute: String,
        /// Why it does not parse.
        reason: std::num::ParseIntError,
    },
    /// The header has no column of this name.
    MissingColumn {
        /// The name asked for.
        name: String,
        /// The header's names (at most the first 20).
        header: Vec<String>,
    },
    /// The input is empty, and a header was expected.
    NoHeader,
    /// The options give another number of columns than the loader reads, or a position past
    /// the record's fields.
    Columns {
        /// What is wrong.
        reason: String,
    },
    /// Reading the input failed.
    Read {
        /// The operating system's error kind.
        kind: std::io::ErrorKind,
        /// Its message.
        message: String,
    },
}

impl fmt::Display for CsvProblem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            CsvProblem::FieldCount { expected, found } => write!(
                f,
                "expected {expected} fields, found {found} (hint: double-quote a field that holds the delimiter: \"a, b\")"
            ),
            CsvProblem::TooLong { len } => write!(
                f,
                "record longer than 1 MiB ({len} bytes; hint: one record per line, at most 1 MiB; \
                 a quote left open runs to the next quote)"
            ),
            CsvProblem::NotUtf8 { valid_up_to } => {
                write!(f, "not valid UTF-8 after byte {valid_up_to} of the field (hint: save the file as UTF-8)")
            }
            CsvProblem::Invalid(e) => write!(f, "{e}"),
            CsvProblem::NotInteger { value, attribute, reason } => write!(
                f,
                "invalid value {} for attribute {}: {reason} (hint: an integer such as 42 or -5, no decimals)",
                Quote(value),
                Quote(attribute)
            ),
            CsvProblem::MissingColumn { name, header } => write!(
                f,
                "the header has no column {} (its columns: {}; hint: name a column of the header, or give positions)",
                Quote(name),
                super::render::QuoteList(header)
            ),
            CsvProblem::NoHeader => f.write_str("empty input, expected a header line (hint: check the file)"),
            CsvProblem::Columns { reason } => write!(f, "{reason}"),
            CsvProblem::Read { message, .. } => write!(f, "read error: {message}"),
        }
    }
}
