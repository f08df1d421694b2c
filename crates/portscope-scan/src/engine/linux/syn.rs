//! The SYN engine (`scan -sS`): half-open probes sent in batches on a raw socket, answers read
//! back from raw sockets behind a BPF filter, no connection ever made.
//!
//! Every probe leaves from one source port, reserved for the scan by binding a TCP socket to it,
//! with a keyed cookie as its sequence number ([`crate::packet::CookieKey`]): an answer
//! is checked against the cookie alone, so a forged, stale or foreign packet is ignored. Probes go
//! out 64 at a time with one `sendmmsg`, answers come in 64 at a time with `recvmmsg`; the
//! kernel's filter passes only TCP segments to the source port, so the scan never copies the
//! host's other traffic. ICMP errors come from a raw ICMP socket and count when they quote a
//! probe's cookie.
//!
//! Timing, the window and the retry rule are shared with the connect engine
//! ([`crate::engine::timing`]): an
//! RTT estimate sets the timeout, the window grows on answers and halves when a retry is
//! answered, a silent port gets one try more than the highest try ever answered. An open port is
//! confirmed by a second probe (its own cookie) before it is reported, unless turned off.
//!
//! The kernel answers each SYN-ACK with a reset of its own; a firewall rule for the scan's
//! lifetime ([`super::firewall`]) keeps that out and the scan sends its own reset instead.
//! A stop signal (SIGINT, SIGTERM, SIGHUP) ends the scan in order, so the rule is removed.

use std::collections::HashMap;
use std::mem::{size_of, zeroed};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr, UdpSocket};
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::sync::atomic::{AtomicI32, Ordering};
use std::time::{Duration, Instant};

use portscope_core::error::{Error, Result};

use super::firewall::{RstFilter, SCAN_MARK};
use crate::engine::control::{self, Answer, BATCH, Network, Sent};
use crate::engine::feed;
use crate::engine::stop::Stop;
use crate::packet::{self, ACK, CookieKey, RST, SYN};
use crate::report::{EngineConfig, Outcome, PortState, Reason, ScanStats};

/// What the SYN engine does beyond the common [`EngineConfig`].
#[derive(Clone, Debug)]
pub struct SynOptions {
    /// Probe an open port a second time before reporting it.
    pub confirm: bool,
    /// Add the firewall rule that keeps the kernel's resets out.
    pub firewall: bool,
}

impl Default for SynOptions {
    fn default() -> SynOptions {
        SynOptions {
            confirm: true,
            firewall: true,
        }
    }
}

/// How a SYN scan ended.
#[derive(Debug)]
pub struct SynRun {
    pub stats: ScanStats,
    /// The stop signal that ended the scan early, if one did.
    pub stopped_by: Option<i32>,
    /// What the user should know (e.g. that the firewall rule could not be added).
    pub notes: Vec<String>,
}

/// Whether this process may open raw sockets (root or CAP_NET_RAW in its namespace).
pub(crate) fn raw_sockets_allowed() -> bool {
    // SAFETY: socket(2) with constant arguments; the descriptor is owned at once.
    let fd = unsafe {
        libc::socket(
            libc::AF_INET,
            libc::SOCK_RAW | libc::SOCK_CLOEXEC,
            libc::IPPROTO_TCP,
        )
    };
    if fd < 0 {
        return false;
    }
    // SAFETY: fd was just returned by socket(2) and is owned by nothing else.
    drop(unsafe { OwnedFd::from_raw_fd(fd) });
    true
}

/// Whether a stop signal has arrived, shared by the engine's threads (a pending signal is taken
/// by the one thread whose poll of [`Stop`] sees it).
struct Stopped<'a> {
    signals: Option<&'a dyn Stop>,
    signal: AtomicI32,
}

impl Stopped<'_> {
    fn check(&self) -> Option<i32> {
        match self.signal.load(Ordering::Relaxed) {
            0 => {}
            signal => return Some(signal),
        }
        let signal = self.signals.and_then(|s| s.pending())?;
        self.signal.store(signal, Ordering::Relaxed);
        Some(signal)
    }
}

