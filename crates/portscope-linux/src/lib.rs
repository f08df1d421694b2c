//! portscope's Linux platform: sockets from netlink sock_diag (or /proc/net when netlink is
//! refused), joined to the processes that hold them through /proc/*/fd; process control through
//! pidfds, systemctl and SOCK_DESTROY; the connect-scan engine on epoll.
//!
//! [`Linux`] implements [`portscope_core::Platform`]; everything else here serves it. This is the
//! only crate of portscope that makes raw system calls, so it is the only one allowed `unsafe`,
//! and every `unsafe` block says why it is sound.
#![cfg(target_os = "linux")]
#![allow(unsafe_code)]
#![deny(clippy::undocumented_unsafe_blocks)]

pub mod bind_probe;
pub mod capabilities;
pub mod cgroup;
pub mod connect_scan;
pub mod exe_file;
pub mod fd_table;
pub mod identity;
pub mod lineage;
pub mod local_time;
pub mod packages;
pub mod pidfd;
pub mod proc_net;
pub mod process;
pub mod sock_destroy;
pub mod sock_diag;
pub mod stop_signal;
pub mod sysctl;
pub mod systemctl;
pub mod users;

mod platform;

use std::collections::HashMap;
use std::sync::Arc;

use portscope_core::error::{Error, Result};
use portscope_core::model::{Family, Holder, Protocol, Snapshot, Socket, SocketSource};
use portscope_core::platform::Query;

pub use platform::Linux;

/// Takes one look at the machine's sockets, shaped by `query`.
///
/// The socket dump and the /proc/*/fd walk are independent, so they run at the same time; the
/// join by inode happens once both are done.
pub fn snapshot(query: &Query) -> Result<Snapshot> {
    let mut notes = Vec::new();
    let (dumped, walk) = std::thread::scope(|scope| {
        let walk = query.processes.then(|| scope.spawn(fd_table::walk));
        let dumped = dump_netlink(query);
        let walk = walk.map(|w| {
            w.join()
                .unwrap_or_else(|_| Err(std::io::Error::other("fd walk panicked")))
        });
        (dumped, walk)
    });
    let (mut sockets, source) = match dumped {
        Ok(sockets) => (sockets, SocketSource::Netlink),
        Err(err) => {
            notes.push(format!(
                "netlink sock_diag was refused ({err}); read /proc/net instead"
            ));
            (read_proc_net(query)?, SocketSource::ProcNet)
        }
    };
    let unreadable_processes = match walk {
        Some(walk) => {
            // A walk that could not finish is an error: a socket without an owner would be
            // reported as hidden or as the kernel's, which would be a lie.
            let walk = walk.map_err(|e| {
                let hint = if e.raw_os_error() == Some(rustix::io::Errno::MFILE.raw_os_error()) {
                    " (the open-files limit is too low; raise it with ulimit -n)"
                } else {
                    ""
                };
                Error::System(format!(
                    "cannot read /proc/*/fd to find which process holds each socket: {e}{hint}"
                ))
            })?;
            attach_holders(&mut sockets, walk).map_err(|e| {
                Error::System(format!(
                    "cannot read the processes that hold sockets: {e} (the open-files limit may be too low; raise it with ulimit -n)"
                ))
            })?
        }
        None => 0,
    };
    Ok(Snapshot {
        sockets,
        source,
        unreadable_processes,
        notes,
    })
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
            Protocol::Udp => query.udp,
        };
        let f_ok = match f {
            Family::Ipv4 => query.ipv4,
            Family::Ipv6 => query.ipv6,
        };
        p_ok && f_ok
    })
}

fn dump_netlink(query: &Query) -> std::io::Result<Vec<Socket>> {
    let mut diag = sock_diag::SockDiag::open()?;
    let mut sockets = Vec::new();
    for (protocol, family) in wanted_kinds(query) {
        diag.dump(protocol, family, query.states, &mut sockets)?;
    }
    Ok(sockets)
}

fn read_proc_net(query: &Query) -> Result<Vec<Socket>> {
    let mut sockets = Vec::new();
    for (protocol, family) in wanted_kinds(query) {
        let file = match (protocol, family) {
            (Protocol::Tcp, Family::Ipv4) => "/proc/net/tcp",
            (Protocol::Tcp, Family::Ipv6) => "/proc/net/tcp6",
            (Protocol::Udp, Family::Ipv4) => "/proc/net/udp",
            (Protocol::Udp, Family::Ipv6) => "/proc/net/udp6",
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
    Ok(sockets)
}

/// Fills each socket's holders from the fd walk; returns how many processes could not be inspected.
fn attach_holders(sockets: &mut [Socket], walk: fd_table::Walk) -> std::io::Result<usize> {
    let slots: HashMap<u64, usize> = sockets
        .iter()
        .enumerate()
        .filter(|(_, s)| s.inode != 0)
        .map(|(i, s)| (s.inode, i))
        .collect();
    let clock = process::Clock::read();
    let users = users::table();
    let mut processes: HashMap<u32, Option<Arc<portscope_core::model::Process>>> = HashMap::new();
    for (inode, pid, fd) in walk.sockets {
        // Sockets of other kinds (unix, netlink) or other network namespaces.
        let Some(&slot) = slots.get(&inode) else { continue };
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
    Ok(walk.unreadable)
}
