//! A query of this crate's language as one ClickHouse expression over the exported tables.
//!
//! | query | ClickHouse |
//! |---|---|
//! | `sports` (a tag: itself or a descendant) | `(SELECT groupBitmapOrState(customers) FROM tags WHERE tag = 'sports' OR startsWith(tag, 'sports/'))` |
//! | `age >= 30` | `(SELECT groupBitmapState(customer_id) FROM attrs WHERE name = 'age' AND value >= 30)` |
//! | `*` | `(SELECT groupBitmapState(customer_id) FROM customers)` |
//! | `NOT x` | `bitmapAndnot(<*>, x)` |
//! | `a AND b AND c` | `bitmapAnd(a, bitmapAnd(b, c))`, balanced for many operands |
//! | `a OR b` | `bitmapOr(a, b)` |

use super::Tables;
use crate::error::{Error, Result};
use crate::query::{Expr, MAX_QUERY_DEPTH, Query};

/// ClickHouse's default `max_query_size`: longer SQL is refused by the server.
const MAX_SQL_BYTES: usize = 256 * 1024;
/// ClickHouse's default `max_ast_depth`.
const MAX_AST_DEPTH: usize = 1000;
/// ClickHouse's default `max_ast_elements`.
const MAX_AST_ELEMENTS: usize = 50_000;
/// AST depth and elements one term (a tag, comparison or `*` subquery) takes, at most
/// (measured on ClickHouse's parser with `EXPLAIN AST`, rounded up).
const TERM_DEPTH: usize = 12;
const TERM_ELEMENTS: usize = 24;
/// Depth and elements one `bitmapAnd(a, b)` (or `Or`, `Andnot`) call adds.
const CALL_DEPTH: usize = 3;
const CALL_ELEMENTS: usize = 3;

/// How names are resolved while rendering: as written (normalized), or through an engine.
pub(crate) trait Names {
    /// The exported name of tag `name`.
    fn tag(&self, name: &str) -> Result<String>;
    /// The exported name of attribute `name`.
    fn attr(&self, name: &str) -> Result<String>;
}

/// Names as the query spells them, normalized as the engine would before looking them up.
struct AsWritten;

impl Names for AsWritten {
    fn tag(&self, name: &str) -> Result<String> {
        Ok(crate::tags::normalize_tag(name)?.into_owned())
    }

    fn attr(&self, name: &str) -> Result<String> {
        Ok(crate::attrs::normalize_attr(name)?.into_owned())
    }
}

impl Query {
    /// The query as one ClickHouse `SELECT` over the tables the engine exports ([`Tables`]):
    /// one row, one column named `audience`, an `AggregateFunction(groupBitmap, UInt32)`
    /// whose `bitmapCardinality` is the engine's [`count`](crate::Engine::count) and whose
    /// `bitmapToArray` its ids, on tables written by
    /// [`Engine::write_clickhouse_tags`](crate::Engine::write_clickhouse_tags),
    /// [`write_clickhouse_customers`](crate::Engine::write_clickhouse_customers) and
    /// [`write_clickhouse_attrs`](crate::Engine::write_clickhouse_attrs).
    ///
    /// A tag matches itself and its descendants (`sports/...` rows, by name), `NOT` and `*`
    /// are relative to the customers table (the live customers), a comparison reads the
    /// attributes table (a customer without the attribute matches no comparison, `!=`
    /// included, as in the engine). Names are taken as written (normalized); an alias of
    /// the engine is not known here: [`Engine::to_clickhouse_sql`](crate::Engine::to_clickhouse_sql)
    /// resolves aliases and refuses unknown names as a query on the engine would.
    ///
    /// ```
    /// use audience::{Query, Tables};
    /// let sql = Query::parse("vip AND NOT churned")?.to_clickhouse_sql(&Tables::default())?;
    /// assert!(sql.starts_with("SELECT bitmapAnd("));
    /// assert!(sql.ends_with(" AS audience"));
    /// # Ok::<(), audience::Error>(())
    /// ```
    ///
    /// Errors: what does not translate is [`Error::NotTranslatable`]: SQL past ClickHouse's
    /// default limits (`max_query_size` 256 KiB, `max_ast_depth` 1,000, `max_ast_elements`
    /// 50,000; estimated conservatively), which a query of about 2,000 terms or more reaches (the
    /// parser's nesting limit comes before the depth limits). A built query nested deeper than
    /// [`MAX_QUERY_DEPTH`](crate::MAX_QUERY_DEPTH) is [`Error::QueryTooLarge`]; a name that
    /// is not a valid tag or attribute name, [`Error::InvalidTagName`] /
    /// [`Error::InvalidAttributeName`].
    pub fn to_clickhouse_sql(&self, tables: &Tables) -> Result<String> {
        render(self, tables, &AsWritten)
    }
}

