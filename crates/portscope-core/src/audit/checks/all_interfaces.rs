//! A listener bound to every interface (0.0.0.0 or ::) instead of loopback or one address.
//!
//! Information only: servers are meant to be reachable. It tells an administrator what the
//! network, not just this machine, can reach.

use super::super::context::{Context, holder_label};
use super::super::finding::{CheckId, Finding, Severity, SocketRef};
use super::Out;

pub fn check(ctx: &Context, out: &mut Out) {
    for socket in &ctx.snapshot.sockets {
        if !socket.protocol.has_ports()
            || !socket.state.is_listening()
            || !socket.local.address.is_unspecified()
            || socket.local.port == 0
        {
            continue;
        }
        let who = holder_label(socket);
        out.findings.push(Finding {
            severity: Severity::Info,
            check: CheckId::AllInterfaces,
            sockets: vec![SocketRef::of(socket)],
            process: socket.holders.first().map(|h| h.process.clone()),
            next_step: None,
            reason: format!(
                "{who} listens on {} {} on every interface, so every network this host is on can reach it",
                socket.protocol, socket.local
            ),
        });
    }
}
