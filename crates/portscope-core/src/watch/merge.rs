//! Kernel events merged into watch's port table, with the polls staying the truth for what is
//! open now.
//!
//! An event reports at once what a poll would see late or never: a listener (TCP LISTEN, a bound
//! UDP socket) that opens is `opened` the moment it does, with the process that opened it; when
//! every socket of a port that events saw open is closed, the port is `closed` at once. A port
//! that opened and closed before any poll saw it is `short_lived`. Everything else (ports that
//! were open before the events started, owner changes, connections) stays the polls' business;
//! a port whose close event was lost (the kernel's buffer was full) is closed by the next poll.

use std::collections::HashMap;

use super::kernel::{SocketChange, SocketEvent};
use super::{Event, EventKind, Owner, PortKey, PortTable, Source, netns_for};
use crate::model::{Protocol, SocketState};

/// What the events know of one port.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Live {
    /// Sockets of the port that events saw open and not yet closed.
    sockets: u32,
    /// Every socket of the port was seen opening (the port was not in the table before): the
    /// last close closes the port.
    all_seen: bool,
    /// A poll has seen the port since it opened.
    polled: bool,
}

/// Follows the listeners that events open and close; see the module documentation.
pub struct EventMerge {
    /// portscope's own network namespace (its inode), whose ports have [`PortKey::netns`] 0.
    own_netns: u64,
    live: HashMap<PortKey, Live>,
    /// uid → user name, for the owners of events.
    users: HashMap<u32, String>,
}

/// Ports followed at once; beyond, new ports are left to the polls.
const MAX_LIVE: usize = 65_536;

impl EventMerge {
    pub fn new(own_netns: u64, users: HashMap<u32, String>) -> EventMerge {
        EventMerge {
            own_netns,
            live: HashMap::new(),
            users,
        }
    }

    /// The listener key of an event, or `None` for an event that does not open or close one.
    fn key(&self, event: &SocketEvent) -> Option<(PortKey, bool)> {
        let opens = match (event.protocol, event.change) {
            (Protocol::Tcp, SocketChange::Listen) | (Protocol::Udp, SocketChange::Bind) => true,
            (Protocol::Tcp | Protocol::Udp, SocketChange::Close) => false,
            _ => return None,
        };
        let netns = if event.netns == self.own_netns || event.netns == 0 {
            0
        } else {
            event.netns
        };
        Some((
            PortKey {
                protocol: event.protocol,
                address: event.local.address,
                port: event.local.port,
                remote: None,
                netns,
            },
            opens,
        ))
    }

    fn owner(&self, event: &SocketEvent) -> Option<Owner> {
        let pid = event.pid.filter(|&p| p != 0)?;
        let program = event.program.clone().or_else(|| {
            event
                .exe
                .as_deref()
                .and_then(|e| e.file_name())
                .map(|n| n.to_string_lossy().into_owned())
        })?;
        let uid = event.uid.unwrap_or(u32::MAX);
        Some(Owner {
            pid,
            program,
            exe: event.exe.clone(),
            uid,
            user: self.users.get(&uid).cloned(),
            unit: None,
        })
    }

    /// Applies one event to `table`; returns the watch event it makes, if any.
    pub fn apply(&mut self, table: &mut PortTable, event: &SocketEvent) -> Option<Event> {
        let (key, opens) = self.key(event)?;
        let make = |kind, owner: Option<Owner>, short_lived| Event {
            time_ms: event.time_ms,
            kind,
            key,
            netns: netns_for(&key, table.namespaces.get(&key.netns)),
            owner,
            previous: None,
            at_start: false,
            source: Source::Event,
            short_lived,
        };
        if opens {
            if let Some(live) = self.live.get_mut(&key) {
                live.sockets += 1;
                return None;
            }
            if table.ports.contains_key(&key) {
                // Open before the events started (or opened by a socket they missed): the polls'.
                return None;
            }
            if self.live.len() >= MAX_LIVE {
                return None;
            }
            self.live.insert(
                key,
                Live {
                    sockets: 1,
                    all_seen: true,
                    polled: false,
                },
            );
            let owner = self.owner(event);
            table.ports.insert(key, owner.clone());
            return Some(make(EventKind::Opened, owner, false));
        }
        let live = self.live.get_mut(&key)?;
        live.sockets = live.sockets.saturating_sub(1);
        if live.sockets > 0 || !live.all_seen {
            return None;
        }
        let live = self.live.remove(&key)?;
        let owner = table.ports.remove(&key)?;
        Some(make(EventKind::Closed, owner, !live.polled))
    }

    /// After a poll replaced the table: ports it no longer has are no longer followed (the poll
    /// closed them), and those it has were polled.
    pub fn polled(&mut self, table: &PortTable) {
        self.live.retain(|key, live| {
            live.polled = true;
            table.ports.contains_key(key)
        });
    }

