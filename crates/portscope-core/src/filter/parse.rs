//! Lexer and parser: filter text to an [`Expression`], or a [`FilterError`] that names the bad
//! token and its column.

use std::fmt;
use std::ops::Range;

use ipnet::IpNet;

use super::field::{Field, Kind, verdict_rank};
use crate::state_names::StateSet;

/// Nesting deeper than this (`not not (((…`) is refused rather than risking the stack.
const MAX_DEPTH: usize = 64;

/// A parsed filter, ready to evaluate over rows.
#[derive(Clone, Debug, PartialEq)]
pub struct Expression {
    pub(super) root: Node,
}

#[derive(Clone, Debug, PartialEq)]
pub(super) enum Node {
    And(Box<Node>, Box<Node>),
    Or(Box<Node>, Box<Node>),
    Not(Box<Node>),
    Cond(Condition),
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Op {
    Eq,
    Ne,
    Lt,
    Le,
    Gt,
    Ge,
    /// `~`: a glob when the value has `*` or `?`, else a substring; case is ignored.
    Match,
}

/// What a condition compares with, checked against its field when parsed.
#[derive(Clone, Debug, PartialEq)]
pub(super) enum Operand {
    Number(u64),
    Net(IpNet),
    Text(String),
    States(StateSet),
    Verdict(u8),
}

#[derive(Clone, Debug, PartialEq)]
pub(super) struct Condition {
    pub field: Field,
    pub op: Op,
    pub operand: Operand,
    /// Where the field's name is, for [`Expression::require`]'s error.
    pub name: String,
    pub column: usize,
}

/// What is wrong with a filter, at which token.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub struct FilterError {
    pub problem: Problem,
    /// The offending token as written ("" at the end of the text).
    pub token: String,
    /// Its byte range in the filter text.
    pub span: Range<usize>,
    /// Its column (1-based, in characters), as the message says.
    pub column: usize,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Problem {
    Empty,
    UnknownField,
    /// The field exists, but the rows being filtered do not have it; the fields they have.
    FieldNotHere {
        rows: String,
        fields: String,
    },
    BadValue {
        field: &'static str,
        why: String,
    },
    /// `<` on a text field, `~` on a number.
    OperatorNotFor {
        field: &'static str,
        allowed: &'static str,
    },
    Expected(&'static str),
    Unclosed,
    UnterminatedQuote,
    UnexpectedChar,
    TooDeep,
}

impl fmt::Display for FilterError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let token = crate::render::escape(&self.token);
        let at = self.column;
        match &self.problem {
            Problem::Empty => f.write_str("empty filter: write a condition such as 'port = 443'"),
            Problem::UnknownField => write!(
                f,
                "unknown field '{token}' at column {at} (fields: {})",
                Field::list()
            ),
            Problem::FieldNotHere { rows, fields } => write!(
                f,
                "{rows} have no field '{token}' (column {at}); they have: {fields}"
            ),
            Problem::BadValue { field, why } => {
                write!(f, "bad value '{token}' for {field} at column {at}: {why}")
            }
            Problem::OperatorNotFor { field, allowed } => write!(
                f,
                "operator '{token}' at column {at} does not apply to {field} (use {allowed})"
            ),
            Problem::Expected(what) if self.token.is_empty() => {
                write!(f, "expected {what} at the end (column {at})")
            }
            Problem::Expected(what) => {
                write!(f, "expected {what} at column {at}, found '{token}'")
            }
            Problem::Unclosed => write!(f, "'(' at column {at} is never closed"),
            Problem::UnterminatedQuote => write!(f, "quote at column {at} is never closed"),
            Problem::UnexpectedChar => write!(f, "unexpected '{token}' at column {at}"),
            Problem::TooDeep => write!(f, "filter nested deeper than {MAX_DEPTH} levels at column {at}"),
        }
    }
}

#[derive(Clone, Debug, PartialEq, Eq)]
enum Tok {
    Word(String),
    Quoted(String),
    Op(Op),
    And,
    Or,
    Not,
    Open,
    Close,
}

struct Token {
    tok: Tok,
    span: Range<usize>,
}

/// Characters that end a bare word.
fn is_special(c: char) -> bool {
    c.is_whitespace() || "()'\"=!<>~&|".contains(c)
}

