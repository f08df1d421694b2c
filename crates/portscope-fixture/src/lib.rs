//! A whole host loaded from a TOML file: a [`Platform`](portscope_core::Platform) that needs no
//! kernel. Test support only: the crate is a dev-dependency of core's tests, the live view, the
//! exporter and the CLI, and never part of a release build.
//!
//! A fixture names the host's processes (executable, deleted or memfd, command line, supervisor),
//! its sockets and who holds them, which package owns which file, which directories anyone may
//! write to, which names link to which executables, and ports a rootkit hides. Audit rules, close
//! plans and their execution, watch's diff and list's filters all run against it in milliseconds
//! and without root. Control actions change the fixture's state the way the kernel would: a
//! process that exits releases its sockets, and one marked `comeback` is replaced by a new
//! listener, as a supervisor would restart it.
//!
//! Launcher files for the persistence search are listed, not read: `[[persistence.files]]`
//! (`kind` such as `system-unit`, `user-crontab`, `autostart`; `path`; `user`; `text`),
//! `[[persistence.links]]` (`kind`, `path`, `target`: a `*.wants` link or a mask),
//! `[[persistence.skipped]]` (`path`, `why`), and `[[scripts]]` (`path`, `text`) for the scripts
//! their lines run; `hosts/persistence.toml` is one such host.
//! A process's provenance (what started it: `[process.provenance]` with `ssh`, `scheduler`,
//! `container`, `activation`, …, as `list --why --json` prints it) is what `provenance` answers;
//! its `chain` defaults to the fixture's own parents of the process.
//!
//! A fixture can also play a platform that lacks facts: `unsupported = ["listed_pids", ...]`
//! under `[host]` makes those methods answer [`Unsupported`] (names from
//! [`OPTIONAL_FACTS`]), so tests show how every rule handles "not available on this platform".
//! `lock_holder` and `network_namespace` are always unsupported here: a fixture has no file
//! locks and one namespace per socket.
//!
//! ```toml
//! [host]
//! euid = 0
//! privileges = "full"            # or "none"
//! package_database = "dpkg"      # "rpm", "none"
//!
//! [[process]]
//! pid = 4242
//! name = "nginx"
//! exe = "/tmp/.x/nginx"
//! cmdline = ["nginx"]
//!
//! [[socket]]
//! protocol = "tcp"
//! local = "0.0.0.0:80"
//! state = "LISTEN"
//! holders = [4242]
//! ```

use std::collections::{BTreeMap, HashMap, HashSet};
use std::io;
use std::net::SocketAddr;
use std::ops::RangeInclusive;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use serde::Deserialize;

use portscope_core::error::{Error, Result};
use portscope_core::model::{
    Endpoint, Family, Holder, Netns, NetnsKind, Process, Protocol, Snapshot, Socket, SocketSource,
    SocketState, Supervisor,
};
use portscope_core::platform::{
    Answer, BpfProgram, CloseSignal, Collect, Control, ControlError, DestroyError, Events, HostFacts,
    Identity, NetnsSelection, OPTIONAL_FACTS, PackageDatabase, Pinned, ProbeResult, Query, SelfInfo, Session,
    StopWait, Unsupported,
};
use portscope_core::privilege::Privileges;

/// The file format, as written by hand.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct File {
    #[serde(default)]
    host: HostSpec,
    #[serde(default)]
    process: Vec<ProcessSpec>,
    #[serde(default)]
    socket: Vec<SocketSpec>,
    /// Executable path → owning package.
    #[serde(default)]
    packages: BTreeMap<PathBuf, String>,
    /// Directories that every user may write to.
    #[serde(default)]
    world_writable: Vec<PathBuf>,
    /// Files that exist now (an executable "deleted" but present here was replaced).
    #[serde(default)]
    files: Vec<PathBuf>,
    /// `dir/name` → the executable it resolves to (symlinks and hard links).
    #[serde(default)]
    links: BTreeMap<PathBuf, PathBuf>,
    /// Ports taken in the kernel that no socket table shows (what a rootkit hides).
    #[serde(default)]
    hidden: Vec<HiddenSpec>,
    /// The contents of /etc/ld.so.preload; absent: no such file.
    #[serde(default)]
    preload: Option<String>,
    /// Loaded eBPF programs.
    #[serde(default)]
    bpf: Vec<portscope_core::platform::BpfProgram>,
    /// The launcher files `persistence_files` answers: `[[persistence.files]]` (kind, path,
    /// user, text), `[[persistence.links]]` (kind, path, target, user), `[[persistence.skipped]]`
    /// (path, why).
    #[serde(default)]
    persistence: portscope_core::persistence::Files,
    /// Scripts `script_files` answers for the paths asked: `[[scripts]]` (path, text).
    #[serde(default)]
    scripts: Vec<portscope_core::persistence::File>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct HostSpec {
    #[serde(default)]
    euid: u32,
    #[serde(default = "full")]
    privileges: String,
    #[serde(default = "dpkg")]
    package_database: String,
    #[serde(default = "yes")]
    lists_bound_inactive: bool,
    #[serde(default = "ephemeral")]
    ephemeral: [u16; 2],
    #[serde(default = "self_pid")]
    self_pid: u32,
    #[serde(default)]
    ancestors: Vec<u32>,
    #[serde(default)]
    self_supervisor: Option<Supervisor>,
    #[serde(default = "yes")]
    systemctl: bool,
    #[serde(default)]
    unreadable_processes: usize,
    /// uid → name; TOML keys are strings, so the uid is written as one (`{ "33" = "www-data" }`).
    #[serde(default)]
    users: BTreeMap<String, String>,
    /// The kernel's taint mask.
    #[serde(default)]
    taint: Option<u64>,
    /// pid_max: the hidden-process probe asks every pid below it.
    #[serde(default = "pid_max")]
    pid_max: u32,
    /// Optional facts this host does not provide (see [`OPTIONAL_FACTS`]).
    #[serde(default)]
    unsupported: Vec<String>,
    /// Pids that run portscope's own executable (the same file as the inspecting process).
    #[serde(default)]
    own_executable: Vec<u32>,
    /// Pids whose main thread has exited while other threads hold their descriptors.
    #[serde(default)]
    headless: Vec<u32>,
}

