//! The engine's data in ClickHouse's formats, and back: tags as `groupBitmap` states, keys
//! and attributes as `RowBinary` rows, queries as SQL (`crate::clickhouse` holds the
//! encodings and the translation).

use std::collections::BTreeMap;
use std::io::{self, BufReader, Read, Write};
use std::path::{Path, PathBuf};

use roaring::RoaringBitmap;

use super::{AsQuery, Engine};
use crate::clickhouse::{self as ch, ClickHouseRows, RowReader, Tables};
use crate::error::{Error, Result};
use crate::id::CustomerId;
use crate::tags::TagKind;

/// What [`Engine::export_clickhouse`] wrote: rows and bytes per file.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct ClickHouseExport {
    /// `tags.bin`: rows (one per tag) and bytes.
    pub tags: (u64, u64),
    /// `customers.bin`: rows (one per live customer) and bytes.
    pub customers: (u64, u64),
    /// `attrs.bin`: rows (one per value) and bytes; `None` when not asked for.
    pub attrs: Option<(u64, u64)>,
}

/// What [`Engine::read_clickhouse_tags`] did.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct ClickHouseImport {
    /// Rows read.
    pub rows: u64,
    /// Tags set (rows of one tag are united first, as ClickHouse merges states).
    pub tags: u64,
    /// Of those, tags the engine did not have (created with the row's kind).
    pub new_tags: u64,
    /// Customers who carry a tag they did not before, summed over the tags.
    pub added: u64,
    /// Customers who lost a tag, summed over the tags.
    pub removed: u64,
    /// Of the added, customers who lost another value of the tag's exclusive group.
    pub displaced: u64,
    /// Ids in the bitmaps that are not live customers of the engine: skipped.
    pub skipped: u64,
    /// Tags a layer derives (`stage:`, `rfm:`, segment values, rule tags): not written.
    pub derived: u64,
}

/// An [`Error::Io`] of writing to a caller's writer.
fn write_error(e: io::Error) -> Error {
    Error::Io { path: PathBuf::from("(the writer)"), action: "write to", kind: e.kind(), message: e.to_string() }
}

/// Counts the bytes written through it.
struct Counted<W> {
    inner: W,
    bytes: u64,
}

impl<W: Write> Write for Counted<W> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let n = self.inner.write(buf)?;
        self.bytes += n as u64;
        Ok(n)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.inner.flush()
    }
}

impl Engine {
    /// Writes every tag as a `RowBinary` row of ClickHouse's
    /// `(tag String, kind String, customers AggregateFunction(groupBitmap, UInt32))`: the
    /// tag's name, its kind ([`TagKind::as_str`]) and its own members (not its descendants':
    /// [`Query::to_clickhouse_sql`](crate::Query::to_clickhouse_sql) unites a tag's subtree
    /// by name) as ClickHouse's own `groupBitmap` state: up to 32 ids inline, more as a
    /// portable Roaring bitmap (see [`Tables`]). Every tag of the pool, empty ones and
    /// derived ones (`stage:`, `rfm:`, segment values, rule tags) included, in pool order.
    /// Returns the rows written. The writer is not buffered here: hand a `BufWriter`.
    ///
    /// ```
    /// use audience::Engine;
    /// let mut engine = Engine::new();
    /// let ada = engine.customer("ada")?;
    /// engine.tag(ada, "vip")?;
    /// let mut rows = Vec::new();
    /// assert_eq!(engine.write_clickhouse_tags(&mut rows)?, 1);
    /// // 'vip', 'custom', a small set of one id (0)
    /// assert_eq!(rows, b"\x03vip\x06custom\x00\x01\x00\x00\x00\x00");
    /// # Ok::<(), audience::Error>(())
    /// ```
    ///
    /// Errors: [`Error::Io`] when the writer fails.
    pub fn write_clickhouse_tags(&self, out: &mut impl Write) -> Result<u64> {
        let mut rows = 0;
        for info in self.tags.infos() {
            let members = self.tags.store().get(info.id);
            ch::write_string(out, info.name.as_bytes()).map_err(write_error)?;
            ch::write_string(out, info.kind.as_str().as_bytes()).map_err(write_error)?;
            ch::write_state(out, members).map_err(write_error)?;
            rows += 1;
        }
        Ok(rows)
    }

