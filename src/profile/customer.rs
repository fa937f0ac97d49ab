//! One customer's whole picture: [`Profile`], from [`Engine::profile`](crate::Engine::profile).
//!
//! The customer's tags come from the tags layer's customer index (`tags/layer/by_customer.rs`:
//! per 2^16-id block, built when a block is read again, dropped by a write to it; a one-off
//! read probes every tag's bitmap), the rest from each layer's per-customer lookups.

use std::collections::BTreeMap;
use std::fmt;

use serde::ser::{SerializeMap, Serializer};

use crate::attrs::Attrs;
use crate::customers::Directory;
use crate::error::Result;
use crate::history::{Day, History, Money, format_minor};
use crate::id::{CustomerId, DERIVED_GROUPS, TagKind};
use crate::lifecycle::Stage;
use crate::refresh::Models;
use crate::segment::Segments;
use crate::tags::Tags;

/// Who one customer is: their key, their tags by kind, the values of the exclusive groups,
/// numeric attributes, RFM scores and lifecycle stage (as of the last refresh), a purchase
/// summary, the segments they are in, the rule tags they match and the tags they carry
/// until a day. From [`Engine::profile`](crate::Engine::profile).
///
/// Everything is listed in a stable order: kinds in [`TagKind::ALL`]'s order, names in
/// byte order. `Serialize` writes JSON-friendly data: days as `"YYYY-MM-DD"`, amounts as
/// decimal strings (`"1234.50"`, exact), kinds and stages by name; `Display` prints a
/// readable card.
///
/// ```
/// use audience::{Day, Engine, Money, Purchase, Stage};
/// let mut engine = Engine::new();
/// engine.define_exclusive_group("region")?;
/// let ann = engine.customer("ann@example.com")?;
/// engine.tag(ann, "region:north")?;
/// engine.tag(ann, "vip")?;
/// engine.set_attr(ann, "age", 34)?;
/// engine.record_purchase(ann, "2024-05-01".parse::<Day>()?, Money::from_minor(12_000)?)?;
/// engine.refresh("2024-06-30".parse::<Day>()?)?;
///
/// let p = engine.profile(ann)?;
/// assert_eq!(p.key.as_deref(), Some("ann@example.com"));
/// assert_eq!(p.groups["region"], "region:north");
/// assert_eq!(p.attributes["age"], 34);
/// assert_eq!(p.stage, Some(Stage::Active));
/// assert_eq!((p.purchases.count, p.purchases.total_minor), (1, 12_000));
/// assert!(p.to_string().contains("region:north"));
/// # Ok::<(), audience::Error>(())
/// ```
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
#[non_exhaustive]
pub struct Profile {
    /// The customer.
    pub customer: CustomerId,
    /// Their key; `None` for a customer registered by dense id.
    pub key: Option<String>,
    /// The keys of customers merged into them ([`Engine::merge_customers`]), which resolve
    /// to them too; oldest first.
    ///
    /// [`Engine::merge_customers`]: crate::Engine::merge_customers
    pub aliases: Vec<String>,
    /// Every tag they carry, by kind (kinds in [`TagKind::ALL`]'s order, only those with a
    /// tag; names in byte order). Derived tags (`rfm:`, `stage:`, segments, rule tags) are
    /// listed under their kinds too.
    pub tags: BTreeMap<TagKind, Vec<String>>,
    /// Their value of each exclusive group declared by hand (`region` -> `region:north`);
    /// the groups the refresh and segment plans own are in `rfm`, `stage` and `segments`.
    pub groups: BTreeMap<String, String>,
    /// Their numeric attributes, those the refresh derives (`recency_days`, `frequency`,
    /// `monetary`) included.
    pub attributes: BTreeMap<String, i64>,
    /// The day of the last refresh, which `rfm` and `stage` are as of.
    #[serde(serialize_with = "day_opt")]
    pub as_of: Option<Day>,
    /// RFM scores and segment as of the last refresh; `None` before one, and for a customer
    /// without a purchase on or before its day (or added since).
    pub rfm: Option<RfmProfile>,
    /// Lifecycle stage as of the last refresh; `None` before one and for a customer added
    /// since.
    pub stage: Option<Stage>,
    /// Their whole purchase history, summarized (every record, whatever the as-of day).
    pub purchases: PurchaseSummary,
    /// Their segment in each applied segment plan (`campaign` -> `campaign:vips`).
    pub segments: BTreeMap<String, String>,
    /// The rule tags they match (as last computed).
    pub rule_tags: Vec<String>,
    /// The tags they carry until a day ([`Engine::tag_until`](crate::Engine::tag_until)),
    /// with the day the assignment ends.
    #[serde(serialize_with = "day_map")]
    pub expiring: BTreeMap<String, Day>,
}

