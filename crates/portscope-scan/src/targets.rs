//! Target specifications in nmap's syntax: addresses, CIDR blocks, IPv4 octet ranges
//! (`198.18.0.1-20`, `198.18.0-1.*`, `10.0.0.1,3,5`) and host names.
//!
//! A [`Target`] knows how many addresses it names and yields them lazily, so a /8 never becomes a
//! vector of 16 million addresses. Parsing takes text and returns a value or a [`SpecError`].

use portscope_core::render::token;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use ipnet::IpNet;

use super::SpecError;

/// One target as the user wrote it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Target {
    Addr(IpAddr),
    Net(IpNet),
    /// Per octet, the inclusive ranges it takes.
    Octets(Box<[Vec<(u8, u8)>; 4]>),
    /// A host name, resolved before the scan.
    Name(String),
}

impl Target {
    /// How many addresses this target names (a name counts as one), saturating at `u128::MAX`.
    pub fn count(&self) -> u128 {
        match self {
            Target::Addr(_) | Target::Name(_) => 1,
            Target::Net(net) => {
                let host_bits = u32::from(net.max_prefix_len() - net.prefix_len());
                1u128.checked_shl(host_bits).unwrap_or(u128::MAX)
            }
            Target::Octets(octets) => octets
                .iter()
                .map(|ranges| octet_values(ranges).len() as u128)
                .product(),
        }
    }

    /// True when `ip` is one of this target's addresses (a name matches nothing until resolved).
    pub fn contains(&self, ip: IpAddr) -> bool {
        match (self, ip) {
            (Target::Addr(a), ip) => *a == ip,
            (Target::Net(net), ip) => net.contains(&ip),
            (Target::Octets(octets), IpAddr::V4(v4)) => octets
                .iter()
                .zip(v4.octets())
                .all(|(ranges, o)| ranges.iter().any(|(a, b)| (*a..=*b).contains(&o))),
            _ => false,
        }
    }

    /// The addresses, lazily, in ascending order within each range (a name yields nothing).
    pub fn addresses(&self) -> Box<dyn Iterator<Item = IpAddr> + Send + '_> {
        match self {
            Target::Addr(a) => Box::new(std::iter::once(*a)),
            Target::Name(_) => Box::new(std::iter::empty()),
            Target::Net(IpNet::V4(net)) => {
                let first = u32::from(net.network());
                let last = u32::from(net.broadcast());
                Box::new((first..=last).map(|n| IpAddr::V4(Ipv4Addr::from(n))))
            }
            Target::Net(IpNet::V6(net)) => {
                let first = u128::from(net.network());
                let last = u128::from(net.broadcast());
                Box::new((first..=last).map(|n| IpAddr::V6(Ipv6Addr::from(n))))
            }
            Target::Octets(octets) => {
                let values: Vec<Vec<u8>> = octets.iter().map(|ranges| octet_values(ranges)).collect();
                Box::new(Odometer::new(values))
            }
        }
    }
}

/// The distinct values of one octet's ranges, ascending (`1-5,3-7` is 1 to 7 once each).
fn octet_values(ranges: &[(u8, u8)]) -> Vec<u8> {
    let mut values: Vec<u8> = ranges.iter().flat_map(|(a, b)| *a..=*b).collect();
    values.sort_unstable();
    values.dedup();
    values
}

/// Walks every combination of four octet value lists, last octet fastest.
struct Odometer {
    values: Vec<Vec<u8>>,
    index: [usize; 4],
    done: bool,
}

impl Odometer {
    fn new(values: Vec<Vec<u8>>) -> Odometer {
        let done = values.len() != 4 || values.iter().any(Vec::is_empty);
        Odometer {
            values,
            index: [0; 4],
            done,
        }
    }
}

impl Iterator for Odometer {
    type Item = IpAddr;

    fn next(&mut self) -> Option<IpAddr> {
        if self.done {
            return None;
        }
        let octets: [u8; 4] = std::array::from_fn(|i| self.values[i][self.index[i]]);
        let mut i = 4;
        loop {
            if i == 0 {
                self.done = true;
                break;
            }
            i -= 1;
            self.index[i] += 1;
            if self.index[i] < self.values[i].len() {
                break;
            }
            self.index[i] = 0;
        }
        Some(IpAddr::V4(Ipv4Addr::from(octets)))
    }
}

