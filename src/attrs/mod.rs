//! Numeric attributes: one [`Bsi`] per attribute name, and how queries read them.
//!
//! An attribute is created by its first value (or [`Attrs::define`]); its name then resolves
//! in queries even when no customer has a value. A derived attribute may be read through a [`Reading`]:
//! `recency_days` is stored as the day of the last purchase and read as `as_of - day`, so
//! moving the as-of date rewrites nothing (the comparison is translated instead).

mod bsi;
mod cmp;
mod persist;

use std::sync::Arc;

use indexmap::IndexMap;
use roaring::RoaringBitmap;

pub(crate) use bsi::Bsi;
pub use cmp::CmpOp;

use crate::customers::Directory;
use crate::error::{Error, Result};
use crate::id::{CustomerId, DERIVED_ATTRS, DERIVED_OWNER};
use crate::par::Threads;
use crate::tags::{Suggest, normalize_tag};

/// How stored values map to the values users see.
#[derive(Copy, Clone, Debug, Default, PartialEq, Eq)]
pub(crate) enum Reading {
    /// As stored.
    #[default]
    Plain,
    /// `as_of - stored` (days since a stored day number).
    DaysSince(i64),
}

#[derive(Clone, Debug, Default)]
pub(crate) struct Attribute {
    pub(crate) bsi: Bsi,
    pub(crate) reading: Reading,
}

impl Attribute {
    pub(crate) fn get(&self, customer: u32) -> Option<i64> {
        let v = self.bsi.get(customer)?;
        Some(match self.reading {
            Reading::Plain => v,
            Reading::DaysSince(as_of) => as_of - v,
        })
    }

    /// Every customer's value as users read it, ascending by customer.
    pub(crate) fn values(&self) -> Vec<(u32, i64)> {
        let mut values = self.bsi.values();
        if let Reading::DaysSince(as_of) = self.reading {
            values.iter_mut().for_each(|(_, v)| *v = as_of - *v);
        }
        values
    }

    /// Customers (within `filter`) whose value `v` has `v op c`.
    pub(crate) fn compare(&self, op: CmpOp, c: i64, filter: Option<&RoaringBitmap>) -> RoaringBitmap {
        match self.reading {
            Reading::Plain => self.bsi.compare(op, i128::from(c), filter),
            // as_of - s op c  <=>  s flipped(op) as_of - c
            Reading::DaysSince(as_of) => self.bsi.compare(op.flipped(), i128::from(as_of) - i128::from(c), filter),
        }
    }

    pub(crate) fn len(&self) -> u64 {
        self.bsi.len()
    }
}

/// Every attribute of an engine (attributes are never removed: an attribute's index in the
/// map is its id in the "did you mean" index).
#[derive(Clone, Debug, Default)]
pub(crate) struct Attrs {
    /// Each attribute shared with the engine's clones and readers: a write copies the one
    /// attribute it changes when a reader still holds it ([`Arc::make_mut`]).
    map: IndexMap<Box<str>, Arc<Attribute>>,
    suggest: Suggest,
}

/// Normalizes an attribute name (the tag-name rules: trimmed, no control characters).
pub(crate) fn normalize_attr(raw: &str) -> Result<std::borrow::Cow<'_, str>> {
    normalize_tag(raw).map_err(|e| match e {
        Error::InvalidTagName { name, reason } => Error::InvalidAttributeName { name, reason },
        e => e,
    })
}

impl Attrs {
    pub(crate) fn get(&self, name: &str) -> Option<&Attribute> {
        self.map.get(name).map(|a| &**a)
    }

    pub(crate) fn get_full(&self, name: &str) -> Option<(&str, &Attribute)> {
        self.map.get_key_value(name).map(|(k, v)| (&**k, &**v))
    }

    /// The attribute, created (empty) if new. `name` is normalized.
    pub(crate) fn entry(&mut self, name: &str) -> &mut Attribute {
        let index = match self.map.get_index_of(name) {
            Some(i) => i,
            None => {
                let (i, _) = self.map.insert_full(name.into(), Arc::default());
                self.suggest.insert(i as u32, name);
                i
            }
        };
        Arc::make_mut(&mut self.map[index])
    }

