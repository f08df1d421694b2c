//! `watch --syslog`: each alert as one RFC 5424 datagram ([`super::rfc5424`]) to the local
//! syslog socket, `/dev/log` unless `--syslog-socket PATH`.
//!
//! Why RFC 5424 on /dev/log and not journald's native socket: one format reaches every syslog
//! daemon a fleet already runs (rsyslog and syslog-ng parse the structured data and forward it);
//! journald also listens on /dev/log and keeps the priority and the whole line (it does not parse
//! RFC 5424's fields: systemd issue 19251), so `journalctl -p` and a text search work there too,
//! and its `ForwardToSyslog` passes the line on unchanged. Writing journald's native protocol as
//! well would give journal fields but a second format to keep right; the JSON webhook is the
//! structured path.

#[cfg(unix)]
use std::os::unix::net::UnixDatagram;
use std::path::PathBuf;
#[cfg(unix)]
use std::time::Duration;

use super::rfc5424::Origin;
use super::sink::{Deliver, Outcome};
use super::{Alert, Facility};

/// The socket syslog daemons and journald listen on.
pub const DEFAULT_SOCKET: &str = "/dev/log";

#[cfg(unix)]
/// How long one send may wait for a daemon whose socket buffer is full.
const SEND_TIMEOUT: Duration = Duration::from_secs(2);

/// Sends to a unix datagram socket; reconnects after any error. (Off Unix, where `--syslog` is
/// refused before it gets here, only the name is used.)
#[cfg_attr(not(unix), allow(dead_code))]
pub struct Syslog {
    path: PathBuf,
    facility: Facility,
    origin: Origin,
    #[cfg(unix)]
    socket: Option<UnixDatagram>,
}

impl Syslog {
    pub fn new(path: PathBuf, facility: Facility) -> Syslog {
        Syslog {
            path,
            facility,
            origin: Origin::new(&hostname(), std::process::id()),
            #[cfg(unix)]
            socket: None,
        }
    }
}

/// The host name the kernel holds (at most 64 bytes read); empty when it cannot be read.
fn hostname() -> String {
    use std::io::Read;
    let mut name = String::new();
    if let Ok(file) = std::fs::File::open("/proc/sys/kernel/hostname") {
        let _ = file.take(256).read_to_string(&mut name);
    }
    name.trim().to_string()
}

impl Deliver for Syslog {
    fn name(&self) -> String {
        format!("--syslog {}", self.path.display())
    }

    #[cfg(not(unix))]
    fn deliver(&mut self, _alert: &Alert) -> Outcome {
        Outcome::GiveUp("syslog's unix datagram socket exists on Linux and other Unix systems only".into())
    }

    #[cfg(unix)]
    fn deliver(&mut self, alert: &Alert) -> Outcome {
        let line = super::rfc5424::line(alert, self.facility, &self.origin);
        let socket = match self.socket.take() {
            Some(socket) => socket,
            None => match UnixDatagram::unbound().and_then(|s| {
                s.set_write_timeout(Some(SEND_TIMEOUT))?;
                s.connect(&self.path)?;
                Ok(s)
            }) {
                Ok(socket) => socket,
                Err(e) => return Outcome::Retry(format!("cannot reach {}: {e}", self.path.display())),
            },
        };
        match socket.send(line.as_bytes()) {
            Ok(_) => {
                self.socket = Some(socket);
                Outcome::Delivered
            }
            Err(e) => Outcome::Retry(format!("sending to {}: {e}", self.path.display())),
        }
    }
}
