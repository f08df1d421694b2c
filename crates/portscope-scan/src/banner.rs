//! `--banner`: what an open port says first. Services that speak first (SSH, SMTP, FTP, POP,
//! IMAP…) send a greeting; for the rest an HTTP `HEAD` is sent and the status line kept.
//!
//! Open ports are few, so this is plain blocking sockets on a handful of threads, each bounded by
//! a short timeout.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::Duration;

use crate::report::{HostResult, PortState};

/// The most bytes kept of a banner.
const MAX_BANNER: usize = 256;
/// Threads grabbing banners at once.
const PARALLEL: usize = 32;

/// Grabs a banner from each address; the result is in the same order, `None` where nothing
/// printable came back in time.
/// Reads the banner of every open port of `hosts` into its report.
pub fn add_to_open_ports(hosts: &mut [HostResult], timeout: Duration) {
    let mut addrs = Vec::new();
    for host in hosts.iter() {
        if let Some(ip) = host.address {
            for p in host.ports.iter().filter(|p| p.state == PortState::Open) {
                addrs.push(SocketAddr::new(ip, p.port));
            }
        }
    }
    let mut banners = grab_all(&addrs, timeout).into_iter();
    for host in hosts.iter_mut() {
        for p in host.ports.iter_mut().filter(|p| p.state == PortState::Open) {
            p.banner = banners.next().flatten();
        }
    }
}

pub fn grab_all(addrs: &[SocketAddr], timeout: Duration) -> Vec<Option<String>> {
    let mut out = vec![None; addrs.len()];
    for (chunk_addrs, chunk_out) in addrs.chunks(PARALLEL).zip(out.chunks_mut(PARALLEL)) {
        std::thread::scope(|scope| {
            for (addr, slot) in chunk_addrs.iter().zip(chunk_out.iter_mut()) {
                scope.spawn(move || *slot = grab(*addr, timeout));
            }
        });
    }
    out
}

/// Connects, waits `timeout` for a greeting, otherwise sends `HEAD /` and waits once more. A
/// greeting may come a few bytes at a time (`2`, `20`, `220 mail…`): reading goes on until a
/// line has ended, [`MAX_BANNER`] bytes have come, or the wait is over.
pub fn grab(addr: SocketAddr, timeout: Duration) -> Option<String> {
    let timeout = timeout.max(Duration::from_millis(1));
    let mut stream = TcpStream::connect_timeout(&addr, timeout).ok()?;
    stream.set_write_timeout(Some(timeout)).ok()?;
    let mut buf = [0u8; MAX_BANNER];
    let mut n = read_line(&mut stream, &mut buf, timeout);
    if n == 0 {
        let host = match addr {
            SocketAddr::V4(a) => a.ip().to_string(),
            SocketAddr::V6(a) => format!("[{}]", a.ip()),
        };
        let head = format!("HEAD / HTTP/1.0\r\nHost: {host}\r\n\r\n");
        stream.write_all(head.as_bytes()).ok()?;
        n = read_line(&mut stream, &mut buf, timeout);
    }
    clean(&buf[..n])
}

/// Reads into `buf` until a non-blank line has ended, `buf` is full, the peer closes, or
/// `timeout` has passed; returns how many bytes came.
fn read_line(stream: &mut TcpStream, buf: &mut [u8], timeout: Duration) -> usize {
    let deadline = std::time::Instant::now() + timeout;
    let mut n = 0;
    while n < buf.len() {
        let left = deadline.saturating_duration_since(std::time::Instant::now());
        if left.is_zero() || stream.set_read_timeout(Some(left)).is_err() {
            break;
        }
        match stream.read(&mut buf[n..]) {
            Ok(0) => break,
            Ok(got) => {
                n += got;
                let text = &buf[..n];
                let line_ended = text
                    .split(|&b| b == b'\n')
                    .rev()
                    .skip(1)
                    .any(|line| line.iter().any(|b| !b.is_ascii_whitespace()));
                if line_ended {
                    break;
                }
            }
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(_) => break,
        }
    }
    n
}

/// The first line of what came back, with anything unprintable replaced: a banner is untrusted
/// and must not drive the terminal.
pub fn clean(bytes: &[u8]) -> Option<String> {
    let text = String::from_utf8_lossy(bytes);
    let line = text.lines().find(|l| !l.trim().is_empty())?;
    let cleaned: String = line
        .trim()
        .chars()
        .map(|c| if c.is_control() { '.' } else { c })
        .collect();
    (!cleaned.is_empty()).then_some(cleaned)
}

#[cfg(test)]
mod tests {
    use super::clean;

    #[test]
    fn banners_are_one_printable_line() {
        assert_eq!(
            clean(b"SSH-2.0-OpenSSH_9.6\r\n").as_deref(),
            Some("SSH-2.0-OpenSSH_9.6")
        );
        assert_eq!(
            clean(b"\r\n220 mail ESMTP\r\n250 ok").as_deref(),
            Some("220 mail ESMTP")
        );
        assert_eq!(clean(b"evil\x1b[31m").as_deref(), Some("evil.[31m"));
        assert_eq!(clean(b"\r\n\r\n"), None);
    }
}
