//! Query text -> [`Query`]: a lexer and one function per grammar rule (see the module docs of
//! [`Query`](crate::Query#grammar) for the grammar).
//!
//! Bounded cost: text longer than [`MAX_QUERY_LEN`] is refused before it is read; a first
//! pass of the lexer checks every token and counts the terms against [`MAX_QUERY_TERMS`]
//! (allocating nothing it keeps), and only then does the parser pull the tokens again, one
//! at a time, to build the tree. Names borrow the text wherever they need no change.

use std::borrow::Cow;
use std::sync::Arc;

use super::ast::{Comparison, Expr, Query, TagRef};
use super::{MAX_QUERY_DEPTH, MAX_QUERY_LEN, MAX_QUERY_TERMS};
use crate::attrs::CmpOp;
use crate::error::{Error, Result};
use crate::span::Span;
use crate::tags::normalize_tag;

#[derive(Clone, Debug, PartialEq)]
enum Tok<'a> {
    LParen,
    RParen,
    Star,
    And,
    Or,
    Not,
    /// A tag name, bare or quoted (escapes resolved, normalized).
    Name(Cow<'a, str>),
    /// A comparison operator.
    Op(CmpOp),
    /// An integer literal (only right after an operator).
    Int(i64),
    /// Something after an operator that is not an integer literal: the error message and
    /// hint, reported by the parser when it gets there (so an earlier error comes first).
    BadLiteral(String, &'static str),
}

/// Characters that end a bare name.
pub(crate) fn is_delimiter(c: char) -> bool {
    c.is_whitespace() || matches!(c, '(' | ')' | '"' | '=' | '!' | '<' | '>')
}

/// A keyword, case-insensitively.
pub(crate) fn keyword(word: &str) -> Option<&'static str> {
    ["AND", "OR", "NOT"].into_iter().find(|k| word.eq_ignore_ascii_case(k))
}

struct Lexer<'a> {
    text: &'a str,
    pos: usize,
    /// The previous token was a comparison operator: an integer literal comes next.
    after_op: bool,
}

const NOT_A_NUMBER_HINT: &str = "attribute predicates compare with whole numbers, e.g. age >= 30 (money in minor \
     units: monetary >= 10000); a tag name containing = ! < > is written double-quoted, e.g. \"a=b\"";

const LITERAL_HINT: &str = "attribute predicates compare with whole numbers (i64, from -9223372036854775808 \
     to 9223372036854775807), e.g. age >= 30; money is in minor units: monetary >= 10000";

