//! Observing a whole engine, or a refresh report, in comparable form.
//!
//! - [`Picture`]: what two engines holding the same customers, tags, attributes and purchases
//!   show alike, whatever way they got there (no tag ids, no byte sizes): to check that two
//!   ways of doing a thing (a batch and a loop, incremental and full) end in the same place.
//! - [`Snapshot`]: a picture plus what only the same engine keeps (tag ids, kinds, links and
//!   empty tags, exclusive groups, models, exact sizes): to check that a refused call changed
//!   nothing.

use std::collections::BTreeMap;

use audience::{CustomerId, Day, Engine, Lifecycle, RefreshReport, RfmModel, Stage, TagId};

/// Everything a caller can observe of an engine's content, in comparable form.
#[derive(Debug, PartialEq)]
pub struct Picture {
    pub customers: Vec<u32>,
    /// Each live customer's key.
    pub keys: Vec<(u32, Option<String>)>,
    /// Each known key's id.
    pub lookups: Vec<(String, Option<CustomerId>)>,
    pub keyed: usize,
    /// Non-empty tags by name, with their exact members (not descendants).
    pub tags: BTreeMap<String, Vec<u32>>,
    /// Attribute -> (customer, value).
    pub attrs: Vec<(String, Vec<(u32, i64)>)>,
    /// Customer -> (day, amount) in the order `purchases_of` gives.
    pub purchases: Vec<(u32, Vec<(i32, i64)>)>,
    pub purchase_count: u64,
    /// Customer -> stage and RFM figures as of the last refresh.
    pub models: Vec<(u32, Option<Stage>, String)>,
    pub last_refresh: Option<Day>,
}

/// The picture of `e`, looking up `keys` (known keys, and maybe keys that are gone).
pub fn picture(e: &Engine, keys: &[String]) -> Picture {
    let live: Vec<CustomerId> = e.customers().iter().collect();
    let mut tags: BTreeMap<String, Vec<u32>> = BTreeMap::new();
    for &c in &live {
        for t in e.tags_of(c).expect("live") {
            tags.entry(t.to_owned()).or_default().push(c.0);
        }
    }
    for t in e.tags() {
        assert_eq!(t.len, tags.get(t.name).map_or(0, |m| m.len() as u64), "tag {} length", t.name);
    }
    let mut attrs: Vec<(String, Vec<(u32, i64)>)> = e
        .attributes()
        .map(|(name, n)| {
            let vals: Vec<(u32, i64)> =
                live.iter().filter_map(|&c| Some((c.0, e.attr(c, name).expect("known")?))).collect();
            assert_eq!(n, vals.len() as u64, "attribute {name} length");
            (name.to_owned(), vals)
        })
        .filter(|(_, v)| !v.is_empty())
        .collect();
    attrs.sort();
    Picture {
        customers: live.iter().map(|c| c.0).collect(),
        keys: live.iter().map(|&c| (c.0, e.key_of(c).map(str::to_owned))).collect(),
        lookups: keys.iter().map(|k| (k.clone(), e.id_of(k))).collect(),
        keyed: e.stats().keyed_customers,
        tags,
        attrs,
        purchases: live
            .iter()
            .map(|&c| {
                let p = e.purchases_of(c).expect("live");
                (c.0, p.iter().map(|p| (p.day.days_since_epoch(), p.amount.minor())).collect())
            })
            .collect(),
        purchase_count: e.purchase_count(),
        models: live
            .iter()
            .map(|&c| (c.0, e.stage_of(c).expect("live"), format!("{:?}", e.rfm_of(c).expect("live"))))
            .collect(),
        last_refresh: e.last_refresh(),
    }
}

/// Exact sizes from `Engine::stats`: customers, keyed customers, tags, assignments, bitmap
/// bytes, attributes, attribute bytes, purchases. Not the heap estimates (`pool_bytes`,
/// `subtree_bytes`, `directory_bytes`, `history_bytes`): a refused call may still have
/// reserved memory or built a cache.
pub type Sizes = (u64, usize, usize, u64, usize, usize, usize, u64);

/// Everything observable about one engine, to check that a refused call changed nothing.
#[derive(Debug, PartialEq)]
pub struct Snapshot {
    pub picture: Picture,
    /// Every tag as listed (id, name, kind, len, group, parent, children, subtree_len).
    pub tags: Vec<String>,
    pub groups: Vec<String>,
    /// Every attribute as listed, with its size (attributes nobody has included).
    pub attributes: Vec<(String, u64)>,
    pub sizes: Sizes,
    pub lifecycle: Lifecycle,
    pub rfm_model: RfmModel,
}

/// The engine's [`Stats`](audience::Stats) with its caches set aside (the views of dense tags
/// the customer index and the census: what reads have built, not what the engine holds).
pub fn held(e: &Engine) -> audience::Stats {
    let mut s = e.stats();
    s.view_bytes = 0;
    s.customer_index_bytes = 0;
    s.census_bytes = 0;
    s
}

pub fn snapshot(e: &Engine) -> Snapshot {
    let s = e.stats();
    Snapshot {
        picture: picture(e, &[]),
        tags: e.tags().map(|t| format!("{t:?}")).collect(),
        groups: e.exclusive_groups().map(str::to_owned).collect(),
        attributes: e.attributes().map(|(n, len)| (n.to_owned(), len)).collect(),
        sizes: (
            s.customers,
            s.keyed_customers,
            s.tags,
            s.assignments,
            s.bitmap_bytes,
            s.attributes,
            s.attribute_bytes,
            s.purchases,
        ),
        lifecycle: *e.lifecycle(),
        rfm_model: e.rfm_model().clone(),
    }
}

/// Every tag of the pool with its id, in id order.
pub fn tag_list(e: &Engine) -> Vec<(TagId, String)> {
    e.tags().map(|t| (t.id, t.name.to_owned())).collect()
}

// ------------------------------------------------------------------ refresh reports

/// A report's transitions as plain data, checking each count against its audience.
pub fn transitions(r: &RefreshReport) -> Vec<(Option<Stage>, Stage, Vec<u32>)> {
    r.transitions
        .iter()
        .map(|t| {
            assert_eq!(t.count, t.audience.len(), "transition count vs audience");
            (t.from, t.to, t.audience.to_ids())
        })
        .collect()
}

/// As of, customers, scored, stage counts, segment counts.
pub type Summary = (Day, u64, u64, Vec<(Stage, u64)>, Vec<(String, u64)>);

/// The parts of a report that do not depend on how it was computed.
pub fn summary(r: &RefreshReport) -> Summary {
    (r.as_of, r.customers, r.scored, r.stages.clone(), r.segments.clone())
}
