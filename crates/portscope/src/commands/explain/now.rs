//! The "On this machine now" part of `portscope explain`, summarised as `list` does: each
//! listener on its own line with its holders, the connections on the port counted per program
//! (per state, per peer), the ones no process holds counted apart, and the connections from here
//! to that port counted the same way. Each holder is led by the audit's verdict and the command
//! that stops it, with its real PID. Never one line per connection: `--json` has every socket.

use std::collections::HashSet;
use std::io::{self, Write};
use std::net::IpAddr;

use serde::Serialize;

use crate::audit::{self, CheckId, Finding, Severity};
use crate::close::suggest;
use crate::inspect::Inspection;
use crate::model::{Holder, Socket, SocketState};
use crate::output::{Color, Ui};
use crate::render;

/// Listeners shown one by one before the rest are counted.
const MAX_LISTENERS: usize = 8;
/// Groups of connections shown (per direction) before the rest are counted.
const MAX_GROUPS: usize = 6;
/// Findings shown under one holder before the rest are left to `portscope audit`.
const MAX_FINDINGS: usize = 4;
/// Processes named one by one on a socket many processes share (a forking server's workers).
const MAX_HOLDERS: usize = 3;

/// The findings about `pid` (or, for `None`, about no process) that name one of `inodes`, most
/// severe first, one per rule.
fn findings<'a>(inspection: &'a Inspection, pid: Option<u32>, inodes: &HashSet<u64>) -> Vec<&'a Finding> {
    let mut seen: HashSet<CheckId> = HashSet::new();
    inspection
        .report
        .findings
        .iter()
        .filter(|f| f.process.as_ref().map(|p| p.pid) == pid)
        .filter(|f| {
            f.sockets
                .iter()
                .any(|s| s.inode != 0 && inodes.contains(&s.inode))
        })
        .filter(|f| seen.insert(f.check))
        .collect()
}

/// How many sockets are in one state.
#[derive(Serialize)]
pub struct StateCount {
    pub state: SocketState,
    pub count: usize,
}

/// How many sockets go to (or come from) one peer address.
#[derive(Serialize)]
pub struct PeerCount {
    pub address: String,
    pub count: usize,
}

/// Why a group of sockets names no process.
#[derive(Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum NoProcess {
    /// The socket has no descriptor left: the kernel finishes the connection (TIME-WAIT, …).
    Finishing,
    /// A connection the listener has not accepted yet (it waits in the accept queue).
    NotAccepted,
    /// A process holds it but portscope may not read that process's descriptors.
    Hidden,
}

impl NoProcess {
    fn of(socket: &Socket) -> NoProcess {
        if socket.inode != 0 {
            NoProcess::Hidden
        } else if matches!(
            socket.state,
            SocketState::Established | SocketState::SynRecv | SocketState::NewSynRecv
        ) {
            NoProcess::NotAccepted
        } else {
            NoProcess::Finishing
        }
    }

    fn why(self, read_all: bool) -> &'static str {
        match self {
            NoProcess::Finishing => "the kernel is finishing them",
            NoProcess::NotAccepted => "waiting for the listener to accept them",
            NoProcess::Hidden if read_all => {
                "its process refuses to show its descriptors even to root (a security module or a sandbox)"
            }
            NoProcess::Hidden => "its process is not visible to this user (run as root to see it)",
        }
    }
}

/// Connections one program holds (or that no process holds, for one reason) in one namespace.
#[derive(Serialize)]
pub struct Group<'a> {
    /// The holding process; absent when `no_process` says why none is named.
    pub pid: Option<u32>,
    pub program: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub no_process: Option<NoProcess>,
    /// The network namespace, when it is not portscope's own.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub netns: Option<String>,
    pub count: usize,
    /// Most frequent first.
    pub states: Vec<StateCount>,
    /// The peers' addresses (incoming) or endpoints (outgoing), most frequent first.
    pub peers: Vec<PeerCount>,
    #[serde(skip)]
    holder: Option<&'a Holder>,
    #[serde(skip)]
    sockets: Vec<&'a Socket>,
    /// Where each peer is in `peers` (thousands of connections may each have their own peer).
    #[serde(skip)]
    peer_index: std::collections::HashMap<String, usize>,
}

/// One finding as a holder's verdict shows it.
#[derive(Serialize)]
pub struct Reason<'a> {
    pub severity: Severity,
    pub check: CheckId,
    pub reason: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub next_step: Option<&'a str>,
}

