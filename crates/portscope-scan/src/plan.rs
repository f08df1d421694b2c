//! What a scan will probe, decided before the first packet: the ports, the hosts (names resolved),
//! the size check that refuses an enormous scan without `--force`; and [`Tally`], which turns the
//! engine's stream of outcomes into per-host results without holding every closed port.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::net::IpAddr;

use crate::report::{AnswersEverything, HostResult, Outcome, PortResult, PortState, Reason, ScanProto};
use portscope_core::error::{Error, Result};
use portscope_core::knowledge::ServiceNames;
use portscope_core::model::Protocol;

use crate::ports::{self, PortBits};
use crate::targets::{self, Target};

/// Above this many probes a scan needs `--force`.
pub const MAX_PROBES: u128 = 1 << 24;

/// A state with more ports than this on one host is summarised, not listed (nmap's rule too).
pub const LIST_LIMIT: usize = 25;

/// A host that claims at least this share of at least [`LIES_MIN_PORTS`] probed ports is open is
/// not believed port by port: no real host listens on 90% of its ports; a middlebox, a tarpit or a
/// REDIRECT rule answers for all of them.
pub const LIES_SHARE: f64 = 0.9;
pub const LIES_MIN_PORTS: usize = 100;

/// What the user asked for, as text, before anything is parsed.
#[derive(Clone, Debug, Default)]
pub struct Request<'a> {
    pub targets: &'a [String],
    /// The text of a target list (`-iL`), with the name to blame in errors.
    pub target_list: Option<(&'a str, String)>,
    pub exclude: Option<&'a str>,
    pub ports: Option<&'a str>,
    pub top_ports: Option<usize>,
    pub exclude_ports: Option<&'a str>,
    pub force: bool,
    /// The text of an installed nmap-services file, whose open frequencies order `--top-ports`
    /// and the default scan; `None` keeps the built-in order.
    pub nmap_services: Option<&'a str>,
    /// Which protocols to probe: TCP unless only UDP was asked for (`-sU` alone).
    pub protocols: Protocols,
}

/// The protocols a scan probes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Protocols {
    pub tcp: bool,
    pub udp: bool,
}

impl Default for Protocols {
    fn default() -> Protocols {
        Protocols {
            tcp: true,
            udp: false,
        }
    }
}

/// A resolver: names in, each name's addresses out (or one error for the whole list).
pub type Resolver<'r> = &'r dyn Fn(&[String]) -> Result<Vec<Vec<IpAddr>>>;

/// What to scan, fully parsed and resolved.
#[derive(Clone, Debug)]
pub struct Plan {
    targets: Vec<Target>,
    excludes: Vec<Target>,
    /// The TCP ports (empty in a UDP-only scan).
    pub ports: Vec<u16>,
    /// The UDP ports (empty unless `-sU`).
    pub udp_ports: Vec<u16>,
    pub total_probes: u64,
    /// The name each resolved address was given as.
    pub names: HashMap<IpAddr, String>,
    /// What the user should know about how the request was read.
    pub notes: Vec<String>,
}

