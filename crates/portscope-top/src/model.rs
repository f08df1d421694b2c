//! The rows the live view shows, kept from one refresh to the next.
//!
//! The model is updated in place: a refresh adds the sockets that appeared (marked new for a few
//! seconds), marks the ones that vanished as closed (kept visible for a few seconds more), and
//! updates the state and queues of the rest. Holders and verdicts change only when the source took
//! a full look (a socket appeared, an owner changed); a cheap look, the kernel's dump alone, keeps
//! them.
//!
//! A finding stays on its process until the process is gone: when a flagged socket closes (a
//! reverse shell's connection cut with `x`), the audit can no longer see it, but the process may
//! well run on. Such a row keeps its verdict and findings and stays, marked closed, while its
//! owner lives ([`Model::linger`]), and goes at the first look that finds the owner gone. Nothing here
//! reads the host: tests drive it with snapshots from the fixture platform
//! (`portscope-fixture`).

use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::Arc;
use std::time::Duration;

use portscope_core::audit::{Finding, Report, Severity};
use portscope_core::knowledge::{ServiceNames, ServiceSides};
use portscope_core::model::{Endpoint, Holder, Netns, Protocol, Snapshot, Socket};

/// How long a new row stays highlighted.
pub const NEW_FOR: Duration = Duration::from_secs(3);
/// How long a closed row stays visible, marked.
pub const CLOSED_FOR: Duration = Duration::from_secs(5);

/// A socket's identity across refreshes: its namespace, protocol, both ends and inode (0 for a
/// socket no descriptor holds, such as TIME-WAIT, which the 4-tuple then identifies).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct RowKey {
    pub netns: u64,
    pub protocol: Protocol,
    pub local: Endpoint,
    pub remote: Endpoint,
    pub inode: u64,
}

impl RowKey {
    pub fn of(socket: &Socket) -> RowKey {
        RowKey {
            netns: socket.netns.inode,
            protocol: socket.protocol,
            local: socket.local,
            remote: socket.remote,
            inode: socket.inode,
        }
    }
}

/// One row: the socket as last seen, with what the view adds to it.
#[derive(Clone, Debug)]
pub struct Row {
    pub socket: Socket,
    /// The service name of the socket's service side (raw: the renderer escapes it).
    pub service: Option<String>,
    /// The port that names the service: the local one, or the peer's for a client's connection.
    pub service_port: u16,
    /// The worst audit finding about this socket.
    pub verdict: Option<Severity>,
    /// When the row appeared; `None` for rows present at the first look (not "new").
    pub appeared: Option<Duration>,
    /// When the row's socket vanished; it is removed [`CLOSED_FOR`] later, unless it lingers.
    pub closed: Option<Duration>,
    /// Closed, with a warning or an alert, and its owner still runs: the row stays so that the
    /// finding stays on the process.
    pub lingers: bool,
}

impl Row {
    /// Whether the row is still shown at `now`: open, closed lately, or lingering.
    fn stays(&self, now: Duration) -> bool {
        self.lingers || self.closed.is_none_or(|t| now.saturating_sub(t) < CLOSED_FOR)
    }

    pub fn is_new(&self, now: Duration) -> bool {
        self.closed.is_none() && self.appeared.is_some_and(|t| now.saturating_sub(t) < NEW_FOR)
    }

    /// The process the row is grouped under: the holder whose parent does not also hold it.
    pub fn owner(&self) -> Option<&Holder> {
        let holders: Vec<&Holder> = self.socket.holders.iter().collect();
        portscope_core::watch::root_holder(&holders)
    }
}

/// Counts for the header line (open rows only).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Counts {
    pub listeners: usize,
    pub connections: usize,
    pub alerts: usize,
    pub warnings: usize,
}

/// Every row the view knows, and the audit findings behind the verdicts.
#[derive(Debug, Default)]
pub struct Model {
    rows: BTreeMap<RowKey, Row>,
    findings: HashMap<u64, Vec<Finding>>,
    /// Rows seen at least once: a row is only "new" after the first look.
    started: bool,
    /// Bumped whenever a row is added, removed, closed or changes what it shows.
    generation: u64,
    namespaces: usize,
    /// The namespace portscope runs in, when the platform knows it.
    own_netns: Option<u64>,
    /// Some row lives in another namespace than portscope's own.
    foreign: bool,
}

impl Model {
    pub fn new() -> Model {
        Model::default()
    }

    pub fn rows(&self) -> impl Iterator<Item = (&RowKey, &Row)> {
        self.rows.iter()
    }

    pub fn row(&self, key: &RowKey) -> Option<&Row> {
        self.rows.get(key)
    }

    pub fn len(&self) -> usize {
        self.rows.len()
    }

    pub fn is_empty(&self) -> bool {
        self.rows.is_empty()
    }

    /// Changes whenever what the rows show changes; the view rebuilds its lines only then.
    pub fn generation(&self) -> u64 {
        self.generation
    }

    /// Whether the rows come from more than one network namespace.
    pub fn spans_namespaces(&self) -> bool {
        self.namespaces > 1
    }

    /// Whether the view adds a NETNS column: the rows span namespaces, or some row lives in
    /// another namespace than portscope's own (even when every row comes from that one).
    pub fn shows_netns(&self) -> bool {
        self.spans_namespaces() || self.foreign
    }

    /// The findings about the socket with this inode, most severe first.
    pub fn findings(&self, inode: u64) -> &[Finding] {
        self.findings.get(&inode).map_or(&[], Vec::as_slice)
    }

