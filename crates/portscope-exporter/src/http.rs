//! A small blocking HTTP/1.1 server for `/metrics` and `/health`, bounded in every direction.
//!
//! What a scrape target must survive is malformed, oversized, slow and unauthenticated clients,
//! so each limit is explicit:
//!
//! - a request head is at most [`MAX_HEAD`] bytes (431 beyond) and must arrive within
//!   [`HEAD_DEADLINE`] of its first byte;
//! - one deadline governs every read and write of a connection, below TLS, so a handshake is
//!   bounded like a request: a connection must complete its first authorized request within
//!   [`FIRST_REQUEST_DEADLINE`] of being accepted, handshake included, or it is dropped;
//! - at most [`MAX_CONNECTIONS`] connections are served at once, and at most
//!   [`MAX_PENDING_PER_SOURCE`] of them from one source (an IPv4 address, an IPv6 /64) may be
//!   waiting for their first authorized request (503 beyond), so one host holding idle or
//!   stalled connections cannot take the slots of the others, nor have more than
//!   [`MAX_PER_SOURCE`] connections of any kind;
//! - a credential the [`Authorizer`] cannot decide cheaply costs a source one of
//!   [`FAILURE_BURST`] attempts, given back on success and refilled one per [`FAILURE_REFILL`];
//!   a source without one is answered 429 without the check (bcrypt is slow on purpose), and
//!   its new connections are refused until it earns one.
//!
//! Parsing is httparse's; anything it refuses, and a request whose body length is ambiguous,
//! gets 400 and the connection is closed. One thread per connection: scrapers are few and keep
//! their connection alive, and a blocking thread is the simplest thing that cannot wedge the
//! others. The server never reads a request body; a request that announces one is refused with
//! 400.

use std::cell::Cell;
use std::collections::HashMap;
use std::io::{self, Read, Write};
use std::net::{IpAddr, Ipv6Addr, TcpListener, TcpStream};
use std::rc::Rc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use crate::collector::Source;
use crate::metrics::{CLASSIC_CONTENT_TYPE, OPENMETRICS_CONTENT_TYPE};

/// The largest request head (request line and headers) accepted.
pub const MAX_HEAD: usize = 8 * 1024;
/// The most headers a request may carry.
pub const MAX_HEADERS: usize = 64;
/// Connections served at once; more are answered 503 and closed.
pub const MAX_CONNECTIONS: usize = 128;
/// Connections from one source still waiting for their first authorized request; more are
/// answered 503 and closed. A scraper needs one; this leaves room for a few behind one NAT.
pub const MAX_PENDING_PER_SOURCE: usize = 8;
/// Connections from one source at once, authorized or not: without authentication configured,
/// one request makes a connection authorized, and idle ones must not take every slot.
pub const MAX_PER_SOURCE: usize = 32;
/// How long a request head may take to arrive, from its first byte.
pub const HEAD_DEADLINE: Duration = Duration::from_secs(10);
/// How long a new connection has, from accept, to make its first authorized request (a TLS
/// handshake included); until then it is dropped at this deadline whatever it sends.
pub const FIRST_REQUEST_DEADLINE: Duration = Duration::from_secs(10);
/// How long an idle keep-alive connection is kept, and the time to write one response.
pub const IDLE_TIMEOUT: Duration = Duration::from_secs(30);
/// Requests served on one connection before it is closed.
pub const MAX_REQUESTS_PER_CONNECTION: usize = 10_000;
/// Costly credential checks a source may fail in a row before it is throttled.
pub const FAILURE_BURST: u32 = 5;
/// How often a throttled source earns one more check.
pub const FAILURE_REFILL: Duration = Duration::from_secs(2);
/// Sources remembered before those with nothing to remember are forgotten.
const MAX_SOURCES: usize = 1024;

/// Checks a request's `Authorization` header in two steps, so that the server can decide who
/// may spend the slow one.
pub trait Authorizer: Send + Sync {
    /// The answer when it costs nothing: no or malformed credentials, or credentials seen
    /// before. `None`: only [`verify`](Authorizer::verify) can tell.
    fn known(&self, authorization: Option<&[u8]>) -> Option<bool>;
    /// The full check of credentials `known` could not decide (slow: bcrypt); remembers the
    /// answer for `known`.
    fn verify(&self, authorization: &[u8]) -> bool;
}

