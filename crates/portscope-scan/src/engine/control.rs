//! The probe engines' control loop, over a small [`Network`] trait: which probe goes next, when
//! a try has timed out, when a port is settled and when the run is over. No sockets and no clock
//! of its own: the SYN engine runs it over raw sockets (`linux::syn`), the connect engine over
//! non-blocking connects on epoll (`linux::connect`), and the tests run the same loop over
//! simulated networks (`engine::sim`) without root.
//!
//! A port's first probe is phase 0; an open answer is confirmed, when asked, by a second probe
//! (phase 1) before the port is reported, so a stray SYN-ACK alone never makes a port open.
//! Timing, the window and the retry rule are [`super::timing`]'s.

use std::cmp::Reverse;
use std::collections::{BinaryHeap, HashMap, VecDeque};
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use portscope_core::error::{Error, Result};

use super::feed::Pacer;
use super::timing::{Silence, Timing};
use crate::report::{EngineConfig, Outcome, PortState, Reason, ScanStats};

/// Probes built between two flushes, at most.
pub(crate) const BATCH: usize = 64;

/// An answer the network has checked belongs to one of our probes (the right cookie).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Answer {
    pub(crate) addr: SocketAddr,
    /// The phase of the probe it answers.
    pub(crate) phase: u8,
    /// `None` when the try ended without saying anything about the port (it counts as silence).
    pub(crate) outcome: Option<Outcome>,
}

/// What became of a probe handed to the network.
#[derive(Debug)]
pub(crate) enum Sent {
    /// On its way: its answer comes through [`Network::collect`], or its timer runs out. The
    /// token is the network's handle on the try, given back to [`Network::expired`].
    Pending(usize),
    /// Answered at once (a local kernel answers a connect within the call).
    Answered(Outcome),
    /// Ended at once without saying anything about the port (counts as silence). Windows'
    /// engine closes a socket only after its try, so only Linux's reuse of sockets ends here.
    #[cfg_attr(not(target_os = "linux"), allow(dead_code))]
    Lost,
    /// Not sent: this process is out of descriptors or local ports for now. The probe is queued
    /// again and the window capped at what is in flight; the error is the run's when nothing of
    /// ours is in flight to free one for seconds.
    Deferred(Error),
}

/// What the control loop needs from the network: send probes, collect answers, tell the time.
pub(crate) trait Network {
    /// How long to wait for answers when no timer is running.
    const IDLE_WAIT: Duration;

    /// Builds try `attempt` of phase `phase` to `addr`, sent by the next [`Network::flush`] at
    /// the latest.
    fn queue(&mut self, addr: SocketAddr, attempt: u32, phase: u8) -> Result<Sent>;
    /// Sends what was queued.
    fn flush(&mut self) -> Result<()>;
    /// Sleeps until an answer may have arrived, or `wait` has passed.
    fn wait(&mut self, wait: Duration) -> Result<()>;
    /// Moves every answer that has arrived into `answers`.
    fn collect(&mut self, answers: &mut Vec<Answer>) -> Result<()>;
    /// The time of the pending try `token` to `addr` is up: its answer if one came after all
    /// (queued behind others). The network forgets the try either way.
    fn expired(&mut self, addr: SocketAddr, token: usize) -> Option<Outcome>;
    /// The time now.
    fn now(&self) -> Instant;
}

/// A port begun and not yet reported.
struct Entry {
    attempt: u32,
    /// 0 for the first probe of a port, 1 for its confirmation.
    phase: u8,
    sent: Instant,
    seq: u64,
    in_flight: bool,
    /// The network's handle on the try in flight.
    token: usize,
}

/// The loop's bookkeeping.
struct Tracker<'a> {
    confirm: bool,
    pending: HashMap<SocketAddr, Entry>,
    timers: BinaryHeap<Reverse<(Instant, SocketAddr, u64)>>,
    retry: VecDeque<(SocketAddr, u32, u8)>,
    /// Ports that went silent at the try limit in force then; revisited when all else is done.
    given_up: Vec<(SocketAddr, u32, u8)>,
    in_flight: usize,
    seq: u64,
    timing: Timing<'a>,
    stats: ScanStats,
    finished: u64,
    /// Sends in a row that found no descriptor while nothing of ours was in flight.
    starved: u32,
}

