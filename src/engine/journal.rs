//! What the journal records: one [`Op`] per successful mutating call of the engine, with the
//! call's arguments (a bulk call's whole input, an audience as one bitmap), and replayed by
//! making the same call again. The file around the records is `persist/journal/`; the
//! payloads are described in `docs/format.md` ("Journal").
//!
//! Every mutating method runs through [`Engine::logged`] (or [`Engine::logged_infallible`]
//! for the few that return no `Result`): without a journal the call is made and nothing
//! else happens; with one, a broken journal refuses the call, the call is made, and if it
//! succeeded its record is appended. A refused call changed nothing, so it is not recorded.
//! Calls that changed nothing a reader can see are not recorded either: `customer` of a
//! known key, `customer_id` of a live id, draining an empty change feed, `expire` that
//! removed nothing, `track_changes` of the state it is in.

use std::borrow::Cow;

use roaring::RoaringBitmap;

use super::Engine;
use crate::error::{Error, Result};
use crate::history::{Day, Money, Purchase};
use crate::id::{CustomerId, TagId};
use crate::lifecycle::Lifecycle;
use crate::persist::journal::Journal;
use crate::persist::{Dec, Enc};
use crate::query::Query;
use crate::rfm::{RfmGrid, RfmModel};
use crate::segment::SegmentPlan;
use crate::tags::TagKind;

/// The engine's journal, when it has one. A clone of an engine has none: two engines never
/// append to one journal.
#[derive(Default)]
pub(crate) struct Attached(pub(crate) Option<Journal>);

impl Clone for Attached {
    fn clone(&self) -> Attached {
        Attached(None)
    }
}

/// Names given by index: a bulk call's distinct names once each, then per item the index of
/// its name.
#[derive(Debug, PartialEq)]
pub(crate) struct Named<'a> {
    pub(crate) names: Vec<&'a str>,
    pub(crate) customers: Vec<u32>,
    pub(crate) of: Vec<u32>,
}

