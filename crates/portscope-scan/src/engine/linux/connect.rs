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
//! engine, and so is the loop ([`crate::engine::control`]): here a try is a socket slot whose
//! answer may come within the `connect` call, a probe is put back when descriptors run out, and
//! an expiring try asks its socket once more.

use std::net::SocketAddr;
use std::os::fd::OwnedFd;
use std::time::{Duration, Instant};

use rustix::event::epoll;
use rustix::io::Errno;
use rustix::net::{AddressFamily, SocketFlags, SocketType};

use crate::engine::control::{self, Answer, Network, Sent};
use crate::engine::feed;
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
    let workers = vec![(); threads];
    let mut total = feed::fan_out(
        probes,
        &workers,
        64,
        on_result,
        on_progress,
        |_, source, result, progress| scan(source, &per_thread, result, progress),
    )?;
    total.elapsed = started.elapsed();
    Ok(total)
}

/// Probes every address of `probes` and calls `on_result` once per address with its final
/// outcome, in completion order. `on_progress` gets the number of addresses finished since its
/// last call.
pub fn scan(
    probes: impl Iterator<Item = SocketAddr>,
    cfg: &EngineConfig,
    on_result: impl FnMut(SocketAddr, Outcome),
    on_progress: impl FnMut(u64),
) -> Result<ScanStats> {
    let fd_cap = raise_fd_limit();
    let cfg = EngineConfig {
        max_parallelism: cfg.max_parallelism.min(fd_cap).max(1),
        ..cfg.clone()
    };
    let mut net = EpollNet {
        epfd: epoll::create(epoll::CreateFlags::CLOEXEC).map_err(|e| sys("creating an epoll instance", e))?,
        slots: Vec::new(),
        free: Vec::new(),
        events: Vec::with_capacity(1024),
        immediate: 1.0,
        tries: 0,
    };
    control::run(&mut net, probes, &cfg, false, || false, on_result, on_progress)
}

/// One socket of the engine. Its index is its epoll token for life (and the try's token in the
/// control loop); the socket itself is reused from probe to probe while it ends each one
/// unconnected.
struct Slot {
    fd: Option<OwnedFd>,
    v4: bool,
    /// The port its try is for, while one is in flight.
    probe: Option<SocketAddr>,
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

/// One engine thread's sockets, as the control loop's [`Network`].
struct EpollNet {
    epfd: OwnedFd,
    slots: Vec<Slot>,
    /// Slots without a probe, most recently used last (its socket is the warmest).
    free: Vec<usize>,
    /// What the last `epoll_wait` reported, read by `collect`.
    events: Vec<epoll::Event>,
    /// How often the answer was already there right after `connect` (a moving average): on a
    /// local link the kernel answers within the call, and asking at once saves an epoll round.
    immediate: f64,
    /// Connects started, for asking at once now and then.
    tries: u64,
}

impl Network for EpollNet {
    const IDLE_WAIT: Duration = Duration::from_millis(100);

    /// Starts one try with a non-blocking connect.
    fn queue(&mut self, addr: SocketAddr, _attempt: u32, _phase: u8) -> Result<Sent> {
        let slot = self.take_slot(addr.is_ipv4());
        if self.slots[slot].fd.is_none() {
            match self.open_socket(slot) {
                Ok(()) => {}
                Err(errno) if is_resource_shortage(errno) => return Ok(self.defer(slot, errno)),
                Err(errno) => return Err(sys("creating a socket", errno)),
            }
        }
        self.tries += 1;
        let progress = {
            let Some(fd) = self.slots[slot].fd.as_ref() else {
                return Ok(self.end(slot, Progress::Lost).map_or(Sent::Lost, Sent::Answered));
            };
            match rustix::net::connect(fd, &addr) {
                Err(Errno::INPROGRESS) => {
                    // Ask at once while that tends to pay off, and now and then to find out again.
                    let ask = self.immediate > 0.05 || self.tries.is_multiple_of(64);
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
                    self.tries -= 1;
                    // A socket that failed to bind a local port is not reused.
                    self.slots[slot].fd = None;
                    return Ok(self.defer(slot, errno));
                }
                Err(errno) => match error_outcome(errno) {
                    Some(outcome) => Progress::Answer(outcome),
                    None => return Err(sys(&format!("connecting to {addr}"), errno)),
                },
            }
        };
        if let Progress::Pending = progress {
            self.slots[slot].probe = Some(addr);
            return Ok(Sent::Pending(slot));
        }
        Ok(match self.end(slot, progress) {
            Some(outcome) => Sent::Answered(outcome),
            None => Sent::Lost,
        })
    }

