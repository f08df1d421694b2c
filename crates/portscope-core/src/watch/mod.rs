//! What changed between two looks at the machine: ports that opened, closed or changed owner.
//!
//! A "port" is what a user means by it: a protocol, a local address and a port number (plus the
//! peer, for connections). Several sockets can share one port (SO_REUSEPORT, a socket inherited
//! across fork); they are one port here, owned by the process at the root of the holders' tree.
//! [`PortTable::from_snapshot`] reduces a snapshot to that view, [`diff`] compares two views.
//! The poll loop lives in [`poll`]; [`queue`] holds events for a slow consumer; the history store
//! replays the same [`Event`]s.

pub mod kernel;
pub mod merge;
pub mod poll;
pub mod probes;
pub mod queue;

use std::collections::BTreeMap;
use std::net::IpAddr;
use std::path::PathBuf;
use std::sync::Arc;

use serde::{Deserialize, Serialize};

use crate::model::{Endpoint, Holder, LabelledNetns, Netns, NetnsKind, Protocol, Snapshot, Socket};
use crate::time;

/// The identity of a port: protocol, local address and port, and the peer for a connection.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct PortKey {
    pub protocol: Protocol,
    pub address: IpAddr,
    pub port: u16,
    /// The peer of a connection; `None` for a listening socket.
    pub remote: Option<Endpoint>,
    /// The network namespace, by inode, when it is not portscope's own (0): the same address and
    /// port in two containers are two ports.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub netns: u64,
}

fn is_zero(n: &u64) -> bool {
    *n == 0
}

impl PortKey {
    pub fn local(&self) -> Endpoint {
        Endpoint::new(self.address, self.port)
    }

    pub fn is_listener(&self) -> bool {
        self.remote.is_none()
    }
}

/// The program that owns a port. In JSON, an `exe` that is not UTF-8 is shown lossily and given
/// exactly in `exe_bytes`, as for [`crate::model::Process`].
#[derive(Clone, Debug, PartialEq, Eq, Hash, Deserialize)]
pub struct Owner {
    pub pid: u32,
    pub program: String,
    pub exe: Option<PathBuf>,
    pub uid: u32,
    pub user: Option<String>,
    /// The systemd unit or container that supervises the program.
    pub unit: Option<String>,
}

impl Serialize for Owner {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeStruct;
        let exe_bytes = self.exe.as_deref().and_then(crate::model::non_utf8_bytes);
        let mut s = serializer.serialize_struct("Owner", 6 + usize::from(exe_bytes.is_some()))?;
        s.serialize_field("pid", &self.pid)?;
        s.serialize_field("program", &self.program)?;
        s.serialize_field("exe", &self.exe.as_deref().map(|p| p.to_string_lossy()))?;
        if let Some(bytes) = exe_bytes {
            s.serialize_field("exe_bytes", bytes)?;
        }
        s.serialize_field("uid", &self.uid)?;
        s.serialize_field("user", &self.user)?;
        s.serialize_field("unit", &self.unit)?;
        s.end()
    }
}

impl Owner {
    fn of(holder: &Holder) -> Owner {
        let p = &holder.process;
        Owner {
            pid: p.pid,
            program: p.name.clone(),
            exe: p.exe.clone(),
            uid: p.uid,
            user: p.user.clone(),
            unit: p.supervisor.as_ref().map(ToString::to_string),
        }
    }

    /// `--process NAME`: the one rule every command uses ([`crate::program::selects`]): the
    /// executable's file name, exactly (`NAME*` for a prefix).
    pub fn matches_name(&self, name: &str) -> bool {
        crate::program::selects_parts(name, &self.program, self.exe.as_deref())
    }

    /// Another process, or the same pid running another program (after an exec). Identity is the
    /// pid and the executable: the process name (comm) is whatever the process last chose
    /// (`prctl(PR_SET_NAME)` needs no privilege), so a rename is not a new owner. Only when
    /// neither executable can be read (another user's process, without root) is the name all that
    /// tells an exec apart.
    pub fn differs_from(&self, other: &Owner) -> bool {
        self.pid != other.pid
            || self.exe != other.exe
            || (self.exe.is_none() && self.program != other.program)
    }
}

