//! A process that reads raw frames or raw IP packets: an AF_PACKET or raw socket, which needs no
//! port and shows in no list of listeners. DHCP clients, LLDP daemons and capture tools hold them
//! for good reasons; a sniffing backdoor (BPFDoor, MITRE ATT&CK T1205.002) holds one with a BPF
//! filter and waits for its magic packet.
//!
//! - An expected holder (data/expected-packet.toml), matched by its packaged executable, not by
//!   its name: information.
//! - Any other holder: a warning.
//! - A filter that compares payload bytes with constants (not only EtherType, protocol or port
//!   fields), or a holder whose executable is deleted, anonymous (memfd), in a world-writable
//!   directory or installed by no package: an alert. The decoded constants are shown.

use crate::program::is_memfd;

use super::super::context::{Context, Ownership, label, show};
use super::super::finding::{CheckId, Finding, Severity, SocketRef};
use super::Out;
use crate::bpf;
use crate::model::{PacketInfo, Process, Protocol, Socket};

/// How many instructions of a filter the reason quotes when it compares no payload.
const QUOTED: usize = 4;

/// Why the holder itself is suspect, if it is.
fn suspect_holder(ctx: &Context, process: &Process) -> Option<String> {
    let exe = process.exe.as_deref()?;
    if is_memfd(exe) {
        return Some(format!(
            "its executable is an anonymous memory file ({})",
            show(exe)
        ));
    }
    if process.exe_deleted && ctx.platform.file_exists(process.pid, exe) != Some(true) {
        return Some(format!("its executable {} was deleted", show(exe)));
    }
    if ctx.platform.dir_world_writable(process.pid, exe) == Some(true) {
        return Some(format!(
            "it runs from {}, a directory every user can write to",
            show(exe)
        ));
    }
    if ctx.ownership(process) == Ownership::NoPackage {
        return Some(format!("no package installed its executable {}", show(exe)));
    }
    None
}

fn expected(ctx: &Context, process: &Process) -> bool {
    ctx.expected
        .packet_holders()
        .iter()
        .any(|pattern| ctx.program_named(process, pattern))
}

/// What the socket is and what its filter says: (the filter's payload comparisons, a phrase).
fn describe(socket: &Socket) -> (Vec<bpf::PayloadCompare>, String) {
    if socket.protocol == Protocol::Raw {
        let what = format!("a raw IP socket (protocol {})", socket.local.port);
        return (Vec::new(), what);
    }
    let Some(info) = socket.packet.as_deref() else {
        return (Vec::new(), "an AF_PACKET socket".into());
    };
    let PacketInfo {
        filter,
        filter_hidden,
        ..
    } = info;
    match (filter, filter_hidden) {
        (Some(filter), _) => {
            let link_header = if info.kind == "dgram" { 0 } else { 14 };
            let compares = bpf::payload_compares(filter, link_header);
            let what = if compares.is_empty() {
                let quoted: Vec<&str> = filter.iter().take(QUOTED).map(|d| d.text.as_str()).collect();
                let more = if filter.len() > QUOTED { "; …" } else { "" };
                format!(
                    "an AF_PACKET socket with a {}-instruction BPF filter ({}{more})",
                    filter.len(),
                    quoted.join("; ")
                )
            } else {
                let shown: Vec<String> = compares.iter().map(|c| c.to_string()).collect();
                format!(
                    "an AF_PACKET socket whose {}-instruction BPF filter compares payload bytes with constants ({}): a magic-packet trigger, the way BPFDoor waits without any port",
                    filter.len(),
                    shown.join(", ")
                )
            };
            (compares, what)
        }
        (None, true) => (
            Vec::new(),
            "an AF_PACKET socket with a filter the kernel shows only to root".into(),
        ),
        (None, false) => (
            Vec::new(),
            "an AF_PACKET socket without a filter (it sees every frame)".into(),
        ),
    }
}

pub fn check(ctx: &Context, out: &mut Out) {
    for socket in &ctx.snapshot.sockets {
        if !matches!(socket.protocol, Protocol::Packet | Protocol::Raw) || socket.holders.is_empty() {
            continue;
        }
        let (compares, what) = describe(socket);
        for holder in &socket.holders {
            let process = &holder.process;
            let fds: Vec<String> = holder.fds.iter().map(|fd| fd.to_string()).collect();
            let fd = format!("fd {}", fds.join(","));
            let (severity, why) = if !compares.is_empty() {
                (Severity::Alert, String::new())
            } else if let Some(suspect) = suspect_holder(ctx, process) {
                (
                    Severity::Alert,
                    format!("; {suspect}, and a capture socket needs no port to take commands"),
                )
            } else if expected(ctx, process) {
                (Severity::Info, "; a packaged program expected to hold one".into())
            } else {
                (
                    Severity::Warning,
                    "; not a program expected to read raw traffic (data/expected-packet.toml)".into(),
                )
            };
            out.findings.push(Finding {
                severity,
                check: CheckId::PacketSocket,
                sockets: vec![SocketRef::of(socket)],
                process: Some(process.clone()),
                reason: format!("{} holds {what} ({fd}){why}", label(process)),
                next_step: None,
            });
        }
    }
}
