//! Evaluating an [`Expression`] over a row: a condition holds when one of the row's values for
//! its field satisfies it (a socket with two holders matches `pid = A` and `pid = B`);
//! `field != v` is `not field = v`, so a socket with no holder matches `pid != 5`.

use std::cmp::Ordering;

use super::field::{Field, Value};
use super::parse::{Condition, Expression, Node, Op, Operand};

/// Something a filter looks at: a live socket joined with its holders, a history row.
pub trait Row {
    /// Every value the row has for `field`; empty when it has none (a socket no process holds
    /// has no pid).
    fn values(&self, field: Field) -> Vec<Value<'_>>;
}

impl Expression {
    pub fn matches(&self, row: &dyn Row) -> bool {
        self.root.matches(row)
    }
}

impl Node {
    fn matches(&self, row: &dyn Row) -> bool {
        match self {
            Node::And(a, b) => a.matches(row) && b.matches(row),
            Node::Or(a, b) => a.matches(row) || b.matches(row),
            Node::Not(a) => !a.matches(row),
            Node::Cond(c) if c.op == Op::Ne => !c.holds(row, Op::Eq),
            Node::Cond(c) => c.holds(row, c.op),
        }
    }
}

impl Condition {
    fn holds(&self, row: &dyn Row, op: Op) -> bool {
        row.values(self.field).iter().any(|value| self.test(value, op))
    }

    fn test(&self, value: &Value<'_>, op: Op) -> bool {
        match (value, &self.operand) {
            (Value::Number(n), Operand::Number(m)) => ordered(n.cmp(m), op),
            (Value::Verdict(n), Operand::Verdict(m)) => ordered(n.cmp(m), op),
            (Value::Address(a), Operand::Net(net)) => net.contains(a) || net.contains(&a.to_canonical()),
            (Value::Address(a), Operand::Text(pattern)) => like(&a.to_string(), pattern),
            (Value::Text(t), Operand::Text(s)) if op == Op::Match => like(t, s),
            (Value::Text(t), Operand::Text(s)) => match self.field {
                // Names a person types in any case; paths, users and units are exact.
                Field::Proto | Field::Rule | Field::Service | Field::Netns => t.eq_ignore_ascii_case(s),
                _ => t == s,
            },
            (Value::State(state), Operand::States(set)) => set.contains(*state),
            _ => false,
        }
    }
}

fn ordered(order: Ordering, op: Op) -> bool {
    match op {
        Op::Eq => order.is_eq(),
        Op::Ne => order.is_ne(),
        Op::Lt => order.is_lt(),
        Op::Le => order.is_le(),
        Op::Gt => order.is_gt(),
        Op::Ge => order.is_ge(),
        Op::Match => false,
    }
}

/// `~`: a whole-text glob (`*`, `?`) when the pattern has a wildcard, else a substring; case is
/// ignored (the pattern was lowered when parsed).
fn like(text: &str, pattern: &str) -> bool {
    let text = text.to_lowercase();
    if pattern.contains(['*', '?']) {
        glob(text.as_bytes(), pattern.as_bytes())
    } else {
        text.contains(pattern)
    }
}

/// Iterative glob with one backtrack point: linear in practice, never exponential, whatever a
/// pattern or a process name holds.
fn glob(text: &[u8], pattern: &[u8]) -> bool {
    let (mut t, mut p) = (0, 0);
    let mut star: Option<(usize, usize)> = None;
    while t < text.len() {
        match pattern.get(p) {
            Some(b'*') => {
                star = Some((p, t));
                p += 1;
            }
            Some(&c) if c == b'?' || c == text[t] => {
                p += 1;
                t += 1;
            }
            _ => match star {
                Some((sp, st)) => {
                    p = sp + 1;
                    t = st + 1;
                    star = Some((sp, st + 1));
                }
                None => return false,
            },
        }
    }
    pattern[p..].iter().all(|&c| c == b'*')
}

#[cfg(test)]
mod tests {
    use super::glob;

    #[test]
    fn globs_match_whole_text() {
        assert!(glob(b"nginx", b"ngi*"));
        assert!(glob(b"nginx", b"*x"));
        assert!(glob(b"nginx", b"n?inx"));
        assert!(!glob(b"nginx", b"ngi"));
        assert!(glob(b"", b"*"));
        assert!(!glob(b"abc", b"*d*"));
    }
}