/// What the audit says about one process on the port, and how to stop it.
#[derive(Serialize)]
pub struct HolderVerdict<'a> {
    pub pid: u32,
    pub program: &'a str,
    /// The worst finding's severity; `null` for "no finding".
    pub verdict: Option<Severity>,
    pub findings: Vec<Reason<'a>>,
    /// The one command that stops it, as its supervisor expects (runnable as printed).
    pub stop: String,
    /// For an ALERT about its executable: copy it before it is stopped.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub keep_evidence: Option<String>,
}

/// The summary `explain --json` adds to its socket lists, and the human section renders.
#[derive(Serialize)]
pub struct Summary<'a> {
    /// Listening TCP and bound UDP sockets on the port.
    pub listeners: usize,
    /// Connections whose local end is the port, per program.
    pub connections: Vec<Group<'a>>,
    /// Connections from this machine to the port elsewhere, per program.
    pub outgoing: Vec<Group<'a>>,
    /// Every process above, with the audit's verdict and its stop command.
    pub holders: Vec<HolderVerdict<'a>>,
    #[serde(skip)]
    listener_sockets: Vec<&'a Socket>,
    /// Whether each socket's namespace is portscope's own, by inode.
    #[serde(skip)]
    foreign: HashSet<u64>,
    #[serde(skip)]
    ownerless_findings: Vec<(u64, Vec<&'a Finding>)>,
}

/// A listening TCP, bound-but-idle TCP or unconnected UDP socket: it waits rather than talks.
fn is_listener(socket: &Socket) -> bool {
    crate::inspect::is_listener(socket) || socket.state == SocketState::BoundInactive
}

impl<'a> Summary<'a> {
    /// Groups `on_port` (sockets whose local end is the port) and `outgoing` (connections from
    /// here to the port elsewhere), and gives each holder its verdict from `inspection`.
    pub fn new(inspection: &'a Inspection, on_port: &[&'a Socket], outgoing: &[&'a Socket]) -> Summary<'a> {
        let snapshot = &inspection.snapshot;
        let foreign: HashSet<u64> = on_port
            .iter()
            .chain(outgoing)
            .filter(|s| !snapshot.is_own(s))
            .map(|s| s.netns.inode)
            .collect();
        let (listener_sockets, connections): (Vec<&Socket>, Vec<&Socket>) =
            on_port.iter().partition(|s| is_listener(s));
        let label = |s: &Socket| foreign.contains(&s.netns.inode).then(|| s.netns.label());
        let connections = group(&connections, false, &label);
        let outgoing = group(outgoing, true, &label);

        // Every process in the order the section names them: listeners first.
        let mut pids: Vec<&Holder> = Vec::new();
        let listener_holders = listener_sockets.iter().flat_map(|s| &s.holders);
        let group_holders = connections.iter().chain(&outgoing).filter_map(|g| g.holder);
        for holder in listener_holders.chain(group_holders) {
            if !pids.iter().any(|h| h.process.pid == holder.process.pid) {
                pids.push(holder);
            }
        }
        let all: Vec<&Socket> = on_port
            .iter()
            .chain(outgoing.iter().flat_map(|g| &g.sockets))
            .copied()
            .collect();
        let holders = pids
            .into_iter()
            .map(|holder| {
                let pid = holder.process.pid;
                let inodes: HashSet<u64> = all
                    .iter()
                    .filter(|s| s.holders.iter().any(|h| h.process.pid == pid))
                    .map(|s| s.inode)
                    .collect();
                verdict_of(holder, findings(inspection, Some(pid), &inodes))
            })
            .collect();
        let ownerless_findings = listener_sockets
            .iter()
            .filter(|s| s.holders.is_empty() && s.inode != 0)
            .map(|s| (s.inode, findings(inspection, None, &HashSet::from([s.inode]))))
            .filter(|(_, f)| !f.is_empty())
            .collect();
        Summary {
            listeners: listener_sockets.len(),
            connections,
            outgoing,
            holders,
            listener_sockets,
            foreign,
            ownerless_findings,
        }
    }

    /// Whether the section has nothing to show.
    pub fn is_empty(&self) -> bool {
        self.listeners == 0 && self.connections.is_empty() && self.outgoing.is_empty()
    }

    fn verdict(&self, pid: u32) -> Option<&HolderVerdict<'a>> {
        self.holders.iter().find(|h| h.pid == pid)
    }

    fn place(&self, socket: &Socket) -> String {
        if self.foreign.contains(&socket.netns.inode) {
            format!(" in network namespace {}", render::escape(&socket.netns.label()))
        } else {
            String::new()
        }
    }
}