impl Plan {
    /// Parses `request`, refuses a scan above [`MAX_PROBES`] unless forced (before any name is
    /// resolved), then resolves names with `resolve`.
    pub fn new(request: &Request, resolve: Resolver) -> Result<Plan> {
        let mut notes = Vec::new();
        let (tcp, udp) = port_selection(request, &mut notes)?;
        let (ports, udp_ports) = (tcp.to_vec(), udp.to_vec());
        if ports.is_empty() && udp_ports.is_empty() {
            return Err(Error::Usage("no ports left to scan".into()));
        }
        let mut targets = request
            .targets
            .iter()
            .map(|t| targets::parse_target(t))
            .collect::<Result<Vec<_>, _>>()?;
        if let Some((text, name)) = &request.target_list {
            targets
                .extend(targets::parse_target_list(text).map_err(|e| Error::Usage(format!("{name}: {e}")))?);
        }
        if targets.is_empty() {
            return Err(Error::Usage(
                "no targets given (e.g. portscope scan 198.18.0.2)".into(),
            ));
        }
        let mut excludes = Vec::new();
        for text in request
            .exclude
            .unwrap_or_default()
            .split(',')
            .filter(|t| !t.trim().is_empty())
        {
            excludes.push(targets::parse_target(text)?);
        }
        let hosts: u128 = targets
            .iter()
            .map(Target::count)
            .fold(0u128, u128::saturating_add);
        let probes = hosts.saturating_mul((ports.len() + udp_ports.len()) as u128);
        if probes > MAX_PROBES && !request.force {
            // u128 holds 2^128 - 1 at most: an IPv6 /0 saturates, and is said as what it is.
            let amount = |n: u128| {
                if n == u128::MAX {
                    "2^128 or more".to_string()
                } else {
                    n.to_string()
                }
            };
            return Err(Error::Refused(format!(
                "this scan is {} probes ({} hosts x {} ports), more than 2^24; narrow it or \
                 pass --force",
                amount(probes),
                amount(hosts),
                ports.len() + udp_ports.len()
            )));
        }
        let mut names = HashMap::new();
        // Names given on the command line must all resolve (a typo there is a mistake to stop
        // at); names in a target list are many, and one that does not resolve is skipped with
        // a note rather than costing the whole list.
        let mut listed = targets.split_off(request.targets.len());
        resolve_names(&mut targets, &mut names, Some(&mut notes), resolve)?;
        if resolve_names(&mut listed, &mut names, Some(&mut notes), resolve).is_err() {
            for target in listed.iter_mut() {
                let Target::Name(name) = target else { continue };
                let mut one = [Target::Name(name.clone())];
                match resolve_names(&mut one, &mut names, Some(&mut notes), resolve) {
                    Ok(()) => *target = one[0].clone(),
                    Err(e) => notes.push(format!("skipping {e}")),
                }
            }
            listed.retain(|t| !matches!(t, Target::Name(_)));
        }
        targets.extend(listed);
        if targets.is_empty() {
            return Err(Error::Usage("no target in the list could be resolved".into()));
        }
        resolve_names(&mut excludes, &mut HashMap::new(), None, resolve)?;
        Ok(Plan {
            targets,
            excludes,
            ports,
            udp_ports,
            total_probes: u64::try_from(probes).unwrap_or(u64::MAX),
            names,
            notes,
        })
    }

    /// Every address to scan, lazily, without the excluded ones and without repeats.
    ///
    /// Duplicates are dropped without remembering every address: an address of a range target
    /// is a repeat when an earlier range target contains it or an earlier single address was it;
    /// only the single addresses (a list's worth) are kept in a set, so a /8 costs nothing.
    /// `1-1024`, or `T:22,80,U:53,161` when both protocols are scanned.
    pub fn ports_label(&self) -> String {
        match (self.ports.is_empty(), self.udp_ports.is_empty()) {
            (_, true) => ports::ranges_label(&self.ports),
            (true, false) => ports::ranges_label(&self.udp_ports),
            (false, false) => format!(
                "T:{},U:{}",
                ports::ranges_label(&self.ports),
                ports::ranges_label(&self.udp_ports)
            ),
        }
    }

    /// Whether `addr` over `proto` is one of this scan's probes (its host a target, not excluded,
    /// its port one of the protocol's ports). A resume file's lines are checked against it.
    pub fn covers(&self, addr: std::net::SocketAddr, proto: ScanProto) -> bool {
        let ports = match proto {
            ScanProto::Tcp => &self.ports,
            ScanProto::Udp => &self.udp_ports,
        };
        let ip = addr.ip();
        ports.binary_search(&addr.port()).is_ok()
            && self.targets.iter().any(|t| t.contains(ip))
            && !self.excludes.iter().any(|e| e.contains(ip))
    }

    /// A fingerprint of what this scan probes (targets, exclusions, ports of each protocol): a
    /// resume file carries it, so a file written by another scan is refused rather than mixed in.
    pub fn fingerprint(&self) -> String {
        use std::hash::Hasher;
        let mut h = siphasher::sip::SipHasher24::new_with_key(&[0; 16]);
        // Debug forms are canonical here: parsed, typed values, not the user's spelling.
        h.write(
            format!(
                "{:?}|{:?}|{:?}|{:?}",
                self.targets, self.excludes, self.ports, self.udp_ports
            )
            .as_bytes(),
        );
        format!("{:016x}", h.finish())
    }

