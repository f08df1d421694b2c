//! What a user asks about (`80`, `80/tcp`, `6000-6010`, `ssh`, `127.0.0.1:8080`) and everything
//! portscope knows about it: registry rows, local names, the IANA range, abuse history.
//!
//! `lookup` and `explain` both start here; they differ only in what they add and how they print.

use std::net::{IpAddr, SocketAddr};

use serde::Serialize;

use super::common::{self, CommonName};
use super::local::{self, Origin, ServiceNames};
use super::registry::{self, Transport};
use super::{AbuseEntry, PortClass, abuse};
use crate::error::{Error, Result};

/// The thing asked about.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Target {
    /// A port or an inclusive range of ports.
    Ports { start: u16, end: u16 },
    /// A service name, matched without regard to ASCII case.
    Name(String),
}

/// A parsed question: a target, an optional transport (`80/udp`), an optional address
/// (`127.0.0.1:8080`, `[::1]:8080`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Question {
    pub target: Target,
    pub transport: Option<Transport>,
    pub address: Option<IpAddr>,
}

/// Parses what the user typed. A malformed port, range or address is a usage error (exit 2).
pub fn parse(text: &str) -> Result<Question> {
    let text = text.trim();
    let bad = |why: &str| Error::Usage(format!("{text:?}: {why}"));
    if text.is_empty() {
        return Err(bad(
            "empty; give a port (80), a range (6000-6010), a name (ssh) or ADDRESS:PORT",
        ));
    }
    let (body, transport) = match text.rsplit_once('/') {
        Some((body, proto)) => {
            let transport = Transport::parse(proto)
                .ok_or_else(|| bad("unknown protocol after '/' (tcp, udp, sctp, dccp)"))?;
            (body, Some(transport))
        }
        None => (text, None),
    };
    if let Ok(addr) = body.parse::<SocketAddr>() {
        return Ok(Question {
            target: Target::Ports {
                start: addr.port(),
                end: addr.port(),
            },
            transport,
            address: Some(addr.ip()),
        });
    }
    if body.contains(':') {
        return Err(bad("not ADDRESS:PORT (write IPv6 addresses as [::1]:8080)"));
    }
    let target = if body.starts_with(|c: char| c.is_ascii_digit()) {
        let (start, end) = super::facts::parse_port_range(body).map_err(|e| Error::Usage(e.to_string()))?;
        Target::Ports { start, end }
    } else if body
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || "-_.+ ()".contains(c))
        && !body.is_empty()
    {
        Target::Name(body.to_string())
    } else {
        return Err(bad("not a port, range, service name or ADDRESS:PORT"));
    };
    Ok(Question {
        target,
        transport,
        address: None,
    })
}

/// One name known for a port or range: from the IANA registry or a local services file.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Known {
    pub start: u16,
    pub end: u16,
    pub transport: Transport,
    pub name: String,
    pub description: String,
    /// `iana`, `common use` (the name people use where the registry says otherwise), or the
    /// path of the local file the name came from.
    pub source: String,
}

impl Known {
    /// `80` or `6000-6063`.
    pub fn ports(&self) -> String {
        if self.start == self.end {
            self.start.to_string()
        } else {
            format!("{}-{}", self.start, self.end)
        }
    }
}

/// Everything portscope knows about one question.
#[derive(Clone, Debug, Serialize)]
pub struct Answer {
    /// The lowest and highest port the answer is about (for a name: the ports registered for it).
    pub start: u16,
    pub end: u16,
    pub transport: Option<Transport>,
    /// The IANA ranges that `start..=end` touches.
    pub classes: Vec<PortClass>,
    /// Sorted by port and transport; registry rows before local names for the same pair.
    pub services: Vec<Known>,
    pub abuse: Vec<&'static AbuseEntry>,
    /// Always present: what a port number can and cannot tell.
    pub caveat: &'static str,
}

/// The sentence every output carries.
pub const CAVEAT: &str = "A port number alone proves nothing: any program can listen on any port, and a \
                          registered or abused port says only what usually runs there.";

