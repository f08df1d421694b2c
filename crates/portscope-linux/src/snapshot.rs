//! One look at the machine's sockets: find the network namespaces, dump each one's sockets over
//! sock_diag (or read /proc/net when netlink is refused), walk /proc/*/fd once to find who holds
//! each socket, link NAT forwards to the listeners they reach, and cross-check what processes hold
//! against what the dumps listed.

use std::collections::{HashMap, HashSet};
use std::io;
use std::os::fd::AsFd;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use portscope_core::error::{Error, Result};
use portscope_core::model::{
    Family, Holder, Netns, NetnsKind, Protocol, SkippedNetns, Snapshot, Socket, SocketSource, SocketState,
    Unaccounted,
};
use portscope_core::platform::{NetnsSelection, Query};

use crate::{cross_view, diag, fd_table, nat, netns, owners, proc_net, process, users};

/// At most this many threads enter namespaces and dump them at once.
const DUMP_THREADS: usize = 4;

/// Takes one look at the machine's sockets, shaped by `query` (every namespace unless the query
/// names one).
pub fn snapshot(query: &Query) -> Result<Snapshot> {
    snapshot_in(query, query.netns.as_ref().unwrap_or(&NetnsSelection::All))
}

/// Takes one look at the sockets of the namespaces `selection` picks.
///
/// Namespaces are found first (cheap: one readlink per process); then the socket dumps, one
/// thread per namespace up to four, each entering its namespace with setns, run at the same time
/// as the one /proc/*/fd walk that serves them all. The join by inode happens once both are done
/// (socket inodes are unique across namespaces). Last comes the cross-view check.
pub fn snapshot_in(query: &Query, selection: &NetnsSelection) -> Result<Snapshot> {
    let proc_fd = fd_table::open_proc().map_err(|e| short_or_io("/proc", e))?;
    let pids = fd_table::list_pids(&proc_fd).map_err(|e| short_or_io("/proc", e))?;
    let discovery = match selection {
        NetnsSelection::Current => own_only(&proc_fd),
        _ => netns::discover(&proc_fd, &pids),
    }
    .map_err(|e| short_or_io("reading network namespaces", e))?;
    let chosen = select(&discovery, selection, &proc_fd)?;
    let (results, walk) = std::thread::scope(|scope| {
        let walk = query
            .processes
            .then(|| scope.spawn(|| owners::find(&proc_fd, &pids)));
        let results = dump_spaces(&discovery, &chosen, query, &nat::Budget::default());
        let walk = walk.map(|w| {
            w.join().unwrap_or_else(|_| owners::Found {
                walk: Err(io::Error::other("fd walk panicked")),
                way: owners::Way::Walk,
                note: None,
            })
        });
        (results, walk)
    });

    let mut snapshot = Snapshot::of(Vec::new(), SocketSource::Netlink);
    snapshot.own_netns = Some(discovery.own);
    let mut rules = Vec::new();
    for (index, result) in results {
        let space = &discovery.spaces[index];
        let netns = Arc::new(space.netns.clone());
        match result {
            Ok(dumped) => {
                if let Some(nat) = dumped.nat {
                    rules.push((Arc::clone(&netns), nat));
                }
                add_sockets(&mut snapshot, &netns, dumped.sockets);
            }
            Err(err) if space.netns.inode == discovery.own => {
                snapshot.notes.push(format!(
                    "netlink sock_diag was refused ({err}); read /proc/net instead"
                ));
                snapshot.source = SocketSource::ProcNet;
                add_sockets(&mut snapshot, &netns, read_proc_net(query)?);
            }
            Err(err) => {
                let skip = skipped(&space.netns, err).map_err(|e| {
                    Error::System(format!(
                        "cannot read the sockets of network namespace {}: {e}{}",
                        space.netns.label(),
                        shortage_hint(&e)
                    ))
                })?;
                snapshot.skipped_namespaces.push(skip);
            }
        }
    }
    if let Some(found) = walk {
        snapshot.notes.extend(found.note);
        let walk = found.walk.map_err(|e| {
            Error::System(format!(
                "cannot read /proc/*/fd to find which process holds each socket: {e}{}",
                shortage_hint(&e)
            ))
        })?;
        let holders_error = |e: io::Error| {
            Error::System(format!(
                "cannot read the processes that hold sockets: {e}{}",
                shortage_hint(&e)
            ))
        };
        let unmatched = attach_holders(&mut snapshot.sockets, &walk).map_err(holders_error)?;
        snapshot.unreadable_processes = walk.unreadable;
        snapshot.headless = walk.headless.clone();
        let mut pids = walk.unreadable_pids.clone();
        pids.sort_unstable();
        snapshot.unreadable_owners = pids
            .into_iter()
            .take(portscope_core::privilege::NAMED_IN_NOTE)
            .map(|pid| portscope_core::model::ProcessName {
                pid,
                name: process::read_comm(pid).unwrap_or_else(|| "?".into()),
            })
            .collect();
        // Whatever the state filter: a listener in a namespace only a socket holds (a process
        // that made a namespace, bound in it and went back) is found only this way.
        if *selection == NetnsSelection::All {
            cross_view(&mut snapshot, &walk, unmatched, query).map_err(holders_error)?;
        }
        name_containers(&mut snapshot);
    }
    link_forwards(&mut snapshot, &rules);
    skipped_note(&mut snapshot);
    Ok(snapshot)
}

