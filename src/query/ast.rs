//! The owned query AST, its spans and the typed builder.

use std::fmt;
use std::sync::Arc;

use crate::attrs::CmpOp;
use crate::span::Span;
use crate::tags::normalize_tag;

/// A span stored in 8 bytes: query text is at most [`MAX_QUERY_LEN`](crate::MAX_QUERY_LEN)
/// bytes long, so its offsets fit `u32`; `start == u32::MAX` is no span.
#[derive(Copy, Clone, PartialEq, Eq)]
struct SmallSpan {
    start: u32,
    end: u32,
}

impl SmallSpan {
    const NONE: SmallSpan = SmallSpan { start: u32::MAX, end: u32::MAX };

    fn new(span: Option<Span>) -> SmallSpan {
        match span.map(|s| (u32::try_from(s.start), u32::try_from(s.end))) {
            Some((Ok(start), Ok(end))) if start != u32::MAX => SmallSpan { start, end },
            _ => SmallSpan::NONE,
        }
    }

    fn get(self) -> Option<Span> {
        (self != SmallSpan::NONE).then(|| Span::new(self.start as usize, self.end as usize))
    }
}

/// A tag term of a query: its name and, when parsed from text, where it stands.
///
/// Two `TagRef`s are equal when their names are; the span does not count.
#[derive(Clone)]
pub struct TagRef {
    name: Box<str>,
    span: SmallSpan,
}

impl TagRef {
    pub(crate) fn new(name: Box<str>, span: Option<Span>) -> TagRef {
        TagRef { name, span: SmallSpan::new(span) }
    }

    /// The tag name (normalized when valid).
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Where the name stands in the query text, for a parsed query.
    pub fn span(&self) -> Option<Span> {
        self.span.get()
    }
}

impl fmt::Debug for TagRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TagRef").field("name", &self.name).field("span", &self.span()).finish()
    }
}

impl PartialEq for TagRef {
    fn eq(&self, other: &Self) -> bool {
        self.name == other.name
    }
}

impl Eq for TagRef {}

/// An attribute predicate of a query: `name op value` (`age >= 30`), matching the customers
/// that have a value for the attribute and whose value satisfies the comparison. A customer
/// without a value matches no comparison (so `NOT age >= 30` includes it, `age != 30` does
/// not).
///
/// Two `Comparison`s are equal when name, operator and value are; the span does not count.
#[derive(Clone)]
pub struct Comparison {
    name: Box<str>,
    value: i64,
    span: SmallSpan,
    op: CmpOp,
}

impl Comparison {
    pub(crate) fn new(name: Box<str>, span: Option<Span>, op: CmpOp, value: i64) -> Comparison {
        Comparison { name, value, span: SmallSpan::new(span), op }
    }

    /// The attribute name (normalized when valid).
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Where the attribute name stands in the query text, for a parsed query.
    pub fn span(&self) -> Option<Span> {
        self.span.get()
    }

    /// The operator.
    pub fn op(&self) -> CmpOp {
        self.op
    }

    /// The literal compared with.
    pub fn value(&self) -> i64 {
        self.value
    }
}

impl fmt::Debug for Comparison {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Comparison")
            .field("name", &self.name)
            .field("span", &self.span())
            .field("op", &self.op)
            .field("value", &self.value)
            .finish()
    }
}

impl PartialEq for Comparison {
    fn eq(&self, other: &Self) -> bool {
        (&self.name, self.op, self.value) == (&other.name, other.op, other.value)
    }
}

impl Eq for Comparison {}

/// A query's syntax tree.
///
/// Canonical form, kept by the parser and the builder alike: `And` and `Or` have at least two
/// operands and never an operand of their own kind (nested groups are flattened), and a group
/// of one is the operand itself. `#[non_exhaustive]`: new kinds of terms may join it.
///
/// `Clone`, `PartialEq` and `Drop` walk the tree with an explicit stack, so a tree of any
/// depth is safe to copy, compare and drop; `Debug` prints the canonical text.
#[non_exhaustive]
pub enum Expr {
    /// Customers carrying the tag or one of its descendants.
    Tag(TagRef),
    /// Customers whose attribute value satisfies a comparison (`age >= 30`). Boxed, so the
    /// tree's nodes stay small.
    Compare(Box<Comparison>),
    /// Every live customer (`*`).
    Everyone,
    /// Live customers not matching the operand.
    Not(Box<Expr>),
    /// Customers matching every operand.
    And(Vec<Expr>),
    /// Customers matching at least one operand.
    Or(Vec<Expr>),
}

