//! The UDP engine (`scan -sU`): one datagram per port, carrying the protocol's own request where
//! portscope knows one ([`crate::udp_payloads`]); an answer means open, an ICMP port
//! unreachable closed, and silence open|filtered.
//!
//! No raw socket is needed: probes leave from one unconnected UDP socket per address family with
//! `IP_RECVERR` set, and the kernel queues each ICMP error that comes back for it, with the
//! probe's destination and the ICMP type and code, on the socket's error queue.
//!
//! Silence is ambiguous because targets rate-limit their ICMP errors (Linux by default sends a
//! burst of about 6, then one per second per peer: `net.ipv4.icmp_ratelimit`). So the engine
//! probes in rounds: every port once, quickly; then the silent ones again, spaced by the rate at
//! which errors actually came back in the round before (measured, not assumed), until a round
//! paced that way teaches nothing new or the retries run out. It finds the truth at the target's
//! pace rather than finishing fast with closed ports reported as open|filtered.

use std::collections::HashMap;
use std::mem::{size_of, zeroed};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr, UdpSocket};
use std::os::fd::{AsFd, AsRawFd, RawFd};
use std::time::{Duration, Instant};

use portscope_core::error::{Error, Result};

use crate::engine::stop::Stop;
use crate::report::{EngineConfig, Outcome, PortState, Reason, ScanStats};
use crate::udp_payloads;

/// The longest gap between two retries, whatever the measured error rate: a little over Linux's
/// default of one ICMP error per second per peer.
const MAX_GAP: Duration = Duration::from_millis(1100);

/// How a UDP scan ended.
#[derive(Debug)]
pub struct UdpRun {
    pub stats: ScanStats,
    pub stopped_by: Option<i32>,
    /// The pace of the last round, when the target was found to rate-limit its errors.
    pub paced_gap: Option<Duration>,
}

/// Probes every address of `probes` over UDP and calls `on_result` once per address.
pub fn scan(
    probes: impl Iterator<Item = SocketAddr>,
    cfg: &EngineConfig,
    stop: Option<&dyn Stop>,
    mut on_result: impl FnMut(SocketAddr, Outcome),
    mut on_progress: impl FnMut(u64),
) -> Result<UdpRun> {
    let started = Instant::now();
    let mut e = Engine {
        v4: None,
        v6: None,
        pending: HashMap::new(),
        stats: ScanStats::default(),
        srtt: None,
        answered_round: 0,
        errors_seen: 0,
    };
    let mut stopped_by = None;
    let max_rounds = cfg.max_retries + 1;
    let mut gap = cfg
        .rate
        .map_or(Duration::ZERO, |r| Duration::from_secs_f64(1.0 / r));
    let mut paced_gap = None;
    let mut round_probes: Vec<SocketAddr> = Vec::new();
    let mut first = Some(probes);
    for round in 0..max_rounds {
        let round_start = Instant::now();
        e.answered_round = 0;
        let mut sent = 0u64;
        let mut next_send = Instant::now();
        // Round 0 takes its ports from the plan, lazily; later rounds from what stayed silent.
        let list: Box<dyn Iterator<Item = SocketAddr>> = match first.take() {
            Some(p) => Box::new(p),
            None => Box::new(std::mem::take(&mut round_probes).into_iter()),
        };
        for addr in list {
            if round > 0 && !e.pending.contains_key(&addr) {
                continue;
            }
            // Pace: wait out the gap, reading answers meanwhile.
            loop {
                if let Some(signal) = stop.and_then(|s| s.pending()) {
                    stopped_by = Some(signal);
                    break;
                }
                let now = Instant::now();
                if now >= next_send {
                    break;
                }
                e.poll(next_send - now)?;
                e.drain(&mut on_result)?;
                on_progress(e.take_finished());
            }
            if stopped_by.is_some() {
                break;
            }
            e.send(addr, round)?;
            sent += 1;
            if round > 0 {
                e.stats.retries += 1;
            }
            next_send = Instant::now() + gap;
            e.drain(&mut on_result)?;
            on_progress(e.take_finished());
        }
        if stopped_by.is_some() {
            break;
        }
        // The round's last answers: a few round trips, at least 50 ms.
        let wait = e
            .srtt
            .map_or(cfg.initial_timeout, |s| s.mul_f64(8.0))
            .clamp(cfg.min_timeout.max(Duration::from_millis(50)), cfg.max_timeout);
        let deadline = Instant::now() + wait;
        while Instant::now() < deadline {
            e.poll(deadline.saturating_duration_since(Instant::now()))?;
            e.drain(&mut on_result)?;
            on_progress(e.take_finished());
        }
        if e.pending.is_empty() {
            break;
        }
        let answered = e.answered_round;
        if e.errors_seen > 0 && answered < sent {
            // Some of the round went unanswered while the target does send errors: it may limit
            // them. Space the next round by the rate they came back at; when none came back,
            // the gap was too short to earn one, so it grows fourfold.
            let secs = round_start.elapsed().as_secs_f64().max(1e-3);
            let next = if answered > 0 {
                Duration::from_secs_f64(1.1 * secs / answered as f64)
            } else if round > 0 && gap >= MAX_GAP {
                // Paced at the slowest rate a target is expected to keep, and nothing came:
                // what is still silent is silent.
                break;
            } else {
                (gap * 4).max(Duration::from_millis(50))
            };
            gap = gap.max(next).min(MAX_GAP);
            paced_gap = Some(gap);
        } else if round > 0 && answered == 0 {
            // No sign of a limit, and a retry taught nothing.
            break;
        }
        round_probes = e.pending.keys().copied().collect();
        round_probes.sort();
    }
    // Ports never answered.
    let mut silent: Vec<SocketAddr> = e.pending.drain().map(|(a, _)| a).collect();
    silent.sort();
    if stopped_by.is_none() {
        for addr in silent {
            on_result(
                addr,
                Outcome {
                    state: PortState::OpenFiltered,
                    reason: Reason::NoResponse,
                },
            );
            on_progress(1);
        }
    }
    let mut stats = e.stats;
    stats.srtt_us = e.srtt.map_or(0, |s| s.as_micros() as u64);
    stats.elapsed = started.elapsed();
    Ok(UdpRun {
        stats,
        stopped_by,
        paced_gap,
    })
}