/// An I/O error, with the hint when it means this process ran short of descriptors.
fn short_or_io(context: &str, e: io::Error) -> Error {
    match shortage_hint(&e) {
        "" => Error::io(context, e),
        hint => Error::System(format!("{context}: {e}{hint}")),
    }
}

/// A hint for the errors that mean this process, not the machine, ran short.
fn shortage_hint(e: &io::Error) -> &'static str {
    if e.raw_os_error() == Some(rustix::io::Errno::MFILE.raw_os_error()) {
        " (the open-files limit is too low; raise it with ulimit -n)"
    } else {
        ""
    }
}

/// What one namespace's dump found: its sockets and, when asked, its NAT rules and addresses.
struct Dumped {
    sockets: Vec<Socket>,
    nat: Option<nat::NsRules>,
}

fn dump_with_rules(query: &Query, proc_net: &str, budget: &nat::Budget) -> io::Result<Dumped> {
    let sockets = dump_here(query, proc_net)?;
    Ok(Dumped {
        sockets,
        nat: query.forwards.then(|| nat::read_here(budget)),
    })
}

/// Turns each namespace's DNAT rules into forwards, each linked to the listener it reaches: in
/// the namespace that owns the target address, a listener on the target port bound to that
/// address or to the wildcard.
fn link_forwards(snapshot: &mut Snapshot, rules: &[(Arc<Netns>, nat::NsRules)]) {
    use portscope_core::model::{Forward, ForwardTarget};
    bounds_note(snapshot, rules);
    for (netns, found) in rules {
        for rule in &found.rules {
            let target = rule.target;
            let owner = rules
                .iter()
                .find(|(_, other)| other.addresses.contains(&target.address))
                .map(|(n, _)| n.inode);
            let listener = snapshot.sockets.iter().find(|s| {
                s.protocol == rule.protocol
                    && s.state.is_listening()
                    && s.local.port == target.port
                    && (s.local.address == target.address || s.local.address.is_unspecified())
                    && owner.map_or(s.local.address == target.address, |o| s.netns.inode == o)
            });
            snapshot.forwards.push(Forward {
                protocol: rule.protocol,
                listen: rule.listen,
                target,
                netns: Arc::clone(netns),
                rule: rule.rule.clone(),
                reaches: listener.map(|s| ForwardTarget {
                    netns: Arc::clone(&s.netns),
                    inode: s.inode,
                    pids: s.holders.iter().map(|h| h.process.pid).collect(),
                }),
            });
        }
    }
}

