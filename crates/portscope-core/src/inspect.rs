//! One inspection of the host that every front end renders.
//!
//! `list`, `explain`, `audit`, `top`, the exporter, `watch` and `baseline` all answer the same
//! question — what is open, who holds it, is it bad — so they all start here: one snapshot, the
//! audit run once over it, and from those the verdict of every socket and process and the counts
//! a summary line prints. A front end narrows the result with a [`Filter`] and renders it; it
//! decides nothing of its own, so the same host gets the same answer whatever the command or flag.
//!
//! [`Refresher`] is the cheap repeated look that `watch`, `top` and the exporter share: the kernel's
//! socket dump alone while nothing changed, a full inspection when something did.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::path::PathBuf;

use serde::Serialize;

use crate::audit::{self, Finding, Report, Severity, expected::Expected};
use crate::error::Result;
use crate::model::{Family, Process, Protocol, Snapshot, Socket};
use crate::platform::{Platform, Query, StateFilter};

/// What an inspection looks at and how it judges.
#[derive(Clone, Debug)]
pub struct Options {
    /// What the kernel is asked for. Every state is always dumped (see [`Options::query`]): a
    /// state filter narrows the result, never the look, so `list -l` and `list` judge the same
    /// sockets.
    pub query: Query,
    pub audit: audit::Options,
}

impl Options {
    /// TCP and UDP in every state, with holders: what `list`, `top` and `watch` show.
    pub fn ports(audit: audit::Options) -> Options {
        Options {
            query: Query::ports(),
            audit,
        }
    }

    /// Every kind of socket, with NAT forwards: what `audit` and the exporter judge.
    pub fn everything(audit: audit::Options) -> Options {
        Options {
            query: Query::default(),
            audit,
        }
    }

    /// The query actually sent: the kinds and families asked for, every state, with holders.
    pub fn query(&self) -> Query {
        Query {
            states: StateFilter::All,
            processes: true,
            ..self.query.clone()
        }
    }
}

/// The host at one moment, judged.
#[derive(Clone, Debug)]
pub struct Inspection {
    pub snapshot: Snapshot,
    pub report: Report,
    /// The worst finding on each socket, by inode (socket inodes are unique across namespaces).
    verdicts: HashMap<u64, Severity>,
    /// The worst finding about each process, by pid.
    process_verdicts: HashMap<u32, Severity>,
    /// The findings that name each socket, by inode: indexes into `report.findings`, in its
    /// order (a process finding names every socket of the process, so a scan per socket would be
    /// quadratic on a busy host).
    by_socket: HashMap<u64, Vec<usize>>,
}

impl Inspection {
    /// Takes the snapshot and runs the audit over it.
    pub fn take(platform: &dyn Platform, options: &Options) -> Result<Inspection> {
        let snapshot = platform.snapshot(&options.query())?;
        Inspection::of(platform, snapshot, options)
    }

    /// Judges a snapshot already taken.
    pub fn of(platform: &dyn Platform, snapshot: Snapshot, options: &Options) -> Result<Inspection> {
        let expected = Expected::built_in()?;
        let report = audit::run(platform, &snapshot, &expected, &options.audit)?;
        Ok(Inspection::judged(snapshot, report))
    }

    /// An inspection from a snapshot and the report of its audit.
    pub fn judged(snapshot: Snapshot, report: Report) -> Inspection {
        let mut process_verdicts: HashMap<u32, Severity> = HashMap::new();
        for finding in &report.findings {
            if let Some(process) = &finding.process {
                let worst = process_verdicts.entry(process.pid).or_insert(finding.severity);
                *worst = (*worst).max(finding.severity);
            }
        }
        let mut by_socket: HashMap<u64, Vec<usize>> = HashMap::new();
        for (index, finding) in report.findings.iter().enumerate() {
            for socket in &finding.sockets {
                let list = by_socket.entry(socket.inode).or_default();
                if list.last() != Some(&index) {
                    list.push(index);
                }
            }
        }
        Inspection {
            verdicts: report.verdicts(),
            process_verdicts,
            by_socket,
            snapshot,
            report,
        }
    }

