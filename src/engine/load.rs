//! Loading CSV inputs (feature `csv`): the reading is [`crate::ingest`]'s.

use std::io::Read;

use super::Engine;
use crate::error::Result;
use crate::id::TagId;
use crate::ingest::load::{Kind, Layers, Loaded, Name, read};
use crate::ingest::{CsvOptions, LoadReport};

impl Engine {
    /// Loads (customer, tag) pairs from CSV: `customer,tag` records (or the columns
    /// [`CsvOptions::columns`] names), keys new to the engine registered as customers in
    /// order of first appearance, tags new to the pool created (as [`Engine::ensure_tag`]
    /// does), all pairs applied with one [`Engine::tag_id_pairs`] call. The format, the
    /// bad-record rules and threads are in [`CsvOptions`]' docs and
    /// [the module's](crate::CsvOptions#the-format).
    ///
    /// ```
    /// use audience::{CsvOptions, Engine};
    /// let mut engine = Engine::new();
    /// let file = "alice,vip\nbob,vip\nbob,\"outdoor, hiking\"\n";
    /// let report = engine.load_tags_csv(file.as_bytes(), &CsvOptions::new("tags.csv"))?;
    /// assert_eq!((report.records, report.new_customers, report.new_names), (3, 2, 2));
    /// assert_eq!(engine.count("vip AND \"outdoor, hiking\"")?, 1);
    /// # Ok::<(), audience::Error>(())
    /// ```
    ///
    /// Errors: the first bad record's [`Error::Csv`](crate::Error::Csv) (unless
    /// [`CsvOptions::skip_bad_records`]; nothing is applied then), a read error of `input`
    /// (an `Error::Csv` too), [`Error::CustomerIdsExhausted`](crate::Error::CustomerIdsExhausted),
    /// and a journal's errors.
    pub fn load_tags_csv(&mut self, input: impl Read, options: &CsvOptions) -> Result<LoadReport> {
        self.load_csv(input, options, Kind::Tags)
    }

    /// Loads numeric attributes from CSV: `customer,name,value` records, `value` an integer
    /// (`i64`, white space around it ignored); new keys registered and new attribute names
    /// declared as in [`Engine::load_tags_csv`], all values set with one
    /// [`Engine::set_attrs`] call (a repeated customer and name: the last value wins).
    ///
    /// ```
    /// use audience::{CsvOptions, Engine};
    /// let mut engine = Engine::new();
    /// let file = "alice,age,34\nbob,age, 52 \nbob,balance,-10\n";
    /// engine.load_attrs_csv(file.as_bytes(), &CsvOptions::new("attrs.csv"))?;
    /// assert_eq!(engine.count("age >= 40 AND balance < 0")?, 1);
    /// # Ok::<(), audience::Error>(())
    /// ```
    ///
    /// Errors: as [`Engine::load_tags_csv`].
    pub fn load_attrs_csv(&mut self, input: impl Read, options: &CsvOptions) -> Result<LoadReport> {
        self.load_csv(input, options, Kind::Attrs)
    }

    /// Loads purchases from CSV: `customer,date,amount` records, `date` as [`Day`](crate::Day)
    /// parses it (`YYYY-MM-DD`, or an RFC 3339 timestamp counted on its UTC day), `amount`
    /// as [`Money::parse`](crate::Money::parse) does (at most two decimals; negative: a
    /// refund); new keys registered as in [`Engine::load_tags_csv`], all purchases recorded
    /// with one [`Engine::record_purchases`] call.
    ///
    /// ```
    /// use audience::{CsvOptions, Day, Engine};
    /// let mut engine = Engine::new();
    /// let file = "customer_id,date,amount\nalice,2024-05-01,19.90\nalice,2024-06-01,-5\n";
    /// let options = CsvOptions::new("tx.csv").columns(["customer_id", "date", "amount"]);
    /// engine.load_purchases_csv(file.as_bytes(), &options)?;
    /// engine.refresh(Day::from_ymd(2024, 6, 30)?)?;
    /// let alice = engine.id_of("alice").unwrap();
    /// assert_eq!(engine.rfm_of(alice)?.unwrap().monetary, 1490);
    /// # Ok::<(), audience::Error>(())
    /// ```
    ///
    /// Errors: as [`Engine::load_tags_csv`].
    pub fn load_purchases_csv(&mut self, input: impl Read, options: &CsvOptions) -> Result<LoadReport> {
        self.load_csv(input, options, Kind::Purchases)
    }

    /// Reads `input` with the layers as they are, then applies what it read: new names,
    /// new keys, then one bulk write. Nothing is written before the whole input is read.
    fn load_csv(&mut self, input: impl Read, options: &CsvOptions, kind: Kind) -> Result<LoadReport> {
        let layers = Layers { dir: &self.customers, tags: &self.tags, attrs: &self.attrs };
        let Loaded { mut report, staged, names, tags, attrs, purchases } = read(layers, input, options, kind)?;
        // A refused name is no record's: its records were bad.
        let mut ids: Vec<TagId> = Vec::new();
        for (name, state) in &names {
            match (kind, state) {
                (_, Name::Refused(_)) => ids.push(TagId(u32::MAX)),
                (Kind::Tags, Name::Known(Some(id))) => ids.push(*id),
                (Kind::Tags, Name::Known(None)) => {
                    let before = self.tags.len();
                    ids.push(self.ensure_tag(name)?);
                    report.new_names += (self.tags.len() - before) as u64;
                }
                (_, Name::Known(_)) => {
                    // An attribute the engine has needs no journal record.
                    if !self.attrs.contains(name) {
                        self.define_attr(name)?;
                        report.new_names += 1;
                    }
                }
            }
        }
        self.commit_customers(&staged, options.thread_count())?;
        drop(staged);
        report.changed = match kind {
            Kind::Tags => self.tag_id_pairs(tags.into_iter().map(|(c, i)| (c, ids[i as usize])))?,
            Kind::Attrs => self.set_attrs(attrs.into_iter().map(|(c, i, v)| (c, names[i as usize].0.as_str(), v)))?,
            Kind::Purchases => self.record_purchases(purchases)?,
        };
        Ok(report)
    }
}