/// One line for the forwards left out by the bounds on NAT rules, and one for the rulesets a
/// bound kept from being read, each naming the first namespace concerned.
fn bounds_note(snapshot: &mut Snapshot, rules: &[(Arc<Netns>, nat::NsRules)]) {
    let cut: Vec<_> = rules.iter().filter(|(_, r)| r.dropped > 0).collect();
    if let Some((first, _)) = cut.first() {
        let dropped: usize = cut.iter().map(|(_, r)| r.dropped).sum();
        snapshot.notes.push(format!(
            "{dropped} DNAT forward(s) in {} network namespace(s) (the first: {}) were left out: at most \
             {} are read per namespace and {} in all",
            cut.len(),
            first.label(),
            nat::parse::MAX_RULES,
            nat::MAX_FORWARDS,
        ));
    }
    let unread: Vec<_> = rules
        .iter()
        .filter_map(|(netns, r)| r.unread.map(|why| (netns, why)))
        .collect();
    if let Some((first, why)) = unread.first() {
        snapshot.notes.push(format!(
            "the NAT rules of {} network namespace(s) were not read, so their DNAT forwards are not \
             shown (the first: {}, where {why})",
            unread.len(),
            first.label(),
        ));
    }
}

fn add_sockets(snapshot: &mut Snapshot, netns: &Arc<Netns>, mut sockets: Vec<Socket>) {
    for socket in &mut sockets {
        socket.netns = Arc::clone(netns);
    }
    // The first namespace's vector becomes the snapshot's: copying it would hold every socket
    // twice at the peak (a quarter of `list`'s memory on one busy namespace).
    if snapshot.sockets.is_empty() {
        snapshot.sockets = sockets;
    } else {
        snapshot.sockets.append(&mut sockets);
    }
    snapshot.namespaces.push(Arc::clone(netns));
}

/// One line for the namespaces that could not be entered, with the first reason. (Namespaces of
/// processes this user may not inspect are not counted: the note about hidden owners already
/// says to run as root, and one line is enough.)
fn skipped_note(snapshot: &mut Snapshot) {
    let skipped = snapshot.skipped_namespaces.len();
    if skipped > 0 {
        let reason = &snapshot.skipped_namespaces[0].reason;
        snapshot.notes.push(format!(
            "{skipped} network namespace(s) were skipped ({reason}); their sockets are not listed"
        ));
    }
}

/// A namespace whose dump failed: skipped with a note when this user may not enter it or it is
/// gone (what the note says is then true of it); any other failure is returned — a dump that
/// could not run (out of descriptors, a netlink failure) must never read as a namespace with no
/// sockets.
fn skipped(netns: &Netns, err: io::Error) -> io::Result<SkippedNetns> {
    match err.kind() {
        io::ErrorKind::PermissionDenied | io::ErrorKind::NotFound => Ok(SkippedNetns {
            reason: describe(&err),
            netns: netns.clone(),
        }),
        _ => Err(err),
    }
}

fn describe(err: &io::Error) -> String {
    match err.kind() {
        io::ErrorKind::PermissionDenied => "entering them needs CAP_SYS_ADMIN".into(),
        io::ErrorKind::NotFound => "gone before they could be entered".into(),
        _ => err.to_string(),
    }
}

/// Only the namespace portscope runs in, without looking at any other process.
fn own_only(proc_fd: &std::os::fd::OwnedFd) -> io::Result<netns::Discovery> {
    let fd = netns::open_own()?;
    let own = netns::inode_of(fd.as_fd())?;
    let (name, kind) = match netns::of_pid(proc_fd, 1) {
        Ok(host) if host != own => match netns::mount_name(own) {
            Some(name) => (Some(name), NetnsKind::Named),
            None => (None, NetnsKind::Anonymous),
        },
        _ => (None, NetnsKind::Host),
    };
    Ok(netns::Discovery {
        own,
        spaces: vec![netns::Space {
            netns: Netns {
                inode: own,
                name,
                kind,
            },
            handles: vec![netns::Handle::Fd(fd)],
            pids: Vec::new(),
        }],
        unreadable: 0,
    })
}