    /// The worst finding about `socket`: the verdict its row shows. A socket no descriptor holds
    /// (inode 0) has none.
    pub fn verdict(&self, socket: &Socket) -> Option<Severity> {
        (socket.inode != 0)
            .then(|| self.verdicts.get(&socket.inode).copied())
            .flatten()
    }

    /// The worst finding about the process with this pid.
    pub fn process_verdict(&self, pid: u32) -> Option<Severity> {
        self.process_verdicts.get(&pid).copied()
    }

    /// The findings that name `socket`, most severe first.
    pub fn findings_for<'a>(&'a self, socket: &Socket) -> impl Iterator<Item = &'a Finding> + 'a {
        let indexes = (socket.inode != 0)
            .then(|| self.by_socket.get(&socket.inode))
            .flatten()
            .map_or(&[][..], Vec::as_slice);
        indexes.iter().map(|&i| &self.report.findings[i])
    }

    /// The findings about the process with this pid, most severe first.
    pub fn findings_about(&self, pid: u32) -> impl Iterator<Item = &Finding> + '_ {
        self.report
            .findings
            .iter()
            .filter(move |f| f.process.as_ref().is_some_and(|p| p.pid == pid))
    }

    /// What `--json` says of `socket` beside its fields: the verdict its row shows and every
    /// finding that names it, each with the command that acts on it.
    pub fn judgement<'a>(&'a self, socket: &'a Socket) -> Judgement<'a> {
        Judgement {
            verdict: self.verdict(socket),
            findings: self
                .findings_for(socket)
                .map(|f| Judged {
                    severity: f.severity,
                    check: f.check,
                    reason: &f.reason,
                    next_step: f.next_step.as_deref(),
                    close: crate::close::suggest::for_finding(f),
                })
                .collect(),
        }
    }

    /// `socket` with its verdict and findings, for JSON.
    pub fn judge<'a>(&'a self, socket: &'a Socket) -> JudgedSocket<'a> {
        JudgedSocket {
            socket,
            judgement: self.judgement(socket),
        }
    }

    /// The sockets `filter` keeps, in the order tables print them (port, protocol, address).
    pub fn select(&self, filter: &Filter) -> Vec<&Socket> {
        let mut sockets: Vec<&Socket> = self
            .snapshot
            .sockets
            .iter()
            .filter(|s| filter.matches(s))
            .collect();
        sockets.sort_by_key(|s| (s.local.port, s.protocol, s.local.address, s.remote));
        sockets
    }

    /// The counts a summary line prints for `sockets`.
    pub fn counts<'a>(&self, sockets: impl IntoIterator<Item = &'a Socket>) -> Counts {
        let mut counts = Counts::default();
        let mut programs = BTreeSet::new();
        for socket in sockets {
            if is_listener(socket) {
                counts.listening += 1;
            } else {
                counts.connections += 1;
                *counts.states.entry(socket.state.as_str()).or_default() += 1;
                match socket.holders.first() {
                    Some(holder) => {
                        counts.held += 1;
                        programs.insert(holder.process.pid);
                    }
                    None if socket.inode == 0 => counts.closing += 1,
                    None => counts.ownerless += 1,
                }
            }
            match self.verdict(socket) {
                Some(Severity::Alert) => counts.alert += 1,
                Some(Severity::Warning) => counts.warning += 1,
                Some(Severity::Info) => counts.info += 1,
                None => {}
            }
        }
        counts.programs = programs.len();
        counts
    }
}

/// A socket's verdict and findings, as every JSON output carries them.
#[derive(Clone, Debug, Serialize)]
pub struct Judgement<'a> {
    /// The worst finding's severity; `null` when no finding names the socket.
    pub verdict: Option<Severity>,
    pub findings: Vec<Judged<'a>>,
}