    /// Writes every live customer as a `RowBinary` row of `(customer_id UInt32, key String)`,
    /// ascending by id; a customer registered by id alone ([`Engine::customer_id`]) has an
    /// empty key. This table is the universe `NOT` and `*` are relative to in the SQL.
    /// Returns the rows written.
    ///
    /// Errors: [`Error::Io`] when the writer fails.
    pub fn write_clickhouse_customers(&self, out: &mut impl Write) -> Result<u64> {
        let mut rows = 0;
        for id in self.customers.live() {
            out.write_all(&id.to_le_bytes()).map_err(write_error)?;
            let key = self.customers.key_of(CustomerId(id)).unwrap_or("");
            ch::write_string(out, key.as_bytes()).map_err(write_error)?;
            rows += 1;
        }
        Ok(rows)
    }

    /// Writes every numeric attribute value as a `RowBinary` row of
    /// `(customer_id UInt32, name String, value Int64)`, attribute by attribute, ascending by
    /// customer: the value as [`Engine::attr`] reads it (for `recency_days`, the days as of
    /// the last refresh). Returns the rows written.
    ///
    /// Errors: [`Error::Io`] when the writer fails.
    pub fn write_clickhouse_attrs(&self, out: &mut impl Write) -> Result<u64> {
        let mut rows = 0;
        for (name, attr) in self.attrs.iter() {
            for (id, value) in attr.values() {
                out.write_all(&id.to_le_bytes()).map_err(write_error)?;
                ch::write_string(out, name.as_bytes()).map_err(write_error)?;
                out.write_all(&value.to_le_bytes()).map_err(write_error)?;
                rows += 1;
            }
        }
        Ok(rows)
    }

