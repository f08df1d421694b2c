//! The little HTTP/1.1 a webhook needs, as bytes: the URL (`http://HOST[:PORT][/PATH]`), extra
//! headers (`Name: value`), one `POST` request and the status line of the answer. No I/O here:
//! [`super::webhook`] writes and reads, over a plain `TcpStream`.
//!
//! https is refused: the exporter's TLS (rustls, a server) would need a client configuration and
//! a set of trusted roots this build does not carry. A local relay (stunnel, nginx, a log
//! shipper) that takes http on 127.0.0.1 and speaks https onward is the documented way.

/// A webhook URL: where to connect and what to ask for.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Url {
    /// As written, for the `Host` header and for messages: `example.org:8080`, `[fd00::1]:80`.
    pub authority: String,
    /// The host to resolve or the address to connect to, without brackets.
    pub host: String,
    pub port: u16,
    /// The path and query, at least `/`.
    pub target: String,
}

impl Url {
    /// Parses an `http://` URL; an error is one line for the user.
    pub fn parse(text: &str) -> Result<Url, String> {
        let rest = match text.split_once("://") {
            Some((scheme, rest)) if scheme.eq_ignore_ascii_case("http") => rest,
            Some((scheme, _)) if scheme.eq_ignore_ascii_case("https") => {
                return Err("https is not supported: point --webhook at a local relay that speaks http (see docs/watch-history-baseline.md)".into());
            }
            _ => return Err(format!("{text:?} is not an http:// URL")),
        };
        if let Some(bad) = rest.chars().find(|c| c.is_control() || c.is_whitespace()) {
            return Err(format!("the URL contains {bad:?}"));
        }
        let (authority, target) = match rest.find(['/', '?']) {
            Some(at) => (&rest[..at], &rest[at..]),
            None => (rest, "/"),
        };
        let target = match target.split_once('#') {
            Some((target, _)) => target,
            None => target,
        };
        let target = if target.starts_with('?') {
            format!("/{target}")
        } else {
            target.to_string()
        };
        if authority.contains('@') {
            return Err(
                "user:password@ in the URL is not supported; use --webhook-header 'Authorization: …'".into(),
            );
        }
        let (host, port) = if let Some(bracketed) = authority.strip_prefix('[') {
            let (host, after) = bracketed
                .split_once(']')
                .ok_or("an IPv6 address in a URL ends with ']'")?;
            (host, after.strip_prefix(':'))
        } else {
            match authority.rsplit_once(':') {
                Some((host, port)) => (host, Some(port)),
                None => (authority, None),
            }
        };
        if host.is_empty() {
            return Err(format!("{text:?} names no host"));
        }
        if !authority.starts_with('[') && host.contains(':') {
            return Err("an IPv6 address in a URL is written in brackets: http://[fd00::1]:8080/".into());
        }
        let port = match port {
            None | Some("") => 80,
            Some(port) => port
                .parse::<u16>()
                .ok()
                .filter(|p| *p != 0)
                .ok_or_else(|| format!("{port:?} is not a port"))?,
        };
        Ok(Url {
            authority: authority.to_string(),
            host: host.to_string(),
            port,
            target,
        })
    }
}

/// One `--webhook-header 'Name: value'`, checked: a token for the name, no control character in
/// the value (a value cannot add a header or end the request early). Host, Content-Length,
/// Content-Type, Connection and Transfer-Encoding are portscope's to set.
pub fn header(text: &str) -> Result<(String, String), String> {
    let (name, value) = text
        .split_once(':')
        .ok_or_else(|| format!("{text:?} is not 'Name: value'"))?;
    let token = |c: char| c.is_ascii_alphanumeric() || "!#$%&'*+-.^_`|~".contains(c);
    if name.is_empty() || !name.chars().all(token) {
        return Err(format!("{name:?} is not a header name"));
    }
    let value = value.trim_matches([' ', '\t']);
    if value.chars().any(|c| c.is_control() && c != '\t') {
        return Err(format!("the value of {name} contains a control character"));
    }
    const OURS: &[&str] = &[
        "host",
        "content-length",
        "content-type",
        "connection",
        "transfer-encoding",
    ];
    if OURS.iter().any(|h| h.eq_ignore_ascii_case(name)) {
        return Err(format!("{name} is set by portscope"));
    }
    Ok((name.to_string(), value.to_string()))
}