/// A socket with its judgement: what every JSON output lists (`list`, `explain`).
#[derive(Clone, Debug, Serialize)]
pub struct JudgedSocket<'a> {
    #[serde(flatten)]
    pub socket: &'a Socket,
    #[serde(flatten)]
    pub judgement: Judgement<'a>,
}

/// One finding about a socket, as [`Judgement`] lists it.
#[derive(Clone, Debug, Serialize)]
pub struct Judged<'a> {
    pub severity: Severity,
    pub check: crate::audit::CheckId,
    pub reason: &'a str,
    pub next_step: Option<&'a str>,
    /// The `portscope close …` (or supervisor) command that acts on what the finding names.
    pub close: Option<String>,
}

/// A listening TCP socket or a bound, unconnected one of another kind: what answers "what is
/// open here".
pub fn is_listener(socket: &Socket) -> bool {
    socket.state.is_listening()
}

/// What a summary says about a set of sockets.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct Counts {
    pub listening: usize,
    /// Every socket that is not a listener.
    pub connections: usize,
    /// Connections a visible process holds.
    pub held: usize,
    /// The programs (processes) holding them.
    pub programs: usize,
    /// Connections held by a process portscope cannot see.
    pub ownerless: usize,
    /// Connections no process holds any more (TIME-WAIT and other closing states, inode 0).
    pub closing: usize,
    /// Connections by state (`ESTAB`, `TIME-WAIT`, ...).
    pub states: BTreeMap<&'static str, usize>,
    /// Sockets whose verdict is an alert, a warning, information.
    pub alert: usize,
    pub warning: usize,
    pub info: usize,
}

impl Counts {
    /// `3 listening, 5921 connections: 21 held by 6 programs, 5900 closing with no process`.
    pub fn line(&self) -> String {
        let plural = |n: usize, one: &str, many: &str| format!("{n} {}", if n == 1 { one } else { many });
        let mut line = format!(
            "{} listening, {}",
            self.listening,
            plural(self.connections, "connection", "connections")
        );
        if self.connections > 0 {
            let mut parts = Vec::new();
            if self.held > 0 {
                parts.push(format!(
                    "{} held by {}",
                    self.held,
                    plural(self.programs, "program", "programs")
                ));
            }
            if self.closing > 0 {
                parts.push(format!("{} closing with no process", self.closing));
            }
            if self.ownerless > 0 {
                parts.push(format!("{} whose holder is not visible", self.ownerless));
            }
            if self.closing + self.ownerless == 0 {
                line = format!(
                    "{} listening, {} held by {}",
                    self.listening,
                    plural(self.connections, "connection", "connections"),
                    plural(self.programs, "program", "programs")
                );
            } else {
                line.push_str(": ");
                line.push_str(&parts.join(", "));
            }
        }
        line
    }
}

/// Which sockets a front end shows. Every flag narrows the inspection's result; none changes what
/// the kernel is asked for beyond the kinds of socket (see [`Options::query`]).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Filter {
    /// Kinds of socket; all `false` means TCP and UDP.
    pub tcp: bool,
    pub udp: bool,
    pub raw: bool,
    pub packet: bool,
    pub sctp: bool,
    /// Only sockets that carry IPv4 (a dual-stack `[::]` listener included) or IPv6.
    pub ipv4: bool,
    pub ipv6: bool,
    pub states: StateFilter,
    /// States named as ss names them (`--state time-wait`); empty admits every state.
    pub named_states: crate::state_names::StateSet,
    /// Local or remote port is one of these.
    pub ports: Vec<u16>,
    /// Held by this process.
    pub pid: Option<u32>,
    /// Held by a process this name selects ([`crate::program::selects`]).
    pub process: Option<String>,
    /// In the network namespace with this inode.
    pub netns: Option<u64>,
}