    fn flush(&mut self) -> Result<()> {
        // Each connect went out when it was queued.
        Ok(())
    }

    fn wait(&mut self, wait: Duration) -> Result<()> {
        let timeout = rustix::event::Timespec::try_from(wait).ok();
        self.events.clear();
        match epoll::wait(
            &self.epfd,
            rustix::buffer::spare_capacity(&mut self.events),
            timeout.as_ref(),
        ) {
            Ok(_) | Err(Errno::INTR) => Ok(()),
            Err(e) => Err(sys("waiting on epoll", e)),
        }
    }

    fn collect(&mut self, answers: &mut Vec<Answer>) -> Result<()> {
        let events = std::mem::take(&mut self.events);
        for event in &events {
            let slot = event.data.u64() as usize;
            let Some(Slot {
                fd: Some(fd),
                probe: Some(addr),
                ..
            }) = self.slots.get(slot)
            else {
                // A wake-up for a try already settled.
                continue;
            };
            let addr = *addr;
            match check(fd, addr) {
                Progress::Pending => {}
                progress => answers.push(Answer {
                    addr,
                    phase: 0,
                    outcome: self.end(slot, progress),
                }),
            }
        }
        self.events = events;
        self.events.clear();
        Ok(())
    }

    /// Asks the socket once more, in case its answer is queued behind others.
    fn expired(&mut self, addr: SocketAddr, slot: usize) -> Option<Outcome> {
        let Some(Slot {
            fd: Some(fd),
            probe: Some(probe),
            ..
        }) = self.slots.get(slot)
        else {
            return None;
        };
        if *probe != addr {
            return None;
        }
        match check(fd, addr) {
            Progress::Pending | Progress::Lost => self.end(slot, Progress::Lost),
            progress => self.end(slot, progress),
        }
    }

    fn now(&self) -> Instant {
        Instant::now()
    }
}

impl EpollNet {
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

    /// Puts a probe back after a resource shortage: the slot is free again.
    fn defer(&mut self, slot: usize, errno: Errno) -> Sent {
        self.free.push(slot);
        Sent::Deferred(sys("creating a socket", errno))
    }

    /// Ends the slot's try and frees it: the answer, or `None` when it says nothing about the
    /// port (the socket is closed then, and a new one made for the next try).
    fn end(&mut self, slot: usize, progress: Progress) -> Option<Outcome> {
        self.slots[slot].probe = None;
        self.free.push(slot);
        match progress {
            Progress::Answer(outcome) => Some(outcome),
            Progress::Connected(outcome) => {
                if let Some(fd) = self.slots[slot].fd.take() {
                    // Close with a reset: no TIME_WAIT, and the listener's side goes at once.
                    let _ = rustix::net::sockopt::set_socket_linger(&fd, Some(Duration::ZERO));
                }
                Some(outcome)
            }
            Progress::Pending | Progress::Lost => {
                self.slots[slot].fd = None;
                None
            }
        }
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

/// What a completed handshake on `fd` means ([`control::handshake_outcome`]).
fn connected_outcome(fd: &OwnedFd, addr: SocketAddr) -> Outcome {
    let local = rustix::net::getsockname(fd)
        .ok()
        .and_then(|a| SocketAddr::try_from(a).ok());
    control::handshake_outcome(local, addr)
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