    /// Ports followed now.
    pub fn following(&self) -> usize {
        self.live.len()
    }
}

/// The event a TCP state change is, as [`SocketChange`] names it.
pub fn tcp_change(from: SocketState, to: SocketState) -> SocketChange {
    use SocketState::*;
    match (from, to) {
        (_, Listen) => SocketChange::Listen,
        (Close, SynSent) => SocketChange::Connect,
        (Listen, Close) => SocketChange::Close,
        (from, to) => SocketChange::State { from, to },
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::Endpoint;
    use std::net::{IpAddr, Ipv4Addr};

    fn event(change: SocketChange, port: u16, pid: u32) -> SocketEvent {
        SocketEvent {
            time_ms: 1_000,
            change,
            protocol: Protocol::Tcp,
            local: Endpoint::new(IpAddr::V4(Ipv4Addr::new(198, 18, 0, 1)), port),
            remote: None,
            netns: 7,
            pid: Some(pid),
            exe: Some("/usr/bin/python3.11".into()),
            program: Some("python3".into()),
            uid: Some(0),
        }
    }

    fn merge() -> EventMerge {
        EventMerge::new(7, [(0, "root".to_string())].into())
    }

    #[test]
    fn a_listener_between_two_polls_is_opened_and_closed_short_lived() {
        let mut m = merge();
        let mut table = PortTable::default();
        let opened = m
            .apply(&mut table, &event(SocketChange::Listen, 7000, 42))
            .unwrap();
        assert_eq!(opened.kind, EventKind::Opened);
        assert_eq!(opened.source, Source::Event);
        assert_eq!(opened.key.netns, 0, "portscope's own namespace");
        let owner = opened.owner.clone().unwrap();
        assert_eq!((owner.pid, owner.user.as_deref()), (42, Some("root")));
        assert_eq!(
            owner.exe.as_deref(),
            Some(std::path::Path::new("/usr/bin/python3.11"))
        );
        assert_eq!(table.len(), 1);
        let closed = m
            .apply(&mut table, &event(SocketChange::Close, 7000, 42))
            .unwrap();
        assert_eq!((closed.kind, closed.short_lived), (EventKind::Closed, true));
        assert_eq!(closed.owner.map(|o| o.pid), Some(42));
        assert!(table.is_empty());
        let json = serde_json::to_value(opened.json()).unwrap();
        assert_eq!(json["source"], "event");
        assert!(json.get("short_lived").is_none());
    }

    #[test]
    fn a_port_open_before_the_events_is_left_to_the_polls() {
        let mut m = merge();
        let mut table = PortTable::default();
        let key = m.key(&event(SocketChange::Listen, 22, 1)).unwrap().0;
        table.ports.insert(key, None);
        assert!(m.apply(&mut table, &event(SocketChange::Listen, 22, 5)).is_none());
        assert!(m.apply(&mut table, &event(SocketChange::Close, 22, 5)).is_none());
        assert_eq!(table.len(), 1);
    }

    #[test]
    fn a_shared_port_closes_with_its_last_socket_and_a_polled_one_is_not_short_lived() {
        let mut m = merge();
        let mut table = PortTable::default();
        m.apply(&mut table, &event(SocketChange::Listen, 80, 10));
        assert!(
            m.apply(&mut table, &event(SocketChange::Listen, 80, 11))
                .is_none()
        );
        m.polled(&table);
        assert!(m.apply(&mut table, &event(SocketChange::Close, 80, 11)).is_none());
        let closed = m.apply(&mut table, &event(SocketChange::Close, 80, 10)).unwrap();
        assert!(!closed.short_lived);
    }

    #[test]
    fn a_poll_that_closed_the_port_ends_following_it() {
        let mut m = merge();
        let mut table = PortTable::default();
        m.apply(&mut table, &event(SocketChange::Listen, 80, 10));
        m.polled(&PortTable::default());
        assert_eq!(m.following(), 0);
        let mut table = PortTable::default();
        assert!(m.apply(&mut table, &event(SocketChange::Close, 80, 10)).is_none());
    }

    #[test]
    fn another_namespace_is_keyed_by_its_inode_and_connections_are_not_ports() {
        let mut m = merge();
        let mut table = PortTable::default();
        let mut e = event(SocketChange::Listen, 80, 10);
        e.netns = 99;
        assert_eq!(m.apply(&mut table, &e).unwrap().key.netns, 99);
        assert!(
            m.apply(&mut table, &event(SocketChange::Connect, 80, 10))
                .is_none()
        );
        assert_eq!(
            tcp_change(SocketState::Listen, SocketState::Close),
            SocketChange::Close
        );
        assert_eq!(
            tcp_change(SocketState::Close, SocketState::SynSent),
            SocketChange::Connect
        );
    }
}