/// Scans every address of `probes` with SYN probes and calls `on_result` once per address.
/// `threads` engines share the probes, each with its own source port and raw sockets: on a local
/// link most of a probe's cost is the kernel's work in the sending thread, so a second core
/// nearly halves the time.
pub fn scan(
    probes: impl Iterator<Item = SocketAddr> + Send,
    cfg: &EngineConfig,
    opts: &SynOptions,
    threads: usize,
    stop: Option<&dyn Stop>,
    on_result: impl FnMut(SocketAddr, Outcome) + Send,
    on_progress: impl FnMut(u64) + Send,
) -> Result<SynRun> {
    let started = Instant::now();
    let threads = threads.max(1);
    let mut notes = Vec::new();
    let mut sports = Vec::new();
    let mut reservations = Vec::new();
    for _ in 0..threads {
        let (port, held) = reserve_port()?;
        sports.push(port);
        reservations.push(held);
    }
    let firewall_ports: Vec<u16> = sports.iter().flat_map(|&p| [p, p + 1]).collect();
    // The rule is added by a thread of its own while the first probes go out: two runs of nft
    // cost tens of milliseconds, a tenth of a full scan of a local host, and a kernel reset that
    // slips out before the rule is in place only ends a half-open connection the scan's own
    // reset ends too. The guard waits for that thread and removes the rule on every way out.
    let mut filter = PendingFilter(opts.firewall.then(|| {
        let ports = firewall_ports.clone();
        std::thread::spawn(move || RstFilter::install(&ports))
    }));
    let mut key = [0u8; 16];
    random_bytes(&mut key)?;
    let key = CookieKey(key);
    let stop = Stopped {
        signals: stop,
        signal: AtomicI32::new(0),
    };
    let per_thread = EngineConfig {
        max_parallelism: (cfg.max_parallelism / threads).max(1),
        rate: cfg.rate.map(|r| r / threads as f64),
        ..cfg.clone()
    };
    let mut stats = feed::fan_out(
        probes,
        &sports,
        256,
        on_result,
        on_progress,
        |&sport, source, result, progress| {
            worker(source, &per_thread, opts, key, sport, &stop, result, progress)
        },
    )?;
    if let Some(note) = filter.settle() {
        notes.push(note);
    }
    drop(filter);
    stats.elapsed = started.elapsed();
    drop(reservations);
    Ok(SynRun {
        stats,
        stopped_by: stop.check(),
        notes,
    })
}

/// The firewall rule, being added or added; dropping it waits for the adding and removes the rule.
struct PendingFilter(Option<std::thread::JoinHandle<Result<RstFilter>>>);

impl PendingFilter {
    /// Waits for the rule; a note for the user when it could not be added.
    fn settle(&mut self) -> Option<String> {
        let handle = self.0.take()?;
        match handle.join() {
            Ok(Ok(filter)) => {
                drop(filter);
                None
            }
            Ok(Err(e)) => Some(format!(
                "{e}; the kernel's own resets went out to open ports (harmless)"
            )),
            Err(_) => Some("adding the firewall rule failed".into()),
        }
    }
}

impl Drop for PendingFilter {
    fn drop(&mut self) {
        let _ = self.settle();
    }
}

/// One engine: its own source port and raw sockets, probes from the shared iterator, run by the
/// control loop every engine shares ([`crate::engine::control`]).
#[allow(clippy::too_many_arguments)]
fn worker(
    probes: impl Iterator<Item = SocketAddr>,
    cfg: &EngineConfig,
    opts: &SynOptions,
    key: CookieKey,
    sport: u16,
    stop: &Stopped<'_>,
    on_result: impl FnMut(SocketAddr, Outcome),
    on_progress: impl FnMut(u64),
) -> Result<ScanStats> {
    let mut net = RawNet {
        key,
        sport,
        v4: None,
        v6: None,
        sources: HashMap::new(),
        batch: Vec::with_capacity(BATCH),
        resets: Vec::new(),
    };
    control::run(
        &mut net,
        probes,
        cfg,
        opts.confirm,
        || stop.check().is_some(),
        on_result,
        on_progress,
    )
}

