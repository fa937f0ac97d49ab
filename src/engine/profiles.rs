//! Profiles: who one customer is, what makes an audience different, two audiences side by
//! side; computed by the profile layer.

use super::Engine;
use crate::audience::Audience;
#[cfg(doc)]
use crate::error::Error;
use crate::error::Result;
use crate::id::CustomerId;
use crate::profile::{
    AudienceComparison, Breakdown, DescribeOptions, Description, Profile, Sources, breakdown, compare, describe,
    profile,
};

impl Engine {
    /// Customer `id`'s whole picture ([`Profile`]): key, tags by kind, exclusive-group values,
    /// attributes, RFM scores and stage as of the last refresh, a purchase summary, segments,
    /// rule tags and expiring tags. About one `contains` per tag of the pool; see
    /// [`Profile`] for an example.
    ///
    /// Errors: [`Error::UnknownCustomer`] for an id that is not a live customer.
    pub fn profile(&self, id: CustomerId) -> Result<Profile> {
        let sources = Sources {
            customers: &self.customers,
            tags: &self.tags,
            attrs: &self.attrs,
            history: &self.history,
            models: &self.models,
            segments: &self.segments,
        };
        profile(&sources, id)
    }

    /// What makes `audience` different: its size and share of the live customers, and the
    /// tags that over-index in it. For each tag, `count` customers of the audience carry it
    /// and `total` live customers overall, and `lift = (count / size) / (total / live)`
    /// (a tag counts as a query naming it does: a parent includes its descendants). Tags
    /// with at least [`DescribeOptions::min_count`] customers in the audience are listed,
    /// highest lift first (compared exactly, by cross-multiplying), then most customers of
    /// the audience, then name; the first [`DescribeOptions::top`]. Customers of the
    /// audience removed since it was computed are not counted.
    ///
    /// Computed with one intersection count per tag, never customer by customer.
    ///
    /// ```
    /// use audience::{DescribeOptions, Engine};
    /// let mut engine = Engine::new();
    /// for (key, tags) in [("a", &["vip", "outdoor"][..]), ("b", &["vip", "outdoor"]), ("c", &["outdoor"]), ("d", &["new"])] {
    ///     let c = engine.customer(key)?;
    ///     for t in tags {
    ///         engine.tag(c, t)?;
    ///     }
    /// }
    /// let vips = engine.query("vip")?;
    /// let d = engine.describe(&vips, DescribeOptions::new().exclude(["vip"]));
    /// assert_eq!((d.size, d.live), (2, 4));
    /// let top = &d.tags[0];
    /// assert_eq!((top.tag.as_str(), top.count, top.total), ("outdoor", 2, 3));
    /// assert!((top.lift - 4.0 / 3.0).abs() < 1e-9); // (2/2) / (3/4)
    /// # Ok::<(), audience::Error>(())
    /// ```
    pub fn describe(&self, audience: &Audience, options: &DescribeOptions) -> Description {
        describe(&self.tags, self.customers.live(), audience.bitmap(), options)
    }

    /// `audience` spread over `of`: the values of exclusive group `of` (`"region"`), or the
    /// children of tag `parent` when `of` is `"parent/*"` (each child counting its
    /// descendants, as a query on it does). Per value, how many of the audience have it,
    /// most first, then by name; and how many have none. Customers of the audience removed
    /// since it was computed are not counted. One intersection count per value.
    ///
    /// ```
    /// use audience::Engine;
    /// let mut engine = Engine::new();
    /// engine.define_exclusive_group("region")?;
    /// for (key, region) in [("a", "region:north"), ("b", "region:north"), ("c", "region:south"), ("d", "")] {
    ///     let c = engine.customer(key)?;
    ///     if !region.is_empty() {
    ///         engine.tag(c, region)?;
    ///     }
    /// }
    /// let b = engine.breakdown(&engine.customers(), "region")?;
    /// assert_eq!(b.parts, [("region:north".to_owned(), 2), ("region:south".to_owned(), 1)]);
    /// assert_eq!((b.size, b.rest), (4, 1));
    /// assert_eq!(b.share("region:north"), 0.5);
    /// # Ok::<(), audience::Error>(())
    /// ```
    ///
    /// Errors: [`Error::UnknownGroup`] for a group never declared; [`Error::UnknownTag`]
    /// (with suggestions) for an unknown parent of `parent/*`; [`Error::InvalidTagName`].
    pub fn breakdown(&self, audience: &Audience, of: &str) -> Result<Breakdown> {
        breakdown(&self.tags, self.customers.live(), audience.bitmap(), of)
    }

    /// Audiences `a` and `b` side by side ([`AudienceComparison`]): their sizes, overlap,
    /// and the 20 tags whose share differs most (`|in_a / a - in_b / b|`, compared exactly
    /// by cross-multiplying; then the most customers in either; then name). Tags carried
    /// equally often are left out. Customers removed since the audiences were computed are
    /// not counted. Two intersection counts per tag, never customer by customer.
    pub fn compare(&self, a: &Audience, b: &Audience) -> AudienceComparison {
        self.compare_with(a, b, &DescribeOptions::new())
    }

    /// [`Engine::compare`] with options: [`DescribeOptions::top`] tags at most, each carried
    /// by at least [`DescribeOptions::min_count`] customers of the two audiences together,
    /// none of [`DescribeOptions::exclude`].
    ///
    /// ```
    /// use audience::{DescribeOptions, Engine};
    /// let mut engine = Engine::new();
    /// for (key, tags) in [("a", &["vip", "golf"][..]), ("b", &["vip"]), ("c", &["golf"]), ("d", &[])] {
    ///     let c = engine.customer(key)?;
    ///     for t in tags {
    ///         engine.tag(c, t)?;
    ///     }
    /// }
    /// let (vips, rest) = (engine.query("vip")?, engine.query("NOT vip")?);
    /// let c = engine.compare_with(&vips, &rest, DescribeOptions::new().exclude(["vip"]));
    /// assert_eq!((c.a, c.b, c.both, c.jaccard()), (2, 2, 0, 0.0));
    /// assert!(c.tags.is_empty()); // golf: half of each
    /// # Ok::<(), audience::Error>(())
    /// ```
    pub fn compare_with(&self, a: &Audience, b: &Audience, options: &DescribeOptions) -> AudienceComparison {
        compare(&self.tags, self.customers.live(), a.bitmap(), b.bitmap(), options)
    }
}