    pub fn counts(&self) -> Counts {
        let mut counts = Counts::default();
        for row in self.rows.values().filter(|r| r.closed.is_none() || r.lingers) {
            if row.closed.is_some() {
                // A lingering row counts for its finding only: its socket is gone.
            } else if row.socket.state.is_listening() {
                counts.listeners += 1;
            } else {
                counts.connections += 1;
            }
            match row.verdict {
                Some(Severity::Alert) => counts.alerts += 1,
                Some(Severity::Warning) => counts.warnings += 1,
                _ => {}
            }
        }
        counts
    }

    /// Applies one look at the host taken at `now`. `with_holders` says whether the snapshot
    /// names the holders (a full look); a cheap look keeps each row's holders. Returns whether
    /// anything the view shows changed.
    pub fn apply(
        &mut self,
        snapshot: &Snapshot,
        with_holders: bool,
        now: Duration,
        names: &ServiceNames,
        ephemeral: std::ops::RangeInclusive<u16>,
    ) -> bool {
        let before = self.generation;
        let mut seen: HashSet<RowKey> = HashSet::with_capacity(snapshot.sockets.len());
        let mut sides: Option<ServiceSides> = None;
        for socket in &snapshot.sockets {
            let key = RowKey::of(socket);
            seen.insert(key);
            match self.rows.get_mut(&key) {
                Some(row) => {
                    let shown_changed = row.closed.is_some()
                        || row.socket.state != socket.state
                        || (with_holders && row.socket.holders != socket.holders);
                    row.closed = None;
                    row.lingers = false;
                    row.socket.state = socket.state;
                    row.socket.recv_queue = socket.recv_queue;
                    row.socket.send_queue = socket.send_queue;
                    if with_holders {
                        row.socket.holders.clone_from(&socket.holders);
                    }
                    if shown_changed {
                        self.generation += 1;
                    }
                }
                None => {
                    let sides =
                        sides.get_or_insert_with(|| ServiceSides::new(&snapshot.sockets, ephemeral.clone()));
                    let service_port = sides.port(socket);
                    let service = names.name(service_port, socket.protocol).map(str::to_string);
                    self.rows.insert(
                        key,
                        Row {
                            socket: socket.clone(),
                            service,
                            service_port,
                            verdict: None,
                            appeared: self.started.then_some(now),
                            closed: None,
                            lingers: false,
                        },
                    );
                    self.generation += 1;
                }
            }
        }
        for (key, row) in &mut self.rows {
            if row.closed.is_none() && !seen.contains(key) {
                row.closed = Some(now);
                self.generation += 1;
            }
        }
        let count = self.rows.len();
        self.rows.retain(|_, row| row.stays(now));
        if self.rows.len() != count {
            self.generation += 1;
        }
        if snapshot.own_netns.is_some() {
            self.own_netns = snapshot.own_netns;
        }
        let namespaces: HashSet<u64> = self.rows.keys().map(|k| k.netns).collect();
        self.namespaces = namespaces.len();
        self.foreign = self
            .own_netns
            .is_some_and(|own| namespaces.iter().any(|&n| n != own));
        self.started = true;
        self.generation != before
    }

    /// Takes the verdicts and findings of an audit of the latest full look. A closed row keeps
    /// the verdict and findings it had: the audit no longer sees its socket, but what it found
    /// stays on the process ([`Model::linger`] decides how long).
    pub fn set_report(&mut self, report: &Report) {
        let verdicts = report.verdicts();
        let kept: Vec<u64> = self
            .rows
            .values()
            .filter(|r| r.closed.is_some() && r.socket.inode != 0)
            .map(|r| r.socket.inode)
            .collect();
        let mut findings: HashMap<u64, Vec<Finding>> = HashMap::new();
        for inode in kept {
            if let Some(old) = self.findings.remove(&inode) {
                findings.insert(inode, old);
            }
        }
        for finding in &report.findings {
            for socket in &finding.sockets {
                findings.entry(socket.inode).or_default().push(finding.clone());
            }
        }
        self.findings = findings;
        for row in self.rows.values_mut().filter(|r| r.closed.is_none()) {
            let verdict = (row.socket.inode != 0)
                .then(|| verdicts.get(&row.socket.inode).copied())
                .flatten();
            if row.verdict != verdict {
                row.verdict = verdict;
                self.generation += 1;
            }
        }
    }

    /// Keeps the closed rows with a warning or an alert whose owner `alive` says still runs
    /// (the same PID and program), and lets the others go as closed rows do. Called after each
    /// look, with the host's answer.
    pub fn linger(&mut self, now: Duration, alive: impl Fn(&Holder) -> bool) {
        let mut changed = false;
        for row in self.rows.values_mut().filter(|r| r.closed.is_some()) {
            let flagged = row.verdict.is_some_and(|v| v >= Severity::Warning);
            let lingers = flagged && row.owner().is_some_and(&alive);
            if row.lingers != lingers {
                row.lingers = lingers;
                changed = true;
            }
        }
        let count = self.rows.len();
        self.rows.retain(|_, row| row.stays(now));
        if changed || self.rows.len() != count {
            self.generation += 1;
        }
    }

    /// The namespace of a row, for labels and actions.
    pub fn netns(&self, key: &RowKey) -> Option<Arc<Netns>> {
        self.rows.get(key).map(|r| Arc::clone(&r.socket.netns))
    }

    /// Marks the view as changed (after an action), so that it rebuilds its lines.
    pub fn touch(&mut self) {
        self.generation += 1;
    }
}