/// Parses one target as nmap would take it on the command line.
pub fn parse_target(text: &str) -> Result<Target, SpecError> {
    let text = text.trim();
    if text.is_empty() {
        return Err(SpecError::new("empty target"));
    }
    if let Ok(ip) = text.parse::<IpAddr>() {
        return Ok(Target::Addr(ip));
    }
    if let Some((addr, prefix)) = text.split_once('/') {
        let addr: IpAddr = addr.parse().map_err(|_| {
            SpecError::new(format!(
                "bad network {} (expected ADDRESS/PREFIX, e.g. 198.18.0.0/24)",
                token(text)
            ))
        })?;
        let max = if addr.is_ipv4() { 32 } else { 128 };
        let prefix: u8 = match prefix.parse() {
            Ok(p) if p <= max && prefix.bytes().all(|b| b.is_ascii_digit()) => p,
            _ => {
                return Err(SpecError::new(format!(
                    "bad prefix length in {} (0-{max})",
                    token(text)
                )));
            }
        };
        let net = IpNet::new(addr, prefix)
            .map_err(|_| SpecError::new(format!("bad prefix length in {} (0-{max})", token(text))))?;
        return Ok(Target::Net(net.trunc()));
    }
    if text.contains(':') {
        return Err(SpecError::new(format!("bad IPv6 address {}", token(text))));
    }
    if looks_like_ipv4(text) {
        return parse_octets(text).map(|octets| match single_address(&octets) {
            Some(ip) => Target::Addr(ip),
            None => Target::Octets(Box::new(octets)),
        });
    }
    if is_host_name(text) {
        return Ok(Target::Name(text.to_ascii_lowercase()));
    }
    Err(SpecError::new(format!(
        "bad target {} (expected an address, CIDR block, octet range or host name)",
        token(text)
    )))
}

/// Parses a target list (`-iL`): targets separated by white space, `#` starts a comment.
pub fn parse_target_list(text: &str) -> Result<Vec<Target>, SpecError> {
    let mut targets = Vec::new();
    for line in text.lines() {
        let line = line.split('#').next().unwrap_or_default();
        for word in line.split_whitespace() {
            targets.push(parse_target(word)?);
        }
    }
    Ok(targets)
}

/// Four dot-separated fields made only of digits, `-`, `,` and `*`: meant as an IPv4 address or
/// octet range, so a mistake in it is reported as such rather than looked up as a host name.
fn looks_like_ipv4(text: &str) -> bool {
    let fields: Vec<&str> = text.split('.').collect();
    let numeric = text
        .bytes()
        .all(|b| b.is_ascii_digit() || matches!(b, b'.' | b'-' | b',' | b'*'));
    numeric && (fields.len() == 4 || text.bytes().all(|b| b.is_ascii_digit() || b == b'.'))
}

fn parse_octets(text: &str) -> Result<[Vec<(u8, u8)>; 4], SpecError> {
    let fields: Vec<&str> = text.split('.').collect();
    if fields.len() != 4 {
        return Err(SpecError::new(format!(
            "bad IPv4 address {} (expected four octets)",
            token(text)
        )));
    }
    let mut octets: [Vec<(u8, u8)>; 4] = Default::default();
    for (slot, field) in octets.iter_mut().zip(&fields) {
        for item in field.split(',') {
            slot.push(parse_octet_item(item, text)?);
        }
    }
    Ok(octets)
}

fn parse_octet_item(item: &str, whole: &str) -> Result<(u8, u8), SpecError> {
    let octet = |s: &str, default: u8| -> Result<u8, SpecError> {
        if s.is_empty() {
            return Ok(default);
        }
        if !s.bytes().all(|b| b.is_ascii_digit()) {
            return Err(SpecError::new(format!(
                "bad octet {} in {}",
                token(s),
                token(whole)
            )));
        }
        s.parse::<u8>().map_err(|_| {
            SpecError::new(format!(
                "octet {} out of range (0-255) in {}",
                token(s),
                token(whole)
            ))
        })
    };
    if item == "*" {
        return Ok((0, 255));
    }
    if item.is_empty() {
        return Err(SpecError::new(format!("empty octet in {}", token(whole))));
    }
    let (low, high) = match item.split_once('-') {
        None => {
            let v = octet(item, 0)?;
            (v, v)
        }
        Some((a, b)) => (octet(a, 0)?, octet(b, 255)?),
    };
    if low > high {
        return Err(SpecError::new(format!(
            "backwards octet range {} in {}",
            token(item),
            token(whole)
        )));
    }
    Ok((low, high))
}

