//! The connect engine: non-blocking TCP connects driven by one epoll loop on one thread.
//!
//! Why a hand-rolled loop rather than tokio: a scanner's whole job is the life of a file
//! descriptor — create, connect, wait, classify, close — and it must be able to put a probe back
//! when the kernel is out of descriptors or local ports. Here that is a `VecDeque::push_front`;
//! there is no task per probe, no waker, and the answer is read once with `SO_ERROR`.
//!
//! Timing follows nmap's congestion control in spirit: a smoothed RTT and its variance give the
//! timeout; a window of probes in flight grows on every answer (slow start, then congestion
//! avoidance) and halves, at most once per timeout, when a retry is answered — proof that an
//! earlier probe was lost. Silence alone does not shrink the window, so a firewalled host that
//! drops everything does not slow the scan to a crawl. A probe is retried only up to one try more
//! than the highest try that ever got an answer (nmap's rule too), so a clean network costs one
//! retry per silent port and a lossy one earns more; ports given up on too early are tried again
//! at the end if the limit rose meanwhile. A port is reported filtered only after that.

use std::cmp::Reverse;
use std::collections::{BinaryHeap, VecDeque};
use std::net::SocketAddr;
use std::os::fd::OwnedFd;
use std::time::{Duration, Instant};

use rustix::event::epoll;
use rustix::io::Errno;
use rustix::net::{AddressFamily, SocketFlags, SocketType};

use super::result::{Outcome, PortState, Reason, ScanStats};
use crate::error::{Error, Result};

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
            min_timeout: Duration::from_millis(50),
            max_timeout: Duration::from_millis(1000),
            initial_timeout: Duration::from_millis(500),
            max_parallelism: 4096,
            min_parallelism: 16,
            rate: None,
        }
    }
}

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
        if setrlimit(Resource::Nofile, raised.clone()).is_ok() {
            limit = raised;
        }
    }
    let current = limit.current.unwrap_or(1 << 20);
    usize::try_from(current.saturating_sub(FD_RESERVE).max(1)).unwrap_or(usize::MAX)
}

/// One connect in flight.
struct InFlight {
    fd: OwnedFd,
    addr: SocketAddr,
    /// 0 for the first try.
    attempt: u32,
    sent: Instant,
    /// Identifies this send, so a stale timer for a reused slot is ignored.
    seq: u64,
}

/// What became of a try.
enum Answer {
    Final(Outcome),
    /// No answer (yet): the kernel is still waiting for a SYN-ACK.
    Silent,
}

/// Smoothed RTT estimate and the timeout derived from it (RFC 6298, as nmap uses it).
struct Rtt {
    srtt: Option<f64>,
    rttvar: f64,
    timeout: Duration,
}