/// The `SELECT` for `query`, names resolved by `names`.
pub(crate) fn render(query: &Query, tables: &Tables, names: &dyn Names) -> Result<String> {
    let depth = query.depth();
    if depth > MAX_QUERY_DEPTH {
        return Err(Error::QueryTooLarge { what: "nesting depth", found: depth, limit: MAX_QUERY_DEPTH });
    }
    let t = Quoted {
        tags: quote_table(&tables.tags)?,
        customers: quote_table(&tables.customers)?,
        attrs: quote_table(&tables.attrs)?,
    };
    let mut out = String::from("SELECT ");
    let (ast_depth, elements) = expr(&mut out, query.expr(), &t, names)?;
    out.push_str(" AS audience");
    let too = |what: String| Error::NotTranslatable {
        what,
        hint: "raise the server's setting, or split the query: save a part as a tag and name the tag",
    };
    if out.len() > MAX_SQL_BYTES {
        return Err(too(format!("{} bytes of SQL, past max_query_size ({MAX_SQL_BYTES})", out.len())));
    }
    if ast_depth > MAX_AST_DEPTH {
        return Err(too(format!("an AST about {ast_depth} deep, past max_ast_depth ({MAX_AST_DEPTH})")));
    }
    if elements > MAX_AST_ELEMENTS {
        return Err(too(format!("about {elements} AST elements, past max_ast_elements ({MAX_AST_ELEMENTS})")));
    }
    Ok(out)
}

/// The tables' names, quoted.
struct Quoted {
    tags: String,
    customers: String,
    attrs: String,
}

/// A table name (`db.table` allowed) with each part in backquotes.
fn quote_table(name: &str) -> Result<String> {
    let bad = |why: &str| Error::NotTranslatable {
        what: format!("table name {name:?}: {why}"),
        hint: "name each table as `table` or `database.table`",
    };
    let parts: Vec<&str> = name.split('.').collect();
    if parts.len() > 2 || parts.iter().any(|p| p.is_empty()) {
        return Err(bad("empty, or more than two parts"));
    }
    if name.chars().any(char::is_control) {
        return Err(bad("a control character"));
    }
    Ok(parts.iter().map(|p| format!("`{}`", p.replace('\\', "\\\\").replace('`', "\\`"))).collect::<Vec<_>>().join("."))
}

/// A ClickHouse string literal.
fn literal(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('\'');
    for c in s.chars() {
        match c {
            '\'' => out.push_str("\\'"),
            '\\' => out.push_str("\\\\"),
            c => out.push(c),
        }
    }
    out.push('\'');
    out
}

/// Renders `e` onto `out`; its AST depth and elements, estimated.
fn expr(out: &mut String, e: &Expr, t: &Quoted, names: &dyn Names) -> Result<(usize, usize)> {
    Ok(match e {
        Expr::Tag(tag) => {
            let name = names.tag(tag.name())?;
            let (exact, prefix) = (literal(&name), literal(&format!("{name}/")));
            out.push_str(&format!(
                "(SELECT groupBitmapOrState(customers) FROM {} WHERE tag = {exact} OR startsWith(tag, {prefix}))",
                t.tags
            ));
            (TERM_DEPTH, TERM_ELEMENTS)
        }
        Expr::Compare(c) => {
            let name = names.attr(c.name())?;
            let op = c.op().as_str(); // ClickHouse spells the six operators alike
            // i64::MIN has no literal (its negation overflows): written as a cast.
            let value = if c.value() == i64::MIN { format!("toInt64('{}')", c.value()) } else { c.value().to_string() };
            out.push_str(&format!(
                "(SELECT groupBitmapState(customer_id) FROM {} WHERE name = {} AND value {op} {value})",
                t.attrs,
                literal(&name)
            ));
            (TERM_DEPTH, TERM_ELEMENTS)
        }
        Expr::Everyone => {
            everyone(out, t);
            (TERM_DEPTH, TERM_ELEMENTS)
        }
        Expr::Not(x) => {
            out.push_str("bitmapAndnot(");
            everyone(out, t);
            out.push_str(", ");
            let (d, n) = expr(out, x, t, names)?;
            out.push(')');
            (d.max(TERM_DEPTH) + CALL_DEPTH, n + TERM_ELEMENTS + CALL_ELEMENTS)
        }
        Expr::And(xs) => balanced(out, "bitmapAnd", xs, t, names)?,
        Expr::Or(xs) => balanced(out, "bitmapOr", xs, t, names)?,
    })
}

