//! Who holds a port, and what `close` would do to each holder: signal it, stop its systemd unit,
//! or refuse. Built from one snapshot; nothing here touches a process.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use serde::Serialize;

use crate::close::safety::{self, Context, Refusal};
use crate::close::spec::Spec;
use crate::close::supervisor;
use crate::error::{Error, Result};
use crate::model::{
    Endpoint, Netns, Process, Protocol, Snapshot, Socket, Supervisor, serialize_labelled,
    serialize_labelled_list,
};
use crate::{privilege, render};

/// One socket that holds the port.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct PortSocket {
    pub protocol: Protocol,
    pub local: Endpoint,
    pub inode: u64,
    /// The network namespace the socket lives in: the same port in two namespaces is two sockets
    /// held by two different servers.
    #[serde(serialize_with = "serialize_labelled")]
    pub netns: Arc<Netns>,
}

impl PortSocket {
    pub fn of(socket: &Socket) -> PortSocket {
        PortSocket {
            protocol: socket.protocol,
            local: socket.local,
            inode: socket.inode,
            netns: Arc::clone(&socket.netns),
        }
    }
}

/// What `close` does to one holder.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Action {
    /// SIGTERM through a pidfd (SIGKILL after the timeout with --force).
    Signal,
    /// `systemctl stop UNIT` (--unit), for a holder that a systemd unit would restart.
    StopUnit {
        unit: String,
        user_manager: bool,
    },
    Refuse(Refusal),
}

/// One process that holds the port.
#[derive(Clone, Debug, Serialize)]
pub struct Target {
    #[serde(flatten)]
    pub process: Arc<Process>,
    /// Inodes of the port's sockets this process holds.
    pub inodes: Vec<u64>,
    /// The namespaces of those sockets, by inode: one, unless the process made a socket in
    /// another namespace and came back.
    #[serde(serialize_with = "serialize_labelled_list")]
    pub netns: Vec<Arc<Netns>>,
    pub action: Action,
    /// The supervisor that would restart this process, when it is not portscope's own.
    pub supervised_by: Option<Supervisor>,
    /// What to run instead of a kill, for a supervised process.
    pub advice: Option<String>,
}

/// Everything `close PORT` (or `close --pid`, `--process`) knows before it acts.
#[derive(Clone, Debug, Serialize)]
pub struct Plan {
    pub spec: Spec,
    pub sockets: Vec<PortSocket>,
    pub targets: Vec<Target>,
    /// Sockets of the port that no visible process holds.
    pub unowned: Vec<PortSocket>,
    /// The inode of the namespace portscope runs in, when known: a holder elsewhere is named.
    #[serde(skip)]
    pub own_netns: Option<u64>,
}

impl Plan {
    /// The refusals in this plan, as (pid, name, reason).
    pub fn refusals(&self) -> impl Iterator<Item = (&Target, &Refusal)> {
        self.targets.iter().filter_map(|t| match &t.action {
            Action::Refuse(r) => Some((t, r)),
            _ => None,
        })
    }

    pub fn inodes(&self) -> Vec<u64> {
        self.sockets.iter().map(|s| s.inode).collect()
    }

    /// The namespaces the holders' sockets live in, by inode: the namespaces `close` acts in.
    pub fn namespaces(&self) -> Vec<Arc<Netns>> {
        let mut by_inode: BTreeMap<u64, Arc<Netns>> = BTreeMap::new();
        for netns in self.targets.iter().flat_map(|t| &t.netns) {
            by_inode.entry(netns.inode).or_insert_with(|| Arc::clone(netns));
        }
        by_inode.into_values().collect()
    }

    /// Whether `netns` is the namespace portscope runs in (true when that is unknown).
    pub fn is_own(&self, netns: &Netns) -> bool {
        self.own_netns.is_none_or(|own| own == netns.inode)
    }

    /// Whether some socket of the plan lives outside portscope's namespace, so that the plan
    /// must say where each holder is.
    pub fn names_namespaces(&self) -> bool {
        self.sockets.iter().any(|s| !self.is_own(&s.netns))
    }

