//! What a scan found: the state of each port and why, per host, and the run's statistics.

use std::collections::BTreeMap;
use std::net::IpAddr;
use std::time::Duration;

use serde::Serialize;

/// nmap's states: three for TCP, and `open|filtered` for a UDP port that never answered (a
/// silent service and a firewall that drops look the same).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum PortState {
    Open,
    Closed,
    Filtered,
    #[serde(rename = "open|filtered")]
    OpenFiltered,
}

impl PortState {
    pub fn as_str(self) -> &'static str {
        match self {
            PortState::Open => "open",
            PortState::Closed => "closed",
            PortState::Filtered => "filtered",
            PortState::OpenFiltered => "open|filtered",
        }
    }

    /// The state `as_str` names.
    pub fn parse(text: &str) -> Option<PortState> {
        [
            PortState::Open,
            PortState::Closed,
            PortState::Filtered,
            PortState::OpenFiltered,
        ]
        .into_iter()
        .find(|s| s.as_str() == text)
    }
}

/// Why a port got its state; the strings are nmap's `reason` values so its tooling reads them.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Reason {
    /// The handshake completed.
    SynAck,
    /// The host answered with a reset (connect scan).
    ConnRefused,
    /// The host answered a SYN with a reset (SYN scan).
    Reset,
    /// A UDP probe got a UDP answer.
    UdpResponse,
    /// ICMP port unreachable (type 3 code 3; ICMPv6 type 1 code 4).
    PortUnreach,
    /// ICMP protocol unreachable.
    ProtoUnreach,
    /// ICMP host/network prohibited (codes 10 and 9).
    HostProhibited,
    NetProhibited,
    /// The connection came back to its own socket (simultaneous open onto the probe's source
    /// port): nothing listens there, so the port is closed.
    SelfConnect,
    /// No answer after every retry.
    NoResponse,
    HostUnreach,
    NetUnreach,
    AdminProhibited,
}

impl Reason {
    pub fn as_str(self) -> &'static str {
        match self {
            Reason::SynAck => "syn-ack",
            Reason::ConnRefused => "conn-refused",
            Reason::Reset => "reset",
            Reason::UdpResponse => "udp-response",
            Reason::PortUnreach => "port-unreach",
            Reason::ProtoUnreach => "proto-unreach",
            Reason::HostProhibited => "host-prohibited",
            Reason::NetProhibited => "net-prohibited",
            Reason::SelfConnect => "self-connect",
            Reason::NoResponse => "no-response",
            Reason::HostUnreach => "host-unreach",
            Reason::NetUnreach => "net-unreach",
            Reason::AdminProhibited => "admin-prohibited",
        }
    }

    /// The reason `as_str` names.
    pub fn parse(text: &str) -> Option<Reason> {
        [
            Reason::SynAck,
            Reason::ConnRefused,
            Reason::Reset,
            Reason::UdpResponse,
            Reason::PortUnreach,
            Reason::ProtoUnreach,
            Reason::HostProhibited,
            Reason::NetProhibited,
            Reason::SelfConnect,
            Reason::NoResponse,
            Reason::HostUnreach,
            Reason::NetUnreach,
            Reason::AdminProhibited,
        ]
        .into_iter()
        .find(|r| r.as_str() == text)
    }
}

/// The answer to one probe.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Outcome {
    pub state: PortState,
    pub reason: Reason,
}

/// A transport protocol a scan probes.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum ScanProto {
    Tcp,
    Udp,
}

impl ScanProto {
    pub fn as_str(self) -> &'static str {
        match self {
            ScanProto::Tcp => "tcp",
            ScanProto::Udp => "udp",
        }
    }
}

/// One port worth showing.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct PortResult {
    pub port: u16,
    pub protocol: &'static str,
    pub state: PortState,
    pub reason: Reason,
    /// The service name (local names over IANA's), when the port has one.
    pub service: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub banner: Option<String>,
}

/// Everything learned about one host.
#[derive(Clone, Debug, Default, Serialize)]
pub struct HostResult {
    pub address: Option<IpAddr>,
    /// The name the user gave, when the address came from one.
    pub name: Option<String>,
    /// Open ports always; closed and filtered ones only when every port was asked for.
    pub ports: Vec<PortResult>,
    pub open: usize,
    pub closed: usize,
    pub filtered: usize,
    /// Count of each reason among the ports not listed, for nmap's `extrareasons`.
    #[serde(skip)]
    pub hidden_reasons: BTreeMap<(PortState, Reason), usize>,
    /// Set when the host answered nearly every port as open (a middlebox, a tarpit, a REDIRECT
    /// rule): its open ports are then counted, not listed, since they say nothing.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub answers_everything: Option<AnswersEverything>,
}

