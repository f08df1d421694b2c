//! Feeds arbitrary text to the filter language's parser (`list FILTER`, `--filter EXPR`) and
//! evaluates what parses over a row with values of every kind: no panic, no runaway recursion,
//! and an error's span always lies on the text's character boundaries.
#![no_main]

use std::borrow::Cow;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use libfuzzer_sys::fuzz_target;
use portscope_core::filter::{Expression, Field, Row, Value};
use portscope_core::model::SocketState;

struct Every;

impl Row for Every {
    fn values(&self, field: Field) -> Vec<Value<'_>> {
        match field {
            Field::Port | Field::LocalPort | Field::RemotePort | Field::Pid => {
                vec![Value::Number(443), Value::Number(0)]
            }
            Field::Addr | Field::LocalAddr | Field::RemoteAddr => vec![
                Value::Address(IpAddr::V4(Ipv4Addr::new(198, 18, 0, 1))),
                Value::Address(IpAddr::V6(Ipv6Addr::LOCALHOST)),
            ],
            Field::State => vec![Value::State(SocketState::Listen)],
            Field::Verdict => vec![Value::Verdict(2)],
            _ => vec![
                Value::Text(Cow::Borrowed("nginx")),
                Value::Text(Cow::Borrowed("/tmp/.x/\u{1b}[2Kssh*d")),
            ],
        }
    }
}

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    match Expression::parse(&text) {
        Ok(expression) => {
            let _ = expression.matches(&Every);
            let _ = expression.require("rows", &[Field::Port]);
        }
        Err(error) => {
            assert!(text.is_char_boundary(error.span.start) && text.is_char_boundary(error.span.end));
            assert!(error.span.start <= error.span.end && error.span.end <= text.len());
            assert!(error.column >= 1);
            let _ = error.to_string();
        }
    }
});
