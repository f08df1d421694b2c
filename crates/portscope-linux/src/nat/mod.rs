//! The DNAT rules and local addresses of the namespace the calling thread is in.
//!
//! Rules come from the kernel through the tools that read it, run inside the namespace (a child
//! inherits the namespace of the thread that starts it): `nft -j list ruleset`, and, when a rule
//! uses iptables' DNAT target, `iptables-nft-save -t nat` and `ip6tables-nft-save -t nat`. A
//! container engine is never asked. Addresses come from getifaddrs, which asks the kernel over a
//! netlink socket of the calling thread's namespace. The parsers of the tools' output are
//! [`parse`].

pub mod parse;

use std::io::Read;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::process::{Command, Stdio};

use parse::NatRule;

/// A ruleset larger than this is cut off (and then fails to parse): never read without bound.
const OUTPUT_LIMIT: u64 = 64 << 20;

/// What one namespace forwards, and the addresses it owns.
#[derive(Clone, Debug, Default)]
pub struct NsRules {
    pub rules: Vec<NatRule>,
    pub addresses: Vec<IpAddr>,
}

/// Where the tools live; PATH is not trusted (portscope often runs as root).
fn tool(name: &str) -> Option<std::path::PathBuf> {
    ["/usr/sbin", "/sbin", "/usr/bin", "/bin"]
        .iter()
        .map(|dir| std::path::Path::new(dir).join(name))
        .find(|path| path.is_file())
}

fn run(name: &str, args: &[&str]) -> Option<Vec<u8>> {
    let mut child = Command::new(tool(name)?)
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .ok()?;
    let mut out = Vec::new();
    let read = child
        .stdout
        .take()
        .map(|stdout| stdout.take(OUTPUT_LIMIT).read_to_end(&mut out));
    let status = child.wait().ok()?;
    (status.success() && matches!(read, Some(Ok(_)))).then_some(out)
}

/// Reads the rules and addresses of the calling thread's namespace. Without nft, or when it
/// fails (no privilege), the namespace has no rules as far as portscope can tell.
pub fn read_here() -> NsRules {
    let mut rules = Vec::new();
    if let Some(json) = run("nft", &["-j", "list", "ruleset"])
        && let Ok(ruleset) = parse::parse_nft_json(&json)
    {
        rules = ruleset.rules;
        if ruleset.has_xt_dnat {
            for (name, family) in [("iptables-nft-save", "ip"), ("ip6tables-nft-save", "ip6")] {
                if let Some(text) = run(name, &["-t", "nat"]) {
                    rules.extend(parse::parse_iptables_save(&text, family));
                }
            }
        }
    }
    NsRules {
        rules,
        addresses: addresses(),
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
    fn loopback_is_an_address_here() {
        let addresses = super::addresses();
        assert!(
            addresses.iter().any(|a| a.is_loopback()) || addresses.is_empty(),
            "{addresses:?}"
        );
    }
}
