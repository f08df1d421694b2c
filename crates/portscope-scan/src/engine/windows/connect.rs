//! The connect engine on Windows: one non-blocking Winsock connect per try, each engine thread
//! waiting on its sockets with `WSAPoll`. The loop, timing and retry rule are the shared
//! [`crate::engine::control`]'s, as on Linux; unlike Linux's engine a socket is not reused (Winsock
//! has no "connect again to read the result"): a try's socket is closed when the try ends.
//!
//! `WSAPoll` on Windows before 10 version 2004 did not report a refused connect; a try that times
//! out is therefore asked once more through `SO_ERROR` before it counts as silence, so a refused
//! port reads closed there too, only later.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::sync::Once;
use std::time::{Duration, Instant};

use windows_sys::Win32::Networking::WinSock as ws;

use crate::engine::control::{self, Answer, Network, Sent};
use crate::engine::feed;
use crate::report::{EngineConfig, Outcome, PortState, Reason, ScanStats};
use portscope_core::error::{Error, Result};

/// Sockets one thread keeps in flight at most: `WSAPoll` walks them all on every wait.
const MAX_SOCKETS: usize = 4096;

/// Runs `threads` engines side by side, each pulling probes in small batches from the one lazy
/// iterator, and merges what they report (as on Linux).
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
    let per_thread = EngineConfig {
        max_parallelism: (cfg.max_parallelism.min(MAX_SOCKETS * threads) / threads).max(1),
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
/// outcome, in completion order.
pub fn scan(
    probes: impl Iterator<Item = SocketAddr>,
    cfg: &EngineConfig,
    on_result: impl FnMut(SocketAddr, Outcome),
    on_progress: impl FnMut(u64),
) -> Result<ScanStats> {
    startup();
    let cfg = EngineConfig {
        max_parallelism: cfg.max_parallelism.clamp(1, MAX_SOCKETS),
        ..cfg.clone()
    };
    let mut net = PollNet {
        slots: Vec::new(),
        free: Vec::new(),
        ready: Vec::new(),
    };
    control::run(&mut net, probes, &cfg, false, || false, on_result, on_progress)
}

/// Winsock must be started once per process before a socket is made; std does it on its own first
/// use, this engine may come first.
fn startup() {
    static START: Once = Once::new();
    START.call_once(|| {
        // SAFETY: WSADATA is plain data WSAStartup fills; the pointer is to a live local. A
        // failure shows as the first socket() failing, with its own error.
        let mut data: ws::WSADATA = unsafe { std::mem::zeroed() };
        let _ = unsafe { ws::WSAStartup(0x0202, &mut data) };
    });
}

/// A socket this engine owns, closed on drop.
struct Sock(ws::SOCKET);

impl Drop for Sock {
    fn drop(&mut self) {
        // SAFETY: the socket is ours and closed only here.
        unsafe { ws::closesocket(self.0) };
    }
}

/// One try in flight.
struct Slot {
    sock: Option<Sock>,
    probe: Option<SocketAddr>,
}

/// One engine thread's sockets, as the control loop's [`Network`].
struct PollNet {
    slots: Vec<Slot>,
    free: Vec<usize>,
    /// What the last `WSAPoll` reported: (slot, revents).
    ready: Vec<(usize, i16)>,
}

impl Network for PollNet {
    const IDLE_WAIT: Duration = Duration::from_millis(100);

    fn queue(&mut self, addr: SocketAddr, _attempt: u32, _phase: u8) -> Result<Sent> {
        let sock = match open(addr) {
            Ok(sock) => sock,
            Err(code) if is_resource_shortage(code) => {
                return Ok(Sent::Deferred(sys("creating a socket", code)));
            }
            Err(code) => return Err(sys("creating a socket", code)),
        };
        let (name, len) = sockaddr(addr);
        // SAFETY: `name` is a SOCKADDR_IN6-sized buffer holding a SOCKADDR_IN or SOCKADDR_IN6 of
        // `len` bytes, alive for the call.
        let rc = unsafe { ws::connect(sock.0, (&raw const name).cast(), len) };
        if rc == 0 {
            return Ok(Sent::Answered(connected_outcome(&sock, addr)));
        }
        match last_error() {
            ws::WSAEWOULDBLOCK => {}
            code if is_resource_shortage(code) => return Ok(Sent::Deferred(sys("connecting", code))),
            code => {
                return match error_outcome(code) {
                    Some(outcome) => Ok(Sent::Answered(outcome)),
                    None => Err(sys(&format!("connecting to {addr}"), code)),
                };
            }
        }
        let slot = match self.free.pop() {
            Some(slot) => slot,
            None => {
                self.slots.push(Slot {
                    sock: None,
                    probe: None,
                });
                self.slots.len() - 1
            }
        };
        self.slots[slot] = Slot {
            sock: Some(sock),
            probe: Some(addr),
        };
        Ok(Sent::Pending(slot))
    }

    fn flush(&mut self) -> Result<()> {
        Ok(())
    }

    fn wait(&mut self, wait: Duration) -> Result<()> {
        self.ready.clear();
        let mut fds = Vec::new();
        let mut owners = Vec::new();
        for (index, slot) in self.slots.iter().enumerate() {
            if let (Some(sock), Some(_)) = (&slot.sock, slot.probe) {
                fds.push(ws::WSAPOLLFD {
                    fd: sock.0,
                    events: ws::POLLWRNORM,
                    revents: 0,
                });
                owners.push(index);
            }
        }
        let ms = i32::try_from(wait.as_millis()).unwrap_or(i32::MAX);
        if fds.is_empty() {
            std::thread::sleep(wait);
            return Ok(());
        }
        // SAFETY: `fds` is a live array of `fds.len()` WSAPOLLFD entries of sockets we own.
        let rc = unsafe { ws::WSAPoll(fds.as_mut_ptr(), fds.len() as u32, ms) };
        if rc == ws::SOCKET_ERROR {
            return Err(sys("waiting on sockets", last_error()));
        }
        for (fd, slot) in fds.iter().zip(owners) {
            if fd.revents != 0 {
                self.ready.push((slot, fd.revents));
            }
        }
        Ok(())
    }

    fn collect(&mut self, answers: &mut Vec<Answer>) -> Result<()> {
        for (slot, revents) in std::mem::take(&mut self.ready) {
            let Some(Slot {
                sock: Some(sock),
                probe: Some(addr),
            }) = self.slots.get(slot)
            else {
                continue;
            };
            let addr = *addr;
            let outcome = if revents & (ws::POLLERR | ws::POLLHUP) != 0 {
                socket_error(sock).and_then(error_outcome)
            } else {
                Some(connected_outcome(sock, addr))
            };
            answers.push(Answer {
                addr,
                phase: 0,
                outcome,
            });
            self.end(slot);
        }
        Ok(())
    }

    fn expired(&mut self, addr: SocketAddr, slot: usize) -> Option<Outcome> {
        let Some(Slot {
            sock: Some(sock),
            probe: Some(probe),
        }) = self.slots.get(slot)
        else {
            return None;
        };
        if *probe != addr {
            return None;
        }
        // A refusal WSAPoll did not report (older Windows) is still in SO_ERROR.
        let outcome = socket_error(sock).and_then(error_outcome);
        self.end(slot);
        outcome
    }

    fn now(&self) -> Instant {
        Instant::now()
    }
}

impl PollNet {
    /// Ends the slot's try: its socket is closed (with a reset when it connected) and it is free.
    fn end(&mut self, slot: usize) {
        if let Some(sock) = self.slots[slot].sock.take() {
            set_linger_zero(&sock);
        }
        self.slots[slot].probe = None;
        self.free.push(slot);
    }
}

/// A new non-blocking TCP socket of `addr`'s family.
fn open(addr: SocketAddr) -> std::result::Result<Sock, i32> {
    let family = if addr.is_ipv4() { ws::AF_INET } else { ws::AF_INET6 };
    // SAFETY: plain constant arguments; the result is checked.
    let raw = unsafe { ws::socket(i32::from(family), ws::SOCK_STREAM, ws::IPPROTO_TCP) };
    if raw == ws::INVALID_SOCKET {
        return Err(last_error());
    }
    let sock = Sock(raw);
    let mut on: u32 = 1;
    // SAFETY: FIONBIO reads one u32 through the pointer, a live local.
    if unsafe { ws::ioctlsocket(sock.0, ws::FIONBIO, &mut on) } != 0 {
        return Err(last_error());
    }
    Ok(sock)
}

/// The address as Winsock takes it: a SOCKADDR_IN or SOCKADDR_IN6 in a buffer of the larger
/// size, and its length.
fn sockaddr(addr: SocketAddr) -> (ws::SOCKADDR_IN6, i32) {
    let mut name = ws::SOCKADDR_IN6::default();
    match addr {
        SocketAddr::V4(a) => {
            let v4 = ws::SOCKADDR_IN {
                sin_family: ws::AF_INET,
                sin_port: a.port().to_be(),
                sin_addr: ws::IN_ADDR {
                    S_un: ws::IN_ADDR_0 {
                        S_addr: u32::from_ne_bytes(a.ip().octets()),
                    },
                },
                sin_zero: [0; 8],
            };
            // SAFETY: SOCKADDR_IN is smaller than SOCKADDR_IN6 and both are plain data.
            unsafe { std::ptr::write_unaligned((&raw mut name).cast::<ws::SOCKADDR_IN>(), v4) };
            (name, size_of::<ws::SOCKADDR_IN>() as i32)
        }
        SocketAddr::V6(a) => {
            name.sin6_family = ws::AF_INET6;
            name.sin6_port = a.port().to_be();
            name.sin6_flowinfo = a.flowinfo();
            name.sin6_addr = ws::IN6_ADDR {
                u: ws::IN6_ADDR_0 {
                    Byte: a.ip().octets(),
                },
            };
            name.Anonymous = ws::SOCKADDR_IN6_0 {
                sin6_scope_id: a.scope_id(),
            };
            (name, size_of::<ws::SOCKADDR_IN6>() as i32)
        }
    }
}

/// The socket's local address.
fn local_addr(sock: &Sock) -> Option<SocketAddr> {
    let mut name = ws::SOCKADDR_IN6::default();
    let mut len = size_of::<ws::SOCKADDR_IN6>() as i32;
    // SAFETY: `name` has room for `len` bytes, both live locals.
    if unsafe { ws::getsockname(sock.0, (&raw mut name).cast(), &mut len) } != 0 {
        return None;
    }
    match name.sin6_family {
        ws::AF_INET => {
            // SAFETY: the kernel wrote a SOCKADDR_IN at the start of the buffer.
            let v4: ws::SOCKADDR_IN = unsafe { std::ptr::read_unaligned((&raw const name).cast()) };
            // SAFETY: every bit pattern of the union is a valid u32.
            let ip = Ipv4Addr::from(unsafe { v4.sin_addr.S_un.S_addr }.to_ne_bytes());
            Some(SocketAddr::new(IpAddr::V4(ip), u16::from_be(v4.sin_port)))
        }
        ws::AF_INET6 => {
            // SAFETY: every bit pattern of the union is valid bytes.
            let ip = Ipv6Addr::from(unsafe { name.sin6_addr.u.Byte });
            Some(SocketAddr::new(IpAddr::V6(ip), u16::from_be(name.sin6_port)))
        }
        _ => None,
    }
}

/// The pending error of a socket whose connect ended (`SO_ERROR`), if any.
fn socket_error(sock: &Sock) -> Option<i32> {
    let mut code: i32 = 0;
    let mut len = size_of::<i32>() as i32;
    // SAFETY: SO_ERROR writes one i32 into `code`, a live local of `len` bytes.
    let rc = unsafe {
        ws::getsockopt(
            sock.0,
            ws::SOL_SOCKET,
            ws::SO_ERROR,
            (&raw mut code).cast(),
            &mut len,
        )
    };
    (rc == 0 && code != 0).then_some(code)
}

/// Close with a reset: no TIME_WAIT, and the listener's side goes at once.
fn set_linger_zero(sock: &Sock) {
    let linger = ws::LINGER {
        l_onoff: 1,
        l_linger: 0,
    };
    // SAFETY: SO_LINGER reads one LINGER, a live local of the given size.
    unsafe {
        ws::setsockopt(
            sock.0,
            ws::SOL_SOCKET,
            ws::SO_LINGER,
            (&raw const linger).cast(),
            size_of::<ws::LINGER>() as i32,
        )
    };
}

fn last_error() -> i32 {
    // SAFETY: no arguments; reads this thread's last Winsock error.
    unsafe { ws::WSAGetLastError() }
}

/// What a completed handshake on `sock` means ([`control::handshake_outcome`]).
fn connected_outcome(sock: &Sock, addr: SocketAddr) -> Outcome {
    control::handshake_outcome(local_addr(sock), addr)
}

/// The final answer a connect error stands for; `None` when it says nothing about the port.
fn error_outcome(code: i32) -> Option<Outcome> {
    match code {
        ws::WSAECONNREFUSED => Some(Outcome {
            state: PortState::Closed,
            reason: Reason::ConnRefused,
        }),
        ws::WSAEHOSTUNREACH => Some(filtered(Reason::HostUnreach)),
        ws::WSAENETUNREACH => Some(filtered(Reason::NetUnreach)),
        ws::WSAEACCES => Some(filtered(Reason::AdminProhibited)),
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
fn is_resource_shortage(code: i32) -> bool {
    matches!(code, ws::WSAEMFILE | ws::WSAENOBUFS | ws::WSAEADDRINUSE)
}

fn sys(context: &str, code: i32) -> Error {
    Error::System(format!("{context}: {}", std::io::Error::from_raw_os_error(code)))
}
