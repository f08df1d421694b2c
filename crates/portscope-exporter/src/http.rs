//! A small blocking HTTP/1.1 server for `/metrics` and `/health`, bounded in every direction.
//!
//! What a scrape target must survive is malformed, oversized and slow clients, so each limit is
//! explicit: a request head is at most [`MAX_HEAD`] bytes (431 beyond), must arrive within
//! [`HEAD_DEADLINE`] (a client that trickles bytes is dropped), and at most [`MAX_CONNECTIONS`]
//! connections are served at once (503 beyond). Parsing is httparse's; anything it refuses gets
//! 400 and the connection is closed. One thread per connection: scrapers are few and keep their
//! connection alive, and a blocking thread is the simplest thing that cannot wedge the others.
//! The server never reads a request body; a request that announces one is refused with 400.

use std::io::{self, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use crate::collector::Source;
use crate::metrics::{CLASSIC_CONTENT_TYPE, OPENMETRICS_CONTENT_TYPE};

/// The largest request head (request line and headers) accepted.
pub const MAX_HEAD: usize = 8 * 1024;
/// The most headers a request may carry.
pub const MAX_HEADERS: usize = 64;
/// Connections served at once; more are answered 503 and closed.
pub const MAX_CONNECTIONS: usize = 128;
/// How long a request head may take to arrive, from its first byte.
pub const HEAD_DEADLINE: Duration = Duration::from_secs(10);
/// How long an idle keep-alive connection is kept, and the limit on any single read or write.
pub const IDLE_TIMEOUT: Duration = Duration::from_secs(30);
/// Requests served on one connection before it is closed.
pub const MAX_REQUESTS_PER_CONNECTION: usize = 10_000;

/// Checks a request's `Authorization` header; `None` lets everything through.
pub trait Authorizer: Send + Sync {
    /// Whether the header (absent: `None`) grants access.
    fn allows(&self, authorization: Option<&[u8]>) -> bool;
}

/// Wraps each accepted connection, e.g. in TLS; the identity for plain HTTP.
pub trait Wrapper: Send + Sync {
    fn serve(&self, stream: TcpStream, handler: &dyn Fn(&mut dyn ReadWrite));
}

/// A stream a connection is served over (a TCP stream, or TLS over one).
pub trait ReadWrite: Read + Write {}
impl<T: Read + Write> ReadWrite for T {}

/// Plain HTTP.
pub struct Plain;

impl Wrapper for Plain {
    fn serve(&self, mut stream: TcpStream, handler: &dyn Fn(&mut dyn ReadWrite)) {
        handler(&mut stream);
    }
}

/// What the server answers with.
pub struct App {
    pub source: Arc<dyn Source>,
    pub auth: Option<Arc<dyn Authorizer>>,
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
        431 => "Request Header Fields Too Large",
        500 => "Internal Server Error",
        503 => "Service Unavailable",
        _ => "Unknown",
    }
}

/// Accepts connections forever, each served on a thread of its own.
pub fn serve(listener: TcpListener, app: Arc<App>, wrapper: Arc<dyn Wrapper>) -> io::Result<()> {
    let active = Arc::new(AtomicUsize::new(0));
    for stream in listener.incoming() {
        let stream = match stream {
            Ok(stream) => stream,
            // Out of descriptors, or a connection reset before accept: wait a moment, go on.
            Err(_) => {
                std::thread::sleep(Duration::from_millis(50));
                continue;
            }
        };
        if active.load(Ordering::Relaxed) >= MAX_CONNECTIONS {
            let _ = stream.set_write_timeout(Some(Duration::from_secs(1)));
            let mut stream = stream;
            let _ = write_response(
                &mut stream,
                &Response::text(503, "too many connections\n"),
                true,
                false,
            );
            continue;
        }
        let _ = stream.set_read_timeout(Some(IDLE_TIMEOUT));
        let _ = stream.set_write_timeout(Some(IDLE_TIMEOUT));
        let _ = stream.set_nodelay(true);
        active.fetch_add(1, Ordering::Relaxed);
        // A thread that cannot be made (memory, limits) drops the connection and its slot.
        let slot = Slot(active.clone());
        let (app, wrapper) = (app.clone(), wrapper.clone());
        let _ = std::thread::Builder::new()
            .name("portscope-http".into())
            .spawn(move || {
                let _slot = slot;
                wrapper.serve(stream, &|conn| connection(conn, &app));
            });
    }
    Ok(())
}

/// Frees a connection slot when its thread ends, panics included.
struct Slot(Arc<AtomicUsize>);

impl Drop for Slot {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::Relaxed);
    }
}

/// Serves requests on one connection until it closes, errs, or asks to close.
pub fn connection(stream: &mut dyn ReadWrite, app: &App) {
    let mut buf = vec![0u8; MAX_HEAD];
    let mut filled = 0;
    for _ in 0..MAX_REQUESTS_PER_CONNECTION {
        let (head, used) = match read_head(stream, &mut buf, &mut filled) {
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
        let response = route(&head, app);
        // Without reading a body we cannot find the next request: close after answering.
        let close = head.close || head.has_body || response.status == 400;
        if write_response(stream, &response, close, head.method == "HEAD").is_err() || close {
            return;
        }
    }
}

/// Reads until one request head is complete. `Ok(None)`: the client closed (or went idle)
/// between requests; `Err(status)`: answer with that status and close.
fn read_head(
    stream: &mut dyn ReadWrite,
    buf: &mut [u8],
    filled: &mut usize,
) -> Result<Option<(Head, usize)>, u16> {
    let mut started: Option<Instant> = (*filled > 0).then(Instant::now);
    loop {
        if *filled > 0 {
            let mut headers = [httparse::EMPTY_HEADER; MAX_HEADERS];
            let mut request = httparse::Request::new(&mut headers);
            match request.parse(&buf[..*filled]) {
                Ok(httparse::Status::Complete(used)) => return Ok(Some((head_of(&request), used))),
                Ok(httparse::Status::Partial) => {}
                Err(httparse::Error::TooManyHeaders) => return Err(431),
                Err(_) => return Err(400),
            }
            if *filled == buf.len() {
                return Err(431);
            }
        }
        if started.is_some_and(|s| s.elapsed() > HEAD_DEADLINE) {
            return Ok(None);
        }
        match stream.read(&mut buf[*filled..]) {
            Ok(0) => return Ok(None),
            Ok(n) => {
                started.get_or_insert_with(Instant::now);
                *filled += n;
            }
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(_) => return Ok(None),
        }
    }
}

fn head_of(request: &httparse::Request) -> Head {
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
    let has_body = header("transfer-encoding").is_some()
        || header("content-length").is_some_and(|v| v.trim_ascii() != b"0");
    Head {
        method: request.method.unwrap_or_default().to_string(),
        path: request.path.unwrap_or_default().to_string(),
        close,
        openmetrics: contains("accept", "application/openmetrics-text"),
        has_body,
        authorization: header("authorization").map(<[u8]>::to_vec),
    }
}

fn route(head: &Head, app: &App) -> Response {
    if head.has_body {
        return Response::text(400, "requests with a body are not accepted\n");
    }
    if let Some(auth) = &app.auth
        && !auth.allows(head.authorization.as_deref())
    {
        return Response {
            extra: "WWW-Authenticate: Basic realm=\"portscope\"\r\n",
            ..Response::text(401, "unauthorized\n")
        };
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
        connection(&mut pipe, &app);
        String::from_utf8(pipe.output).unwrap()
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
}
