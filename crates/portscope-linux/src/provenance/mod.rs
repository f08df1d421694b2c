//! What started a holder process, read from /proc and the host's state files: the platform's
//! answer to [`portscope_core::platform::Collect::provenance`].
//!
//! Per holder, and only for the holders a command shows:
//! - the parent chain, from /proc/PID/stat (parent, session, terminal), `exe`, `status` (uid)
//!   and the first words of `cmdline`, up to init;
//! - socket activation: the holder is the service manager (then `systemctl list-sockets` names
//!   its socket units), or `systemd-socket-activate` (its command line says what it starts), or
//!   it received its socket (`LISTEN_FDS`, `LISTEN_PID`, `LISTEN_FDNAMES` in its environment);
//! - an SSH session: the nearest `sshd` above the holder, its connected TCP socket (its
//!   descriptors, then /proc/SSHD/net/tcp{,6} in its own namespace), else `SSH_CONNECTION` /
//!   `SSH_CLIENT` in the environment of the holder or an ancestor;
//! - a scheduler: an ancestor whose executable is cron, crond, fcron, anacron or atd;
//! - a container: the engine and id from the cgroup, the name from the engine's state files
//!   ([`containers`]);
//! - a logind session: `session-ID.scope` in the cgroup, /run/systemd/sessions/ID.
//!
//! Identity is always the executable's path, never the name a process gives itself: a service
//! manager, `systemd-socket-activate` and sshd count only from a system directory; a scheduler
//! counts by its file name wherever it lives (a copy named `cron` in /tmp is what the audit's
//! `origin` rule is about). Every read is bounded; what could not be read is listed in
//! [`Provenance::unreadable`].

pub mod containers;
pub mod parse;

use std::cell::{OnceCell, RefCell};
use std::collections::{HashMap, HashSet};
use std::path::{Path, PathBuf};
use std::rc::Rc;

use std::net::SocketAddr;

use portscope_core::model::{Protocol, SocketState};
use portscope_core::provenance::{
    Activation, Activator, Ancestor, MAX_CHAIN, Provenance, Scheduler, SocketUnit, SshSession, SshSource,
};

use crate::process::{StatFields, parse_cmdline, parse_stat, parse_status_uid, read_bounded};

/// The most of a command line kept for an ancestor (its program and script).
const ANCESTOR_ARGS: usize = 4;
/// The most environments read looking for `SSH_CONNECTION` (the holder and its nearest
/// ancestors).
const MAX_ENVIRONMENTS: usize = 8;
/// The most of /proc/PID/net/tcp{,6} read to find an sshd's connection.
const MAX_NET_TABLE: u64 = 16 << 20;

/// One process as the chain needs it.
struct Node {
    pid: u32,
    stat: StatFields,
    exe: Option<PathBuf>,
    uid: Option<u32>,
    cmdline: Vec<String>,
}

impl Node {
    fn read(pid: u32) -> Option<Node> {
        let stat = parse_stat(&read_bounded(&format!("/proc/{pid}/stat"), 4096)?).ok()?;
        let uid =
            read_bounded(&format!("/proc/{pid}/status"), 64 << 10).and_then(|b| parse_status_uid(&b).ok());
        let cmdline = read_bounded(&format!("/proc/{pid}/cmdline"), 64 << 10)
            .map(|b| parse_cmdline(&b))
            .unwrap_or_default();
        Some(Node {
            pid,
            exe: crate::process::exe_link(pid).map(|(path, _)| path),
            stat,
            uid,
            cmdline,
        })
    }

    /// The executable's file name: what the process is, as far as a chain can tell.
    fn program(&self) -> Option<&str> {
        self.exe.as_deref()?.file_name()?.to_str()
    }

    /// The executable's file name when it lives in a system directory: a service manager, an
    /// activator or sshd is believed only there (a copy named `sshd` in /tmp is no SSH server).
    fn system_program(&self) -> Option<&str> {
        let exe = self.exe.as_deref()?;
        portscope_core::program::is_system_path(exe)
            .then(|| self.program())
            .flatten()
    }

    fn ancestor(&self, users: &HashMap<u32, String>) -> Ancestor {
        Ancestor {
            pid: self.pid,
            name: self.stat.comm.clone(),
            exe: self.exe.clone(),
            uid: self.uid,
            user: self.uid.and_then(|u| users.get(&u).cloned()),
            cmdline: self.cmdline.iter().take(ANCESTOR_ARGS).cloned().collect(),
            session_leader: self.stat.session == self.pid,
        }
    }
}

/// What `SSH_CONNECTION` in one environment says: the client's end and the server's.
type SshEnvironment = Option<(SocketAddr, Option<SocketAddr>)>;