/// Fills `buf` from the kernel's random source.
pub(crate) fn random_bytes(buf: &mut [u8]) -> Result<()> {
    let mut filled = 0;
    while filled < buf.len() {
        // SAFETY: the pointer and length describe the unfilled tail of `buf`.
        let rc = unsafe { libc::getrandom(buf[filled..].as_mut_ptr().cast(), buf.len() - filled, 0) };
        if rc < 0 {
            let err = std::io::Error::last_os_error();
            if err.raw_os_error() == Some(libc::EINTR) {
                continue;
            }
            return Err(Error::System(format!("reading random bytes: {err}")));
        }
        filled += rc as usize;
    }
    Ok(())
}

/// Binds TCP sockets (IPv4 and IPv6) to a random high port and the one after it, so no other
/// socket of this host takes them while the scan sends from them (the second one carries the
/// confirmation probes).
fn reserve_port() -> Result<(u16, Vec<std::net::TcpListener>)> {
    let mut seed = [0u8; 2];
    random_bytes(&mut seed)?;
    let base = u16::from_ne_bytes(seed);
    for i in 0..64u16 {
        let port = 40000 + (base.wrapping_add(i.wrapping_mul(997)) % 20000);
        let held: std::io::Result<Vec<_>> = [port, port + 1]
            .into_iter()
            .flat_map(|p| {
                [
                    SocketAddr::from(([0, 0, 0, 0], p)),
                    SocketAddr::from((std::net::Ipv6Addr::UNSPECIFIED, p)),
                ]
            })
            .map(socket2_bind)
            .collect();
        match held {
            Ok(held) => return Ok((port, held)),
            Err(e) if e.kind() == std::io::ErrorKind::AddrInUse => {}
            Err(e) => return Err(Error::System(format!("reserving the scan's source port: {e}"))),
        }
    }
    Err(Error::System(
        "no free local port for the scan's source port".into(),
    ))
}

/// A bound, never-listening TCP socket: it holds the port without accepting anything.
fn socket2_bind(addr: SocketAddr) -> std::io::Result<std::net::TcpListener> {
    use rustix::net::{AddressFamily, SocketFlags, SocketType};
    let family = if addr.is_ipv4() {
        AddressFamily::INET
    } else {
        AddressFamily::INET6
    };
    let fd = rustix::net::socket_with(family, SocketType::STREAM, SocketFlags::CLOEXEC, None)?;
    if addr.is_ipv6() {
        rustix::net::sockopt::set_ipv6_v6only(&fd, true)?;
    }
    rustix::net::bind(&fd, &addr)?;
    // Held as a TcpListener only for ownership; listen(2) is never called.
    Ok(std::net::TcpListener::from(fd))
}

/// One family's raw sockets: TCP (send and receive, filtered to the source port) and ICMP.
struct Family {
    tcp: OwnedFd,
    icmp: OwnedFd,
}

/// The raw sockets of one engine thread, as the control loop's [`Network`].
struct RawNet {
    key: CookieKey,
    sport: u16,
    v4: Option<Family>,
    v6: Option<Family>,
    /// The local address the route to each target leaves from (the checksum covers it).
    sources: HashMap<IpAddr, IpAddr>,
    /// Probes built and not yet sent: (target, segment, length).
    batch: Vec<(SocketAddr, [u8; packet::SYN_LEN], usize)>,
    /// Our resets to send after SYN-ACKs.
    resets: Vec<(SocketAddr, [u8; packet::SYN_LEN], usize)>,
}

impl Network for RawNet {
    const IDLE_WAIT: Duration = Duration::from_millis(50);