impl<'a> Named<'a> {
    /// `items` as names and columns, names in the order they first appear.
    pub(crate) fn new(items: impl Iterator<Item = (CustomerId, &'a str)>) -> Named<'a> {
        let mut index: std::collections::HashMap<&str, u32> = std::collections::HashMap::new();
        let mut named = Named { names: Vec::new(), customers: Vec::new(), of: Vec::new() };
        for (c, name) in items {
            let next = named.names.len() as u32;
            let i = *index.entry(name).or_insert_with(|| {
                named.names.push(name);
                next
            });
            named.customers.push(c.0);
            named.of.push(i);
        }
        named
    }

    fn put(&self, e: &mut Enc) {
        e.len(self.names.len());
        self.names.iter().for_each(|n| e.str(n));
        e.u32s(&self.customers);
        e.u32s(&self.of);
    }

    fn get(d: &mut Dec<'a>) -> Result<Named<'a>> {
        let n = d.len(4, "name count")?;
        let names = (0..n).map(|_| d.str("name")).collect::<Result<Vec<_>>>()?;
        let customers = d.u32s("customers")?;
        let at = d.offset();
        let of = d.u32s("name indexes")?;
        if of.len() != customers.len() {
            return Err(corrupt_at(d, at, format!("{} name indexes for {} customers", of.len(), customers.len())));
        }
        if let Some(&bad) = of.iter().find(|&&i| i as usize >= names.len()) {
            return Err(corrupt_at(d, at, format!("name index {bad} of {} names", names.len())));
        }
        Ok(Named { names, customers, of })
    }

    fn items(&self) -> impl Iterator<Item = (CustomerId, &'a str)> + '_ {
        self.customers.iter().zip(&self.of).map(|(&c, &i)| (CustomerId(c), self.names[i as usize]))
    }
}

fn corrupt_at(d: &Dec<'_>, at: u64, what: impl Into<String>) -> Error {
    crate::persist::codec::corrupt_at(d, Some(at), what)
}

/// One successful mutating call of the engine: what it was given (an audience as a bitmap,
/// a bulk call's whole input), so that making the call again on the state it was made on
/// does the same.
#[derive(Debug, PartialEq)]
pub(crate) enum Op<'a> {
    /// `customer(key)`, with the id it gave (checked when replayed).
    Customer {
        key: &'a str,
        id: CustomerId,
    },
    CustomerId(CustomerId),
    /// A bulk load's new keys, which got ids `first, first + 1, ...` in this order
    /// (checked when replayed).
    Customers {
        first: CustomerId,
        keys: Vec<&'a str>,
    },
    CustomerIdRange(std::ops::Range<u32>),
    RemoveCustomer(CustomerId),
    RemoveCustomers(Cow<'a, RoaringBitmap>),
    MergeCustomers {
        into: CustomerId,
        from: CustomerId,
    },
    DefineTag {
        name: &'a str,
        kind: TagKind,
    },
    SetTagKind {
        name: &'a str,
        kind: TagKind,
    },
    EnsureTag(&'a str),
    DefineGroup {
        group: &'a str,
        kind: TagKind,
    },
    DeleteTag(&'a str),
    RenameTag {
        old: &'a str,
        new: &'a str,
    },
    MergeTags {
        from: &'a str,
        into: &'a str,
    },
    AliasTag {
        alias: &'a str,
        target: &'a str,
    },
    UnaliasTag(&'a str),
    Tag {
        id: CustomerId,
        name: &'a str,
    },
    Untag {
        id: CustomerId,
        name: &'a str,
    },
    TagAll {
        audience: Cow<'a, RoaringBitmap>,
        name: &'a str,
    },
    UntagAll {
        audience: Cow<'a, RoaringBitmap>,
        name: &'a str,
    },
    /// `set_tag_from_portable_bytes` (and each tag a ClickHouse import sets): the tag's
    /// members made the live customers of `audience`.
    ReplaceTag {
        audience: Cow<'a, RoaringBitmap>,
        name: &'a str,
    },
    TagPairs(Named<'a>),
    TagIdPairs {
        customers: Vec<u32>,
        tags: Vec<u32>,
    },
    TagUntil {
        id: CustomerId,
        name: &'a str,
        until: Day,
    },
    TagAllUntil {
        audience: Cow<'a, RoaringBitmap>,
        name: &'a str,
        until: Day,
    },
    Expire(Day),
    DefineAttr(&'a str),
    SetAttr {
        id: CustomerId,
        name: &'a str,
        value: i64,
    },
    SetAttrs {
        named: Named<'a>,
        values: Vec<i64>,
    },
    UnsetAttr {
        id: CustomerId,
        name: &'a str,
    },
    TrackChanges(bool),
    DrainChanges,
    RecordPurchase(Purchase),
    RecordPurchases(Cow<'a, [Purchase]>),
    SetRfmModel(Cow<'a, RfmModel>),
    SetLifecycle(Lifecycle),
    Refresh(Day),
    ApplyPlan {
        group: &'a str,
        plan: Cow<'a, SegmentPlan>,
    },
    DefineRuleTag {
        name: &'a str,
        query: Cow<'a, Query>,
    },
    RefreshRules,
}

/// A kind's place in [`TagKind::ALL`].
fn kind_code(kind: TagKind) -> u8 {
    TagKind::ALL.iter().position(|&k| k == kind).expect("every kind is listed") as u8
}

fn get_kind(d: &mut Dec<'_>) -> Result<TagKind> {
    let at = d.offset();
    let k = d.u8("tag kind")?;
    TagKind::ALL.get(usize::from(k)).copied().ok_or_else(|| corrupt_at(d, at, format!("tag kind {k}")))
}

fn get_day(d: &mut Dec<'_>) -> Result<Day> {
    let at = d.offset();
    let n = d.i32("day")?;
    Day::from_days_since_epoch(n).ok_or_else(|| corrupt_at(d, at, format!("day {n} is out of range")))
}

fn get_customer(d: &mut Dec<'_>) -> Result<CustomerId> {
    d.u32("customer").map(CustomerId)
}

fn get_money(d: &mut Dec<'_>) -> Result<Money> {
    let at = d.offset();
    let n = d.i64("amount")?;
    Money::from_minor(n).map_err(|e| corrupt_at(d, at, format!("amount: {e}")))
}

/// Scoring (`0` quantiles, `1` thresholds and their twelve cut points), then the segment
/// grid's 25 names (R1 F1 .. R1 F5, R2 F1, .., R5 F5).
fn put_rfm(e: &mut Enc, rfm: &RfmModel) {
    match rfm.threshold_cuts() {
        None => e.u8(0),
        Some(cuts) => {
            e.u8(1);
            cuts.iter().flatten().for_each(|&c| e.i64(c));
        }
    }
    rfm.segments().grid().iter().flatten().for_each(|name| e.str(name));
}

fn get_rfm(d: &mut Dec<'_>) -> Result<RfmModel> {
    let at = d.offset();
    let model = match d.u8("RFM scoring")? {
        0 => RfmModel::quantiles(),
        1 => {
            let mut cuts = [[0i64; 4]; 3];
            for c in cuts.iter_mut().flatten() {
                *c = d.i64("an RFM cut point")?;
            }
            let [recency, frequency, monetary] = cuts;
            let money: Result<Vec<Money>> = monetary.iter().map(|&m| Money::from_minor(m)).collect();
            let model = money.and_then(|m| RfmModel::thresholds(recency, frequency, [m[0], m[1], m[2], m[3]]));
            model.map_err(|e| corrupt_at(d, at, format!("RFM thresholds: {e}")))?
        }
        n => return Err(corrupt_at(d, at, format!("RFM scoring {n}, not 0 (quantiles) or 1 (thresholds)"))),
    };
    let at = d.offset();
    let mut grid: [[&str; 5]; 5] = [[""; 5]; 5];
    for name in grid.iter_mut().flatten() {
        *name = d.str("an RFM segment name")?;
    }
    let grid = RfmGrid::from_grid(grid).map_err(|e| corrupt_at(d, at, format!("RFM segments: {e}")))?;
    Ok(model.with_segments(grid))
}

impl Op<'_> {
    /// The op's code (its first byte) and name, for the format and for error messages.
    fn code(&self) -> (u8, &'static str) {
        match self {
            Op::Customer { .. } => (1, "customer"),
            Op::CustomerId(_) => (2, "customer_id"),
            Op::CustomerIdRange(_) => (3, "customer_id_range"),
            Op::RemoveCustomer(_) => (4, "remove_customer"),
            Op::RemoveCustomers(_) => (5, "remove_customers"),
            Op::MergeCustomers { .. } => (6, "merge_customers"),
            Op::DefineTag { .. } => (7, "define_tag"),
            Op::SetTagKind { .. } => (8, "set_tag_kind"),
            Op::EnsureTag(_) => (9, "ensure_tag"),
            Op::DefineGroup { .. } => (10, "define_exclusive_group_with_kind"),
            Op::DeleteTag(_) => (11, "delete_tag"),
            Op::RenameTag { .. } => (12, "rename_tag"),
            Op::MergeTags { .. } => (13, "merge_tags"),
            Op::AliasTag { .. } => (14, "alias_tag"),
            Op::UnaliasTag(_) => (15, "unalias_tag"),
            Op::Tag { .. } => (16, "tag"),
            Op::Untag { .. } => (17, "untag"),
            Op::TagAll { .. } => (18, "tag_all"),
            Op::UntagAll { .. } => (19, "untag_all"),
            Op::TagPairs(_) => (20, "tag_pairs"),
            Op::TagIdPairs { .. } => (21, "tag_id_pairs"),
            Op::TagUntil { .. } => (22, "tag_until"),
            Op::TagAllUntil { .. } => (23, "tag_all_until"),
            Op::Expire(_) => (24, "expire"),
            Op::DefineAttr(_) => (25, "define_attr"),
            Op::SetAttr { .. } => (26, "set_attr"),
            Op::SetAttrs { .. } => (27, "set_attrs"),
            Op::UnsetAttr { .. } => (28, "unset_attr"),
            Op::TrackChanges(_) => (29, "track_changes"),
            Op::DrainChanges => (30, "changes"),
            Op::RecordPurchase(_) => (31, "record_purchase"),
            Op::RecordPurchases(_) => (32, "record_purchases"),
            Op::SetRfmModel(_) => (33, "set_rfm_model"),
            Op::SetLifecycle(_) => (34, "set_lifecycle"),
            Op::Refresh(_) => (35, "refresh"),
            Op::ApplyPlan { .. } => (36, "apply_plan"),
            Op::DefineRuleTag { .. } => (37, "define_rule_tag"),
            Op::RefreshRules => (38, "refresh_rules"),
            Op::Customers { .. } => (39, "customers (a bulk load's new keys)"),
            Op::ReplaceTag { .. } => (40, "set_tag_from_portable_bytes"),
        }
    }

    /// The record's payload: the code, then the arguments (see `docs/format.md`).
    pub(crate) fn encode(&self, e: &mut Enc) {
        e.u8(self.code().0);
        match self {
            Op::Customer { key, id } => {
                e.str(key);
                e.u32(id.0);
            }
            Op::CustomerId(id) | Op::RemoveCustomer(id) => e.u32(id.0),
            Op::Customers { first, keys } => {
                e.u32(first.0);
                e.len(keys.len());
                keys.iter().for_each(|k| e.str(k));
            }
            Op::CustomerIdRange(r) => {
                e.u32(r.start);
                e.u32(r.end);
            }
            Op::RemoveCustomers(a) => e.bitmap(a),
            Op::MergeCustomers { into, from } => {
                e.u32(into.0);
                e.u32(from.0);
            }
            Op::DefineTag { name, kind } | Op::SetTagKind { name, kind } | Op::DefineGroup { group: name, kind } => {
                e.str(name);
                e.u8(kind_code(*kind));
            }
            Op::EnsureTag(name) | Op::DeleteTag(name) | Op::UnaliasTag(name) | Op::DefineAttr(name) => e.str(name),
            Op::RenameTag { old: a, new: b }
            | Op::MergeTags { from: a, into: b }
            | Op::AliasTag { alias: a, target: b } => {
                e.str(a);
                e.str(b);
            }
            Op::Tag { id, name } | Op::Untag { id, name } | Op::UnsetAttr { id, name } => {
                e.u32(id.0);
                e.str(name);
            }
            Op::TagAll { audience, name } | Op::UntagAll { audience, name } | Op::ReplaceTag { audience, name } => {
                e.bitmap(audience);
                e.str(name);
            }
            Op::TagPairs(named) => named.put(e),
            Op::TagIdPairs { customers, tags } => {
                e.u32s(customers);
                e.u32s(tags);
            }
            Op::TagUntil { id, name, until } => {
                e.u32(id.0);
                e.str(name);
                e.i32(until.days_since_epoch());
            }
            Op::TagAllUntil { audience, name, until } => {
                e.bitmap(audience);
                e.str(name);
                e.i32(until.days_since_epoch());
            }
            Op::Expire(day) | Op::Refresh(day) => e.i32(day.days_since_epoch()),
            Op::SetAttr { id, name, value } => {
                e.u32(id.0);
                e.str(name);
                e.i64(*value);
            }
            Op::SetAttrs { named, values } => {
                named.put(e);
                e.i64s(values);
            }
            Op::TrackChanges(on) => e.u8(u8::from(*on)),
            Op::DrainChanges | Op::RefreshRules => {}
            Op::RecordPurchase(p) => {
                e.u32(p.customer.0);
                e.i32(p.day.days_since_epoch());
                e.i64(p.amount.minor());
            }
            Op::RecordPurchases(ps) => {
                e.u32s(&ps.iter().map(|p| p.customer.0).collect::<Vec<_>>());
                e.i32s(&ps.iter().map(|p| p.day.days_since_epoch()).collect::<Vec<_>>());
                e.i64s(&ps.iter().map(|p| p.amount.minor()).collect::<Vec<_>>());
            }
            Op::SetRfmModel(model) => put_rfm(e, model),
            Op::SetLifecycle(l) => {
                e.u32(l.new_days());
                e.u32(l.active_days());
                e.u32(l.churn_days());
            }
            Op::ApplyPlan { group, plan } => {
                e.str(group);
                e.json(plan.as_ref());
            }
            Op::DefineRuleTag { name, query } => {
                e.str(name);
                e.str(&query.to_string());
            }
        }
    }
}

impl<'a> Op<'a> {
    /// Reads a record's payload back; every value is checked (a code, a kind, a day, an
    /// amount, a plan, a query), and the payload must be read to its end.
    pub(crate) fn decode(d: &mut Dec<'a>) -> Result<Op<'a>> {
        let at = d.offset();
        let s = |d: &mut Dec<'a>| d.str("name");
        let op = match d.u8("operation")? {
            1 => Op::Customer { key: d.str("key")?, id: get_customer(d)? },
            2 => Op::CustomerId(get_customer(d)?),
            39 => {
                let first = get_customer(d)?;
                let n = d.len(4, "key count")?;
                Op::Customers { first, keys: (0..n).map(|_| d.str("key")).collect::<Result<Vec<_>>>()? }
            }
            3 => Op::CustomerIdRange(d.u32("range start")?..d.u32("range end")?),
            4 => Op::RemoveCustomer(get_customer(d)?),
            5 => Op::RemoveCustomers(Cow::Owned(d.bitmap("audience")?)),
            6 => Op::MergeCustomers { into: get_customer(d)?, from: get_customer(d)? },
            7 => Op::DefineTag { name: s(d)?, kind: get_kind(d)? },
            8 => Op::SetTagKind { name: s(d)?, kind: get_kind(d)? },
            9 => Op::EnsureTag(s(d)?),
            10 => Op::DefineGroup { group: s(d)?, kind: get_kind(d)? },
            11 => Op::DeleteTag(s(d)?),
            12 => Op::RenameTag { old: s(d)?, new: s(d)? },
            13 => Op::MergeTags { from: s(d)?, into: s(d)? },
            14 => Op::AliasTag { alias: s(d)?, target: s(d)? },
            15 => Op::UnaliasTag(s(d)?),
            16 => Op::Tag { id: get_customer(d)?, name: s(d)? },
            17 => Op::Untag { id: get_customer(d)?, name: s(d)? },
            18 => Op::TagAll { audience: Cow::Owned(d.bitmap("audience")?), name: s(d)? },
            19 => Op::UntagAll { audience: Cow::Owned(d.bitmap("audience")?), name: s(d)? },
            40 => Op::ReplaceTag { audience: Cow::Owned(d.bitmap("audience")?), name: s(d)? },
            20 => Op::TagPairs(Named::get(d)?),
            21 => {
                let customers = d.u32s("customers")?;
                let at = d.offset();
                let tags = d.u32s("tags")?;
                if tags.len() != customers.len() {
                    return Err(corrupt_at(d, at, format!("{} tags for {} customers", tags.len(), customers.len())));
                }
                Op::TagIdPairs { customers, tags }
            }
            22 => Op::TagUntil { id: get_customer(d)?, name: s(d)?, until: get_day(d)? },
            23 => Op::TagAllUntil { audience: Cow::Owned(d.bitmap("audience")?), name: s(d)?, until: get_day(d)? },
            24 => Op::Expire(get_day(d)?),
            25 => Op::DefineAttr(s(d)?),
            26 => Op::SetAttr { id: get_customer(d)?, name: s(d)?, value: d.i64("value")? },
            27 => {
                let named = Named::get(d)?;
                let at = d.offset();
                let values = d.i64s("values")?;
                if values.len() != named.customers.len() {
                    return Err(corrupt_at(
                        d,
                        at,
                        format!("{} values for {} customers", values.len(), named.customers.len()),
                    ));
                }
                Op::SetAttrs { named, values }
            }
            28 => Op::UnsetAttr { id: get_customer(d)?, name: s(d)? },
            29 => {
                let at = d.offset();
                match d.u8("on")? {
                    0 => Op::TrackChanges(false),
                    1 => Op::TrackChanges(true),
                    n => return Err(corrupt_at(d, at, format!("track_changes {n}, not 0 or 1"))),
                }
            }
            30 => Op::DrainChanges,
            31 => Op::RecordPurchase(Purchase { customer: get_customer(d)?, day: get_day(d)?, amount: get_money(d)? }),
            32 => {
                let customers = d.u32s("customers")?;
                let at = d.offset();
                let days = d.i32s("days")?;
                let at_amounts = d.offset();
                let amounts = d.i64s("amounts")?;
                if days.len() != customers.len() || amounts.len() != customers.len() {
                    let what =
                        format!("{} days and {} amounts for {} customers", days.len(), amounts.len(), customers.len());
                    return Err(corrupt_at(d, at, what));
                }
                let mut ps = Vec::with_capacity(customers.len());
                for ((&c, &day), &amount) in customers.iter().zip(&days).zip(&amounts) {
                    let day = Day::from_days_since_epoch(day)
                        .ok_or_else(|| corrupt_at(d, at, format!("day {day} is out of range")))?;
                    let amount =
                        Money::from_minor(amount).map_err(|e| corrupt_at(d, at_amounts, format!("amount: {e}")))?;
                    ps.push(Purchase { customer: CustomerId(c), day, amount });
                }
                Op::RecordPurchases(Cow::Owned(ps))
            }
            33 => Op::SetRfmModel(Cow::Owned(get_rfm(d)?)),
            34 => {
                let at = d.offset();
                let (new, active, churn) = (d.u32("new window")?, d.u32("active window")?, d.u32("churn window")?);
                let l = Lifecycle::new(new, active, churn).map_err(|e| corrupt_at(d, at, format!("lifecycle: {e}")))?;
                Op::SetLifecycle(l)
            }
            35 => Op::Refresh(get_day(d)?),
            36 => Op::ApplyPlan { group: s(d)?, plan: Cow::Owned(d.json("segment plan")?) },
            37 => {
                let name = s(d)?;
                let at = d.offset();
                let text = d.str("query")?;
                let query = Query::parse(text).map_err(|e| corrupt_at(d, at, format!("rule query: {e}")))?;
                Op::DefineRuleTag { name, query: Cow::Owned(query) }
            }
            38 => Op::RefreshRules,
            n => return Err(corrupt_at(d, at, format!("unknown journal operation {n}"))),
        };
        Ok(op)
    }
}

impl Engine {
    /// Makes a mutating call through the journal: refused with the journal's error when it
    /// is broken; made; and, when it succeeded and `op` gives a record, recorded. Without a
    /// journal, only the call.
    pub(crate) fn logged<'a, T>(
        &mut self,
        apply: impl FnOnce(&mut Engine) -> Result<T>,
        op: impl FnOnce(&T) -> Option<Op<'a>>,
    ) -> Result<T> {
        match &self.journal.0 {
            None => return apply(self),
            Some(j) => j.check()?,
        }
        let out = apply(self)?;
        if let Some(op) = op(&out) {
            self.append(&op)?;
        }
        Ok(out)
    }

    /// [`Engine::logged`] for a call that cannot fail and returns no `Result`: it is made
    /// even on a broken journal, and a failure to record it breaks the journal (the next
    /// fallible write, [`Engine::flush`] and [`Engine::checkpoint`] report it).
    pub(crate) fn logged_infallible<'a, T>(
        &mut self,
        apply: impl FnOnce(&mut Engine) -> T,
        op: impl FnOnce(&T) -> Option<Op<'a>>,
    ) -> T {
        let out = apply(self);
        if self.journal.0.as_ref().is_some_and(|j| j.check().is_ok())
            && let Some(op) = op(&out)
        {
            let _ = self.append(&op); // the journal keeps the error
        }
        out
    }

    fn append(&mut self, op: &Op<'_>) -> Result<()> {
        let j = self.journal.0.as_mut().expect("a journal");
        let mut e = Enc { buf: std::mem::take(j.start()) };
        op.encode(&mut e);
        j.buf = e.buf;
        j.append()
    }

    /// Makes the call `op` records again (on an engine without a journal). An error, or a
    /// result other than the one recorded, is an [`Error::Corrupt`] at the record: the
    /// journal does not follow this state.
    pub(crate) fn replay(&mut self, op: Op<'_>, path: &std::path::Path, at: u64) -> Result<()> {
        let name = op.code().1;
        let fail = |what: String| crate::persist::codec::corrupt(path, at, format!("replaying {name}: {what}"));
        let r = match op {
            Op::Customer { key, id } => match self.customer(key) {
                Ok(got) if got != id => {
                    return Err(fail(format!("customer {key:?} got id {got}, the journal says {id}")));
                }
                r => r.map(drop),
            },
            Op::CustomerId(id) => self.customer_id(id).map(drop),
            Op::Customers { first, keys } => {
                let dir = &self.customers;
                let hashed: Vec<(&str, u64)> = keys.iter().map(|k| (*k, dir.hash_key(k))).collect();
                if let Some((key, _)) = hashed.iter().find(|(k, h)| dir.lookup(k, *h).is_some()) {
                    return Err(fail(format!("customer {key:?} is not new")));
                }
                if let Some(problem) = keys.iter().find_map(|k| crate::customers::key_problem(k)) {
                    return Err(fail(format!("a key: {problem}")));
                }
                let mut staged = dir.stage();
                let ids = staged.resolve(&hashed, 1).map_err(|e| fail(e.to_string()))?;
                let want = (0..keys.len() as u64).map(|i| u64::from(first.0) + i);
                if let Some((i, (got, want))) =
                    ids.iter().zip(want).enumerate().find(|(_, (g, w))| u64::from(g.0) != *w)
                {
                    return Err(fail(format!("customer {:?} got id {got}, the journal says {want}", keys[i])));
                }
                self.commit_customers(&staged, 1)
            }
            Op::CustomerIdRange(r) => self.customer_id_range(r).map(drop),
            Op::RemoveCustomer(id) => self.remove_customer(id),
            Op::RemoveCustomers(a) => self.remove_customers(&a.into_owned().into()).map(drop),
            Op::MergeCustomers { into, from } => self.merge_customers(into, from).map(drop),
            Op::DefineTag { name, kind } => self.define_tag(name, kind).map(drop),
            Op::SetTagKind { name, kind } => self.set_tag_kind(name, kind),
            Op::EnsureTag(name) => self.ensure_tag(name).map(drop),
            Op::DefineGroup { group, kind } => self.define_exclusive_group_with_kind(group, kind),
            Op::DeleteTag(name) => self.delete_tag(name).map(drop),
            Op::RenameTag { old, new } => self.rename_tag(old, new),
            Op::MergeTags { from, into } => self.merge_tags(from, into).map(drop),
            Op::AliasTag { alias, target } => self.alias_tag(alias, target).map(drop),
            Op::UnaliasTag(alias) => self.unalias_tag(alias).map(drop),
            Op::Tag { id, name } => self.tag(id, name).map(drop),
            Op::Untag { id, name } => self.untag(id, name).map(drop),
            Op::TagAll { audience, name } => self.tag_all(&audience.into_owned().into(), name).map(drop),
            Op::UntagAll { audience, name } => self.untag_all(&audience.into_owned().into(), name).map(drop),
            Op::ReplaceTag { audience, name } => self.replace_tag(&audience, name).map(drop),
            Op::TagPairs(named) => self.tag_pairs(named.items()).map(drop),
            Op::TagIdPairs { customers, tags } => {
                self.tag_id_pairs(customers.iter().zip(&tags).map(|(&c, &t)| (CustomerId(c), TagId(t)))).map(drop)
            }
            Op::TagUntil { id, name, until } => self.tag_until(id, name, until).map(drop),
            Op::TagAllUntil { audience, name, until } => {
                self.tag_all_until(&audience.into_owned().into(), name, until).map(drop)
            }
            Op::Expire(day) => {
                self.expire(day);
                Ok(())
            }
            Op::DefineAttr(name) => self.define_attr(name),
            Op::SetAttr { id, name, value } => self.set_attr(id, name, value).map(drop),
            Op::SetAttrs { named, values } => {
                self.set_attrs(named.items().zip(values).map(|((c, n), v)| (c, n, v))).map(drop)
            }
            Op::UnsetAttr { id, name } => self.unset_attr(id, name).map(drop),
            Op::TrackChanges(on) => {
                self.track_changes(on);
                Ok(())
            }
            Op::DrainChanges => {
                self.changes();
                Ok(())
            }
            Op::RecordPurchase(p) => self.record_purchase(p.customer, p.day, p.amount),
            Op::RecordPurchases(ps) => self.record_purchases(ps.iter().copied()).map(drop),
            Op::SetRfmModel(model) => {
                self.set_rfm_model(model.into_owned());
                Ok(())
            }
            Op::SetLifecycle(l) => {
                self.set_lifecycle(l);
                Ok(())
            }
            Op::Refresh(day) => self.refresh(day).map(drop),
            Op::ApplyPlan { group, plan } => self.apply_plan(group, &plan).map(drop),
            Op::DefineRuleTag { name, query } => self.define_rule_tag(name, query.into_owned()).map(drop),
            Op::RefreshRules => self.refresh_rules().map(drop),
        };
        r.map_err(|e| fail(e.to_string()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn round_trip(op: Op<'_>) {
        let mut e = Enc::default();
        op.encode(&mut e);
        let path = std::path::Path::new("x.journal");
        let mut d = Dec::new(&e.buf, 50, path);
        let back = Op::decode(&mut d).unwrap();
        d.finish("record").unwrap();
        assert_eq!(back, op);
        // Every truncation is an error inside the payload, never a panic.
        for cut in 0..e.buf.len() {
            let mut d = Dec::new(&e.buf[..cut], 50, path);
            let r = Op::decode(&mut d).and_then(|_| d.finish("record"));
            assert!(
                matches!(r, Err(Error::Corrupt { offset, .. }) if (50..=50 + cut as u64).contains(&offset)),
                "{op:?} cut at {cut}"
            );
        }
    }

    #[test]
    fn every_op_round_trips_and_every_truncation_is_corrupt() {
        let day = Day::from_ymd(2024, 2, 29).unwrap();
        let bits: RoaringBitmap = [1u32, 5, 70_000].into_iter().collect();
        let plan = SegmentPlan::new([("big", "vip AND 高消费")], "rest").unwrap();
        let rfm = RfmModel::thresholds([1, 2, 3, 4], [1, 2, 3, 4], [Money::from_minor(5).unwrap(); 4]).unwrap();
        let p = Purchase { customer: CustomerId(3), day, amount: Money::from_minor(-250).unwrap() };
        let ops = vec![
            Op::Customer { key: "ann@example.com", id: CustomerId(7) },
            Op::CustomerId(CustomerId(u32::MAX)),
            Op::Customers { first: CustomerId(3), keys: vec!["a", "高消费", "c,d"] },
            Op::Customers { first: CustomerId(0), keys: vec![] },
            Op::CustomerIdRange(3..9),
            Op::RemoveCustomer(CustomerId(1)),
            Op::RemoveCustomers(Cow::Borrowed(&bits)),
            Op::MergeCustomers { into: CustomerId(1), from: CustomerId(2) },
            Op::DefineTag { name: "高消费", kind: TagKind::Value },
            Op::SetTagKind { name: "vip", kind: TagKind::Custom },
            Op::EnsureTag("a/b"),
            Op::DefineGroup { group: "tier", kind: TagKind::Attribute },
            Op::DeleteTag("x"),
            Op::RenameTag { old: "a", new: "b" },
            Op::MergeTags { from: "a", into: "b" },
            Op::AliasTag { alias: "男", target: "gender:male" },
            Op::UnaliasTag("男"),
            Op::Tag { id: CustomerId(4), name: "vip" },
            Op::Untag { id: CustomerId(4), name: "vip" },
            Op::TagAll { audience: Cow::Borrowed(&bits), name: "vip" },
            Op::UntagAll { audience: Cow::Borrowed(&bits), name: "vip" },
            Op::ReplaceTag { audience: Cow::Borrowed(&bits), name: "vip" },
            Op::TagPairs(Named::new([(CustomerId(1), "a"), (CustomerId(2), "b"), (CustomerId(3), "a")].into_iter())),
            Op::TagIdPairs { customers: vec![1, 2], tags: vec![0, 0] },
            Op::TagUntil { id: CustomerId(1), name: "trial", until: day },
            Op::TagAllUntil { audience: Cow::Borrowed(&bits), name: "trial", until: day },
            Op::Expire(day),
            Op::DefineAttr("age"),
            Op::SetAttr { id: CustomerId(1), name: "age", value: i64::MIN },
            Op::SetAttrs { named: Named::new([(CustomerId(1), "age")].into_iter()), values: vec![-3] },
            Op::UnsetAttr { id: CustomerId(1), name: "age" },
            Op::TrackChanges(true),
            Op::DrainChanges,
            Op::RecordPurchase(p),
            Op::RecordPurchases(Cow::Owned(vec![p, p])),
            Op::SetRfmModel(Cow::Borrowed(&rfm)),
            Op::SetRfmModel(Cow::Owned(RfmModel::default())),
            Op::SetLifecycle(Lifecycle::new(10, 20, 30).unwrap()),
            Op::Refresh(day),
            Op::ApplyPlan { group: "campaign", plan: Cow::Borrowed(&plan) },
            Op::DefineRuleTag { name: "rule", query: Cow::Owned(Query::parse("vip AND age >= 30").unwrap()) },
            Op::RefreshRules,
        ];
        for op in ops {
            round_trip(op);
        }
    }

    #[test]
    fn bad_values_are_corrupt() {
        let path = std::path::Path::new("x.journal");
        let bad = |bytes: &[u8]| {
            let mut d = Dec::new(bytes, 0, path);
            matches!(Op::decode(&mut d), Err(Error::Corrupt { .. }))
        };
        assert!(bad(&[0]));
        assert!(bad(&[99]));
        assert!(bad(&[7, 1, 0, 0, 0, b'a', 6])); // kind 6
        assert!(bad(&[29, 2]));
        assert!(bad(&[24, 0xff, 0xff, 0xff, 0x7f])); // a day past chrono's range
        // A name index past the names; a count larger than the payload.
        let mut e = Enc::default();
        e.u8(20);
        e.len(1);
        e.str("a");
        e.u32s(&[1]);
        e.u32s(&[1]);
        assert!(bad(&e.buf));
        let mut e = Enc::default();
        e.u8(32);
        e.u64(u64::MAX / 2);
        assert!(bad(&e.buf));
    }
}
