//! A process that reads raw frames: an AF_PACKET socket, which needs no port and shows in no
//! list of listeners. DHCP clients, LLDP daemons and capture tools hold them for good reasons; a
//! sniffing backdoor holds one with a BPF filter and waits for its magic packet.
//!
//! Information for a packet socket without a filter (it sees everything: a capture tool), a
//! warning for one with a filter, whose decoded program the finding quotes in short.

use super::super::context::Context;
use super::super::finding::{CheckId, Finding, Severity, SocketRef};
use super::Out;
use crate::model::Protocol;

/// How many instructions of a filter the reason quotes.
const QUOTED: usize = 4;

pub fn check(ctx: &Context, out: &mut Out) {
    for socket in &ctx.snapshot.sockets {
        if socket.protocol != Protocol::Packet || socket.holders.is_empty() {
            continue;
        }
        let Some(info) = socket.packet.as_deref() else {
            continue;
        };
        let (severity, what) = match (&info.filter, info.filter_hidden) {
            (Some(filter), _) => {
                let quoted: Vec<&str> = filter.iter().take(QUOTED).map(|d| d.text.as_str()).collect();
                let more = if filter.len() > QUOTED { "; …" } else { "" };
                (
                    Severity::Warning,
                    format!(
                        "with a {}-instruction BPF filter ({}{more}): it waits for chosen packets without any port",
                        filter.len(),
                        quoted.join("; ")
                    ),
                )
            }
            (None, true) => (
                Severity::Warning,
                "with a filter the kernel shows only to root: it may wait for chosen packets without any port".to_string(),
            ),
            (None, false) => (
                Severity::Info,
                "without a filter: it sees every frame (a capture tool or a network daemon)".to_string(),
            ),
        };
        for holder in &socket.holders {
            out.findings.push(Finding {
                severity,
                check: CheckId::PacketSocket,
                sockets: vec![SocketRef::of(socket)],
                process: Some(holder.process.clone()),
                reason: format!(
                    "{} (pid {}) reads raw frames through an AF_PACKET socket {what}",
                    holder.process.name, holder.process.pid
                ),
            });
        }
    }
}
