//! A listener on a well-known port held by a program that is not a known server for it — the
//! seed case of "a trojan on port 80". Known servers come from data/expected-servers.toml.

use super::super::context::{Context, label};
use super::super::finding::{CheckId, Finding, Severity, SocketRef};
use super::Out;

pub fn check(ctx: &Context, out: &mut Out) {
    for socket in &ctx.snapshot.sockets {
        if !socket.protocol.has_ports() || !socket.state.is_listening() || socket.holders.is_empty() {
            continue;
        }
        let port = socket.local.port;
        let Some(services) = ctx.expected.services(port) else {
            continue;
        };
        let expected = socket
            .holders
            .iter()
            .any(|h| ctx.expected.is_expected(port, &h.process) == Some(true));
        if expected {
            continue;
        }
        let holder = &socket.holders[0].process;
        let service = ctx
            .names
            .name(port, socket.protocol)
            .map(str::to_string)
            .unwrap_or_else(|| services.join("/"));
        out.findings.push(Finding {
            severity: Severity::Warning,
            check: CheckId::UnexpectedServer,
            sockets: vec![SocketRef::of(socket)],
            process: Some(holder.clone()),
            next_step: None,
            reason: format!(
                "{} holds {} port {port} ({service}) but is not a known {} server; any program can take a port",
                label(holder),
                socket.protocol,
                services.join("/"),
            ),
        });
    }
}
