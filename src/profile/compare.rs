//! Two audiences side by side: [`AudienceComparison`], from
//! [`Engine::compare`](crate::Engine::compare).

use std::cmp::Ordering;

use roaring::RoaringBitmap;

use super::describe::DescribeOptions;
use super::scan::counts_per_tag;
use crate::blocks::count::Counter;
use crate::tags::Tags;

/// Two audiences side by side: their sizes, their overlap, and the tags whose share differs
/// most between them. From [`Engine::compare`](crate::Engine::compare).
///
/// ```
/// use audience::Engine;
/// let mut engine = Engine::new();
/// for (key, tags) in [("a", &["vip", "outdoor"][..]), ("b", &["vip"]), ("c", &["new", "outdoor"]), ("d", &["new"])] {
///     let c = engine.customer(key)?;
///     for t in tags {
///         engine.tag(c, t)?;
///     }
/// }
/// let c = engine.compare(&engine.query("vip")?, &engine.query("new")?);
/// assert_eq!((c.a, c.b, c.both), (2, 2, 0));
/// let first = &c.tags[0]; // vip: all of a, none of b (new likewise, then by name)
/// assert_eq!((first.tag.as_str(), first.in_a, first.in_b), ("new", 0, 2));
/// assert_eq!(first.difference(), -1.0);
/// # Ok::<(), audience::Error>(())
/// ```
#[derive(Clone, Debug, PartialEq)]
#[non_exhaustive]
pub struct AudienceComparison {
    /// Live customers in the first audience.
    pub a: u64,
    /// Live customers in the second audience.
    pub b: u64,
    /// Live customers in both.
    pub both: u64,
    /// Live customers.
    pub live: u64,
    /// The tags whose share differs, most first.
    pub tags: Vec<ShareDiff>,
}

impl AudienceComparison {
    /// Customers of the first audience only.
    pub fn only_a(&self) -> u64 {
        self.a - self.both
    }

    /// Customers of the second audience only.
    pub fn only_b(&self) -> u64 {
        self.b - self.both
    }

    /// The Jaccard index: `both / (a + b - both)`, 0 when both are empty.
    pub fn jaccard(&self) -> f64 {
        let union = self.a + self.b - self.both;
        if union == 0 { 0.0 } else { self.both as f64 / union as f64 }
    }
}

/// One tag of an [`AudienceComparison`]: how many of each audience carry it. A tag counts as
/// a query naming it does (a parent includes its descendants).
#[derive(Clone, Debug, PartialEq)]
#[non_exhaustive]
pub struct ShareDiff {
    /// The tag.
    pub tag: String,
    /// Customers of the first audience with it.
    pub in_a: u64,
    /// Customers of the second audience with it.
    pub in_b: u64,
    /// `in_a / a` (0 for an empty audience).
    pub share_a: f64,
    /// `in_b / b` (0 for an empty audience).
    pub share_b: f64,
}

impl ShareDiff {
    /// `share_a - share_b`: positive when the first audience carries the tag more often.
    pub fn difference(&self) -> f64 {
        self.share_a - self.share_b
    }
}

fn share(count: u64, size: u64) -> f64 {
    if size == 0 { 0.0 } else { count as f64 / size as f64 }
}

/// Compares the live customers of `a` and `b` over every tag of the pool.
pub(crate) fn compare(
    tags: &Tags,
    live: &RoaringBitmap,
    a: &RoaringBitmap,
    b: &RoaringBitmap,
    options: &DescribeOptions,
) -> AudienceComparison {
    let (ca, cb) = (Counter::live(a, live), Counter::live(b, live));
    let both = ca.bits().intersection_len(cb.bits());
    let (na, nb) = (ca.len(), cb.len());
    let mut listed: Vec<ShareDiff> = Vec::new();
    if na + nb > 0 {
        let excluded = options.excluded(tags);
        let threads = options.asked_threads();
        listed = counts_per_tag(tags, &[&ca, &cb], live, &excluded, threads, |_, name, _, counts, _| {
            let (in_a, in_b) = (counts[0], counts[1]);
            (in_a.max(in_b) >= options.min_count_value() && gap(in_a, na, in_b, nb) != 0).then(|| ShareDiff {
                tag: name.to_owned(),
                in_a,
                in_b,
                share_a: share(in_a, na),
                share_b: share(in_b, nb),
            })
        });
    }
    listed.sort_by(|x, y| {
        by_gap(y, x, na, nb).then_with(|| (y.in_a + y.in_b).cmp(&(x.in_a + x.in_b))).then_with(|| x.tag.cmp(&y.tag))
    });
    listed.truncate(options.top_value());
    AudienceComparison { a: na, b: nb, both, live: live.len(), tags: listed }
}

/// `|in_a / na - in_b / nb|` scaled by `na * nb` (an empty audience's shares are 0): exact,
/// and comparable across tags since the scale is common to all.
fn gap(in_a: u64, na: u64, in_b: u64, nb: u64) -> u128 {
    let scaled = |count: u64, size: u64, other: u64| {
        if size == 0 { 0 } else { u128::from(count) * u128::from(other.max(1)) }
    };
    scaled(in_a, na, nb).abs_diff(scaled(in_b, nb, na))
}

fn by_gap(x: &ShareDiff, y: &ShareDiff, na: u64, nb: u64) -> Ordering {
    gap(x.in_a, na, x.in_b, nb).cmp(&gap(y.in_a, na, y.in_b, nb))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn gap_is_exact_and_scaled_alike() {
        // 1/3 against 2/6: no gap, though the floats may differ in the last bit.
        assert_eq!(gap(1, 3, 2, 6), 0);
        // Within one comparison (sizes fixed): 3/4 against 1/6 is further apart than 1/4 against 1/6.
        assert!(gap(3, 4, 1, 6) > gap(1, 4, 1, 6));
        assert_eq!(gap(1, 4, 1, 6), 2); // |1*6 - 1*4|
        // An empty audience: the other's share is the whole gap.
        assert_eq!(gap(0, 0, 2, 4), 2);
        assert_eq!(gap(2, 4, 0, 0), 2);
        assert!(gap(0, 0, 4, 4) > gap(0, 0, 3, 4));
        assert_eq!(gap(u64::MAX, u64::MAX, 0, u64::MAX), u128::from(u64::MAX) * u128::from(u64::MAX));
    }
}
