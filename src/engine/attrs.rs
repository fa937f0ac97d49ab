//! Numeric attributes: every rule lives in [`Attrs`](crate::attrs::Attrs); these methods check
//! the customer is live and delegate.

use super::Engine;
use super::journal::{Named, Op};
#[cfg(doc)]
use crate::error::Error;
use crate::error::Result;
use crate::id::CustomerId;
use roaring::RoaringBitmap;

impl Engine {
    /// Declares numeric attribute `name` without giving anyone a value, so queries on it
    /// resolve (and match nobody) before the first [`Engine::set_attr`]. Declaring an existing
    /// attribute is a no-op.
    ///
    /// Errors: [`Error::InvalidAttributeName`]; [`Error::DerivedName`] for `recency_days`,
    /// `frequency` and `monetary`, which [`Engine::refresh`] owns.
    pub fn define_attr(&mut self, name: &str) -> Result<()> {
        self.logged(|e| e.attrs.define(name), |_| Some(Op::DefineAttr(name)))
    }

    /// Sets customer `id`'s value of numeric attribute `name` (created if new); returns the
    /// previous value. Attributes are a namespace of their own, separate from tags, and are
    /// queried with comparisons: `age >= 30 AND age < 40 AND vip`.
    ///
    /// ```
    /// use audience::Engine;
    /// let mut engine = Engine::new();
    /// let ann = engine.customer("ann")?;
    /// let bob = engine.customer("bob")?;
    /// let cat = engine.customer("cat")?;
    /// engine.set_attr(ann, "age", 34)?;
    /// engine.set_attr(bob, "age", 52)?;
    /// engine.tag(ann, "vip")?;
    /// assert_eq!(engine.count("age >= 30 AND age < 40 AND vip")?, 1);
    /// assert_eq!(engine.count("NOT age >= 30")?, 1); // cat has no age: she is not >= 30
    /// assert_eq!(engine.count("age != 34")?, 1); // ...and not != 34 either
    /// assert_eq!(engine.attr(cat, "age")?, None);
    /// # Ok::<(), audience::Error>(())
    /// ```
    ///
    /// Errors: [`Error::UnknownCustomer`], [`Error::InvalidAttributeName`],
    /// [`Error::DerivedName`] for the attributes `refresh` owns.
    pub fn set_attr(&mut self, id: CustomerId, name: &str, value: i64) -> Result<Option<i64>> {
        let apply = |e: &mut Engine| {
            e.customers.check_live(id)?;
            let old = e.attrs.set(id.0, name, value)?;
            e.tags.touch_one(id.0); // applied plans read attributes too
            Ok(old)
        };
        self.logged(apply, |_| Some(Op::SetAttr { id, name, value }))
    }

    /// Bulk [`Engine::set_attr`]: `(customer, attribute, value)` triples, the last value given
    /// per customer and attribute winning; each attribute's index is written once, with one
    /// bitmap operation per bit slice. Returns how many triples were given. Everything is
    /// checked before anything changes.
    ///
    /// ```
    /// use audience::Engine;
    /// let mut engine = Engine::new();
    /// let a = engine.customer("a")?;
    /// let b = engine.customer("b")?;
    /// engine.set_attrs([(a, "age", 20), (b, "age", 41), (a, "balance", -5), (a, "age", 21)])?;
    /// assert_eq!(engine.attr(a, "age")?, Some(21));
    /// assert_eq!(engine.count("balance<-4")?, 1);
    /// # Ok::<(), audience::Error>(())
    /// ```
    ///
    /// Errors: as [`Engine::set_attr`]; nothing is applied then.
    pub fn set_attrs<I, S>(&mut self, values: I) -> Result<u64>
    where
        I: IntoIterator<Item = (CustomerId, S, i64)>,
        S: AsRef<str>,
    {
        if self.journal.0.is_none() {
            return self.load_attrs(values);
        }
        let values: Vec<(CustomerId, S, i64)> = values.into_iter().collect();
        let op = || Op::SetAttrs {
            named: Named::new(values.iter().map(|(c, s, _)| (*c, s.as_ref()))),
            values: values.iter().map(|v| v.2).collect(),
        };
        self.logged(|e| e.load_attrs(values.iter().map(|(c, s, v)| (*c, s.as_ref(), *v))), |_| Some(op()))
    }

    fn load_attrs<I, S>(&mut self, values: I) -> Result<u64>
    where
        I: IntoIterator<Item = (CustomerId, S, i64)>,
        S: AsRef<str>,
    {
        if !self.tags.notes_touches() {
            return self.attrs.load(&self.customers, values);
        }
        let mut ids = RoaringBitmap::new(); // applied plans read attributes too
        let n = self.attrs.load(&self.customers, values.into_iter().inspect(|(c, _, _)| _ = ids.insert(c.0)))?;
        self.tags.touch(&ids);
        Ok(n)
    }

    /// Removes customer `id`'s value of attribute `name`; returns it.
    ///
    /// Errors: [`Error::UnknownCustomer`], [`Error::UnknownAttribute`],
    /// [`Error::DerivedName`].
    pub fn unset_attr(&mut self, id: CustomerId, name: &str) -> Result<Option<i64>> {
        let apply = |e: &mut Engine| {
            e.customers.check_live(id)?;
            let old = e.attrs.unset(id.0, name)?;
            e.tags.touch_one(id.0);
            Ok(old)
        };
        self.logged(apply, |_| Some(Op::UnsetAttr { id, name }))
    }

    /// Customer `id`'s value of attribute `name`, if it has one. The derived attributes read
    /// as of the last refresh (`recency_days` counts days to its as-of day).
    ///
    /// Errors: [`Error::UnknownCustomer`], [`Error::UnknownAttribute`] (with suggestions).
    pub fn attr(&self, id: CustomerId, name: &str) -> Result<Option<i64>> {
        self.customers.check_live(id)?;
        self.attrs.value(id.0, name)
    }

    /// Every attribute of customer `id` with its value, in attribute creation order.
    ///
    /// Errors: [`Error::UnknownCustomer`].
    pub fn attrs_of(&self, id: CustomerId) -> Result<Vec<(&str, i64)>> {
        self.customers.check_live(id)?;
        Ok(self.attrs.of(id.0))
    }

    /// Every attribute name with how many customers have a value, in creation order.
    pub fn attributes(&self) -> impl Iterator<Item = (&str, u64)> + '_ {
        self.attrs.iter().map(|(name, a)| (name, a.len()))
    }
}
