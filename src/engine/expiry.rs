//! Expiring tags: tagging until a day, reading that day, and expiring as of a day. The
//! engine has no clock: the day the caller passes is the time. The rules and the day
//! buckets live in the tags layer ([`Tags`](crate::tags::Tags), `tags/layer/expiry.rs`).

use std::borrow::Cow;

use super::Engine;
use super::journal::Op;
use crate::audience::Audience;
#[cfg(doc)]
use crate::error::Error;
use crate::error::Result;
use crate::history::Day;
use crate::id::CustomerId;

impl Engine {
    /// Tags customer `customer` with `tag` as [`Engine::tag`] does (same errors, the same
    /// exclusive-group rule, the tag created if new), and the assignment ends on `until`:
    /// [`Engine::expire`] or [`Engine::refresh`] as of `until` or any later day removes it.
    /// Returns whether the customer did not carry the tag before.
    ///
    /// The later day wins: tagging again until a later day extends the assignment, until an
    /// earlier day leaves it as it is. A customer who carries the tag permanently keeps it
    /// permanently (permanent is later than any day; to shorten an assignment, untag it
    /// first). A plain [`Engine::tag`], [`Engine::tag_all`] or [`Engine::tag_pairs`] makes
    /// it permanent; [`Engine::untag`], [`Engine::untag_all`], [`Engine::delete_tag`],
    /// removing the customer, or another value of the tag's exclusive group end it with its
    /// day. A rename keeps the day. An `until` that has already passed is accepted: the
    /// engine has no clock, so the assignment holds until the next expiry as of `until` or
    /// later.
    ///
    /// ```
    /// use audience::{Day, Engine};
    /// let mut engine = Engine::new();
    /// let ann = engine.customer("ann")?;
    /// let june = Day::from_ymd(2024, 6, 30)?;
    /// assert!(engine.tag_until(ann, "trial", june)?);
    /// assert_eq!(engine.expiry_of(ann, "trial")?, Some(june));
    /// assert_eq!(engine.expire(Day::from_ymd(2024, 6, 29)?), 0); // the day before: kept
    /// assert_eq!(engine.expire(june), 1);
    /// assert_eq!(engine.count("trial")?, 0);
    /// # Ok::<(), audience::Error>(())
    /// ```
    ///
    /// Errors: [`Error::UnknownCustomer`], [`Error::InvalidTagName`]; [`Error::DerivedName`]
    /// for a derived tag (of the groups [`Engine::refresh`] owns, of an applied plan's group,
    /// or a rule tag).
    pub fn tag_until(&mut self, customer: CustomerId, tag: &str, until: Day) -> Result<bool> {
        self.logged(
            |e| e.tags.assign_until(&e.customers, customer, tag, until),
            |_| Some(Op::TagUntil { id: customer, name: tag, until }),
        )
    }

    /// Tags every live customer of `audience` with `tag` as [`Engine::tag_all`] does, each
    /// assignment ending on `until` as [`Engine::tag_until`] describes (per customer, the
    /// later day wins and a permanent assignment stays permanent). Returns how many were
    /// newly tagged.
    ///
    /// ```
    /// use audience::{Day, Engine};
    /// let mut engine = Engine::new();
    /// for key in ["a", "b", "c"] {
    ///     let c = engine.customer(key)?;
    ///     engine.tag(c, "vip")?;
    /// }
    /// let vips = engine.query("vip")?;
    /// let end = Day::from_ymd(2024, 12, 31)?;
    /// assert_eq!(engine.tag_all_until(&vips, "campaign/winter", end)?, 3);
    /// assert_eq!(engine.expire(end), 3);
    /// assert_eq!(engine.count("campaign")?, 0); // the parent follows its child
    /// # Ok::<(), audience::Error>(())
    /// ```
    ///
    /// Errors: [`Error::InvalidTagName`]; [`Error::DerivedName`] for a derived tag (of the
    /// groups [`Engine::refresh`] owns, of an applied plan's group, or a rule tag).
    pub fn tag_all_until(&mut self, audience: &Audience, tag: &str, until: Day) -> Result<u64> {
        let audience = audience.bitmap();
        self.logged(
            |e| e.tags.assign_all_until(&e.customers, audience, tag, until),
            |_| Some(Op::TagAllUntil { audience: Cow::Borrowed(audience), name: tag, until }),
        )
    }

    /// The day customer `customer`'s assignment of `tag` ends (the tag itself, not a
    /// descendant); `None` when the customer carries the tag permanently or not at all.
    ///
    /// ```
    /// use audience::{Day, Engine};
    /// let mut engine = Engine::new();
    /// let ann = engine.customer("ann")?;
    /// let (may, june) = (Day::from_ymd(2024, 5, 31)?, Day::from_ymd(2024, 6, 30)?);
    /// engine.tag_until(ann, "trial", may)?;
    /// engine.tag_until(ann, "trial", june)?; // extends
    /// engine.tag_until(ann, "trial", may)?; // an earlier day does not shorten
    /// assert_eq!(engine.expiry_of(ann, "trial")?, Some(june));
    /// engine.tag(ann, "trial")?; // a plain tag makes it permanent
    /// assert_eq!(engine.expiry_of(ann, "trial")?, None);
    /// # Ok::<(), audience::Error>(())
    /// ```
    ///
    /// Errors: [`Error::UnknownCustomer`], [`Error::UnknownTag`] (with suggestions).
    pub fn expiry_of(&self, customer: CustomerId, tag: &str) -> Result<Option<Day>> {
        self.tags.expiry_of(&self.customers, customer, tag)
    }

    /// Removes every expiring assignment whose day is `as_of` or earlier, and returns how
    /// many (customer, tag) assignments it removed. [`Engine::refresh`] does this first.
    /// Days need not come in order: each call removes what is due by its own `as_of`,
    /// whatever ran before.
    ///
    /// Cost: bitmap work on the due days only: per tag with expiring assignments a look at
    /// its earliest day, and per tag with due ones the union of its due days and one
    /// difference with the tag (its ancestors' unions follow, as for
    /// [`Engine::untag_all`]); no customer is visited one by one.
    ///
    /// ```
    /// use audience::{Day, Engine};
    /// let mut engine = Engine::new();
    /// let ann = engine.customer("ann")?;
    /// let day = Day::from_ymd(2024, 6, 30)?;
    /// engine.tag_until(ann, "sports/running", day)?;
    /// engine.tag(ann, "sports/golf")?;
    /// assert_eq!(engine.expire(day), 1);
    /// assert_eq!(engine.tags_of(ann)?, ["sports/golf"]);
    /// assert_eq!(engine.count("sports")?, 1);
    /// # Ok::<(), audience::Error>(())
    /// ```
    pub fn expire(&mut self, as_of: impl Into<Day>) -> u64 {
        let as_of = as_of.into();
        self.logged_infallible(|e| e.tags.expire(as_of), |&n| (n > 0).then_some(Op::Expire(as_of)))
    }
}