/// Probes every address of `probes` over `net`, calls `on_result` once per address with its
/// final outcome and `on_progress` with the number settled since its last call. Ends early, in
/// order, when `stop` says so.
pub(crate) fn run<N: Network>(
    net: &mut N,
    probes: impl Iterator<Item = SocketAddr>,
    cfg: &EngineConfig,
    confirm: bool,
    stop: impl Fn() -> bool,
    mut on_result: impl FnMut(SocketAddr, Outcome),
    mut on_progress: impl FnMut(u64),
) -> Result<ScanStats> {
    let started = net.now();
    let mut probes = probes.peekable();
    let mut t = Tracker {
        confirm,
        pending: HashMap::new(),
        timers: BinaryHeap::new(),
        retry: VecDeque::new(),
        given_up: Vec::new(),
        in_flight: 0,
        seq: 0,
        timing: Timing::new(cfg, cfg.max_parallelism),
        stats: ScanStats::default(),
        finished: 0,
        starved: 0,
    };
    let mut answers = Vec::with_capacity(BATCH);
    let mut pacer = Pacer::new(started);
    loop {
        if stop() {
            break;
        }
        // Send while the window and the rate allow, a batch at a time.
        let mut short = false;
        'send: loop {
            let room = t.timing.limit().saturating_sub(t.in_flight);
            if room == 0 {
                break;
            }
            let mut budget = room.min(BATCH);
            if let Some(rate) = cfg.rate {
                if !pacer.take(rate, net.now()) {
                    break;
                }
                budget = 1;
            }
            let mut queued = 0;
            while queued < budget {
                let next = t.retry.pop_front().or_else(|| probes.next().map(|a| (a, 0, 0)));
                let Some((addr, attempt, phase)) = next else { break };
                if (attempt > 0 || phase > 0) && !t.waiting(addr, phase) {
                    // A late answer settled the port while its retry waited.
                    continue;
                }
                let sent_at = net.now();
                match net.queue(addr, attempt, phase)? {
                    Sent::Pending(token) => t.sent(addr, attempt, phase, token, sent_at),
                    Sent::Answered(outcome) => {
                        t.count(attempt);
                        let now = net.now();
                        let rtt = now.duration_since(sent_at);
                        t.finish(addr, attempt, phase, Some(rtt), outcome, now, &mut on_result);
                    }
                    Sent::Lost => {
                        t.count(attempt);
                        t.silence(addr, attempt, phase, sent_at, &mut on_result);
                    }
                    Sent::Deferred(err) => {
                        t.retry.push_front((addr, attempt, phase));
                        t.stats.deferred += 1;
                        if t.in_flight == 0 {
                            // Nothing of ours to wait for: other threads hold the descriptors.
                            // Give them a moment, and give up only when none come back for
                            // seconds.
                            t.starved += 1;
                            if t.starved > 3000 {
                                return Err(err);
                            }
                            std::thread::sleep(Duration::from_millis(1));
                        } else {
                            t.timing.cap = t.in_flight.max(1);
                        }
                        short = true;
                        net.flush()?;
                        break 'send;
                    }
                }
                t.starved = 0;
                queued += 1;
            }
            net.flush()?;
            t.take_answers(net, &mut answers, &mut on_result)?;
            if queued < budget {
                break;
            }
        }
        if t.in_flight == 0 && t.retry.is_empty() && probes.peek().is_none() {
            t.revisit(&mut on_result);
            on_progress(std::mem::take(&mut t.finished));
            if t.retry.is_empty() {
                break;
            }
            continue;
        }
        // Wait for answers, no longer than the next timer or send slot.
        let now = net.now();
        let mut wait = t.timers.peek().map_or(N::IDLE_WAIT, |Reverse((deadline, _, _))| {
            deadline.saturating_duration_since(now)
        });
        let more = !t.retry.is_empty() || probes.peek().is_some();
        if cfg.rate.is_some() && !short && more && t.in_flight < t.timing.limit() {
            wait = wait.min(pacer.until_next(now));
        }
        // Stop signals are looked at at least every 100 ms.
        net.wait(wait.min(Duration::from_millis(100)))?;
        t.take_answers(net, &mut answers, &mut on_result)?;
        t.expire(net, &mut on_result);
        on_progress(std::mem::take(&mut t.finished));
    }
    let mut stats = t.stats;
    t.timing.record(&mut stats);
    stats.elapsed = net.now().duration_since(started);
    Ok(stats)
}