    fn queue(&mut self, addr: SocketAddr, _attempt: u32, phase: u8) -> Result<Sent> {
        let src = self.source(addr.ip())?;
        self.family(addr.is_ipv4())?;
        let sport = self.sport + u16::from(phase);
        let cookie = self.key.cookie(src, sport, addr.ip(), addr.port(), phase);
        let mut seg = [0u8; packet::SYN_LEN];
        let len = packet::tcp_segment(&mut seg, src, addr.ip(), sport, addr.port(), cookie, 0, SYN);
        self.batch.push((addr, seg, len));
        Ok(Sent::Pending(0))
    }

    fn flush(&mut self) -> Result<()> {
        RawNet::flush(self)
    }

    fn expired(&mut self, _addr: SocketAddr, _token: usize) -> Option<Outcome> {
        // An answer is read as soon as it is there; there is nothing more to ask.
        None
    }

    fn wait(&mut self, wait: Duration) -> Result<()> {
        self.poll(wait)
    }

    fn collect(&mut self, answers: &mut Vec<Answer>) -> Result<()> {
        self.drain(answers)
    }

    fn now(&self) -> Instant {
        Instant::now()
    }
}

impl RawNet {
    /// Sends the batch of probes (and any resets owed) with one `sendmmsg` per family.
    fn flush(&mut self) -> Result<()> {
        let batch = std::mem::take(&mut self.batch);
        let resets = std::mem::take(&mut self.resets);
        for list in [&batch, &resets] {
            for v4 in [true, false] {
                let items: Vec<_> = list.iter().filter(|(a, _, _)| a.is_ipv4() == v4).collect();
                if items.is_empty() {
                    continue;
                }
                let fd = self.family(v4)?.tcp.as_raw_fd();
                send_batch(fd, &items)?;
            }
        }
        self.batch = batch;
        self.batch.clear();
        Ok(())
    }

    fn source(&mut self, dst: IpAddr) -> Result<IpAddr> {
        if let Some(src) = self.sources.get(&dst) {
            return Ok(*src);
        }
        // A connected UDP socket asks the routing table which address a packet to `dst` leaves
        // from; no packet is sent.
        let bind: SocketAddr = if dst.is_ipv4() {
            SocketAddr::from(([0, 0, 0, 0], 0))
        } else {
            SocketAddr::from((std::net::Ipv6Addr::UNSPECIFIED, 0))
        };
        let src = UdpSocket::bind(bind)
            .and_then(|s| {
                s.connect(SocketAddr::new(dst, 9))?;
                s.local_addr()
            })
            .map_err(|e| Error::System(format!("no route to {dst}: {e}")))?
            .ip();
        if self.sources.len() > 4096 {
            self.sources.clear();
        }
        self.sources.insert(dst, src);
        Ok(src)
    }

    fn family(&mut self, v4: bool) -> Result<&Family> {
        let slot = if v4 { &mut self.v4 } else { &mut self.v6 };
        if slot.is_none() {
            *slot = Some(open_family(v4, self.sport)?);
        }
        slot.as_ref().ok_or_else(|| Error::System("raw socket".into()))
    }

    /// Sleeps until a raw socket is readable or `wait` passes.
    fn poll(&self, wait: Duration) -> Result<()> {
        let mut fds: Vec<libc::pollfd> = [&self.v4, &self.v6]
            .into_iter()
            .flatten()
            .flat_map(|f| [f.tcp.as_raw_fd(), f.icmp.as_raw_fd()])
            .map(|fd| libc::pollfd {
                fd,
                events: libc::POLLIN,
                revents: 0,
            })
            .collect();
        let ms = i32::try_from(wait.as_millis().max(u128::from(!wait.is_zero()))).unwrap_or(i32::MAX);
        // SAFETY: fds is a valid array of pollfd for its length.
        let rc = unsafe { libc::poll(fds.as_mut_ptr(), fds.len() as libc::nfds_t, ms) };
        if rc < 0 {
            let err = std::io::Error::last_os_error();
            if err.raw_os_error() != Some(libc::EINTR) {
                return Err(Error::System(format!("waiting for answers: {err}")));
            }
        }
        Ok(())
    }