struct Engine {
    v4: Option<UdpSocket>,
    v6: Option<UdpSocket>,
    /// Ports probed and not answered yet: when the last probe went out, and its round.
    pending: HashMap<SocketAddr, (Instant, u32)>,
    stats: ScanStats,
    srtt: Option<Duration>,
    answered_round: u64,
    errors_seen: u64,
}

impl Engine {
    fn take_finished(&mut self) -> u64 {
        std::mem::take(&mut self.stats.deferred)
    }

    fn socket(&mut self, v4: bool) -> Result<&UdpSocket> {
        let slot = if v4 { &mut self.v4 } else { &mut self.v6 };
        if slot.is_none() {
            let bind: SocketAddr = if v4 {
                SocketAddr::from((Ipv4Addr::UNSPECIFIED, 0))
            } else {
                SocketAddr::from((Ipv6Addr::UNSPECIFIED, 0))
            };
            let sock =
                UdpSocket::bind(bind).map_err(|e| Error::System(format!("opening a UDP socket: {e}")))?;
            sock.set_nonblocking(true)
                .map_err(|e| Error::System(format!("UDP socket: {e}")))?;
            let (level, name) = if v4 {
                (libc::SOL_IP, libc::IP_RECVERR)
            } else {
                (libc::SOL_IPV6, libc::IPV6_RECVERR)
            };
            let one: i32 = 1;
            // SAFETY: the option value is a live i32 of the size passed.
            let rc = unsafe {
                libc::setsockopt(
                    sock.as_raw_fd(),
                    level,
                    name,
                    (&one as *const i32).cast(),
                    size_of::<i32>() as libc::socklen_t,
                )
            };
            if rc < 0 {
                return Err(Error::System(format!(
                    "asking for ICMP errors (IP_RECVERR): {}",
                    std::io::Error::last_os_error()
                )));
            }
            let _ = rustix::net::sockopt::set_socket_recv_buffer_size(sock.as_fd(), 4 << 20);
            *slot = Some(sock);
        }
        slot.as_ref().ok_or_else(|| Error::System("UDP socket".into()))
    }