    pub(crate) fn iter(&self) -> impl Iterator<Item = (&str, &Attribute)> + '_ {
        self.map.iter().map(|(k, v)| (&**k, &**v))
    }

    pub(crate) fn len(&self) -> usize {
        self.map.len()
    }

    /// Drops every value of the customers in `customers`.
    pub(crate) fn remove_customers(&mut self, customers: &RoaringBitmap) {
        for a in self.map.values_mut().filter(|a| !a.bsi.exists().is_disjoint(customers)) {
            Arc::make_mut(a).bsi.remove_many(customers);
        }
    }

    /// Drops every value of `customer`.
    pub(crate) fn remove_customer(&mut self, customer: u32) {
        for a in self.map.values_mut().filter(|a| a.bsi.exists().contains(customer)) {
            Arc::make_mut(a).bsi.remove(customer);
        }
    }

    /// The unknown-attribute error for `name`, with the closest known names.
    pub(crate) fn unknown(&self, name: &str) -> Error {
        let all = self.map.keys().map(|k| &**k);
        let name_of = |t: u32| self.map.get_index(t as usize).map(|(k, _)| &**k);
        Error::UnknownAttribute {
            name: name.to_owned(),
            span: None,
            query: None,
            suggestions: self.suggest.suggest(name, self.map.len(), all, name_of),
        }
    }

    pub(crate) fn serialized_bytes(&self) -> usize {
        self.map.values().map(|a| a.bsi.serialized_bytes()).sum()
    }

    pub(crate) fn optimize(&mut self) {
        // An attribute a reader's view still holds is left as it is (see `Store::optimize`).
        for a in self.map.values_mut().filter_map(Arc::get_mut) {
            a.bsi.optimize();
        }
    }

    // ------------------------------------------------------------------ hand writes

    /// Declares attribute `raw` without values; a no-op for an existing one.
    pub(crate) fn define(&mut self, raw: &str) -> Result<()> {
        let norm = normalize_attr(raw)?;
        check_writable(&norm)?;
        if self.get(&norm).is_none() {
            self.entry(&norm); // an existing one stays shared
        }
        Ok(())
    }

    /// Whether `raw` (normalized) names an attribute.
    #[cfg(feature = "csv")]
    pub(crate) fn contains(&self, raw: &str) -> bool {
        normalize_attr(raw).is_ok_and(|n| self.get(&n).is_some())
    }

    #[cfg(feature = "csv")]
    /// Whether [`Attrs::define`] of `raw` would succeed, changing nothing.
    pub(crate) fn check_define(&self, raw: &str) -> Result<()> {
        check_writable(&normalize_attr(raw)?)
    }

    /// Sets live customer `customer`'s value of `raw` (created if new); the previous value.
    pub(crate) fn set(&mut self, customer: u32, raw: &str, value: i64) -> Result<Option<i64>> {
        let norm = normalize_attr(raw)?;
        check_writable(&norm)?;
        let old = self.get(&norm).and_then(|a| a.bsi.get(customer));
        if old != Some(value) {
            self.entry(&norm).bsi.set(customer, value);
        }
        Ok(old)
    }

    /// Sets (customer, attribute, value) triples, the last value given per customer and
    /// attribute winning, with one write of each attribute's index; how many triples were
    /// given. Everything is checked (customers against `customers`) before anything changes.
    pub(crate) fn load<I, S>(&mut self, customers: &Directory, values: I) -> Result<u64>
    where
        I: IntoIterator<Item = (CustomerId, S, i64)>,
        S: AsRef<str>,
    {
        let mut slots: IndexMap<String, Vec<(u32, i64)>> = IndexMap::new();
        let mut last_raw: Option<(String, usize)> = None;
        let mut n = 0u64;
        for (customer, name, value) in values {
            customers.check_live(customer)?;
            let raw = name.as_ref();
            let slot = match &last_raw {
                Some((r, i)) if r == raw => *i,
                _ => {
                    let norm = normalize_attr(raw)?;
                    check_writable(&norm)?;
                    let i = match slots.get_index_of(&*norm) {
                        Some(i) => i,
                        None => slots.insert_full(norm.into_owned(), Vec::new()).0,
                    };
                    last_raw = Some((raw.to_owned(), i));
                    i
                }
            };
            slots[slot].push((customer.0, value));
            n += 1;
        }
        for (name, mut values) in slots {
            // Last value wins: a stable sort by customer, then keep each run's last.
            values.sort_by_key(|&(c, _)| c);
            let mut dedup: Vec<(u32, i64)> = Vec::with_capacity(values.len());
            for (c, v) in values {
                match dedup.last_mut() {
                    Some(last) if last.0 == c => last.1 = v,
                    _ => dedup.push((c, v)),
                }
            }
            let attr = self.entry(&name);
            attr.bsi.set_many(&dedup);
            if dedup.len() as u64 * 8 >= attr.len() {
                attr.bsi.optimize(); // a big load; small batches leave it to Engine::optimize
            }
        }
        Ok(n)
    }

    /// Removes `customer`'s value of existing attribute `raw`; the value it had.
    pub(crate) fn unset(&mut self, customer: u32, raw: &str) -> Result<Option<i64>> {
        let norm = normalize_attr(raw)?;
        check_writable(&norm)?;
        if self.get(&norm).is_none() {
            return Err(self.unknown(&norm));
        }
        if self.get(&norm).is_some_and(|a| a.get(customer).is_none()) {
            return Ok(None); // nothing to remove: the attribute stays shared
        }
        Ok(self.entry(&norm).bsi.remove(customer))
    }

    /// `customer`'s value of existing attribute `raw`, if it has one.
    pub(crate) fn value(&self, customer: u32, raw: &str) -> Result<Option<i64>> {
        let norm = normalize_attr(raw)?;
        match self.get(&norm) {
            Some(a) => Ok(a.get(customer)),
            None => Err(self.unknown(&norm)),
        }
    }

    /// Every attribute `customer` has a value of, with the value, in creation order.
    pub(crate) fn of(&self, customer: u32) -> Vec<(&str, i64)> {
        self.iter().filter_map(|(name, a)| Some((name, a.get(customer)?))).collect()
    }

    /// Gives `into` the values of `from` for the attributes `into` has no value of (`into`'s
    /// values win); the derived attributes are left to the refresh. The names of the
    /// attributes `into` gained, in creation order. `from` keeps its values (the caller
    /// removes it). One lookup per attribute.
    pub(crate) fn merge_customer(&mut self, into: u32, from: u32) -> Vec<String> {
        let mut gained = Vec::new();
        for (name, a) in self.map.iter_mut().filter(|(name, _)| !DERIVED_ATTRS.contains(&&***name)) {
            if let Some(v) = a.bsi.get(from)
                && a.bsi.get(into).is_none()
            {
                Arc::make_mut(a).bsi.set(into, v);
                gained.push(name.to_string());
            }
        }
        gained
    }

    // ------------------------------------------------------------------ derived writes

    /// Writes derived attribute `name` (a layer's own, past the guard): clears `clear`, sets
    /// `set` (both ascending by customer), and reads it through `reading` from now on; the
    /// values written on up to `threads` threads.
    pub(crate) fn write_derived(
        &mut self,
        name: &str,
        clear: &[u32],
        set: &[(u32, i64)],
        reading: Reading,
        threads: Threads,
    ) {
        let attr = self.entry(name);
        if !clear.is_empty() {
            attr.bsi.remove_many(&RoaringBitmap::from_sorted_iter(clear.iter().copied()).expect("rows ascend"));
        }
        attr.bsi.set_many_on(set, threads.for_work(set.len() as u64));
        attr.reading = reading;
    }
}

/// Refuses the attributes a derived layer owns (`recency_days`, `frequency`, `monetary`).
fn check_writable(norm: &str) -> Result<()> {
    if DERIVED_ATTRS.contains(&norm) {
        return Err(Error::DerivedName { name: norm.to_owned(), owner: DERIVED_OWNER });
    }
    Ok(())
}