/// The ports open at one moment, each with its owner (`None` when no owner is visible).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct PortTable {
    pub ports: BTreeMap<PortKey, Option<Owner>>,
    /// The namespaces the keys name by inode ([`PortKey::netns`] other than 0), so that an event
    /// can say where its port is: name and kind, not only the inode.
    pub namespaces: BTreeMap<u64, Arc<Netns>>,
}

impl PortTable {
    /// Reduces a snapshot to ports: listening sockets always, connections when `connections`.
    pub fn from_snapshot(snapshot: &Snapshot, connections: bool) -> PortTable {
        let mut holders: BTreeMap<PortKey, Vec<&Holder>> = BTreeMap::new();
        let mut namespaces = BTreeMap::new();
        for socket in &snapshot.sockets {
            if let Some(mut key) = key_of(socket, connections) {
                if !snapshot.is_own(socket) {
                    key.netns = socket.netns.inode;
                    namespaces
                        .entry(key.netns)
                        .or_insert_with(|| Arc::clone(&socket.netns));
                }
                holders.entry(key).or_default().extend(&socket.holders);
            }
        }
        let ports = holders
            .into_iter()
            .map(|(key, holders)| (key, root_holder(&holders).map(Owner::of)))
            .collect();
        PortTable { ports, namespaces }
    }

    /// The namespace a key names, when it is not portscope's own: as seen, else known only by
    /// its inode (a history written before namespaces were recorded).
    pub fn netns_of(&self, key: &PortKey) -> Option<Arc<Netns>> {
        netns_for(key, self.namespaces.get(&key.netns))
    }

    pub fn len(&self) -> usize {
        self.ports.len()
    }

    pub fn is_empty(&self) -> bool {
        self.ports.is_empty()
    }
}

/// The key of a socket, or `None` for a socket watch does not follow (a connection when only
/// listeners are watched; TIME-WAIT and other closing states, which belong to no program).
pub fn key_of(socket: &Socket, connections: bool) -> Option<PortKey> {
    use crate::model::SocketState::*;
    let remote = match socket.state {
        Listen | Unconnected => None,
        Established | SynSent | SynRecv | CloseWait if connections => Some(socket.remote),
        _ => return None,
    };
    Some(PortKey {
        protocol: socket.protocol,
        address: socket.local.address,
        port: socket.local.port,
        remote,
        netns: 0,
    })
}

/// The holder whose parent does not also hold the port (a server's master process, not its
/// workers), so that restarting workers is not an owner change; the lowest pid on a tie.
pub fn root_holder<'a>(holders: &[&'a Holder]) -> Option<&'a Holder> {
    let is_holder = |pid: u32| holders.iter().any(|h| h.process.pid == pid);
    holders
        .iter()
        .min_by_key(|h| (is_holder(h.process.ppid), h.process.pid))
        .copied()
}

/// What happened to a port.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum EventKind {
    Opened,
    Closed,
    OwnerChanged,
}

impl EventKind {
    pub fn as_str(self) -> &'static str {
        match self {
            EventKind::Opened => "opened",
            EventKind::Closed => "closed",
            EventKind::OwnerChanged => "owner_changed",
        }
    }

    pub fn parse(text: &str) -> Option<EventKind> {
        [EventKind::Opened, EventKind::Closed, EventKind::OwnerChanged]
            .into_iter()
            .find(|k| k.as_str() == text)
    }
}

/// The namespace of `key` when it is not portscope's own: `known`, else one named only by inode.
pub fn netns_for(key: &PortKey, known: Option<&Arc<Netns>>) -> Option<Arc<Netns>> {
    if key.netns == 0 {
        return None;
    }
    Some(known.cloned().unwrap_or_else(|| {
        Arc::new(Netns {
            inode: key.netns,
            name: None,
            kind: NetnsKind::Anonymous,
        })
    }))
}

