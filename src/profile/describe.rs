//! What makes an audience different ([`Description`]) and how it spreads over a group
//! ([`Breakdown`]).

use std::num::NonZeroUsize;

use roaring::RoaringBitmap;

use super::scan::counts_per_tag;

use crate::blocks::count::Counter;
use crate::error::Result;
use crate::id::TagId;
use crate::tags::{Tags, normalize_tag};

/// What [`Engine::describe`](crate::Engine::describe) lists, and how many.
///
/// ```
/// use audience::DescribeOptions;
/// let mut options = DescribeOptions::new();
/// options.top(5).min_count(10).exclude(["vip"]);
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DescribeOptions {
    top: usize,
    min_count: u64,
    exclude: Vec<String>,
    threads: Option<NonZeroUsize>,
}

impl Default for DescribeOptions {
    fn default() -> DescribeOptions {
        DescribeOptions { top: 20, min_count: 1, exclude: Vec::new(), threads: None }
    }
}

impl DescribeOptions {
    /// The defaults: the top 20 tags, carried by at least one customer of the audience,
    /// none excluded.
    pub fn new() -> DescribeOptions {
        DescribeOptions::default()
    }

    /// How many tags to list at most. Default: 20.
    pub fn top(&mut self, k: usize) -> &mut Self {
        self.top = k;
        self
    }

    /// The fewest customers of the audience a listed tag must have. Default: 1; 0 is taken
    /// as 1 (a tag nobody in the audience carries tells nothing about it).
    pub fn min_count(&mut self, m: u64) -> &mut Self {
        self.min_count = m.max(1);
        self
    }

    /// Tags not to list, typically those the audience's own query names (they over-index by
    /// construction). Names are matched after normalization, an alias excluding the tag it
    /// points at; unknown names are ignored. Default: none.
    pub fn exclude<S: AsRef<str>>(&mut self, names: impl IntoIterator<Item = S>) -> &mut Self {
        self.exclude.extend(names.into_iter().filter_map(|n| normalize_tag(n.as_ref()).ok().map(|n| n.into_owned())));
        self
    }
}

impl DescribeOptions {
    /// How many threads may count: at most `n` (the calling thread among them; the census's
    /// blocks are split among them, then the tags it does not hold whole are dealt to them
    /// round-robin, and the result is the same whatever the number). Default
    /// (and `0`): one thread when the work is small (under 2^21 values of the census for the
    /// audience's blocks; tag by tag, the audience's size times the pool's tags), else the
    /// cores the process may use, at most 8.
    pub fn threads(&mut self, n: usize) -> &mut Self {
        self.threads = NonZeroUsize::new(n);
        self
    }

    /// The threads asked for, if any.
    pub(crate) fn asked_threads(&self) -> Option<NonZeroUsize> {
        self.threads
    }

    /// The tags [`DescribeOptions::exclude`] names, aliases resolved; unknown names dropped.
    pub(crate) fn excluded(&self, tags: &Tags) -> Vec<TagId> {
        self.exclude.iter().filter_map(|e| tags.pool().resolve(e)).collect()
    }

    pub(crate) fn min_count_value(&self) -> u64 {
        self.min_count
    }

    pub(crate) fn top_value(&self) -> usize {
        self.top
    }
}

/// What makes an audience different: its size and share of the live customers, and the tags
/// that over-index in it. From [`Engine::describe`](crate::Engine::describe).
#[derive(Clone, Debug, PartialEq)]
#[non_exhaustive]
pub struct Description {
    /// Live customers in the audience.
    pub size: u64,
    /// Live customers.
    pub live: u64,
    /// The over-indexing tags, highest lift first (then most customers of the audience,
    /// then name).
    pub tags: Vec<TagLift>,
}

impl Description {
    /// The audience's share of the live customers (0 when there are none).
    pub fn share(&self) -> f64 {
        if self.live == 0 { 0.0 } else { self.size as f64 / self.live as f64 }
    }
}

/// One tag of a [`Description`]: how many of the audience carry it against how many
/// overall. A tag counts as a query naming it does: a parent includes its descendants.
#[derive(Clone, Debug, PartialEq)]
#[non_exhaustive]
pub struct TagLift {
    /// The tag.
    pub tag: String,
    /// Customers of the audience with it.
    pub count: u64,
    /// Live customers with it.
    pub total: u64,
    /// `(count / size) / (total / live)`: 1 when the audience carries it as often as
    /// everyone does, 2 when twice as often. For display; the order is decided exactly.
    pub lift: f64,
}