impl Expr {
    /// Moves this node's children onto `out`, leaving it childless.
    fn take_children(&mut self, out: &mut Vec<Expr>) {
        match self {
            Expr::Not(x) => out.push(std::mem::replace(&mut **x, Expr::Everyone)),
            Expr::And(xs) | Expr::Or(xs) => out.append(xs),
            Expr::Tag(_) | Expr::Compare(_) | Expr::Everyone => {}
        }
    }

    /// Operator nesting: 0 for a term, one more per `NOT`/`AND`/`OR` level.
    /// Iterative, so any depth is safe to measure.
    pub(crate) fn depth(&self) -> usize {
        let mut max = 0;
        let mut stack = vec![(self, 0usize)];
        while let Some((e, d)) = stack.pop() {
            max = max.max(d);
            match e {
                Expr::Tag(_) | Expr::Compare(_) | Expr::Everyone => {}
                Expr::Not(x) => stack.push((x, d + 1)),
                Expr::And(xs) | Expr::Or(xs) => stack.extend(xs.iter().map(|x| (x, d + 1))),
            }
        }
        max
    }

    /// `AND` of `xs` in canonical form.
    pub(crate) fn and_all(xs: impl IntoIterator<Item = Expr>) -> Expr {
        let mut flat = Vec::new();
        for mut x in xs {
            match &mut x {
                Expr::And(inner) => flat.append(inner),
                _ => flat.push(x),
            }
        }
        match flat.len() {
            0 => Expr::Everyone,
            1 => flat.pop().expect("one operand"),
            _ => Expr::And(flat),
        }
    }

    /// `OR` of `xs` in canonical form.
    pub(crate) fn or_all(xs: impl IntoIterator<Item = Expr>) -> Expr {
        let mut flat = Vec::new();
        for mut x in xs {
            match &mut x {
                Expr::Or(inner) => flat.append(inner),
                _ => flat.push(x),
            }
        }
        match flat.len() {
            0 => Expr::Not(Box::new(Expr::Everyone)),
            1 => flat.pop().expect("one operand"),
            _ => Expr::Or(flat),
        }
    }
}

impl Drop for Expr {
    fn drop(&mut self) {
        let mut stack = Vec::new();
        self.take_children(&mut stack);
        while let Some(mut e) = stack.pop() {
            e.take_children(&mut stack);
        }
    }
}

impl Clone for Expr {
    fn clone(&self) -> Expr {
        self.map_tags(TagRef::clone)
    }
}

impl Expr {
    /// A copy of the tree with each tag term replaced by what `term` makes of it. Iterative
    /// (an explicit stack), so a tree of any depth is safe to map.
    fn map_tags(&self, term: impl Fn(&TagRef) -> TagRef) -> Expr {
        enum Step<'a> {
            Visit(&'a Expr),
            Build(&'a Expr),
        }
        let mut work = vec![Step::Visit(self)];
        let mut done: Vec<Expr> = Vec::new();
        while let Some(step) = work.pop() {
            match step {
                Step::Visit(e) => match e {
                    Expr::Tag(t) => done.push(Expr::Tag(term(t))),
                    Expr::Compare(c) => done.push(Expr::Compare(c.clone())),
                    Expr::Everyone => done.push(Expr::Everyone),
                    Expr::Not(x) => {
                        work.push(Step::Build(e));
                        work.push(Step::Visit(x));
                    }
                    Expr::And(xs) | Expr::Or(xs) => {
                        work.push(Step::Build(e));
                        work.extend(xs.iter().rev().map(Step::Visit));
                    }
                },
                Step::Build(e) => {
                    let built = match e {
                        Expr::Not(_) => Expr::Not(Box::new(done.pop().expect("operand cloned"))),
                        Expr::And(xs) => Expr::And(done.split_off(done.len() - xs.len())),
                        Expr::Or(xs) => Expr::Or(done.split_off(done.len() - xs.len())),
                        Expr::Tag(_) | Expr::Compare(_) | Expr::Everyone => unreachable!("terms are cloned on visit"),
                    };
                    done.push(built);
                }
            }
        }
        done.pop().expect("the root is cloned")
    }
}

impl PartialEq for Expr {
    fn eq(&self, other: &Expr) -> bool {
        let mut stack = vec![(self, other)];
        while let Some((a, b)) = stack.pop() {
            match (a, b) {
                (Expr::Tag(x), Expr::Tag(y)) if x == y => {}
                (Expr::Compare(x), Expr::Compare(y)) if x == y => {}
                (Expr::Everyone, Expr::Everyone) => {}
                (Expr::Not(x), Expr::Not(y)) => stack.push((x, y)),
                (Expr::And(xs), Expr::And(ys)) | (Expr::Or(xs), Expr::Or(ys)) if xs.len() == ys.len() => {
                    stack.extend(xs.iter().zip(ys))
                }
                _ => return false,
            }
        }
        true
    }
}

impl Eq for Expr {}

impl fmt::Debug for Expr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("Expr").field(&format_args!("{self}")).finish()
    }
}