fn single_address(octets: &[Vec<(u8, u8)>; 4]) -> Option<IpAddr> {
    let mut out = [0u8; 4];
    for (o, ranges) in out.iter_mut().zip(octets) {
        match ranges.as_slice() {
            [(a, b)] if a == b => *o = *a,
            _ => return None,
        }
    }
    Some(IpAddr::V4(Ipv4Addr::from(out)))
}

/// RFC 1123 host name: dot-separated labels of letters, digits and inner hyphens, at most 253
/// bytes; a trailing dot is allowed.
fn is_host_name(text: &str) -> bool {
    let name = text.strip_suffix('.').unwrap_or(text);
    !name.is_empty()
        && name.len() <= 253
        && name.split('.').all(|label| {
            !label.is_empty()
                && label.len() <= 63
                && label.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
                && !label.starts_with('-')
                && !label.ends_with('-')
        })
        && !name
            .rsplit('.')
            .next()
            .is_some_and(|tld| tld.bytes().all(|b| b.is_ascii_digit()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn addrs(spec: &str) -> Vec<String> {
        parse_target(spec)
            .unwrap()
            .addresses()
            .map(|a| a.to_string())
            .collect()
    }

    #[test]
    fn addresses_and_networks() {
        assert_eq!(addrs("198.18.0.1"), vec!["198.18.0.1"]);
        assert_eq!(addrs("fd00::1"), vec!["fd00::1"]);
        assert_eq!(
            addrs("198.18.0.5/30"),
            vec!["198.18.0.4", "198.18.0.5", "198.18.0.6", "198.18.0.7"]
        );
        assert_eq!(addrs("fd00::/127"), vec!["fd00::", "fd00::1"]);
        assert_eq!(parse_target("10.0.0.0/8").unwrap().count(), 1 << 24);
        assert_eq!(parse_target("::/0").unwrap().count(), u128::MAX);
        assert_eq!(parse_target("fd00::/8").unwrap().count(), 1 << 120);
    }

    #[test]
    fn octet_ranges() {
        assert_eq!(
            addrs("198.18.0.1-3"),
            vec!["198.18.0.1", "198.18.0.2", "198.18.0.3"]
        );
        assert_eq!(
            addrs("198.18.0-1.1,9"),
            vec!["198.18.0.1", "198.18.0.9", "198.18.1.1", "198.18.1.9"]
        );
        assert_eq!(parse_target("198.18.*.*").unwrap().count(), 65536);
        assert_eq!(parse_target("198.18.0.250-").unwrap().count(), 6);
        let t = parse_target("198.18.0-1.*").unwrap();
        assert!(t.contains("198.18.1.77".parse().unwrap()));
        assert!(!t.contains("198.18.2.77".parse().unwrap()));
        assert_eq!(t.addresses().count(), 512);
    }

    #[test]
    fn names() {
        assert_eq!(
            parse_target("Example.test").unwrap(),
            Target::Name("example.test".into())
        );
        assert_eq!(
            parse_target("localhost").unwrap(),
            Target::Name("localhost".into())
        );
    }

    #[test]
    fn bad_forms() {
        for bad in [
            "",
            "198.18.0.256",
            "198.18.0",
            "198.18.0.1.2",
            "198.18.0.5-1",
            "198.18.0.1/33",
            "fd00::/129",
            "198.18.0.1/",
            "198.18.0.1/x",
            "/24",
            "198.18.0.1/+8",
            "fd00:::1",
            "fd00::g",
            "host name",
            "-bad.example",
            "bad-.example",
            "a..b",
            "under_score.example",
            "198.18.0.,",
            "198.18.0.1--2",
            "198.18.0.**",
            "1.2.3.4.example/24",
            "ünïcode.example",
        ] {
            assert!(parse_target(bad).is_err(), "{bad:?} should be rejected");
        }
    }

    #[test]
    fn target_list() {
        let list = parse_target_list("# lab\n198.18.0.1 198.18.0.2\n\nfd00::1 # v6\n").unwrap();
        assert_eq!(list.len(), 3);
        assert!(parse_target_list("198.18.0.1\n300.1.1.1\n").is_err());
    }
}
