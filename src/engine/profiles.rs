//! Profiles: who one customer is, what makes an audience different, two audiences side by
//! side, and tag housekeeping figures; computed by the profile layer (which reads, for who
//! reads a tag, the segment layer's saved queries).

use super::Engine;
use crate::audience::Audience;
#[cfg(doc)]
use crate::error::Error;
use crate::error::Result;
use crate::id::CustomerId;
use crate::profile::{
    AudienceComparison, Breakdown, DescribeOptions, Description, Profile, Sources, TagStats, breakdown, compare,
    describe, profile,
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
    /// by at least [`DescribeOptions::min_count`] customers of one of the two audiences
    /// (`max(in_a, in_b)`: enough evidence on one side), none of
    /// [`DescribeOptions::exclude`], counted on [`DescribeOptions::threads`].
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

    /// Every tag's figures for housekeeping, in id (creation) order, as [`Engine::tags`]
    /// lists them: its size (customers carrying the tag itself) and members (those a query
    /// on it matches: a parent counts its descendants), kind, exclusive group, parent,
    /// children, the saved queries that read it ([`TagStats::used_by`]: rule tags and applied
    /// plans' rules naming it or an ancestor) and the layer that derives it, if any. One
    /// cardinality per tag, never customer by customer.
    ///
    /// ```
    /// use audience::Engine;
    /// let mut engine = Engine::new();
    /// let c = engine.customer("c")?;
    /// engine.tag(c, "vip")?;
    /// engine.ensure_tag("高消费")?;
    /// let sizes: Vec<(String, u64)> = engine.tag_stats().into_iter().map(|t| (t.name, t.size)).collect();
    /// assert_eq!(sizes, [("vip".to_owned(), 1), ("高消费".to_owned(), 0)]);
    /// # Ok::<(), audience::Error>(())
    /// ```
    pub fn tag_stats(&self) -> Vec<TagStats> {
        crate::profile::tag_stats(&self.tags, self.segments.readers(&self.tags))
    }

    /// Tag `name`'s figures, as [`Engine::tag_stats`] gives them.
    ///
    /// Errors: [`Error::UnknownTag`] (with suggestions), [`Error::InvalidTagName`].
    pub fn tag_stat(&self, name: &str) -> Result<TagStats> {
        let id = self.tags.lookup(name)?;
        Ok(crate::profile::tag_stat(&self.tags, self.segments.readers(&self.tags), id))
    }

    /// The tags a query matches nobody with: no live customer carries them or any of their
    /// descendants (so a parent whose children have customers is not empty, even when nobody
    /// carries the parent itself). In id order; derived tags included (an empty segment or
    /// rule tag is worth knowing about).
    ///
    /// ```
    /// use audience::Engine;
    /// let mut engine = Engine::new();
    /// let c = engine.customer("c")?;
    /// engine.tag(c, "sports/run")?;
    /// engine.ensure_tag("sports/golf")?;
    /// assert_eq!(engine.empty_tags(), ["sports/golf"]); // `sports` matches c through `sports/run`
    /// # Ok::<(), audience::Error>(())
    /// ```
    pub fn empty_tags(&self) -> Vec<String> {
        crate::profile::empty_tags(&self.tags)
    }

    /// The tags written by hand that no saved query reads: no rule tag's query and no
    /// applied plan's rule names them or an ancestor of them. In id order. Derived tags
    /// (rule tags, plans' and `refresh`'s values) are never listed: they are their layer's
    /// to keep. Candidates for [`Engine::delete_tag`] or [`Engine::merge_tags`], with
    /// [`Engine::empty_tags`].
    ///
    /// ```
    /// use audience::Engine;
    /// let mut engine = Engine::new();
    /// engine.ensure_tag("vip")?;
    /// engine.ensure_tag("legacy")?;
    /// engine.define_rule_tag("best", "vip")?;
    /// assert_eq!(engine.unused_tags(), ["legacy"]);
    /// # Ok::<(), audience::Error>(())
    /// ```
    pub fn unused_tags(&self) -> Vec<String> {
        crate::profile::unused_tags(&self.tags, &self.segments.readers(&self.tags))
    }
}