impl<'a> Lexer<'a> {
    fn new(text: &'a str) -> Lexer<'a> {
        Lexer { text, pos: 0, after_op: false }
    }

    fn err(&self, span: Span, message: impl Into<String>, hint: Option<&str>) -> Error {
        Error::Parse { query: self.text.to_owned(), span, message: message.into(), hint: hint.map(str::to_owned) }
    }

    /// The next token, or `None` at the end of the text.
    fn next(&mut self) -> Result<Option<(Tok<'a>, Span)>> {
        let t = self.next_token()?;
        self.after_op = matches!(t, Some((Tok::Op(_), _)));
        Ok(t)
    }

    /// Checks every token of the text, counting the terms (names and `*`) against
    /// [`MAX_QUERY_TERMS`]; keeps nothing.
    fn check(mut self) -> Result<()> {
        let mut terms = 0usize;
        while let Some((tok, _)) = self.next()? {
            if matches!(tok, Tok::Name(_) | Tok::Star) {
                terms += 1;
                if terms > MAX_QUERY_TERMS {
                    return Err(Error::QueryTooLarge { what: "number of terms", found: terms, limit: MAX_QUERY_TERMS });
                }
            }
        }
        Ok(())
    }

    fn next_token(&mut self) -> Result<Option<(Tok<'a>, Span)>> {
        let text = self.text;
        let rest = &text[self.pos..];
        let trimmed = rest.trim_start();
        self.pos += rest.len() - trimmed.len();
        let start = self.pos;
        let Some(c) = trimmed.chars().next() else { return Ok(None) };
        if self.after_op {
            return self.literal(trimmed, start).map(Some);
        }
        let single = |tok| Ok(Some((tok, Span::new(start, start + 1))));
        match c {
            '(' => {
                self.pos += 1;
                single(Tok::LParen)
            }
            ')' => {
                self.pos += 1;
                single(Tok::RParen)
            }
            '"' => self.quoted(start).map(Some),
            '=' | '!' | '<' | '>' => {
                let len = trimmed.chars().take_while(|c| matches!(c, '=' | '!' | '<' | '>')).count();
                let span = Span::new(start, start + len);
                self.pos += len;
                let op = match &trimmed[..len] {
                    "=" => CmpOp::Eq,
                    "!=" => CmpOp::Ne,
                    "<" => CmpOp::Lt,
                    "<=" => CmpOp::Le,
                    ">" => CmpOp::Gt,
                    ">=" => CmpOp::Ge,
                    other => {
                        let hint = match other {
                            "==" => "write = for equality, e.g. age = 30",
                            "<>" => "write != for inequality, e.g. age != 30",
                            "=>" => "did you mean >= ?",
                            "=<" => "did you mean <= ?",
                            "!" => "write NOT to negate, e.g. NOT vip (or != to compare)",
                            _ => "the operators are = != < <= > >=",
                        };
                        return Err(self.err(span, format!("unknown operator {other:?}"), Some(hint)));
                    }
                };
                Ok(Some((Tok::Op(op), span)))
            }
            _ => {
                let len = trimmed.find(is_delimiter).unwrap_or(trimmed.len());
                let word = &trimmed[..len];
                self.pos += len;
                let span = Span::new(start, start + len);
                let tok = match (word, keyword(word)) {
                    ("*", _) => Tok::Star,
                    (_, Some("AND")) => Tok::And,
                    (_, Some("OR")) => Tok::Or,
                    (_, Some("NOT")) => Tok::Not,
                    _ => Tok::Name(self.tag_name(word, span)?),
                };
                Ok(Some((tok, span)))
            }
        }
    }

    /// The integer literal after an operator: `[+-]digits`, an `i64`.
    fn literal(&mut self, trimmed: &str, start: usize) -> Result<(Tok<'a>, Span)> {
        let len = match trimmed.strip_prefix('"') {
            // A quoted "literal" is reported whole, not as an unterminated name after it.
            Some(rest) => rest.find('"').map_or(trimmed.len(), |i| i + 2),
            None => trimmed.find(|c: char| c.is_whitespace() || matches!(c, '(' | ')' | '"')).unwrap_or(trimmed.len()),
        };
        let word = &trimmed[..len];
        let span = Span::new(start, start + len);
        let digits = word.strip_prefix(['-', '+']).unwrap_or(word);
        if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
            let what = if word.is_empty() {
                format!("{:?}", &trimmed[..trimmed.chars().next().map_or(0, char::len_utf8)])
            } else {
                format!("{word:?}")
            };
            let end =
                if word.is_empty() { start + trimmed.chars().next().map_or(0, char::len_utf8) } else { start + len };
            self.pos = end;
            let message = format!("expected an integer after the comparison operator, found {what}");
            return Ok((Tok::BadLiteral(message, NOT_A_NUMBER_HINT), Span::new(start, end)));
        }
        self.pos += len;
        match word.parse::<i64>() {
            Ok(v) => Ok((Tok::Int(v), span)),
            Err(_) => Ok((Tok::BadLiteral(format!("integer {word} is out of range"), LITERAL_HINT), span)),
        }
    }