fn verdict_of<'a>(holder: &'a Holder, findings: Vec<&'a Finding>) -> HolderVerdict<'a> {
    let process = &holder.process;
    let keep = audit::advice::keep_executable(process.pid);
    let keep_evidence = findings
        .iter()
        .any(|f| f.next_step.as_deref().is_some_and(|n| n.starts_with(&keep)))
        .then_some(keep);
    HolderVerdict {
        pid: process.pid,
        program: &process.name,
        verdict: findings.iter().map(|f| f.severity).max(),
        findings: findings
            .iter()
            .map(|f| Reason {
                severity: f.severity,
                check: f.check,
                reason: &f.reason,
                next_step: f.next_step.as_deref(),
            })
            .collect(),
        stop: suggest::stop(process),
        keep_evidence,
    }
}

/// Groups connections by namespace and first holder (or the reason none is named), busiest first.
fn group<'a>(
    sockets: &[&'a Socket],
    outgoing: bool,
    label: &dyn Fn(&Socket) -> Option<String>,
) -> Vec<Group<'a>> {
    type Key = (u64, Option<u32>, Option<NoProcess>);
    let mut groups: Vec<(Key, Group<'a>)> = Vec::new();
    for socket in sockets {
        let holder = socket.holders.first();
        let no_process = holder.is_none().then(|| NoProcess::of(socket));
        let key = (socket.netns.inode, holder.map(|h| h.process.pid), no_process);
        let i = match groups.iter().position(|(k, _)| *k == key) {
            Some(i) => i,
            None => {
                groups.push((
                    key,
                    Group {
                        pid: holder.map(|h| h.process.pid),
                        program: holder.map(|h| h.process.name.as_str()),
                        no_process,
                        netns: label(socket),
                        count: 0,
                        states: Vec::new(),
                        peers: Vec::new(),
                        holder,
                        sockets: Vec::new(),
                        peer_index: std::collections::HashMap::new(),
                    },
                ));
                groups.len() - 1
            }
        };
        let g = &mut groups[i].1;
        g.count += 1;
        g.sockets.push(socket);
        match g.states.iter_mut().find(|c| c.state == socket.state) {
            Some(c) => c.count += 1,
            None => g.states.push(StateCount {
                state: socket.state,
                count: 1,
            }),
        }
        let address = socket.remote.address.to_canonical();
        let peer = match (outgoing, address) {
            (false, a) => a.to_string(),
            (true, IpAddr::V4(a)) => format!("{a}:{}", socket.remote.port),
            (true, IpAddr::V6(a)) => format!("[{a}]:{}", socket.remote.port),
        };
        match g.peer_index.get(&peer) {
            Some(&i) => g.peers[i].count += 1,
            None => {
                g.peer_index.insert(peer.clone(), g.peers.len());
                g.peers.push(PeerCount {
                    address: peer,
                    count: 1,
                });
            }
        }
    }
    let mut groups: Vec<Group<'a>> = groups.into_iter().map(|(_, g)| g).collect();
    for g in &mut groups {
        g.states
            .sort_by(|a, b| b.count.cmp(&a.count).then(a.state.cmp(&b.state)));
        g.peers
            .sort_by(|a, b| b.count.cmp(&a.count).then(a.address.cmp(&b.address)));
    }
    // Programs before the kernel's leftovers, then the busiest first.
    groups.sort_by(|a, b| {
        (a.pid.is_none(), std::cmp::Reverse(a.count), a.pid).cmp(&(
            b.pid.is_none(),
            std::cmp::Reverse(b.count),
            b.pid,
        ))
    });
    groups
}

/// "ESTAB 200, TIME-WAIT 100".
fn states_text(states: &[StateCount]) -> String {
    let parts: Vec<String> = states
        .iter()
        .map(|c| format!("{} {}", c.state.as_str(), c.count))
        .collect();
    parts.join(", ")
}

/// "198.18.0.2", "198.18.0.2 (250), 198.18.0.3 (50) and 3 more peers".
fn peers_text(peers: &[PeerCount]) -> String {
    if let [one] = peers {
        return render::escape(&one.address).into_owned();
    }
    let shown: Vec<String> = peers
        .iter()
        .take(2)
        .map(|p| format!("{} ({})", p.address, p.count))
        .collect();
    match peers.len().saturating_sub(2) {
        0 => shown.join(" and "),
        1 => format!("{} and 1 more peer", shown.join(", ")),
        n => format!("{} and {n} more peers", shown.join(", ")),
    }
}

/// Renders the section's lines (after its title) for port `port`.
pub struct Section<'s, 'a> {
    pub summary: &'s Summary<'a>,
    pub port: u16,
    pub read_all: bool,
    pub ui: Ui,
}

