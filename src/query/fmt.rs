//! Canonical query text: `Display` for [`Query`] and [`Expr`].
//!
//! Keywords in upper case, single spaces, parentheses only where precedence needs them, names
//! double-quoted only where the grammar needs it. Printing is iterative, so a query of any
//! depth prints without recursion. The output parses back to an equal [`Query`].

use std::fmt;

use super::ast::{Expr, Query};
use super::parse::{is_delimiter, keyword};

/// Whether `name` must be double-quoted to parse back as a tag name.
pub(crate) fn needs_quotes(name: &str) -> bool {
    name.is_empty() || name == "*" || keyword(name).is_some() || name.contains(is_delimiter) || name.contains('\\')
}

/// Writes `name` as a query term, quoted and escaped when needed.
pub(crate) fn write_name(f: &mut impl fmt::Write, name: &str) -> fmt::Result {
    if !needs_quotes(name) {
        return f.write_str(name);
    }
    f.write_char('"')?;
    for c in name.chars() {
        if matches!(c, '"' | '\\') {
            f.write_char('\\')?;
        }
        f.write_char(c)?;
    }
    f.write_char('"')
}

enum Item<'a> {
    Expr(&'a Expr),
    Text(&'static str),
}

impl fmt::Display for Expr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut stack = vec![Item::Expr(self)];
        while let Some(item) = stack.pop() {
            let e = match item {
                Item::Text(t) => {
                    f.write_str(t)?;
                    continue;
                }
                Item::Expr(e) => e,
            };
            match e {
                Expr::Tag(t) => write_name(f, t.name())?,
                Expr::Compare(c) => {
                    write_name(f, c.name())?;
                    write!(f, " {} {}", c.op(), c.value())?;
                }
                Expr::Everyone => f.write_str("*")?,
                Expr::Not(x) => {
                    f.write_str("NOT ")?;
                    push(&mut stack, x, matches!(**x, Expr::And(_) | Expr::Or(_)));
                }
                Expr::And(xs) | Expr::Or(xs) => {
                    let is_and = matches!(e, Expr::And(_));
                    let sep = if is_and { " AND " } else { " OR " };
                    for (i, x) in xs.iter().enumerate().rev() {
                        let paren = matches!(x, Expr::Or(_)) || (is_and && matches!(x, Expr::And(_)));
                        push(&mut stack, x, paren);
                        if i > 0 {
                            stack.push(Item::Text(sep));
                        }
                    }
                }
            }
        }
        Ok(())
    }
}

/// Pushes `x` (in parentheses if `paren`) so that it prints next.
fn push<'a>(stack: &mut Vec<Item<'a>>, x: &'a Expr, paren: bool) {
    if paren {
        stack.push(Item::Text(")"));
        stack.push(Item::Expr(x));
        stack.push(Item::Text("("));
    } else {
        stack.push(Item::Expr(x));
    }
}

impl fmt::Display for Query {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.expr().fmt(f)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn canonical_text() {
        let cases = [
            ("a or b and not c", "a OR b AND NOT c"),
            ("(a OR b) AND c", "(a OR b) AND c"),
            ("NOT (a AND b)", "NOT (a AND b)"),
            ("not not a", "NOT NOT a"),
            ("((a))", "a"),
            ("\"High Value\" AND \"or\" AND \"*\" AND *", "\"High Value\" AND \"or\" AND \"*\" AND *"),
            ("\"a\\\\b\" OR \"say \\\"hi\\\"\"", "\"a\\\\b\" OR \"say \\\"hi\\\"\""),
            ("高消费 AND tier:gold", "高消费 AND tier:gold"),
        ];
        for (input, want) in cases {
            let q: Query = input.parse().unwrap();
            assert_eq!(q.to_string(), want, "{input}");
            assert_eq!(want.parse::<Query>().unwrap(), q);
        }
    }

    #[test]
    fn builder_matches_parser() {
        let q = Query::any([]);
        assert_eq!(q.to_string(), "NOT *");
        assert_eq!(Query::all([]).to_string(), "*");
        let q = !(Query::tag("a") | Query::tag("b")) & Query::tag("c");
        assert_eq!(q.to_string(), "NOT (a OR b) AND c");
    }

    #[test]
    fn deep_queries_print_without_recursion() {
        let mut q = Query::tag("a");
        for _ in 0..100_000 {
            q = q.not();
        }
        let text = q.to_string();
        assert_eq!(text.len(), 100_000 * 4 + 1);
        assert_eq!(q.depth(), 100_000);
    }
}