    /// A double-quoted name starting at `start` (the opening quote). Borrowed from the text
    /// unless it has an escape.
    fn quoted(&mut self, start: usize) -> Result<(Tok<'a>, Span)> {
        let text = self.text;
        let body = &text[start + 1..];
        // Without an escape before the closing quote, the name is a slice of the text.
        if let Some(close) = body.find(['"', '\\']).filter(|&i| body.as_bytes()[i] == b'"') {
            self.pos = start + 1 + close + 1;
            let span = Span::new(start, self.pos);
            return Ok((Tok::Name(self.tag_name(&body[..close], span)?), span));
        }
        let mut name = String::new();
        let mut chars = body.char_indices();
        while let Some((i, c)) = chars.next() {
            let at = start + 1 + i;
            match c {
                '"' => {
                    self.pos = at + 1;
                    let span = Span::new(start, at + 1);
                    let name = self.tag_name(&name, span)?.into_owned();
                    return Ok((Tok::Name(Cow::Owned(name)), span));
                }
                '\\' => match chars.next() {
                    Some((_, e @ ('"' | '\\'))) => name.push(e),
                    Some((j, e)) => {
                        let end = start + 1 + j + e.len_utf8();
                        return Err(self.err(
                            Span::new(at, end),
                            format!("unknown escape \\{} in a quoted name", e.escape_default()),
                            Some("only \\\" and \\\\ are escapes; write a backslash as \\\\"),
                        ));
                    }
                    None => break,
                },
                c => name.push(c),
            }
        }
        Err(self.err(
            Span::new(start, self.text.len()),
            "unterminated quoted name",
            Some("close the name with a double quote; write a quote inside it as \\\""),
        ))
    }

    fn tag_name<'n>(&self, raw: &'n str, span: Span) -> Result<Cow<'n, str>> {
        match normalize_tag(raw) {
            Ok(n) => Ok(n),
            Err(Error::InvalidTagName { reason, .. }) => {
                Err(self.err(span, format!("invalid tag name: {reason}"), None))
            }
            Err(e) => Err(e),
        }
    }
}

/// The parser's result: errors boxed (see `Parser::err`).
type PResult<T> = std::result::Result<T, Box<Error>>;

struct Parser<'a> {
    text: &'a str,
    lexer: Lexer<'a>,
    /// The current token (not consumed yet), `None` at the end of the text.
    cur: Option<(Tok<'a>, Span)>,
    /// Where the last consumed token ends.
    last_end: usize,
    depth: usize,
}

/// Parses query text into a [`Query`] (see the grammar in [`Query`](crate::Query#grammar)).
pub(crate) fn parse(text: &str) -> Result<Query> {
    if text.len() > MAX_QUERY_LEN {
        return Err(Error::QueryTooLarge { what: "text length in bytes", found: text.len(), limit: MAX_QUERY_LEN });
    }
    // Lexical errors and the term count first, as if the text were tokenized whole: the
    // parser below then meets no lexical error.
    Lexer::new(text).check()?;
    let mut lexer = Lexer::new(text);
    let cur = lexer.next()?;
    let mut p = Parser { text, lexer, cur, last_end: 0, depth: 0 };
    p.parse_query().map_err(|e| *e)
}

/// Whether `x` is an operand of its own kind for a group (`AND` of an `AND`), to be spliced.
fn same_kind(x: &Expr, and: bool) -> bool {
    matches!((x, and), (Expr::And(_), true) | (Expr::Or(_), false))
}

impl<'a> Parser<'a> {
    /// Boxed: the recursive rules pass errors up through `?`, and a small error type keeps
    /// their stack frames small (so the depth limit comes long before the stack's end).
    fn err(&self, span: Span, message: impl Into<String>, hint: Option<&str>) -> Box<Error> {
        Box::new(Error::Parse {
            query: self.text.to_owned(),
            span,
            message: message.into(),
            hint: hint.map(str::to_owned),
        })
    }

