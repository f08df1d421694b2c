//! The timing every TCP engine shares: how long to wait for an answer, how many probes may be in
//! flight, and how often a silent port is tried. Pure code (no sockets, no clock of its own): the
//! control loop passes in the time, so the simulated networks of `engine::sim` drive the same
//! code.
//!
//! It follows nmap's congestion control in spirit: a smoothed RTT and its variance give the
//! timeout (RFC 6298); a window of probes in flight grows on every answer (slow start, then
//! congestion avoidance) and halves, at most once per timeout, when a retry is answered — proof
//! that an earlier probe was lost. Silence alone does not shrink the window, so a firewalled host
//! that drops everything does not slow the scan to a crawl. Each retry waits twice as long as the
//! try before it (up to the maximum timeout). A probe is retried only up to one try more than the
//! highest try that ever got an answer (nmap's rule too), so a clean network costs one retry per
//! silent port and a lossy one earns more. Where answers show loss, that rule alone misses an open
//! port now and then (at 10 % loss each way a try goes unanswered one time in five, and six tries
//! miss one port in 20,000), so the share of answers that needed a retry, the measured chance that
//! a try goes unanswered, also sets how many tries make a miss rarer than one in a million. Ports
//! given up on too early are tried again at the end if the limit rose meanwhile, and a host that
//! never answered at all gets every retry (its link may still be resolving).

use std::collections::HashSet;
use std::net::IpAddr;
use std::time::{Duration, Instant};

use crate::report::{EngineConfig, ScanStats};

/// The chance of missing an answering port that the retries aim below, given the measured loss.
const MISS: f64 = 1e-6;

/// Answers that needed a retry before the measured loss counts: one alone may be a fluke.
const LOSS_EVIDENCE: u64 = 2;

/// Smoothed RTT estimate and the timeout derived from it (RFC 6298, as nmap uses it).
#[derive(Clone, Debug)]
pub(crate) struct Rtt {
    pub(crate) srtt: Option<f64>,
    pub(crate) rttvar: f64,
    pub(crate) timeout: Duration,
}

impl Rtt {
    /// The estimate before any answer: the configured initial timeout, within the bounds.
    pub(crate) fn new(cfg: &EngineConfig) -> Rtt {
        Rtt {
            srtt: None,
            rttvar: 0.0,
            timeout: cfg
                .initial_timeout
                .clamp(cfg.min_timeout, cfg.max_timeout.max(cfg.min_timeout)),
        }
    }

    pub(crate) fn sample(&mut self, rtt: Duration, cfg: &EngineConfig) {
        let r = rtt.as_secs_f64();
        match self.srtt {
            None => {
                self.srtt = Some(r);
                self.rttvar = r / 2.0;
            }
            Some(srtt) => {
                self.rttvar = 0.75 * self.rttvar + 0.25 * (srtt - r).abs();
                self.srtt = Some(0.875 * srtt + 0.125 * r);
            }
        }
        let t = self.srtt.unwrap_or(r) + 4.0 * self.rttvar;
        self.timeout = Duration::from_secs_f64(t).clamp(cfg.min_timeout, cfg.max_timeout);
    }
}

/// The window of probes in flight.
#[derive(Clone, Debug)]
pub(crate) struct Window {
    pub(crate) cwnd: f64,
    pub(crate) ssthresh: f64,
    pub(crate) last_decrease: Option<Instant>,
}

impl Window {
    /// The starting window: four times the minimum parallelism, within the cap.
    pub(crate) fn new(cfg: &EngineConfig, cap: usize) -> Window {
        let min_window = cfg.min_parallelism.max(1) as f64;
        Window {
            cwnd: (min_window * 4.0).min(cap as f64).max(1.0),
            ssthresh: cap as f64,
            last_decrease: None,
        }
    }

    pub(crate) fn on_answer(&mut self, max: f64) {
        self.cwnd += if self.cwnd < self.ssthresh {
            1.0
        } else {
            1.0 / self.cwnd
        };
        self.cwnd = self.cwnd.min(max);
    }

    pub(crate) fn on_loss(&mut self, now: Instant, timeout: Duration, min: f64) {
        if self
            .last_decrease
            .is_some_and(|t| now.duration_since(t) < timeout)
        {
            return;
        }
        self.last_decrease = Some(now);
        self.ssthresh = (self.cwnd / 2.0).max(min);
        self.cwnd = self.ssthresh;
    }
}

/// What to do with a try that stayed silent.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Silence {
    /// Try again (the attempt number is the next try's).
    Retry(u32),
    /// Every try was used: report the port as silent now. No later rise of the limit can give it
    /// another, so it is settled at once rather than kept until the end (a /8 where nothing
    /// answers would otherwise keep 2^24 of them).
    Settle,
    /// Out of tries under the limit in force now; look again when all else is done, in case the
    /// limit rose meanwhile.
    Park,
}