/// The indices of the namespaces `selection` picks, or why none matches.
fn select(
    discovery: &netns::Discovery,
    selection: &NetnsSelection,
    proc_fd: &std::os::fd::OwnedFd,
) -> Result<Vec<usize>> {
    let by_inode = |inode: u64| discovery.spaces.iter().position(|s| s.netns.inode == inode);
    let one = |index: Option<usize>, what: String| {
        index.map(|i| vec![i]).ok_or_else(|| {
            Error::NotFound(format!(
                "no network namespace {what} (`portscope list` shows them in its NETNS column)"
            ))
        })
    };
    match selection {
        NetnsSelection::All => Ok((0..discovery.spaces.len()).collect()),
        NetnsSelection::Current => one(by_inode(discovery.own), "of portscope's own".into()),
        NetnsSelection::Inode(inode) => one(by_inode(*inode), format!("net:[{inode}]")),
        NetnsSelection::Name(name) => one(
            discovery.spaces.iter().position(|s| s.netns.answers_to(name)),
            format!("named {name:?}"),
        ),
        NetnsSelection::Pid(pid) => match netns::of_pid(proc_fd, *pid) {
            Ok(inode) => one(by_inode(inode), format!("net:[{inode}]")),
            Err(rustix::io::Errno::ACCESS | rustix::io::Errno::PERM) => Err(Error::Permission {
                what: format!("the network namespace of process {pid}"),
                hint: "run as root".into(),
            }),
            Err(_) => Err(Error::NotFound(format!("no process {pid}"))),
        },
    }
}

/// Dumps each chosen namespace. Portscope's own is dumped on the calling thread when it is the
/// only one; otherwise up to four threads take namespaces in turn, each entering the next with
/// setns before it opens its netlink socket there (a socket belongs to the namespace it was made
/// in). Results come back in the order of `chosen`.
fn dump_spaces(
    discovery: &netns::Discovery,
    chosen: &[usize],
    query: &Query,
    budget: &nat::Budget,
) -> Vec<(usize, io::Result<Dumped>)> {
    if let [only] = chosen
        && discovery.spaces[*only].netns.inode == discovery.own
    {
        return vec![(*only, dump_with_rules(query, "/proc/net", budget))];
    }
    let next = AtomicUsize::new(0);
    let threads = chosen.len().clamp(1, DUMP_THREADS);
    let mut results: Vec<(usize, io::Result<Dumped>)> = std::thread::scope(|scope| {
        let workers: Vec<_> = (0..threads)
            .map(|_| {
                scope.spawn(|| {
                    let mut here = discovery.own;
                    let mut out = Vec::new();
                    while let Some(&index) = chosen.get(next.fetch_add(1, Ordering::Relaxed)) {
                        let space = &discovery.spaces[index];
                        if space.netns.inode != here {
                            if let Err(err) = netns::open(space).and_then(|fd| netns::enter(fd.as_fd())) {
                                out.push((index, Err(err)));
                                continue;
                            }
                            here = space.netns.inode;
                        }
                        out.push((index, dump_with_rules(query, "/proc/thread-self/net", budget)));
                    }
                    out
                })
            })
            .collect();
        workers
            .into_iter()
            .flat_map(|w| w.join().unwrap_or_default())
            .collect()
    });
    results.sort_by_key(|(index, _)| chosen.iter().position(|c| c == index));
    results
}

fn wanted_kinds(query: &Query) -> impl Iterator<Item = (Protocol, Family)> + '_ {
    [
        (Protocol::Tcp, Family::Ipv4),
        (Protocol::Tcp, Family::Ipv6),
        (Protocol::Udp, Family::Ipv4),
        (Protocol::Udp, Family::Ipv6),
    ]
    .into_iter()
    .filter(|(p, f)| {
        let p_ok = match p {
            Protocol::Tcp => query.tcp,
            _ => query.udp,
        };
        p_ok && family_wanted(query, *f)
    })
}

