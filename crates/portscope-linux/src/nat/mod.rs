//! The DNAT rules and local addresses of the namespace the calling thread is in.
//!
//! Rules come from the kernel through the tools that read it, run inside the namespace (a child
//! inherits the namespace of the thread that starts it): `nft -j list ruleset`, and, when a rule
//! uses iptables' DNAT target, `iptables-nft-save -t nat` and `ip6tables-nft-save -t nat`. A
//! container engine is never asked. Addresses come from getifaddrs, which asks the kernel over a
//! netlink socket of the calling thread's namespace. The parsers of the tools' output are
//! [`parse`].
//!
//! Whoever owns a namespace writes its rules (nobody can, in a user namespace of their own), so
//! what is read is bounded four ways: each tool's memory ([`TOOL_MEMORY`]: `nft -j` takes ~5 KB
//! per rule) and output ([`OUTPUT_LIMIT`]), past which the ruleset is not read, and said; the
//! forwards kept from one namespace ([`parse::MAX_RULES`]), and those kept from all namespaces
//! of one look ([`MAX_FORWARDS`]); what is left out is counted for a note.

pub mod parse;

use std::io::Read;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::os::unix::process::{CommandExt, ExitStatusExt};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};

use parse::{NatRule, Ruleset};

/// A tool's output larger than this is not read (45,000 rules print ~10 MiB of JSON).
pub const OUTPUT_LIMIT: usize = 16 << 20;
/// The address space each tool may use (RLIMIT_AS): nft needs ~80 MiB to start and aborts
/// past the limit, which leaves room for ~20,000 rules.
pub const TOOL_MEMORY: u64 = 192 << 20;
/// Forwards kept from all the namespaces of one look together.
pub const MAX_FORWARDS: usize = 16_384;

/// What one namespace forwards, and the addresses it owns.
#[derive(Clone, Debug, Default)]
pub struct NsRules {
    pub rules: Vec<NatRule>,
    pub addresses: Vec<IpAddr>,
    /// Forwards found but not kept (beyond a bound).
    pub dropped: usize,
    /// Why the rules were not read, when a bound stopped a tool.
    pub unread: Option<Unread>,
}

/// A ruleset a bound kept portscope from reading.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Unread {
    /// A tool printed more than [`OUTPUT_LIMIT`].
    TooLarge,
    /// A tool was killed, as nft is when it runs past [`TOOL_MEMORY`].
    Killed,
}

impl std::fmt::Display for Unread {
    fn fmt(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        match self {
            Unread::TooLarge => write!(f, "the ruleset printed is larger than {} MiB", OUTPUT_LIMIT >> 20),
            Unread::Killed => write!(f, "nft did not finish within {} MiB of memory", TOOL_MEMORY >> 20),
        }
    }
}

/// What is left of [`MAX_FORWARDS`] for the namespaces not read yet, shared by the threads
/// that read them.
#[derive(Debug)]
pub struct Budget(AtomicUsize);

impl Default for Budget {
    fn default() -> Budget {
        Budget(AtomicUsize::new(MAX_FORWARDS))
    }
}

impl Budget {
    /// Takes up to `wanted` forwards from what is left; how many it got.
    fn take(&self, wanted: usize) -> usize {
        let left = self
            .0
            .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |left| {
                Some(left.saturating_sub(wanted))
            })
            .unwrap_or(0);
        left.min(wanted)
    }
}

/// What a tool said: its output, or which bound stopped it.
enum Output {
    Read(Vec<u8>),
    Unread(Unread),
}

/// Where the tools live; PATH is not trusted (portscope often runs as root).
fn tool(name: &str) -> Option<std::path::PathBuf> {
    ["/usr/sbin", "/sbin", "/usr/bin", "/bin"]
        .iter()
        .map(|dir| std::path::Path::new(dir).join(name))
        .find(|path| path.is_file())
}