impl Filter {
    /// The kinds of socket the kernel is asked for.
    pub fn query(&self) -> Query {
        let default = !(self.tcp || self.udp || self.raw || self.packet || self.sctp);
        // `-4` also dumps IPv6: a dual-stack `[::]:443` and its IPv4-mapped connections carry IPv4.
        let both = self.ipv4 == self.ipv6 || self.ipv4;
        Query {
            tcp: default || self.tcp,
            udp: default || self.udp,
            raw: self.raw,
            packet: self.packet,
            sctp: self.sctp,
            ipv4: both || self.ipv4,
            ipv6: both || self.ipv6,
            states: StateFilter::All,
            processes: true,
            netns: None,
            forwards: false,
        }
    }

    pub fn matches(&self, socket: &Socket) -> bool {
        let default = !(self.tcp || self.udp || self.raw || self.packet || self.sctp);
        let kind_ok = match socket.protocol {
            Protocol::Tcp => default || self.tcp,
            Protocol::Udp => default || self.udp,
            Protocol::Raw => self.raw,
            Protocol::Packet => self.packet,
            Protocol::Sctp => self.sctp,
        };
        let family_ok = match (self.ipv4, self.ipv6) {
            (true, false) => socket.carries_ipv4(),
            (false, true) => socket.carries_ipv6(),
            _ => true,
        } || socket.family == Family::Packet && self.ipv4 == self.ipv6;
        let port_ok = self.ports.is_empty()
            || self
                .ports
                .iter()
                .any(|&p| socket.local.port == p || socket.remote.port == p);
        let pid_ok = self
            .pid
            .is_none_or(|pid| socket.holders.iter().any(|h| h.process.pid == pid));
        let name_ok = self.process.as_deref().is_none_or(|name| {
            socket
                .holders
                .iter()
                .any(|h| crate::program::selects(name, &h.process))
        });
        let netns_ok = self.netns.is_none_or(|inode| socket.netns.inode == inode);
        let named_ok = self.named_states.is_empty() || self.named_states.contains(socket.state);
        kind_ok
            && family_ok
            && self.states.admits(socket.state)
            && named_ok
            && port_ok
            && pid_ok
            && name_ok
            && netns_ok
    }
}

/// One look of a [`Refresher`].
pub enum Look<'a> {
    /// The dump alone showed the same sockets with the same owners: the last inspection, its
    /// sockets' states and queues brought up to date.
    Unchanged(&'a Inspection),
    /// Something changed (or it was time): a new full inspection.
    Full(&'a Inspection),
}

impl<'a> Look<'a> {
    pub fn inspection(&self) -> &'a Inspection {
        match self {
            Look::Unchanged(i) | Look::Full(i) => i,
        }
    }
}

/// Looks after which a full look is taken even when the cheap checks saw no change.
pub const FULL_EVERY: u32 = 30;

/// The cheap checks of a repeated look, shared by [`Refresher`] (`top`, the exporter) and
/// `watch`'s poller.
///
/// A full look walks every process's descriptors. Ports only open or close when the set of
/// socket inodes changes, and an owner only changes when its process exits or execs, so a
/// repeated look first takes the kernel's dump alone and re-reads each owner's identity; only
/// when one of them differs is a full look due. Every [`FULL_EVERY`] looks one is due anyway,
/// for what the cheap checks cannot see (a descriptor passed over a Unix socket). Sockets no
/// descriptor holds (TIME-WAIT) come and go without a full look.
pub struct ChangeCheck {
    /// Which sockets count: the ones a watcher follows (listeners, or connections too).
    follows: fn(&Socket) -> bool,
    /// (namespace, inode) of every followed held socket at the last full look.
    inodes: BTreeSet<(u64, u64)>,
    /// Every owner at the last full look: pid, name, executable.
    owners: Vec<(u32, String, Option<PathBuf>)>,
    cheap_looks: u32,
    force_full: bool,
}