/// Wraps each accepted connection, e.g. in TLS; the identity for plain HTTP.
pub trait Wrapper: Send + Sync {
    fn serve(&self, stream: Conn, handler: &dyn Fn(&mut dyn ReadWrite));
}

/// A stream a connection is served over (a TCP stream, or TLS over one).
pub trait ReadWrite: Read + Write {}
impl<T: Read + Write> ReadWrite for T {}

/// Plain HTTP.
pub struct Plain;

impl Wrapper for Plain {
    fn serve(&self, mut stream: Conn, handler: &dyn Fn(&mut dyn ReadWrite)) {
        handler(&mut stream);
    }
}

/// When a connection must be done with what it is doing; shared between the stream, which
/// enforces it, and the request loop, which moves it.
#[derive(Clone)]
pub struct Deadline(Rc<Cell<Instant>>);

impl Deadline {
    pub fn new(at: Instant) -> Deadline {
        Deadline(Rc::new(Cell::new(at)))
    }

    fn set(&self, at: Instant) {
        self.0.set(at);
    }

    /// Brings the deadline forward to `at`, never back.
    fn limit(&self, at: Instant) {
        self.0.set(self.0.get().min(at));
    }

    /// The time left, or a timeout error when there is none.
    fn left(&self) -> io::Result<Duration> {
        let left = self.0.get().saturating_duration_since(Instant::now());
        if left.is_zero() {
            return Err(io::Error::new(
                io::ErrorKind::TimedOut,
                "connection deadline passed",
            ));
        }
        Ok(left)
    }
}

/// An accepted TCP connection whose every read and write ends by its [`Deadline`]: the socket's
/// timeout is set to the time left before each call, so no sequence of slow calls (a trickled
/// handshake, a reader that takes one byte a minute) outlives it.
pub struct Conn {
    stream: TcpStream,
    deadline: Deadline,
}

impl Conn {
    pub fn new(stream: TcpStream, deadline: Deadline) -> Conn {
        Conn { stream, deadline }
    }
}

impl Read for Conn {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        self.stream.set_read_timeout(Some(self.deadline.left()?))?;
        self.stream.read(buf)
    }
}

impl Write for Conn {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.stream.set_write_timeout(Some(self.deadline.left()?))?;
        self.stream.write(buf)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.stream.flush()
    }
}

/// What the server answers with.
pub struct App {
    pub source: Arc<dyn Source>,
    pub auth: Option<Arc<dyn Authorizer>>,
}

/// What is counted per source: connections not yet authorized, and the costly checks it may
/// still fail.
struct Account {
    open: usize,
    pending: usize,
    attempts: f64,
    updated: Instant,
}

impl Account {
    fn refill(&mut self, now: Instant) {
        let earned = now.saturating_duration_since(self.updated).as_secs_f64() / FAILURE_REFILL.as_secs_f64();
        self.attempts = (self.attempts + earned).min(f64::from(FAILURE_BURST));
        self.updated = now;
    }

    /// Nothing to remember: no connection pending, every attempt back.
    fn at_rest(&self) -> bool {
        self.open == 0 && self.pending == 0 && self.attempts >= f64::from(FAILURE_BURST)
    }
}

/// The per-source accounts. An IPv6 host usually owns a whole /64, so that is its key.
#[derive(Default)]
pub struct Sources(Mutex<HashMap<IpAddr, Account>>);

impl Sources {
    fn key(address: IpAddr) -> IpAddr {
        match address {
            IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
                Some(v4) => IpAddr::V4(v4),
                None => IpAddr::V6(Ipv6Addr::from(u128::from(v6) & !((1u128 << 64) - 1))),
            },
            v4 => v4,
        }
    }

    /// Runs `f` on the account of `address`, made when it has none.
    fn with<T>(&self, address: IpAddr, f: impl FnOnce(&mut Account) -> T) -> T {
        let mut table = self.0.lock().unwrap_or_else(|p| p.into_inner());
        let now = Instant::now();
        if table.len() >= MAX_SOURCES {
            table.retain(|_, account| {
                account.refill(now);
                !account.at_rest()
            });
        }
        let account = table.entry(Self::key(address)).or_insert(Account {
            open: 0,
            pending: 0,
            attempts: f64::from(FAILURE_BURST),
            updated: now,
        });
        account.refill(now);
        let out = f(account);
        if account.at_rest() {
            table.remove(&Self::key(address));
        }
        out
    }

    /// Admits a new connection from `address` if the source has room for one more pending and
    /// is not throttled: a throttled source's connections are refused before their handshake,
    /// which would cost more than the 429 they would get.
    fn admit(self: &Arc<Self>, address: IpAddr) -> Option<Pending> {
        self.with(address, |a| {
            let room = a.open < MAX_PER_SOURCE && a.pending < MAX_PENDING_PER_SOURCE;
            (room && a.attempts >= 1.0).then(|| {
                a.open += 1;
                a.pending += 1;
            })
        })
        .map(|()| Pending {
            sources: Arc::clone(self),
            address,
            held: Cell::new(true),
        })
    }

    /// Takes one costly check from the source's allowance; false when it has none left.
    fn take_attempt(&self, address: IpAddr) -> bool {
        self.with(address, |a| {
            let ok = a.attempts >= 1.0;
            if ok {
                a.attempts -= 1.0;
            }
            ok
        })
    }

    /// Gives back an attempt that succeeded: only failures are throttled.
    fn give_back(&self, address: IpAddr) {
        self.with(address, |a| {
            a.attempts = (a.attempts + 1.0).min(f64::from(FAILURE_BURST))
        });
    }
}