    fn peek(&self) -> Option<&Tok<'a>> {
        self.cur.as_ref().map(|(t, _)| t)
    }

    /// Consumes the current token and returns it.
    fn bump(&mut self) -> PResult<Option<(Tok<'a>, Span)>> {
        let next = self.lexer.next().map_err(Box::new)?;
        let tok = std::mem::replace(&mut self.cur, next);
        if let Some((_, span)) = &tok {
            self.last_end = span.end;
        }
        Ok(tok)
    }

    /// The span of the current token, or an empty span at the end of the text.
    fn here(&self) -> Span {
        self.cur.as_ref().map_or(Span::new(self.text.len(), self.text.len()), |&(_, s)| s)
    }

    /// `query = or_expr EOF`
    fn parse_query(&mut self) -> PResult<Query> {
        if self.cur.is_none() {
            return Err(self.err(
                Span::new(0, self.text.len()),
                "empty query",
                Some("write a tag name, e.g. vip, or * for everyone"),
            ));
        }
        let (expr, depth) = self.parse_or()?;
        if let Some((tok, span)) = &self.cur {
            return Err(match tok {
                Tok::RParen => self.err(*span, "unmatched ')'", Some("remove it, or add the '(' it closes")),
                _ => self.err(
                    *span,
                    "expected AND, OR or the end of the query",
                    Some("join terms with AND / OR; a name with spaces is written double-quoted, e.g. \"High Value\""),
                ),
            });
        }
        debug_assert_eq!(depth, expr.depth());
        Ok(Query::from_parts(expr, depth, Some(Arc::from(self.text))))
    }

    fn enter(&mut self) -> PResult<()> {
        self.depth += 1;
        if self.depth > MAX_QUERY_DEPTH {
            return Err(self.err(
                self.here(),
                format!("nested deeper than the limit of {MAX_QUERY_DEPTH} levels"),
                Some("flatten the query: a long chain of AND or OR needs no parentheses"),
            ));
        }
        Ok(())
    }

    /// The span from `start` (where a rule began) to the end of the last token consumed.
    fn span_since(&self, start: usize) -> Span {
        Span::new(start, self.last_end.max(start))
    }

    /// Fails when a node built from the text since `start` is deeper than the limit.
    fn check_depth(&self, depth: usize, start: usize) -> PResult<()> {
        if depth > MAX_QUERY_DEPTH {
            return Err(self.err(
                self.span_since(start),
                format!("nested deeper than the limit of {MAX_QUERY_DEPTH} levels"),
                Some("flatten the query: a long chain of AND or OR needs no parentheses"),
            ));
        }
        Ok(())
    }

    /// `or_expr = and_expr { "OR" and_expr }`; returns the node and its depth.
    fn parse_or(&mut self) -> PResult<(Expr, usize)> {
        let start = self.here().start;
        let first = self.parse_and()?;
        if self.peek() != Some(&Tok::Or) {
            return Ok(first); // a group of one is its operand
        }
        let mut group = Group::new(first, false);
        while self.peek() == Some(&Tok::Or) {
            self.bump()?;
            group.push(self.parse_and()?);
        }
        self.check_depth(group.depth, start)?;
        Ok(group.finish())
    }

    /// `and_expr = not_expr { "AND" not_expr }`
    fn parse_and(&mut self) -> PResult<(Expr, usize)> {
        let start = self.here().start;
        let first = self.parse_not()?;
        if self.peek() != Some(&Tok::And) {
            return Ok(first);
        }
        let mut group = Group::new(first, true);
        while self.peek() == Some(&Tok::And) {
            self.bump()?;
            group.push(self.parse_not()?);
        }
        self.check_depth(group.depth, start)?;
        Ok(group.finish())
    }

    /// `not_expr = { "NOT" } primary` (a loop, not recursion)
    fn parse_not(&mut self) -> PResult<(Expr, usize)> {
        let (start, outer) = (self.here().start, self.depth);
        let mut nots = 0;
        while self.peek() == Some(&Tok::Not) {
            self.enter()?;
            self.bump()?;
            nots += 1;
        }
        let (mut x, depth) = self.parse_primary()?;
        for _ in 0..nots {
            x = Expr::Not(Box::new(x));
        }
        self.depth = outer;
        self.check_depth(depth + nots, start)?;
        Ok((x, depth + nots))
    }

    /// `comparison = name op integer | tag`, after the name. Out of line so that the
    /// recursive rules keep small stack frames.
    #[inline(never)]
    fn parse_term(&mut self, name: Cow<'a, str>, span: Span) -> PResult<(Expr, usize)> {
        let Some(&(Tok::Op(op), op_span)) = self.cur.as_ref() else {
            return Ok((Expr::Tag(TagRef::new(name.into(), Some(span))), 0));
        };
        self.bump()?;
        match self.bump()? {
            Some((Tok::Int(v), _)) => Ok((Expr::Compare(Box::new(Comparison::new(name.into(), Some(span), op, v))), 0)),
            Some((Tok::BadLiteral(message, hint), at)) => Err(self.err(at, message, Some(hint))),
            _ => Err(self.err(
                Span::new(op_span.end, op_span.end),
                format!("expected an integer after {op}, found the end of the query"),
                Some(LITERAL_HINT),
            )),
        }
    }

    #[cold]
    #[inline(never)]
    fn misplaced(&self, tok: &Tok<'_>, span: Span) -> Box<Error> {
        match tok {
            Tok::Op(op) => self.err(
                span,
                format!("{op} needs an attribute name on its left"),
                Some("write the attribute first, e.g. age >= 30"),
            ),
            _ => self.err(
                span,
                "expected a tag name, '*' or '(', found an integer",
                Some("an integer stands only on the right of a comparison, e.g. age >= 30"),
            ),
        }
    }

    /// `primary = comparison | tag | "*" | "(" or_expr ")"`
    fn parse_primary(&mut self) -> PResult<(Expr, usize)> {
        let span = self.here();
        let Some((tok, _)) = self.bump()? else { return Err(self.unexpected(None, span)) };
        match tok {
            Tok::Name(name) => self.parse_term(name, span),
            Tok::Star => Ok((Expr::Everyone, 0)),
            Tok::LParen => {
                self.enter()?;
                let x = self.parse_or()?;
                self.depth -= 1;
                if self.peek() != Some(&Tok::RParen) {
                    return Err(self.unclosed(span));
                }
                self.bump()?;
                Ok(x)
            }
            other => Err(self.unexpected(Some(&other), span)),
        }
    }

    /// The error for a token (or the end of the query) that cannot start a primary. Out of
    /// line, like every error path of the recursive rules: this keeps their stack frames
    /// small, so the depth limit is reached long before the stack's end.
    #[cold]
    #[inline(never)]
    fn unexpected(&self, tok: Option<&Tok<'_>>, span: Span) -> Box<Error> {
        let Some(tok) = tok else {
            return self.err(
                span,
                "expected a tag name, '*' or '(', found the end of the query",
                Some("complete the query, e.g. vip AND outdoor"),
            );
        };
        match tok {
            Tok::RParen => self.err(
                span,
                "expected a tag name, '*' or '(', found ')'",
                Some("remove the ')' or put a term before it"),
            ),
            Tok::And | Tok::Or | Tok::Not => {
                let kw = &self.text[span.start..span.end];
                self.err(
                    span,
                    format!("expected a tag name, '*' or '(', found the keyword {kw}"),
                    Some(&format!("a tag named {kw:?} is written double-quoted: \"{kw}\"")),
                )
            }
            other => self.misplaced(other, span),
        }
    }

    #[cold]
    #[inline(never)]
    fn unclosed(&self, open: Span) -> Box<Error> {
        self.err(self.here(), format!("expected ')' to close the '(' at {open}"), Some("add the missing ')'"))
    }
}

