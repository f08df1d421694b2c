//! The order of listed sockets (`list --sort state,port`): a field a user sees, compared the way
//! a person expects (addresses as addresses, ports and queues as numbers, names as text).

use std::cmp::Ordering;
use std::fmt;

use crate::model::Socket;

/// A field to sort sockets by.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SortKey {
    Proto,
    Local,
    Remote,
    /// The local port alone.
    Port,
    State,
    Pid,
    Program,
    User,
    Netns,
    Inode,
    RecvQ,
    SendQ,
}

/// A field name [`SortKey`] does not know.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("cannot sort by {name:?}: use one of {}", SortKey::NAMES.join(", "))]
pub struct UnknownSortKey {
    pub name: String,
}

impl SortKey {
    pub const NAMES: &'static [&'static str] = &[
        "proto", "local", "remote", "port", "state", "pid", "program", "user", "netns", "inode", "recv-q",
        "send-q",
    ];

    /// Compares two sockets by this field; sockets no process holds sort after held ones.
    pub fn compare(self, a: &Socket, b: &Socket) -> Ordering {
        let holder = |s: &Socket| s.holders.first().map(|h| h.process.clone());
        match self {
            SortKey::Proto => (a.protocol, a.family).cmp(&(b.protocol, b.family)),
            SortKey::Local => (a.local.address, a.local.port).cmp(&(b.local.address, b.local.port)),
            SortKey::Remote => (a.remote.address, a.remote.port).cmp(&(b.remote.address, b.remote.port)),
            SortKey::Port => a.local.port.cmp(&b.local.port),
            SortKey::State => a.state.as_str().cmp(b.state.as_str()),
            SortKey::Pid => last_if_none(holder(a).map(|p| p.pid), holder(b).map(|p| p.pid)),
            SortKey::Program => last_if_none(
                holder(a).map(|p| p.name.clone()),
                holder(b).map(|p| p.name.clone()),
            ),
            SortKey::User => {
                let user = |s: &Socket| {
                    holder(s)
                        .and_then(|p| p.user.clone())
                        .unwrap_or_else(|| s.uid.to_string())
                };
                user(a).cmp(&user(b))
            }
            SortKey::Netns => a.netns.label().cmp(&b.netns.label()),
            SortKey::Inode => a.inode.cmp(&b.inode),
            SortKey::RecvQ => a.recv_queue.cmp(&b.recv_queue),
            SortKey::SendQ => a.send_queue.cmp(&b.send_queue),
        }
    }

    /// Compares by each key in turn, the first that differs deciding.
    pub fn compare_all(keys: &[SortKey], a: &Socket, b: &Socket) -> Ordering {
        keys.iter()
            .map(|k| k.compare(a, b))
            .find(|o| o.is_ne())
            .unwrap_or(Ordering::Equal)
    }
}

fn last_if_none<T: Ord>(a: Option<T>, b: Option<T>) -> Ordering {
    match (a, b) {
        (Some(a), Some(b)) => a.cmp(&b),
        (Some(_), None) => Ordering::Less,
        (None, Some(_)) => Ordering::Greater,
        (None, None) => Ordering::Equal,
    }
}

impl std::str::FromStr for SortKey {
    type Err = UnknownSortKey;

    fn from_str(text: &str) -> Result<SortKey, UnknownSortKey> {
        Ok(
            match text.trim().to_ascii_lowercase().replace('_', "-").as_str() {
                "proto" | "protocol" => SortKey::Proto,
                "local" => SortKey::Local,
                "remote" | "peer" => SortKey::Remote,
                "port" | "local-port" => SortKey::Port,
                "state" => SortKey::State,
                "pid" => SortKey::Pid,
                "program" | "process" | "name" => SortKey::Program,
                "user" => SortKey::User,
                "netns" => SortKey::Netns,
                "inode" => SortKey::Inode,
                "recv-q" | "recv-queue" => SortKey::RecvQ,
                "send-q" | "send-queue" => SortKey::SendQ,
                _ => {
                    return Err(UnknownSortKey {
                        name: text.to_string(),
                    });
                }
            },
        )
    }
}

impl fmt::Display for SortKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            SortKey::Proto => "proto",
            SortKey::Local => "local",
            SortKey::Remote => "remote",
            SortKey::Port => "port",
            SortKey::State => "state",
            SortKey::Pid => "pid",
            SortKey::Program => "program",
            SortKey::User => "user",
            SortKey::Netns => "netns",
            SortKey::Inode => "inode",
            SortKey::RecvQ => "recv-q",
            SortKey::SendQ => "send-q",
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_name_parses_and_prints_back() {
        for name in SortKey::NAMES {
            let key: SortKey = name.parse().unwrap();
            assert_eq!(key.to_string(), *name);
        }
        let err = "colour".parse::<SortKey>().unwrap_err().to_string();
        assert!(err.contains("recv-q"), "{err}");
    }
}