fn lex(text: &str) -> Result<Vec<Token>, FilterError> {
    let mut tokens = Vec::new();
    let mut chars = text.char_indices().peekable();
    while let Some(&(start, c)) = chars.peek() {
        if c.is_whitespace() {
            chars.next();
            continue;
        }
        chars.next();
        let next = chars.peek().map(|&(_, n)| n);
        let two = |tok: Tok, chars: &mut std::iter::Peekable<std::str::CharIndices<'_>>| {
            chars.next();
            Token {
                tok,
                span: start..start + 2,
            }
        };
        let one = |tok: Tok| Token {
            tok,
            span: start..start + c.len_utf8(),
        };
        let token = match (c, next) {
            ('(', _) => one(Tok::Open),
            (')', _) => one(Tok::Close),
            ('=', Some('=')) => two(Tok::Op(Op::Eq), &mut chars),
            ('=', _) => one(Tok::Op(Op::Eq)),
            ('!', Some('=')) => two(Tok::Op(Op::Ne), &mut chars),
            ('!', _) => one(Tok::Not),
            ('<', Some('=')) => two(Tok::Op(Op::Le), &mut chars),
            ('<', _) => one(Tok::Op(Op::Lt)),
            ('>', Some('=')) => two(Tok::Op(Op::Ge), &mut chars),
            ('>', _) => one(Tok::Op(Op::Gt)),
            ('~', _) => one(Tok::Op(Op::Match)),
            ('&', Some('&')) => two(Tok::And, &mut chars),
            ('|', Some('|')) => two(Tok::Or, &mut chars),
            ('\'' | '"', _) => {
                let close = text[start + 1..].find(c).ok_or_else(|| FilterError {
                    problem: Problem::UnterminatedQuote,
                    token: c.to_string(),
                    span: start..start + 1,
                    column: column(text, start),
                })?;
                let end = start + 1 + close;
                while chars.peek().is_some_and(|&(i, _)| i <= end) {
                    chars.next();
                }
                Token {
                    tok: Tok::Quoted(text[start + 1..end].to_string()),
                    span: start..end + 1,
                }
            }
            ('&' | '|', _) => {
                return Err(FilterError {
                    problem: Problem::UnexpectedChar,
                    token: c.to_string(),
                    span: start..start + 1,
                    column: column(text, start),
                });
            }
            _ => {
                let mut end = start + c.len_utf8();
                while let Some(&(i, n)) = chars.peek() {
                    if is_special(n) {
                        break;
                    }
                    end = i + n.len_utf8();
                    chars.next();
                }
                let word = &text[start..end];
                let tok = match word.to_ascii_lowercase().as_str() {
                    "and" => Tok::And,
                    "or" => Tok::Or,
                    "not" => Tok::Not,
                    _ => Tok::Word(word.to_string()),
                };
                Token {
                    tok,
                    span: start..end,
                }
            }
        };
        tokens.push(token);
    }
    Ok(tokens)
}

/// The 1-based character column of byte offset `at`.
fn column(text: &str, at: usize) -> usize {
    text.get(..at).map_or(at, |t| t.chars().count()) + 1
}

/// ss's word operators (`sport eq :443`).
fn word_op(word: &str) -> Option<Op> {
    Some(match word.to_ascii_lowercase().as_str() {
        "eq" => Op::Eq,
        "ne" | "neq" => Op::Ne,
        "lt" => Op::Lt,
        "le" | "leq" => Op::Le,
        "gt" => Op::Gt,
        "ge" | "geq" => Op::Ge,
        _ => return None,
    })
}

struct Parser<'t> {
    text: &'t str,
    tokens: Vec<Token>,
    at: usize,
    depth: usize,
}

impl Expression {
    /// Parses `text`; every value is checked against its field here.
    pub fn parse(text: &str) -> Result<Expression, FilterError> {
        let tokens = lex(text)?;
        if tokens.is_empty() {
            return Err(FilterError {
                problem: Problem::Empty,
                token: String::new(),
                span: 0..0,
                column: 1,
            });
        }
        let mut parser = Parser {
            text,
            tokens,
            at: 0,
            depth: 0,
        };
        let root = parser.or()?;
        if parser.at < parser.tokens.len() {
            return Err(parser.error_here(Problem::Expected("'and', 'or' or the end")));
        }
        Ok(Expression { root })
    }