/// An `AND` or `OR` being parsed, in canonical form: an operand of its own kind is spliced
/// in (its operands sit one level down already), any other is one level down.
struct Group {
    and: bool,
    xs: Vec<Expr>,
    depth: usize,
}

impl Group {
    fn new(first: (Expr, usize), and: bool) -> Group {
        // Most groups have two operands: room for exactly two (a list grows from four).
        let mut g = Group { and, xs: Vec::with_capacity(2), depth: 0 };
        g.push(first);
        g
    }

    fn push(&mut self, (mut x, depth): (Expr, usize)) {
        if same_kind(&x, self.and) {
            self.depth = self.depth.max(depth);
            if let Expr::And(inner) | Expr::Or(inner) = &mut x {
                self.xs.append(inner);
            }
        } else {
            self.depth = self.depth.max(depth + 1);
            self.xs.push(x);
        }
    }

    fn finish(self) -> (Expr, usize) {
        (if self.and { Expr::And(self.xs) } else { Expr::Or(self.xs) }, self.depth)
    }
}

impl Query {
    /// Parses query text (grammar in [`Query`](crate::Query#grammar)).
    ///
    /// ```
    /// use audience::Query;
    /// let q = Query::parse("vip AND NOT churned")?;
    /// assert_eq!(q.to_string(), "vip AND NOT churned");
    /// assert!(matches!(Query::parse("vip AND"), Err(audience::Error::Parse { .. })));
    /// # Ok::<(), audience::Error>(())
    /// ```
    pub fn parse(text: &str) -> Result<Query> {
        parse(text)
    }
}

