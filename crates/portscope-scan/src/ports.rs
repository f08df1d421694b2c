//! Port specifications in nmap's syntax (`22,80,1000-2000`, `-`, `-1024`, `60000-`, `T:`/`U:`
//! prefixes) and the ordered `--top-ports` list.
//!
//! A spec parses into a [`PortSet`]: a 65536-bit map per protocol, so a `-p-` costs 16 KiB and
//! duplicates and overlaps collapse for free. Parsing takes text and returns a value or a
//! [`SpecError`]; it never reads files.

use super::SpecError;

/// The ports of one protocol, as a bitmap indexed by port number.
#[derive(Clone, PartialEq, Eq)]
pub struct PortBits {
    words: Box<[u64; 1024]>,
}

impl std::fmt::Debug for PortBits {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "PortBits({})", ranges_label(&self.to_vec()))
    }
}

impl Default for PortBits {
    fn default() -> PortBits {
        PortBits {
            words: Box::new([0; 1024]),
        }
    }
}

impl PortBits {
    pub fn insert(&mut self, port: u16) {
        self.words[usize::from(port / 64)] |= 1 << (port % 64);
    }

    pub fn remove(&mut self, port: u16) {
        self.words[usize::from(port / 64)] &= !(1 << (port % 64));
    }

    pub fn contains(&self, port: u16) -> bool {
        self.words[usize::from(port / 64)] & (1 << (port % 64)) != 0
    }

    pub fn len(&self) -> usize {
        self.words.iter().map(|w| w.count_ones() as usize).sum()
    }

    pub fn is_empty(&self) -> bool {
        self.words.iter().all(|w| *w == 0)
    }

    /// The ports in ascending order.
    pub fn to_vec(&self) -> Vec<u16> {
        (0..=u16::MAX).filter(|p| self.contains(*p)).collect()
    }
}

/// The ports a spec names, per protocol.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct PortSet {
    pub tcp: PortBits,
    pub udp: PortBits,
}

/// Which protocol the items of a spec apply to: nmap's `T:`/`U:` prefixes switch it for every
/// item that follows; without a prefix, ports are TCP (the only protocol `scan` probes).
#[derive(Clone, Copy, PartialEq, Eq)]
enum Proto {
    Tcp,
    Udp,
}

/// The highest port a spec may name.
const MAX_PORT: u16 = u16::MAX;

/// Parses an nmap-style port spec. Port 0 can be named only explicitly (nmap does the same);
/// open-ended ranges start at 1.
pub fn parse_ports(spec: &str) -> Result<PortSet, SpecError> {
    parse_ports_as(spec, false)
}

/// [`parse_ports`], with unprefixed items taken as UDP when `udp` is set (a UDP-only scan, as
/// nmap reads `-sU -p 53`).
pub fn parse_ports_as(spec: &str, udp: bool) -> Result<PortSet, SpecError> {
    let mut set = PortSet::default();
    let mut proto = if udp { Proto::Udp } else { Proto::Tcp };
    if spec.trim().is_empty() {
        return Err(SpecError::new("empty port list"));
    }
    for raw in spec.split(',') {
        let mut item = raw.trim();
        if let Some((prefix, rest)) = item.split_once(':') {
            proto = match prefix {
                "T" | "t" => Proto::Tcp,
                "U" | "u" => Proto::Udp,
                _ => {
                    return Err(SpecError::new(format!(
                        "bad protocol prefix {prefix:?} in port list (use T: or U:)"
                    )));
                }
            };
            item = rest.trim();
        }
        let (low, high) = parse_item(item)?;
        let bits = match proto {
            Proto::Tcp => &mut set.tcp,
            Proto::Udp => &mut set.udp,
        };
        for port in low..=high {
            bits.insert(port);
        }
    }
    Ok(set)
}

/// One item: `N`, `N-M`, `-M`, `N-` or `-`.
fn parse_item(item: &str) -> Result<(u16, u16), SpecError> {
    if item.is_empty() {
        return Err(SpecError::new("empty item in port list"));
    }
    let (low, high) = match item.split_once('-') {
        None => {
            let port = parse_port(item)?;
            (port, port)
        }
        Some((a, b)) => {
            let low = if a.is_empty() { 1 } else { parse_port(a)? };
            let high = if b.is_empty() { MAX_PORT } else { parse_port(b)? };
            (low, high)
        }
    };
    if low > high {
        return Err(SpecError::new(format!(
            "backwards port range {item:?} ({low} > {high})"
        )));
    }
    Ok((low, high))
}

fn parse_port(text: &str) -> Result<u16, SpecError> {
    if text.is_empty() || !text.bytes().all(|b| b.is_ascii_digit()) {
        return Err(SpecError::new(format!(
            "bad port {text:?} (expected a number 0-65535)"
        )));
    }
    text.parse::<u16>()
        .map_err(|_| SpecError::new(format!("port {text} is out of range (0-65535)")))
}

/// Our ordered list of commonly open TCP ports, most common first (see `top_ports.txt`).
const TOP_PORTS: &str = include_str!("top_ports.txt");