/// One change to one port, as printed, passed to `--exec` and stored in the history.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Event {
    /// Milliseconds since the Unix epoch, when the change was seen.
    pub time_ms: i64,
    pub kind: EventKind,
    #[serde(flatten)]
    pub key: PortKey,
    /// Where the port is, when that is not portscope's own namespace (`key.netns` != 0).
    #[serde(default, skip_serializing_if = "Option::is_none", rename = "namespace")]
    pub netns: Option<Arc<Netns>>,
    /// Who holds the port now; for `closed`, who held it last.
    pub owner: Option<Owner>,
    /// For `owner_changed`, who held it before.
    pub previous: Option<Owner>,
    /// Seen when watch started: the change happened while nothing watched, at some time
    /// before `time_ms`.
    pub at_start: bool,
    /// Who saw the change: a poll (the default, and what a history row without the field was) or
    /// a kernel event.
    #[serde(default, skip_serializing_if = "Source::is_poll")]
    pub source: Source,
    /// A port opened and closed between two polls: only the kernel's events saw it.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub short_lived: bool,
}

/// What saw a change: a poll of the socket tables, or a kernel event ([`kernel`]).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Source {
    #[default]
    Poll,
    Event,
}

impl Source {
    pub fn is_poll(&self) -> bool {
        *self == Source::Poll
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Source::Poll => "poll",
            Source::Event => "event",
        }
    }
}

impl Event {
    /// The event as scripts read it (`--json-lines`, `PORTSCOPE_JSON`, `history --events --json`).
    pub fn json(&self) -> EventJson<'_> {
        EventJson {
            time: time::rfc3339(self.time_ms),
            event: self.kind,
            protocol: self.key.protocol,
            address: self.key.address,
            port: self.key.port,
            remote: self.key.remote.map(|r| r.to_string()),
            netns: netns_for(&self.key, self.netns.as_ref())
                .as_deref()
                .map(|n| n.labelled()),
            owner: self.owner.as_ref(),
            previous: self.previous.as_ref(),
            at_start: self.at_start,
            source: self.source,
            short_lived: self.short_lived,
        }
    }

    /// One line for people: `15:03:07  opened  tcp 0.0.0.0:8080  python3 (pid 4242, user root)`,
    /// with the time as `local_time` renders it (the platform knows the time zone).
    pub fn line(&self, local_time: impl Fn(i64) -> String) -> String {
        let what = match self.kind {
            EventKind::Opened => "opened ",
            EventKind::Closed => "closed ",
            EventKind::OwnerChanged => "owner  ",
        };
        let mut port = match self.key.remote {
            Some(remote) => format!("{} {} -> {}", self.key.protocol, self.key.local(), remote),
            None => format!("{} {}", self.key.protocol, self.key.local()),
        };
        if let Some(netns) = netns_for(&self.key, self.netns.as_ref()) {
            port.push_str(" in netns ");
            port.push_str(&netns.label());
        }
        let who = match (self.kind, &self.previous) {
            (EventKind::OwnerChanged, Some(previous)) => {
                format!(
                    "{} -> {}",
                    describe(&Some(previous.clone())),
                    describe(&self.owner)
                )
            }
            (EventKind::OwnerChanged, None) => format!("? -> {}", describe(&self.owner)),
            _ => describe(&self.owner),
        };
        let start = if self.at_start {
            "  (while not watching)"
        } else if self.short_lived {
            "  (short-lived, seen by a kernel event)"
        } else {
            ""
        };
        format!("{}  {what} {port:<24} {who}{start}", local_time(self.time_ms))
    }
}