/// The whole request: `POST`, the JSON body, one request per connection.
pub fn request(url: &Url, headers: &[(String, String)], body: &[u8]) -> Vec<u8> {
    let mut head = format!(
        "POST {} HTTP/1.1\r\nHost: {}\r\nUser-Agent: portscope/{}\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n",
        url.target,
        url.authority,
        env!("CARGO_PKG_VERSION"),
        body.len()
    );
    for (name, value) in headers {
        head.push_str(name);
        head.push_str(": ");
        head.push_str(value);
        head.push_str("\r\n");
    }
    head.push_str("\r\n");
    let mut bytes = head.into_bytes();
    bytes.extend_from_slice(body);
    bytes
}

/// What the answer's status line says.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Answer {
    /// 2xx: delivered.
    Accepted(u16),
    /// 408, 429, 5xx: the server may take it later.
    TryLater(u16),
    /// Any other status: sending it again would get the same answer.
    Refused(u16),
}

/// The status of the first line of `bytes` (`HTTP/1.1 204 No Content`), once a whole line is
/// there: `Ok(None)` while more is needed, an error for an answer that is not HTTP.
pub fn status(bytes: &[u8]) -> Result<Option<Answer>, String> {
    let Some(end) = bytes.windows(2).position(|w| w == b"\r\n") else {
        return Ok(None);
    };
    let line = String::from_utf8_lossy(&bytes[..end]);
    let mut parts = line.splitn(3, ' ');
    let (version, code) = (parts.next().unwrap_or_default(), parts.next().unwrap_or_default());
    let code = match code.parse::<u16>() {
        Ok(code) if version.starts_with("HTTP/1.") && (100..1000).contains(&code) => code,
        _ => return Err(format!("not an HTTP answer: {:?}", crate::render::token(&line))),
    };
    Ok(Some(match code {
        200..=299 => Answer::Accepted(code),
        408 | 429 | 500..=599 => Answer::TryLater(code),
        _ => Answer::Refused(code),
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls() {
        let url = Url::parse("http://198.18.0.1:8080/hook?x=1#frag").unwrap();
        assert_eq!(
            url,
            Url {
                authority: "198.18.0.1:8080".into(),
                host: "198.18.0.1".into(),
                port: 8080,
                target: "/hook?x=1".into()
            }
        );
        let url = Url::parse("HTTP://[fd00::1]").unwrap();
        assert_eq!(
            (url.host.as_str(), url.port, url.target.as_str()),
            ("fd00::1", 80, "/")
        );
        assert_eq!(Url::parse("http://h?q").unwrap().target, "/?q");
        assert!(Url::parse("https://example.org/").unwrap_err().contains("relay"));
        for bad in [
            "ftp://h/",
            "h:80",
            "http://",
            "http://h:0/",
            "http://h:99999/",
            "http://u:p@h/",
            "http://h/a b",
            "http://[fd00::1/",
            "http://fd00::1/",
        ] {
            assert!(Url::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn headers_cannot_smuggle_lines() {
        assert_eq!(
            header("Authorization:  Bearer abc ").unwrap(),
            ("Authorization".into(), "Bearer abc".into())
        );
        assert!(header("X-A: b\r\nX-Evil: 1").is_err());
        assert!(header("Bad Name: v").is_err());
        assert!(header("novalue").is_err());
        assert!(header("content-length: 5").is_err());
    }

    #[test]
    fn a_request_is_a_post_of_the_body() {
        let url = Url::parse("http://198.18.0.1:8080/hook").unwrap();
        let bytes = request(&url, &[("X-Token".into(), "t".into())], br#"{"a":1}"#);
        let text = String::from_utf8(bytes).unwrap();
        let version = env!("CARGO_PKG_VERSION");
        assert_eq!(
            text,
            format!(
                "POST /hook HTTP/1.1\r\nHost: 198.18.0.1:8080\r\nUser-Agent: portscope/{version}\r\n\
                 Content-Type: application/json\r\nContent-Length: 7\r\nConnection: close\r\n\
                 X-Token: t\r\n\r\n{{\"a\":1}}"
            )
        );
    }

    #[test]
    fn status_lines() {
        assert_eq!(status(b"HTTP/1.1 20"), Ok(None));
        assert_eq!(
            status(b"HTTP/1.0 204 No Content\r\n"),
            Ok(Some(Answer::Accepted(204)))
        );
        assert_eq!(
            status(b"HTTP/1.1 503 Busy\r\nRetry-After: 1\r\n"),
            Ok(Some(Answer::TryLater(503)))
        );
        assert_eq!(status(b"HTTP/1.1 429\r\n"), Ok(Some(Answer::TryLater(429))));
        assert_eq!(
            status(b"HTTP/1.1 404 Not Found\r\n"),
            Ok(Some(Answer::Refused(404)))
        );
        assert!(status(b"SSH-2.0-OpenSSH\r\n").is_err());
        assert!(status(b"HTTP/1.1 abc\r\n").is_err());
    }
}