/// A connection counted against its source until it ends, and as pending until its first
/// authorized request.
pub struct Pending {
    sources: Arc<Sources>,
    address: IpAddr,
    held: Cell<bool>,
}

impl Pending {
    fn release(&self) {
        if self.held.replace(false) {
            self.sources
                .with(self.address, |a| a.pending = a.pending.saturating_sub(1));
        }
    }
}

impl Drop for Pending {
    fn drop(&mut self) {
        let held = self.held.replace(false);
        self.sources.with(self.address, |a| {
            a.open = a.open.saturating_sub(1);
            if held {
                a.pending = a.pending.saturating_sub(1);
            }
        });
    }
}

/// One connection's place in the server: its source's account and its deadline.
pub struct Session {
    pending: Pending,
    deadline: Deadline,
}

impl Session {
    fn authorized(&self) -> bool {
        !self.pending.held.get()
    }
}

/// A parsed request head: only what the routes look at.
#[derive(Debug)]
struct Head {
    method: String,
    path: String,
    /// HTTP/1.0, or `Connection: close`.
    close: bool,
    openmetrics: bool,
    has_body: bool,
    authorization: Option<Vec<u8>>,
}

/// One response.
struct Response {
    status: u16,
    content_type: &'static str,
    body: Arc<str>,
    extra: &'static str,
}

impl Response {
    fn text(status: u16, body: &str) -> Response {
        Response {
            status,
            content_type: "text/plain; charset=utf-8",
            body: Arc::from(body),
            extra: "",
        }
    }
}

fn reason(status: u16) -> &'static str {
    match status {
        200 => "OK",
        400 => "Bad Request",
        401 => "Unauthorized",
        404 => "Not Found",
        405 => "Method Not Allowed",
        429 => "Too Many Requests",
        431 => "Request Header Fields Too Large",
        500 => "Internal Server Error",
        503 => "Service Unavailable",
        _ => "Unknown",
    }
}

/// Accepts connections forever, each served on a thread of its own.
pub fn serve(listener: TcpListener, app: Arc<App>, wrapper: Arc<dyn Wrapper>) -> io::Result<()> {
    let active = Arc::new(AtomicUsize::new(0));
    let sources = Arc::new(Sources::default());
    for stream in listener.incoming() {
        let accepted = Instant::now();
        let stream = match stream {
            Ok(stream) => stream,
            // Out of descriptors, or a connection reset before accept: wait a moment, go on.
            Err(_) => {
                std::thread::sleep(Duration::from_millis(50));
                continue;
            }
        };
        let admitted = match stream.peer_addr() {
            Ok(peer) if active.load(Ordering::Relaxed) < MAX_CONNECTIONS => sources.admit(peer.ip()),
            _ => None,
        };
        let Some(pending) = admitted else {
            refuse(stream);
            continue;
        };
        let _ = stream.set_nodelay(true);
        active.fetch_add(1, Ordering::Relaxed);
        // A thread that cannot be made (memory, limits) drops the connection and its slot.
        let slot = Slot(active.clone());
        let (app, wrapper) = (app.clone(), wrapper.clone());
        let _ = std::thread::Builder::new()
            .name("portscope-http".into())
            .spawn(move || {
                let _slot = slot;
                let deadline = Deadline::new(accepted + FIRST_REQUEST_DEADLINE);
                let session = Session {
                    pending,
                    deadline: deadline.clone(),
                };
                wrapper.serve(Conn::new(stream, deadline), &|conn| {
                    connection(conn, &app, &session)
                });
            });
    }
    Ok(())
}

