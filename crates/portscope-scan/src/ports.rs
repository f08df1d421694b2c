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

/// The built-in order of TCP ports, most often open first: nmap-services' open frequencies as
/// of nmap 7.93 (see `top_ports.txt` and `tools/gen-top-ports.py`).
const TOP_PORTS: &str = include_str!("top_ports.txt");

/// Our hand-made order of commonly open UDP ports (see `udp_top_ports.txt`).
const UDP_TOP_PORTS: &str = include_str!("udp_top_ports.txt");

/// How many ports of each protocol a scan without `-p` or `--top-ports` takes from the order.
pub const DEFAULT_TOP: usize = 1000;

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

/// The TCP and UDP orders of an nmap-services file (`NAME PORT/PROTO FREQUENCY [# COMMENT]`):
/// ports by their open frequency, highest first, ties in ascending port order, as nmap's own
/// `--top-ports` ranks them. Lines that do not fit are skipped (the file is nmap's, not ours to
/// judge); ports with no frequency are left out.
pub fn parse_nmap_services(text: &str) -> (Vec<u16>, Vec<u16>) {
    let mut tcp: Vec<(u16, f64)> = Vec::new();
    let mut udp: Vec<(u16, f64)> = Vec::new();
    for line in text.lines() {
        let mut fields = line.split('#').next().unwrap_or_default().split_whitespace();
        let (Some(_name), Some(port_proto), Some(freq)) = (fields.next(), fields.next(), fields.next())
        else {
            continue;
        };
        let Some((port, proto)) = port_proto.split_once('/') else {
            continue;
        };
        let (Ok(port), Ok(freq)) = (port.parse::<u16>(), freq.parse::<f64>()) else {
            continue;
        };
        if port == 0 || !freq.is_finite() || freq <= 0.0 {
            continue;
        }
        match proto {
            "tcp" => tcp.push((port, freq)),
            "udp" => udp.push((port, freq)),
            _ => {}
        }
    }
    let rank = |mut rows: Vec<(u16, f64)>| {
        rows.sort_by(|a, b| b.1.total_cmp(&a.1).then(a.0.cmp(&b.0)));
        let mut seen = PortBits::default();
        rows.into_iter()
            .filter_map(|(port, _)| {
                let new = !seen.contains(port);
                seen.insert(port);
                new.then_some(port)
            })
            .collect::<Vec<u16>>()
    };
    (rank(tcp), rank(udp))
}

/// Where `--top-ports` takes its order from.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PortOrder {
    pub tcp: Vec<u16>,
    pub udp: Vec<u16>,
    /// What the order is based on, for the report's notes and docs.
    pub source: &'static str,
}

impl PortOrder {
    /// portscope's own lists.
    pub fn builtin() -> Result<PortOrder, SpecError> {
        Ok(PortOrder {
            tcp: parse_top_ports(TOP_PORTS)?,
            udp: parse_top_ports(UDP_TOP_PORTS)?,
            source: "built in (TCP: nmap-services frequencies of nmap 7.93; UDP: portscope's own list)",
        })
    }

    /// The order of an installed nmap-services file; a protocol the file ranks fewer than
    /// [`DEFAULT_TOP`] ports of keeps the built-in order.
    pub fn from_nmap_services(text: &str) -> Result<PortOrder, SpecError> {
        let builtin = PortOrder::builtin()?;
        let (tcp, udp) = parse_nmap_services(text);
        let usable = |v: &Vec<u16>| v.len() >= DEFAULT_TOP;
        if !usable(&tcp) && !usable(&udp) {
            return Ok(builtin);
        }
        Ok(PortOrder {
            tcp: if usable(&tcp) { tcp } else { builtin.tcp },
            udp: if usable(&udp) { udp } else { builtin.udp },
            source: "nmap-services frequencies",
        })
    }

    /// The `n` most commonly open TCP ports.
    pub fn top_tcp(&self, n: usize) -> Result<PortBits, SpecError> {
        top_of(&self.tcp, n)
    }

    /// The `n` most commonly open UDP ports.
    pub fn top_udp(&self, n: usize) -> Result<PortBits, SpecError> {
        top_of(&self.udp, n)
    }

    /// What a TCP scan without `-p` or `--top-ports` probes: the [`DEFAULT_TOP`] most commonly
    /// open ports and every TCP port of portscope's abuse table (31337, 12345, ...), the ports a
    /// person scanning for trouble looks for whatever their frequency.
    pub fn default_tcp(&self) -> Result<PortBits, SpecError> {
        let mut bits = self.top_tcp(DEFAULT_TOP)?;
        for row in portscope_core::knowledge::abuse::all() {
            if row
                .protocol
                .is_none_or(|p| p == portscope_core::model::Protocol::Tcp)
            {
                bits.insert(row.port);
            }
        }
        Ok(bits)
    }
}