impl std::str::FromStr for Query {
    type Err = Error;
    fn from_str(text: &str) -> Result<Query> {
        parse(text)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tag(n: &str) -> Expr {
        Expr::Tag(TagRef::new(n.into(), None))
    }

    #[test]
    fn precedence_or_and_not() {
        let q = parse("a OR b AND NOT c").unwrap();
        assert_eq!(q.expr(), &Expr::Or(vec![tag("a"), Expr::And(vec![tag("b"), Expr::Not(Box::new(tag("c")))])]));
    }

    #[test]
    fn keywords_case_insensitive_and_groups_flatten() {
        let q = parse("a and (b AnD c) or (d)").unwrap();
        assert_eq!(q.expr(), &Expr::Or(vec![Expr::And(vec![tag("a"), tag("b"), tag("c")]), tag("d")]));
    }

    #[test]
    fn quoted_names_and_escapes() {
        let q = parse(r#""High Value" AND "a \"q\" \\ b" AND "and""#).unwrap();
        assert_eq!(q.expr(), &Expr::And(vec![tag("High Value"), tag(r#"a "q" \ b"#), tag("and")]));
        let q = parse("高消费 OR interest/sports OR tier:gold OR a(b)").unwrap_err();
        // a(b) is the name a followed by a group: an error, since terms need AND/OR
        assert!(matches!(q, Error::Parse { .. }));
    }

    #[test]
    fn spans_point_at_names() {
        let q = parse("vip AND  高消费").unwrap();
        let Expr::And(xs) = q.expr() else { panic!() };
        let Expr::Tag(t) = &xs[1] else { panic!() };
        assert_eq!(t.span(), Some(Span::new(9, 18)));
    }

    fn parse_err(text: &str) -> (Span, String) {
        match parse(text) {
            Err(Error::Parse { span, message, .. }) => (span, message),
            other => panic!("{text:?}: {other:?}"),
        }
    }

    #[test]
    fn errors_point_at_the_problem() {
        assert_eq!(parse_err("vip AND (x").0, Span::new(10, 10));
        assert_eq!(parse_err("vip AND").0, Span::new(7, 7));
        assert_eq!(parse_err("vip outdoor").0, Span::new(4, 11));
        assert_eq!(parse_err("a)").0, Span::new(1, 2));
        assert_eq!(parse_err("age == 3").0, Span::new(4, 6));
        assert_eq!(parse_err("age >= x").0, Span::new(7, 8));
        assert_eq!(parse_err("age >=").0, Span::new(6, 6));
        assert_eq!(parse_err(">= 3").0, Span::new(0, 2));
        assert_eq!(parse_err("age > 9223372036854775808").0, Span::new(6, 25));
        assert_eq!(parse_err("\"abc").0, Span::new(0, 4));
        assert_eq!(parse_err(r#""a\n""#).0, Span::new(2, 4));
        assert_eq!(parse_err("   ").0, Span::new(0, 3));
        assert_eq!(parse_err("\"\"").0, Span::new(0, 2));
        assert_eq!(parse_err("AND").0, Span::new(0, 3));
    }

    #[test]
    fn depth_limit_is_an_error() {
        let deep = format!("{}a{}", "(".repeat(MAX_QUERY_DEPTH + 1), ")".repeat(MAX_QUERY_DEPTH + 1));
        assert!(parse_err(&deep).1.contains("nested deeper"));
        let ok = format!("{}a{}", "(".repeat(MAX_QUERY_DEPTH), ")".repeat(MAX_QUERY_DEPTH));
        assert!(parse(&ok).is_ok());
        // Within the paren limit, but the tree crosses the depth limit: the error points at
        // the group that crosses it, not at the whole query.
        let text = format!("{}a{}", "a OR b AND NOT (".repeat(100), ")".repeat(100));
        let (span, msg) = parse_err(&text);
        assert!(msg.contains("nested deeper"), "{msg}");
        assert!(span.start > 0 && span.end < text.len(), "{span:?} of {}", text.len());
        let nots = format!("{}a", "NOT ".repeat(MAX_QUERY_DEPTH + 1));
        assert!(parse_err(&nots).1.contains("nested deeper"));
    }
}