    /// Refuses a field the rows being filtered do not have (history keeps fewer than a live
    /// socket): `rows` names them ("history rows"), `fields` are the ones they have.
    pub fn require(&self, rows: &str, fields: &[Field]) -> Result<(), FilterError> {
        let mut missing = None;
        self.root.each_condition(&mut |c| {
            if missing.is_none() && !fields.contains(&c.field) {
                missing = Some(c.clone());
            }
        });
        match missing {
            None => Ok(()),
            Some(c) => Err(FilterError {
                problem: Problem::FieldNotHere {
                    rows: rows.to_string(),
                    fields: fields.iter().map(|f| f.name()).collect::<Vec<_>>().join(", "),
                },
                span: 0..0,
                column: c.column,
                token: c.name,
            }),
        }
    }

    /// Every field the expression names.
    pub fn fields(&self) -> Vec<Field> {
        let mut fields = Vec::new();
        self.root.each_condition(&mut |c| fields.push(c.field));
        fields.sort();
        fields.dedup();
        fields
    }
}

impl Node {
    fn each_condition(&self, f: &mut dyn FnMut(&Condition)) {
        match self {
            Node::And(a, b) | Node::Or(a, b) => {
                a.each_condition(f);
                b.each_condition(f);
            }
            Node::Not(a) => a.each_condition(f),
            Node::Cond(c) => f(c),
        }
    }
}