/// A customer's RFM scores and segment, owned (see [`RfmScores`](crate::RfmScores) for
/// what each figure means).
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
#[non_exhaustive]
pub struct RfmProfile {
    /// Days from the last purchase to the as-of day.
    pub recency_days: i64,
    /// Purchases on or before the as-of day.
    pub frequency: u32,
    /// Sum of every amount on or before the as-of day, refunds included, in minor units.
    #[serde(serialize_with = "minor")]
    pub monetary: i64,
    /// Recency score, 1-5.
    pub r: u8,
    /// Frequency score, 1-5.
    pub f: u8,
    /// Monetary score, 1-5.
    pub m: u8,
    /// The named RFM segment (`champions`, `at_risk`, ...).
    pub segment: String,
}

/// A customer's purchase history in four figures, over every record held (refunds are
/// records with a negative amount).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, serde::Serialize)]
#[non_exhaustive]
pub struct PurchaseSummary {
    /// Purchases (records with an amount of zero or more).
    pub count: u64,
    /// Refunds (records with a negative amount).
    pub refunds: u64,
    /// Every amount summed, refunds included, in minor units (wide: a sum of many amounts
    /// may pass [`Money::MAX_MINOR`]; [`PurchaseSummary::total`] gives it as `Money`).
    #[serde(rename = "total", serialize_with = "minor")]
    pub total_minor: i128,
    /// Day of the first purchase (refunds not counted); `None` without one.
    #[serde(serialize_with = "day_opt")]
    pub first: Option<Day>,
    /// Day of the last purchase; `None` without one.
    #[serde(serialize_with = "day_opt")]
    pub last: Option<Day>,
}

impl PurchaseSummary {
    /// The total as [`Money`]; `None` when it is beyond ±[`Money::MAX_MINOR`].
    pub fn total(&self) -> Option<Money> {
        i64::try_from(self.total_minor).ok().and_then(|m| Money::from_minor(m).ok())
    }

    fn of(records: &[(i32, i64)]) -> PurchaseSummary {
        let mut s = PurchaseSummary::default();
        let (mut first, mut last) = (i32::MAX, i32::MIN);
        for &(day, amount) in records {
            s.total_minor += i128::from(amount);
            if amount < 0 {
                s.refunds += 1;
                continue;
            }
            s.count += 1;
            first = first.min(day);
            last = last.max(day);
        }
        if s.count > 0 {
            s.first = Day::from_days_since_epoch(first);
            s.last = Day::from_days_since_epoch(last);
        }
        s
    }
}

/// What a profile reads: every layer, borrowed.
pub(crate) struct Sources<'a> {
    pub(crate) customers: &'a Directory,
    pub(crate) tags: &'a Tags,
    pub(crate) attrs: &'a Attrs,
    pub(crate) history: &'a History,
    pub(crate) models: &'a Models,
    pub(crate) segments: &'a Segments,
}

/// Live customer `id`'s profile.
pub(crate) fn profile(s: &Sources<'_>, id: CustomerId) -> Result<Profile> {
    s.customers.check_live(id)?;
    let pool = s.tags.pool();
    let plan_groups: Vec<&str> = s.segments.applied().iter().map(|(g, _)| g.as_str()).collect();

    let mut tags: BTreeMap<TagKind, Vec<String>> = BTreeMap::new();
    let (mut groups, mut segments) = (BTreeMap::new(), BTreeMap::new());
    let (mut rule_tags, mut expiring) = (Vec::new(), BTreeMap::new());
    for tag in s.tags.of_ids(id.0) {
        let def = pool.check(tag)?;
        let name = def.name.to_string();
        if let Some(group) = def.group().and_then(|g| pool.group_name(g)) {
            if plan_groups.contains(&group) {
                segments.insert(group.to_owned(), name.clone());
            } else if !DERIVED_GROUPS.contains(&group) {
                groups.insert(group.to_owned(), name.clone());
            }
        }
        if s.tags.is_rule_tag(tag) {
            rule_tags.push(name.clone());
        }
        if let Some(day) = s.tags.expiry_day(tag, id.0) {
            expiring.insert(name.clone(), day);
        }
        tags.entry(def.kind).or_default().push(name);
    }
    tags.values_mut().for_each(|v| v.sort_unstable());
    rule_tags.sort_unstable();

    let rfm = s.models.rfm_of(id.0).map(|r| RfmProfile {
        recency_days: r.recency_days,
        frequency: r.frequency,
        monetary: r.monetary,
        r: r.r,
        f: r.f,
        m: r.m,
        segment: r.segment.to_owned(),
    });
    Ok(Profile {
        customer: id,
        key: s.customers.key_of(id).map(str::to_owned),
        aliases: s.customers.aliases_of(id).map(str::to_owned).collect(),
        tags,
        groups,
        attributes: s.attrs.of(id.0).into_iter().map(|(n, v)| (n.to_owned(), v)).collect(),
        as_of: s.models.last_as_of(),
        rfm,
        stage: s.models.stage_of(id.0),
        purchases: PurchaseSummary::of(&s.history.of(id.0)),
        segments,
        rule_tags,
        expiring,
    })
}

