//! A socket on a port with a documented history of abuse (trojans, backdoors, attack tools).
//!
//! A warning, never an alert by itself: any program may use any port, and 4444 or 12345 are also
//! ordinary development ports. Each socket is judged by its service port, the same rule `list`
//! and `explain` use ([`crate::knowledge::ServiceSides`]): a listener by its own port, an outgoing
//! connection by the peer's (a Metasploit handler waits on 4444), a connection from a fixed local
//! port by that port; connections accepted by a local listener are covered by that listener.

use crate::knowledge::{self, Side};

use super::super::context::{Context, holder_label};
use super::super::finding::{CheckId, Finding, Severity, SocketRef};
use super::Out;

pub fn check(ctx: &Context, out: &mut Out) {
    for socket in &ctx.snapshot.sockets {
        let (port, direction) = if socket.state.is_listening() {
            (socket.local.port, "listens on")
        } else if socket.remote.port == 0 || socket.holders.is_empty() || ctx.sides.accepted_here(socket) {
            continue;
        } else {
            match ctx.sides.side(socket) {
                Side::Remote => (socket.remote.port, "is connected to"),
                Side::Local => (socket.local.port, "holds a connection from its own"),
            }
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
            next_step: None,
            reason: format!(
                "{} {direction} {} port {port}, known for {}; any program may use it, so check what this one is",
                holder_label(socket),
                socket.protocol,
                known.join(", ")
            ),
        });
    }
}