fn pid_max() -> u32 {
    32768
}

impl Default for HostSpec {
    fn default() -> HostSpec {
        HostSpec {
            euid: 0,
            privileges: full(),
            package_database: dpkg(),
            lists_bound_inactive: true,
            ephemeral: ephemeral(),
            self_pid: self_pid(),
            ancestors: Vec::new(),
            self_supervisor: None,
            systemctl: true,
            unreadable_processes: 0,
            users: BTreeMap::new(),
            taint: None,
            pid_max: pid_max(),
            unsupported: Vec::new(),
            own_executable: Vec::new(),
            headless: Vec::new(),
        }
    }
}

fn full() -> String {
    "full".into()
}
fn dpkg() -> String {
    "dpkg".into()
}
fn yes() -> bool {
    true
}
fn ephemeral() -> [u16; 2] {
    [32768, 60999]
}
fn self_pid() -> u32 {
    999_999
}

/// What a process does when it is sent SIGTERM.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "kebab-case")]
enum OnTerm {
    #[default]
    Exit,
    /// Ignores SIGTERM; SIGKILL ends it.
    Ignore,
    /// Survives even SIGKILL (stuck in the kernel).
    Unkillable,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct ProcessSpec {
    pid: u32,
    #[serde(default = "one")]
    ppid: u32,
    name: String,
    #[serde(default)]
    exe: Option<PathBuf>,
    #[serde(default)]
    deleted: bool,
    #[serde(default)]
    cmdline: Vec<String>,
    #[serde(default)]
    uid: u32,
    #[serde(default)]
    user: Option<String>,
    #[serde(default)]
    start_time: Option<u64>,
    #[serde(default)]
    supervisor: Option<Supervisor>,
    #[serde(default)]
    kernel_thread: bool,
    /// A process the system cannot run without (a recorded Windows host's csrss.exe, …).
    #[serde(default)]
    critical: bool,
    /// Its pid in its own pid namespace (1: a container's init); default: not in a namespace.
    #[serde(default)]
    namespace_pid: Option<u32>,
    #[serde(default)]
    on_term: OnTerm,
    /// After it exits, a new process (this pid + 1000) listens on the same sockets' ports.
    #[serde(default)]
    comeback: bool,
    /// Its environment, `NAME=value` entries.
    #[serde(default)]
    environment: Vec<String>,
    /// Hidden from the process listing (a rootkit's), though it answers when asked by pid.
    #[serde(default)]
    hidden: bool,
    /// Thread ids of its other threads: they answer by pid but are never listed.
    #[serde(default)]
    threads: Vec<u32>,
    /// What started it (`[process.provenance]`: chain, ssh, scheduler, container, …), as the
    /// platform's `provenance` answers it; absent: only its parent chain, built from the
    /// fixture's processes.
    #[serde(default)]
    provenance: Option<portscope_core::provenance::Provenance>,
}

/// The Windows processes close refuses by name when a fixture marks them critical.
const CRITICAL_NAMES: &[&str] = &[
    "System",
    "smss.exe",
    "csrss.exe",
    "wininit.exe",
    "services.exe",
    "lsass.exe",
];

fn one() -> u32 {
    1
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct SocketSpec {
    #[serde(default = "tcp")]
    protocol: Protocol,
    local: SocketAddr,
    #[serde(default)]
    remote: Option<SocketAddr>,
    state: SocketState,
    #[serde(default)]
    inode: Option<u64>,
    #[serde(default)]
    cookie: Option<u64>,
    #[serde(default)]
    uid: u32,
    /// Pids of the processes that hold it.
    #[serde(default)]
    holders: Vec<u32>,
    /// The descriptor numbers each holder has it under (default: one, numbered from 3 up).
    #[serde(default)]
    fds: Vec<u32>,
    /// The network namespace by name (`host`, the default, or any other name: a named one), or
    /// `net:[INODE]`: an anonymous one (`unshare -n`, a sandbox) with that inode.
    #[serde(default)]
    netns: Option<String>,
    /// A packet socket's kind (`raw`, the default, or `dgram`).
    #[serde(default)]
    packet_kind: Option<String>,
    /// A packet socket's classic BPF filter, one `[code, jt, jf, k]` per instruction.
    #[serde(default)]
    filter: Option<Vec<[u32; 4]>>,
    /// A filter is attached but the reader may not see it.
    #[serde(default)]
    filter_hidden: bool,
    /// A view a rootkit hides it from: `netlink` (sock_diag, what `ss` reads) or `proc`
    /// (/proc/net/*, what `netstat` reads).
    #[serde(default)]
    hidden_from: Option<String>,
    /// An IPv6 socket that also takes IPv4 (IPV6_V6ONLY off).
    #[serde(default)]
    dual_stack: bool,
}

/// The namespace a fixture socket lives in: `host` (inode 1), an anonymous one given as
/// `net:[INODE]`, or a named one, whose inode is stable for the name so that selections by
/// inode can be tested.
fn fixture_netns(name: Option<&str>) -> Netns {
    let anonymous = name.and_then(|n| n.strip_prefix("net:[")?.strip_suffix(']')?.parse::<u64>().ok());
    if let Some(inode) = anonymous {
        return Netns {
            inode,
            name: None,
            kind: NetnsKind::Anonymous,
        };
    }
    match name {
        None | Some("host") => Netns {
            inode: 1,
            name: None,
            kind: NetnsKind::Host,
        },
        Some(name) => Netns {
            inode: 4_026_532_000 + name.bytes().fold(0u64, |h, b| (h * 31 + u64::from(b)) % 100_000),
            name: Some(name.to_string()),
            kind: NetnsKind::Named,
        },
    }
}

fn tcp() -> Protocol {
    Protocol::Tcp
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct HiddenSpec {
    #[serde(default = "tcp")]
    protocol: Protocol,
    family: Family,
    port: u16,
}

/// What a control action did to the fixture, in order: the record tests assert on.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Action {
    Signal { pid: u32, signal: CloseSignal },
    StopUnit { unit: String, user: Option<String> },
    Destroy { local: Endpoint, remote: Endpoint },
    KillGroup { pgid: u32 },
}

#[derive(Debug)]
struct State {
    /// Pids that have exited.
    exited: HashSet<u32>,
    /// Pids that got SIGTERM and ignore it until SIGKILL.
    actions: Vec<Action>,
    destroyed: HashSet<(Endpoint, Endpoint)>,
}

/// A host read from a fixture file. See the module documentation for the format.
#[derive(Debug)]
pub struct FixturePlatform {
    file: File,
    state: Arc<Mutex<State>>,
}

impl FixturePlatform {
    /// Parses a fixture; a malformed one is a usage error naming the problem.
    pub fn from_toml(text: &str) -> Result<FixturePlatform> {
        let table: toml::Table = toml::from_str(text).map_err(|e| Error::Usage(format!("fixture: {e}")))?;
        FixturePlatform::from_table(table)
    }

    /// A fixture from an already parsed TOML table (a test file that carries more than the host).
    pub fn from_table(table: toml::Table) -> Result<FixturePlatform> {
        let file: File = table
            .try_into()
            .map_err(|e| Error::Usage(format!("fixture: {e}")))?;
        if let Some(name) = file
            .host
            .unsupported
            .iter()
            .find(|name| !OPTIONAL_FACTS.contains(&name.as_str()))
        {
            return Err(Error::Usage(format!(
                "fixture: `{name}` in host.unsupported is not an optional fact (one of {})",
                OPTIONAL_FACTS.join(", ")
            )));
        }
        let pids: HashSet<u32> = file.process.iter().map(|p| p.pid).collect();
        for socket in &file.socket {
            if let Some(pid) = socket.holders.iter().find(|pid| !pids.contains(pid)) {
                return Err(Error::Usage(format!(
                    "fixture: socket {} names holder {pid}, which is no [[process]]",
                    socket.local
                )));
            }
        }
        Ok(FixturePlatform {
            file,
            state: Arc::new(Mutex::new(State {
                exited: HashSet::new(),
                actions: Vec::new(),
                destroyed: HashSet::new(),
            })),
        })
    }

    /// Reads a fixture file.
    pub fn load(path: &Path) -> Result<FixturePlatform> {
        let text = std::fs::read_to_string(path).map_err(|e| Error::io(path.display().to_string(), e))?;
        FixturePlatform::from_toml(&text).map_err(|e| Error::Usage(format!("{}: {e}", path.display())))
    }

    /// Every control action taken so far.
    pub fn actions(&self) -> Vec<Action> {
        self.lock().actions.clone()
    }

    /// Whether `pid` has exited (after a signal or a unit stop).
    pub fn has_exited(&self, pid: u32) -> bool {
        self.lock().exited.contains(&pid)
    }

    /// `value` unless the fixture declares `what` unsupported.
    fn answer<T>(&self, what: &'static str, value: impl FnOnce() -> T) -> Answer<T> {
        if self.file.host.unsupported.iter().any(|name| name == what) {
            Err(Unsupported { what })
        } else {
            Ok(value())
        }
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn spec(&self, pid: u32) -> Option<&ProcessSpec> {
        self.file.process.iter().find(|p| p.pid == pid)
    }

    fn process(&self, spec: &ProcessSpec) -> Process {
        Process {
            pid: spec.pid,
            ppid: spec.ppid,
            name: spec.name.clone(),
            name_bytes: None,
            exe: spec.exe.clone(),
            exe_deleted: spec.deleted,
            cmdline: spec.cmdline.clone(),
            uid: spec.uid,
            user: spec
                .user
                .clone()
                .or_else(|| self.file.host.users.get(&spec.uid.to_string()).cloned()),
            start_time: spec.start_time,
            supervisor: spec.supervisor.clone(),
        }
    }

    fn alive(&self, state: &State, pid: u32) -> bool {
        !state.exited.contains(&pid)
    }

    /// The sockets as they are now: held by live processes, plus those restarted by a supervisor.
    fn sockets_now(&self, with_holders: bool) -> Vec<Socket> {
        let state = self.lock();
        let mut processes: HashMap<u32, Arc<Process>> = HashMap::new();
        let mut out = Vec::new();
        for (index, spec) in self.file.socket.iter().enumerate() {
            let remote = spec
                .remote
                .unwrap_or_else(|| SocketAddr::new(unspecified(&spec.local), 0));
            let mut socket = Socket::new(
                spec.protocol,
                Endpoint::new(spec.local.ip(), spec.local.port()),
                Endpoint::new(remote.ip(), remote.port()),
                spec.state,
            );
            socket.inode = spec.inode.unwrap_or(10_000 + index as u64);
            socket.cookie = spec.cookie.unwrap_or(socket.inode);
            socket.uid = spec.uid;
            socket.dual_stack = spec.dual_stack;
            socket.netns = Arc::new(fixture_netns(spec.netns.as_deref()));
            if spec.protocol == Protocol::Packet {
                socket.family = Family::Packet;
                let filter = spec.filter.as_ref().map(|program| {
                    let instructions: Vec<portscope_core::bpf::Instruction> = program
                        .iter()
                        .map(|&[code, jt, jf, k]| portscope_core::bpf::Instruction {
                            code: code as u16,
                            jt: jt as u8,
                            jf: jf as u8,
                            k,
                        })
                        .collect();
                    portscope_core::bpf::decode(&instructions)
                });
                socket.packet = Some(Box::new(portscope_core::model::PacketInfo {
                    kind: spec.packet_kind.clone().unwrap_or_else(|| "raw".into()),
                    ethertype: 3,
                    interface: 0,
                    filter,
                    filter_hidden: spec.filter_hidden,
                }));
            }
            if state.destroyed.contains(&(socket.local, socket.remote)) {
                continue;
            }
            let live: Vec<u32> = spec
                .holders
                .iter()
                .copied()
                .filter(|&pid| self.alive(&state, pid))
                .collect();
            // A socket whose every holder exited is closed; a connection-less TIME-WAIT stays.
            if !spec.holders.is_empty() && live.is_empty() {
                let restarted: Vec<&ProcessSpec> = spec
                    .holders
                    .iter()
                    .filter_map(|&pid| self.spec(pid))
                    .filter(|p| p.comeback)
                    .collect();
                if let Some(first) = restarted.first() {
                    let mut again = socket.clone();
                    again.inode += 1_000_000;
                    again.cookie = again.inode;
                    if with_holders {
                        let mut process = self.process(first);
                        process.pid += 1000;
                        again.holders = vec![Holder {
                            process: Arc::new(process),
                            fds: vec![3],
                            provenance: None,
                        }];
                    }
                    out.push(again);
                }
                continue;
            }
            if with_holders {
                for (n, pid) in live.into_iter().enumerate() {
                    let Some(process_spec) = self.spec(pid) else {
                        continue;
                    };
                    let process = processes
                        .entry(pid)
                        .or_insert_with(|| Arc::new(self.process(process_spec)));
                    let fds = if spec.fds.is_empty() {
                        vec![3 + n as u32]
                    } else {
                        spec.fds.clone()
                    };
                    socket.holders.push(Holder {
                        process: Arc::clone(process),
                        fds,
                        provenance: None,
                    });
                }
            }
            out.push(socket);
        }
        out
    }

    /// The inodes of the sockets hidden from one view (`netlink` or `proc`).
    fn hidden_from(&self, view: &str) -> Vec<u64> {
        self.file
            .socket
            .iter()
            .enumerate()
            .filter(|(_, s)| s.hidden_from.as_deref() == Some(view))
            .map(|(index, s)| s.inode.unwrap_or(10_000 + index as u64))
            .collect()
    }

    /// The live process `pid` belongs to (itself, or the process whose thread it is).
    fn group_of(&self, pid: u32) -> Option<u32> {
        let state = self.lock();
        self.file
            .process
            .iter()
            .filter(|p| self.alive(&state, p.pid))
            .find(|p| p.pid == pid || p.threads.contains(&pid))
            .map(|p| p.pid)
    }

    fn exit(&self, pid: u32) {
        self.lock().exited.insert(pid);
    }
}

fn unspecified(local: &SocketAddr) -> std::net::IpAddr {
    match local {
        SocketAddr::V4(_) => std::net::IpAddr::from([0, 0, 0, 0]),
        SocketAddr::V6(_) => std::net::IpAddr::from([0u16; 8]),
    }
}

fn wanted(query: &Query, socket: &Socket) -> bool {
    let protocol_ok = match socket.protocol {
        Protocol::Tcp => query.tcp,
        Protocol::Udp => query.udp,
        Protocol::Raw => query.raw,
        Protocol::Packet => query.packet,
        Protocol::Sctp => query.sctp,
    };
    let family_ok = match socket.family {
        Family::Ipv4 => query.ipv4,
        Family::Ipv6 => query.ipv6,
        Family::Packet => true,
    };
    let netns_ok = match query.netns.as_ref().unwrap_or(&NetnsSelection::All) {
        NetnsSelection::All => true,
        NetnsSelection::Current => socket.netns.kind == NetnsKind::Host,
        NetnsSelection::Name(name) => socket.netns.answers_to(name),
        NetnsSelection::Inode(inode) => socket.netns.inode == *inode,
        NetnsSelection::Pid(pid) => socket.holders.iter().any(|h| h.process.pid == *pid),
    };
    protocol_ok && family_ok && netns_ok && query.states.admits(socket.state)
}

impl FixturePlatform {
    /// The parent chain of `pid` from the fixture's processes, parent first, up to a process the
    /// fixture does not name.
    fn chain(&self, pid: u32) -> Vec<portscope_core::provenance::Ancestor> {
        let mut chain = Vec::new();
        let mut current = self.spec(pid).map(|p| p.ppid);
        while let Some(parent) = current.filter(|&p| p != 0) {
            if chain.len() >= portscope_core::provenance::MAX_CHAIN {
                break;
            }
            let Some(spec) = self.spec(parent) else {
                break;
            };
            let process = self.process(spec);
            chain.push(portscope_core::provenance::Ancestor {
                pid: parent,
                name: process.name.clone(),
                exe: process.exe.clone(),
                uid: Some(process.uid),
                user: process.user.clone(),
                cmdline: process.cmdline.iter().take(4).cloned().collect(),
                session_leader: false,
            });
            current = Some(spec.ppid).filter(|&p| p != parent);
        }
        chain
    }
}

impl Collect for FixturePlatform {
    fn snapshot(&self, query: &Query) -> Result<Snapshot> {
        let hidden = self.hidden_from("netlink");
        let sockets = self
            .sockets_now(query.processes)
            .into_iter()
            .filter(|s| wanted(query, s) && !hidden.contains(&s.inode))
            .collect();
        let sockets: Vec<Socket> = sockets;
        let mut namespaces: Vec<Arc<Netns>> = Vec::new();
        for socket in &sockets {
            if !namespaces.iter().any(|n| n.inode == socket.netns.inode) {
                namespaces.push(Arc::clone(&socket.netns));
            }
        }
        Ok(Snapshot {
            unreadable_processes: if query.processes {
                self.file.host.unreadable_processes
            } else {
                0
            },
            namespaces,
            own_netns: Some(1),
            headless: if query.processes {
                self.file.host.headless.clone()
            } else {
                Vec::new()
            },
            ..Snapshot::of(sockets, SocketSource::Netlink)
        })
    }

    fn identity(&self, pid: u32) -> Option<Identity> {
        let state = self.lock();
        let spec = self.spec(pid).filter(|p| self.alive(&state, p.pid))?;
        Some(Identity {
            name: spec.name.clone(),
            exe: spec.exe.clone(),
            start_time: spec.start_time,
        })
    }

    fn parent(&self, pid: u32) -> Answer<Option<u32>> {
        self.answer("parent", || {
            let state = self.lock();
            self.spec(pid)
                .filter(|p| self.alive(&state, p.pid) && p.ppid != 0 && p.ppid != p.pid)
                .map(|p| p.ppid)
        })
    }

    fn is_kernel_thread(&self, pid: u32) -> bool {
        self.spec(pid).is_some_and(|p| p.kernel_thread)
    }

    fn critical_process(&self, pid: u32) -> Option<&'static str> {
        // The names a recorded Windows host may mark critical (`critical = true`).
        let spec = self.spec(pid).filter(|p| p.critical)?;
        CRITICAL_NAMES
            .iter()
            .copied()
            .find(|name| name.eq_ignore_ascii_case(&spec.name))
            .or(Some("a critical system process"))
    }

    fn namespace_pid(&self, pid: u32) -> Option<u32> {
        self.spec(pid).map(|p| p.namespace_pid.unwrap_or(p.pid))
    }

    fn lock_holder(&self, _dev: u64, _ino: u64) -> Answer<Option<u32>> {
        Err(Unsupported { what: "lock_holder" })
    }

    fn privileges(&self) -> Privileges {
        let euid = self.file.host.euid;
        match self.file.host.privileges.as_str() {
            "none" => Privileges::none(euid),
            _ => Privileges::full(euid),
        }
    }

    fn user_names(&self) -> HashMap<u32, String> {
        let users = &self.file.host.users;
        users
            .iter()
            .filter_map(|(uid, name)| Some((uid.parse().ok()?, name.clone())))
            .collect()
    }

    fn ephemeral_ports(&self) -> RangeInclusive<u16> {
        let [low, high] = self.file.host.ephemeral;
        low..=high
    }

    fn self_info(&self) -> SelfInfo {
        SelfInfo {
            pid: self.file.host.self_pid,
            ancestors: self.file.host.ancestors.clone(),
            euid: self.file.host.euid,
            supervisor: self.file.host.self_supervisor.clone(),
        }
    }

    fn provenance(&self, pids: &[u32]) -> Answer<HashMap<u32, portscope_core::provenance::Provenance>> {
        self.answer("provenance", || {
            pids.iter()
                .filter_map(|&pid| {
                    let spec = self.spec(pid)?;
                    let mut provenance = spec.provenance.clone().unwrap_or_default();
                    if provenance.chain.is_empty() {
                        provenance.chain = self.chain(pid);
                    }
                    Some((pid, provenance))
                })
                .collect()
        })
    }

    fn network_namespace(&self) -> Answer<Option<String>> {
        Err(Unsupported {
            what: "network_namespace",
        })
    }
}

impl HostFacts for FixturePlatform {
    fn file_exists(&self, _pid: u32, path: &Path) -> Option<bool> {
        Some(self.file.files.iter().any(|f| f == path))
    }

    fn dir_world_writable(&self, _pid: u32, path: &Path) -> Option<bool> {
        // Listed: world-writable. Otherwise unknown, so audit falls back to the path's name.
        let dir = path.parent()?;
        self.file.world_writable.iter().any(|d| d == dir).then_some(true)
    }

    fn name_resolves_to(&self, _pid: u32, dir: &Path, name: &str, exe: &Path) -> bool {
        dir.join(name) == exe
            || self
                .file
                .links
                .get(&dir.join(name))
                .is_some_and(|target| target == exe)
    }

    fn same_root(&self, _pid: u32) -> Option<bool> {
        Some(true)
    }

    fn exe_is_hosts(&self, _pid: u32) -> Option<bool> {
        Some(true)
    }

    fn package_database(&self) -> PackageDatabase {
        match self.file.host.package_database.as_str() {
            "dpkg" => PackageDatabase::Dpkg,
            "rpm" => PackageDatabase::RpmUnsupported,
            _ => PackageDatabase::None,
        }
    }

    fn package_owners(&self, paths: &[PathBuf]) -> Answer<io::Result<HashMap<PathBuf, String>>> {
        self.answer("package_owners", || {
            Ok(paths
                .iter()
                .filter_map(|p| self.file.packages.get(p).map(|pkg| (p.clone(), pkg.clone())))
                .collect())
        })
    }

    fn bind_probe(&self, protocol: Protocol, family: Family, ports: &[u16]) -> io::Result<ProbeResult> {
        let taken: HashSet<u16> = self
            .sockets_now(false)
            .iter()
            .filter(|s| s.protocol == protocol)
            .map(|s| s.local.port)
            .chain(
                self.file
                    .hidden
                    .iter()
                    .filter(|h| h.protocol == protocol && h.family == family)
                    .map(|h| h.port),
            )
            .collect();
        Ok(ProbeResult {
            in_use: ports.iter().copied().filter(|p| taken.contains(p)).collect(),
            denied: 0,
            unavailable: false,
        })
    }

    fn lists_bound_inactive(&self) -> bool {
        self.file.host.lists_bound_inactive
    }

    fn processes(&self) -> Answer<Vec<Process>> {
        self.answer("processes", || {
            let state = self.lock();
            self.file
                .process
                .iter()
                .filter(|p| self.alive(&state, p.pid))
                .map(|p| self.process(p))
                .collect()
        })
    }

    fn children(&self, pid: u32) -> Answer<Option<Vec<u32>>> {
        self.answer("children", || {
            let state = self.lock();
            self.spec(pid)?;
            Some(
                self.file
                    .process
                    .iter()
                    .filter(|p| p.ppid == pid && p.pid != pid && self.alive(&state, p.pid))
                    .map(|p| p.pid)
                    .collect(),
            )
        })
    }

    fn runs_own_executable(&self, pid: u32) -> bool {
        self.file.host.own_executable.contains(&pid)
    }

    fn environment(&self, pid: u32) -> Answer<Option<Vec<String>>> {
        self.answer("environment", || self.spec(pid).map(|p| p.environment.clone()))
    }

    fn preload_file(&self) -> Answer<Option<Vec<u8>>> {
        self.answer("preload_file", || {
            self.file.preload.as_ref().map(|text| text.as_bytes().to_vec())
        })
    }

    fn listed_pids(&self) -> Answer<io::Result<Vec<u32>>> {
        self.answer("listed_pids", || {
            let state = self.lock();
            Ok(self
                .file
                .process
                .iter()
                .filter(|p| self.alive(&state, p.pid) && !p.hidden)
                .map(|p| p.pid)
                .collect())
        })
    }

    fn pid_max(&self) -> Answer<u32> {
        self.answer("pid_max", || self.file.host.pid_max)
    }

    fn pid_answers(&self, pid: u32) -> Answer<bool> {
        self.answer("pid_answers", || self.group_of(pid).is_some())
    }

    fn thread_group(&self, pid: u32) -> Answer<Option<u32>> {
        self.answer("thread_group", || self.group_of(pid))
    }

    fn bpf_programs(&self) -> Answer<io::Result<Vec<BpfProgram>>> {
        self.answer("bpf_programs", || Ok(self.file.bpf.clone()))
    }

    fn proc_net_sockets(&self) -> Answer<io::Result<Vec<Socket>>> {
        self.answer("proc_net_sockets", || {
            let hidden = self.hidden_from("proc");
            Ok(self
                .sockets_now(false)
                .into_iter()
                .filter(|s| {
                    matches!(s.protocol, Protocol::Tcp | Protocol::Udp)
                        && s.netns.kind == NetnsKind::Host
                        && !hidden.contains(&s.inode)
                })
                .collect())
        })
    }

    fn kernel_taint(&self) -> Answer<Option<u64>> {
        self.answer("kernel_taint", || self.file.host.taint)
    }

    fn persistence_files(&self) -> Answer<portscope_core::persistence::Files> {
        self.answer("persistence_files", || self.file.persistence.clone())
    }

    fn script_files(&self, paths: &[PathBuf]) -> Answer<portscope_core::persistence::Files> {
        self.answer("script_files", || portscope_core::persistence::Files {
            files: self
                .file
                .scripts
                .iter()
                .filter(|s| paths.contains(&s.path))
                .cloned()
                .collect(),
            ..Default::default()
        })
    }
}

impl Control for FixturePlatform {
    fn pin(&self, pid: u32) -> Result<Box<dyn Pinned>, ControlError> {
        let state = self.lock();
        match self.spec(pid) {
            Some(spec) if self.alive(&state, pid) => Ok(Box::new(FixturePin {
                pid,
                on_term: spec.on_term,
                host: self.clone_handle(),
            })),
            _ => Err(ControlError::Gone),
        }
    }

    fn can_stop_units(&self) -> bool {
        self.file.host.systemctl
    }

    fn stop_unit(&self, unit: &str, user: Option<&str>) -> Result<(), String> {
        self.lock().actions.push(Action::StopUnit {
            unit: unit.to_string(),
            user: user.map(str::to_string),
        });
        let members: Vec<u32> = self
            .file
            .process
            .iter()
            .filter(|p| {
                matches!(&p.supervisor, Some(Supervisor::Systemd { unit: u } | Supervisor::SystemdUser { unit: u }) if u == unit)
            })
            .map(|p| p.pid)
            .collect();
        for pid in members {
            self.exit(pid);
        }
        Ok(())
    }

    fn connections(&self) -> io::Result<Vec<Socket>> {
        Ok(self
            .sockets_now(false)
            .into_iter()
            .filter(|s| {
                s.protocol == Protocol::Tcp
                    && portscope_core::platform::StateFilter::Connected.admits(s.state)
            })
            .collect())
    }

    fn destroy(&self, connection: &Socket) -> Result<(), DestroyError> {
        if !self.privileges().net_admin {
            return Err(DestroyError::Permission);
        }
        let mut state = self.lock();
        state.actions.push(Action::Destroy {
            local: connection.local,
            remote: connection.remote,
        });
        if state.destroyed.insert((connection.local, connection.remote)) {
            Ok(())
        } else {
            Err(DestroyError::Gone)
        }
    }
}

/// A fixture's stop signal never comes: waiting sleeps the whole timeout.
struct NeverStopped;

impl StopWait for NeverStopped {
    fn wait(&self, timeout: Duration) -> Option<i32> {
        std::thread::sleep(timeout);
        None
    }
}

/// A recorded host has no live kernel: no event source, so `watch` on a fixture polls.
impl Events for FixturePlatform {
    fn events(
        &self,
    ) -> Answer<
        std::result::Result<
            Box<dyn portscope_core::watch::kernel::EventStream>,
            portscope_core::watch::kernel::EventsUnavailable,
        >,
    > {
        Err(Unsupported { what: "events" })
    }
}

impl Session for FixturePlatform {
    /// Times are shown in UTC, so that outputs are the same on every machine.
    fn local_time(&self, time_ms: i64) -> String {
        portscope_core::time::rfc3339(time_ms)
    }

    fn utc_offset_ms(&self, _time_ms: i64) -> i64 {
        0
    }

    fn block_stop_signals(&self) -> io::Result<Box<dyn StopWait>> {
        Ok(Box::new(NeverStopped))
    }

    fn kill_process_group(&self, pgid: u32) {
        self.lock().actions.push(Action::KillGroup { pgid });
    }

    /// A recorded host has no terminal to lose.
    fn terminal_gone(&self) -> bool {
        false
    }
}

impl FixturePlatform {
    /// A second view of the same host state, for pinned processes to act on.
    fn clone_handle(&self) -> FixtureHost {
        FixtureHost {
            state: Arc::clone(&self.state),
        }
    }
}

/// The part of a fixture that a pinned process changes.
#[derive(Debug)]
struct FixtureHost {
    state: Arc<Mutex<State>>,
}

impl FixtureHost {
    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }
}

#[derive(Debug)]
struct FixturePin {
    pid: u32,
    on_term: OnTerm,
    host: FixtureHost,
}

impl Pinned for FixturePin {
    fn pid(&self) -> u32 {
        self.pid
    }

