//! Inbound probes of closed ports, folded into one alert per burst and source.
//!
//! The kernel refuses a connection to a port nothing listens on: a TCP reset for a SYN, an ICMP
//! port-unreachable for a UDP datagram. One refusal is normal (a client that came too early);
//! many distinct ports refused to one source in a short time is a port scan. [`ScanDetector`]
//! takes the refusals as the platform reports them ([`Refusal`]) and gives one [`ScanAlert`] per
//! burst: a burst ends when the source has been quiet for [`Thresholds::quiet_ms`], or when it has
//! lasted [`Thresholds::max_burst_ms`] (a slow scan then yields one alert per that span).
//!
//! Memory is bounded: at most [`Thresholds::max_sources`] sources are followed at once (a new
//! source beyond that is counted in [`ScanDetector::untracked`], never silently dropped), and each
//! holds one 8 KiB bit set of ports.

use std::collections::HashMap;
use std::net::IpAddr;

use serde::{Deserialize, Serialize};

use crate::model::Protocol;

/// One connection attempt the kernel refused because no socket was there.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Refusal {
    /// Milliseconds since the Unix epoch.
    pub time_ms: i64,
    /// The network namespace the refusal happened in, by inode (0: unknown).
    pub netns: u64,
    pub protocol: Protocol,
    /// Who knocked.
    pub source: IpAddr,
    /// The local address and port knocked on.
    pub address: IpAddr,
    pub port: u16,
}

/// When refusals add up to a scan.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Thresholds {
    /// Distinct ports one source must be refused on, within one burst, to be a scan.
    pub min_ports: u32,
    /// Quiet time that ends a burst.
    pub quiet_ms: i64,
    /// The longest burst; a longer scan gives one alert per span.
    pub max_burst_ms: i64,
    /// Sources followed at once.
    pub max_sources: usize,
}

impl Default for Thresholds {
    fn default() -> Thresholds {
        Thresholds {
            min_ports: 20,
            quiet_ms: 2_000,
            max_burst_ms: 60_000,
            max_sources: 1_024,
        }
    }
}

/// One burst of refused probes from one source: "198.18.40.2 probed 1,000 TCP ports in 2.1 s".
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ScanAlert {
    /// The first and the last refusal of the burst, milliseconds since the Unix epoch.
    pub first_ms: i64,
    pub last_ms: i64,
    pub netns: u64,
    pub source: IpAddr,
    /// Protocols probed, in [`Protocol`] order.
    pub protocols: Vec<Protocol>,
    /// Distinct ports refused.
    pub ports: u32,
    /// Refusals in all (a port probed twice counts twice).
    pub probes: u64,
    pub lowest_port: u16,
    pub highest_port: u16,
}

impl ScanAlert {
    /// `198.18.40.2 probed 1,000 TCP ports (1-2000) in 2.1 s`.
    pub fn line(&self) -> String {
        let protocols: Vec<String> = self
            .protocols
            .iter()
            .map(|p| p.to_string().to_uppercase())
            .collect();
        let seconds = (self.last_ms - self.first_ms).max(0) as f64 / 1000.0;
        format!(
            "{} probed {} {} ports ({}-{}) in {seconds:.1} s",
            self.source,
            thousands(u64::from(self.ports)),
            protocols.join("+"),
            self.lowest_port,
            self.highest_port,
        )
    }
}