fn family_wanted(query: &Query, family: Family) -> bool {
    match family {
        Family::Ipv4 => query.ipv4,
        Family::Ipv6 => query.ipv6,
        // Below IP: only when the query does not narrow to one IP family.
        Family::Packet => query.ipv4 && query.ipv6,
    }
}

/// Whether a dump error means the kernel has no dump of that kind (a module not built).
fn unsupported(err: &io::Error) -> bool {
    matches!(
        err.raw_os_error(),
        Some(libc::ENOENT | libc::EPROTONOSUPPORT | libc::EOPNOTSUPP | libc::EINVAL)
    )
}

/// Every wanted socket of the namespace the calling thread is in. `proc_net` is the /proc/net
/// directory that belongs to that namespace (raw sockets come from there when the kernel has no
/// raw_diag).
fn dump_here(query: &Query, proc_net: &str) -> io::Result<Vec<Socket>> {
    let mut diag = diag::SockDiag::open()?;
    let mut sockets = Vec::new();
    for (protocol, family) in wanted_kinds(query) {
        diag.dump(protocol, family, query.states, &mut sockets)?;
    }
    let ip_families = [Family::Ipv4, Family::Ipv6]
        .into_iter()
        .filter(|f| family_wanted(query, *f));
    if query.raw {
        for family in ip_families.clone() {
            match diag.dump(Protocol::Raw, family, query.states, &mut sockets) {
                Ok(()) => {}
                Err(err) if unsupported(&err) => {
                    let file = match family {
                        Family::Ipv6 => "raw6",
                        _ => "raw",
                    };
                    read_raw_table(&format!("{proc_net}/{file}"), query, &mut sockets)?;
                }
                Err(err) => return Err(err),
            }
        }
    }
    if query.sctp {
        for family in ip_families {
            match diag.dump(Protocol::Sctp, family, query.states, &mut sockets) {
                Ok(()) => {}
                // No SCTP in this kernel: nothing to list.
                Err(err) if unsupported(&err) => break,
                Err(err) => return Err(err),
            }
        }
    }
    if query.packet && family_wanted(query, Family::Packet) && query.states.admits(SocketState::Unconnected) {
        match diag.dump_packet(&mut sockets) {
            Ok(()) => {}
            Err(err) if unsupported(&err) => {}
            Err(err) => return Err(err),
        }
    }
    Ok(sockets)
}

/// Raw sockets from /proc/net/raw{,6}, for a kernel without raw_diag.
fn read_raw_table(path: &str, query: &Query, out: &mut Vec<Socket>) -> io::Result<()> {
    let text = match std::fs::read(path) {
        Ok(text) => text,
        Err(err) if err.kind() == io::ErrorKind::NotFound => return Ok(()),
        Err(err) => return Err(err),
    };
    let sockets =
        proc_net::parse(Protocol::Raw, &text).map_err(|e| io::Error::new(io::ErrorKind::InvalidData, e))?;
    out.extend(sockets.into_iter().filter(|s| query.states.admits(s.state)));
    Ok(())
}

/// The TCP and UDP sockets /proc/net lists for portscope's own namespace (audit's second view).
pub fn proc_net_sockets() -> io::Result<Vec<Socket>> {
    read_proc_net(&Query::ports()).map_err(|e| io::Error::other(e.to_string()))
}

fn read_proc_net(query: &Query) -> Result<Vec<Socket>> {
    let mut sockets = Vec::new();
    for (protocol, family) in wanted_kinds(query) {
        let file = match (protocol, family) {
            (Protocol::Tcp, Family::Ipv4) => "/proc/net/tcp",
            (Protocol::Tcp, _) => "/proc/net/tcp6",
            (_, Family::Ipv4) => "/proc/net/udp",
            (_, _) => "/proc/net/udp6",
        };
        let text = match std::fs::read(file) {
            Ok(text) => text,
            // A kernel without IPv6 has no tcp6/udp6 tables.
            Err(err) if err.kind() == std::io::ErrorKind::NotFound => continue,
            Err(err) => return Err(Error::io(file, err)),
        };
        sockets.extend(
            proc_net::parse(protocol, &text)?
                .into_iter()
                .filter(|s| query.states.admits(s.state)),
        );
    }
    if query.raw {
        for (family, file) in [(Family::Ipv4, "/proc/net/raw"), (Family::Ipv6, "/proc/net/raw6")] {
            if family_wanted(query, family) {
                read_raw_table(file, query, &mut sockets).map_err(|e| Error::io(file, e))?;
            }
        }
    }
    Ok(sockets)
}

