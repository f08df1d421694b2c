//! The fields a filter names, each with its aliases (ss's `sport`, `src`) and the kind of value
//! it compares.

use std::net::IpAddr;

use crate::model::SocketState;

/// A field of a row, as a filter names it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Field {
    Proto,
    /// Either port.
    Port,
    LocalPort,
    RemotePort,
    /// Either address.
    Addr,
    LocalAddr,
    RemoteAddr,
    State,
    Pid,
    Program,
    Exe,
    User,
    /// The systemd unit or container that supervises a holder.
    Unit,
    Netns,
    Verdict,
    /// The rule (check) of a finding about the socket.
    Rule,
    Service,
}

/// How a field's values compare.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Kind {
    /// A number (`<`, `>` allowed); ports also take `:443` and service names.
    Number,
    Port,
    Address,
    Text,
    State,
    Verdict,
}

/// One value a row has for a field. A field may have several (every holder's pid); a condition
/// holds when one of them satisfies it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Value<'a> {
    Number(u64),
    Address(IpAddr),
    Text(std::borrow::Cow<'a, str>),
    State(SocketState),
    /// 0 none, 1 info, 2 warning, 3 alert.
    Verdict(u8),
}

impl Field {
    /// Every field with its names; the first name is the one documented and listed in errors.
    pub const NAMES: &'static [(Field, &'static [&'static str])] = &[
        (Field::Proto, &["proto", "protocol"]),
        (Field::Port, &["port"]),
        (Field::LocalPort, &["lport", "sport", "local-port"]),
        (Field::RemotePort, &["rport", "dport", "remote-port"]),
        (Field::Addr, &["addr", "address"]),
        (Field::LocalAddr, &["local", "src", "laddr"]),
        (Field::RemoteAddr, &["remote", "dst", "raddr"]),
        (Field::State, &["state"]),
        (Field::Pid, &["pid"]),
        (Field::Program, &["program", "process", "comm"]),
        (Field::Exe, &["exe"]),
        (Field::User, &["user", "uid"]),
        (Field::Unit, &["unit", "container"]),
        (Field::Netns, &["netns", "namespace"]),
        (Field::Verdict, &["verdict"]),
        (Field::Rule, &["rule", "finding"]),
        (Field::Service, &["service"]),
    ];

    /// The field a word names, in any case.
    pub fn named(word: &str) -> Option<Field> {
        let word = word.to_ascii_lowercase().replace('_', "-");
        Field::NAMES
            .iter()
            .find(|(_, names)| names.contains(&word.as_str()))
            .map(|&(field, _)| field)
    }

    /// The name documentation and errors use.
    pub fn name(self) -> &'static str {
        Field::NAMES
            .iter()
            .find(|(f, _)| *f == self)
            .map_or("?", |(_, names)| names[0])
    }

    /// The documented names, comma-separated, for an error message and shell completions.
    pub fn list() -> String {
        Field::NAMES
            .iter()
            .map(|(_, names)| names[0])
            .collect::<Vec<_>>()
            .join(", ")
    }

    pub(crate) fn kind(self) -> Kind {
        match self {
            Field::Port | Field::LocalPort | Field::RemotePort => Kind::Port,
            Field::Pid => Kind::Number,
            Field::Addr | Field::LocalAddr | Field::RemoteAddr => Kind::Address,
            Field::State => Kind::State,
            Field::Verdict => Kind::Verdict,
            Field::Proto
            | Field::Program
            | Field::Exe
            | Field::User
            | Field::Unit
            | Field::Netns
            | Field::Rule
            | Field::Service => Kind::Text,
        }
    }
}

/// A verdict's rank: `none` below `info` below `warning` below `alert`.
pub(crate) fn verdict_rank(word: &str) -> Option<u8> {
    match word.to_ascii_lowercase().as_str() {
        "none" | "clean" => Some(0),
        "info" => Some(1),
        "warning" | "warn" => Some(2),
        "alert" => Some(3),
        _ => None,
    }
}
