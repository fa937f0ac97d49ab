//! Profiles: what makes an audience different, computed by the profile layer from the tags
//! layer's bitmaps.

use super::Engine;
use crate::audience::Audience;
use crate::profile::{DescribeOptions, Description, describe};

impl Engine {
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
}