    fn send(&mut self, addr: SocketAddr, round: u32) -> Result<()> {
        let payload = udp_payloads::payload(addr.port());
        let sock = self.socket(addr.is_ipv4())?;
        for _ in 0..1000 {
            match sock.send_to(payload, addr) {
                Ok(_) => break,
                Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {
                    std::thread::sleep(Duration::from_micros(200));
                }
                // An error queued for an earlier probe can surface on a send; it is read from
                // the error queue all the same.
                Err(e) if e.raw_os_error() == Some(libc::ECONNREFUSED) => {}
                Err(e)
                    if matches!(
                        e.raw_os_error(),
                        Some(libc::EHOSTUNREACH) | Some(libc::ENETUNREACH) | Some(libc::EPERM)
                    ) =>
                {
                    break;
                }
                Err(e) => return Err(Error::System(format!("sending a UDP probe to {addr}: {e}"))),
            }
        }
        self.stats.probes += 1;
        self.pending.insert(addr, (Instant::now(), round));
        self.stats.peak_in_flight = self.stats.peak_in_flight.max(self.pending.len());
        Ok(())
    }

    fn poll(&self, wait: Duration) -> Result<()> {
        let mut fds: Vec<libc::pollfd> = [&self.v4, &self.v6]
            .into_iter()
            .flatten()
            .map(|s| libc::pollfd {
                fd: s.as_raw_fd(),
                // POLLERR is always reported: an ICMP error waiting on the error queue.
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

    fn drain(&mut self, on_result: &mut impl FnMut(SocketAddr, Outcome)) -> Result<()> {
        let socks: Vec<RawFd> = [&self.v4, &self.v6]
            .into_iter()
            .flatten()
            .map(|s| s.as_raw_fd())
            .collect();
        for fd in socks {
            let mut buf = [0u8; 2048];
            for _ in 0..4096 {
                // SAFETY: sockaddr_in6 is plain old data and large enough for either family.
                let mut name: libc::sockaddr_in6 = unsafe { zeroed() };
                let mut len = size_of::<libc::sockaddr_in6>() as libc::socklen_t;
                // SAFETY: buf and name are live for the call with the lengths given.
                let n = unsafe {
                    libc::recvfrom(
                        fd,
                        buf.as_mut_ptr().cast(),
                        buf.len(),
                        libc::MSG_DONTWAIT,
                        (&mut name as *mut libc::sockaddr_in6).cast(),
                        &mut len,
                    )
                };
                if n < 0 {
                    break;
                }
                if let Some(from) = sockaddr(&name) {
                    self.settle(
                        from,
                        Outcome {
                            state: PortState::Open,
                            reason: Reason::UdpResponse,
                        },
                        on_result,
                    );
                }
            }
            for _ in 0..4096 {
                match read_error(fd) {
                    Some((dst, outcome)) => {
                        self.errors_seen += 1;
                        self.settle(dst, outcome, on_result);
                    }
                    None => break,
                }
            }
        }
        Ok(())
    }

    fn settle(
        &mut self,
        addr: SocketAddr,
        outcome: Outcome,
        on_result: &mut impl FnMut(SocketAddr, Outcome),
    ) {
        let Some((sent, round)) = self.pending.remove(&addr) else {
            return;
        };
        if round == 0 {
            let rtt = sent.elapsed();
            self.srtt = Some(self.srtt.map_or(rtt, |s| s.mul_f64(0.875) + rtt.mul_f64(0.125)));
        }
        self.answered_round += 1;
        // `deferred` counts finished ports between two progress reports (UDP never defers).
        self.stats.deferred += 1;
        on_result(addr, outcome);
    }
}

/// The IPv4 or IPv6 socket address in `name`.
fn sockaddr(name: &libc::sockaddr_in6) -> Option<SocketAddr> {
    match i32::from(name.sin6_family) {
        libc::AF_INET => {
            // SAFETY: the kernel wrote a sockaddr_in at the start; read_unaligned copies it out.
            let sa: libc::sockaddr_in =
                unsafe { std::ptr::read_unaligned((name as *const libc::sockaddr_in6).cast()) };
            Some(SocketAddr::from((
                Ipv4Addr::from(u32::from_be(sa.sin_addr.s_addr)),
                u16::from_be(sa.sin_port),
            )))
        }
        libc::AF_INET6 => {
            let ip = Ipv6Addr::from(name.sin6_addr.s6_addr);
            // A v4-mapped answer on a dual-stack socket is the IPv4 target.
            let ip = ip.to_ipv4_mapped().map_or(IpAddr::V6(ip), IpAddr::V4);
            Some(SocketAddr::new(ip, u16::from_be(name.sin6_port)))
        }
        _ => None,
    }
}

/// One ICMP error from the socket's error queue: the probe's destination and what it means.
fn read_error(fd: RawFd) -> Option<(SocketAddr, Outcome)> {
    let mut data = [0u8; 512];
    let mut control = [0u64; 64];
    // SAFETY: plain old data; all-zero is valid.
    let mut name: libc::sockaddr_in6 = unsafe { zeroed() };
    let mut iov = libc::iovec {
        iov_base: data.as_mut_ptr().cast(),
        iov_len: data.len(),
    };
    // SAFETY: as above.
    let mut msg: libc::msghdr = unsafe { zeroed() };
    msg.msg_name = (&mut name as *mut libc::sockaddr_in6).cast();
    msg.msg_namelen = size_of::<libc::sockaddr_in6>() as libc::socklen_t;
    msg.msg_iov = &mut iov;
    msg.msg_iovlen = 1;
    msg.msg_control = control.as_mut_ptr().cast();
    msg.msg_controllen = size_of::<[u64; 64]>();
    // SAFETY: msg points at live buffers of the lengths it states.
    let n = unsafe { libc::recvmsg(fd, &mut msg, libc::MSG_ERRQUEUE | libc::MSG_DONTWAIT) };
    if n < 0 {
        return None;
    }
    let dst = sockaddr(&name)?;
    // SAFETY: CMSG_* walk the control buffer the kernel filled, within msg_controllen.
    let mut cmsg = unsafe { libc::CMSG_FIRSTHDR(&msg) };
    while !cmsg.is_null() {
        // SAFETY: cmsg is a valid header inside the control buffer.
        let (level, kind) = unsafe { ((*cmsg).cmsg_level, (*cmsg).cmsg_type) };
        let is_err = (level == libc::SOL_IP && kind == libc::IP_RECVERR)
            || (level == libc::SOL_IPV6 && kind == libc::IPV6_RECVERR);
        if is_err {
            // SAFETY: an IP(V6)_RECVERR message carries a sock_extended_err; read_unaligned
            // copies it out of the control buffer.
            let ee: libc::sock_extended_err =
                unsafe { std::ptr::read_unaligned(libc::CMSG_DATA(cmsg).cast()) };
            return Some((dst, icmp_outcome(ee.ee_origin, ee.ee_type, ee.ee_code)));
        }
        // SAFETY: as above.
        cmsg = unsafe { libc::CMSG_NXTHDR(&msg, cmsg) };
    }
    None
}

/// What an ICMP error reported through `IP_RECVERR` means for a UDP port.
fn icmp_outcome(origin: u8, icmp_type: u8, code: u8) -> Outcome {
    if origin != libc::SO_EE_ORIGIN_ICMP && origin != libc::SO_EE_ORIGIN_ICMP6 {
        // The local stack gave up (no neighbour answered): the host is unreachable.
        return Outcome {
            state: PortState::Filtered,
            reason: Reason::HostUnreach,
        };
    }
    let answer = crate::packet::IcmpAnswer {
        from: IpAddr::V4(Ipv4Addr::UNSPECIFIED),
        v6: origin == libc::SO_EE_ORIGIN_ICMP6,
        icmp_type,
        code,
        dst: IpAddr::V4(Ipv4Addr::UNSPECIFIED),
        proto: 17,
        sport: 0,
        dport: 0,
        seq: 0,
    };
    answer.outcome()
}