/// A parsed or built query: an owned AST, reusable against any engine.
///
/// Parse once, evaluate many: [`Query::parse`] (or `str::parse`) turns text into a `Query`;
/// [`Engine::select`](crate::Engine::select) and [`Engine::count`](crate::Engine::count)
/// evaluate it. The builder makes the same AST the parser does, and [`Display`](fmt::Display)
/// prints canonical text that parses back to an equal query:
///
/// ```
/// use audience::Query;
/// let built = Query::tag("vip").and(Query::tag("outdoor").or(Query::tag("running"))).and_not(Query::tag("churned"));
/// let parsed: Query = "vip AND (outdoor OR running) AND NOT churned".parse()?;
/// assert_eq!(built, parsed);
/// assert_eq!(built.to_string(), "vip AND (outdoor OR running) AND NOT churned");
/// assert_eq!(Query::parse(&built.to_string())?, built);
/// # Ok::<(), audience::Error>(())
/// ```
///
/// Equality compares the trees, not the text they came from or the spans.
///
/// # Grammar
///
/// ```text
/// query      = or_expr EOF ;
/// or_expr    = and_expr { "OR" and_expr } ;          (* lowest precedence *)
/// and_expr   = not_expr { "AND" not_expr } ;
/// not_expr   = { "NOT" } primary ;                    (* highest precedence *)
/// primary    = comparison | tag | "*" | "(" or_expr ")" ;
/// comparison = name op integer ;                      (* an attribute predicate *)
/// op         = "=" | "!=" | "<" | "<=" | ">" | ">=" ;
/// integer    = [ "-" | "+" ] digit { digit } ;        (* an i64 *)
/// tag        = name ;
/// name       = bare_name | quoted_name ;
/// bare_name   = name_char { name_char } ;            (* not a keyword, not "*" *)
/// name_char   = any character except white space ( ) " = ! < > ;
/// quoted_name = '"' { any character except " and \ | '\"' | '\\' } '"' ;
/// ```
///
/// - Keywords `AND`, `OR`, `NOT` are case-insensitive (`and`, `Or` work too).
/// - `*` is every live customer; `NOT *` is nobody.
/// - A tag name with white space, parentheses, quotes, backslashes, one of `= ! < >`, a
///   keyword's spelling or `*` is written double-quoted: `"High Value" AND "and"`. Names are
///   trimmed, so `" vip "` is `vip`.
/// - A name matches customers carrying that tag **or any descendant** in the `/` hierarchy:
///   `interest/sports` matches `interest/sports/running`.
/// - A name followed by a comparison operator is a numeric **attribute** (a separate namespace
///   from tags): `age >= 30 AND age < 40 AND vip`. Spaces around the operator are optional
///   (`age>=30`, `balance<-5`); the literal is any `i64`. A customer without a value for the
///   attribute matches no comparison on it, so `NOT age >= 30` includes it and `age != 30`
///   does not. Ranges are evaluated on a bit-sliced index (one bitmap per value bit), never by
///   a scan of customers, and inside an `AND` only within the customers the other operands
///   left.
/// - `NOT x` is relative to the live customers: removed customers never match.
/// - Two terms side by side without `AND`/`OR` are an error, not an implicit AND.
///
/// Limits, never a stack overflow, and a bounded cost for any text: text longer than
/// [`MAX_QUERY_LEN`](crate::MAX_QUERY_LEN) bytes, or with more than [`MAX_QUERY_TERMS`](crate::MAX_QUERY_TERMS) terms, is refused with
/// [`Error::QueryTooLarge`](crate::Error::QueryTooLarge) before its tree is built (the length
/// before the text is read, the terms in a first pass of the lexer that keeps nothing); text
/// nested deeper than [`MAX_QUERY_DEPTH`](crate::MAX_QUERY_DEPTH) is an [`Error::Parse`](crate::Error::Parse) at the
/// level that crosses the limit. Parsing allocates at most 20 times the text's length: a
/// tree node of 32 bytes per term (64 while its list doubles), a name, 40 more bytes for a
/// comparison, and the text's copy, against five bytes of text per term at least (`a OR b`;
/// seven for `a>1 OR b>1`, the costliest per byte: 17 times); `tests/hostile.rs` measures
/// it. A built [`Query`] nested deeper, or with more terms, is refused with
/// [`Error::QueryTooLarge`](crate::Error::QueryTooLarge) when evaluated.
///
/// # Evaluation
///
/// A query is planned before it touches a bitmap (see [`Explain`](crate::Explain)): nested `AND`/`OR` are
/// flattened, `NOT` is pushed into the plan so no complement is ever built inside an `AND`
/// (`a AND NOT b` is a difference, `NOT a AND NOT b` is the complement of `a OR b`), `AND`
/// intersects the smallest operand first and stops at the first empty result, an n-way `OR`
/// is one multi-way union, and a count takes its last step with a cardinality-only call
/// (`intersection_len`, `union_len`, `difference_len`).
///
/// A tag expression with three or more operands is then evaluated block by block instead:
/// per 2^16-id block, the whole expression runs over its operands' containers into a dense
/// scratch of 1,024 words, with word kernels dispatched at run time to the best instruction
/// set of the CPU (AVX-512, AVX2, SSE4.2 with `POPCNT`, or the portable baseline), and only
/// the final block is counted or written out. No intermediate bitmap is built. Expressions
/// with one or two operands, with attribute comparisons, or that are a flat `AND` of tags
/// one of which is sparse (under 4,096 ids per block, so intersecting it first touches
/// little) keep the operator-at-a-time plan ([`Explain::per_block`](crate::Explain::per_block) says which one a query
/// gets). Counts of two dense tags (`a AND b`, `a AND NOT b`, `a OR b`, more than 4,096
/// ids per block on average) take one dispatched `AND` + `POPCNT` pass over their
/// containers in a default x86-64 build, where `roaring`'s own kernels have no `POPCNT`; a
/// build with `-C target-cpu=x86-64-v2` or above leaves them to `roaring`.
///
/// Both routes read operands' containers in place: a tag of 512 ids or more per 2^16-id
/// block through a read-only view of its containers that the engine keeps between queries
/// (its arrays of 512 values or more held as bitsets, so they are read as flat words;
/// made by the first query that needs it, updated or dropped when the tag changes; all
/// views together take at most the budget of
/// [`Engine::set_view_budget`](crate::Engine::set_view_budget), by default half the tag
/// bitmaps' serialized size, reported as [`Stats::view_bytes`](crate::Stats::view_bytes)),
/// and the largest other operand as `roaring` streams its image. Only what is left (sparse
/// tags, or wide ones past the views' budget) is copied, one image per query.
#[derive(Clone)]
pub struct Query {
    expr: Expr,
    /// Operator nesting (see [`Expr::depth`]), kept so limits are checked without recursion.
    depth: usize,
    /// The text this query was parsed from, for error messages.
    source: Option<Arc<str>>,
}