    /// Refuses a plan whose holders live in more than one network namespace unless the user
    /// asked for every one (`all`): a port number names one server per namespace, and on a
    /// container host `close 80` would otherwise stop every container's web server. A plan for
    /// one PID is never refused here (a PID names one process). Comes before any signal.
    pub fn check_namespaces(&self, all: bool) -> Result<()> {
        let namespaces = self.namespaces();
        let by_pid = matches!(&self.spec, Spec::Process(p) if p.pid.is_some());
        if all || by_pid || namespaces.len() < 2 {
            return Ok(());
        }
        const SHOWN: usize = 4;
        // The labels of the plan's NETNS column, which `--netns` takes as they are.
        let mut labels: Vec<String> = namespaces.iter().take(SHOWN).map(|n| n.short_label()).collect();
        if namespaces.len() > SHOWN {
            labels.push(format!("{} more", namespaces.len() - SHOWN));
        }
        let what = self.spec.describe();
        let held = match &self.spec {
            Spec::Port(_) => format!("{what} is held"),
            Spec::Process(_) => format!("{what} hold sockets"),
        };
        Err(Error::Refused(format!(
            "{held} in {} network namespaces ({}); pick one with --netns NS, or pass --all-namespaces to act in all of them; nothing was signalled",
            namespaces.len(),
            render::escape(&labels.join(", ")),
        )))
    }
}

/// Builds the plan for `spec` (a [`PortSpec`] or a [`super::spec::ProcessSpec`]) from a
/// snapshot. `facts` answers for a PID; `use_unit` turns supervised holders' action into a unit
/// stop.
pub fn build(
    spec: impl Into<Spec>,
    snapshot: &Snapshot,
    context: &Context,
    facts: impl Fn(u32) -> safety::Facts,
    use_unit: bool,
) -> Plan {
    let spec = spec.into();
    let chosen = chosen_pids(&spec, snapshot);
    let mut sockets = Vec::new();
    let mut unowned = Vec::new();
    /// One holder so far: its process, the port's sockets it holds and their namespaces.
    type Held = (Arc<Process>, Vec<u64>, Vec<Arc<Netns>>);
    let mut by_pid: BTreeMap<u32, Held> = BTreeMap::new();
    for socket in snapshot.sockets.iter().filter(|s| spec.matches(s)) {
        let entry = PortSocket::of(socket);
        if socket.holders.is_empty() {
            unowned.push(entry.clone());
        }
        sockets.push(entry);
        let stops = |process: &Process| match &spec {
            Spec::Port(_) => true,
            Spec::Process(_) => chosen.contains(&process.pid),
        };
        for holder in socket.holders.iter().filter(|h| stops(&h.process)) {
            let (_, inodes, namespaces) = by_pid
                .entry(holder.process.pid)
                .or_insert_with(|| (Arc::clone(&holder.process), Vec::new(), Vec::new()));
            inodes.push(socket.inode);
            if !namespaces.iter().any(|n| n.inode == socket.netns.inode) {
                namespaces.push(Arc::clone(&socket.netns));
            }
        }
    }
    let targets = by_pid
        .into_values()
        .map(|(process, inodes, netns)| {
            let supervised_by = supervisor::separate(&process, context.own_supervisor.as_ref()).cloned();
            let advice = supervised_by
                .as_ref()
                .map(|s| super::suggest::stop_with(&process, Some(s)));
            let action = match safety::check(&process, facts(process.pid), context) {
                Some(refusal) => Action::Refuse(refusal),
                None => match supervised_by.as_ref().and_then(supervisor::unit) {
                    Some((unit, user_manager)) if use_unit => Action::StopUnit {
                        unit: unit.to_string(),
                        user_manager,
                    },
                    _ => Action::Signal,
                },
            };
            Target {
                process,
                inodes,
                netns,
                action,
                supervised_by,
                advice,
            }
        })
        .collect();
    Plan {
        spec,
        sockets,
        targets,
        unowned,
        own_netns: snapshot.own_netns,
    }
}