    pub fn hosts(&self) -> impl Iterator<Item = IpAddr> + '_ {
        let mut singles = HashSet::new();
        let targets = &self.targets;
        targets
            .iter()
            .enumerate()
            .flat_map(|(i, target)| target.addresses().map(move |ip| (i, ip)))
            .filter(|(_, ip)| !self.excludes.iter().any(|e| e.contains(*ip)))
            .filter(move |&(i, ip)| {
                let in_earlier_range = targets[..i]
                    .iter()
                    .any(|t| matches!(t, Target::Net(_) | Target::Octets(_)) && t.contains(ip));
                if in_earlier_range {
                    return false;
                }
                if matches!(targets[i], Target::Addr(_)) {
                    singles.insert(ip)
                } else {
                    !singles.contains(&ip)
                }
            })
            .map(|(_, ip)| ip)
    }
}

/// The TCP and UDP ports to scan: --ports, --top-ports or the default (the 1000 most often open
/// of each protocol asked for, and for TCP every port of the abuse table), minus --exclude-ports.
fn port_selection(request: &Request, notes: &mut Vec<String>) -> Result<(PortBits, PortBits)> {
    let want = request.protocols;
    let (mut tcp, mut udp) = match (request.ports, request.top_ports) {
        (Some(spec), _) => {
            let udp_only = want.udp && !want.tcp;
            let mut set = ports::parse_ports_as(spec, udp_only)?;
            if want.tcp && want.udp && !spec.contains(':') {
                // `-sS -sU -p 53`: unprefixed ports are both, as in nmap.
                set.udp = set.tcp.clone();
            }
            if !want.udp && !set.udp.is_empty() {
                if set.tcp.is_empty() {
                    return Err(Error::Usage(
                        "only UDP ports (U:) given: add -sU to scan them".into(),
                    ));
                }
                notes.push("UDP ports (U:) are not scanned without -sU".into());
            }
            if !want.tcp && !set.tcp.is_empty() {
                notes.push("TCP ports (T:) are not scanned with -sU alone; add -sS or -sT".into());
            }
            (set.tcp, set.udp)
        }
        (None, n) => {
            let order = match request.nmap_services {
                Some(text) => ports::PortOrder::from_nmap_services(text)?,
                None => ports::PortOrder::builtin()?,
            };
            match n {
                Some(n) => (order.top_tcp(n)?, order.top_udp(n)?),
                None => (order.default_tcp()?, order.top_udp(ports::DEFAULT_TOP)?),
            }
        }
    };
    if !want.tcp {
        tcp = PortBits::default();
    }
    if !want.udp {
        udp = PortBits::default();
    }
    if let Some(spec) = request.exclude_ports {
        let exclude = ports::parse_ports_as(spec, want.udp && !want.tcp)?;
        for port in exclude.tcp.to_vec() {
            tcp.remove(port);
        }
        for port in exclude.udp.to_vec() {
            udp.remove(port);
        }
    }
    Ok((tcp, udp))
}

/// Replaces each host name by its address (IPv4 first, as nmap does), noting the name.
fn resolve_names(
    targets: &mut [Target],
    names: &mut HashMap<IpAddr, String>,
    mut notes: Option<&mut Vec<String>>,
    resolve: Resolver,
) -> Result<()> {
    let wanted: Vec<String> = targets
        .iter()
        .filter_map(|t| match t {
            Target::Name(n) => Some(n.clone()),
            _ => None,
        })
        .collect();
    if wanted.is_empty() {
        return Ok(());
    }
    let resolved = resolve(&wanted)?;
    let mut resolved = wanted.into_iter().zip(resolved);
    for target in targets.iter_mut() {
        if !matches!(target, Target::Name(_)) {
            continue;
        }
        let Some((name, addrs)) = resolved.next() else {
            break;
        };
        let chosen = addrs.iter().find(|a| a.is_ipv4()).or(addrs.first()).copied();
        let Some(ip) = chosen else { continue };
        if let Some(notes) = notes.as_deref_mut()
            && addrs.len() > 1
        {
            notes.push(format!("{name} has {} addresses; scanning {ip}", addrs.len()));
        }
        names.insert(ip, name);
        *target = Target::Addr(ip);
    }
    Ok(())
}

/// Every host's results as they come in, holding state only for hosts that answered. A host
/// whose probes so far all went unanswered waits in a small buffer until its last port settles;
/// then it is only counted. Probes go out host by host, so the buffer holds the few hosts in
/// flight, and a /8 where nothing answers costs a counter, not 2^24 entries.
#[derive(Debug)]
pub struct Tallies {
    answered: HashMap<IpAddr, Tally>,
    quiet: HashMap<IpAddr, Vec<(u16, ScanProto, Outcome)>>,
    silent: u64,
    ports_per_host: usize,
    keep_all: bool,
}

