//! Prepared queries: names resolved once, for the queries so cheap that resolving their
//! names is a good part of their cost.
//!
//! Counting one tag at 10M customers is a walk over its container table (about 100 ns);
//! parsing is done once already when a [`Query`] is kept, but every call still normalizes
//! each tag name and looks it up (hashing, aliases), about 50 ns a name. A [`Prepared`]
//! keeps the plan with the names resolved to tag ids ([`Shape`]) and the stamp of the tag
//! pool it was resolved against ([`Pool::stamp`](crate::tags::Pool::stamp)). While the pool
//! has that stamp (no tag created, deleted, renamed, moved, grouped, given a kind or aliased
//! since; tag *members* may change freely) a call rebuilds the plan from the ids directly.
//! Once the pool has changed (or was merely taken to be changed: a call that turns out to
//! change nothing renews the stamp too), every call plans the query from its text, exactly
//! as an unprepared one: same result, same errors (a tag renamed away is an
//! [`Error::UnknownTag`](crate::Error::UnknownTag) again). Attribute comparisons are looked
//! up by name on every call (attributes come and go without the tag pool changing).

use std::fmt;

use super::ast::Query;
use super::plan::{Node, Planner};
use crate::attrs::CmpOp;
use crate::error::Result;
use crate::id::TagId;

/// A planned query with its tag names resolved, borrowing nothing.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum Shape {
    Tag(TagId),
    Range { attr: Box<str>, op: CmpOp, value: i64 },
    All,
    Empty,
    And(Vec<Shape>),
    Or(Vec<Shape>),
    AndNot(Box<Shape>, Vec<Shape>),
}

impl Shape {
    /// The shape of a planned node.
    pub(super) fn of(n: &Node<'_>) -> Shape {
        let all = |xs: &[Node<'_>]| xs.iter().map(Shape::of).collect();
        match n {
            Node::Leaf { tag, .. } => Shape::Tag(*tag),
            Node::Range { name, op, value, .. } => Shape::Range { attr: (*name).into(), op: *op, value: *value },
            Node::All => Shape::All,
            Node::Empty => Shape::Empty,
            Node::And(xs) => Shape::And(all(xs)),
            Node::Or(xs) => Shape::Or(all(xs)),
            Node::AndNot(base, negs) => Shape::AndNot(Box::new(Shape::of(base)), all(negs)),
        }
    }
}

/// A query prepared against an engine's tag pool ([`Engine::prepare`](crate::Engine::prepare)):
/// its names resolved once. [`Engine::count`] and [`Engine::select`] take it and skip name
/// resolution while the engine's tag pool is as it was when the query was prepared (tags
/// may gain and lose customers; none created, deleted, renamed, moved, grouped, given a
/// kind or aliased). After such a change (a new tag written by `tag` counts) each call
/// resolves the names again, exactly as the query's text would, with the text's results
/// and errors, until the query is prepared again: `let p = engine.prepare(&p)?` (a
/// `Prepared` is a query too). Used on another engine it is resolved there each time (a
/// [`Reader`] of the engine shares its pool, and so its preparation). Other methods that
/// take a query ([`Engine::explain`], [`Engine::to_clickhouse_sql`]) read its text.
/// It borrows nothing: keep it as long as you like; a clone copies the query and its plan.
///
/// ```
/// use audience::Engine;
/// let mut engine = Engine::new();
/// let (a, b) = (engine.customer("a")?, engine.customer("b")?);
/// engine.tag(a, "vip")?;
/// engine.tag(b, "vip")?;
/// engine.tag(b, "churned")?;
/// let loyal = engine.prepare("vip AND NOT churned")?; // resolved once
/// assert_eq!(engine.count(&loyal)?, 1);
/// engine.tag(a, "churned")?; // members change: still prepared
/// assert_eq!(engine.count(&loyal)?, 0);
/// engine.rename_tag("churned", "lapsed")?; // the pool changes: resolved again, as text
/// assert!(engine.count(&loyal).is_err()); // `churned` is no tag any more
/// # Ok::<(), audience::Error>(())
/// ```
///
/// [`Engine::count`]: crate::Engine::count
/// [`Engine::select`]: crate::Engine::select
/// [`Engine::explain`]: crate::Engine::explain
/// [`Engine::to_clickhouse_sql`]: crate::Engine::to_clickhouse_sql
/// [`Reader`]: crate::Reader
#[derive(Clone, Debug)]
pub struct Prepared {
    query: Query,
    shape: Shape,
    complemented: bool,
    stamp: u64,
}

impl Prepared {
    /// The query prepared.
    pub fn query(&self) -> &Query {
        &self.query
    }
}

impl fmt::Display for Prepared {
    /// The query, as [`Query`] prints it.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.query.fmt(f)
    }
}

impl<'a> Planner<'a> {
    /// `q` prepared against this planner's pool.
    pub(crate) fn prepare(&self, q: Query) -> Result<Prepared> {
        let (n, complemented) = self.plan(&q)?;
        let shape = Shape::of(&n);
        Ok(Prepared { query: q, shape, complemented, stamp: self.pool.stamp() })
    }

    /// How many customers match `p` ([`Planner::count`], the names resolved already).
    pub(crate) fn count_prepared(&self, p: &Prepared) -> Result<u64> {
        self.count_planned(self.plan_prepared(p)?)
    }

    /// The customers matching `p` ([`Planner::select`], the names resolved already).
    pub(crate) fn select_prepared(&self, p: &Prepared) -> Result<roaring::RoaringBitmap> {
        self.select_planned(self.plan_prepared(p)?)
    }

    /// The plan of `p`: from its resolved ids while the pool has the stamp it was prepared
    /// against (and every attribute it names still exists), from its text otherwise.
    pub(super) fn plan_prepared(&self, p: &Prepared) -> Result<(Node<'a>, bool)> {
        if p.stamp == self.pool.stamp()
            && let Some(n) = self.node(&p.shape)
        {
            return Ok((n, p.complemented));
        }
        self.plan(&p.query)
    }

    /// The node of a shape, `None` when an attribute it names is gone (or a tag id no longer
    /// names a tag, which a matching stamp rules out).
    fn node(&self, s: &Shape) -> Option<Node<'a>> {
        let all = |xs: &[Shape]| xs.iter().map(|x| self.node(x)).collect::<Option<Vec<_>>>();
        Some(match s {
            Shape::Tag(id) => {
                let name = self.pool.name(*id);
                if name.is_empty() {
                    return None;
                }
                Node::Leaf { tag: *id, name, bits: self.store.members(self.pool, *id) }
            }
            Shape::Range { attr, op, value } => {
                let (name, attr) = self.attrs.get_full(attr)?;
                Node::Range { name, attr, op: *op, value: *value }
            }
            Shape::All => Node::All,
            Shape::Empty => Node::Empty,
            Shape::And(xs) => Node::And(all(xs)?),
            Shape::Or(xs) => Node::Or(all(xs)?),
            Shape::AndNot(base, negs) => Node::AndNot(Box::new(self.node(base)?), all(negs)?),
        })
    }
}
