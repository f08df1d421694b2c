//! Host names to addresses, with hickory's async resolver under a hard time bound.
//!
//! The system configuration (/etc/resolv.conf, /etc/hosts) is honoured; a name that does not
//! resolve within the bound is one clear error, never a hang.

use std::net::IpAddr;
use std::time::Duration;

use hickory_resolver::TokioResolver;
use hickory_resolver::config::{LookupIpStrategy, ResolveHosts};

use crate::error::{Error, Result};

/// How long one name may take, all tries included.
pub const RESOLVE_TIMEOUT: Duration = Duration::from_secs(3);

/// Resolves each name to its addresses (IPv4 first, as nmap prefers). Any name that fails stops
/// the whole scan with a usage error naming it: scanning the other targets silently would hide
/// the mistake.
pub fn resolve_all(names: &[String]) -> Result<Vec<Vec<IpAddr>>> {
    if names.is_empty() {
        return Ok(Vec::new());
    }
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| Error::io("starting the resolver", e))?;
    runtime.block_on(async {
        let mut builder = TokioResolver::builder_tokio()
            .map_err(|e| Error::System(format!("reading the resolver configuration: {e}")))?;
        let opts = builder.options_mut();
        opts.timeout = Duration::from_secs(1);
        opts.attempts = 1;
        opts.ip_strategy = LookupIpStrategy::Ipv4AndIpv6;
        opts.use_hosts_file = ResolveHosts::Always;
        let resolver = builder
            .build()
            .map_err(|e| Error::System(format!("starting the resolver: {e}")))?;
        // One name after another: names are few (command line or -iL), and each is bounded.
        let mut out = Vec::with_capacity(names.len());
        for name in names {
            let addrs = match tokio::time::timeout(RESOLVE_TIMEOUT, resolver.lookup_ip(name.as_str())).await {
                Ok(Ok(found)) => found.iter().collect::<Vec<IpAddr>>(),
                Ok(Err(e)) if e.is_no_records_found() || e.is_nx_domain() => Vec::new(),
                Ok(Err(e)) => return Err(unknown(name, &e.to_string())),
                Err(_) => return Err(unknown(name, "the resolver did not answer in time")),
            };
            if addrs.is_empty() {
                return Err(unknown(name, "no such host"));
            }
            out.push(addrs);
        }
        Ok(out)
    })
}

fn unknown(name: &str, why: &str) -> Error {
    let why = why.lines().next().unwrap_or(why);
    Error::Usage(format!("cannot resolve host {name:?}: {why}"))
}