// ------------------------------------------------------------------ printing

impl fmt::Display for Profile {
    /// A readable card, one field per line, empty fields left out:
    ///
    /// ```text
    /// customer 0 "ann@example.com" (also "guest-42")
    ///   tags        attribute: region:north
    ///               value: rfm:champions, vip
    ///   groups      region = region:north
    ///   attributes  age = 34
    ///   rfm         R5 F1 M1 champions (as of 2024-06-30: 60 days, 1 purchase, 120.00)
    ///   stage       active
    ///   purchases   1, total 120.00, first 2024-05-01, last 2024-05-01
    /// ```
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "customer {}", self.customer.0)?;
        if let Some(key) = &self.key {
            write!(f, " {key:?}")?;
        }
        if !self.aliases.is_empty() {
            let aliases: Vec<String> = self.aliases.iter().map(|a| format!("{a:?}")).collect();
            write!(f, " (also {})", aliases.join(", "))?;
        }
        let field = |f: &mut fmt::Formatter<'_>, label: &str, lines: Vec<String>| -> fmt::Result {
            for (i, line) in lines.iter().enumerate() {
                let label = if i == 0 { label } else { "" };
                write!(f, "\n  {label:<11} {line}")?;
            }
            Ok(())
        };
        let tags = self.tags.iter().map(|(kind, names)| format!("{kind}: {}", names.join(", "))).collect();
        field(f, "tags", tags)?;
        field(f, "groups", self.groups.iter().map(|(g, v)| format!("{g} = {v}")).collect())?;
        field(f, "attributes", self.attributes.iter().map(|(n, v)| format!("{n} = {v}")).collect())?;
        if let Some(r) = &self.rfm {
            let as_of = self.as_of.map(|d| format!("as of {d}: ")).unwrap_or_default();
            let purchases = if r.frequency == 1 { "purchase" } else { "purchases" };
            let line = format!(
                "R{} F{} M{} {} ({as_of}{} days, {} {purchases}, {})",
                r.r,
                r.f,
                r.m,
                r.segment,
                r.recency_days,
                r.frequency,
                format_minor(i128::from(r.monetary))
            );
            field(f, "rfm", vec![line])?;
        }
        if let Some(stage) = self.stage {
            field(f, "stage", vec![stage.to_string()])?;
        }
        let p = &self.purchases;
        if p.count + p.refunds > 0 {
            let mut line = format!("{}, total {}", p.count, format_minor(p.total_minor));
            if p.refunds > 0 {
                line += &format!(", {} refund{}", p.refunds, if p.refunds == 1 { "" } else { "s" });
            }
            if let (Some(first), Some(last)) = (p.first, p.last) {
                line += &format!(", first {first}, last {last}");
            }
            field(f, "purchases", vec![line])?;
        }
        field(f, "segments", self.segments.iter().map(|(g, v)| format!("{g} = {v}")).collect())?;
        if !self.rule_tags.is_empty() {
            field(f, "rule tags", vec![self.rule_tags.join(", ")])?;
        }
        field(f, "expiring", self.expiring.iter().map(|(t, d)| format!("{t} until {d}")).collect())
    }
}

// ------------------------------------------------------------------ serializing

fn day_opt<S: Serializer>(day: &Option<Day>, s: S) -> std::result::Result<S::Ok, S::Error> {
    match day {
        Some(d) => s.collect_str(d),
        None => s.serialize_none(),
    }
}

fn day_map<S: Serializer>(days: &BTreeMap<String, Day>, s: S) -> std::result::Result<S::Ok, S::Error> {
    let mut map = s.serialize_map(Some(days.len()))?;
    for (tag, day) in days {
        map.serialize_entry(tag, &day.to_string())?;
    }
    map.end()
}

fn minor<S: Serializer, M: Copy + Into<i128>>(m: &M, s: S) -> std::result::Result<S::Ok, S::Error> {
    s.serialize_str(&format_minor((*m).into()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn purchase_summary_counts_refunds_apart() {
        let s = PurchaseSummary::of(&[(10, 500), (3, -200), (7, 0), (12, 100)]);
        assert_eq!((s.count, s.refunds, s.total_minor), (3, 1, 400));
        assert_eq!((s.first.unwrap().days_since_epoch(), s.last.unwrap().days_since_epoch()), (7, 12));
        assert_eq!(s.total(), Some(Money::from_minor(400).unwrap()));
        let only_refund = PurchaseSummary::of(&[(5, -1)]);
        assert_eq!((only_refund.count, only_refund.first, only_refund.last), (0, None, None));
        let huge = PurchaseSummary::of(&[(1, Money::MAX_MINOR), (2, Money::MAX_MINOR)]);
        assert_eq!(huge.total_minor, 2 * i128::from(Money::MAX_MINOR));
        assert_eq!(huge.total(), None);
        assert_eq!(PurchaseSummary::of(&[]), PurchaseSummary::default());
    }
}