impl Section<'_, '_> {
    pub fn write(&self, out: &mut impl Write) -> io::Result<()> {
        let s = self.summary;
        let mut described: HashSet<u32> = HashSet::new();
        for socket in s.listener_sockets.iter().take(MAX_LISTENERS) {
            writeln!(
                out,
                "  {} {} {}{}",
                socket.protocol,
                socket.local,
                socket.state.as_str(),
                s.place(socket)
            )?;
            if socket.holders.is_empty() {
                writeln!(
                    out,
                    "      no process shown: {}",
                    NoProcess::of(socket).why(self.read_all)
                )?;
                let findings = s
                    .ownerless_findings
                    .iter()
                    .find(|(inode, _)| *inode == socket.inode)
                    .map(|(_, f)| f.as_slice())
                    .unwrap_or_default();
                for f in findings.iter().take(MAX_FINDINGS) {
                    writeln!(
                        out,
                        "      verdict: {}",
                        reason_line(f.severity, &f.reason, self.ui)
                    )?;
                }
            }
            for holder in socket.holders.iter().take(MAX_HOLDERS) {
                self.holder(out, holder, "      ", &mut described)?;
            }
            if socket.holders.len() > MAX_HOLDERS {
                let rest: Vec<String> = socket.holders[MAX_HOLDERS..]
                    .iter()
                    .take(8)
                    .map(|h| format!("PID {} {}", h.process.pid, render::escape(&h.process.name)))
                    .collect();
                writeln!(
                    out,
                    "      and {} more processes hold it: {}{}",
                    socket.holders.len() - MAX_HOLDERS,
                    rest.join(", "),
                    if socket.holders.len() > MAX_HOLDERS + 8 {
                        ", …"
                    } else {
                        ""
                    }
                )?;
            }
        }
        if s.listener_sockets.len() > MAX_LISTENERS {
            writeln!(
                out,
                "  and {} more listeners: portscope list -l -p {}",
                s.listener_sockets.len() - MAX_LISTENERS,
                self.port
            )?;
        }
        self.groups(out, &s.connections, false, "  ", &mut described)?;
        if !s.outgoing.is_empty() {
            let total: usize = s.outgoing.iter().map(|g| g.count).sum();
            let (noun, verb) = if total == 1 {
                ("connection", "goes")
            } else {
                ("connections", "go")
            };
            writeln!(
                out,
                "  {total} {noun} from this machine {verb} to port {} (as a client):",
                self.port
            )?;
            self.groups(out, &s.outgoing, true, "    ", &mut described)?;
            writeln!(
                out,
                "  to cut them: {} (the program keeps running), or stop the program with the command above",
                cut_command(self.port, &s.outgoing)
            )?;
        }
        Ok(())
    }

    fn groups(
        &self,
        out: &mut impl Write,
        groups: &[Group],
        outgoing: bool,
        indent: &str,
        described: &mut HashSet<u32>,
    ) -> io::Result<()> {
        for g in groups.iter().take(MAX_GROUPS) {
            let noun = if g.count == 1 { "connection" } else { "connections" };
            let direction = if outgoing { "to" } else { "from" };
            let place = g
                .sockets
                .first()
                .map(|s| self.summary.place(s))
                .unwrap_or_default();
            let peers = peers_text(&g.peers);
            match (g.holder, g.no_process) {
                (Some(holder), _) => {
                    // One peer: "300 connections from A (ESTAB 200, …)"; several: the states
                    // first, so that the peers' counts do not read as states.
                    let states = states_text(&g.states);
                    let line = if g.peers.len() == 1 {
                        format!("{indent}{} {noun} {direction} {peers} ({states}){place}", g.count)
                    } else {
                        format!("{indent}{} {noun} ({states}) {direction} {peers}{place}", g.count)
                    };
                    let pid = holder.process.pid;
                    if described.contains(&pid) {
                        // Said above in full: one line.
                        let held = format!("PID {pid} {}", render::escape(&holder.process.name));
                        writeln!(
                            out,
                            "{line}, held by {} (above)",
                            self.ui.paint(Color::Bold, &held)
                        )?;
                    } else {
                        writeln!(out, "{line}")?;
                        self.holder(out, holder, &format!("{indent}    "), described)?;
                    }
                }
                (None, why) => {
                    let why = why.unwrap_or(NoProcess::Finishing).why(self.read_all);
                    let what = match g.states.as_slice() {
                        [one] => format!("{} {}", g.count, one.state.as_str()),
                        _ => format!("{} {noun} ({})", g.count, states_text(&g.states)),
                    };
                    writeln!(
                        out,
                        "{indent}{what} {direction} {peers} with no process ({why}){place}"
                    )?;
                }
            }
        }
        if groups.len() > MAX_GROUPS {
            let rest = &groups[MAX_GROUPS..];
            let sockets: usize = rest.iter().map(|g| g.count).sum();
            writeln!(
                out,
                "{indent}and {sockets} more in {} groups: portscope list -a -p {}",
                rest.len(),
                self.port
            )?;
        }
        Ok(())
    }