/// Whether the query asked for sockets of the kernel's protocol name `name` (so that one missing
/// from the dumps is worth a look).
fn asked_for(query: &Query, name: &str) -> bool {
    let v6 = name.ends_with("v6");
    let family = if v6 { query.ipv6 } else { query.ipv4 };
    match name.trim_end_matches("v6") {
        "TCP" => query.tcp && family,
        "UDP" => query.udp && family,
        "RAW" => query.raw && family,
        "SCTP" => query.sctp && family,
        "PACKET" => query.packet && family_wanted(query, Family::Packet),
        _ => false,
    }
}

/// The cross-view check: every socket a process holds that no dump listed. A socket whose
/// namespace was not among those found is the way to a namespace nothing else points to: that
/// namespace is dumped too, and its sockets join the snapshot. When the query covers every kind
/// of socket, what is still unlisted after that is reported, with why.
fn cross_view(
    snapshot: &mut Snapshot,
    walk: &fd_table::Walk,
    unmatched: Vec<(u64, u32, u32)>,
    query: &Query,
) -> io::Result<()> {
    let report = query.is_complete();
    let mut seen = HashSet::new();
    let mut candidates = Vec::new();
    for (inode, pid, fd) in unmatched {
        if !seen.insert(inode) {
            continue;
        }
        let Some(name) = cross_view::protocol_name(pid, fd) else {
            continue;
        };
        if !cross_view::is_local_ipc(&name) && (report || asked_for(query, &name)) {
            candidates.push((inode, pid, fd, name));
        }
    }
    let mut dumped: HashSet<u64> = snapshot.namespaces.iter().map(|n| n.inode).collect();
    let mut socket_netns: HashMap<u64, u64> = HashMap::new();
    let mut found_more = Vec::new();
    for (inode, pid, fd, name) in &candidates {
        if !cross_view::is_dumped(name) || !asked_for(query, name) {
            continue;
        }
        // The holder exited or closed it meanwhile: nothing to find; out of descriptors: the
        // walk cannot finish.
        let ns_fd = match cross_view::socket_netns(*pid, *fd) {
            Ok(ns_fd) => ns_fd,
            Err(e) if netns::io_short_of_descriptors(&e) => return Err(e),
            Err(_) => continue,
        };
        let Ok(ns) = netns::inode_of(ns_fd.as_fd()) else {
            continue;
        };
        socket_netns.insert(*inode, ns);
        if !dumped.insert(ns) {
            continue;
        }
        let netns = Arc::new(Netns {
            inode: ns,
            name: None,
            kind: NetnsKind::Anonymous,
        });
        match netns::run_in(ns_fd.as_fd(), || dump_here(query, "/proc/thread-self/net")) {
            Ok(sockets) => found_more.push((netns, sockets)),
            Err(err) => snapshot.skipped_namespaces.push(skipped(&netns, err)?),
        }
    }
    for (netns, mut sockets) in found_more {
        attach_holders(&mut sockets, walk)?;
        add_sockets(snapshot, &netns, sockets);
    }
    if !report {
        return Ok(());
    }
    let listed: HashSet<u64> = snapshot.sockets.iter().map(|s| s.inode).collect();
    let skipped: HashSet<u64> = snapshot
        .skipped_namespaces
        .iter()
        .map(|s| s.netns.inode)
        .collect();
    for (inode, pid, fd, name) in candidates {
        if listed.contains(&inode) {
            continue;
        }
        let netns = socket_netns.get(&inode).copied();
        let reason = match netns {
            Some(ns) if skipped.contains(&ns) => {
                format!("its network namespace net:[{ns}] could not be entered")
            }
            _ => cross_view::reason(&name),
        };
        snapshot.unaccounted.push(Unaccounted {
            inode,
            protocol: name,
            pid,
            fd,
            process: process::read_comm(pid).unwrap_or_default(),
            netns,
            reason,
        });
    }
    Ok(())
}

