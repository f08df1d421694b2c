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
//! Timing, the window and the retry rule are [`crate::engine::timing`]'s, shared with the SYN
//! engine. The loop itself is still this engine's own rather than [`crate::engine::control`]'s:
//! here a try is a socket slot whose answer may come within the `connect` call, a probe is put
//! back when descriptors run out, and an expiring try asks its socket once more.

use std::cmp::Reverse;
use std::collections::{BinaryHeap, VecDeque};
use std::net::SocketAddr;
use std::os::fd::OwnedFd;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use rustix::event::epoll;
use rustix::io::Errno;
use rustix::net::{AddressFamily, SocketFlags, SocketType};

use crate::engine::feed::{Batches, Pacer, lock};
use crate::engine::timing::{Silence, Timing};
use crate::report::{EngineConfig, Outcome, PortState, Reason, ScanStats};
use portscope_core::error::{Error, Result};

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
                    let source = Batches::new(&shared, 64);
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
    let mut engine = Engine {
        epfd: epoll::create(epoll::CreateFlags::CLOEXEC).map_err(|e| sys("creating an epoll instance", e))?,
        slots: Vec::new(),
        free: Vec::new(),
        timers: BinaryHeap::new(),
        retry: VecDeque::new(),
        given_up: Vec::new(),
        in_flight: 0,
        seq: 0,
        timing: Timing::new(cfg, cap),
        immediate: 1.0,
        stats: ScanStats::default(),
        finished: 0,
        starved: 0,
    };
    let mut probes = probes.peekable();
    let mut events: Vec<epoll::Event> = Vec::with_capacity(1024);
    let mut pacer = Pacer::new(started);
    let mut report = |addr: SocketAddr, outcome: Outcome| on_result(addr, outcome);

    loop {
        // Send while the window, the descriptor cap and the rate allow.
        let mut short_of_fds = false;
        while engine.in_flight < engine.timing.limit() {
            if let Some(rate) = cfg.rate
                && !pacer.take(rate, Instant::now())
            {
                break;
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
                .partition(|(addr, a)| engine.timing.revisit(addr.ip(), *a));
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
            wait = wait.min(pacer.until_next(now));
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
    engine.timing.record(&mut stats);
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
    slots: Vec<Slot>,
    /// Slots without a probe, most recently used last (its socket is the warmest).
    free: Vec<usize>,
    timers: BinaryHeap<Reverse<(Instant, usize, u64)>>,
    retry: VecDeque<(SocketAddr, u32)>,
    /// Ports that went silent at the try limit in force then; revisited when all else is done.
    given_up: Vec<(SocketAddr, u32)>,
    in_flight: usize,
    seq: u64,
    timing: Timing<'a>,
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
                let wait = self.timing.wait(attempt);
                self.timers.push(Reverse((sent + wait, slot, self.seq)));
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
        // The window's cap drops to what is in flight.
        self.timing.cap = self.in_flight.max(1);
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
                match self.timing.silent(probe.addr.ip(), probe.attempt) {
                    Silence::Retry(next) => self.retry.push_back((probe.addr, next)),
                    Silence::Settle => {
                        report(probe.addr, filtered(Reason::NoResponse));
                        self.finished += 1;
                    }
                    Silence::Park => self.given_up.push((probe.addr, probe.attempt)),
                }
                return;
            }
        };
        self.timing.answered(
            probe.addr.ip(),
            probe.attempt,
            Some(now.duration_since(probe.sent)),
            now,
        );
        report(probe.addr, outcome);
        self.finished += 1;
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