    /// A process that holds a socket: who it is, the audit's verdict, and how to stop it; once in
    /// full, then by name only.
    fn holder(
        &self,
        out: &mut impl Write,
        holder: &Holder,
        indent: &str,
        described: &mut HashSet<u32>,
    ) -> io::Result<()> {
        let p = &holder.process;
        let held = format!("PID {} {}", p.pid, render::escape(&p.name));
        if !described.insert(p.pid) {
            return writeln!(
                out,
                "{indent}held by {} (verdict and stop command above)",
                self.ui.paint(Color::Bold, &held)
            );
        }
        let exe = p
            .exe
            .as_ref()
            .map(|e| {
                format!(
                    " ({}{})",
                    render::path(e),
                    if p.exe_deleted { ", deleted" } else { "" }
                )
            })
            .unwrap_or_default();
        let user = p
            .user
            .as_deref()
            .map_or_else(|| p.uid.to_string(), |u| render::escape(u).into_owned());
        let held = format!("{held}{exe}");
        writeln!(
            out,
            "{indent}held by {}, user {user}",
            self.ui.paint(Color::Bold, &held)
        )?;
        if let Some(verdict) = self.summary.verdict(p.pid) {
            match verdict.findings.as_slice() {
                [] => writeln!(out, "{indent}verdict: no finding")?,
                findings => {
                    for (i, f) in findings.iter().take(MAX_FINDINGS).enumerate() {
                        let head = if i == 0 { "verdict: " } else { "         " };
                        writeln!(
                            out,
                            "{indent}{head}{}",
                            reason_line(f.severity, f.reason, self.ui)
                        )?;
                    }
                    if findings.len() > MAX_FINDINGS {
                        writeln!(
                            out,
                            "{indent}         and {} more: portscope audit",
                            findings.len() - MAX_FINDINGS
                        )?;
                    }
                }
            }
        }
        if !p.cmdline.is_empty() {
            let command = render::escape(&p.cmdline.join(" ")).into_owned();
            writeln!(out, "{indent}command: {}", render::truncate(&command, 100))?;
        }
        if let Some(sup) = &p.supervisor {
            writeln!(out, "{indent}started by: {}", render::escape(&sup.to_string()))?;
        }
        if let Some(verdict) = self.summary.verdict(p.pid) {
            if let Some(keep) = &verdict.keep_evidence {
                writeln!(out, "{indent}keep the evidence first: {keep}")?;
            }
            writeln!(out, "{indent}to stop it: {}", render::escape(&verdict.stop))?;
        }
        Ok(())
    }
}

/// "ALERT — The executable …": the verdict word, then the finding's one sentence.
fn reason_line(severity: Severity, reason: &str, ui: Ui) -> String {
    let word = severity_word(severity);
    let color = match severity {
        Severity::Alert => Color::Red,
        Severity::Warning => Color::Yellow,
        Severity::Info => Color::Dim,
    };
    format!("{} \u{2014} {}", ui.paint(color, word), render::escape(reason))
}

/// The word `list` and `audit` show for a severity.
pub fn severity_word(severity: Severity) -> &'static str {
    match severity {
        Severity::Alert => "ALERT",
        Severity::Warning => "warning",
        Severity::Info => "info",
    }
}

/// `portscope close PORT --remote`, with `--netns` when every connection lives in one namespace
/// that is not portscope's own, so that the command acts on exactly these connections.
fn cut_command(port: u16, outgoing: &[Group]) -> String {
    let namespaces: HashSet<u64> = outgoing
        .iter()
        .flat_map(|g| &g.sockets)
        .map(|s| s.netns.inode)
        .collect();
    let foreign = outgoing.iter().all(|g| g.netns.is_some());
    match (
        namespaces.len(),
        foreign,
        outgoing.first().and_then(|g| g.sockets.first()),
    ) {
        (1, true, Some(socket)) => suggest::cut_outgoing_in(port, &socket.netns),
        _ => suggest::cut_outgoing(port),
    }
}