/// An event in the order a person reads it: when, what, which port, who.
#[derive(Serialize)]
pub struct EventJson<'a> {
    pub time: String,
    pub event: EventKind,
    pub protocol: Protocol,
    pub address: IpAddr,
    pub port: u16,
    pub remote: Option<String>,
    /// The namespace when it is not portscope's own: label, inode, name and kind.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub netns: Option<LabelledNetns>,
    pub owner: Option<&'a Owner>,
    pub previous: Option<&'a Owner>,
    pub at_start: bool,
    /// `event` when a kernel event saw the change (omitted for a poll).
    #[serde(skip_serializing_if = "Source::is_poll")]
    pub source: Source,
    /// The port opened and closed between two polls (omitted when false).
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub short_lived: bool,
}

/// `python3 (pid 4242, user root, unit foo.service)`, or `-` when no owner is visible.
pub fn describe(owner: &Option<Owner>) -> String {
    let Some(o) = owner else { return "-".into() };
    let user = o.user.clone().unwrap_or_else(|| o.uid.to_string());
    match &o.unit {
        Some(unit) => format!("{} (pid {}, user {user}, {unit})", o.program, o.pid),
        None => format!("{} (pid {}, user {user})", o.program, o.pid),
    }
}

/// A process that renamed itself (same pid and executable, another name) since the last look:
/// one per process and name change, however many ports it holds, since a rename is not an event.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct Rename {
    pub pid: u32,
    pub from: String,
    pub to: String,
    /// How many of the ports it holds.
    pub ports: usize,
}

/// The renames between two looks, by pid ([`Rename`]).
pub fn renames(old: &PortTable, new: &PortTable) -> Vec<Rename> {
    let mut found: BTreeMap<(u32, &str, &str), usize> = BTreeMap::new();
    for (key, owner) in &new.ports {
        if let (Some(Some(before)), Some(now)) = (old.ports.get(key), owner)
            && !now.differs_from(before)
            && now.program != before.program
        {
            *found
                .entry((now.pid, before.program.as_str(), now.program.as_str()))
                .or_default() += 1;
        }
    }
    found
        .into_iter()
        .map(|((pid, from, to), ports)| Rename {
            pid,
            from: from.to_string(),
            to: to.to_string(),
            ports,
        })
        .collect()
}