    /// Writes `dir/tags.bin`, `dir/customers.bin` and, with `attrs`, `dir/attrs.bin`
    /// ([`Engine::write_clickhouse_tags`] and its kin), creating `dir` if needed; rows and
    /// bytes of each. Load them with, for example:
    ///
    /// ```sql
    /// CREATE TABLE tags (tag String, kind String, customers AggregateFunction(groupBitmap, UInt32))
    ///     ENGINE = MergeTree ORDER BY tag;
    /// INSERT INTO tags FROM INFILE 'out/tags.bin' FORMAT RowBinary;
    /// ```
    ///
    /// Errors: [`Error::Io`] naming the file that could not be created or written.
    pub fn export_clickhouse(&self, dir: impl AsRef<Path>, attrs: bool) -> Result<ClickHouseExport> {
        let dir = dir.as_ref();
        let io = |path: &Path, action: &'static str| {
            let path = path.to_path_buf();
            move |e: io::Error| Error::Io { path, action, kind: e.kind(), message: e.to_string() }
        };
        std::fs::create_dir_all(dir).map_err(io(dir, "create"))?;
        let write = |name: &str, f: &dyn Fn(&mut Counted<io::BufWriter<std::fs::File>>) -> Result<u64>| {
            let path = dir.join(name);
            let file = std::fs::File::create(&path).map_err(io(&path, "create"))?;
            let mut out = Counted { inner: io::BufWriter::with_capacity(1 << 20, file), bytes: 0 };
            let rows = f(&mut out).map_err(|e| match e {
                Error::Io { kind, message, .. } => Error::Io { path: path.clone(), action: "write", kind, message },
                e => e,
            })?;
            out.flush().map_err(io(&path, "write"))?;
            Ok((rows, out.bytes))
        };
        Ok(ClickHouseExport {
            tags: write("tags.bin", &|o| self.write_clickhouse_tags(o))?,
            customers: write("customers.bin", &|o| self.write_clickhouse_customers(o))?,
            attrs: if attrs { Some(write("attrs.bin", &|o| self.write_clickhouse_attrs(o))?) } else { None },
        })
    }

    /// Reads `RowBinary` rows of tags and `groupBitmap` states (laid out as `rows` says:
    /// what [`Engine::write_clickhouse_tags`] writes, or the output of `SELECT tag,
    /// groupBitmapState(toUInt32(customer_id)) ... FORMAT RowBinary`) and makes each tag's
    /// members the bitmap's live customers, as [`Engine::set_tag_from_portable_bytes`] does:
    /// bitmaps computed in ClickHouse (a nightly job over event logs) become tags in
    /// process. The ids are this engine's customer ids (the `customers` table maps them to
    /// keys; a `groupBitmap(UInt64)` state is not read: cast the ids with `toUInt32`); ids
    /// that are not live customers are skipped and counted. `input` names the input in
    /// errors.
    ///
    /// - Rows naming one tag (by its name, or an alias of it, normalized) are united first,
    ///   as ClickHouse merges the states of an `AggregatingMergeTree`.
    /// - A tag the engine does not have is created with the row's kind, or without a kind
    ///   column the kind a new name gets ([`Engine::ensure_tag`]); an existing tag keeps its
    ///   kind.
    /// - Tags a layer derives (`stage:`, `rfm:`, `r:`, a plan's values, rule tags), which an
    ///   engine's own export holds, are not written (the layer computes them): skipped and
    ///   counted ([`ClickHouseImport::derived`]).
    /// - Tags are set in name order; in an exclusive group, a customer in two values' rows
    ///   ends with the later one, and losing the other is counted
    ///   ([`ClickHouseImport::displaced`]).
    ///
    /// Every row is read and every name checked before anything changes: on an error,
    /// nothing is applied (unless the journal itself fails to write midway, which breaks it
    /// as any write does). Journaled as one record per tag set.
    ///
    /// ```
    /// use audience::{ClickHouseRows, Engine};
    /// let mut source = Engine::new();
    /// for key in ["a", "b", "c"] {
    ///     let c = source.customer(key)?;
    ///     source.tag(c, "vip")?;
    /// }
    /// let mut rows = Vec::new();
    /// source.write_clickhouse_tags(&mut rows)?;
    ///
    /// let mut engine = Engine::new();
    /// for key in ["a", "b", "c"] {
    ///     engine.customer(key)?;
    /// }
    /// let done = engine.read_clickhouse_tags(&rows[..], ClickHouseRows::TagKindCustomers, "tags.bin")?;
    /// assert_eq!((done.tags, done.added), (1, 3));
    /// assert_eq!(engine.count("vip")?, 3);
    /// # Ok::<(), audience::Error>(())
    /// ```
    ///
    /// Errors: [`Error::InvalidRowBinary`] (row and byte offset) for input that is not such
    /// rows: cut short, a string not UTF-8 or longer than 64 KiB, an unknown kind, a state
    /// of an unknown kind, a small set of more than 32 values, a Roaring bitmap that does
    /// not check or is longer than any `u32` set needs; the engine's own error for a name it
    /// refuses ([`Error::InvalidTagName`], [`Error::AliasConflict`]).
    pub fn read_clickhouse_tags(
        &mut self,
        input: impl Read,
        rows: ClickHouseRows,
        name: &str,
    ) -> Result<ClickHouseImport> {
        let mut r = RowReader::new(BufReader::with_capacity(1 << 16, input), name);
        // By the tag each row names (resolved and normalized): kind, ids.
        let mut tags: BTreeMap<String, (Option<TagKind>, RoaringBitmap)> = BTreeMap::new();
        let mut count = 0u64;
        while r.next_row()? {
            count += 1;
            let raw = r.string("the tag's name")?;
            let kind = match rows {
                ClickHouseRows::TagKindCustomers => {
                    let at = r.offset();
                    let kind = r.string("the tag's kind")?;
                    Some(kind.parse::<TagKind>().map_err(|e| r.error_at(at, format!("kind: {e}")))?)
                }
                ClickHouseRows::TagCustomers => None,
            };
            let bits = r.state()?;
            let tag = match self.tags.id(&raw) {
                Some(id) => self.tags.name_of(id).unwrap_or(&raw).to_owned(),
                None => crate::tags::normalize_tag(&raw)?.into_owned(),
            };
            let entry = tags.entry(tag).or_insert_with(|| (kind, RoaringBitmap::new()));
            entry.1 |= bits;
        }
        // Every name checked before anything changes; a layer's own tags are left to it.
        let mut done = ClickHouseImport {
            rows: count,
            tags: 0,
            new_tags: 0,
            added: 0,
            removed: 0,
            displaced: 0,
            skipped: 0,
            derived: 0,
        };
        let mut set = Vec::with_capacity(tags.len());
        for (tag, (kind, bits)) in tags {
            match self.tags.check_ensure(&tag) {
                Ok(existing) => set.push((tag, kind.filter(|_| existing.is_none()), bits)),
                Err(Error::DerivedName { .. }) => done.derived += 1,
                Err(e) => return Err(e),
            }
        }
        // Name order: a parent before its children, so a new child finds it made.
        for (tag, kind, bits) in &set {
            if let Some(kind) = kind {
                if self.tags.id(tag).is_none() {
                    self.define_tag(tag, *kind)?;
                    done.new_tags += 1;
                }
            } else if self.tags.id(tag).is_none() {
                done.new_tags += 1; // made by the write, with the kind a new name gets
            }
            let r = self.replace_tag(bits, tag)?;
            done.tags += 1;
            done.added += r.added;
            done.removed += r.removed;
            done.displaced += r.displaced;
            done.skipped += r.skipped;
        }
        Ok(done)
    }

    /// The query as ClickHouse SQL over the exported tables, as
    /// [`Query::to_clickhouse_sql`](crate::Query::to_clickhouse_sql) renders it, with names
    /// resolved by this engine first: an alias becomes the tag it names, and a tag or
    /// attribute the engine does not know is the error a query on the engine gives (the
    /// SQL would silently match nobody).
    ///
    /// ```
    /// use audience::{Engine, Tables};
    /// let mut engine = Engine::new();
    /// engine.ensure_tag("gender:male")?;
    /// engine.alias_tag("M", "gender:male")?;
    /// let sql = engine.to_clickhouse_sql("M", &Tables::default())?;
    /// assert!(sql.contains("tag = 'gender:male'"));
    /// assert!(engine.to_clickhouse_sql("vipp", &Tables::default()).is_err());
    /// # Ok::<(), audience::Error>(())
    /// ```
    ///
    /// Errors: as [`Engine::count`] for names ([`Error::UnknownTag`],
    /// [`Error::UnknownAttribute`]), and [`Error::NotTranslatable`].
    pub fn to_clickhouse_sql(&self, query: impl AsQuery, tables: &Tables) -> Result<String> {
        let query = query.as_query()?;
        ch::render_sql(&query, tables, &EngineNames(self))
    }
}

/// Names resolved through an engine.
struct EngineNames<'a>(&'a Engine);

impl ch::Names for EngineNames<'_> {
    fn tag(&self, name: &str) -> Result<String> {
        let id = self.0.tags.lookup(name)?;
        Ok(self.0.tags.name_of(id).unwrap_or(name).to_owned())
    }

    fn attr(&self, name: &str) -> Result<String> {
        let norm = crate::attrs::normalize_attr(name)?;
        match self.0.attrs.get_full(&norm) {
            Some((full, _)) => Ok(full.to_owned()),
            None => Err(self.0.attrs.unknown(&norm)),
        }
    }
}