impl ChangeCheck {
    /// Checks over the sockets `follows` keeps (every held socket: `|_| true`).
    pub fn new(follows: fn(&Socket) -> bool) -> ChangeCheck {
        ChangeCheck {
            follows,
            inodes: BTreeSet::new(),
            owners: Vec::new(),
            cheap_looks: 0,
            force_full: true,
        }
    }

    /// The next look is a full one (after an action changed the host).
    pub fn invalidate(&mut self) {
        self.force_full = true;
    }

    /// The dump alone (`query` without holders) when it shows the same followed sockets with
    /// the same owners as the last full look; `None` when a full look is due.
    pub fn cheap_look(&mut self, platform: &dyn Platform, query: &Query) -> Result<Option<Snapshot>> {
        if self.force_full || self.cheap_looks + 1 >= FULL_EVERY {
            return Ok(None);
        }
        let dump = platform.snapshot(&Query {
            processes: false,
            ..query.clone()
        })?;
        if self.inodes_of(&dump) != self.inodes || !self.owners_unchanged(platform) {
            return Ok(None);
        }
        self.cheap_looks += 1;
        Ok(Some(dump))
    }

    /// Remembers what a full look saw.
    pub fn full_look(&mut self, snapshot: &Snapshot) {
        self.inodes = self.inodes_of(snapshot);
        let mut owners: Vec<(u32, String, Option<PathBuf>)> = snapshot
            .sockets
            .iter()
            .filter(|s| (self.follows)(s))
            .flat_map(|s| &s.holders)
            .map(|h| (h.process.pid, h.process.name.clone(), h.process.exe.clone()))
            .collect();
        owners.sort();
        owners.dedup();
        self.owners = owners;
        self.cheap_looks = 0;
        self.force_full = false;
    }

    fn inodes_of(&self, snapshot: &Snapshot) -> BTreeSet<(u64, u64)> {
        snapshot
            .sockets
            .iter()
            .filter(|s| s.inode != 0 && (self.follows)(s))
            .map(|s| (s.netns.inode, s.inode))
            .collect()
    }

    fn owners_unchanged(&self, platform: &dyn Platform) -> bool {
        self.owners.iter().all(|(pid, name, exe)| {
            platform
                .identity(*pid)
                .is_some_and(|now| &now.name == name && &now.exe == exe)
        })
    }
}

/// The repeated look of a live view (`top`) and the exporter: [`ChangeCheck`]'s cheap look while
/// nothing changed, a full [`Inspection`] when something did.
pub struct Refresher<'p> {
    platform: &'p dyn Platform,
    options: Options,
    last: Option<Inspection>,
    change: ChangeCheck,
}

impl<'p> Refresher<'p> {
    pub fn new(platform: &'p dyn Platform, options: Options) -> Refresher<'p> {
        Refresher {
            platform,
            options,
            last: None,
            change: ChangeCheck::new(|_| true),
        }
    }

    pub fn platform(&self) -> &'p dyn Platform {
        self.platform
    }

    /// The next look is a full one (after an action changed the host).
    pub fn invalidate(&mut self) {
        self.change.invalidate();
    }

    /// One look: cheap when the cheap checks show nothing new, a full inspection otherwise.
    pub fn look(&mut self) -> Result<Look<'_>> {
        if self.last.is_some()
            && let Some(dump) = self.change.cheap_look(self.platform, &self.options.query())?
        {
            let last = self.last.as_mut().expect("checked above");
            refresh_sockets(&mut last.snapshot, dump);
            return Ok(Look::Unchanged(last));
        }
        let inspection = Inspection::take(self.platform, &self.options)?;
        self.change.full_look(&inspection.snapshot);
        Ok(Look::Full(self.last.insert(inspection)))
    }
}

