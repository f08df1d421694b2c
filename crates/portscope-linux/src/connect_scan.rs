//! The connect engine: non-blocking TCP connects, each thread driving its own epoll loop.
//!
//! Why a hand-rolled loop rather than tokio: a scanner's whole job is the life of a file
//! descriptor — create, connect, wait, classify, close — and it must be able to put a probe back
//! when the kernel is out of descriptors or local ports. Here that is a `VecDeque::push_front`;
//! there is no task per probe and no waker. Sockets are reused: calling `connect` again on a socket
//! whose connect is in progress returns its result once and leaves it unconnected, so a closed
//! port costs two system calls (`connect`, `connect`) on the same descriptor, and on a local link,
//! where the kernel answers within the first call, no epoll round at all.
//!
//! Timing follows nmap's congestion control in spirit: a smoothed RTT and its variance give the
//! timeout; a window of probes in flight grows on every answer (slow start, then congestion
//! avoidance) and halves, at most once per timeout, when a retry is answered — proof that an
//! earlier probe was lost. Silence alone does not shrink the window, so a firewalled host that
//! drops everything does not slow the scan to a crawl. Each retry waits twice as long as the try
//! before it (up to the maximum timeout). A probe is retried only up to one try more
//! than the highest try that ever got an answer (nmap's rule too), so a clean network costs one
//! retry per silent port and a lossy one earns more; ports given up on too early are tried again
//! at the end if the limit rose meanwhile, and a host that never answered at all gets every retry
//! (its link may still be resolving). A port is reported filtered only after that.

use std::cmp::Reverse;
use std::collections::{BinaryHeap, HashSet, VecDeque};
use std::net::{IpAddr, SocketAddr};
use std::os::fd::OwnedFd;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use rustix::event::epoll;
use rustix::io::Errno;
use rustix::net::{AddressFamily, SocketFlags, SocketType};

use portscope_core::error::{Error, Result};
use portscope_core::scan::{EngineConfig, Outcome, PortState, Reason, ScanStats};

/// File descriptors kept free for everything that is not a probe (stdio, epoll, resolver, output).
const FD_RESERVE: u64 = 64;

/// Raises the soft RLIMIT_NOFILE to the hard limit and returns how many probes fit under it.
pub fn raise_fd_limit() -> usize {
    use rustix::process::{Resource, getrlimit, setrlimit};
    let mut limit = getrlimit(Resource::Nofile);
    if limit.current != limit.maximum {
        let raised = rustix::process::Rlimit {
            current: limit.maximum,
            maximum: limit.maximum,
        };
        if setrlimit(Resource::Nofile, raised).is_ok() {
            limit = raised;
        }
    }
    let current = limit.current.unwrap_or(1 << 20);
    usize::try_from(current.saturating_sub(FD_RESERVE).max(1)).unwrap_or(usize::MAX)
}

/// Smoothed RTT estimate and the timeout derived from it (RFC 6298, as nmap uses it).
pub(crate) struct Rtt {
    pub(crate) srtt: Option<f64>,
    pub(crate) rttvar: f64,
    pub(crate) timeout: Duration,
}