/// Looks the question up. An unknown service name is `NotFound` (exit 6); a port with nothing
/// registered is a valid answer with no services.
pub fn answer(question: &Question, names: &ServiceNames) -> Result<Answer> {
    let wanted = |t: Transport| question.transport.is_none_or(|q| q == t);
    let locals = names.local();
    let mut services: Vec<Known> = Vec::new();
    let (start, end) = match &question.target {
        Target::Ports { start, end } => {
            services.extend(
                registry::in_range(*start, *end, question.transport)
                    .iter()
                    .map(iana),
            );
            for port in *start..=*end {
                for t in Transport::ALL.into_iter().filter(|t| wanted(*t)) {
                    services.extend(common::common(port, t).map(common_known));
                    services.extend(locals.for_port(port, t).iter().map(local_known));
                }
            }
            (*start, *end)
        }
        Target::Name(name) => {
            services.extend(
                registry::by_name(name)
                    .iter()
                    .filter(|s| wanted(s.transport))
                    .map(iana),
            );
            services.extend(
                common::by_name(name)
                    .filter(|c| wanted(c.transport))
                    .map(common_known),
            );
            services.extend(
                locals
                    .by_name(name)
                    .into_iter()
                    .filter(|l| wanted(l.transport))
                    .map(local_known),
            );
            // A malware family or kind ("netbus", "trojan") answers with the ports of its rows.
            let named = abuse::by_name(name);
            let start = services.iter().map(|s| s.start).min();
            let end = services.iter().map(|s| s.end).max();
            let from_abuse = || named.iter().map(|a| a.port);
            match start.zip(end).or(from_abuse().min().zip(from_abuse().max())) {
                Some(span) => span,
                None => {
                    let proto = question
                        .transport
                        .map(|t| format!(" over {t}"))
                        .unwrap_or_default();
                    return Err(Error::NotFound(format!(
                        "no service named {name:?}{proto} in the IANA registry, {} or a --services \
                         file, and no family or kind of that name in the abuse table \
                         (`portscope lookup --abuse` lists it)",
                        local::ETC_SERVICES
                    )));
                }
            }
        }
    };
    // Registry rows before local names for the same port and transport.
    services.sort_by_key(|s| (s.start, s.transport));
    let mut classes: Vec<PortClass> = Vec::new();
    for class in [PortClass::of(start), PortClass::of(end)]
        .into_iter()
        .chain((start < 1024 && end > 49151).then_some(PortClass::Registered))
    {
        if !classes.contains(&class) {
            classes.push(class);
        }
    }
    classes.sort_by_key(|c| *c as u8);
    let abuse = match &question.target {
        Target::Ports { .. } => abuse::all()
            .iter()
            .filter(|a| (start..=end).contains(&a.port))
            .filter(|a| abuse_matches(a, question.transport))
            .collect(),
        // For a name, abuse of the ports it is registered on, and the rows of a family or kind
        // of that name, in table order.
        Target::Name(name) => {
            let named = abuse::by_name(name);
            abuse::all()
                .iter()
                .filter(|a| {
                    named.iter().any(|n| std::ptr::eq(*n, *a))
                        || services.iter().any(|s| {
                            (s.start..=s.end).contains(&a.port) && abuse_matches(a, Some(s.transport))
                        })
                })
                .filter(|a| abuse_matches(a, question.transport))
                .collect()
        }
    };
    Ok(Answer {
        start,
        end,
        transport: question.transport,
        classes,
        services,
        abuse,
        caveat: CAVEAT,
    })
}

fn abuse_matches(entry: &AbuseEntry, transport: Option<Transport>) -> bool {
    match (entry.protocol, transport) {
        (None, _) | (_, None) => true,
        (Some(p), Some(t)) => Transport::of(p) == Some(t),
    }
}

fn iana(s: &registry::Service) -> Known {
    Known {
        start: s.start,
        end: s.end,
        transport: s.transport,
        name: s.name.to_string(),
        description: s.description.to_string(),
        source: "iana".into(),
    }
}

/// The source [`Known`] gives a name in common use.
pub const COMMON_USE: &str = "common use";

fn common_known(c: &CommonName) -> Known {
    Known {
        start: c.port,
        end: c.port,
        transport: c.transport,
        name: c.name.to_string(),
        description: c.usage.to_string(),
        source: COMMON_USE.into(),
    }
}

fn local_known(l: &local::LocalName) -> Known {
    Known {
        start: l.port,
        end: l.port,
        transport: l.transport,
        name: l.name.clone(),
        description: if l.aliases.is_empty() {
            String::new()
        } else {
            format!("aliases: {}", l.aliases.join(" "))
        },
        source: match &l.origin {
            Origin::System => local::ETC_SERVICES.to_string(),
            Origin::User(_) => l.origin.label(),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ports(text: &str) -> (u16, u16, Option<Transport>) {
        match parse(text) {
            Ok(Question {
                target: Target::Ports { start, end },
                transport,
                ..
            }) => (start, end, transport),
            other => panic!("{text}: {other:?}"),
        }
    }

    #[test]
    fn parses_every_form() {
        assert_eq!(ports("80"), (80, 80, None));
        assert_eq!(ports("53/UDP"), (53, 53, Some(Transport::Udp)));
        assert_eq!(ports("6000-6010"), (6000, 6010, None));
        assert_eq!(ports("127.0.0.1:8080"), (8080, 8080, None));
        assert_eq!(ports("[::1]:8080"), (8080, 8080, None));
        assert_eq!(ports("127.0.0.1:8080/tcp"), (8080, 8080, Some(Transport::Tcp)));
        assert!(matches!(parse("ssh/tcp"), Ok(Question { target: Target::Name(n), .. }) if n == "ssh"));
    }

    #[test]
    fn refuses_malformed_input() {
        for bad in [
            "",
            "70000",
            "10-5",
            "80/icmp",
            "::1:80",
            "a;b",
            "1.2.3.4:99999",
            "80-",
        ] {
            assert!(matches!(parse(bad), Err(Error::Usage(_))), "{bad:?}");
        }
    }

    #[test]
    fn unknown_name_is_not_found() {
        let question = parse("surely-not-a-service").unwrap();
        assert!(matches!(
            answer(&question, &ServiceNames::iana()),
            Err(Error::NotFound(_))
        ));
    }

    #[test]
    fn a_family_or_kind_answers_with_its_ports() {
        let answer = answer(&parse("NetBus").unwrap(), &ServiceNames::iana()).unwrap();
        let ports: Vec<u16> = answer.abuse.iter().map(|a| a.port).collect();
        assert!(ports.contains(&12345) && ports.contains(&12346), "{ports:?}");
        assert_eq!(answer.start, 12345);
        let answer = super::answer(&parse("back orifice/udp").unwrap(), &ServiceNames::iana()).unwrap();
        assert!(
            answer
                .abuse
                .iter()
                .all(|a| a.protocol != Some(crate::model::Protocol::Tcp))
        );
        assert!(!answer.abuse.is_empty());
    }

    #[test]
    fn span_covers_ranges_across_classes() {
        let answer = answer(&parse("1000-50000/tcp").unwrap(), &ServiceNames::iana()).unwrap();
        assert_eq!(
            answer.classes,
            vec![PortClass::WellKnown, PortClass::Registered, PortClass::Dynamic]
        );
    }
}
