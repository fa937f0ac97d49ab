//! Purchase history and the models computed from it: recording purchases, the RFM model and
//! lifecycle windows, and [`Engine::refresh`], which the refresh layer runs.

use std::borrow::Cow;

use super::Engine;
use super::journal::Op;
#[cfg(doc)]
use crate::error::Error;
use crate::error::Result;
use crate::history::{Day, Money, Purchase};
use crate::id::CustomerId;
use crate::lifecycle::{Lifecycle, Stage};
use crate::refresh::{RefreshReport, RfmScores};
use crate::rfm::RfmModel;
use crate::segment::Inputs;

impl Engine {
    /// Records a purchase (or, with a negative amount, a refund) of customer `id` on the UTC
    /// day `when` (a [`Day`], a `chrono::NaiveDate` or a `chrono::DateTime<Utc>`). History
    /// is append-only and may arrive in any order; models read it at the next
    /// [`Engine::refresh`].
    ///
    /// ```
    /// use audience::{Engine, Money};
    /// use chrono::{NaiveDate, TimeZone, Utc};
    /// let mut engine = Engine::new();
    /// let ann = engine.customer("ann")?;
    /// engine.record_purchase(ann, NaiveDate::from_ymd_opt(2024, 2, 29).unwrap(), Money::parse("19.99")?)?;
    /// engine.record_purchase(ann, Utc.with_ymd_and_hms(2024, 3, 2, 23, 59, 0).unwrap(), Money::from_minor(500)?)?;
    /// engine.record_purchase(ann, "2024-03-03".parse::<audience::Day>()?, Money::parse("-5.00")?)?; // a refund
    /// assert_eq!(engine.purchases_of(ann)?.len(), 3);
    /// # Ok::<(), audience::Error>(())
    /// ```
    ///
    /// Errors: [`Error::UnknownCustomer`].
    pub fn record_purchase(&mut self, id: CustomerId, when: impl Into<Day>, amount: Money) -> Result<()> {
        let p = Purchase::new(id, when, amount);
        let apply = |e: &mut Engine| {
            e.customers.check_live(id)?;
            e.history.record(p);
            Ok(())
        };
        self.logged(apply, |_| Some(Op::RecordPurchase(p)))
    }

    /// Bulk [`Engine::record_purchase`] from an iterator of [`Purchase`]s (or
    /// `(CustomerId, when, Money)` tuples). Returns how many were recorded. All or nothing:
    /// on error (a customer that is not live), none of them is kept.
    ///
    /// ```
    /// use audience::{Day, Engine, Money};
    /// let mut engine = Engine::new();
    /// let a = engine.customer("a")?;
    /// let day = Day::from_ymd(2024, 1, 15)?;
    /// let n = engine.record_purchases([(a, day, Money::from_major(10)?), (a, day, Money::ZERO)])?;
    /// assert_eq!(n, 2);
    /// # Ok::<(), audience::Error>(())
    /// ```
    ///
    /// Errors: [`Error::UnknownCustomer`].
    pub fn record_purchases<I, P>(&mut self, purchases: I) -> Result<u64>
    where
        I: IntoIterator<Item = P>,
        P: Into<Purchase>,
    {
        if self.journal.0.is_none() {
            return self.history.load(&self.customers, purchases);
        }
        let purchases: Vec<Purchase> = purchases.into_iter().map(Into::into).collect();
        self.logged(
            |e| e.history.load(&e.customers, purchases.iter().copied()),
            |_| Some(Op::RecordPurchases(Cow::Borrowed(&purchases))),
        )
    }

    /// Customer `id`'s purchases and refunds, by day (in arrival order within a day). Reads
    /// the customer's columns and searches the recent tier; purchases recorded since the last
    /// refresh are scanned (they are sorted in at the next refresh).
    ///
    /// Errors: [`Error::UnknownCustomer`].
    pub fn purchases_of(&self, id: CustomerId) -> Result<Vec<Purchase>> {
        self.customers.check_live(id)?;
        Ok(self.history.purchases_of(id))
    }

    /// Purchase records held (refunds included).
    pub fn purchase_count(&self) -> u64 {
        self.history.len()
    }

    // ------------------------------------------------------------------ models

    /// Sets how RFM scores and segments are computed (from the next refresh on). Default:
    /// quantile scores and the standard segment grid ([`RfmGrid`](crate::RfmGrid)).
    pub fn set_rfm_model(&mut self, model: RfmModel) {
        self.logged_infallible(|e| e.models.rfm = model.clone(), |()| Some(Op::SetRfmModel(Cow::Borrowed(&model))));
    }

    /// The RFM model.
    pub fn rfm_model(&self) -> &RfmModel {
        &self.models.rfm
    }

    /// Sets the lifecycle windows (from the next refresh on). Default: new 30, active 90,
    /// churn 180 days.
    pub fn set_lifecycle(&mut self, lifecycle: Lifecycle) {
        self.logged_infallible(|e| e.models.lifecycle = lifecycle, |()| Some(Op::SetLifecycle(lifecycle)));
    }

    /// The lifecycle windows.
    pub fn lifecycle(&self) -> &Lifecycle {
        &self.models.lifecycle
    }