/// One engine's timing state: the RTT estimate, the window, and what the retry rule has learnt.
pub(crate) struct Timing<'a> {
    pub(crate) cfg: &'a EngineConfig,
    pub(crate) rtt: Rtt,
    pub(crate) window: Window,
    /// The most probes in flight, whatever the window says.
    pub(crate) cap: usize,
    /// The highest try (0-based) that got an answer.
    max_answered_attempt: u32,
    /// Hosts that have answered at least once. Until a host has, its silence proves nothing about
    /// single ports (its link may still be coming up), so its ports get every retry.
    answered_hosts: HashSet<IpAddr>,
    /// Answers in all, and those that came to a retry (the measured loss is their ratio).
    answers: u64,
    retried_answers: u64,
}

impl<'a> Timing<'a> {
    pub(crate) fn new(cfg: &'a EngineConfig, cap: usize) -> Timing<'a> {
        let cap = cap.max(1);
        Timing {
            cfg,
            rtt: Rtt::new(cfg),
            window: Window::new(cfg, cap),
            cap,
            max_answered_attempt: 0,
            answered_hosts: HashSet::new(),
            answers: 0,
            retried_answers: 0,
        }
    }

    /// How many probes may be in flight now.
    pub(crate) fn limit(&self) -> usize {
        (self.window.cwnd as usize).clamp(1, self.cap)
    }

    /// How long try `attempt` (0 for the first) waits for its answer. Each retry waits twice as
    /// long (up to the maximum), as TCP backs off: a host still resolving its link-layer address,
    /// or a congested path, gets time to answer.
    pub(crate) fn wait(&self, attempt: u32) -> Duration {
        self.rtt
            .timeout
            .saturating_mul(1 << attempt.min(16))
            .min(self.cfg.max_timeout)
            .max(self.rtt.timeout)
    }

    /// A try of a port of `host` got an answer at `now`. `rtt` is the time it took, when that is
    /// known unambiguously (only first tries give a sample, by Karn's rule).
    pub(crate) fn answered(&mut self, host: IpAddr, attempt: u32, rtt: Option<Duration>, now: Instant) {
        self.max_answered_attempt = self.max_answered_attempt.max(attempt);
        self.answered_hosts.insert(host);
        self.answers += 1;
        self.retried_answers += u64::from(attempt > 0);
        if attempt == 0 {
            if let Some(rtt) = rtt {
                self.rtt.sample(rtt, self.cfg);
            }
        } else {
            self.window
                .on_loss(now, self.rtt.timeout, self.cfg.min_parallelism.max(1) as f64);
        }
        self.window.on_answer(self.cap as f64);
    }

    /// Try `attempt` of a port of `host` stayed silent: what next.
    pub(crate) fn silent(&mut self, host: IpAddr, attempt: u32) -> Silence {
        if attempt + 1 < self.allowed_attempts(host) {
            return Silence::Retry(attempt + 1);
        }
        // A port settled or parked as silent is progress too: a firewall that drops everything
        // must not hold the window at its starting size.
        self.window.on_answer(self.cap as f64);
        if attempt >= self.cfg.max_retries {
            Silence::Settle
        } else {
            Silence::Park
        }
    }

    /// Whether a port parked after try `attempt` gets another try now that all else is done.
    pub(crate) fn revisit(&self, host: IpAddr, attempt: u32) -> bool {
        attempt + 1 < self.allowed_attempts(host)
    }

    /// How many tries a silent port of `host` gets now: one more than the highest try ever
    /// answered, or as many as the measured loss needs, within the configured bounds; all of them
    /// while the host has never answered.
    pub(crate) fn allowed_attempts(&self, host: IpAddr) -> u32 {
        if !self.answered_hosts.contains(&host) {
            return self.cfg.max_retries + 1;
        }
        (self.max_answered_attempt + 2)
            .max(self.tries_for_measured_loss())
            .clamp(self.cfg.min_retries + 1, self.cfg.max_retries + 1)
    }

    /// How many tries miss an answering port less often than [`MISS`], when the share of answers
    /// that came to a retry is taken as the chance that one try goes unanswered; 0 without
    /// enough evidence of loss.
    fn tries_for_measured_loss(&self) -> u32 {
        if self.retried_answers < LOSS_EVIDENCE {
            return 0;
        }
        let loss = self.retried_answers as f64 / self.answers as f64;
        if loss >= 1.0 {
            return u32::MAX;
        }
        // loss^n < MISS; the cast saturates, and the caller's bounds apply.
        (MISS.ln() / loss.ln()).ceil() as u32
    }

    /// Writes the estimate the run ended with into `stats`.
    pub(crate) fn record(&self, stats: &mut ScanStats) {
        stats.srtt_us = self.rtt.srtt.map_or(0, |s| (s * 1e6) as u64);
        stats.rttvar_us = (self.rtt.rttvar * 1e6) as u64;
        stats.timeout_us = self.rtt.timeout.as_micros() as u64;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cfg() -> EngineConfig {
        EngineConfig {
            min_timeout: Duration::from_millis(10),
            max_timeout: Duration::from_secs(1),
            initial_timeout: Duration::from_millis(100),
            ..EngineConfig::default()
        }
    }

    #[test]
    fn the_timeout_follows_the_rtt_within_bounds() {
        let cfg = cfg();
        let mut rtt = Rtt::new(&cfg);
        assert_eq!(rtt.timeout, Duration::from_millis(100));
        rtt.sample(Duration::from_millis(20), &cfg);
        // srtt 20 ms + 4 * 10 ms.
        assert_eq!(rtt.timeout, Duration::from_millis(60));
        for _ in 0..50 {
            rtt.sample(Duration::from_micros(100), &cfg);
        }
        assert_eq!(rtt.timeout, cfg.min_timeout);
    }

    #[test]
    fn the_window_grows_on_answers_and_halves_once_per_timeout() {
        let cfg = cfg();
        let mut w = Window::new(&cfg, 100);
        let start = w.cwnd;
        w.on_answer(100.0);
        assert_eq!(w.cwnd, start + 1.0);
        let now = Instant::now();
        w.on_loss(now, Duration::from_millis(100), 1.0);
        let halved = w.cwnd;
        assert_eq!(halved, (start + 1.0) / 2.0);
        w.on_loss(now + Duration::from_millis(50), Duration::from_millis(100), 1.0);
        assert_eq!(
            w.cwnd, halved,
            "a second loss within one timeout does not halve again"
        );
        w.on_loss(now + Duration::from_millis(150), Duration::from_millis(100), 1.0);
        assert_eq!(w.cwnd, halved / 2.0);
        // Past ssthresh it grows by 1/cwnd an answer (about one a window).
        for _ in 0..20_000 {
            w.on_answer(100.0);
        }
        assert_eq!(w.cwnd, 100.0, "the cap holds");
    }

    #[test]
    fn retries_earn_one_try_beyond_the_highest_answered() {
        let cfg = EngineConfig {
            min_retries: 1,
            max_retries: 6,
            ..cfg()
        };
        let host: IpAddr = "198.18.0.2".parse().unwrap();
        let mut t = Timing::new(&cfg, 10);
        // A host that never answered gets every try.
        assert_eq!(t.allowed_attempts(host), 7);
        t.answered(host, 0, Some(Duration::from_millis(1)), Instant::now());
        assert_eq!(t.allowed_attempts(host), 2);
        assert_eq!(t.silent(host, 0), Silence::Retry(1));
        assert_eq!(t.silent(host, 1), Silence::Park);
        t.answered(host, 2, None, Instant::now());
        assert!(t.revisit(host, 1));
        assert_eq!(t.allowed_attempts(host), 4);
        assert_eq!(t.silent(host, 6), Silence::Settle);
    }

    #[test]
    fn measured_loss_earns_the_tries_that_make_a_miss_rare() {
        let cfg = EngineConfig {
            min_retries: 1,
            max_retries: 10,
            ..cfg()
        };
        let host: IpAddr = "198.18.0.2".parse().unwrap();
        let mut t = Timing::new(&cfg, 10);
        let now = Instant::now();
        for _ in 0..98 {
            t.answered(host, 0, Some(Duration::from_millis(1)), now);
        }
        // One late answer alone is no evidence: one try more than it, as before.
        t.answered(host, 1, None, now);
        assert_eq!(t.allowed_attempts(host), 3);
        // Two of 100 answers needed a retry: 2 % loss, and 0.02^4 < 1e-6.
        t.answered(host, 1, None, now);
        assert_eq!(t.allowed_attempts(host), 4);
        // One in five (10 % lost each way): 0.2^9 < 1e-6.
        for _ in 0..23 {
            t.answered(host, 1, None, now);
        }
        assert_eq!(t.allowed_attempts(host), 9);
        // Within the configured bound, however bad the loss.
        for _ in 0..1000 {
            t.answered(host, 1, None, now);
        }
        assert_eq!(t.allowed_attempts(host), 11);
    }

    #[test]
    fn each_retry_waits_twice_as_long_up_to_the_maximum() {
        let cfg = cfg();
        let t = Timing::new(&cfg, 10);
        assert_eq!(t.wait(0), Duration::from_millis(100));
        assert_eq!(t.wait(1), Duration::from_millis(200));
        assert_eq!(t.wait(3), Duration::from_millis(800));
        assert_eq!(t.wait(9), Duration::from_secs(1));
    }
}