    /// Reads every queued answer.
    fn drain(&mut self, answers: &mut Vec<Answer>) -> Result<()> {
        for v4 in [true, false] {
            let Some(fam) = (if v4 { &self.v4 } else { &self.v6 }) else {
                continue;
            };
            let (tcp, icmp) = (fam.tcp.as_raw_fd(), fam.icmp.as_raw_fd());
            loop {
                let got = recv_batch(tcp, v4)?;
                let n = got.len();
                for (from, bytes) in got {
                    let parsed = if v4 {
                        packet::parse_tcp_v4(&bytes)
                    } else {
                        // An answer is addressed to the address the probe left from; a segment
                        // from a host never probed has none and is no answer.
                        let Some(&to) = self.sources.get(&from) else {
                            continue;
                        };
                        packet::parse_tcp(from, to, &bytes)
                    };
                    if let Ok(answer) = parsed {
                        answers.extend(self.on_tcp(answer));
                    }
                }
                if n < BATCH {
                    break;
                }
            }
            loop {
                let got = recv_batch(icmp, v4)?;
                let n = got.len();
                for (from, bytes) in got {
                    let parsed = if v4 {
                        packet::parse_icmp_v4(&bytes)
                    } else {
                        packet::parse_icmp_v6(from, &bytes)
                    };
                    if let Ok(answer) = parsed {
                        answers.extend(self.on_icmp(answer));
                    }
                }
                if n < BATCH {
                    break;
                }
            }
        }
        if !self.resets.is_empty() {
            self.flush()?;
        }
        Ok(())
    }

    /// The answer a TCP segment carries, when it answers one of our probes (its cookie).
    fn on_tcp(&mut self, a: packet::TcpAnswer) -> Option<Answer> {
        // The confirmation probe leaves from the next port: the target may still hold the first
        // probe's half-open connection (when our reset was lost), and a second SYN on the same
        // 4-tuple would be answered with a reset.
        let phase = match a.dport.wrapping_sub(self.sport) {
            0 => 0,
            1 => 1,
            _ => return None,
        };
        let addr = SocketAddr::new(a.src, a.sport);
        let src = self.sources.get(&a.src).copied()?;
        let cookie = self.key.cookie(src, a.dport, a.src, a.sport, phase);
        if a.flags & ACK == 0 || a.ack != cookie.wrapping_add(1) {
            return None;
        }
        if a.flags & SYN != 0 {
            // Our own reset ends the target's half-open connection, for late and repeated
            // SYN-ACKs too (the target retransmits while its reset is lost).
            let mut seg = [0u8; packet::SYN_LEN];
            let len = packet::tcp_segment(
                &mut seg,
                src,
                a.src,
                a.dport,
                a.sport,
                cookie.wrapping_add(1),
                0,
                RST,
            );
            self.resets.push((addr, seg, len));
        }
        let outcome = if a.flags & SYN != 0 {
            Outcome {
                state: PortState::Open,
                reason: Reason::SynAck,
            }
        } else if a.flags & RST != 0 {
            Outcome {
                state: PortState::Closed,
                reason: Reason::Reset,
            }
        } else {
            return None;
        };
        Some(Answer {
            addr,
            phase,
            outcome: Some(outcome),
        })
    }

    /// The answer an ICMP error carries, when it quotes one of our probes (its cookie).
    fn on_icmp(&mut self, a: packet::IcmpAnswer) -> Option<Answer> {
        let phase = match a.sport.wrapping_sub(self.sport) {
            0 => 0,
            1 => 1,
            _ => return None,
        };
        if a.proto != 6 {
            return None;
        }
        let addr = SocketAddr::new(a.dst, a.dport);
        let src = self.sources.get(&a.dst).copied()?;
        if a.seq != self.key.cookie(src, a.sport, a.dst, a.dport, phase) {
            return None;
        }
        Some(Answer {
            addr,
            phase,
            outcome: Some(a.outcome()),
        })
    }
}