    fn holds_any(&self, _inodes: &[u64]) -> Result<bool, ControlError> {
        if self.host.lock().exited.contains(&self.pid) {
            return Err(ControlError::Gone);
        }
        Ok(true)
    }

    fn signal(&self, signal: CloseSignal) -> Result<(), ControlError> {
        let mut state = self.host.lock();
        if state.exited.contains(&self.pid) {
            return Err(ControlError::Gone);
        }
        state.actions.push(Action::Signal {
            pid: self.pid,
            signal,
        });
        let exits = matches!(
            (signal, self.on_term),
            (_, OnTerm::Exit) | (CloseSignal::Kill, OnTerm::Ignore)
        );
        if exits {
            state.exited.insert(self.pid);
        }
        Ok(())
    }

    fn wait_exit(&self, _timeout: Duration) -> Result<bool, ControlError> {
        Ok(self.host.lock().exited.contains(&self.pid))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use portscope_core::platform::StateFilter;

    const HOST: &str = r#"
        [host]
        euid = 0
        [[process]]
        pid = 10
        name = "web"
        exe = "/usr/sbin/web"
        [[socket]]
        local = "0.0.0.0:80"
        state = "LISTEN"
        holders = [10]
        [[socket]]
        local = "198.18.0.1:80"
        remote = "198.18.0.2:40000"
        state = "ESTABLISHED"
        holders = [10]
    "#;

    #[test]
    fn loads_sockets_and_holders() {
        let host = FixturePlatform::from_toml(HOST).unwrap();
        let snapshot = host.snapshot(&Query::default()).unwrap();
        assert_eq!(snapshot.sockets.len(), 2);
        assert_eq!(snapshot.sockets[0].holders[0].process.name, "web");
        let listening = host
            .snapshot(&Query {
                states: StateFilter::Listening,
                ..Query::default()
            })
            .unwrap();
        assert_eq!(listening.sockets.len(), 1);
        assert_eq!(host.connections().unwrap().len(), 1);
    }

    #[test]
    fn a_signalled_process_releases_its_sockets() {
        let host = FixturePlatform::from_toml(HOST).unwrap();
        let pin = host.pin(10).unwrap();
        pin.signal(CloseSignal::Term).unwrap();
        assert!(pin.wait_exit(Duration::ZERO).unwrap());
        assert!(host.snapshot(&Query::default()).unwrap().sockets.is_empty());
        assert!(matches!(host.pin(10), Err(ControlError::Gone)));
    }

    #[test]
    fn sockets_carry_their_namespace_and_queries_select_one() {
        let toml = r#"
            [[process]]
            pid = 10
            name = "web"

            [[process]]
            pid = 20
            name = "api"

            [[socket]]
            local = "0.0.0.0:80"
            state = "LISTEN"
            holders = [10]

            [[socket]]
            local = "0.0.0.0:80"
            state = "LISTEN"
            holders = [20]
            netns = "web-1"
        "#;
        let host = FixturePlatform::from_toml(toml).unwrap();
        let all = host.snapshot(&Query::default()).unwrap();
        assert_eq!(all.sockets.len(), 2);
        assert!(all.spans_namespaces());
        assert_eq!(all.namespaces.len(), 2);
        let web = all
            .sockets
            .iter()
            .find(|s| s.holders[0].process.pid == 20)
            .unwrap();
        assert_eq!(web.netns.label(), "web-1");
        assert_eq!(web.netns.kind, NetnsKind::Named);
        assert!(!all.is_own(web));
        let select = |netns: NetnsSelection| {
            host.snapshot(&Query {
                netns: Some(netns),
                ..Query::default()
            })
            .unwrap()
            .sockets
            .iter()
            .map(|s| s.holders[0].process.pid)
            .collect::<Vec<_>>()
        };
        assert_eq!(select(NetnsSelection::Current), [10]);
        assert_eq!(select(NetnsSelection::Name("web-1".into())), [20]);
        assert_eq!(select(NetnsSelection::Name("host".into())), [10]);
        assert_eq!(select(NetnsSelection::Inode(web.netns.inode)), [20]);
        assert_eq!(select(NetnsSelection::Pid(10)), [10]);
    }

    #[test]
    fn an_anonymous_namespace_is_named_by_its_inode() {
        let toml = r#"
            [[process]]
            pid = 30
            name = "sandboxed"

            [[socket]]
            local = "127.0.0.1:9000"
            state = "LISTEN"
            holders = [30]
            netns = "net:[4026532319]"
        "#;
        let host = FixturePlatform::from_toml(toml).unwrap();
        let all = host.snapshot(&Query::default()).unwrap();
        let netns = &all.sockets[0].netns;
        assert_eq!(
            (netns.inode, netns.kind, netns.name.as_deref()),
            (4026532319, NetnsKind::Anonymous, None)
        );
        assert_eq!(netns.label(), "net:[4026532319]");
        assert!(!all.is_own(&all.sockets[0]));
    }

    #[test]
    fn unknown_holders_and_fields_are_refused() {
        let bad = "[[socket]]\nlocal = \"0.0.0.0:1\"\nstate = \"LISTEN\"\nholders = [7]\n";
        assert!(FixturePlatform::from_toml(bad).is_err());
        assert!(FixturePlatform::from_toml("[host]\nbogus = 1\n").is_err());
    }
}