fn thousands(n: u64) -> String {
    let digits = n.to_string();
    let mut out = String::with_capacity(digits.len() + digits.len() / 3);
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

/// One source's current burst.
struct Burst {
    first_ms: i64,
    last_ms: i64,
    protocols: Vec<Protocol>,
    seen: Box<[u64; 1024]>,
    ports: u32,
    probes: u64,
    lowest: u16,
    highest: u16,
}

impl Burst {
    fn new(time_ms: i64) -> Burst {
        Burst {
            first_ms: time_ms,
            last_ms: time_ms,
            protocols: Vec::new(),
            seen: Box::new([0; 1024]),
            ports: 0,
            probes: 0,
            lowest: u16::MAX,
            highest: 0,
        }
    }

    fn add(&mut self, refusal: &Refusal) {
        self.last_ms = self.last_ms.max(refusal.time_ms);
        self.probes += 1;
        if !self.protocols.contains(&refusal.protocol) {
            self.protocols.push(refusal.protocol);
            self.protocols.sort();
        }
        let (word, bit) = (usize::from(refusal.port / 64), refusal.port % 64);
        if self.seen[word] & (1 << bit) == 0 {
            self.seen[word] |= 1 << bit;
            self.ports += 1;
            self.lowest = self.lowest.min(refusal.port);
            self.highest = self.highest.max(refusal.port);
        }
    }

    fn alert(&self, key: (u64, IpAddr)) -> ScanAlert {
        ScanAlert {
            first_ms: self.first_ms,
            last_ms: self.last_ms,
            netns: key.0,
            source: key.1,
            protocols: self.protocols.clone(),
            ports: self.ports,
            probes: self.probes,
            lowest_port: self.lowest,
            highest_port: self.highest,
        }
    }
}

/// Folds refusals into scan alerts; see the module documentation.
pub struct ScanDetector {
    thresholds: Thresholds,
    bursts: HashMap<(u64, IpAddr), Burst>,
    untracked: u64,
}

impl ScanDetector {
    pub fn new(thresholds: Thresholds) -> ScanDetector {
        ScanDetector {
            thresholds,
            bursts: HashMap::new(),
            untracked: 0,
        }
    }

    /// Takes one refusal; returns the alert of a burst it ended (same source, after a quiet gap or
    /// past the longest burst), if that burst was a scan.
    pub fn observe(&mut self, refusal: &Refusal) -> Option<ScanAlert> {
        let key = (refusal.netns, refusal.source);
        let t = self.thresholds;
        let mut ended = None;
        if let Some(burst) = self.bursts.get(&key)
            && (refusal.time_ms - burst.last_ms >= t.quiet_ms
                || refusal.time_ms - burst.first_ms >= t.max_burst_ms)
        {
            ended = self.bursts.remove(&key).and_then(|b| self.judge(key, &b));
        }
        if !self.bursts.contains_key(&key) && self.bursts.len() >= t.max_sources {
            self.untracked += 1;
            return ended;
        }
        self.bursts
            .entry(key)
            .or_insert_with(|| Burst::new(refusal.time_ms))
            .add(refusal);
        ended
    }

    /// Ends every burst that has been quiet for `quiet_ms` (or lasted `max_burst_ms`) at `now_ms`;
    /// call it at least every second, so an alert is never later than the quiet time plus that.
    pub fn tick(&mut self, now_ms: i64) -> Vec<ScanAlert> {
        let t = self.thresholds;
        let done: Vec<(u64, IpAddr)> = self
            .bursts
            .iter()
            .filter(|(_, b)| now_ms - b.last_ms >= t.quiet_ms || now_ms - b.first_ms >= t.max_burst_ms)
            .map(|(k, _)| *k)
            .collect();
        let mut alerts: Vec<ScanAlert> = done
            .into_iter()
            .filter_map(|k| {
                let burst = self.bursts.remove(&k)?;
                self.judge(k, &burst)
            })
            .collect();
        alerts.sort_by_key(|a| (a.first_ms, a.source));
        alerts
    }

    /// Every open burst that is already a scan, ended now (at shutdown).
    pub fn flush(&mut self) -> Vec<ScanAlert> {
        self.tick(i64::MAX)
    }

    /// Refusals from sources beyond `max_sources`, not followed.
    pub fn untracked(&self) -> u64 {
        self.untracked
    }

    fn judge(&self, key: (u64, IpAddr), burst: &Burst) -> Option<ScanAlert> {
        (burst.ports >= self.thresholds.min_ports).then(|| burst.alert(key))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn refusal(time_ms: i64, source: &str, port: u16) -> Refusal {
        Refusal {
            time_ms,
            netns: 0,
            protocol: Protocol::Tcp,
            source: source.parse().unwrap(),
            address: "198.18.0.1".parse().unwrap(),
            port,
        }
    }

    #[test]
    fn a_thousand_ports_in_two_seconds_is_one_alert() {
        let mut d = ScanDetector::new(Thresholds::default());
        let alerts: Vec<ScanAlert> = (1..=1000u16)
            .filter_map(|p| d.observe(&refusal(1_000 + i64::from(p) * 2, "198.18.40.2", p)))
            .collect();
        assert!(alerts.is_empty());
        assert!(d.tick(3_500).is_empty(), "not quiet long enough yet");
        let alerts = d.tick(5_000);
        assert_eq!(alerts.len(), 1);
        assert_eq!(
            alerts[0].line(),
            "198.18.40.2 probed 1,000 TCP ports (1-1000) in 2.0 s"
        );
        assert!(d.tick(10_000).is_empty(), "one alert per burst");
    }

    #[test]
    fn a_few_refusals_are_not_a_scan() {
        let mut d = ScanDetector::new(Thresholds::default());
        for p in 0..5 {
            assert!(d.observe(&refusal(p * 100, "198.18.0.2", 7000)).is_none());
        }
        assert!(d.flush().is_empty());
    }

    #[test]
    fn a_new_burst_after_quiet_ends_the_old_one() {
        let mut d = ScanDetector::new(Thresholds::default());
        for p in 1..=30u16 {
            d.observe(&refusal(i64::from(p), "fd00::2", p));
        }
        let ended = d.observe(&refusal(10_000, "fd00::2", 31));
        assert_eq!(ended.map(|a| a.ports), Some(30));
    }

    #[test]
    fn sources_beyond_the_bound_are_counted() {
        let t = Thresholds {
            max_sources: 2,
            ..Thresholds::default()
        };
        let mut d = ScanDetector::new(t);
        for s in ["198.18.0.2", "198.18.0.3", "198.18.0.4"] {
            d.observe(&refusal(0, s, 1));
        }
        assert_eq!(d.untracked(), 1);
    }
}