/// For a process plan: the chosen processes, and the children (and their children) that hold a
/// socket one of them holds too — what a shell hands to the command it runs (`sh -c 'sleep 600'`
/// leaves `sleep` holding the shell's connection); stopping only the shell would leave it open.
fn chosen_pids(spec: &Spec, snapshot: &Snapshot) -> std::collections::BTreeSet<u32> {
    let mut chosen = std::collections::BTreeSet::new();
    let Spec::Process(_) = spec else {
        return chosen;
    };
    let matching: Vec<&Socket> = snapshot.sockets.iter().filter(|s| spec.matches(s)).collect();
    for socket in &matching {
        for holder in &socket.holders {
            if spec.stops(&holder.process) {
                chosen.insert(holder.process.pid);
            }
        }
    }
    loop {
        let before = chosen.len();
        for socket in &matching {
            for holder in &socket.holders {
                if chosen.contains(&holder.process.ppid) {
                    chosen.insert(holder.process.pid);
                }
            }
        }
        if chosen.len() == before {
            return chosen;
        }
    }
}

impl Plan {
    /// Whether the plan may go ahead; otherwise the one error the user sees. The order matters:
    /// nothing on the port (not found) comes before an invisible holder (a permission problem
    /// for an unprivileged user, a kernel socket for a privileged one), which comes before the
    /// first safety refusal, which comes before a missing `systemctl` for `--unit`.
    pub fn preflight(&self, unreadable_processes: usize, read_all: bool, can_stop_units: bool) -> Result<()> {
        let what = self.spec.describe();
        if self.sockets.is_empty() {
            return Err(Error::NotFound(self.spec.nothing_found()));
        }
        if self.targets.is_empty() {
            if !read_all && unreadable_processes > 0 {
                return Err(Error::Permission {
                    what: format!("{what} is held by a process this user cannot see"),
                    hint: format!(
                        "reading other users' processes needs {}; {}",
                        privilege::READ_ALL,
                        privilege::ELEVATE
                    ),
                });
            }
            return Err(Error::Refused(format!(
                "{what} is held by no process (a kernel socket); there is nothing to stop"
            )));
        }
        if let Some((target, refusal)) = self.refusals().next() {
            let more = self.refusals().count() - 1;
            let more = if more > 0 {
                format!(" (and {more} more)")
            } else {
                String::new()
            };
            return Err(Error::Refused(format!(
                "will not signal PID {} ({}), {}: {refusal}{more}; nothing was signalled",
                target.process.pid,
                render::escape(&target.process.name),
                match &self.spec {
                    Spec::Port(_) => format!("which holds {what}"),
                    Spec::Process(_) => "which was chosen".to_string(),
                },
            )));
        }
        let stops_units = self
            .targets
            .iter()
            .any(|t| matches!(t.action, Action::StopUnit { .. }));
        if stops_units && !can_stop_units {
            return Err(Error::System(
                "--unit needs systemctl, which is not installed".into(),
            ));
        }
        Ok(())
    }

    /// For `close --pid N` that found no socket: whether N is a process this user cannot read
    /// (another user's, without the privilege), whose descriptors were never seen — a
    /// permission error (exit 3), not "holds no socket" (exit 6). `platform` answers whether N
    /// runs and whether its executable link is readable, which the descriptors follow.
    pub fn unreadable_choice(&self, read_all: bool, platform: &dyn crate::platform::Platform) -> Result<()> {
        let Spec::Process(crate::close::spec::ProcessSpec { pid: Some(pid), .. }) = &self.spec else {
            return Ok(());
        };
        if read_all || !self.sockets.is_empty() || platform.is_kernel_thread(*pid) {
            return Ok(());
        }
        match platform.identity(*pid) {
            Some(identity) if identity.exe.is_none() => Err(Error::Permission {
                what: format!(
                    "the sockets of {} cannot be read by this user",
                    self.spec.describe()
                ),
                hint: format!(
                    "reading other users' processes needs {}; {}",
                    privilege::READ_ALL,
                    privilege::ELEVATE
                ),
            }),
            _ => Ok(()),
        }
    }