/// A port's final answer when it never answered: filtered, or, when its only answer was a
/// SYN-ACK the confirmation probe never saw again, still filtered — an open port is reported
/// only when two probes say so.
/// What a completed connect means, given the socket's local address: an open port, unless the
/// socket connected to itself: a connect from local port P to the same address's port P with
/// nothing listening is a TCP simultaneous open with itself, and means the port is closed.
pub(crate) fn handshake_outcome(local: Option<SocketAddr>, addr: SocketAddr) -> Outcome {
    if local.is_some_and(|l| l.ip() == addr.ip() && l.port() == addr.port()) {
        Outcome {
            state: PortState::Closed,
            reason: Reason::SelfConnect,
        }
    } else {
        Outcome {
            state: PortState::Open,
            reason: Reason::SynAck,
        }
    }
}

fn silent(_phase: u8) -> Outcome {
    Outcome {
        state: PortState::Filtered,
        reason: Reason::NoResponse,
    }
}

impl Tracker<'_> {
    /// Whether `addr` waits for a retry of phase `phase` (no answer came meanwhile).
    fn waiting(&self, addr: SocketAddr, phase: u8) -> bool {
        self.pending
            .get(&addr)
            .is_some_and(|e| !e.in_flight && e.phase == phase)
    }

    /// Counts a probe sent.
    fn count(&mut self, attempt: u32) {
        self.stats.probes += 1;
        if attempt > 0 {
            self.stats.retries += 1;
        }
        self.stats.peak_in_flight = self.stats.peak_in_flight.max(self.in_flight + 1);
    }

    /// A probe went out at `now` and waits for its answer: its entry and its timer.
    fn sent(&mut self, addr: SocketAddr, attempt: u32, phase: u8, token: usize, now: Instant) {
        self.count(attempt);
        self.seq += 1;
        self.pending.insert(
            addr,
            Entry {
                attempt,
                phase,
                sent: now,
                seq: self.seq,
                in_flight: true,
                token,
            },
        );
        self.in_flight += 1;
        let wait = self.timing.wait(attempt);
        self.timers.push(Reverse((now + wait, addr, self.seq)));
    }

    fn take_answers<N: Network>(
        &mut self,
        net: &mut N,
        answers: &mut Vec<Answer>,
        report: &mut impl FnMut(SocketAddr, Outcome),
    ) -> Result<()> {
        answers.clear();
        net.collect(answers)?;
        if answers.is_empty() {
            return Ok(());
        }
        let now = net.now();
        for answer in answers.drain(..) {
            let Some(entry) = self.pending.get_mut(&answer.addr) else {
                continue;
            };
            if entry.phase != answer.phase {
                continue;
            }
            match answer.outcome {
                Some(outcome) => self.settle(answer.addr, outcome, now, report),
                None if entry.in_flight => {
                    entry.in_flight = false;
                    self.in_flight -= 1;
                    let (attempt, phase, sent) = (entry.attempt, entry.phase, entry.sent);
                    self.silence(answer.addr, attempt, phase, sent, report);
                }
                None => {}
            }
        }
        Ok(())
    }

    /// A port answered: report it, or send its confirmation probe.
    fn settle(
        &mut self,
        addr: SocketAddr,
        outcome: Outcome,
        now: Instant,
        report: &mut impl FnMut(SocketAddr, Outcome),
    ) {
        let Some(entry) = self.pending.remove(&addr) else {
            return;
        };
        if entry.in_flight {
            self.in_flight -= 1;
        }
        // Karn: only a first try still in flight gives an unambiguous RTT.
        let rtt = entry.in_flight.then(|| now.duration_since(entry.sent));
        self.finish(addr, entry.attempt, entry.phase, rtt, outcome, now, report);
    }

    /// Try `attempt` of phase `phase` got `outcome` (after `rtt`, when that is unambiguous):
    /// report the port, or send its confirmation probe.
    #[allow(clippy::too_many_arguments)]
    fn finish(
        &mut self,
        addr: SocketAddr,
        attempt: u32,
        phase: u8,
        rtt: Option<Duration>,
        outcome: Outcome,
        now: Instant,
        report: &mut impl FnMut(SocketAddr, Outcome),
    ) {
        self.timing.answered(addr.ip(), attempt, rtt, now);
        if outcome.state == PortState::Open && phase == 0 && self.confirm {
            // Back in the map as waiting, so a late duplicate of this answer is not mistaken.
            self.pending.insert(
                addr,
                Entry {
                    attempt: 0,
                    phase: 1,
                    sent: now,
                    seq: 0,
                    in_flight: false,
                    token: 0,
                },
            );
            self.retry.push_front((addr, 0, 1));
            return;
        }
        report(addr, outcome);
        self.finished += 1;
    }

    /// Try `attempt` of phase `phase` to `addr`, sent at `sent`, stayed silent (it is no longer
    /// in flight): try again, settle the port, or park it.
    fn silence(
        &mut self,
        addr: SocketAddr,
        attempt: u32,
        phase: u8,
        sent: Instant,
        report: &mut impl FnMut(SocketAddr, Outcome),
    ) {
        let waiting = Entry {
            attempt,
            phase,
            sent,
            seq: 0,
            in_flight: false,
            token: 0,
        };
        match self.timing.silent(addr.ip(), attempt) {
            Silence::Retry(next) => {
                self.pending.insert(addr, waiting);
                self.retry.push_back((addr, next, phase));
            }
            Silence::Settle => {
                self.pending.remove(&addr);
                report(addr, silent(phase));
                self.finished += 1;
            }
            Silence::Park => {
                self.pending.insert(addr, waiting);
                self.given_up.push((addr, attempt, phase));
            }
        }
    }

    /// Ends the tries whose time is up, asking the network once more first in case an answer is
    /// queued behind others.
    fn expire<N: Network>(&mut self, net: &mut N, report: &mut impl FnMut(SocketAddr, Outcome)) {
        let now = net.now();
        while let Some(Reverse((deadline, addr, id))) = self.timers.peek().copied() {
            if deadline > now {
                break;
            }
            self.timers.pop();
            let Some(entry) = self.pending.get(&addr) else {
                continue;
            };
            if entry.seq != id || !entry.in_flight {
                continue;
            }
            let (attempt, phase, sent, token) = (entry.attempt, entry.phase, entry.sent, entry.token);
            if let Some(outcome) = net.expired(addr, token) {
                self.settle(addr, outcome, now, report);
                continue;
            }
            self.in_flight -= 1;
            self.silence(addr, attempt, phase, sent, report);
        }
    }

    /// Everything has been answered or given up on: ports given up on under a try limit that has
    /// since risen get their further tries now, the rest are settled as silent.
    fn revisit(&mut self, report: &mut impl FnMut(SocketAddr, Outcome)) {
        let given_up = std::mem::take(&mut self.given_up);
        let (again, done): (Vec<_>, Vec<_>) = given_up
            .into_iter()
            .partition(|(addr, a, _)| self.timing.revisit(addr.ip(), *a));
        for (addr, attempt, phase) in again {
            self.retry.push_back((addr, attempt + 1, phase));
        }
        for (addr, _, phase) in done {
            if self.pending.remove(&addr).is_some() {
                report(addr, silent(phase));
                self.finished += 1;
            }
        }
    }
}