impl Rtt {
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
pub(crate) struct Window {
    pub(crate) cwnd: f64,
    pub(crate) ssthresh: f64,
    pub(crate) last_decrease: Option<Instant>,
}

impl Window {
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

/// Runs `threads` engines side by side, each pulling probes in small batches from the one lazy
/// iterator, and merges what they report. On a local link the kernel's work per connect happens
/// in the calling thread, so a second core nearly halves the time.
pub fn scan_parallel(
    probes: impl Iterator<Item = SocketAddr> + Send,
    cfg: &EngineConfig,
    threads: usize,
    on_result: impl FnMut(SocketAddr, Outcome) + Send,
    on_progress: impl FnMut(u64) + Send,
) -> Result<ScanStats> {
    let threads = threads.max(1);
    if threads == 1 {
        return scan(probes, cfg, on_result, on_progress);
    }
    let started = Instant::now();
    let fd_cap = raise_fd_limit();
    let per_thread = EngineConfig {
        max_parallelism: (cfg.max_parallelism.min(fd_cap) / threads).max(1),
        // The cap is the user's total; each thread keeps its share.
        rate: cfg.rate.map(|r| r / threads as f64),
        ..cfg.clone()
    };
    let shared = Mutex::new(probes);
    let sinks = Mutex::new((on_result, on_progress));
    let results: Vec<Result<ScanStats>> = std::thread::scope(|scope| {
        let handles: Vec<_> = (0..threads)
            .map(|_| {
                scope.spawn(|| {
                    let source = Batches {
                        shared: &shared,
                        buffer: VecDeque::new(),
                    };
                    scan(
                        source,
                        &per_thread,
                        |addr, outcome| (lock(&sinks).0)(addr, outcome),
                        |n| {
                            if n > 0 {
                                (lock(&sinks).1)(n);
                            }
                        },
                    )
                })
            })
            .collect();
        handles
            .into_iter()
            .map(|h| {
                h.join()
                    .unwrap_or_else(|_| Err(Error::System("a scan thread panicked".into())))
            })
            .collect()
    });
    let mut total = ScanStats::default();
    let mut srtts = Vec::new();
    for stats in results {
        let stats = stats?;
        total.probes += stats.probes;
        total.retries += stats.retries;
        total.deferred += stats.deferred;
        total.peak_in_flight += stats.peak_in_flight;
        total.timeout_us = total.timeout_us.max(stats.timeout_us);
        total.rttvar_us = total.rttvar_us.max(stats.rttvar_us);
        srtts.push(stats.srtt_us);
    }
    total.srtt_us = srtts.iter().sum::<u64>() / srtts.len().max(1) as u64;
    total.elapsed = started.elapsed();
    Ok(total)
}

/// Takes a poisoned lock anyway: a panicking engine thread is reported by `join`.
fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

/// One engine's view of the shared probe iterator: a batch at a time, so the lock is rare.
struct Batches<'a, I> {
    shared: &'a Mutex<I>,
    buffer: VecDeque<SocketAddr>,
}

impl<I: Iterator<Item = SocketAddr>> Iterator for Batches<'_, I> {
    type Item = SocketAddr;

    fn next(&mut self) -> Option<SocketAddr> {
        if self.buffer.is_empty() {
            self.buffer.extend(lock(self.shared).by_ref().take(64));
        }
        self.buffer.pop_front()
    }
}