/// A namespace with no name of its own takes the name of the container its sockets' holders run in.
fn name_containers(snapshot: &mut Snapshot) {
    let mut renamed: HashMap<u64, Arc<Netns>> = HashMap::new();
    for socket in &snapshot.sockets {
        if socket.netns.kind != NetnsKind::Anonymous || renamed.contains_key(&socket.netns.inode) {
            continue;
        }
        let container = socket.holders.iter().find_map(|h| match &h.process.supervisor {
            Some(c @ portscope_core::model::Supervisor::Container { .. }) => Some(c.to_string()),
            _ => None,
        });
        if let Some(name) = container {
            renamed.insert(
                socket.netns.inode,
                Arc::new(Netns {
                    inode: socket.netns.inode,
                    name: Some(name),
                    kind: NetnsKind::Container,
                }),
            );
        }
    }
    if renamed.is_empty() {
        return;
    }
    for socket in &mut snapshot.sockets {
        if let Some(netns) = renamed.get(&socket.netns.inode) {
            socket.netns = Arc::clone(netns);
        }
    }
    for netns in &mut snapshot.namespaces {
        if let Some(new) = renamed.get(&netns.inode) {
            *netns = Arc::clone(new);
        }
    }
}

/// Fills each socket's holders from the fd walk; returns the `(inode, pid, fd)` of every held
/// socket that is not among `sockets`.
///
/// Fails when this process runs out of descriptors or memory while reading a holder: a socket
/// without its owner would be reported as hidden or as the kernel's, which would be a lie.
fn attach_holders(sockets: &mut [Socket], walk: &fd_table::Walk) -> std::io::Result<Vec<(u64, u32, u32)>> {
    let slots: HashMap<u64, usize> = sockets
        .iter()
        .enumerate()
        .filter(|(_, s)| s.inode != 0)
        .map(|(i, s)| (s.inode, i))
        .collect();
    let clock = process::Clock::read();
    let users = users::table();
    let mut processes: HashMap<u32, Option<Arc<portscope_core::model::Process>>> = HashMap::new();
    let mut unmatched = Vec::new();
    for &(inode, pid, fd) in &walk.sockets {
        // Sockets of other kinds (unix, netlink), other namespaces, or hidden ones.
        let Some(&slot) = slots.get(&inode) else {
            unmatched.push((inode, pid, fd));
            continue;
        };
        let process = match processes.entry(pid) {
            std::collections::hash_map::Entry::Occupied(known) => known.into_mut(),
            std::collections::hash_map::Entry::Vacant(slot) => {
                slot.insert(process::read(pid, clock)?.map(|mut p| {
                    p.user = users.get(&p.uid).cloned();
                    Arc::new(p)
                }))
            }
        };
        // A process that exited between the fd walk and now no longer holds anything.
        let Some(process) = process else { continue };
        let holders = &mut sockets[slot].holders;
        match holders.iter_mut().find(|h| h.process.pid == pid) {
            Some(holder) => holder.fds.push(fd),
            None => {
                let holder = Holder {
                    process: Arc::clone(process),
                    fds: vec![fd],
                    provenance: None,
                };
                // Nearly every socket has one holder: `vec!` allocates exactly one slot where a
                // first `push` would reserve four (tens of MB on a machine with 100k sockets).
                if holders.is_empty() {
                    *holders = vec![holder];
                } else {
                    holders.push(holder);
                }
            }
        }
    }
    Ok(unmatched)
}