fn open_family(v4: bool, sport: u16) -> Result<Family> {
    let (domain, icmp_proto) = if v4 {
        (libc::AF_INET, libc::IPPROTO_ICMP)
    } else {
        (libc::AF_INET6, libc::IPPROTO_ICMPV6)
    };
    let tcp = raw_socket(domain, libc::IPPROTO_TCP)?;
    let icmp = raw_socket(domain, icmp_proto)?;
    // Room for a whole burst of answers between two reads.
    set_int(&tcp, libc::SOL_SOCKET, libc::SO_RCVBUFFORCE, 16 << 20)?;
    set_int(&tcp, libc::SOL_SOCKET, libc::SO_SNDBUFFORCE, 4 << 20)?;
    set_int(&tcp, libc::SOL_SOCKET, libc::SO_MARK, SCAN_MARK as i32)?;
    set_int(&icmp, libc::SOL_SOCKET, libc::SO_RCVBUFFORCE, 4 << 20)?;
    if !v4 {
        // The kernel then checks each segment's checksum (offset 16 in TCP) as TCP itself does,
        // knowing which came from this host's stack with the sum left to offload; the parser's
        // own check cannot tell those apart. (An IPv4 raw socket has no such option; ICMPv6
        // raw sockets are checked always.) On sending, the kernel fills in the same sum.
        set_int(&tcp, libc::IPPROTO_IPV6, libc::IPV6_CHECKSUM, 16)?;
    }
    attach_port_filter(&tcp, v4, sport)?;
    Ok(Family { tcp, icmp })
}

fn raw_socket(domain: i32, proto: i32) -> Result<OwnedFd> {
    // SAFETY: socket(2) with constant arguments; the descriptor is owned at once.
    let fd = unsafe {
        libc::socket(
            domain,
            libc::SOCK_RAW | libc::SOCK_NONBLOCK | libc::SOCK_CLOEXEC,
            proto,
        )
    };
    if fd < 0 {
        let err = std::io::Error::last_os_error();
        return Err(match err.raw_os_error() {
            Some(libc::EPERM) | Some(libc::EACCES) => Error::Permission {
                what: "opening a raw socket for a SYN scan".into(),
                hint: "run as root or with CAP_NET_RAW, or use -sT".into(),
            },
            _ => Error::System(format!("opening a raw socket: {err}")),
        });
    }
    // SAFETY: fd was just returned by socket(2) and is owned by nothing else.
    Ok(unsafe { OwnedFd::from_raw_fd(fd) })
}

fn set_int(fd: &OwnedFd, level: i32, name: i32, value: i32) -> Result<()> {
    // SAFETY: the option value is a live i32 of the size passed.
    let rc = unsafe {
        libc::setsockopt(
            fd.as_raw_fd(),
            level,
            name,
            (&value as *const i32).cast(),
            size_of::<i32>() as libc::socklen_t,
        )
    };
    if rc < 0 {
        return Err(Error::System(format!(
            "setting a raw socket option: {}",
            std::io::Error::last_os_error()
        )));
    }
    Ok(())
}

/// A classic BPF program passing only TCP segments to `sport` and `sport + 1`: an IPv4 raw socket sees the IP
/// header first (its length from the IHL field), an IPv6 one the TCP header alone.
fn attach_port_filter(fd: &OwnedFd, v4: bool, sport: u16) -> Result<()> {
    let stmt = |code: u32, k: u32| libc::sock_filter {
        code: code as u16,
        jt: 0,
        jf: 0,
        k,
    };
    let jeq = |k: u32, jt: u8, jf: u8| libc::sock_filter {
        code: (libc::BPF_JMP | libc::BPF_JEQ | libc::BPF_K) as u16,
        jt,
        jf,
        k,
    };
    let mut prog = Vec::new();
    if v4 {
        // ldxb 4*([0]&0xf); ldh [x+2]
        prog.push(stmt(libc::BPF_LDX | libc::BPF_B | libc::BPF_MSH, 0));
        prog.push(stmt(libc::BPF_LD | libc::BPF_H | libc::BPF_IND, 2));
    } else {
        prog.push(stmt(libc::BPF_LD | libc::BPF_H | libc::BPF_ABS, 2));
    }
    // The scan's port or the next one (the confirmation probes').
    prog.push(jeq(u32::from(sport), 1, 0));
    prog.push(jeq(u32::from(sport) + 1, 0, 1));
    prog.push(stmt(libc::BPF_RET | libc::BPF_K, 0xffff));
    prog.push(stmt(libc::BPF_RET | libc::BPF_K, 0));
    let fprog = libc::sock_fprog {
        len: prog.len() as u16,
        filter: prog.as_mut_ptr(),
    };
    // SAFETY: fprog points at `prog`, alive for the call; the kernel copies the program.
    let rc = unsafe {
        libc::setsockopt(
            fd.as_raw_fd(),
            libc::SOL_SOCKET,
            libc::SO_ATTACH_FILTER,
            (&fprog as *const libc::sock_fprog).cast(),
            size_of::<libc::sock_fprog>() as libc::socklen_t,
        )
    };
    if rc < 0 {
        return Err(Error::System(format!(
            "attaching the scan's packet filter: {}",
            std::io::Error::last_os_error()
        )));
    }
    Ok(())
}