/// Answers 503 on the accepting thread (in plain text, even on a TLS port: a handshake is what
/// the limit is there to avoid) and closes.
fn refuse(mut stream: TcpStream) {
    let _ = stream.set_write_timeout(Some(Duration::from_secs(1)));
    let _ = write_response(
        &mut stream,
        &Response::text(503, "too many connections\n"),
        true,
        false,
    );
}

/// Frees a connection slot when its thread ends, panics included.
struct Slot(Arc<AtomicUsize>);

impl Drop for Slot {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::Relaxed);
    }
}

/// Serves requests on one connection until it closes, errs, asks to close, or runs out of time.
pub fn connection(stream: &mut dyn ReadWrite, app: &App, session: &Session) {
    let mut buf = vec![0u8; MAX_HEAD];
    let mut filled = 0;
    for _ in 0..MAX_REQUESTS_PER_CONNECTION {
        let (head, used) = match read_head(stream, &mut buf, &mut filled, &session.deadline) {
            Ok(Some(parsed)) => parsed,
            Ok(None) => return,
            Err(status) => {
                let message = match status {
                    431 => "request head too large\n",
                    _ => "malformed request\n",
                };
                let _ = write_response(stream, &Response::text(status, message), true, false);
                return;
            }
        };
        buf.copy_within(used..filled, 0);
        filled -= used;
        let response = route(&head, app, session);
        // An authorized connection has the idle timeout to take its answer and to ask again; one
        // that is not keeps the deadline it was accepted with.
        if session.authorized() {
            session.deadline.set(Instant::now() + IDLE_TIMEOUT);
        }
        // Without reading a body we cannot find the next request: close after answering.
        let close = head.close || head.has_body || matches!(response.status, 400 | 429);
        if write_response(stream, &response, close, head.method == "HEAD").is_err() || close {
            return;
        }
    }
}

/// Reads until one request head is complete. `Ok(None)`: the client closed (or went idle, or
/// ran out of time) between requests; `Err(status)`: answer with that status and close.
fn read_head(
    stream: &mut dyn ReadWrite,
    buf: &mut [u8],
    filled: &mut usize,
    deadline: &Deadline,
) -> Result<Option<(Head, usize)>, u16> {
    if *filled > 0 {
        deadline.limit(Instant::now() + HEAD_DEADLINE);
    }
    loop {
        if *filled > 0 {
            let mut headers = [httparse::EMPTY_HEADER; MAX_HEADERS];
            let mut request = httparse::Request::new(&mut headers);
            match request.parse(&buf[..*filled]) {
                Ok(httparse::Status::Complete(used)) => return head_of(&request).map(|h| Some((h, used))),
                Ok(httparse::Status::Partial) => {}
                Err(httparse::Error::TooManyHeaders) => return Err(431),
                Err(_) => return Err(400),
            }
            if *filled == buf.len() {
                return Err(431);
            }
        }
        match stream.read(&mut buf[*filled..]) {
            Ok(0) => return Ok(None),
            Ok(n) => {
                if *filled == 0 {
                    deadline.limit(Instant::now() + HEAD_DEADLINE);
                }
                *filled += n;
            }
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(_) => return Ok(None),
        }
    }
}

/// The request's head, or 400 when its body length is ambiguous.
fn head_of(request: &httparse::Request) -> Result<Head, u16> {
    let header = |name: &str| {
        request
            .headers
            .iter()
            .find(|h| h.name.eq_ignore_ascii_case(name))
            .map(|h| h.value)
    };
    let contains = |name: &str, needle: &str| {
        request
            .headers
            .iter()
            .filter(|h| h.name.eq_ignore_ascii_case(name))
            .any(|h| {
                String::from_utf8_lossy(h.value)
                    .to_ascii_lowercase()
                    .contains(needle)
            })
    };
    let http10 = request.version == Some(0);
    let close = if http10 {
        !contains("connection", "keep-alive")
    } else {
        contains("connection", "close")
    };
    let length = content_length(
        request
            .headers
            .iter()
            .filter(|h| h.name.eq_ignore_ascii_case("content-length"))
            .map(|h| h.value),
    )?;
    let has_body = header("transfer-encoding").is_some() || length.is_some_and(|n| n != 0);
    Ok(Head {
        method: request.method.unwrap_or_default().to_string(),
        path: request.path.unwrap_or_default().to_string(),
        close,
        openmetrics: contains("accept", "application/openmetrics-text"),
        has_body,
        authorization: header("authorization").map(<[u8]>::to_vec),
    })
}