impl Parser<'_> {
    fn peek(&self) -> Option<&Tok> {
        self.tokens.get(self.at).map(|t| &t.tok)
    }

    fn error_at(&self, index: usize, problem: Problem) -> FilterError {
        match self.tokens.get(index) {
            Some(t) => FilterError {
                problem,
                token: self.text[t.span.clone()].to_string(),
                span: t.span.clone(),
                column: column(self.text, t.span.start),
            },
            None => FilterError {
                problem,
                token: String::new(),
                span: self.text.len()..self.text.len(),
                column: column(self.text, self.text.len()),
            },
        }
    }

    fn error_here(&self, problem: Problem) -> FilterError {
        self.error_at(self.at, problem)
    }

    fn enter(&mut self) -> Result<(), FilterError> {
        self.depth += 1;
        if self.depth > MAX_DEPTH {
            return Err(self.error_here(Problem::TooDeep));
        }
        Ok(())
    }

    fn or(&mut self) -> Result<Node, FilterError> {
        self.enter()?;
        let mut node = self.and()?;
        while self.peek() == Some(&Tok::Or) {
            self.at += 1;
            node = Node::Or(Box::new(node), Box::new(self.and()?));
        }
        self.depth -= 1;
        Ok(node)
    }

    /// `a and b`, or ss's `a b` (conditions side by side are all required).
    fn and(&mut self) -> Result<Node, FilterError> {
        let mut node = self.unary()?;
        loop {
            match self.peek() {
                Some(Tok::And) => self.at += 1,
                Some(Tok::Word(_) | Tok::Not | Tok::Open) => {}
                _ => break,
            }
            node = Node::And(Box::new(node), Box::new(self.unary()?));
        }
        Ok(node)
    }

    fn unary(&mut self) -> Result<Node, FilterError> {
        match self.peek() {
            Some(Tok::Not) => {
                self.at += 1;
                self.enter()?;
                let inner = self.unary()?;
                self.depth -= 1;
                Ok(Node::Not(Box::new(inner)))
            }
            Some(Tok::Open) => {
                let open = self.at;
                self.at += 1;
                let inner = self.or()?;
                match self.peek() {
                    Some(Tok::Close) => {
                        self.at += 1;
                        Ok(inner)
                    }
                    None => Err(self.error_at(open, Problem::Unclosed)),
                    Some(_) => Err(self.error_here(Problem::Expected("')'"))),
                }
            }
            Some(Tok::Word(_)) => self.condition(),
            _ => Err(self.error_here(Problem::Expected("a field name, 'not' or '('"))),
        }
    }

    fn condition(&mut self) -> Result<Node, FilterError> {
        let name_at = self.at;
        let Some(Tok::Word(name)) = self.peek().cloned() else {
            return Err(self.error_here(Problem::Expected("a field name")));
        };
        let field = Field::named(&name).ok_or_else(|| self.error_here(Problem::UnknownField))?;
        self.at += 1;
        let value_follows = |p: &Parser<'_>, i: usize| {
            matches!(
                p.tokens.get(i).map(|t| &t.tok),
                Some(Tok::Word(_) | Tok::Quoted(_))
            )
        };
        let op_at = self.at;
        let op = match self.peek().cloned() {
            Some(Tok::Op(op)) => {
                self.at += 1;
                op
            }
            Some(Tok::Word(w)) if word_op(&w).is_some() && value_follows(self, self.at + 1) => {
                let op = word_op(&w).unwrap_or(Op::Eq);
                self.at += 1;
                op
            }
            // ss's `src 198.18.0.1`, `dst 198.18.0.0/15`: a value right after the field.
            Some(Tok::Word(_) | Tok::Quoted(_)) => Op::Eq,
            _ => {
                return Err(self.error_here(Problem::Expected(
                    "an operator (=, !=, <, <=, >, >=, ~) or a value",
                )));
            }
        };
        let value_at = self.at;
        let value = match self.peek() {
            Some(Tok::Word(w) | Tok::Quoted(w)) => w.clone(),
            _ => return Err(self.error_here(Problem::Expected("a value"))),
        };
        self.at += 1;
        let kind = field.kind();
        let ordered = matches!(op, Op::Lt | Op::Le | Op::Gt | Op::Ge);
        let allowed = match kind {
            Kind::Number | Kind::Port | Kind::Verdict => {
                (op != Op::Match).then_some(()).ok_or("=, !=, <, <=, > or >=")
            }
            Kind::Address | Kind::Text => (!ordered).then_some(()).ok_or("=, != or ~"),
            Kind::State => (!ordered && op != Op::Match).then_some(()).ok_or("= or !="),
        };
        if let Err(allowed) = allowed {
            return Err(self.error_at(
                op_at,
                Problem::OperatorNotFor {
                    field: field.name(),
                    allowed,
                },
            ));
        }
        let bad = |p: &Parser<'_>, why: String| {
            p.error_at(
                value_at,
                Problem::BadValue {
                    field: field.name(),
                    why,
                },
            )
        };
        let operand = match kind {
            Kind::Number => Operand::Number(
                value
                    .parse::<u64>()
                    .map_err(|_| bad(self, "a number is expected".into()))?,
            ),
            Kind::Port => Operand::Number(u64::from(port(&value).map_err(|why| bad(self, why))?)),
            Kind::Address if op == Op::Match => Operand::Text(value.to_ascii_lowercase()),
            Kind::Address => Operand::Net(address(&value).ok_or_else(|| {
                bad(
                    self,
                    "an IP address or a CIDR block is expected (198.18.0.1, fd00::/8)".into(),
                )
            })?),
            Kind::Text if op == Op::Match => Operand::Text(value.to_lowercase()),
            Kind::Text => Operand::Text(value),
            Kind::State => Operand::States(StateSet::parse(&value).map_err(|e| bad(self, e.to_string()))?),
            Kind::Verdict => Operand::Verdict(
                verdict_rank(&value).ok_or_else(|| bad(self, "one of none, info, warning, alert".into()))?,
            ),
        };
        let start = self.tokens[name_at].span.start;
        Ok(Node::Cond(Condition {
            field,
            op,
            operand,
            name,
            column: column(self.text, start),
        }))
    }
}

/// A port as ss writes it (`:443`), a number (0 allowed, for `sport > :0`), or a service name.
fn port(text: &str) -> Result<u16, String> {
    let text = text.strip_prefix(':').unwrap_or(text);
    if !text.is_empty() && text.bytes().all(|b| b.is_ascii_digit()) {
        return text
            .parse::<u16>()
            .map_err(|_| "a port is a number from 0 to 65535".to_string());
    }
    crate::knowledge::port_argument(text)
}