/// The first `n` ports of `listed`; past its end the remaining ports follow in ascending order,
/// so `--top-ports 65535` is every port.
fn top_of(listed: &[u16], n: usize) -> Result<PortBits, SpecError> {
    if n == 0 || n > usize::from(MAX_PORT) {
        return Err(SpecError::new(format!("--top-ports must be 1-65535, not {n}")));
    }
    let mut listed_bits = PortBits::default();
    for port in listed {
        listed_bits.insert(*port);
    }
    let rest = (1..=MAX_PORT).filter(|p| !listed_bits.contains(*p));
    let mut bits = PortBits::default();
    for port in listed.iter().copied().chain(rest).take(n) {
        bits.insert(port);
    }
    Ok(bits)
}

/// The `n` most commonly open TCP ports in the built-in order.
pub fn top_ports(n: usize) -> Result<PortBits, SpecError> {
    PortOrder::builtin()?.top_tcp(n)
}

/// The `n` most commonly open UDP ports in the built-in order.
pub fn udp_top_ports(n: usize) -> Result<PortBits, SpecError> {
    PortOrder::builtin()?.top_udp(n)
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
    fn top_ports_list_is_valid_and_ordered_by_frequency() {
        let listed = parse_top_ports(TOP_PORTS).unwrap();
        assert!(listed.len() >= DEFAULT_TOP);
        assert_eq!(&listed[..3], &[80, 23, 443]);
        // nmap's survey: web, telnet, https.
        assert_eq!(top_ports(3).unwrap().to_vec(), vec![23, 80, 443]);
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
    fn nmap_services_rank_by_frequency_then_port() {
        let text = "# comment\n\
                    http\t80/tcp\t0.484143\t# World Wide Web HTTP\n\
                    telnet\t23/tcp\t0.221265\n\
                    b\t9/tcp\t0.000152\n\
                    a\t7/tcp\t0.000152\n\
                    never\t6/tcp\t0.000000\n\
                    broken line\n\
                    domain\t53/udp\t0.213496\n\
                    x\t99999/tcp\t0.9\n\
                    sctp\t80/sctp\t0.9\n";
        let (tcp, udp) = parse_nmap_services(text);
        assert_eq!(tcp, vec![80, 23, 7, 9]);
        assert_eq!(udp, vec![53]);
        // Too short a file to rank 1000 ports keeps the built-in order.
        assert_eq!(
            PortOrder::from_nmap_services(text).unwrap(),
            PortOrder::builtin().unwrap()
        );
    }

    #[test]
    fn the_default_scan_takes_the_abuse_table_and_the_top_1000() {
        let order = PortOrder::builtin().unwrap();
        let default = order.default_tcp().unwrap();
        for port in [31337, 12345, 12346, 27374, 5555, 8888, 4444, 80, 443] {
            assert!(default.contains(port), "{port}");
        }
        for port in order.top_tcp(DEFAULT_TOP).unwrap().to_vec() {
            assert!(default.contains(port), "{port}");
        }
        for row in portscope_core::knowledge::abuse::all() {
            if row.protocol != Some(portscope_core::model::Protocol::Udp) {
                assert!(default.contains(row.port), "{row:?}");
            }
        }
    }

    /// nmap's own `--top-ports 1000`, derived offline from its services file by the Python
    /// generator (not by the Rust parser under test), is inside the default scan.
    // Runs Debian's python3 on Debian's nmap files: a Linux host's test (under Wine the paths
    // resolve, the program does not).
    #[cfg(target_os = "linux")]
    #[test]
    fn the_default_scan_covers_nmaps_default_scan_when_nmap_is_installed() {
        let path = "/usr/share/nmap/nmap-services";
        let Ok(text) = std::fs::read_to_string(path) else {
            eprintln!("skipping: {path} is not installed (apt-get install nmap)");
            return;
        };
        let root = concat!(env!("CARGO_MANIFEST_DIR"), "/../..");
        let out = std::env::temp_dir().join(format!("portscope-nmap-top-{}.txt", std::process::id()));
        let status = std::process::Command::new("/usr/bin/python3")
            .arg(format!("{root}/tools/gen-top-ports.py"))
            .arg(path)
            .arg("-o")
            .arg(&out)
            .status()
            .expect("python3 runs");
        assert!(status.success());
        let nmap = parse_top_ports(&std::fs::read_to_string(&out).unwrap()).unwrap();
        let _ = std::fs::remove_file(&out);
        assert_eq!(nmap.len(), DEFAULT_TOP);
        let installed = PortOrder::from_nmap_services(&text).unwrap();
        assert_eq!(installed.source, "nmap-services frequencies");
        let top = installed.top_tcp(DEFAULT_TOP).unwrap();
        let installed_default = installed.default_tcp().unwrap();
        let builtin_default = PortOrder::builtin().unwrap().default_tcp().unwrap();
        for port in &nmap {
            assert!(
                top.contains(*port),
                "{port}: --top-ports 1000 differs from nmap's"
            );
            assert!(
                installed_default.contains(*port),
                "{port} not in the default scan"
            );
            assert!(
                builtin_default.contains(*port),
                "{port} not in the built-in default: regenerate top_ports.txt with tools/gen-top-ports.py"
            );
        }
    }

    #[test]
    fn labels() {
        assert_eq!(ranges_label(&[1, 2, 3, 5, 7, 8]), "1-3,5,7-8");
        assert_eq!(ranges_label(&[65534, 65535]), "65534-65535");
        assert_eq!(ranges_label(&[]), "");
    }
}