/// What was seen of a host that claims nearly every port is open.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct AnswersEverything {
    pub open: usize,
    pub probed: usize,
}

impl HostResult {
    /// Up when anything answered, as nmap reports a host after a port scan.
    pub fn is_up(&self) -> bool {
        self.open + self.closed > 0
            || self.answers_everything.is_some()
            || self.ports.iter().any(|p| p.reason != Reason::NoResponse)
            || self.hidden_reasons.keys().any(|(_, r)| *r != Reason::NoResponse)
    }

    /// The ports not listed, per state, for "N closed ports not shown".
    pub fn hidden(&self) -> Vec<HiddenPorts> {
        let mut out: Vec<HiddenPorts> = Vec::new();
        for ((state, reason), count) in &self.hidden_reasons {
            match out.iter_mut().find(|h| h.state == *state) {
                Some(entry) => {
                    entry.count += count;
                    entry.reasons.push((*reason, *count));
                }
                None => out.push(HiddenPorts {
                    state: *state,
                    count: *count,
                    reasons: vec![(*reason, *count)],
                }),
            }
        }
        out
    }
}

/// Ports of one state that a report sums up instead of listing.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct HiddenPorts {
    pub state: PortState,
    pub count: usize,
    /// How many had each reason.
    pub reasons: Vec<(Reason, usize)>,
}

/// Figures about the run itself.
#[derive(Clone, Debug, Default, Serialize)]
pub struct ScanStats {
    pub probes: u64,
    pub retries: u64,
    /// The highest number of connects in flight at once.
    pub peak_in_flight: usize,
    /// Smoothed round-trip time at the end of the scan, in microseconds.
    pub srtt_us: u64,
    pub rttvar_us: u64,
    /// The timeout in force at the end, in microseconds.
    pub timeout_us: u64,
    /// Times a socket could not be created (out of file descriptors or local ports) and the
    /// probe was queued again.
    pub deferred: u64,
    #[serde(serialize_with = "secs")]
    pub elapsed: Duration,
}

fn secs<S: serde::Serializer>(d: &Duration, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_f64((d.as_secs_f64() * 1000.0).round() / 1000.0)
}

/// A whole scan: what was asked and what came back.
#[derive(Clone, Debug, Serialize)]
pub struct ScanReport {
    pub scanner: &'static str,
    pub version: &'static str,
    /// The command line, for the reports that record it (nmap's `args`).
    pub args: String,
    /// Seconds since the Unix epoch at the start.
    pub start: u64,
    pub ports: String,
    pub port_count: usize,
    /// Hosts where at least one probe got an answer (and, with `--all`, every host).
    pub hosts: Vec<HostResult>,
    /// Hosts where no probe got any answer: counted, not listed, so that a /8 where nothing
    /// answers is never held in memory host by host.
    pub silent_hosts: u64,
    pub stats: ScanStats,
    /// What each engine scanned, for nmap's `scaninfo`: type (`syn`, `connect`, `udp`),
    /// protocol, number of ports and their ranges. Empty reads as one connect scan of `ports`.
    #[serde(skip)]
    pub scan_info: Vec<ScanInfo>,
}

/// One engine's part of a scan, as nmap's `scaninfo` element states it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ScanInfo {
    pub kind: &'static str,
    pub protocol: &'static str,
    pub count: usize,
    pub ports: String,
}

impl ScanReport {
    /// Every host scanned, listed or silent.
    pub fn total_hosts(&self) -> u64 {
        self.hosts.len() as u64 + self.silent_hosts
    }

    /// Hosts that answered.
    pub fn hosts_up(&self) -> u64 {
        self.hosts.iter().filter(|h| h.is_up()).count() as u64
    }
}

/// How hard and how patiently to probe.
#[derive(Clone, Debug)]
pub struct EngineConfig {
    /// The most retries of one probe (so at most `max_retries + 1` tries).
    pub max_retries: u32,
    /// The fewest retries of a silent port, whatever the network looks like.
    pub min_retries: u32,
    /// Bounds of the timeout derived from the measured RTT.
    pub min_timeout: Duration,
    pub max_timeout: Duration,
    /// The timeout before any RTT is known.
    pub initial_timeout: Duration,
    /// The most connects in flight at once (also bounded by the file-descriptor limit).
    pub max_parallelism: usize,
    /// The window never shrinks below this.
    pub min_parallelism: usize,
    /// Probes per second, at most.
    pub rate: Option<f64>,
}

impl Default for EngineConfig {
    fn default() -> EngineConfig {
        EngineConfig {
            max_retries: 6,
            min_retries: 1,
            min_timeout: Duration::from_millis(10),
            max_timeout: Duration::from_millis(1000),
            initial_timeout: Duration::from_millis(500),
            max_parallelism: 4096,
            min_parallelism: 16,
            rate: None,
        }
    }
}