impl Tallies {
    /// `keep_all` (`--all`) keeps every host, answered or not, with every port.
    pub fn new(ports_per_host: usize, keep_all: bool) -> Tallies {
        Tallies {
            answered: HashMap::new(),
            quiet: HashMap::new(),
            silent: 0,
            ports_per_host: ports_per_host.max(1),
            keep_all,
        }
    }

    /// Records a TCP port's outcome.
    pub fn record(&mut self, addr: std::net::SocketAddr, outcome: Outcome) {
        self.record_proto(addr, ScanProto::Tcp, outcome);
    }

    /// Records a port's outcome. With TCP and UDP in one scan, `new`'s `ports_per_host` is the
    /// sum of both.
    pub fn record_proto(&mut self, addr: std::net::SocketAddr, proto: ScanProto, outcome: Outcome) {
        let ip = addr.ip();
        if let Some(tally) = self.answered.get_mut(&ip) {
            tally.record_proto(addr.port(), proto, outcome, self.keep_all);
            return;
        }
        let unanswered = outcome.reason == Reason::NoResponse;
        if unanswered && !self.keep_all {
            let seen = self.quiet.entry(ip).or_default();
            seen.push((addr.port(), proto, outcome));
            if seen.len() >= self.ports_per_host {
                self.quiet.remove(&ip);
                self.silent += 1;
            }
            return;
        }
        let mut tally = Tally::default();
        for (port, p, earlier) in self.quiet.remove(&ip).unwrap_or_default() {
            tally.record_proto(port, p, earlier, self.keep_all);
        }
        tally.record_proto(addr.port(), proto, outcome, self.keep_all);
        self.answered.insert(ip, tally);
    }

    /// The hosts that answered (sorted by address) and how many did not.
    pub fn finish(
        mut self,
        names: &HashMap<IpAddr, String>,
        services: &ServiceNames,
    ) -> (Vec<HostResult>, u64) {
        // A host still waiting here had fewer outcomes than ports (never, unless the engine
        // stopped early): it is silent all the same.
        self.silent += self.quiet.len() as u64;
        let keep_all = self.keep_all;
        let mut hosts: Vec<HostResult> = self
            .answered
            .into_iter()
            .map(|(ip, tally)| tally.finish(ip, names.get(&ip).cloned(), keep_all, services))
            .collect();
        hosts.sort_by_key(|h| h.address);
        (hosts, self.silent)
    }
}

/// A port kept for listing: number, protocol, reason.
type Listed = (u16, ScanProto, Reason);

/// A host's results as they come in: open ports always, closed and filtered ones listed while
/// few and counted always.
#[derive(Debug, Default)]
pub struct Tally {
    open: Vec<Listed>,
    /// Per state: how many, and the ones listed.
    other: BTreeMap<PortState, (usize, Vec<Listed>)>,
    reasons: BTreeMap<(PortState, Reason), usize>,
    probed: usize,
}

impl Tally {
    /// Records a TCP port's outcome.
    pub fn record(&mut self, port: u16, outcome: Outcome, keep_all: bool) {
        self.record_proto(port, ScanProto::Tcp, outcome, keep_all);
    }

    pub fn record_proto(&mut self, port: u16, proto: ScanProto, outcome: Outcome, keep_all: bool) {
        self.probed += 1;
        if outcome.state == PortState::Open {
            self.open.push((port, proto, outcome.reason));
            return;
        }
        let entry = self.other.entry(outcome.state).or_default();
        entry.0 += 1;
        if keep_all || entry.1.len() <= LIST_LIMIT {
            entry.1.push((port, proto, outcome.reason));
        }
        *self.reasons.entry((outcome.state, outcome.reason)).or_default() += 1;
    }