/// Probes every address of `probes` and calls `on_result` once per address with its final
/// outcome, in completion order. `on_progress` gets the number of addresses finished since its
/// last call.
pub fn scan(
    probes: impl Iterator<Item = SocketAddr>,
    cfg: &EngineConfig,
    mut on_result: impl FnMut(SocketAddr, Outcome),
    mut on_progress: impl FnMut(u64),
) -> Result<ScanStats> {
    let started = Instant::now();
    let fd_cap = raise_fd_limit();
    let cap = cfg.max_parallelism.min(fd_cap).max(1);
    let min_window = cfg.min_parallelism.max(1) as f64;
    let mut engine = Engine {
        epfd: epoll::create(epoll::CreateFlags::CLOEXEC).map_err(|e| sys("creating an epoll instance", e))?,
        cfg,
        slots: Vec::new(),
        free: Vec::new(),
        timers: BinaryHeap::new(),
        retry: VecDeque::new(),
        given_up: Vec::new(),
        in_flight: 0,
        cap,
        seq: 0,
        rtt: Rtt {
            srtt: None,
            rttvar: 0.0,
            timeout: cfg
                .initial_timeout
                .clamp(cfg.min_timeout, cfg.max_timeout.max(cfg.min_timeout)),
        },
        window: Window {
            cwnd: (min_window * 4.0).min(cap as f64).max(1.0),
            ssthresh: cap as f64,
            last_decrease: None,
        },
        max_answered_attempt: 0,
        answered_hosts: HashSet::new(),
        immediate: 1.0,
        stats: ScanStats::default(),
        finished: 0,
        starved: 0,
    };
    let mut probes = probes.peekable();
    let mut events: Vec<epoll::Event> = Vec::with_capacity(1024);
    let mut next_send = started;
    let mut report = |addr: SocketAddr, outcome: Outcome| on_result(addr, outcome);

    loop {
        // Send while the window, the descriptor cap and the rate allow.
        let mut short_of_fds = false;
        while engine.in_flight < (engine.window.cwnd as usize).clamp(1, engine.cap) {
            if let Some(rate) = cfg.rate {
                let now = Instant::now();
                if next_send > now {
                    break;
                }
                // A late loop does not earn a burst: at most one interval of credit.
                let interval = Duration::from_secs_f64(1.0 / rate);
                next_send = next_send.max(now.checked_sub(interval).unwrap_or(now)) + interval;
            }
            let Some((addr, attempt)) = engine.retry.pop_front().or_else(|| probes.next().map(|a| (a, 0)))
            else {
                break;
            };
            if !engine.send(addr, attempt, &mut report)? {
                short_of_fds = true;
                break;
            }
        }

        if engine.in_flight == 0 && engine.retry.is_empty() && probes.peek().is_none() {
            // Everything has been answered or given up on. Ports given up on under a try limit
            // that has since risen get their further tries now.
            let given_up = std::mem::take(&mut engine.given_up);
            let (again, done): (Vec<_>, Vec<_>) = given_up
                .into_iter()
                .partition(|(addr, a)| a + 1 < engine.allowed_attempts(addr.ip()));
            for (addr, attempt) in again {
                engine.retry.push_back((addr, attempt + 1));
            }
            for (addr, _) in done {
                report(addr, filtered(Reason::NoResponse));
                engine.finished += 1;
            }
            on_progress(std::mem::take(&mut engine.finished));
            if engine.retry.is_empty() {
                break;
            }
            continue;
        }

        // Wait for answers, no longer than the next timer or the next send slot.
        let now = Instant::now();
        let mut wait = engine
            .timers
            .peek()
            .map_or(Duration::from_millis(100), |Reverse((t, _, _))| {
                t.saturating_duration_since(now)
            });
        let more = !engine.retry.is_empty() || probes.peek().is_some();
        if cfg.rate.is_some() && !short_of_fds && more {
            wait = wait.min(next_send.saturating_duration_since(now));
        }
        let timeout = rustix::event::Timespec::try_from(wait).ok();
        events.clear();
        match epoll::wait(
            &engine.epfd,
            rustix::buffer::spare_capacity(&mut events),
            timeout.as_ref(),
        ) {
            Ok(_) | Err(Errno::INTR) => {}
            Err(e) => return Err(sys("waiting on epoll", e)),
        }
        for event in &events {
            engine.on_event(event.data.u64() as usize, &mut report);
        }
        engine.expire(Instant::now(), &mut report);
        on_progress(std::mem::take(&mut engine.finished));
    }
    let mut stats = engine.stats;
    stats.srtt_us = engine.rtt.srtt.map_or(0, |s| (s * 1e6) as u64);
    stats.rttvar_us = (engine.rtt.rttvar * 1e6) as u64;
    stats.timeout_us = engine.rtt.timeout.as_micros() as u64;
    stats.elapsed = started.elapsed();
    Ok(stats)
}

/// One socket of the engine. Its index is its epoll token for life; the socket itself is reused
/// from probe to probe while it ends each one unconnected.
struct Slot {
    fd: Option<OwnedFd>,
    v4: bool,
    probe: Option<InFlight>,
}

/// The try a slot's socket is making.
struct InFlight {
    addr: SocketAddr,
    /// 0 for the first try.
    attempt: u32,
    sent: Instant,
    /// Identifies this try, so a timer left over from an earlier one is ignored.
    seq: u64,
}

/// Where a connect stands, read by calling `connect` again on the same socket: it reports the
/// pending result once and leaves the socket unconnected, ready for the next port — one system
/// call instead of `getsockopt(SO_ERROR)` plus `close` plus a new `socket`.
enum Progress {
    Pending,
    /// A final answer; the socket is reusable.
    Answer(Outcome),
    /// The handshake completed: open, or a self-connect. The socket must be closed.
    Connected(Outcome),
    /// The socket ended up in a state that says nothing about the port; close it and try again.
    Lost,
}

