//! Sockets one view hides (`audit --deep`): the TCP and UDP sockets of portscope's own network
//! namespace as the netlink dump lists them (what `ss` reads) against the text tables in
//! /proc/net (what `netstat` and `lsof` read). The kernel fills both from the same hash tables,
//! so a socket in one and not the other was filtered out of one: a rootkit hooking
//! `tcp4_seq_show` hides from /proc/net, one hooking the netlink path hides from `ss`.
//!
//! Sockets come and go between two reads, so a mismatch counts only when a second pair of reads,
//! taken after the first, shows it again (by inode). TIME-WAIT and request sockets have no inode
//! and are left out, and so are TCP sockets bound without listening, which only netlink lists.

use std::collections::HashSet;

use crate::model::{Protocol, Socket, SocketState};
use crate::platform::{NetnsSelection, Query};

use super::super::context::Context;
use super::super::finding::{CheckId, Finding, Severity, SocketRef};
use super::Out;

/// (inodes only netlink lists, inodes only /proc/net lists)
fn mismatch<'a>(netlink: &'a [Socket], proc_net: &'a [Socket]) -> (Vec<&'a Socket>, Vec<&'a Socket>) {
    // TCP sockets bound without listening are in the bind table only, which netlink lists
    // (Linux 6.8+) and /proc/net never did.
    let keep = |s: &&Socket| {
        s.inode != 0
            && matches!(s.protocol, Protocol::Tcp | Protocol::Udp)
            && !matches!(s.state, SocketState::BoundInactive | SocketState::Close)
    };
    let in_netlink: HashSet<u64> = netlink.iter().filter(keep).map(|s| s.inode).collect();
    let in_proc: HashSet<u64> = proc_net.iter().filter(keep).map(|s| s.inode).collect();
    (
        netlink
            .iter()
            .filter(keep)
            .filter(|s| !in_proc.contains(&s.inode))
            .collect(),
        proc_net
            .iter()
            .filter(keep)
            .filter(|s| !in_netlink.contains(&s.inode))
            .collect(),
    )
}

fn own_tcp_udp() -> Query {
    Query {
        netns: Some(NetnsSelection::Current),
        processes: false,
        ..Query::ports()
    }
}

pub fn check(ctx: &Context, out: &mut Out) {
    let platform = ctx.platform;
    let own: Vec<Socket> = ctx
        .snapshot
        .sockets
        .iter()
        .filter(|s| ctx.snapshot.is_own(s))
        .cloned()
        .collect();
    let proc_first = match platform.proc_net_sockets() {
        Ok(Ok(sockets)) => sockets,
        Ok(Err(_)) => {
            out.notes
                .push("sockets were not compared with /proc/net: its tables could not be read".into());
            return;
        }
        Err(unsupported) => return out.not_checked(CheckId::HiddenSocket, unsupported),
    };
    let (only_netlink, only_proc) = mismatch(&own, &proc_first);
    if only_netlink.is_empty() && only_proc.is_empty() {
        return;
    }
    // A second look, both views again (the platform answered the first, so it supports both).
    let (Ok(netlink_again), Ok(Ok(proc_again))) =
        (platform.snapshot(&own_tcp_udp()), platform.proc_net_sockets())
    else {
        return;
    };
    let (netlink_second, proc_second) = mismatch(&netlink_again.sockets, &proc_again);
    let again_netlink: HashSet<u64> = netlink_second.iter().map(|s| s.inode).collect();
    let again_proc: HashSet<u64> = proc_second.iter().map(|s| s.inode).collect();
    let hidden = only_netlink
        .into_iter()
        .filter(|s| again_netlink.contains(&s.inode))
        .map(|s| (s, "/proc/net (what netstat and lsof read)", "sock_diag"))
        .chain(
            only_proc
                .into_iter()
                .filter(|s| again_proc.contains(&s.inode))
                .map(|s| (s, "the netlink dump (what ss reads)", "/proc/net")),
        );
    for (socket, hidden_from, listed_by) in hidden {
        let holder = socket.holders.first().map(|h| h.process.clone());
        out.findings.push(Finding {
            severity: Severity::Alert,
            check: CheckId::HiddenSocket,
            sockets: vec![SocketRef::of(socket)],
            process: holder,
            reason: format!(
                "{} {} (inode {}) is listed by {listed_by} but hidden from {hidden_from}, twice: a rootkit filters one view of the socket tables",
                socket.protocol, socket.local, socket.inode
            ),
            next_step: Some(format!(
                "ss -tuanpe | grep -w 'ino:{0}'; grep -w {0} /proc/net/tcp /proc/net/tcp6 /proc/net/udp /proc/net/udp6",
                socket.inode
            )),
        });
    }
}