    /// Computes RFM scores, RFM segments and lifecycle stages as of day `as_of` from the
    /// purchases on or before it (later ones are ignored, so last quarter's picture can be
    /// recomputed exactly), and stores them where the query language reaches them:
    ///
    /// - tags in exclusive groups: `r:1`..`r:5`, `f:1`..`f:5`, `m:1`..`m:5`,
    ///   `rfm:<segment>` (customers with a purchase on or before `as_of`), and
    ///   `stage:<stage>` (every live customer; `stage:prospect` for those without a purchase);
    /// - attributes `recency_days`, `frequency` and `monetary` (minor units) for customers
    ///   with a purchase.
    ///
    /// These groups and attributes belong to the refresh: writing them by hand is an
    /// [`Error::DerivedName`]. They hold until the next refresh (customers added meanwhile
    /// have none yet).
    ///
    /// Returns a [`RefreshReport`]: counts per stage and per segment and the stage
    /// transitions since the previous refresh, each with its audience. Incremental where it
    /// pays: with the as-of day the same or later and the churn window unchanged, only
    /// customers with new purchases (or purchases dated after the previous as-of day) have
    /// their history read again, and only customers whose scores or stage changed are moved
    /// between tags. See [`RefreshReport`]. The per-customer work runs on the engine's
    /// threads ([`Engine::set_threads`]); the result does not depend on how many.
    ///
    /// ```
    /// use audience::{Day, Engine, Money, Stage};
    /// let mut engine = Engine::new();
    /// let ann = engine.customer("ann")?;
    /// let bob = engine.customer("bob")?;
    /// engine.customer("cat")?; // never bought: a prospect
    /// let day = |s: &str| s.parse::<Day>();
    /// engine.record_purchase(ann, day("2024-01-10")?, Money::parse("120.00")?)?;
    /// engine.record_purchase(ann, day("2024-06-01")?, Money::parse("80.00")?)?;
    /// engine.record_purchase(bob, day("2023-11-20")?, Money::parse("15.50")?)?;
    /// let report = engine.refresh(day("2024-06-30")?)?;
    /// assert_eq!(report.stage_count(Stage::Active), 1);
    /// assert_eq!(report.stage_count(Stage::Churned), 1);
    /// assert_eq!(report.stage_count(Stage::Prospect), 1);
    /// assert_eq!(engine.count("stage:active AND r:5 AND f:5 AND m:5")?, 1);
    /// assert_eq!(engine.count("recency_days > 180")?, 1);
    /// assert_eq!(engine.rfm_of(ann)?.unwrap().segment, "champions");
    /// # Ok::<(), audience::Error>(())
    /// ```
    ///
    /// Rule tags ([`Engine::define_rule_tag`]) and segment plans applied with
    /// [`Engine::apply_plan`] are computed again after the derived tags are written (so they
    /// may use `stage:` and `r:`), each after what it reads; who joined and left each rule
    /// tag is in [`RefreshReport::rules`], who moved in each plan in [`RefreshReport::plans`].
    ///
    /// Expiring tags ([`Engine::tag_until`]) whose day is `as_of` or earlier are removed
    /// first, as [`Engine::expire`] removes them, before anything derived is written; how
    /// many is [`RefreshReport::expired`].
    ///
    /// Errors: [`Error::MonetaryOverflow`] when a customer's total leaves the `i64` range;
    /// [`Error::InRule`] when a rule tag or an applied plan no longer resolves. Both are found before anything changes.
    pub fn refresh(&mut self, as_of: impl Into<Day>) -> Result<RefreshReport> {
        let as_of = as_of.into();
        let apply = |e: &mut Engine| {
            e.segments.check(&e.tags, Inputs { live: e.customers.live(), attrs: &e.attrs, threads: e.threads })?;
            let Engine { customers, tags, attrs, history, models, segments, threads, .. } = e;
            let mut report = models.refresh(as_of, customers, history, tags, attrs, *threads)?;
            let saved = segments.compute_all(tags, Inputs { live: customers.live(), attrs, threads: *threads })?;
            (report.rules, report.plans) = (saved.rules, saved.plans);
            Ok(report)
        };
        self.logged(apply, |_| Some(Op::Refresh(as_of)))
    }

    /// The as-of day of the last refresh.
    pub fn last_refresh(&self) -> Option<Day> {
        self.models.last_as_of()
    }

    /// Customer `id`'s RFM figures as of the last refresh; `None` before the first refresh,
    /// for a customer without a purchase on or before its as-of day, and for one added since.
    ///
    /// Errors: [`Error::UnknownCustomer`].
    pub fn rfm_of(&self, id: CustomerId) -> Result<Option<RfmScores<'_>>> {
        self.customers.check_live(id)?;
        Ok(self.models.rfm_of(id.0))
    }

    /// Customer `id`'s lifecycle stage as of the last refresh; `None` before the first
    /// refresh and for a customer added (or removed and registered anew) since.
    ///
    /// Errors: [`Error::UnknownCustomer`].
    pub fn stage_of(&self, id: CustomerId) -> Result<Option<Stage>> {
        self.customers.check_live(id)?;
        Ok(self.models.stage_of(id.0))
    }
}