fn run(name: &str, args: &[&str]) -> Option<Output> {
    let mut command = Command::new(tool(name)?);
    command
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::null());
    let limit = libc::rlimit {
        rlim_cur: TOOL_MEMORY,
        rlim_max: TOOL_MEMORY,
    };
    // SAFETY: the closure runs in the child between fork and exec and calls only setrlimit,
    // which is async-signal-safe, on a value copied into it; it allocates nothing.
    unsafe {
        command.pre_exec(move || {
            if libc::setrlimit(libc::RLIMIT_AS, &limit) == 0 {
                Ok(())
            } else {
                Err(std::io::Error::last_os_error())
            }
        });
    }
    let mut child = command.spawn().ok()?;
    let mut out = Vec::new();
    // One byte past the limit tells a full output from a cut one. Dropping the pipe after it
    // ends a tool still writing (SIGPIPE), so the wait below cannot hang on it.
    let read = child
        .stdout
        .take()
        .map(|stdout| stdout.take(OUTPUT_LIMIT as u64 + 1).read_to_end(&mut out));
    let status = child.wait().ok()?;
    if out.len() > OUTPUT_LIMIT {
        return Some(Output::Unread(Unread::TooLarge));
    }
    if status.signal().is_some() {
        return Some(Output::Unread(Unread::Killed));
    }
    (status.success() && matches!(read, Some(Ok(_)))).then_some(Output::Read(out))
}

/// Reads the rules and addresses of the calling thread's namespace, keeping what `budget`
/// leaves. Without nft, or when it fails (no privilege), the namespace has no rules as far as
/// portscope can tell.
pub fn read_here(budget: &Budget) -> NsRules {
    let mut found = Ruleset::default();
    let mut unread = None;
    match run("nft", &["-j", "list", "ruleset"]) {
        Some(Output::Read(json)) => {
            if let Ok(ruleset) = parse::parse_nft_json(&json) {
                drop(json);
                let xt = ruleset.has_xt_dnat;
                found.extend(ruleset);
                if xt {
                    for (name, family) in [("iptables-nft-save", "ip"), ("ip6tables-nft-save", "ip6")] {
                        match run(name, &["-t", "nat"]) {
                            Some(Output::Read(text)) => {
                                found.extend(parse::parse_iptables_save(&text, family))
                            }
                            Some(Output::Unread(why)) => unread = Some(why),
                            None => {}
                        }
                    }
                }
            }
        }
        Some(Output::Unread(why)) => unread = Some(why),
        None => {}
    }
    let kept = budget.take(found.rules.len());
    let dropped = found.dropped + (found.rules.len() - kept);
    found.rules.truncate(kept);
    found.rules.shrink_to_fit();
    NsRules {
        rules: found.rules,
        addresses: addresses(),
        dropped,
        unread,
    }
}

/// Every address on an interface of the calling thread's namespace.
pub fn addresses() -> Vec<IpAddr> {
    let mut head: *mut libc::ifaddrs = std::ptr::null_mut();
    // SAFETY: getifaddrs stores the head of a list it allocates into `head`; on success the list
    // is freed below with freeifaddrs, and nothing keeps a pointer into it.
    if unsafe { libc::getifaddrs(&mut head) } != 0 {
        return Vec::new();
    }
    let mut out = Vec::new();
    let mut cursor = head;
    while !cursor.is_null() {
        // SAFETY: `cursor` is a node of the list getifaddrs returned, valid until freeifaddrs.
        let entry = unsafe { &*cursor };
        if !entry.ifa_addr.is_null() {
            // SAFETY: ifa_addr points to a sockaddr; its family field is valid for every family.
            let family = i32::from(unsafe { (*entry.ifa_addr).sa_family });
            if family == libc::AF_INET {
                // SAFETY: the family says the sockaddr is a sockaddr_in.
                let sin = unsafe { &*(entry.ifa_addr as *const libc::sockaddr_in) };
                out.push(IpAddr::V4(Ipv4Addr::from(u32::from_be(sin.sin_addr.s_addr))));
            } else if family == libc::AF_INET6 {
                // SAFETY: the family says the sockaddr is a sockaddr_in6.
                let sin6 = unsafe { &*(entry.ifa_addr as *const libc::sockaddr_in6) };
                out.push(IpAddr::V6(Ipv6Addr::from(sin6.sin6_addr.s6_addr)));
            }
        }
        cursor = entry.ifa_next;
    }
    // SAFETY: `head` came from a successful getifaddrs and is freed once.
    unsafe { libc::freeifaddrs(head) };
    out
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_budget_is_shared_and_never_overdrawn() {
        let budget = super::Budget::default();
        assert_eq!(budget.take(10), 10);
        assert_eq!(budget.take(super::MAX_FORWARDS), super::MAX_FORWARDS - 10);
        assert_eq!(budget.take(1), 0);
    }

    #[test]
    fn loopback_is_an_address_here() {
        let addresses = super::addresses();
        assert!(
            addresses.iter().any(|a| a.is_loopback()) || addresses.is_empty(),
            "{addresses:?}"
        );
    }
}