fn everyone(out: &mut String, t: &Quoted) {
    out.push_str(&format!("(SELECT groupBitmapState(customer_id) FROM {})", t.customers));
}

/// `f(f(a, b), f(c, d))`: a balanced tree of binary calls, so the SQL nests by the log of
/// the operands, not their number.
fn balanced(out: &mut String, f: &str, xs: &[Expr], t: &Quoted, names: &dyn Names) -> Result<(usize, usize)> {
    match xs {
        [] => {
            // Not made by the parser or the builder (a group has two operands or more); an
            // empty AND is everyone, an empty OR nobody.
            if f == "bitmapAnd" {
                everyone(out, t);
            } else {
                out.push_str("bitmapAndnot(");
                everyone(out, t);
                out.push_str(", ");
                everyone(out, t);
                out.push(')');
            }
            Ok((TERM_DEPTH + CALL_DEPTH, 2 * TERM_ELEMENTS + CALL_ELEMENTS))
        }
        [x] => expr(out, x, t, names),
        _ => {
            let (a, b) = xs.split_at(xs.len() / 2);
            out.push_str(f);
            out.push('(');
            let (da, na) = balanced(out, f, a, t, names)?;
            out.push_str(", ");
            let (db, nb) = balanced(out, f, b, t, names)?;
            out.push(')');
            Ok((da.max(db) + CALL_DEPTH, na + nb + CALL_ELEMENTS))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sql(q: &str) -> String {
        Query::parse(q).unwrap().to_clickhouse_sql(&Tables::default()).unwrap()
    }

    #[test]
    fn each_term_and_operator() {
        assert_eq!(
            sql("vip"),
            "SELECT (SELECT groupBitmapOrState(customers) FROM `tags` WHERE tag = 'vip' OR startsWith(tag, 'vip/')) AS audience"
        );
        assert_eq!(
            sql("age >= -3"),
            "SELECT (SELECT groupBitmapState(customer_id) FROM `attrs` WHERE name = 'age' AND value >= -3) AS audience"
        );
        assert_eq!(sql("*"), "SELECT (SELECT groupBitmapState(customer_id) FROM `customers`) AS audience");
        assert!(
            sql("NOT a").starts_with("SELECT bitmapAndnot((SELECT groupBitmapState(customer_id) FROM `customers`), ")
        );
        let four = sql("a OR b OR c OR d");
        assert!(four.starts_with("SELECT bitmapOr(bitmapOr("), "{four}");
        assert_eq!(four.matches("bitmapOr(").count(), 3);
        assert!(sql("x = -9223372036854775808").contains("value = toInt64('-9223372036854775808')"));
    }

    #[test]
    fn names_are_quoted_as_literals() {
        let s = sql(r#""it's \\ 高消费""#);
        assert!(s.contains(r"tag = 'it\'s \\ 高消费'"), "{s}");
        let tables = Tables { tags: "crm.user`tags".into(), ..Tables::default() };
        let s = Query::parse("a").unwrap().to_clickhouse_sql(&tables).unwrap();
        assert!(s.contains("FROM `crm`.`user\\`tags`"), "{s}");
        for bad in ["", "a.b.c", ".x", "a\nb"] {
            let tables = Tables { attrs: bad.into(), ..Tables::default() };
            assert!(matches!(
                Query::parse("a").unwrap().to_clickhouse_sql(&tables),
                Err(Error::NotTranslatable { .. })
            ));
        }
    }

    #[test]
    fn past_clickhouse_limits_is_a_typed_error() {
        let many = (0..20_000).map(|i| format!("t{i}")).collect::<Vec<_>>().join(" OR ");
        let e = Query::parse(&many).unwrap().to_clickhouse_sql(&Tables::default()).unwrap_err();
        assert!(matches!(e, Error::NotTranslatable { .. }), "{e}");
        // The parser's nesting limit comes first: the deepest query it takes translates
        // (chDB ran NOT nested 128 deep and AND/OR nested 256 deep with default settings).
        let deep = format!("{}a{}", "NOT (".repeat(127), ")".repeat(127));
        assert!(Query::parse(&deep).unwrap().to_clickhouse_sql(&Tables::default()).is_ok());
    }
}