/// Describes the live customers of `audience` over every tag of the pool.
pub(crate) fn describe(
    tags: &Tags,
    live: &RoaringBitmap,
    audience: &RoaringBitmap,
    options: &DescribeOptions,
) -> Description {
    let audience = Counter::live(audience, live);
    let (size, everyone) = (audience.len(), live.len());
    let mut listed: Vec<TagLift> = Vec::new();
    if size > 0 {
        let excluded = options.excluded(tags);
        let threads = options.asked_threads();
        listed = counts_per_tag(tags, &[&audience], live, &excluded, threads, |_, name, members, counts, total| {
            let count = counts[0];
            (count >= options.min_count).then(|| {
                let total = total.unwrap_or_else(|| members.len());
                let lift = (count as f64 / size as f64) / (total as f64 / everyone as f64);
                TagLift { tag: name.to_owned(), count, total, lift }
            })
        });
    }
    // Lift compared exactly: count_a / total_a against count_b / total_b (size and live are
    // common to both), by cross-multiplying in u128.
    listed.sort_by(|a, b| {
        let by_lift = (u128::from(b.count) * u128::from(a.total)).cmp(&(u128::from(a.count) * u128::from(b.total)));
        by_lift.then(b.count.cmp(&a.count)).then_with(|| a.tag.cmp(&b.tag))
    });
    listed.truncate(options.top);
    Description { size, live: everyone, tags: listed }
}

/// An audience spread over the values of an exclusive group, or the children of a tag. From
/// [`Engine::breakdown`](crate::Engine::breakdown).
#[derive(Clone, Debug, PartialEq)]
#[non_exhaustive]
pub struct Breakdown {
    /// Live customers in the audience.
    pub size: u64,
    /// Per value (or child): its name and how many of the audience it has, most first, then
    /// by name. Values nobody in the audience has are listed too, with 0.
    pub parts: Vec<(String, u64)>,
    /// Customers of the audience in none of them.
    pub rest: u64,
}

impl Breakdown {
    /// Each value with its count and its share of the audience, in `parts`' order (shares
    /// 0 for an empty audience).
    ///
    /// ```
    /// use audience::Engine;
    /// let mut engine = Engine::new();
    /// engine.define_exclusive_group("tier")?;
    /// for (key, tier) in [("a", "tier:gold"), ("b", "tier:gold"), ("c", "tier:silver"), ("d", "tier:gold")] {
    ///     let c = engine.customer(key)?;
    ///     engine.tag(c, tier)?;
    /// }
    /// let b = engine.breakdown(&engine.customers(), "tier")?;
    /// let shares: Vec<(&str, u64, f64)> = b.shares().collect();
    /// assert_eq!(shares, [("tier:gold", 3, 0.75), ("tier:silver", 1, 0.25)]);
    /// # Ok::<(), audience::Error>(())
    /// ```
    pub fn shares(&self) -> impl Iterator<Item = (&str, u64, f64)> + '_ {
        let size = self.size;
        self.parts.iter().map(move |(n, c)| (n.as_str(), *c, if size == 0 { 0.0 } else { *c as f64 / size as f64 }))
    }

    /// The share of the audience value `name` has (0 for a name not listed or an empty
    /// audience).
    pub fn share(&self, name: &str) -> f64 {
        let count = self.parts.iter().find(|(n, _)| n == name).map_or(0, |&(_, c)| c);
        if self.size == 0 { 0.0 } else { count as f64 / self.size as f64 }
    }
}

/// Spreads the live customers of `audience` over `of`: an exclusive group's values (`region`)
/// or a tag's children (`region/*`, each child counting its descendants).
pub(crate) fn breakdown(tags: &Tags, live: &RoaringBitmap, audience: &RoaringBitmap, of: &str) -> Result<Breakdown> {
    let pool = tags.pool();
    let parts: Vec<TagId> = match of.strip_suffix("/*") {
        Some(parent) => pool.children(tags.lookup(parent)?).collect(),
        None => tags.in_group(of)?.iter().map(|t| t.id).collect(),
    };
    let mut covered = RoaringBitmap::new();
    let mut counted: Vec<(String, u64)> = Vec::with_capacity(parts.len());
    let counter = Counter::live(audience, live);
    let size = counter.len();
    for id in parts {
        let members = tags.store().members(pool, id);
        counted.push((pool.name(id).to_owned(), counter.count(members, tags.store().view(pool, id).as_deref())));
        covered |= members;
    }
    counted.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
    Ok(Breakdown { size, rest: size - counter.count(&covered, None), parts: counted })
}
