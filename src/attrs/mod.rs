//! Numeric attributes: one [`Bsi`] per attribute name, and how queries read them.
//!
//! An attribute is created by its first value (or [`Attrs::define`]); its name then resolves
//! in queries even when no customer has a value. A derived attribute may be read through a [`Reading`]:
//! `recency_days` is stored as the day of the last purchase and read as `as_of - day`, so
//! moving the as-of date rewrites nothing (the comparison is translated instead).

mod bsi;
mod cmp;

use indexmap::IndexMap;
use roaring::RoaringBitmap;

pub(crate) use bsi::Bsi;
pub use cmp::CmpOp;

use crate::error::{Error, Result};
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
    map: IndexMap<Box<str>, Attribute>,
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
        self.map.get(name)
    }

    pub(crate) fn get_full(&self, name: &str) -> Option<(&str, &Attribute)> {
        self.map.get_key_value(name).map(|(k, v)| (&**k, v))
    }

    /// The attribute, created (empty) if new. `name` is normalized.
    pub(crate) fn entry(&mut self, name: &str) -> &mut Attribute {
        let index = match self.map.get_index_of(name) {
            Some(i) => i,
            None => {
                let (i, _) = self.map.insert_full(name.into(), Attribute::default());
                self.suggest.insert(i as u32, name);
                i
            }
        };
        &mut self.map[index]
    }

    pub(crate) fn iter(&self) -> impl Iterator<Item = (&str, &Attribute)> + '_ {
        self.map.iter().map(|(k, v)| (&**k, v))
    }

    pub(crate) fn len(&self) -> usize {
        self.map.len()
    }

    /// Drops every value of the customers in `customers`.
    pub(crate) fn remove_customers(&mut self, customers: &RoaringBitmap) {
        for a in self.map.values_mut() {
            a.bsi.remove_many(customers);
        }
    }

    /// Drops every value of `customer`.
    pub(crate) fn remove_customer(&mut self, customer: u32) {
        for a in self.map.values_mut() {
            a.bsi.remove(customer);
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
        for a in self.map.values_mut() {
            a.bsi.optimize();
        }
    }
}