    /// The host's result, ports named as `names` names them.
    pub fn finish(
        self,
        ip: IpAddr,
        name: Option<String>,
        keep_all: bool,
        names: &ServiceNames,
    ) -> HostResult {
        let mut host = HostResult {
            address: Some(ip),
            name,
            open: self.open.len(),
            ..HostResult::default()
        };
        let entry = |port: u16, proto: ScanProto, state: PortState, reason: Reason| PortResult {
            port,
            protocol: proto.as_str(),
            state,
            reason,
            service: names
                .name(
                    port,
                    match proto {
                        ScanProto::Tcp => Protocol::Tcp,
                        ScanProto::Udp => Protocol::Udp,
                    },
                )
                .map(str::to_string),
            banner: None,
        };
        let lies = self.probed >= LIES_MIN_PORTS && self.open.len() as f64 >= LIES_SHARE * self.probed as f64;
        if lies {
            // Listing them would bury the one line that matters under thousands of false ports.
            host.answers_everything = Some(AnswersEverything {
                open: self.open.len(),
                probed: self.probed,
            });
            for (_, _, reason) in &self.open {
                *host.hidden_reasons.entry((PortState::Open, *reason)).or_default() += 1;
            }
        } else {
            host.ports = self
                .open
                .iter()
                .map(|(p, proto, r)| entry(*p, *proto, PortState::Open, *r))
                .collect();
        }
        for (state, (count, listed)) in self.other {
            match state {
                PortState::Closed => host.closed += count,
                _ => host.filtered += count,
            }
            if keep_all || count <= LIST_LIMIT {
                host.ports
                    .extend(listed.iter().map(|(p, proto, r)| entry(*p, *proto, state, *r)));
            } else {
                for ((s, reason), n) in &self.reasons {
                    if *s == state {
                        host.hidden_reasons.insert((*s, *reason), *n);
                    }
                }
            }
        }
        host.ports.sort_by_key(|p| (p.protocol, p.port));
        host
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn no_names(names: &[String]) -> Result<Vec<Vec<IpAddr>>> {
        Err(Error::Usage(format!("unexpected lookup of {names:?}")))
    }

    fn request<'a>(targets: &'a [String], ports: &'a str) -> Request<'a> {
        Request {
            targets,
            ports: Some(ports),
            ..Request::default()
        }
    }

    #[test]
    fn hosts_are_expanded_excluded_and_deduplicated() {
        let targets = vec!["198.18.0.1-4".to_string(), "198.18.0.2".to_string()];
        let mut req = request(&targets, "22,80");
        req.exclude = Some("198.18.0.3");
        let plan = Plan::new(&req, &no_names).unwrap();
        let hosts: Vec<String> = plan.hosts().map(|h| h.to_string()).collect();
        assert_eq!(hosts, ["198.18.0.1", "198.18.0.2", "198.18.0.4"]);
        assert_eq!(plan.ports, [22, 80]);
        assert_eq!(plan.total_probes, 10);
        // A resume file's lines are checked against the plan, and tied to it by its fingerprint.
        let at = |s: &str| s.parse::<std::net::SocketAddr>().unwrap();
        assert!(plan.covers(at("198.18.0.4:80"), ScanProto::Tcp));
        assert!(!plan.covers(at("198.18.0.3:80"), ScanProto::Tcp), "excluded");
        assert!(!plan.covers(at("198.18.0.5:80"), ScanProto::Tcp), "not a target");
        assert!(!plan.covers(at("198.18.0.4:443"), ScanProto::Tcp), "not a port");
        assert!(
            !plan.covers(at("198.18.0.4:80"), ScanProto::Udp),
            "not a protocol"
        );
        let other = Plan::new(&request(&targets, "22,81"), &no_names).unwrap();
        assert_ne!(plan.fingerprint(), other.fingerprint());
        assert_eq!(
            plan.fingerprint(),
            Plan::new(&req, &no_names).unwrap().fingerprint()
        );
        // A single address before a range, overlapping octet ranges, a network inside another.
        let targets: Vec<String> = ["198.18.0.6", "198.18.0.5-7,6-8", "198.18.0.4/30", "198.18.0.9"]
            .map(String::from)
            .to_vec();
        let plan = Plan::new(&request(&targets, "22"), &no_names).unwrap();
        let hosts: Vec<String> = plan.hosts().map(|h| h.to_string()).collect();
        assert_eq!(
            hosts,
            [
                "198.18.0.6",
                "198.18.0.5",
                "198.18.0.7",
                "198.18.0.8",
                "198.18.0.4",
                "198.18.0.9"
            ]
        );
    }

    #[test]
    fn enormous_scans_need_force_and_are_refused_before_resolving() {
        let targets = vec!["198.18.0.0/8".to_string(), "some.name".to_string()];
        let req = request(&targets, "1-2");
        assert!(matches!(Plan::new(&req, &no_names), Err(Error::Refused(_))));
        // Exactly 2^24 probes is allowed.
        let one = vec!["198.18.0.0/8".to_string()];
        assert!(Plan::new(&request(&one, "1"), &no_names).is_ok());
    }

    #[test]
    fn names_resolve_ipv4_first_with_a_note() {
        let targets = vec!["lab".to_string()];
        let resolve = |names: &[String]| -> Result<Vec<Vec<IpAddr>>> {
            assert_eq!(names, ["lab"]);
            Ok(vec![vec![
                "fd00::2".parse().unwrap(),
                "198.18.0.2".parse().unwrap(),
            ]])
        };
        let plan = Plan::new(&request(&targets, "80"), &resolve).unwrap();
        assert_eq!(
            plan.hosts().collect::<Vec<_>>(),
            ["198.18.0.2".parse::<IpAddr>().unwrap()]
        );
        assert_eq!(plan.names.values().collect::<Vec<_>>(), ["lab"]);
        assert_eq!(plan.notes, ["lab has 2 addresses; scanning 198.18.0.2"]);
    }

    #[test]
    fn port_choices() {
        let targets = vec!["198.18.0.2".to_string()];
        let mut req = request(&targets, "T:22,U:53");
        let plan = Plan::new(&req, &no_names).unwrap();
        assert_eq!(plan.ports, [22]);
        assert_eq!(plan.notes.len(), 1);
        req.ports = Some("U:53");
        assert!(matches!(Plan::new(&req, &no_names), Err(Error::Usage(_))));
        req.protocols = Protocols {
            tcp: false,
            udp: true,
        };
        let plan = Plan::new(&req, &no_names).unwrap();
        assert_eq!((plan.ports.len(), plan.udp_ports.clone()), (0, vec![53]));
        req.ports = Some("53,161");
        req.protocols = Protocols { tcp: true, udp: true };
        let plan = Plan::new(&req, &no_names).unwrap();
        assert_eq!(
            (plan.ports.clone(), plan.udp_ports.clone()),
            (vec![53, 161], vec![53, 161])
        );
        assert_eq!(plan.total_probes, 4);
        req.protocols = Protocols::default();
        req.ports = Some("80");
        req.exclude_ports = Some("80");
        assert!(matches!(Plan::new(&req, &no_names), Err(Error::Usage(_))));
        let default = Plan::new(
            &Request {
                targets: &targets,
                ..Request::default()
            },
            &no_names,
        )
        .unwrap();
        // nmap's 1000 and the abuse table's TCP ports.
        assert_eq!(
            default.ports.len(),
            ports::PortOrder::builtin().unwrap().default_tcp().unwrap().len()
        );
        assert!(default.ports.len() >= 1000);
        let empty: Vec<String> = Vec::new();
        assert!(matches!(
            Plan::new(&request(&empty, "80"), &no_names),
            Err(Error::Usage(_))
        ));
    }

    #[test]
    fn a_tally_lists_few_and_counts_many() {
        let ip: IpAddr = "198.18.0.2".parse().unwrap();
        let mut tally = Tally::default();
        let closed = Outcome {
            state: PortState::Closed,
            reason: Reason::ConnRefused,
        };
        let open = Outcome {
            state: PortState::Open,
            reason: Reason::SynAck,
        };
        for port in 1..=100 {
            tally.record(port, if port == 22 { open } else { closed }, false);
        }
        let host = tally.finish(ip, None, false, &ServiceNames::iana());
        assert_eq!((host.open, host.closed), (1, 99));
        assert_eq!(host.ports.len(), 1, "99 closed ports are summarised, not listed");
        assert_eq!(host.ports[0].service.as_deref(), Some("ssh"));
        assert_eq!(host.hidden_reasons.values().sum::<usize>(), 99);

        // A host that says every port is open is summarised, not listed.
        let mut liar = Tally::default();
        for port in 1..=200 {
            liar.record(port, open, false);
        }
        let host = liar.finish(ip, None, false, &ServiceNames::iana());
        assert!(host.ports.is_empty());
        assert_eq!(
            host.answers_everything,
            Some(AnswersEverything {
                open: 200,
                probed: 200
            })
        );
        assert_eq!(host.hidden()[0].count, 200);

        let mut few = Tally::default();
        few.record(81, closed, false);
        let host = few.finish(ip, Some("lab".into()), false, &ServiceNames::iana());
        assert_eq!(host.ports.len(), 1);
        assert_eq!(host.name.as_deref(), Some("lab"));
    }
}