/// The one length every `Content-Length` header (and every item of a comma-separated one)
/// gives, or 400: RFC 9112 6.3 makes lengths that differ, or are not decimal digits, an
/// unrecoverable framing error (two readers would disagree where the next request starts).
fn content_length<'a>(values: impl Iterator<Item = &'a [u8]>) -> Result<Option<u64>, u16> {
    let mut length = None;
    for value in values {
        for item in value.split(|&b| b == b',') {
            let item = item.trim_ascii();
            if item.is_empty() || !item.iter().all(u8::is_ascii_digit) {
                return Err(400);
            }
            let n = std::str::from_utf8(item)
                .ok()
                .and_then(|text| text.parse::<u64>().ok())
                .ok_or(400u16)?;
            if length.is_some_and(|seen| seen != n) {
                return Err(400);
            }
            length = Some(n);
        }
    }
    Ok(length)
}

/// Whether the request may see what it asks for; `Err` is the answer when not.
fn authorize(head: &Head, app: &App, session: &Session) -> Result<(), Response> {
    let allowed = match &app.auth {
        None => true,
        Some(auth) => match (auth.known(head.authorization.as_deref()), &head.authorization) {
            (Some(known), _) => known,
            (None, None) => false,
            (None, Some(header)) => {
                let source = session.pending.address;
                if !session.pending.sources.take_attempt(source) {
                    return Err(Response {
                        extra: "Retry-After: 2\r\n",
                        ..Response::text(429, "too many failed logins from your address; try again later\n")
                    });
                }
                let ok = auth.verify(header);
                if ok {
                    session.pending.sources.give_back(source);
                }
                ok
            }
        },
    };
    if !allowed {
        return Err(Response {
            extra: "WWW-Authenticate: Basic realm=\"portscope\"\r\n",
            ..Response::text(401, "unauthorized\n")
        });
    }
    session.pending.release();
    Ok(())
}

fn route(head: &Head, app: &App, session: &Session) -> Response {
    if head.has_body {
        return Response::text(400, "requests with a body are not accepted\n");
    }
    if let Err(refusal) = authorize(head, app, session) {
        return refusal;
    }
    let path = head.path.split_once('?').map_or(head.path.as_str(), |(p, _)| p);
    let known = matches!(path, "/metrics" | "/health");
    if !known {
        return Response::text(404, "not found: portscope serves /metrics and /health\n");
    }
    if head.method != "GET" && head.method != "HEAD" {
        return Response {
            extra: "Allow: GET, HEAD\r\n",
            ..Response::text(405, "only GET and HEAD\n")
        };
    }
    if path == "/health" {
        return Response::text(200, "ok\n");
    }
    match app.source.scrape() {
        Ok(exposition) => {
            let (content_type, body) = if head.openmetrics {
                (OPENMETRICS_CONTENT_TYPE, &exposition.openmetrics)
            } else {
                (CLASSIC_CONTENT_TYPE, &exposition.classic)
            };
            Response {
                status: 200,
                content_type,
                body: body.clone(),
                extra: "",
            }
        }
        Err(message) => Response::text(500, &format!("collection failed: {message}\n")),
    }
}