impl Query {
    pub(crate) fn from_parts(expr: Expr, depth: usize, source: Option<Arc<str>>) -> Query {
        Query { expr, depth, source }
    }

    /// Wraps an [`Expr`] (the builder and the parser keep it canonical; this does not
    /// re-canonicalize a hand-made tree).
    pub fn from_expr(expr: Expr) -> Query {
        let depth = expr.depth();
        Query { expr, depth, source: None }
    }

    /// Customers carrying tag `name` (or any of its descendants). The name is normalized
    /// (trimmed) here; an invalid name (empty, control characters) is kept as given and
    /// reported as [`Error::InvalidTagName`](crate::Error::InvalidTagName) when the query is
    /// evaluated; such a query's text does not parse back.
    pub fn tag(name: impl AsRef<str>) -> Query {
        let raw = name.as_ref();
        let name = normalize_tag(raw).map_or_else(|_| raw.into(), Box::from);
        Query::from_expr(Expr::Tag(TagRef::new(name, None)))
    }

    /// Customers whose attribute `name` has a value `v` with `v op value` (`age >= 30`).
    /// Customers without a value for the attribute never match. The name is normalized like
    /// a tag name; an invalid one is reported when the query is evaluated.
    ///
    /// ```
    /// use audience::{CmpOp, Query};
    /// let q = Query::compare("age", CmpOp::Ge, 30).and(Query::compare("age", CmpOp::Lt, 40)).and(Query::tag("vip"));
    /// assert_eq!(q, "age >= 30 AND age<40 AND vip".parse()?);
    /// assert_eq!(q.to_string(), "age >= 30 AND age < 40 AND vip");
    /// # Ok::<(), audience::Error>(())
    /// ```
    pub fn compare(name: impl AsRef<str>, op: CmpOp, value: i64) -> Query {
        let raw = name.as_ref();
        let name = normalize_tag(raw).map_or_else(|_| raw.into(), Box::from);
        Query::from_expr(Expr::Compare(Box::new(Comparison::new(name, None, op, value))))
    }