/// Brings a judged snapshot's sockets up to date from a dump without holders: the same held
/// sockets (their states and queues may differ), and the closing ones as they are now.
fn refresh_sockets(snapshot: &mut Snapshot, dump: Snapshot) {
    let holders: HashMap<u64, Vec<crate::model::Holder>> = snapshot
        .sockets
        .drain(..)
        .filter(|s| s.inode != 0)
        .map(|s| (s.inode, s.holders))
        .collect();
    snapshot.sockets = dump
        .sockets
        .into_iter()
        .map(|mut socket| {
            if let Some(h) = holders.get(&socket.inode) {
                socket.holders = h.clone();
            }
            socket
        })
        .collect();
}

/// The holder processes of `sockets`, once each, by pid.
pub fn holders<'a>(sockets: impl IntoIterator<Item = &'a Socket>) -> Vec<&'a std::sync::Arc<Process>> {
    let mut seen = BTreeMap::new();
    for socket in sockets {
        for holder in &socket.holders {
            seen.entry(holder.process.pid).or_insert(&holder.process);
        }
    }
    seen.into_values().collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{Endpoint, Holder, SocketState};
    use std::sync::Arc;

    fn socket(local: &str, remote: &str, state: SocketState, inode: u64, pid: Option<u32>) -> Socket {
        let parse = |t: &str| {
            let a: std::net::SocketAddr = t.parse().unwrap();
            Endpoint::new(a.ip(), a.port())
        };
        let mut s = Socket::new(Protocol::Tcp, parse(local), parse(remote), state);
        s.inode = inode;
        if let Some(pid) = pid {
            s.holders.push(Holder {
                process: Arc::new(Process::new(pid, 1, "p")),
                fds: vec![3],
                provenance: None,
            });
        }
        s
    }

    #[test]
    fn counts_say_who_holds_the_connections() {
        let sockets = [
            socket("0.0.0.0:80", "0.0.0.0:0", SocketState::Listen, 1, Some(10)),
            socket(
                "198.18.0.1:80",
                "198.18.0.2:4000",
                SocketState::Established,
                2,
                Some(10),
            ),
            socket("198.18.0.1:80", "198.18.0.2:4001", SocketState::TimeWait, 0, None),
            socket("198.18.0.1:80", "198.18.0.2:4002", SocketState::TimeWait, 0, None),
            socket(
                "198.18.0.1:81",
                "198.18.0.2:4003",
                SocketState::Established,
                5,
                None,
            ),
        ];
        let inspection = Inspection::judged(
            Snapshot::of(sockets.to_vec(), crate::model::SocketSource::Netlink),
            Report {
                findings: Vec::new(),
                summary: Default::default(),
                notes: Vec::new(),
                not_checked: Vec::new(),
            },
        );
        let counts = inspection.counts(&inspection.snapshot.sockets);
        assert_eq!((counts.listening, counts.connections, counts.held), (1, 4, 1));
        assert_eq!((counts.closing, counts.ownerless, counts.programs), (2, 1, 1));
        assert_eq!(counts.states["TIME-WAIT"], 2);
        assert_eq!(
            counts.line(),
            "1 listening, 4 connections: 1 held by 1 program, 2 closing with no process, 1 whose holder is not visible"
        );
        let held = inspection.counts(&inspection.snapshot.sockets[..2]);
        assert_eq!(held.line(), "1 listening, 1 connection held by 1 program");
        let closing = inspection.counts(&inspection.snapshot.sockets[2..4]);
        assert_eq!(
            closing.line(),
            "0 listening, 2 connections: 2 closing with no process"
        );
    }

    #[test]
    fn a_state_filter_narrows_the_result_not_the_look() {
        let filter = Filter {
            states: StateFilter::Listening,
            ..Filter::default()
        };
        assert_eq!(filter.query().states, StateFilter::All);
        assert!(filter.matches(&socket("0.0.0.0:80", "0.0.0.0:0", SocketState::Listen, 1, None)));
        assert!(!filter.matches(&socket(
            "198.18.0.1:80",
            "198.18.0.2:1",
            SocketState::Established,
            2,
            None
        )));
    }
}