    /// How long to watch a freed port for a listener that comes back: what the user asked, else
    /// as long as a holder got to exit when a supervisor may restart one, else one second.
    pub fn comeback_window(&self, asked: Option<Duration>, timeout: Duration) -> Duration {
        let supervised = self.targets.iter().any(|t| t.supervised_by.is_some());
        asked.unwrap_or(if supervised {
            timeout
        } else {
            Duration::from_secs(1)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::close::spec::PortSpec;
    use crate::model::{Holder, SocketSource, SocketState};
    use std::net::{IpAddr, Ipv4Addr};

    fn process(pid: u32, supervisor: Option<Supervisor>) -> Arc<Process> {
        Arc::new(Process {
            pid,
            ppid: 1,
            name: format!("p{pid}"),
            name_bytes: None,
            exe: None,
            exe_deleted: false,
            cmdline: Vec::new(),
            uid: 0,
            user: Some("root".into()),
            start_time: None,
            supervisor,
        })
    }

    fn socket(protocol: Protocol, port: u16, inode: u64, holders: &[Arc<Process>]) -> Socket {
        let state = match protocol {
            Protocol::Tcp => SocketState::Listen,
            _ => SocketState::Unconnected,
        };
        Socket {
            inode,
            holders: holders
                .iter()
                .map(|p| Holder {
                    process: Arc::clone(p),
                    fds: vec![3],
                    provenance: None,
                })
                .collect(),
            ..Socket::new(
                protocol,
                Endpoint::new(IpAddr::V4(Ipv4Addr::LOCALHOST), port),
                Endpoint::new(IpAddr::V4(Ipv4Addr::UNSPECIFIED), 0),
                state,
            )
        }
    }

    fn context() -> Context {
        Context {
            self_pid: 900,
            ancestors: vec![800, 1],
            euid: 0,
            kill_any: true,
            own_supervisor: Some(Supervisor::Systemd {
                unit: "ci.service".into(),
            }),
        }
    }

    #[test]
    fn a_port_held_in_two_namespaces_is_refused_unless_all_are_asked_for() {
        use crate::model::NetnsKind;
        let (a, b) = (process(10, None), process(11, None));
        let anonymous = Arc::new(Netns {
            inode: 4026532319,
            name: None,
            kind: NetnsKind::Anonymous,
        });
        let own = Arc::new(Netns {
            inode: 4026531840,
            name: None,
            kind: NetnsKind::Host,
        });
        let mut elsewhere = socket(Protocol::Tcp, 7000, 2, &[Arc::clone(&b)]);
        elsewhere.netns = Arc::clone(&anonymous);
        let mut here = socket(Protocol::Tcp, 7000, 1, &[Arc::clone(&a)]);
        here.netns = Arc::clone(&own);
        let mut snapshot = Snapshot::of(vec![here, elsewhere], SocketSource::Netlink);
        snapshot.own_netns = Some(own.inode);
        let spec = PortSpec {
            port: 7000,
            tcp: true,
            udp: false,
            address: None,
        };
        let plan = build(spec, &snapshot, &context(), |_| safety::Facts::default(), false);
        assert_eq!(plan.namespaces().len(), 2);
        assert!(plan.names_namespaces());
        assert_eq!(plan.targets[1].netns, vec![Arc::clone(&anonymous)]);
        assert_eq!(plan.sockets[1].netns, anonymous);
        let Err(Error::Refused(line)) = plan.check_namespaces(false) else {
            panic!("two namespaces must be refused");
        };
        assert!(line.contains("2 network namespaces (host, ns:532319)"), "{line}");
        assert!(
            line.contains("--netns NS") && line.contains("--all-namespaces"),
            "{line}"
        );
        assert!(plan.check_namespaces(true).is_ok());
        // The JSON plan names each socket's and holder's namespace with its label.
        let json = serde_json::to_value(&plan).unwrap();
        assert_eq!(json["sockets"][1]["netns"]["label"], "net:[4026532319]");
        assert_eq!(json["sockets"][1]["netns"]["kind"], "anonymous");
        assert_eq!(json["targets"][1]["netns"][0]["inode"], 4026532319u64);

        // A name that matches in two namespaces is refused too; one PID never is.
        let by_name = crate::close::spec::ProcessSpec {
            pid: None,
            name: Some("p10".into()),
        };
        let renamed = Arc::new(Process {
            name: "p10".into(),
            ..(*b).clone()
        });
        let mut two = snapshot.clone();
        two.sockets[1].holders[0].process = renamed;
        let plan = build(by_name, &two, &context(), |_| safety::Facts::default(), false);
        assert_eq!(plan.targets.len(), 2);
        assert!(plan.check_namespaces(false).is_err());
        let by_pid = crate::close::spec::ProcessSpec {
            pid: Some(11),
            name: None,
        };
        let plan = build(by_pid, &snapshot, &context(), |_| safety::Facts::default(), false);
        assert!(plan.check_namespaces(false).is_ok());
        // One namespace, portscope's own: nothing to name.
        snapshot.sockets.truncate(1);
        let plan = build(spec, &snapshot, &context(), |_| safety::Facts::default(), false);
        assert!(plan.check_namespaces(false).is_ok());
        assert!(!plan.names_namespaces());
    }

    #[test]
    fn holders_are_grouped_and_classified() {
        let nginx = process(
            10,
            Some(Supervisor::Systemd {
                unit: "nginx.service".into(),
            }),
        );
        let worker = process(
            11,
            Some(Supervisor::Systemd {
                unit: "ci.service".into(),
            }),
        );
        let parent = process(800, None);
        let snapshot = Snapshot::of(
            vec![
                socket(Protocol::Tcp, 80, 1, &[Arc::clone(&nginx), Arc::clone(&worker)]),
                socket(Protocol::Udp, 80, 2, &[Arc::clone(&nginx)]),
                socket(Protocol::Tcp, 81, 3, &[Arc::clone(&parent)]),
                socket(Protocol::Tcp, 80, 4, &[]),
            ],
            SocketSource::Netlink,
        );
        let spec = PortSpec {
            port: 80,
            tcp: true,
            udp: true,
            address: None,
        };
        let plan = build(spec, &snapshot, &context(), |_| safety::Facts::default(), false);
        assert_eq!(plan.sockets.len(), 3);
        let by_pid = crate::close::spec::ProcessSpec {
            pid: Some(11),
            name: None,
        };
        let only_11 = build(by_pid, &snapshot, &context(), |_| safety::Facts::default(), false);
        assert_eq!(only_11.sockets.len(), 1, "the socket pid 11 shares with pid 10");
        assert_eq!(only_11.targets.len(), 1, "only the chosen process is stopped");
        assert_eq!(only_11.targets[0].process.pid, 11);
        assert_eq!(plan.unowned.len(), 1);
        assert_eq!(plan.targets.len(), 2);
        assert_eq!(plan.targets[0].inodes, vec![1, 2]);
        assert_eq!(plan.targets[0].action, Action::Signal);
        assert_eq!(
            plan.targets[0].advice.as_deref(),
            Some("systemctl stop nginx.service")
        );
        // Shares portscope's own unit: not separately supervised.
        assert_eq!(plan.targets[1].supervised_by, None);

        let plan = build(spec, &snapshot, &context(), |_| safety::Facts::default(), true);
        assert_eq!(
            plan.targets[0].action,
            Action::StopUnit {
                unit: "nginx.service".into(),
                user_manager: false
            }
        );
        assert_eq!(plan.targets[1].action, Action::Signal);

        let tcp_81 = PortSpec {
            port: 81,
            tcp: true,
            udp: false,
            address: Some(IpAddr::V4(Ipv4Addr::LOCALHOST)),
        };
        let plan = build(tcp_81, &snapshot, &context(), |_| safety::Facts::default(), true);
        assert_eq!(plan.targets[0].action, Action::Refuse(Refusal::Ancestor));
        assert_eq!(plan.refusals().count(), 1);
        let elsewhere = PortSpec {
            address: Some(IpAddr::V4(Ipv4Addr::new(10, 0, 0, 1))),
            ..tcp_81
        };
        assert!(
            build(
                elsewhere,
                &snapshot,
                &context(),
                |_| safety::Facts::default(),
                true
            )
            .sockets
            .is_empty()
        );
    }
}
