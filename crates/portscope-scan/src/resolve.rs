//! Host names to addresses through the system resolver (getaddrinfo), under a hard time bound.
//!
//! getaddrinfo honours nsswitch.conf: /etc/hosts, DNS, and whatever NSS modules the machine uses
//! (mDNS, sssd, LDAP), which is what a user expects a host name to mean. It cannot be cancelled,
//! so each lookup runs on a thread of its own and the caller stops waiting at the deadline; a
//! lookup that hangs is abandoned, never waited for.

use std::net::IpAddr;
use std::sync::mpsc;
use std::time::{Duration, Instant};

use portscope_core::error::{Error, Result};

/// How long one name may take.
pub const RESOLVE_TIMEOUT: Duration = Duration::from_secs(3);

/// Resolves each name to its addresses (IPv4 first, as nmap prefers). Any name that fails stops
/// the whole scan with a usage error naming it: scanning the other targets silently would hide
/// the mistake. All names are looked up at once, so the bound holds for the whole list too.
pub fn resolve_all(names: &[String]) -> Result<Vec<Vec<IpAddr>>> {
    let deadline = Instant::now() + RESOLVE_TIMEOUT;
    let pending: Vec<mpsc::Receiver<std::io::Result<Vec<IpAddr>>>> = names
        .iter()
        .map(|name| {
            let (tx, rx) = mpsc::channel();
            let name = name.clone();
            std::thread::Builder::new()
                .name("resolve".into())
                .spawn(move || {
                    let _ = tx.send(lookup(&name));
                })
                .map_err(|e| Error::io("starting a resolver thread", e))?;
            Ok(rx)
        })
        .collect::<Result<_>>()?;
    names
        .iter()
        .zip(pending)
        .map(
            |(name, rx)| match rx.recv_timeout(deadline.saturating_duration_since(Instant::now())) {
                Ok(Ok(addrs)) if !addrs.is_empty() => Ok(addrs),
                Ok(Ok(_)) => Err(unknown(name, "no such host")),
                Ok(Err(e)) => Err(unknown(name, &e.to_string())),
                Err(_) => Err(unknown(name, "the resolver did not answer in time")),
            },
        )
        .collect()
}

/// One getaddrinfo call: distinct addresses, IPv4 before IPv6, otherwise in the resolver's order.
fn lookup(name: &str) -> std::io::Result<Vec<IpAddr>> {
    let mut addrs: Vec<IpAddr> = Vec::new();
    for addr in dns_lookup::lookup_host(name)? {
        if !addrs.contains(&addr) {
            addrs.push(addr);
        }
    }
    addrs.sort_by_key(|a| a.is_ipv6());
    Ok(addrs)
}

fn unknown(name: &str, why: &str) -> Error {
    let why = why.lines().next().unwrap_or(why);
    Error::Usage(format!("cannot resolve host {name:?}: {why}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hosts_file_names_resolve() {
        // localhost comes from /etc/hosts (or the resolver's built-in rule); no packet is sent.
        let found = resolve_all(&["localhost".to_string()]).expect("localhost resolves");
        assert!(found[0].iter().any(|a| a.is_loopback()));
    }

    #[test]
    fn unknown_names_are_one_usage_error() {
        let err = resolve_all(&["no-such-host.invalid".to_string()]).unwrap_err();
        assert!(err.to_string().contains("no-such-host.invalid"), "{err}");
    }
}
