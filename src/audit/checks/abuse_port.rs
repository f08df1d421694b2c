//! A socket on a port with a documented history of abuse (trojans, backdoors, attack tools).
//!
//! A warning, never an alert by itself: any program may use any port, and 4444 or 12345 are also
//! ordinary development ports. Listeners are judged by their own port; outgoing connections by the
//! peer's port (a Metasploit handler waits on 4444); connections accepted by a local listener are
//! covered by that listener.

use std::collections::HashSet;

use crate::knowledge;

use super::super::context::{Context, holder_label};
use super::super::finding::{CheckId, Finding, Severity, SocketRef};
use super::Out;

pub fn check(ctx: &Context, out: &mut Out) {
    let listening: HashSet<(crate::model::Protocol, u16)> = ctx
        .snapshot
        .sockets
        .iter()
        .filter(|s| s.state.is_listening())
        .map(|s| (s.protocol, s.local.port))
        .collect();
    for socket in &ctx.snapshot.sockets {
        let (port, direction) = if socket.state.is_listening() {
            (socket.local.port, "listens on")
        } else if socket.remote.port != 0
            && !listening.contains(&(socket.protocol, socket.local.port))
            && !socket.holders.is_empty()
        {
            (socket.remote.port, "is connected to")
        } else {
            continue;
        };
        let rows = knowledge::abuse(port, socket.protocol);
        if rows.is_empty() {
            continue;
        }
        let known: Vec<String> = rows
            .iter()
            .map(|r| format!("{} ({}, {})", r.family, r.kind, r.years))
            .collect();
        out.findings.push(Finding {
            severity: Severity::Warning,
            check: CheckId::AbusePort,
            sockets: vec![SocketRef::of(socket)],
            process: socket.holders.first().map(|h| h.process.clone()),
            reason: format!(
                "{} {direction} {} port {port}, known for {}; any program may use it, so check what this one is",
                holder_label(socket),
                socket.protocol,
                known.join(", ")
            ),
        });
    }
}