    /// Every live customer (`*`).
    pub fn everyone() -> Query {
        Query::from_expr(Expr::Everyone)
    }

    /// Nobody (`NOT *`).
    pub fn nobody() -> Query {
        Query::everyone().not()
    }

    /// `self AND other`.
    pub fn and(self, other: Query) -> Query {
        Query::all([self, other])
    }

    /// `self OR other`.
    pub fn or(self, other: Query) -> Query {
        Query::any([self, other])
    }

    /// `self AND NOT other`, evaluated as a difference.
    pub fn and_not(self, other: Query) -> Query {
        self.and(other.not())
    }

    /// `NOT self`: live customers that do not match.
    #[allow(clippy::should_implement_trait)] // also implemented as `!query`
    pub fn not(self) -> Query {
        let depth = self.depth + 1;
        Query { expr: Expr::Not(Box::new(self.into_expr())), depth, source: None }
    }

    /// The `AND` of all `queries`; of none, everyone.
    pub fn all(queries: impl IntoIterator<Item = Query>) -> Query {
        Query::group(queries, true)
    }

    /// The `OR` of all `queries`; of none, nobody.
    pub fn any(queries: impl IntoIterator<Item = Query>) -> Query {
        Query::group(queries, false)
    }

    /// `AND` (or `OR`) in canonical form, with the exact depth: an operand of the same kind
    /// is spliced in, so its children sit one level below the new node, as they did before.
    fn group(queries: impl IntoIterator<Item = Query>, and: bool) -> Query {
        let (mut depth, mut last_depth, mut n) = (0, 0, 0);
        let exprs: Vec<Expr> = queries
            .into_iter()
            .map(|q| {
                let same = matches!((&q.expr, and), (Expr::And(_), true) | (Expr::Or(_), false));
                depth = depth.max(if same { q.depth } else { q.depth + 1 });
                last_depth = q.depth;
                n += 1;
                q.into_expr()
            })
            .collect();
        let expr = if and { Expr::and_all(exprs) } else { Expr::or_all(exprs) };
        let depth = match n {
            0 => expr.depth(),
            1 => last_depth, // a group of one is its operand
            _ => depth,
        };
        Query { expr, depth, source: None }
    }

    /// The syntax tree.
    pub fn expr(&self) -> &Expr {
        &self.expr
    }

    /// The text this query was parsed from, if it was parsed.
    pub fn source(&self) -> Option<&str> {
        self.source.as_deref()
    }

    /// An upper bound of the operator nesting, checked against
    /// [`MAX_QUERY_DEPTH`](crate::MAX_QUERY_DEPTH) before evaluation.
    pub fn depth(&self) -> usize {
        self.depth
    }