fn write_response(
    stream: &mut dyn ReadWrite,
    response: &Response,
    close: bool,
    head_only: bool,
) -> io::Result<()> {
    let head = format!(
        "HTTP/1.1 {} {}\r\nContent-Type: {}\r\nContent-Length: {}\r\n{}{}\r\n",
        response.status,
        reason(response.status),
        response.content_type,
        response.body.len(),
        response.extra,
        if close { "Connection: close\r\n" } else { "" },
    );
    // Two writes rather than one copy of a body of ~100 KB: the head is small, the body shared.
    stream.write_all(head.as_bytes())?;
    if !head_only {
        stream.write_all(response.body.as_bytes())?;
    }
    stream.flush()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::collector::Exposition;

    struct Fixed;

    impl Source for Fixed {
        fn scrape(&self) -> Result<Arc<Exposition>, String> {
            Ok(Arc::new(Exposition {
                openmetrics: "# TYPE x gauge\nx 1\n# EOF\n".into(),
                classic: "# TYPE x gauge\nx 1\n".into(),
                unreadable_processes: 0,
            }))
        }
    }

    /// A connection whose input is fixed bytes and whose output is collected.
    struct Pipe {
        input: io::Cursor<Vec<u8>>,
        output: Vec<u8>,
    }

    impl Read for Pipe {
        fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
            self.input.read(buf)
        }
    }

    impl Write for Pipe {
        fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
            self.output.extend_from_slice(buf);
            Ok(buf.len())
        }
        fn flush(&mut self) -> io::Result<()> {
            Ok(())
        }
    }

    fn exchange(input: &[u8]) -> String {
        let app = App {
            source: Arc::new(Fixed),
            auth: None,
        };
        let mut pipe = Pipe {
            input: io::Cursor::new(input.to_vec()),
            output: Vec::new(),
        };
        connection(&mut pipe, &app, &session(&Arc::new(Sources::default())));
        String::from_utf8(pipe.output).unwrap()
    }

    const HOST: IpAddr = IpAddr::V4(std::net::Ipv4Addr::new(198, 18, 0, 3));

    /// A connection from `HOST` as the server holds it, admitted or not (a throttled source's
    /// next request is what some tests look at).
    fn session(sources: &Arc<Sources>) -> Session {
        sources.with(HOST, |a| {
            a.open += 1;
            a.pending += 1;
        });
        Session {
            pending: Pending {
                sources: Arc::clone(sources),
                address: HOST,
                held: Cell::new(true),
            },
            deadline: Deadline::new(Instant::now() + FIRST_REQUEST_DEADLINE),
        }
    }

    fn statuses(output: &str) -> Vec<&str> {
        output.split("HTTP/1.1 ").skip(1).map(|r| &r[..3]).collect()
    }

    #[test]
    fn routes_and_negotiation() {
        let out = exchange(
            b"GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n\
              GET /metrics?x=1 HTTP/1.1\r\nAccept: application/openmetrics-text;version=1.0.0,text/plain;q=0.5\r\n\r\n\
              GET /health HTTP/1.1\r\n\r\n\
              GET / HTTP/1.1\r\n\r\n\
              POST /metrics HTTP/1.1\r\n\r\n\
              HEAD /metrics HTTP/1.1\r\nConnection: close\r\n\r\n",
        );
        assert_eq!(
            statuses(&out),
            ["200", "200", "200", "404", "405", "200"],
            "{out}"
        );
        assert!(out.contains("Content-Type: text/plain; version=0.0.4"));
        assert!(out.contains("Content-Type: application/openmetrics-text; version=1.0.0"));
        assert!(out.contains("# EOF"));
        assert!(out.contains("ok\n"));
        assert!(
            out.ends_with("Connection: close\r\n\r\n"),
            "HEAD has no body: {out}"
        );
    }

    #[test]
    fn malformed_oversized_and_bodies_are_refused() {
        assert_eq!(
            statuses(&exchange(b"GARBAGE\x00\x01 / HTTP/1.1\r\n\r\n")),
            ["400"]
        );
        assert_eq!(statuses(&exchange(b"GET /metrics HTTP/9.9\r\n\r\n")), ["400"]);
        let mut big = b"GET /metrics HTTP/1.1\r\nX-Long: ".to_vec();
        big.extend(std::iter::repeat_n(b'a', MAX_HEAD * 2));
        assert_eq!(statuses(&exchange(&big)), ["431"]);
        let mut many = b"GET /metrics HTTP/1.1\r\n".to_vec();
        for i in 0..MAX_HEADERS + 1 {
            many.extend(format!("X-{i}: 1\r\n").as_bytes());
        }
        many.extend(b"\r\n");
        assert_eq!(statuses(&exchange(&many)), ["431"]);
        let out =
            exchange(b"GET /metrics HTTP/1.1\r\nContent-Length: 5\r\n\r\nhelloGET /health HTTP/1.1\r\n\r\n");
        assert_eq!(
            statuses(&out),
            ["400"],
            "the connection closes after a body: {out}"
        );
        // A client that stops half-way through a head gets nothing and is let go.
        assert_eq!(exchange(b"GET /metr"), "");
    }

    #[test]
    fn http10_closes_after_one_answer() {
        let out = exchange(b"GET /health HTTP/1.0\r\n\r\nGET /health HTTP/1.0\r\n\r\n");
        assert_eq!(statuses(&out), ["200"]);
        assert!(out.contains("Connection: close"));
    }

    #[test]
    fn content_lengths_must_agree() {
        let of = |values: &[&[u8]]| content_length(values.iter().copied());
        assert_eq!(of(&[]), Ok(None));
        assert_eq!(of(&[b"0"]), Ok(Some(0)));
        assert_eq!(of(&[b"5", b" 5 "]), Ok(Some(5)));
        assert_eq!(of(&[b"5, 5"]), Ok(Some(5)));
        for bad in [
            &[&b"0"[..], b"5"][..],
            &[b"0, 5"],
            &[b"+0"],
            &[b"0x0"],
            &[b""],
            &[b"5,"],
            &[b"99999999999999999999999"],
        ] {
            assert_eq!(of(bad), Err(400), "{bad:?}");
        }
        let out = exchange(b"GET /health HTTP/1.1\r\nContent-Length: 0\r\nContent-Length: 23\r\n\r\nGET /metrics HTTP/1.1\r\n\r\n");
        assert_eq!(statuses(&out), ["400"], "{out}");
    }

    /// Says yes to one password, after a check it counts.
    struct Counting(std::sync::atomic::AtomicUsize);

    impl Authorizer for Counting {
        fn known(&self, authorization: Option<&[u8]>) -> Option<bool> {
            authorization.is_none().then_some(false)
        }
        fn verify(&self, authorization: &[u8]) -> bool {
            self.0.fetch_add(1, Ordering::Relaxed);
            authorization == b"good"
        }
    }

    #[test]
    fn sources_are_limited_in_pending_connections_and_failed_checks() {
        let sources = Arc::new(Sources::default());
        let held: Vec<Pending> = (0..MAX_PENDING_PER_SOURCE)
            .map(|_| sources.admit(HOST).expect("room"))
            .collect();
        assert!(sources.admit(HOST).is_none(), "the source is full");
        let other = IpAddr::V4(std::net::Ipv4Addr::new(198, 18, 0, 2));
        assert!(sources.admit(other).is_some(), "another source is not");
        // Two addresses of one IPv6 /64 are one source.
        let a: IpAddr = "fd00::1".parse().unwrap();
        let b: IpAddr = "fd00::ffff:2".parse().unwrap();
        let v6: Vec<Pending> = (0..MAX_PENDING_PER_SOURCE)
            .map(|_| sources.admit(a).expect("room"))
            .collect();
        assert!(sources.admit(b).is_none());
        held[0].release();
        let next = sources.admit(HOST);
        assert!(next.is_some(), "an authorized connection frees its place");
        // Authorized connections count too, up to a higher bound.
        let mut authorized: Vec<Pending> = held.into_iter().chain(next).collect();
        for p in &authorized {
            p.release();
        }
        while let Some(p) = sources.admit(HOST) {
            p.release();
            authorized.push(p);
            assert!(authorized.len() <= MAX_PER_SOURCE);
        }
        assert_eq!(authorized.len(), MAX_PER_SOURCE);
        drop(authorized);
        assert!(sources.admit(HOST).is_some(), "closed connections free theirs");
        drop(v6);

        let counting = Arc::new(Counting(AtomicUsize::new(0)));
        let app = App {
            source: Arc::new(Fixed),
            auth: Some(counting.clone()),
        };
        let ask = |password: &str| {
            let mut pipe = Pipe {
                input: io::Cursor::new(
                    format!("GET /metrics HTTP/1.1\r\nAuthorization: {password}\r\n\r\n").into_bytes(),
                ),
                output: Vec::new(),
            };
            connection(&mut pipe, &app, &session(&sources));
            statuses(&String::from_utf8(pipe.output).unwrap())[0].to_string()
        };
        assert_eq!(ask("good"), "200");
        for _ in 0..FAILURE_BURST {
            assert_eq!(ask("bad"), "401");
        }
        assert_eq!(ask("bad"), "429", "the source has used its checks");
        assert_eq!(ask("good"), "429", "a throttled source is not checked at all");
        assert_eq!(counting.0.load(Ordering::Relaxed), 1 + FAILURE_BURST as usize);
        assert!(
            sources.admit(HOST).is_none(),
            "nor are its new connections served"
        );
        assert!(
            sources.0.lock().unwrap().len() <= 1,
            "only the throttled source is remembered"
        );
    }
}