impl Rtt {
    fn sample(&mut self, rtt: Duration, cfg: &EngineConfig) {
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
struct Window {
    cwnd: f64,
    ssthresh: f64,
    last_decrease: Option<Instant>,
}

impl Window {
    fn on_answer(&mut self, max: f64) {
        self.cwnd += if self.cwnd < self.ssthresh {
            1.0
        } else {
            1.0 / self.cwnd
        };
        self.cwnd = self.cwnd.min(max);
    }

    fn on_loss(&mut self, now: Instant, timeout: Duration, min: f64) {
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
    let mut cap = cfg.max_parallelism.min(fd_cap).max(1);
    let epfd =
        epoll::create(epoll::CreateFlags::CLOEXEC).map_err(|e| sys("creating an epoll instance", e))?;

    let mut probes = probes.peekable();
    let mut retry: VecDeque<(SocketAddr, u32)> = VecDeque::new();
    // Ports that went silent at the try limit in force then; revisited when all else is done.
    let mut given_up: Vec<(SocketAddr, u32)> = Vec::new();
    let mut slots: Vec<Option<InFlight>> = Vec::new();
    let mut free: Vec<usize> = Vec::new();
    let mut timers: BinaryHeap<Reverse<(Instant, usize, u64)>> = BinaryHeap::new();
    let mut in_flight = 0usize;
    let mut seq = 0u64;
    let mut events: Vec<epoll::Event> = Vec::with_capacity(1024);
    let mut rtt = Rtt {
        srtt: None,
        rttvar: 0.0,
        timeout: cfg.initial_timeout,
    };
    let min_window = cfg.min_parallelism.max(1) as f64;
    let mut window = Window {
        cwnd: (min_window * 4.0).min(cap as f64).max(1.0),
        ssthresh: cap as f64,
        last_decrease: None,
    };
    // The highest try (0-based) that got an answer: tries beyond it + 1 are not worth sending.
    let mut max_answered_attempt = 0u32;
    let mut next_send = started;
    let mut stats = ScanStats::default();
    let mut finished = 0u64;

    loop {
        // Send while the window, the descriptor cap and the rate allow.
        let now = Instant::now();
        let mut out_of_fds = false;
        while in_flight < (window.cwnd as usize).clamp(1, cap) {
            if let Some(rate) = cfg.rate {
                if next_send > now {
                    break;
                }
                // A late loop does not earn a burst: at most one interval of credit.
                next_send = next_send.max(now - Duration::from_secs_f64(1.0 / rate))
                    + Duration::from_secs_f64(1.0 / rate);
            }
            let Some((addr, attempt)) = retry.pop_front().or_else(|| probes.next().map(|a| (a, 0))) else {
                break;
            };
            stats.probes += 1;
            if attempt > 0 {
                stats.retries += 1;
            }
            match start_connect(addr) {
                Ok(Started::Pending(fd)) => {
                    let slot = free.pop().unwrap_or_else(|| {
                        slots.push(None);
                        slots.len() - 1
                    });
                    seq += 1;
                    let data = epoll::EventData::new_u64(slot as u64);
                    let flags = epoll::EventFlags::OUT | epoll::EventFlags::ERR | epoll::EventFlags::HUP;
                    epoll::add(&epfd, &fd, data, flags).map_err(|e| sys("adding a socket to epoll", e))?;
                    let sent = Instant::now();
                    timers.push(Reverse((sent + rtt.timeout, slot, seq)));
                    slots[slot] = Some(InFlight {
                        fd,
                        addr,
                        attempt,
                        sent,
                        seq,
                    });
                    in_flight += 1;
                    stats.peak_in_flight = stats.peak_in_flight.max(in_flight);
                }
                Ok(Started::Done(fd, outcome)) => {
                    close_fast(&fd);
                    on_result(addr, outcome);
                    finished += 1;
                }
                Err(errno) if is_resource_shortage(errno) => {
                    // Out of descriptors or local ports: put the probe back and run with fewer
                    // in flight. With nothing in flight there is nothing to wait for.
                    stats.probes -= 1;
                    if attempt > 0 {
                        stats.retries -= 1;
                    }
                    retry.push_front((addr, attempt));
                    stats.deferred += 1;
                    if in_flight == 0 {
                        return Err(sys("creating a socket", errno));
                    }
                    cap = in_flight.max(1);
                    out_of_fds = true;
                    break;
                }
                Err(errno) => return Err(sys(&format!("connecting to {addr}"), errno)),
            }
        }

        if in_flight == 0 && retry.is_empty() && probes.peek().is_none() {
            // Everything has been answered or given up on. Ports given up on under a try limit
            // that has since risen get their further tries now.
            let limit = allowed_attempts(max_answered_attempt, cfg);
            let (again, done): (Vec<_>, Vec<_>) = given_up.drain(..).partition(|(_, a)| a + 1 < limit);
            for (addr, attempt) in again {
                retry.push_back((addr, attempt + 1));
            }
            for (addr, _) in done {
                on_result(addr, filtered(Reason::NoResponse));
                finished += 1;
            }
            on_progress(std::mem::take(&mut finished));
            if retry.is_empty() {
                break;
            }
            continue;
        }

        // Wait for answers, no longer than the next timer or the next send slot.
        let now = Instant::now();
        let mut wait = timers
            .peek()
            .map_or(Duration::from_millis(100), |Reverse((t, _, _))| {
                t.saturating_duration_since(now)
            });
        if cfg.rate.is_some() && !out_of_fds && (!retry.is_empty() || probes.peek().is_some()) {
            wait = wait.min(next_send.saturating_duration_since(now));
        }
        let timeout = rustix::event::Timespec::try_from(wait).ok();
        events.clear();
        match epoll::wait(
            &epfd,
            rustix::buffer::spare_capacity(&mut events),
            timeout.as_ref(),
        ) {
            Ok(_) | Err(Errno::INTR) => {}
            Err(e) => return Err(sys("waiting on epoll", e)),
        }
        for event in &events {
            let slot = event.data.u64() as usize;
            let Some(probe) = slots.get_mut(slot).and_then(Option::take) else {
                continue;
            };
            free.push(slot);
            in_flight -= 1;
            let now = Instant::now();
            match read_answer(&probe.fd, probe.addr) {
                Answer::Final(outcome) => {
                    record_answer(
                        &probe,
                        now,
                        &mut rtt,
                        &mut window,
                        &mut max_answered_attempt,
                        cfg,
                        cap,
                    );
                    close_fast(&probe.fd);
                    on_result(probe.addr, outcome);
                    finished += 1;
                }
                // A wake-up without an answer: stop listening to this socket (so it cannot spin
                // the loop) and let its timer ask it once more.
                Answer::Silent => {
                    let _ = epoll::delete(&epfd, &probe.fd);
                    free.pop();
                    in_flight += 1;
                    slots[slot] = Some(probe);
                }
            }
        }

        // Expire the tries whose time is up. Each is asked once more directly, in case its
        // answer is queued behind others in epoll.
        let now = Instant::now();
        while let Some(Reverse((deadline, slot, id))) = timers.peek().copied() {
            if deadline > now {
                break;
            }
            timers.pop();
            if !slots
                .get(slot)
                .and_then(Option::as_ref)
                .is_some_and(|p| p.seq == id)
            {
                continue;
            }
            let Some(probe) = slots[slot].take() else { continue };
            free.push(slot);
            in_flight -= 1;
            match read_answer(&probe.fd, probe.addr) {
                Answer::Final(outcome) => {
                    record_answer(
                        &probe,
                        now,
                        &mut rtt,
                        &mut window,
                        &mut max_answered_attempt,
                        cfg,
                        cap,
                    );
                    close_fast(&probe.fd);
                    on_result(probe.addr, outcome);
                    finished += 1;
                }
                Answer::Silent => {
                    drop(probe.fd);
                    let limit = allowed_attempts(max_answered_attempt, cfg);
                    if probe.attempt + 1 < limit {
                        retry.push_back((probe.addr, probe.attempt + 1));
                    } else {
                        given_up.push((probe.addr, probe.attempt));
                    }
                }
            }
        }
        on_progress(std::mem::take(&mut finished));
    }
    stats.srtt_us = rtt.srtt.map_or(0, |s| (s * 1e6) as u64);
    stats.rttvar_us = (rtt.rttvar * 1e6) as u64;
    stats.timeout_us = rtt.timeout.as_micros() as u64;
    stats.elapsed = started.elapsed();
    Ok(stats)
}

/// How many tries a silent port gets now: one more than the highest try ever answered, within
/// the configured bounds.
fn allowed_attempts(max_answered_attempt: u32, cfg: &EngineConfig) -> u32 {
    (max_answered_attempt + 2).clamp(cfg.min_retries + 1, cfg.max_retries + 1)
}

fn record_answer(
    probe: &InFlight,
    now: Instant,
    rtt: &mut Rtt,
    window: &mut Window,
    max_answered_attempt: &mut u32,
    cfg: &EngineConfig,
    cap: usize,
) {
    *max_answered_attempt = (*max_answered_attempt).max(probe.attempt);
    if probe.attempt == 0 {
        // Karn: only first tries give an unambiguous RTT.
        rtt.sample(now.duration_since(probe.sent), cfg);
    } else {
        window.on_loss(now, rtt.timeout, cfg.min_parallelism.max(1) as f64);
    }
    window.on_answer(cap as f64);
}

enum Started {
    Pending(OwnedFd),
    /// The kernel answered within `connect` itself (common towards local addresses).
    Done(OwnedFd, Outcome),
}

fn start_connect(addr: SocketAddr) -> std::result::Result<Started, Errno> {
    let family = if addr.is_ipv4() {
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
    match rustix::net::connect(&fd, &addr) {
        Err(Errno::INPROGRESS) => Ok(Started::Pending(fd)),
        Ok(()) => {
            let outcome = connected_outcome(&fd, addr);
            Ok(Started::Done(fd, outcome))
        }
        Err(errno) => match error_outcome(errno) {
            Some(outcome) => Ok(Started::Done(fd, outcome)),
            None => Err(errno),
        },
    }
}

/// Reads what became of a connect: its pending error, or whether it is now connected.
fn read_answer(fd: &OwnedFd, addr: SocketAddr) -> Answer {
    match rustix::net::sockopt::socket_error(fd) {
        Ok(Ok(())) => match rustix::net::getpeername(fd) {
            Ok(Some(_)) => Answer::Final(connected_outcome(fd, addr)),
            _ => Answer::Silent,
        },
        Ok(Err(errno)) => error_outcome(errno).map_or(Answer::Silent, Answer::Final),
        Err(_) => Answer::Silent,
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

/// Closes with a reset rather than FIN: no TIME_WAIT left behind, and the listener's side goes away
/// at once.
fn close_fast(fd: &OwnedFd) {
    let _ = rustix::net::sockopt::set_socket_linger(fd, Some(Duration::ZERO));
}

fn sys(context: &str, errno: Errno) -> Error {
    Error::System(format!("{context}: {}", std::io::Error::from(errno)))
}