struct Engine<'a> {
    epfd: OwnedFd,
    cfg: &'a EngineConfig,
    slots: Vec<Slot>,
    /// Slots without a probe, most recently used last (its socket is the warmest).
    free: Vec<usize>,
    timers: BinaryHeap<Reverse<(Instant, usize, u64)>>,
    retry: VecDeque<(SocketAddr, u32)>,
    /// Ports that went silent at the try limit in force then; revisited when all else is done.
    given_up: Vec<(SocketAddr, u32)>,
    in_flight: usize,
    cap: usize,
    seq: u64,
    rtt: Rtt,
    window: Window,
    /// The highest try (0-based) that got an answer.
    max_answered_attempt: u32,
    /// Hosts that have answered at least once. Until a host has, its silence proves nothing about
    /// single ports (its link may still be coming up), so its ports get every retry.
    answered_hosts: HashSet<IpAddr>,
    /// How often the answer was already there right after `connect` (a moving average): on a
    /// local link the kernel answers within the call, and asking at once saves an epoll round.
    immediate: f64,
    stats: ScanStats,
    finished: u64,
    /// Sends in a row that found no descriptor while nothing of ours was in flight.
    starved: u32,
}

impl Engine<'_> {
    /// Starts one try. Returns false when the process is out of descriptors or local ports: the
    /// probe is queued again and the window capped at what is in flight.
    fn send(
        &mut self,
        addr: SocketAddr,
        attempt: u32,
        report: &mut impl FnMut(SocketAddr, Outcome),
    ) -> Result<bool> {
        let slot = self.take_slot(addr.is_ipv4());
        if self.slots[slot].fd.is_none() {
            match self.open_socket(slot) {
                Ok(()) => {}
                Err(errno) if is_resource_shortage(errno) => return self.defer(slot, addr, attempt, errno),
                Err(errno) => return Err(sys("creating a socket", errno)),
            }
        }
        self.stats.probes += 1;
        if attempt > 0 {
            self.stats.retries += 1;
        }
        let sent = Instant::now();
        let progress = {
            let Some(fd) = self.slots[slot].fd.as_ref() else {
                return Ok(true);
            };
            match rustix::net::connect(fd, &addr) {
                Err(Errno::INPROGRESS) => {
                    // Ask at once while that tends to pay off, and now and then to find out again.
                    let ask = self.immediate > 0.05 || self.stats.probes.is_multiple_of(64);
                    if ask {
                        let progress = check(fd, addr);
                        let hit = !matches!(progress, Progress::Pending);
                        self.immediate = 0.98 * self.immediate + if hit { 0.02 } else { 0.0 };
                        progress
                    } else {
                        Progress::Pending
                    }
                }
                Ok(()) => Progress::Connected(connected_outcome(fd, addr)),
                Err(errno) if is_resource_shortage(errno) => {
                    self.stats.probes -= 1;
                    if attempt > 0 {
                        self.stats.retries -= 1;
                    }
                    // A socket that failed to bind a local port is not reused.
                    self.slots[slot].fd = None;
                    return self.defer(slot, addr, attempt, errno);
                }
                Err(errno) => match error_outcome(errno) {
                    Some(outcome) => Progress::Answer(outcome),
                    None => return Err(sys(&format!("connecting to {addr}"), errno)),
                },
            }
        };
        self.starved = 0;
        self.seq += 1;
        self.slots[slot].probe = Some(InFlight {
            addr,
            attempt,
            sent,
            seq: self.seq,
        });
        self.in_flight += 1;
        self.stats.peak_in_flight = self.stats.peak_in_flight.max(self.in_flight);
        match progress {
            Progress::Pending => {
                // Each retry waits twice as long (up to the maximum), as TCP backs off: a host
                // still resolving its link-layer address, or a congested path, gets time to answer.
                let wait = self
                    .rtt
                    .timeout
                    .saturating_mul(1 << attempt.min(16))
                    .min(self.cfg.max_timeout);
                self.timers
                    .push(Reverse((sent + wait.max(self.rtt.timeout), slot, self.seq)));
            }
            other => self.settle(slot, other, Instant::now(), report),
        }
        Ok(true)
    }

    /// A free slot, preferring one whose socket has the right family.
    fn take_slot(&mut self, v4: bool) -> usize {
        let slot = match self.free.pop() {
            Some(slot) => slot,
            None => {
                self.slots.push(Slot {
                    fd: None,
                    v4,
                    probe: None,
                });
                self.slots.len() - 1
            }
        };
        if self.slots[slot].v4 != v4 {
            self.slots[slot].fd = None;
            self.slots[slot].v4 = v4;
        }
        slot
    }

    fn open_socket(&mut self, slot: usize) -> std::result::Result<(), Errno> {
        let family = if self.slots[slot].v4 {
            AddressFamily::INET
        } else {
            AddressFamily::INET6
        };
        let fd = rustix::net::socket_with(
            family,
            SocketType::STREAM,
            SocketFlags::NONBLOCK | SocketFlags::CLOEXEC,
            None,
        )?;
        // Edge-triggered: a socket idle between probes reports HUP, which must not spin the loop;
        // each answer is one wake-up, and a late timer asks the socket itself anyway.
        let flags = epoll::EventFlags::OUT | epoll::EventFlags::ET;
        epoll::add(&self.epfd, &fd, epoll::EventData::new_u64(slot as u64), flags)?;
        self.slots[slot].fd = Some(fd);
        Ok(())
    }

    /// Puts a probe back after a resource shortage; an error when nothing is in flight to wait for.
    fn defer(&mut self, slot: usize, addr: SocketAddr, attempt: u32, errno: Errno) -> Result<bool> {
        self.free.push(slot);
        self.retry.push_front((addr, attempt));
        self.stats.deferred += 1;
        if self.in_flight == 0 {
            // Nothing of ours to wait for: other threads hold the descriptors. Give them a moment,
            // and give up only when none come back for seconds.
            self.starved += 1;
            if self.starved > 3000 {
                return Err(sys("creating a socket", errno));
            }
            std::thread::sleep(Duration::from_millis(1));
            return Ok(false);
        }
        self.cap = self.in_flight.max(1);
        Ok(false)
    }

    fn on_event(&mut self, slot: usize, report: &mut impl FnMut(SocketAddr, Outcome)) {
        let Some(Slot {
            fd: Some(fd),
            probe: Some(probe),
            ..
        }) = self.slots.get(slot)
        else {
            // A wake-up for a try already settled.
            return;
        };
        match check(fd, probe.addr) {
            Progress::Pending => {}
            progress => self.settle(slot, progress, Instant::now(), report),
        }
    }

    /// Expires the tries whose time is up, asking each socket once more first in case its
    /// answer is queued behind others.
    fn expire(&mut self, now: Instant, report: &mut impl FnMut(SocketAddr, Outcome)) {
        while let Some(Reverse((deadline, slot, id))) = self.timers.peek().copied() {
            if deadline > now {
                break;
            }
            self.timers.pop();
            let Some(Slot {
                fd: Some(fd),
                probe: Some(probe),
                ..
            }) = self.slots.get(slot)
            else {
                continue;
            };
            if probe.seq != id {
                continue;
            }
            match check(fd, probe.addr) {
                Progress::Pending | Progress::Lost => self.settle(slot, Progress::Lost, now, report),
                progress => self.settle(slot, progress, now, report),
            }
        }
    }

    /// Ends the slot's try: reports an answer, or queues another try after a loss.
    fn settle(
        &mut self,
        slot: usize,
        progress: Progress,
        now: Instant,
        report: &mut impl FnMut(SocketAddr, Outcome),
    ) {
        let Some(probe) = self.slots[slot].probe.take() else {
            return;
        };
        self.in_flight -= 1;
        self.free.push(slot);
        let outcome = match progress {
            Progress::Answer(outcome) => outcome,
            Progress::Connected(outcome) => {
                if let Some(fd) = self.slots[slot].fd.take() {
                    // Close with a reset: no TIME_WAIT, and the listener's side goes at once.
                    let _ = rustix::net::sockopt::set_socket_linger(&fd, Some(Duration::ZERO));
                }
                outcome
            }
            Progress::Pending | Progress::Lost => {
                self.slots[slot].fd = None;
                if probe.attempt + 1 < self.allowed_attempts(probe.addr.ip()) {
                    self.retry.push_back((probe.addr, probe.attempt + 1));
                } else if probe.attempt >= self.cfg.max_retries {
                    // Every try was used: no later rise of the limit can give it another, so it
                    // is settled now rather than kept until the end (a /8 where nothing answers
                    // would otherwise keep 2^24 of them).
                    report(probe.addr, filtered(Reason::NoResponse));
                    self.finished += 1;
                    self.window.on_answer(self.cap as f64);
                } else {
                    self.given_up.push((probe.addr, probe.attempt));
                    // A port settled as silent is progress too: a firewall that drops everything
                    // must not hold the window at its starting size.
                    self.window.on_answer(self.cap as f64);
                }
                return;
            }
        };
        self.max_answered_attempt = self.max_answered_attempt.max(probe.attempt);
        self.answered_hosts.insert(probe.addr.ip());
        if probe.attempt == 0 {
            // Karn: only first tries give an unambiguous RTT.
            self.rtt.sample(now.duration_since(probe.sent), self.cfg);
        } else {
            self.window
                .on_loss(now, self.rtt.timeout, self.cfg.min_parallelism.max(1) as f64);
        }
        self.window.on_answer(self.cap as f64);
        report(probe.addr, outcome);
        self.finished += 1;
    }

    /// How many tries a silent port of `host` gets now: one more than the highest try ever
    /// answered, within the configured bounds; all of them while the host has never answered.
    fn allowed_attempts(&self, host: IpAddr) -> u32 {
        if !self.answered_hosts.contains(&host) {
            return self.cfg.max_retries + 1;
        }
        (self.max_answered_attempt + 2).clamp(self.cfg.min_retries + 1, self.cfg.max_retries + 1)
    }
}