    /// The tag names the query reads, each once, in the order they first appear (normalized
    /// when valid, as [`TagRef::name`]).
    ///
    /// ```
    /// use audience::Query;
    /// let q = Query::parse("vip AND (outdoor OR vip) AND age >= 30")?;
    /// assert_eq!(q.tag_names(), ["vip", "outdoor"]);
    /// assert_eq!(q.attribute_names(), ["age"]);
    /// # Ok::<(), audience::Error>(())
    /// ```
    pub fn tag_names(&self) -> Vec<&str> {
        self.names(|e| match e {
            Expr::Tag(t) => Some(t.name()),
            _ => None,
        })
    }

    /// The attribute names the query compares, each once, in the order they first appear.
    pub fn attribute_names(&self) -> Vec<&str> {
        self.names(|e| match e {
            Expr::Compare(c) => Some(c.name()),
            _ => None,
        })
    }

    /// This query with each tag name `rename` maps replaced, or `None` when it maps none:
    /// how a layer that stores queries replaces aliases with the tags they stand for. The
    /// result is parsed back from its canonical text, so its source is that text and every
    /// span points into it.
    ///
    /// Errors: what parsing the new text gives ([`Error::QueryTooLarge`](crate::Error::QueryTooLarge)
    /// when longer names take it past [`MAX_QUERY_LEN`](crate::MAX_QUERY_LEN) bytes).
    pub(crate) fn renamed(&self, rename: impl Fn(&str) -> Option<Box<str>>) -> crate::error::Result<Option<Query>> {
        if !self.tag_names().into_iter().any(|n| rename(n).is_some()) {
            return Ok(None);
        }
        let expr = self.expr.map_tags(|t| TagRef::new(rename(&t.name).unwrap_or_else(|| t.name.clone()), None));
        let text = Query { expr, depth: self.depth, source: None }.to_string();
        Query::parse(&text).map(Some)
    }

    /// The names `term` picks from the leaves, left to right, each once (iterative).
    fn names<'q>(&'q self, term: impl Fn(&'q Expr) -> Option<&'q str>) -> Vec<&'q str> {
        let mut out: Vec<&str> = Vec::new();
        let mut stack = vec![&self.expr];
        while let Some(e) = stack.pop() {
            match e {
                Expr::Not(x) => stack.push(x),
                Expr::And(xs) | Expr::Or(xs) => stack.extend(xs.iter().rev()),
                _ => {
                    if let Some(name) = term(e).filter(|n| !out.contains(n)) {
                        out.push(name);
                    }
                }
            }
        }
        out
    }

    /// This query with every tag term `from` (a normalized name) reading `into` instead, or
    /// `None` when it names no `from`. The result is parsed back from its canonical text, so
    /// its source is that text and every span points into it.
    ///
    /// Errors: what parsing the new text gives: [`Error::QueryTooLarge`](crate::Error::QueryTooLarge)
    /// when a longer name takes it past [`MAX_QUERY_LEN`](crate::MAX_QUERY_LEN) bytes (a
    /// stored query must parse back from its text).
    pub(crate) fn replace_tag(&self, from: &str, into: &str) -> crate::error::Result<Option<Query>> {
        self.renamed(|n| (n == from).then(|| into.into()))
    }

    /// Fails with [`Error::QueryTooLarge`](crate::Error::QueryTooLarge) when this query's
    /// canonical text is longer than [`MAX_QUERY_LEN`](crate::MAX_QUERY_LEN) bytes. A query
    /// the engine keeps (a rule tag's, a plan rule's) is stored as that text and must parse
    /// back from it in a snapshot or a journal, and printing can lengthen a text that fit
    /// (`age>=5` prints `age >= 5`). Counts the text without building it.
    pub(crate) fn check_storable(&self) -> crate::error::Result<()> {
        struct Count(usize);
        impl fmt::Write for Count {
            fn write_str(&mut self, s: &str) -> fmt::Result {
                self.0 += s.len();
                Ok(())
            }
        }
        let mut count = Count(0);
        let _ = fmt::Write::write_fmt(&mut count, format_args!("{self}"));
        if count.0 > super::MAX_QUERY_LEN {
            return Err(crate::error::Error::QueryTooLarge {
                what: "text length in bytes",
                found: count.0,
                limit: super::MAX_QUERY_LEN,
            });
        }
        Ok(())
    }

    fn into_expr(mut self) -> Expr {
        std::mem::replace(&mut self.expr, Expr::Everyone)
    }
}