/// What is read once per call, whatever the number of holders: holders share most of their
/// ancestors (init, a service manager, a shell), so each process is read once.
struct Shared<'a> {
    users: HashMap<u32, String>,
    root: &'a Path,
    socket_units: OnceCell<Option<Vec<SocketUnit>>>,
    nodes: RefCell<HashMap<u32, Option<Rc<Node>>>>,
    ssh_environments: RefCell<HashMap<u32, SshEnvironment>>,
    /// Each sshd's connection, read once (its namespace's TCP table may be large).
    connections: RefCell<HashMap<u32, Option<(SocketAddr, SocketAddr)>>>,
}

impl Shared<'_> {
    fn node(&self, pid: u32) -> Option<Rc<Node>> {
        if let Some(node) = self.nodes.borrow().get(&pid) {
            return node.clone();
        }
        let node = Node::read(pid).map(Rc::new);
        self.nodes.borrow_mut().insert(pid, node.clone());
        node
    }

    fn connection(&self, pid: u32) -> Option<(SocketAddr, SocketAddr)> {
        if let Some(found) = self.connections.borrow().get(&pid) {
            return *found;
        }
        let found = connection_of(pid);
        self.connections.borrow_mut().insert(pid, found);
        found
    }

    fn ssh_environment(&self, pid: u32) -> SshEnvironment {
        if let Some(found) = self.ssh_environments.borrow().get(&pid) {
            return *found;
        }
        let found = crate::host_facts::environment(pid).and_then(|e| parse::ssh_environment(&e));
        self.ssh_environments.borrow_mut().insert(pid, found);
        found
    }
}

/// The provenance of each of `pids` that still exists.
pub fn read(pids: &[u32]) -> HashMap<u32, Provenance> {
    let shared = Shared {
        users: crate::users::table(),
        root: Path::new("/"),
        socket_units: OnceCell::new(),
        nodes: RefCell::default(),
        ssh_environments: RefCell::default(),
        connections: RefCell::default(),
    };
    pids.iter()
        .filter_map(|&pid| Some((pid, one(pid, &shared)?)))
        .collect()
}

fn one(pid: u32, shared: &Shared) -> Option<Provenance> {
    let holder = shared.node(pid)?;
    let mut chain: Vec<Rc<Node>> = Vec::new();
    let mut seen = HashSet::from([pid]);
    let mut next = holder.stat.ppid;
    while next != 0 && chain.len() < MAX_CHAIN && seen.insert(next) {
        let Some(node) = shared.node(next) else {
            break;
        };
        next = node.stat.ppid;
        chain.push(node);
    }
    let mut p = Provenance {
        chain: chain.iter().map(|n| n.ancestor(&shared.users)).collect(),
        ..Provenance::default()
    };
    let environment = crate::host_facts::environment(pid);
    if environment.is_none() {
        p.unreadable.push(format!("the environment of PID {pid}"));
    }
    p.activation = activation(&holder, environment.as_deref(), shared);
    p.ssh = ssh(&holder, &chain, environment.as_deref(), shared, &mut p.unreadable);
    p.scheduler = scheduler(&holder, &chain, &shared.users);
    let cgroup = read_bounded(&format!("/proc/{pid}/cgroup"), 64 << 10)
        .map(|b| String::from_utf8_lossy(&b).into_owned())
        .unwrap_or_default();
    let path = parse::cgroup_path(&cgroup).unwrap_or_default();
    p.container = containers::of_cgroup(shared.root, &cgroup);
    if let Some(id) = parse::session_of_cgroup(path) {
        let file = shared.root.join("run/systemd/sessions").join(id);
        if let Some(bytes) = read_bounded(&file.to_string_lossy(), 64 << 10) {
            p.login = Some(parse::login_session(id, &String::from_utf8_lossy(&bytes)));
        }
    }
    Some(p)
}

fn activation(holder: &Node, environment: Option<&[String]>, shared: &Shared) -> Option<Activation> {
    match holder.system_program() {
        Some("systemd") => {
            // PID 1's socket units; a user manager's are its user's business (not listed here).
            let socket_units = if holder.pid == 1 {
                shared
                    .socket_units
                    .get_or_init(system_socket_units)
                    .clone()
                    .unwrap_or_default()
            } else {
                Vec::new()
            };
            return Some(Activation {
                by: Activator::ServiceManager,
                socket_units,
                ..Activation::default()
            });
        }
        Some("systemd-socket-activate") => {
            return Some(Activation {
                by: Activator::Command,
                starts: parse::activated_command(&holder.cmdline),
                ..Activation::default()
            });
        }
        _ => {}
    }
    let (listen_pid, fd_names) = parse::listen_environment(environment?)?;
    // The descriptors were meant for this process (or for its own pid inside a pid namespace).
    let own = crate::process::namespace_pid(holder.pid);
    if listen_pid.is_some_and(|l| l != holder.pid && Some(l) != own) {
        return None;
    }
    Some(Activation {
        by: Activator::Inherited,
        fd_names,
        ..Activation::default()
    })
}

