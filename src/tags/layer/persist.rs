//! The tags' snapshot sections (see `persist/` and `docs/format.md`), in this order:
//!
//! - `POOL`: the pool ([`Pool::encode`](crate::tags::Pool::encode)): slots, exclusive
//!   groups, aliases.
//! - `TAGB`, chunked: each live tag with customers: its id (`u32`) and bitmap.
//! - `TAGX`: the owners registry (JSON: the groups plans own, the rule tags), whether
//!   touches are noted (`u8`) and the customers noted (bitmap), the change feed: on
//!   (`u8`) and its last sequence number (`u64`).
//! - `TEXP`, chunked: the expiry buckets: tag (`u32`), day (`i32`, days since 1970-01-01),
//!   customers (bitmap).
//! - `TEVT`, chunked: the change feed's undrained events (see [`put_event`]).
//!
//! Reading checks what the layer relies on: every bitmap holds live customers only and
//! belongs to a live tag, an exclusive group's values are disjoint, the owners name live
//! tags and declared groups, expiry buckets are disjoint subsets of their tag's bitmap, the
//! feed's events are numbered in order.

use roaring::RoaringBitmap;

use super::{Tags, expiry, owners, writes};
use crate::audience::Audience;
use crate::customers::Directory;
use crate::error::Result;
use crate::feed::{Change, ChangeEvent, Feed};
use crate::lifecycle::Stage;
use crate::persist::codec::corrupt_at;
use crate::persist::{Dec, Enc, Reader, Writer};
use crate::tags::{Pool, Store};

impl Tags {
    /// Writes the tags' sections.
    pub(crate) fn write_snapshot(&self, w: &mut Writer) -> Result<()> {
        let mut e = Enc::default();
        self.pool.encode(&mut e);
        w.section(*b"POOL", &e.buf)?;
        let bitmaps = self.store.bitmaps();
        let live =
            self.pool.iter().map(|(id, _)| id).filter(|id| bitmaps.get(id.index()).is_some_and(|b| !b.is_empty()));
        w.chunked(*b"TAGB", live, |e, id| {
            e.u32(id.0);
            e.bitmap(&bitmaps[id.index()]);
        })?;
        let mut e = Enc::default();
        e.json(&self.owners);
        e.u8(u8::from(self.notes_touches()));
        e.bitmap(self.touched());
        e.u8(u8::from(self.feed.is_on()));
        e.u64(self.feed.last_seq());
        w.section(*b"TAGX", &e.buf)?;
        w.chunked(*b"TEXP", self.expiry.buckets(), |e, (tag, day, bits)| {
            e.u32(tag.0);
            e.i32(day);
            e.bitmap(bits);
        })?;
        w.chunked(*b"TEVT", self.feed.pending(), put_event)
    }

    /// Reads what [`Tags::write_snapshot`] wrote; `customers` (already read) to check that
    /// every bitmap holds live customers only.
    pub(crate) fn read_snapshot(r: &mut Reader, customers: &Directory) -> Result<Tags> {
        let path = r.path().to_path_buf();
        let s = r.section(*b"POOL")?;
        let mut d = s.dec(&path);
        let pool = Pool::decode(&mut d)?;
        let groups_at = d.offset();
        d.finish("POOL")?;
        let mut bitmaps: Vec<RoaringBitmap> = Vec::new();
        bitmaps.resize_with(pool.slot_count(), RoaringBitmap::new);
        let live = customers.live();
        r.chunked(*b"TAGB", |d| {
            let at = d.offset();
            let id = crate::id::TagId(d.u32("tag id")?);
            let bits = d.bitmap("tag bitmap")?;
            let fine = pool.def(id).is_some()
                && bitmaps[id.index()].is_empty()
                && !bits.is_empty()
                && crate::blocks::is_within(&bits, live);
            if !fine {
                return Err(corrupt_at(
                    d,
                    Some(at),
                    format!("tag {}: not a live tag, given twice, empty, or holding customers that are not live", id.0),
                ));
            }
            bitmaps[id.index()] = bits;
            Ok(())
        })?;
        for (name, g) in pool.groups() {
            let total: u64 = g.members.iter().map(|t| bitmaps[t.index()].len()).sum();
            let union: RoaringBitmap =
                g.members.iter().map(|t| &bitmaps[t.index()]).fold(RoaringBitmap::new(), |a, b| a | b);
            if total != union.len() {
                let what = format!("exclusive group {name:?}: a customer with two of its values");
                return Err(crate::persist::codec::corrupt(&path, groups_at, what));
            }
        }
        let store = Store::restore(&pool, bitmaps);

        let s = r.section(*b"TAGX")?;
        let mut d = s.dec(&path);
        let owners: owners::Owners = d.json("owners")?;
        if let Some(what) = owners.check(&pool) {
            return Err(d.corrupt(what));
        }
        let touched = writes::Touched::restore(flag(&mut d, "touches on")?, d.bitmap("touched customers")?);
        let (feed_on, seq) = (flag(&mut d, "feed on")?, d.u64("feed sequence")?);
        d.finish("TAGX")?;

        let mut expiry = expiry::Expiry::default();
        r.chunked(*b"TEXP", |d| {
            let at = d.offset();
            let (tag, day) = (crate::id::TagId(d.u32("expiring tag")?), d.i32("expiry day")?);
            let bits = d.bitmap("expiring customers")?;
            if pool.def(tag).is_none() || crate::history::Day::from_days_since_epoch(day).is_none() {
                return Err(corrupt_at(
                    d,
                    Some(at),
                    format!("expiry of tag {} on day {day}: no such tag or day", tag.0),
                ));
            }
            expiry.restore_bucket(tag, day, bits, store.get(tag)).map_err(|what| corrupt_at(d, Some(at), what))
        })?;

        let mut log: Vec<Change> = Vec::new();
        r.chunked(*b"TEVT", |d| {
            let at = d.offset();
            let change = get_event(d)?;
            let after = log.last().map_or(0, |c| c.seq);
            if change.seq <= after || change.seq > seq {
                return Err(corrupt_at(
                    d,
                    Some(at),
                    format!("change {} out of order (last {after}, feed at {seq})", change.seq),
                ));
            }
            log.push(change);
            Ok(())
        })?;
        let feed = Feed::restore(feed_on, seq, log);
        Ok(Tags { pool: pool.into(), store, owners, feed, expiry, touched, ..Tags::default() })
    }
}