/// Parses the top-ports data: one port per line, `#` starts a comment, blank lines skipped.
pub fn parse_top_ports(text: &str) -> Result<Vec<u16>, SpecError> {
    let mut ports = Vec::new();
    let mut seen = PortBits::default();
    for line in text.lines() {
        let line = line.split('#').next().unwrap_or_default().trim();
        if line.is_empty() {
            continue;
        }
        let port = parse_port(line)?;
        if !seen.contains(port) {
            seen.insert(port);
            ports.push(port);
        }
    }
    Ok(ports)
}

/// The `n` most commonly open TCP ports. Past the end of our list, the remaining ports follow in
/// ascending order, so `--top-ports 65535` is every port.
pub fn top_ports(n: usize) -> Result<PortBits, SpecError> {
    if n == 0 || n > usize::from(MAX_PORT) {
        return Err(SpecError::new(format!("--top-ports must be 1-65535, not {n}")));
    }
    let listed = parse_top_ports(TOP_PORTS)?;
    let mut bits = PortBits::default();
    let rest = (1..=MAX_PORT).filter(|p| !listed.contains(p));
    for port in listed.iter().copied().chain(rest).take(n) {
        bits.insert(port);
    }
    Ok(bits)
}

/// Our ordered list of commonly open UDP ports (see `udp_top_ports.txt`).
const UDP_TOP_PORTS: &str = include_str!("udp_top_ports.txt");

/// The `n` most commonly open UDP ports, continued in ascending order past our list.
pub fn udp_top_ports(n: usize) -> Result<PortBits, SpecError> {
    if n == 0 || n > usize::from(MAX_PORT) {
        return Err(SpecError::new(format!("--top-ports must be 1-65535, not {n}")));
    }
    let listed = parse_top_ports(UDP_TOP_PORTS)?;
    let mut bits = PortBits::default();
    let rest = (1..=MAX_PORT).filter(|p| !listed.contains(p));
    for port in listed.iter().copied().chain(rest).take(n) {
        bits.insert(port);
    }
    Ok(bits)
}

/// Compact label for a sorted port list: `1-1024,3306,8080-8090`.
pub fn ranges_label(ports: &[u16]) -> String {
    let mut parts = Vec::new();
    let mut i = 0;
    while i < ports.len() {
        let start = ports[i];
        let mut end = start;
        while i + 1 < ports.len() && ports[i + 1] == end.wrapping_add(1) && end != u16::MAX {
            i += 1;
            end = ports[i];
        }
        parts.push(if start == end {
            start.to_string()
        } else {
            format!("{start}-{end}")
        });
        i += 1;
    }
    parts.join(",")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tcp(spec: &str) -> Vec<u16> {
        parse_ports(spec).unwrap().tcp.to_vec()
    }

    #[test]
    fn nmap_forms() {
        assert_eq!(tcp("22"), vec![22]);
        assert_eq!(tcp("22,80,443"), vec![22, 80, 443]);
        assert_eq!(tcp("80,22,80"), vec![22, 80]);
        assert_eq!(tcp("1000-1003"), vec![1000, 1001, 1002, 1003]);
        assert_eq!(tcp("-3"), vec![1, 2, 3]);
        assert_eq!(tcp("65534-"), vec![65534, 65535]);
        assert_eq!(tcp("-").len(), 65535);
        assert_eq!(tcp("0"), vec![0]);
        assert_eq!(tcp(" 22 , 80 "), vec![22, 80]);
    }

    #[test]
    fn protocol_prefixes() {
        let set = parse_ports("T:22,80,U:53,161,T:443").unwrap();
        assert_eq!(set.tcp.to_vec(), vec![22, 80, 443]);
        assert_eq!(set.udp.to_vec(), vec![53, 161]);
        assert!(parse_ports("U:53").unwrap().tcp.is_empty());
    }

    #[test]
    fn bad_forms() {
        for bad in [
            "",
            " ",
            ",",
            "22,",
            ",22",
            "x",
            "22x",
            "65536",
            "99999999999",
            "10-5",
            "1--2",
            "S:22",
            "T:",
            "22-80-90",
            "+5",
            "-5-",
            "1 2",
            "T:U:1",
            "٣",
        ] {
            assert!(parse_ports(bad).is_err(), "{bad:?} should be rejected");
        }
    }

    #[test]
    fn top_ports_list_is_valid_and_ordered_by_us() {
        let listed = parse_top_ports(TOP_PORTS).unwrap();
        assert!(listed.len() >= 100);
        assert_eq!(&listed[..3], &[80, 443, 22]);
        assert_eq!(top_ports(3).unwrap().to_vec(), vec![22, 80, 443]);
        assert_eq!(top_ports(65535).unwrap().len(), 65535);
        assert!(top_ports(0).is_err());
        let udp = parse_top_ports(UDP_TOP_PORTS).unwrap();
        assert!(udp.len() >= 100);
        assert_eq!(&udp[..3], &[53, 123, 161]);
        assert_eq!(udp_top_ports(65535).unwrap().len(), 65535);
        assert_eq!(parse_ports_as("53,T:80", true).unwrap().udp.to_vec(), vec![53]);
        assert!(top_ports(65536).is_err());
    }

    #[test]
    fn labels() {
        assert_eq!(ranges_label(&[1, 2, 3, 5, 7, 8]), "1-3,5,7-8");
        assert_eq!(ranges_label(&[65534, 65535]), "65534-65535");
        assert_eq!(ranges_label(&[]), "");
    }
}
