//! Hidden listeners (`audit --deep`): a port the kernel refuses to bind (EADDRINUSE) although no
//! socket table shows a socket on it — the check of unhide-tcp and rkhunter for rootkits that
//! filter netlink and /proc/net.
//!
//! Every port of TCP and UDP, IPv4 and IPv6, is bound once and released; nothing listens, connects
//! or sends. Sockets appear and vanish while the probe runs (other programs work meanwhile), so
//! every port that looks hidden is checked again against a fresh socket table and a second bind;
//! only ports hidden both times are reported. TCP sockets that are bound but not listening hold a
//! port too; kernels since 6.8 list them, and on older kernels such a socket would look hidden, so
//! there the finding is a warning instead of an alert.

use std::collections::HashSet;
use std::time::Instant;

use crate::error::{Error, Result};
use crate::model::{Family, Protocol, Snapshot};
use crate::platform::{Platform, Query, StateFilter};

use super::super::context::Context;
use super::super::finding::{CheckId, Finding, Severity, SocketRef};
use super::Out;

const KINDS: [(Protocol, Family); 4] = [
    (Protocol::Tcp, Family::Ipv4),
    (Protocol::Tcp, Family::Ipv6),
    (Protocol::Udp, Family::Ipv4),
    (Protocol::Udp, Family::Ipv6),
];

/// Ports with any socket in any state (bound-only TCP sockets included, where the kernel lists
/// them), per protocol; both families together, because a dual-stack IPv6 socket holds the IPv4
/// port as well.
fn known_ports(snapshot: &Snapshot, protocol: Protocol) -> HashSet<u16> {
    snapshot
        .sockets
        .iter()
        // bind() probes only the namespace portscope runs in.
        .filter(|s| s.protocol == protocol && snapshot.is_own(s))
        .map(|s| s.local.port)
        .collect()
}

/// Ports in use that no table shows.
pub fn unexplained(in_use: &[u16], known: &HashSet<u16>) -> Vec<u16> {
    in_use.iter().copied().filter(|p| !known.contains(p)).collect()
}

pub fn check(ctx: &Context, out: &mut Out) -> Result<()> {
    let started = Instant::now();
    let lists_bound = ctx.platform.lists_bound_inactive();
    let every_port: Vec<u16> = (1..=u16::MAX).collect();
    let mut denied = 0;
    let mut suspects: Vec<(Protocol, Family, u16)> = Vec::new();
    let mut unavailable = Vec::new();
    for (protocol, family) in KINDS {
        let known = known_ports(ctx.snapshot, protocol);
        let result = ctx
            .platform
            .bind_probe(protocol, family, &every_port)
            .map_err(|e| Error::io("probing ports (--deep)", e))?;
        if result.unavailable {
            unavailable.push(format!(
                "{protocol} over {}",
                if family == Family::Ipv4 { "IPv4" } else { "IPv6" }
            ));
        }
        denied = denied.max(result.denied);
        suspects.extend(
            unexplained(&result.in_use, &known)
                .into_iter()
                .map(|port| (protocol, family, port)),
        );
    }
    if !suspects.is_empty() {
        suspects = recheck(ctx.platform, suspects)?;
    }
    for (protocol, family, port) in suspects {
        let address = match family {
            Family::Ipv4 => std::net::IpAddr::from([0, 0, 0, 0]),
            Family::Ipv6 | Family::Packet => std::net::IpAddr::from([0u16; 8]),
        };
        let (severity, tail) = if lists_bound || protocol == Protocol::Udp {
            (
                Severity::Alert,
                "a socket hidden from the kernel's socket tables, as rootkits do",
            )
        } else {
            (
                Severity::Warning,
                "a socket hidden by a rootkit, or one bound without listening, which this kernel does not list",
            )
        };
        out.findings.push(Finding {
            severity,
            check: CheckId::HiddenListener,
            sockets: vec![SocketRef {
                protocol,
                local: crate::model::Endpoint::new(address, port),
                remote: None,
                state: None,
                inode: 0,
                netns: None,
            }],
            process: None,
            next_step: None,
            reason: format!(
                "{protocol} port {port} is taken in the kernel (binding it fails) but no socket table shows it: {tail}"
            ),
        });
    }
    out.notes.push(format!(
        "--deep bound each of the 65535 TCP and UDP ports over IPv4 and IPv6 once (bind only, no traffic) in {} ms",
        started.elapsed().as_millis()
    ));
    if denied > 0 {
        out.notes.push(format!(
            "--deep could not probe {denied} privileged ports without {}; {} to cover them",
            crate::privilege::SUPERUSER,
            crate::privilege::ELEVATE
        ));
    }
    if !unavailable.is_empty() {
        out.notes.push(format!(
            "--deep skipped {}: not available on this host",
            unavailable.join(", ")
        ));
    }
    Ok(())
}

/// Keeps only the suspects that a fresh socket table still lacks and a second bind still finds taken.
fn recheck(
    platform: &dyn Platform,
    suspects: Vec<(Protocol, Family, u16)>,
) -> Result<Vec<(Protocol, Family, u16)>> {
    let fresh = platform.snapshot(&Query {
        states: StateFilter::All,
        processes: false,
        ..Query::ports()
    })?;
    let known_tcp = known_ports(&fresh, Protocol::Tcp);
    let known_udp = known_ports(&fresh, Protocol::Udp);
    let mut confirmed = Vec::new();
    for (protocol, family, port) in suspects {
        let known = match protocol {
            Protocol::Tcp => &known_tcp,
            _ => &known_udp,
        };
        if known.contains(&port) {
            continue;
        }
        let again = platform
            .bind_probe(protocol, family, &[port])
            .map_err(|e| Error::io("probing ports (--deep)", e))?;
        if again.in_use.contains(&port) {
            confirmed.push((protocol, family, port));
        }
    }
    Ok(confirmed)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn in_use_minus_known() {
        let known: HashSet<u16> = [22, 80].into_iter().collect();
        assert_eq!(unexplained(&[22, 80, 4444], &known), vec![4444]);
        assert!(unexplained(&[], &known).is_empty());
    }
}