fn flag(d: &mut Dec<'_>, what: &str) -> Result<bool> {
    match d.u8(what)? {
        0 => Ok(false),
        1 => Ok(true),
        b => Err(d.corrupt(format!("{what}: {b} is not 0 or 1"))),
    }
}

/// One change of the feed: its number (`u64`), then a kind byte and the kind's fields:
/// `0` tag added and `1` tag removed: the tag's name, the customers; `2` segment moved: the
/// group, from (`u8` 0 for none, or 1 and a name), to (the same), the customers; `3` stage
/// changed: from (`u8` 255 for none, or the stage's index in `Stage::ALL`), to, the
/// customers. Names are strings, customers bitmaps.
fn put_event(e: &mut Enc, change: &Change) {
    e.u64(change.seq);
    let opt = |e: &mut Enc, s: &Option<String>| match s {
        None => e.u8(0),
        Some(s) => {
            e.u8(1);
            e.str(s);
        }
    };
    match &change.event {
        ChangeEvent::TagAdded { tag, .. } => {
            e.u8(0);
            e.str(tag);
        }
        ChangeEvent::TagRemoved { tag, .. } => {
            e.u8(1);
            e.str(tag);
        }
        ChangeEvent::SegmentMoved { group, from, to, .. } => {
            e.u8(2);
            e.str(group);
            opt(e, from);
            opt(e, to);
        }
        ChangeEvent::StageChanged { from, to, .. } => {
            e.u8(3);
            e.u8(from.map_or(u8::MAX, |s| s.index() as u8));
            e.u8(to.index() as u8);
        }
    }
    e.bitmap(&RoaringBitmap::from(change.event.audience().clone()));
}

fn get_event(d: &mut Dec<'_>) -> Result<Change> {
    let seq = d.u64("change number")?;
    let opt = |d: &mut Dec<'_>| -> Result<Option<String>> {
        match d.u8("optional name")? {
            0 => Ok(None),
            1 => Ok(Some(d.str("name")?.to_owned())),
            b => Err(d.corrupt(format!("optional name marker {b}"))),
        }
    };
    let stage =
        |d: &mut Dec<'_>, i: u8| Stage::ALL.get(usize::from(i)).copied().ok_or_else(|| d.corrupt(format!("stage {i}")));
    let kind = d.u8("change kind")?;
    let event = match kind {
        0 | 1 => {
            let tag = d.str("tag name")?.to_owned();
            let audience = Audience::from(d.bitmap("customers")?);
            if kind == 0 { ChangeEvent::TagAdded { tag, audience } } else { ChangeEvent::TagRemoved { tag, audience } }
        }
        2 => {
            let group = d.str("group name")?.to_owned();
            let (from, to) = (opt(d)?, opt(d)?);
            ChangeEvent::SegmentMoved { group, from, to, audience: Audience::from(d.bitmap("customers")?) }
        }
        3 => {
            let from = match d.u8("stage before")? {
                u8::MAX => None,
                i => Some(stage(d, i)?),
            };
            let to = d.u8("stage after")?;
            let to = stage(d, to)?;
            ChangeEvent::StageChanged { from, to, audience: Audience::from(d.bitmap("customers")?) }
        }
        k => return Err(d.corrupt(format!("change kind {k}"))),
    };
    Ok(Change { seq, event })
}