/// The changes from `old` to `new`, in port order, stamped with `time_ms`.
///
/// An owner that disappears while its port stays open is not a change: a dying process drops its
/// descriptor table a moment before the kernel closes its sockets, and the port is about to close.
/// The old owner is kept for that port, so that `closed` names it.
pub fn diff(old: &PortTable, new: &PortTable, time_ms: i64) -> (Vec<Event>, PortTable) {
    let mut events = Vec::new();
    let mut next = BTreeMap::new();
    let event = |kind, key: &PortKey, owner: &Option<Owner>, previous: Option<Owner>| Event {
        time_ms,
        kind,
        key: *key,
        netns: netns_for(
            key,
            new.namespaces
                .get(&key.netns)
                .or_else(|| old.namespaces.get(&key.netns)),
        ),
        owner: owner.clone(),
        previous,
        at_start: false,
        source: Source::Poll,
        short_lived: false,
    };
    for (key, owner) in &new.ports {
        let kept = match old.ports.get(key) {
            None => {
                events.push(event(EventKind::Opened, key, owner, None));
                owner.clone()
            }
            Some(before) => match (before, owner) {
                (Some(b), Some(n)) if n.differs_from(b) => {
                    events.push(event(EventKind::OwnerChanged, key, owner, Some(b.clone())));
                    owner.clone()
                }
                (None, Some(_)) => {
                    events.push(event(EventKind::OwnerChanged, key, owner, None));
                    owner.clone()
                }
                (Some(_), None) => before.clone(),
                _ => owner.clone(),
            },
        };
        next.insert(*key, kept);
    }
    for (key, owner) in &old.ports {
        if !new.ports.contains_key(key) {
            events.push(event(EventKind::Closed, key, owner, None));
        }
    }
    events.sort_by_key(|e| e.key);
    (
        events,
        PortTable {
            ports: next,
            namespaces: new.namespaces.clone(),
        },
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::Ipv4Addr;

    fn key(port: u16) -> PortKey {
        PortKey {
            protocol: Protocol::Tcp,
            address: IpAddr::V4(Ipv4Addr::UNSPECIFIED),
            port,
            remote: None,
            netns: 0,
        }
    }

    fn owner(pid: u32, program: &str) -> Option<Owner> {
        Some(Owner {
            pid,
            program: program.into(),
            exe: None,
            uid: 0,
            user: None,
            unit: None,
        })
    }

    fn table(entries: &[(u16, Option<Owner>)]) -> PortTable {
        PortTable {
            ports: entries.iter().map(|(p, o)| (key(*p), o.clone())).collect(),
            namespaces: BTreeMap::new(),
        }
    }

    fn kinds(events: &[Event]) -> Vec<(u16, EventKind)> {
        events.iter().map(|e| (e.key.port, e.kind)).collect()
    }

    fn socket(state: crate::model::SocketState, port: u16, holders: &[(u32, u32, &str)]) -> Socket {
        use crate::model::Process;
        Socket {
            inode: u64::from(port),
            holders: holders
                .iter()
                .map(|&(pid, ppid, name)| Holder {
                    process: std::sync::Arc::new(Process::new(pid, ppid, name)),
                    fds: vec![3],
                    provenance: None,
                })
                .collect(),
            ..Socket::new(
                Protocol::Tcp,
                Endpoint::new(IpAddr::V4(Ipv4Addr::UNSPECIFIED), port),
                Endpoint::new(IpAddr::V4(Ipv4Addr::new(198, 18, 0, 2)), 40000),
                state,
            )
        }
    }

    #[test]
    fn a_port_is_owned_by_the_root_of_its_holders() {
        use crate::model::{SocketSource, SocketState::*};
        let snapshot = Snapshot::of(
            vec![
                // SO_REUSEPORT: two sockets, one port; workers forked from the master.
                socket(Listen, 80, &[(12, 10, "nginx"), (11, 10, "nginx")]),
                socket(Listen, 80, &[(10, 1, "nginx"), (12, 10, "nginx")]),
                socket(Established, 80, &[(12, 10, "nginx")]),
                socket(TimeWait, 81, &[]),
            ],
            SocketSource::Netlink,
        );
        let listeners = PortTable::from_snapshot(&snapshot, false);
        assert_eq!(listeners.len(), 1);
        assert_eq!(listeners.ports[&key(80)].as_ref().map(|o| o.pid), Some(10));
        let all = PortTable::from_snapshot(&snapshot, true);
        assert_eq!(all.len(), 2, "the connection, not the TIME-WAIT socket");
    }

    #[test]
    fn the_same_port_in_two_namespaces_is_two_ports_and_events_name_the_other_one() {
        use crate::model::{Netns, NetnsKind, SocketSource, SocketState::*};
        let own = Arc::new(Netns {
            inode: 4026531840,
            name: None,
            kind: NetnsKind::Host,
        });
        let web = Arc::new(Netns {
            inode: 4026532400,
            name: Some("web".into()),
            kind: NetnsKind::Named,
        });
        let mut here = socket(Listen, 80, &[(10, 1, "nginx")]);
        here.netns = Arc::clone(&own);
        let mut there = socket(Listen, 80, &[(20, 1, "nginx")]);
        there.netns = Arc::clone(&web);
        there.inode = 99;
        let mut snapshot = Snapshot::of(vec![here, there], SocketSource::Netlink);
        snapshot.own_netns = Some(own.inode);
        let table = PortTable::from_snapshot(&snapshot, false);
        assert_eq!(table.len(), 2, "{table:?}");
        let (events, next) = diff(&PortTable::default(), &table, 1);
        assert_eq!(next.namespaces.get(&web.inode), Some(&web));
        let (own_event, web_event) = (&events[0], &events[1]);
        assert_eq!(own_event.netns, None);
        assert_eq!(web_event.netns.as_deref(), Some(&*web));
        let line = web_event.line(|_| "t".into());
        assert!(line.contains("tcp 0.0.0.0:80 in netns web"), "{line}");
        assert!(!own_event.line(|_| "t".into()).contains("netns"));
        let json = serde_json::to_value(web_event.json()).unwrap();
        assert_eq!(json["netns"]["label"], "web");
        assert_eq!(json["netns"]["inode"], 4026532400u64);
        assert_eq!(json["netns"]["kind"], "named");
        assert!(
            serde_json::to_value(own_event.json())
                .unwrap()
                .get("netns")
                .is_none()
        );
        // A closed event still names the namespace it was in.
        let (events, _) = diff(&next, &PortTable::default(), 2);
        assert_eq!(events[1].netns.as_deref(), Some(&*web));
    }

    #[test]
    fn opened_closed_and_owner_changed() {
        let old = table(&[
            (22, owner(1, "sshd")),
            (80, owner(2, "nginx")),
            (53, owner(3, "dnsmasq")),
        ]);
        let new = table(&[
            (22, owner(1, "sshd")),
            (80, owner(9, "python3")),
            (4444, owner(7, "nc")),
        ]);
        let (events, next) = diff(&old, &new, 5);
        assert_eq!(
            kinds(&events),
            [
                (53, EventKind::Closed),
                (80, EventKind::OwnerChanged),
                (4444, EventKind::Opened)
            ]
        );
        assert_eq!(events[1].previous, owner(2, "nginx"));
        assert_eq!(events[0].owner, owner(3, "dnsmasq"));
        assert_eq!(next, new);
    }

    #[test]
    fn an_owner_vanishing_before_close_is_not_a_change() {
        let old = table(&[(80, owner(2, "nginx"))]);
        let (events, next) = diff(&old, &table(&[(80, None)]), 1);
        assert!(events.is_empty());
        let (events, _) = diff(&next, &table(&[]), 2);
        assert_eq!(events[0].owner, owner(2, "nginx"));
    }

    #[test]
    fn an_owner_appearing_is_reported() {
        let (events, _) = diff(&table(&[(80, None)]), &table(&[(80, owner(2, "nginx"))]), 1);
        assert_eq!(kinds(&events), [(80, EventKind::OwnerChanged)]);
    }

    #[test]
    fn a_rename_is_not_an_owner_change_but_an_exec_is() {
        let with_exe = |pid, program: &str, exe: &str| {
            owner(pid, program).map(|o| Owner {
                exe: Some(exe.into()),
                ..o
            })
        };
        let ports: Vec<u16> = (1000..1300).collect();
        let at = |o: Option<Owner>| PortTable {
            ports: ports.iter().map(|p| (key(*p), o.clone())).collect(),
            namespaces: BTreeMap::new(),
        };
        let old = at(with_exe(7, "python3", "/usr/bin/python3.11"));
        let renamed = at(with_exe(7, "sshd", "/usr/bin/python3.11"));
        let (events, next) = diff(&old, &renamed, 1);
        assert!(events.is_empty(), "{events:?}");
        assert_eq!(next.ports[&key(1000)].as_ref().unwrap().program, "sshd");
        assert_eq!(
            renames(&old, &renamed),
            [Rename {
                pid: 7,
                from: "python3".into(),
                to: "sshd".into(),
                ports: 300
            }]
        );
        let execd = at(with_exe(7, "sleep", "/usr/bin/sleep"));
        assert_eq!(diff(&renamed, &execd, 2).0.len(), 300);
        assert!(renames(&renamed, &execd).is_empty());
        // Without the executable (another user's process, no root) the name is all there is.
        assert_eq!(
            diff(&table(&[(80, owner(7, "a"))]), &table(&[(80, owner(7, "b"))]), 3)
                .0
                .len(),
            1
        );
    }

    #[test]
    fn nothing_changed_means_no_events() {
        let t = table(&[(22, owner(1, "sshd"))]);
        assert!(diff(&t, &t, 1).0.is_empty());
    }
}