impl PartialEq for Query {
    fn eq(&self, other: &Self) -> bool {
        self.expr == other.expr
    }
}

impl Eq for Query {}

impl fmt::Debug for Query {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Query").field("text", &self.to_string()).field("depth", &self.depth).finish()
    }
}

impl std::ops::Not for Query {
    type Output = Query;
    fn not(self) -> Query {
        Query::not(self)
    }
}

impl std::ops::BitAnd for Query {
    type Output = Query;
    fn bitand(self, rhs: Query) -> Query {
        self.and(rhs)
    }
}

impl std::ops::BitOr for Query {
    type Output = Query;
    fn bitor(self, rhs: Query) -> Query {
        self.or(rhs)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nodes_are_small() {
        // The parser's memory per term: one node, plus the name.
        assert_eq!(size_of::<TagRef>(), 24);
        assert_eq!(size_of::<Comparison>(), 40);
        assert_eq!(size_of::<Expr>(), 32);
    }

    #[test]
    fn builder_depth_is_exact() {
        let ab = Query::tag("a").or(Query::tag("b"));
        assert_eq!(ab.depth(), 1);
        assert_eq!(Query::all([ab.clone()]).depth(), 1, "a group of one is its operand");
        assert_eq!(ab.clone().or(Query::tag("c")).depth(), 1, "same-kind operands are spliced");
        assert_eq!(ab.clone().and(Query::tag("c")).depth(), 2);
        assert_eq!(ab.clone().not().depth(), 2);
        assert_eq!(Query::all([]).depth(), 0);
        assert_eq!(Query::any([]).depth(), 1);
        let q = Query::tag("x").and(ab).not();
        assert_eq!(q.depth(), q.expr().depth());
    }

    #[test]
    fn deep_trees_clone_compare_and_drop_without_recursion() {
        let mut q = Query::tag("a");
        for i in 0..50_000 {
            q = if i % 2 == 0 { q.not() } else { q.and(Query::tag("b")) };
        }
        let copy = q.clone();
        assert_eq!(copy, q);
        let mut other = Query::tag("a");
        for i in 0..50_000 {
            other = if i % 2 == 0 { other.not() } else { other.and(Query::tag("c")) };
        }
        assert_ne!(other, q);
        drop(copy);
        assert!(format!("{:?}", q.expr()).starts_with("Expr(NOT"));
    }

    #[test]
    fn replace_tag_rewrites_the_terms_and_parses_the_new_text() {
        let q = Query::parse("vip AND (outdoors OR 高消费) AND NOT  outdoors").unwrap();
        let r = q.replace_tag("outdoors", "high value").unwrap().unwrap();
        let text = r#"vip AND ("high value" OR 高消费) AND NOT "high value""#;
        assert_eq!((r.to_string().as_str(), r.source()), (text, Some(text)));
        assert_eq!(r, Query::parse(text).unwrap());
        assert_eq!(r.tag_names(), ["vip", "high value", "高消费"]);
        let Expr::And(xs) = r.expr() else { panic!("an AND") };
        let Expr::Not(x) = &xs[2] else { panic!("a NOT") };
        let Expr::Tag(t) = &**x else { panic!("a tag") };
        let span = t.span().unwrap();
        assert_eq!(&text[span.start..span.end], r#""high value""#, "spans point into the new text");
        assert!(q.replace_tag("nope", "x").unwrap().is_none());
        // A name long enough to take the text past the limit: refused, not cut.
        let long = Query::parse(&vec!["a"; 60_000].join(" OR ")).unwrap();
        let too_long = long.replace_tag("a", &"b".repeat(20)).unwrap_err();
        assert!(matches!(too_long, crate::Error::QueryTooLarge { .. }), "{too_long}");
    }

    #[test]
    fn equality_ignores_spans_and_source() {
        let parsed = Query::parse("  vip ").unwrap();
        assert_eq!(parsed, Query::tag("vip"));
        assert_eq!(parsed.source(), Some("  vip "));
        let Expr::Tag(t) = parsed.expr() else { panic!("a tag") };
        assert_eq!(t.span(), Some(Span::new(2, 5)));
    }
}