/// `systemctl list-sockets` of the system manager; `None` when it cannot be run.
fn system_socket_units() -> Option<Vec<SocketUnit>> {
    let systemctl = crate::systemctl::find()?;
    let output = std::process::Command::new(systemctl)
        .args([
            "list-sockets",
            "--all",
            "--full",
            "--no-legend",
            "--plain",
            "--no-pager",
        ])
        .stdin(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .output()
        .ok()?;
    let text = String::from_utf8_lossy(&output.stdout[..output.stdout.len().min(4 << 20)]);
    output.status.success().then(|| parse::socket_units(&text))
}

fn ssh(
    holder: &Node,
    chain: &[Rc<Node>],
    environment: Option<&[String]>,
    shared: &Shared,
    unreadable: &mut Vec<String>,
) -> Option<SshSession> {
    let is_sshd = |n: &Rc<Node>| matches!(n.system_program(), Some("sshd" | "sshd-session"));
    let nearest = chain.iter().position(is_sshd);
    let mut session = SshSession::default();
    if let Some(at) = nearest {
        // The session's first process below sshd: its user and terminal are the login's.
        let below: &Node = if at == 0 { holder } else { &chain[at - 1] };
        session.pid = Some(chain[at].pid);
        session.uid = below.uid;
        session.user = below.uid.and_then(|u| shared.users.get(&u).cloned());
        session.tty = parse::tty_name(below.stat.tty_nr).or_else(|| parse::tty_name(holder.stat.tty_nr));
        // The user's sshd, then the privileged monitor above it: either holds the connection.
        for sshd in chain[at..].iter().take_while(|n| is_sshd(n)) {
            if let Some((local, remote)) = shared.connection(sshd.pid) {
                session.local = Some(local);
                session.remote = Some(remote);
                session.source = SshSource::Socket;
                return Some(session);
            }
        }
        unreadable.push(format!("the connection of sshd PID {}", chain[at].pid));
    }
    // The environment of the holder, then of its nearest ancestors.
    let (remote, local) = environment.and_then(parse::ssh_environment).or_else(|| {
        chain
            .iter()
            .take(MAX_ENVIRONMENTS)
            .find_map(|n| shared.ssh_environment(n.pid))
    })?;
    if nearest.is_none() {
        session.tty = parse::tty_name(holder.stat.tty_nr);
        session.uid = holder.uid;
        session.user = holder.uid.and_then(|u| shared.users.get(&u).cloned());
    }
    session.remote = Some(remote);
    session.local = local;
    session.source = SshSource::Environment;
    Some(session)
}

/// The established TCP connection `pid` holds: (local, remote), read from its own namespace's
/// tables.
fn connection_of(pid: u32) -> Option<(SocketAddr, SocketAddr)> {
    let inodes: HashSet<u64> = crate::fd_table::sockets_of(pid).ok()?.into_iter().collect();
    if inodes.is_empty() {
        return None;
    }
    ["tcp", "tcp6"].iter().find_map(|table| {
        let bytes = read_bounded(&format!("/proc/{pid}/net/{table}"), MAX_NET_TABLE)?;
        let sockets = crate::proc_net::parse(Protocol::Tcp, &bytes).ok()?;
        sockets
            .into_iter()
            .find(|s| s.state == SocketState::Established && inodes.contains(&s.inode))
            .map(|s| {
                (
                    SocketAddr::new(s.local.address, s.local.port),
                    SocketAddr::new(s.remote.address, s.remote.port),
                )
            })
    })
}

fn scheduler(holder: &Node, chain: &[Rc<Node>], users: &HashMap<u32, String>) -> Option<Scheduler> {
    let kind = |n: &Node| match n.program() {
        Some("cron" | "crond" | "fcron" | "busybox-crond") => Some("cron"),
        Some("anacron") => Some("anacron"),
        Some("atd") => Some("at"),
        _ => None,
    };
    let at = chain.iter().position(|n| kind(n).is_some())?;
    let runner = &chain[at];
    let below: &Node = if at == 0 { holder } else { &chain[at - 1] };
    Some(Scheduler {
        kind: kind(runner)?.to_string(),
        pid: runner.pid,
        exe: runner.exe.clone(),
        uid: below.uid,
        user: below.uid.and_then(|u| users.get(&u).cloned()),
    })
}