/// A socket address in the C layout `sendmmsg` wants (the port is 0 for a raw socket).
#[repr(C)]
union RawAddr {
    v4: libc::sockaddr_in,
    v6: libc::sockaddr_in6,
}

fn raw_addr(ip: IpAddr) -> (RawAddr, libc::socklen_t) {
    match ip {
        IpAddr::V4(a) => {
            // SAFETY: sockaddr_in is plain old data; all-zero is a valid value.
            let mut sa: libc::sockaddr_in = unsafe { zeroed() };
            sa.sin_family = libc::AF_INET as libc::sa_family_t;
            sa.sin_addr.s_addr = u32::from_ne_bytes(a.octets());
            (
                RawAddr { v4: sa },
                size_of::<libc::sockaddr_in>() as libc::socklen_t,
            )
        }
        IpAddr::V6(a) => {
            // SAFETY: as above.
            let mut sa: libc::sockaddr_in6 = unsafe { zeroed() };
            sa.sin6_family = libc::AF_INET6 as libc::sa_family_t;
            sa.sin6_addr.s6_addr = a.octets();
            (
                RawAddr { v6: sa },
                size_of::<libc::sockaddr_in6>() as libc::socklen_t,
            )
        }
    }
}

type Item = (SocketAddr, [u8; packet::SYN_LEN], usize);

/// Sends every item, `BATCH` per `sendmmsg`; a full send buffer is waited out briefly.
fn send_batch(fd: RawFd, items: &[&Item]) -> Result<()> {
    let mut addrs: Vec<(RawAddr, libc::socklen_t)> = items.iter().map(|(a, _, _)| raw_addr(a.ip())).collect();
    let mut bufs: Vec<[u8; packet::SYN_LEN]> = items.iter().map(|(_, b, _)| *b).collect();
    let mut iovs: Vec<libc::iovec> = bufs
        .iter_mut()
        .zip(items)
        .map(|(b, (_, _, len))| libc::iovec {
            iov_base: b.as_mut_ptr().cast(),
            iov_len: *len,
        })
        .collect();
    let mut msgs: Vec<libc::mmsghdr> = iovs
        .iter_mut()
        .zip(addrs.iter_mut())
        .map(|(iov, (addr, len))| {
            // SAFETY: msghdr is plain old data; all-zero is a valid value.
            let mut hdr: libc::msghdr = unsafe { zeroed() };
            hdr.msg_name = (addr as *mut RawAddr).cast();
            hdr.msg_namelen = *len;
            hdr.msg_iov = iov;
            hdr.msg_iovlen = 1;
            libc::mmsghdr {
                msg_hdr: hdr,
                msg_len: 0,
            }
        })
        .collect();
    let mut done = 0;
    let mut stalls = 0;
    while done < msgs.len() {
        let n = (msgs.len() - done).min(BATCH);
        // SAFETY: msgs[done..done+n] are valid mmsghdr whose pointers (names, iovecs, buffers)
        // point into vectors alive for the call.
        let rc = unsafe { libc::sendmmsg(fd, msgs[done..].as_mut_ptr(), n as u32, 0) };
        if rc > 0 {
            done += rc as usize;
            stalls = 0;
            continue;
        }
        let err = std::io::Error::last_os_error();
        match err.raw_os_error() {
            Some(libc::EAGAIN) | Some(libc::ENOBUFS) | Some(libc::EINTR) if stalls < 1000 => {
                stalls += 1;
                std::thread::sleep(Duration::from_micros(200));
            }
            // A probe the kernel refuses outright (a local firewall, no route) is lost like a
            // dropped one; the retry logic sees it as silence.
            Some(libc::EPERM) | Some(libc::EACCES) | Some(libc::EHOSTUNREACH) | Some(libc::ENETUNREACH) => {
                done += 1;
            }
            _ => return Err(Error::System(format!("sending probes: {err}"))),
        }
    }
    Ok(())
}

