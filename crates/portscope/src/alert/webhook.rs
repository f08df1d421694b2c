//! `watch --webhook URL`: each alert's JSON in one HTTP POST ([`super::http`]), over a plain
//! `TcpStream` with a timeout on every step, so a server that accepts and then hangs costs the
//! sender thread at most [`TIMEOUT`] per step, and the watcher nothing.

use std::io::{Read, Write};
use std::net::{TcpStream, ToSocketAddrs};
use std::time::Duration;

use super::Alert;
use super::http::{self, Answer, Url};
use super::sink::{Deliver, Outcome};

/// The most one connect, write or read may take.
pub const TIMEOUT: Duration = Duration::from_secs(5);

/// The most of an answer read: the status line is all that matters.
const ANSWER_BYTES: usize = 8 * 1024;

pub struct Webhook {
    url: Url,
    headers: Vec<(String, String)>,
}

impl Webhook {
    pub fn new(url: Url, headers: Vec<(String, String)>) -> Webhook {
        Webhook { url, headers }
    }

    fn post(&self, body: &[u8]) -> Result<Answer, String> {
        let addresses: Vec<_> = (self.url.host.as_str(), self.url.port)
            .to_socket_addrs()
            .map_err(|e| format!("cannot resolve {}: {e}", self.url.host))?
            .collect();
        let mut last = format!("{} resolves to no address", self.url.host);
        let mut stream = None;
        for address in addresses {
            match TcpStream::connect_timeout(&address, TIMEOUT) {
                Ok(s) => {
                    stream = Some(s);
                    break;
                }
                Err(e) => last = format!("connecting to {address}: {e}"),
            }
        }
        let mut stream = stream.ok_or(last)?;
        let io = |e: std::io::Error| format!("{}: {e}", self.url.authority);
        stream.set_write_timeout(Some(TIMEOUT)).map_err(io)?;
        stream.set_read_timeout(Some(TIMEOUT)).map_err(io)?;
        stream
            .write_all(&http::request(&self.url, &self.headers, body))
            .map_err(io)?;
        let mut answer = Vec::with_capacity(256);
        let mut buf = [0u8; 1024];
        loop {
            if let Some(answer) = http::status(&answer)? {
                return Ok(answer);
            }
            if answer.len() >= ANSWER_BYTES {
                return Err(format!(
                    "{}: no status line in {ANSWER_BYTES} bytes",
                    self.url.authority
                ));
            }
            match stream.read(&mut buf).map_err(io)? {
                0 => {
                    return Err(format!(
                        "{} closed the connection without an answer",
                        self.url.authority
                    ));
                }
                n => answer.extend_from_slice(&buf[..n]),
            }
        }
    }
}

impl Deliver for Webhook {
    fn name(&self) -> String {
        format!("--webhook http://{}{}", self.url.authority, self.url.target)
    }

    fn deliver(&mut self, alert: &Alert) -> Outcome {
        let body = serde_json::to_vec(&alert.json).unwrap_or_default();
        match self.post(&body) {
            Ok(Answer::Accepted(_)) => Outcome::Delivered,
            Ok(Answer::TryLater(code)) => Outcome::Retry(format!("the server answered {code}")),
            Ok(Answer::Refused(code)) => Outcome::GiveUp(format!("the server answered {code}")),
            Err(why) => Outcome::Retry(why),
        }
    }
}