/// An address or CIDR block; `[fd00::1]` as URLs bracket it, and a bare address is its own /32
/// or /128.
fn address(text: &str) -> Option<IpNet> {
    let text = text
        .strip_prefix('[')
        .and_then(|t| t.strip_suffix(']'))
        .unwrap_or(text);
    if let Ok(net) = text.parse::<IpNet>() {
        return Some(net.trunc());
    }
    text.parse::<std::net::IpAddr>().ok().map(IpNet::from)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The tree without how each field was spelled and where.
    fn shape(node: &Node) -> String {
        match node {
            Node::And(a, b) => format!("({} and {})", shape(a), shape(b)),
            Node::Or(a, b) => format!("({} or {})", shape(a), shape(b)),
            Node::Not(a) => format!("not {}", shape(a)),
            Node::Cond(c) => format!("{:?} {:?} {:?}", c.field, c.op, c.operand),
        }
    }

    fn error(text: &str) -> FilterError {
        Expression::parse(text).expect_err(text)
    }

    #[test]
    fn ss_spellings_parse_as_the_language_does() {
        let same = [
            ("sport = :443", "lport = 443"),
            ("sport eq :443", "sport == 443"),
            ("dport gt :1024", "rport > 1024"),
            ("src 198.18.0.1", "local = 198.18.0.1/32"),
            ("dst 198.18.0.0/15", "remote = 198.18.0.0/15"),
            ("src 198.18.0.1 dport = :22", "src = 198.18.0.1 and dport = 22"),
            (
                "! port = 1 && (pid = 2 || pid = 3)",
                "not port = 1 and (pid = 2 or pid = 3)",
            ),
            ("port = ssh", "port = 22"),
            ("local = [fd00::1]", "local = fd00::1"),
        ];
        for (ss, ours) in same {
            let shape = |text: &str| Expression::parse(text).map(|e| shape(&e.root));
            assert_eq!(shape(ss), shape(ours), "{ss}");
        }
    }

    #[test]
    fn and_binds_tighter_than_or() {
        let e = Expression::parse("pid = 1 or pid = 2 and pid = 3").expect("parses");
        assert!(matches!(e.root, Node::Or(_, ref b) if matches!(**b, Node::And(..))));
    }

    #[test]
    fn errors_point_at_the_bad_token() {
        let e = error("prot = tcp");
        assert_eq!(
            (e.problem.clone(), e.token.as_str(), e.column),
            (Problem::UnknownField, "prot", 1)
        );
        assert!(
            e.to_string()
                .starts_with("unknown field 'prot' at column 1 (fields: proto, port, lport")
        );

        let e = error("port = 443 and état = x");
        assert_eq!((e.token.as_str(), e.column, e.span.clone()), ("état", 16, 15..20));

        let e = error("port ~ 44");
        assert_eq!((e.token.as_str(), e.column), ("~", 6));
        assert!(
            e.to_string()
                .contains("does not apply to port (use =, !=, <, <=, > or >=)"),
            "{e}"
        );

        let e = error("state = waiting");
        assert_eq!((e.token.as_str(), e.column), ("waiting", 9));
        assert!(e.to_string().contains("unknown socket state"), "{e}");

        let e = error("dst 198.18.0.0/33");
        assert!(matches!(e.problem, Problem::BadValue { .. }), "{e}");

        assert_eq!(error("verdict = bad").column, 11);
        assert_eq!(error("pid = x").column, 7);
        assert_eq!(error("program = 'nginx").problem, Problem::UnterminatedQuote);
        assert_eq!(error("(port = 1").problem, Problem::Unclosed);
        assert_eq!(error("port = 1)").token, ")");
        assert_eq!(error("port = 1 & pid = 2").problem, Problem::UnexpectedChar);
        assert_eq!(error("   ").problem, Problem::Empty);
        assert_eq!(
            error("port =").to_string(),
            "expected a value at the end (column 7)"
        );
        assert_eq!(error("port").column, 5);
    }

    #[test]
    fn deep_nesting_is_refused_not_a_stack_overflow() {
        let deep = format!("{}port = 1{}", "(".repeat(10_000), ")".repeat(10_000));
        assert_eq!(error(&deep).problem, Problem::TooDeep);
        let nots = format!("{}port = 1", "not ".repeat(10_000));
        assert_eq!(error(&nots).problem, Problem::TooDeep);
    }

    #[test]
    fn a_field_the_rows_lack_is_refused_with_its_column() {
        let e = Expression::parse("port = 22 and verdict = alert").expect("parses");
        let err = e
            .require("history rows", &[Field::Port, Field::Pid])
            .expect_err("no verdict in history");
        assert_eq!(
            err.to_string(),
            "history rows have no field 'verdict' (column 15); they have: port, pid"
        );
        assert!(e.require("sockets", &[Field::Port, Field::Verdict]).is_ok());
    }

    #[test]
    fn a_token_from_a_process_is_escaped_in_the_message() {
        let e = error("program < \u{1b}[2Kx");
        assert!(!e.to_string().contains('\u{1b}'), "{e}");
    }
}