/// Reads up to `BATCH` packets without blocking: (sender, bytes).
fn recv_batch(fd: RawFd, v4: bool) -> Result<Vec<(IpAddr, Vec<u8>)>> {
    // The whole of any answer, so its checksum can be checked: an ICMP error over IPv4 is at
    // most 576 bytes (RFC 1812 §4.3.2.3), and a SYN-ACK or reset carries no data worth more.
    const SNAP: usize = 576;
    let mut bufs = vec![[0u8; SNAP]; BATCH];
    // SAFETY: sockaddr_in6 is plain old data; all-zero is valid. It is large enough for both.
    let mut names: Vec<libc::sockaddr_in6> = vec![unsafe { zeroed() }; BATCH];
    let mut iovs: Vec<libc::iovec> = bufs
        .iter_mut()
        .map(|b| libc::iovec {
            iov_base: b.as_mut_ptr().cast(),
            iov_len: SNAP,
        })
        .collect();
    let mut msgs: Vec<libc::mmsghdr> = iovs
        .iter_mut()
        .zip(names.iter_mut())
        .map(|(iov, name)| {
            // SAFETY: as above.
            let mut hdr: libc::msghdr = unsafe { zeroed() };
            hdr.msg_name = (name as *mut libc::sockaddr_in6).cast();
            hdr.msg_namelen = size_of::<libc::sockaddr_in6>() as libc::socklen_t;
            hdr.msg_iov = iov;
            hdr.msg_iovlen = 1;
            libc::mmsghdr {
                msg_hdr: hdr,
                msg_len: 0,
            }
        })
        .collect();
    // SAFETY: msgs holds BATCH valid headers pointing into live buffers; a null timeout is allowed.
    let rc = unsafe {
        libc::recvmmsg(
            fd,
            msgs.as_mut_ptr(),
            BATCH as u32,
            libc::MSG_DONTWAIT,
            std::ptr::null_mut(),
        )
    };
    if rc < 0 {
        let err = std::io::Error::last_os_error();
        return match err.raw_os_error() {
            Some(libc::EAGAIN) | Some(libc::EINTR) => Ok(Vec::new()),
            _ => Err(Error::System(format!("reading answers: {err}"))),
        };
    }
    let mut out = Vec::with_capacity(rc as usize);
    for i in 0..rc as usize {
        let len = (msgs[i].msg_len as usize).min(SNAP);
        let from = if v4 {
            // SAFETY: for an AF_INET socket the kernel wrote a sockaddr_in at the start of the
            // larger sockaddr_in6; read_unaligned copies it out whatever the alignment.
            let sa: libc::sockaddr_in =
                unsafe { std::ptr::read_unaligned((&names[i] as *const libc::sockaddr_in6).cast()) };
            IpAddr::V4(Ipv4Addr::from(u32::from_be(sa.sin_addr.s_addr)))
        } else {
            IpAddr::V6(Ipv6Addr::from(names[i].sin6_addr.s6_addr))
        };
        out.push((from, bufs[i][..len].to_vec()));
    }
    Ok(out)
}
