//! Canonical query text: `Display` for [`Query`] and [`Expr`].
//!
//! Keywords in upper case, single spaces, parentheses only where precedence needs them, names
//! double-quoted only where the grammar needs it. Printing is iterative, so a query of any
//! depth prints without recursion. The output parses back to an equal [`Query`].
//!
//! A hand-made tree that is not canonical (see [`Expr`]) prints as what it evaluates to, so
//! its text parses back to a query with the same results: an empty `AND` is everyone (`*`),
//! an empty `OR` is nobody (`NOT *`), and a group of one operand is that operand.

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

/// `e` without its one-operand groups: `And([x])` and `Or([x])` print as `x`.
fn peel(mut e: &Expr) -> &Expr {
    while let Expr::And(xs) | Expr::Or(xs) = e
        && let [x] = xs.as_slice()
    {
        e = x;
    }
    e
}

/// The operator `e` prints with at its top: `Some(true)` for `AND`, `Some(false)` for `OR`,
/// `None` for what binds tighter than both (a term, `NOT`, and the empty groups, which print
/// as `*` and `NOT *`).
fn group(e: &Expr) -> Option<bool> {
    match peel(e) {
        Expr::And(xs) if xs.len() >= 2 => Some(true),
        Expr::Or(xs) if xs.len() >= 2 => Some(false),
        _ => None,
    }
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
                Item::Expr(e) => peel(e),
            };
            match e {
                Expr::Tag(t) => write_name(f, t.name())?,
                Expr::Compare(c) => {
                    write_name(f, c.name())?;
                    write!(f, " {} {}", c.op(), c.value())?;
                }
                Expr::Everyone => f.write_str("*")?,
                // An empty AND is everyone, as the planner evaluates it; an empty OR nobody.
                Expr::And(xs) if xs.is_empty() => f.write_str("*")?,
                Expr::Or(xs) if xs.is_empty() => f.write_str("NOT *")?,
                Expr::Not(x) => {
                    f.write_str("NOT ")?;
                    push(&mut stack, x, group(x).is_some());
                }
                Expr::And(xs) | Expr::Or(xs) => {
                    let is_and = matches!(e, Expr::And(_));
                    let sep = if is_and { " AND " } else { " OR " };
                    for (i, x) in xs.iter().enumerate().rev() {
                        // An OR operand of AND binds looser; a nested group of the same kind
                        // keeps its parentheses (the parser flattens it either way).
                        let paren = match group(x) {
                            Some(x_is_and) => is_and || !x_is_and,
                            None => false,
                        };
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

    fn tag(name: &str) -> Expr {
        Expr::Tag(super::super::ast::TagRef::new(name.into(), None))
    }

    /// Customers 0..8; `a` = 0..4, `b` = 2..6, `c` = {7}.
    fn engine() -> crate::Engine {
        let mut e = crate::Engine::new();
        e.customer_id_range(0..8).unwrap();
        for (name, ids) in [("a", 0..4), ("b", 2..6), ("c", 7..8)] {
            e.ensure_tag(name).unwrap();
            for i in ids {
                e.tag(crate::CustomerId(i), name).unwrap();
            }
        }
        e
    }

    /// Prints `tree` and checks the text parses to a query counting what the tree counts.
    fn check_prints_as_evaluated(e: &crate::Engine, tree: Expr) -> String {
        let q = Query::from_expr(tree);
        let text = q.to_string();
        let parsed = Query::parse(&text).unwrap_or_else(|err| panic!("{text:?} does not parse: {err}"));
        assert_eq!(e.count(&parsed).unwrap(), e.count(&q).unwrap(), "{text}");
        text
    }

    #[test]
    fn empty_and_single_groups_print_as_evaluated() {
        let e = engine();
        let (a, b, c) = (|| tag("a"), || tag("b"), || tag("c"));
        let cases = [
            (Expr::And(vec![]), "*"),
            (Expr::Or(vec![]), "NOT *"),
            (Expr::And(vec![a()]), "a"),
            (Expr::Or(vec![a()]), "a"),
            (Expr::Or(vec![Expr::And(vec![Expr::Or(vec![a(), b()])])]), "a OR b"),
            (Expr::And(vec![Expr::Or(vec![a()]), Expr::Or(vec![b(), c()])]), "a AND (b OR c)"),
            (Expr::And(vec![Expr::And(vec![Expr::Or(vec![a(), b()])]), c()]), "(a OR b) AND c"),
            (Expr::Or(vec![Expr::Or(vec![Expr::And(vec![a(), b()])]), c()]), "a AND b OR c"),
            (Expr::Not(Box::new(Expr::And(vec![Expr::Or(vec![a(), b()])]))), "NOT (a OR b)"),
            (Expr::Not(Box::new(Expr::Or(vec![Expr::And(vec![a()])]))), "NOT a"),
            (Expr::Not(Box::new(Expr::And(vec![]))), "NOT *"),
            (Expr::Not(Box::new(Expr::Or(vec![]))), "NOT NOT *"),
            (Expr::And(vec![a(), Expr::Or(vec![])]), "a AND NOT *"),
            (Expr::Or(vec![a(), Expr::And(vec![])]), "a OR *"),
            (Expr::Or(vec![Expr::Or(vec![]), Expr::And(vec![])]), "NOT * OR *"),
            (Expr::And(vec![Expr::And(vec![]), Expr::Not(Box::new(Expr::And(vec![b()])))]), "* AND NOT b"),
        ];
        for (tree, want) in cases {
            assert_eq!(check_prints_as_evaluated(&e, tree), want);
        }
    }

    #[test]
    fn random_hand_made_trees_print_as_evaluated() {
        // Trees of up to four levels whose groups have 0 to 3 operands, from a seeded xorshift.
        fn tree(rng: &mut u64, depth: u32) -> Expr {
            *rng ^= *rng << 13;
            *rng ^= *rng >> 7;
            *rng ^= *rng << 17;
            let r = *rng;
            match (r % 7, depth) {
                (0, _) | (_, 0) => tag(["a", "b", "c"][(r >> 8) as usize % 3]),
                (1, _) => Expr::Everyone,
                (2, _) => Expr::Not(Box::new(tree(rng, depth - 1))),
                (k, _) => {
                    let xs = (0..(r >> 8) % 4).map(|_| tree(rng, depth - 1)).collect();
                    if k % 2 == 0 { Expr::And(xs) } else { Expr::Or(xs) }
                }
            }
        }
        let e = engine();
        let mut rng = 0x9e37_79b9_7f4a_7c15;
        for _ in 0..2_000 {
            check_prints_as_evaluated(&e, tree(&mut rng, 4));
        }
    }

    #[test]
    fn deep_single_groups_print_without_recursion() {
        let mut tree = tag("a");
        for i in 0..100_000 {
            tree = if i % 2 == 0 { Expr::And(vec![tree]) } else { Expr::Or(vec![tree]) };
        }
        assert_eq!(Query::from_expr(tree).to_string(), "a");
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