/// Asks a socket with a connect in progress where it stands (see [`Progress`]).
fn check(fd: &OwnedFd, addr: SocketAddr) -> Progress {
    match rustix::net::connect(fd, &addr) {
        Err(Errno::ALREADY) | Err(Errno::INPROGRESS) => Progress::Pending,
        Ok(()) | Err(Errno::ISCONN) => Progress::Connected(connected_outcome(fd, addr)),
        Err(errno) => error_outcome(errno).map_or(Progress::Lost, Progress::Answer),
    }
}

/// A completed handshake is an open port, unless the socket connected to itself: a connect from
/// local port P to the same address's port P with nothing listening is a TCP simultaneous open
/// with itself, and means the port is closed.
fn connected_outcome(fd: &OwnedFd, addr: SocketAddr) -> Outcome {
    let local = rustix::net::getsockname(fd)
        .ok()
        .and_then(|a| SocketAddr::try_from(a).ok());
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

/// The final answer a connect error stands for; `None` when it says nothing about the port.
fn error_outcome(errno: Errno) -> Option<Outcome> {
    match errno {
        Errno::CONNREFUSED => Some(Outcome {
            state: PortState::Closed,
            reason: Reason::ConnRefused,
        }),
        Errno::HOSTUNREACH => Some(filtered(Reason::HostUnreach)),
        Errno::NETUNREACH => Some(filtered(Reason::NetUnreach)),
        // A local firewall rule refused the packet.
        Errno::PERM | Errno::ACCESS => Some(filtered(Reason::AdminProhibited)),
        _ => None,
    }
}

fn filtered(reason: Reason) -> Outcome {
    Outcome {
        state: PortState::Filtered,
        reason,
    }
}

/// Errors that mean "not now" for this process rather than anything about the target.
fn is_resource_shortage(errno: Errno) -> bool {
    matches!(
        errno,
        Errno::MFILE | Errno::NFILE | Errno::NOBUFS | Errno::NOMEM | Errno::ADDRNOTAVAIL | Errno::AGAIN
    )
}

fn sys(context: &str, errno: Errno) -> Error {
    Error::System(format!("{context}: {}", std::io::Error::from(errno)))
}
