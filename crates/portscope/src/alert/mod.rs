//! Alerts that leave the machine: `watch --syslog` and `watch --webhook`.
//!
//! A sink takes an [`Alert`]: one event as a JSON value (a port event, a scan alert, whatever
//! comes next), a severity and a one-line message for people. It never knows the event's type:
//! the syslog line's structured data is read off the JSON ([`Alert::params`]), the webhook posts
//! the JSON as it is. [`rfc5424`] and [`http`] are the pure wire formats (tested on bytes);
//! [`sink`] is the bounded queue and sender thread that keeps a slow or absent receiver from ever
//! delaying the watcher; [`syslog`] and [`webhook`] deliver one alert each.

pub mod http;
pub mod rfc5424;
pub mod sink;
pub mod syslog;
pub mod webhook;

use portscope_core::time;
use serde_json::Value;

use crate::watch::probes::ScanAlert;
use crate::watch::{Event, EventKind};

/// Syslog severities (RFC 5424 section 6.2.1), most severe first.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Severity {
    Emergency = 0,
    Alert = 1,
    Critical = 2,
    Error = 3,
    Warning = 4,
    Notice = 5,
    Info = 6,
    Debug = 7,
}

/// Syslog facilities by name, in code order (RFC 5424 section 6.2.1, as syslog(3) names them).
pub const FACILITIES: &[&str] = &[
    "kern", "user", "mail", "daemon", "auth", "syslog", "lpr", "news", "uucp", "cron", "authpriv", "ftp",
    "ntp", "audit", "alert", "clock", "local0", "local1", "local2", "local3", "local4", "local5", "local6",
    "local7",
];

/// A syslog facility: its code, 0 (kern) to 23 (local7).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Facility(pub u8);

impl Facility {
    pub const DAEMON: Facility = Facility(3);

    /// `daemon`, `local0`…: the names of [`FACILITIES`].
    pub fn parse(name: &str) -> Option<Facility> {
        FACILITIES
            .iter()
            .position(|f| f.eq_ignore_ascii_case(name))
            .map(|code| Facility(code as u8))
    }
}

/// One thing to tell the outside world.
#[derive(Clone, Debug, PartialEq)]
pub struct Alert {
    /// What happened, in one word: `opened`, `closed`, `owner_changed`, `scan`. The syslog MSGID.
    pub kind: String,
    pub severity: Severity,
    /// Milliseconds since the Unix epoch.
    pub time_ms: i64,
    /// One line for people, as the process named things: sinks escape it.
    pub message: String,
    /// The whole event, as `watch --json-lines` prints it.
    pub json: Value,
}

impl Alert {
    /// A port event: opened is a notice, an owner change a warning, closed information.
    pub fn of_event(event: &Event) -> Alert {
        let severity = match event.kind {
            EventKind::Opened => Severity::Notice,
            EventKind::OwnerChanged => Severity::Warning,
            EventKind::Closed => Severity::Info,
        };
        let line = event.line(|_| String::new());
        Alert {
            kind: event.kind.as_str().to_string(),
            severity,
            time_ms: event.time_ms,
            // The line pads its columns for a terminal; a log line wants single spaces.
            message: line
                .split(' ')
                .filter(|w| !w.is_empty())
                .collect::<Vec<_>>()
                .join(" "),
            json: serde_json::to_value(event.json()).unwrap_or(Value::Null),
        }
    }

    /// A burst of refused probes from one source: a warning. The JSON is the alert's fields with
    /// `time` (its last refusal), `"event": "scan"` and the `summary` line, as watch prints it.
    pub fn of_scan(scan: &ScanAlert) -> Alert {
        let mut json = serde_json::Map::new();
        json.insert("time".into(), Value::from(time::rfc3339(scan.last_ms)));
        json.insert("event".into(), Value::from("scan"));
        json.insert("summary".into(), Value::from(scan.line()));
        if let Ok(Value::Object(fields)) = serde_json::to_value(scan) {
            json.extend(fields);
        }
        Alert {
            kind: "scan".into(),
            severity: Severity::Warning,
            time_ms: scan.last_ms,
            message: scan.line(),
            json: Value::Object(json),
        }
    }

    /// The event's fields as flat name/value pairs, for syslog's structured data: each scalar at
    /// the top level under its own name (`time` and `summary` left out: the header and the MSG
    /// have them); an array of scalars
    /// joined by commas; the `owner` object's scalars under their own names (`pid`, `program`,
    /// `exe`, `user`…); an object with a `label` (the namespace) as that label; any other
    /// object's scalars as `NAME_FIELD` (`previous_pid`). Nulls are left out.
    pub fn params(&self) -> Vec<(String, String)> {
        let mut params = Vec::new();
        let Value::Object(fields) = &self.json else {
            return params;
        };
        for (name, value) in fields {
            match value {
                _ if name == "time" || name == "summary" => {}
                Value::Object(inner) if name == "owner" => {
                    params.extend(scalars(inner).map(|(n, v)| (n.clone(), v)));
                }
                Value::Object(inner) => match inner.get("label").and_then(scalar) {
                    Some(label) => params.push((name.clone(), label)),
                    None => params.extend(scalars(inner).map(|(n, v)| (format!("{name}_{n}"), v))),
                },
                Value::Array(items) => {
                    let items: Option<Vec<String>> = items.iter().map(scalar).collect();
                    if let Some(items) = items {
                        params.push((name.clone(), items.join(",")));
                    }
                }
                _ => params.extend(scalar(value).map(|v| (name.clone(), v))),
            }
        }
        params
    }
}

/// The scalar fields of an object (arrays such as `exe_bytes` are left out: `exe` says it).
fn scalars(object: &serde_json::Map<String, Value>) -> impl Iterator<Item = (&String, String)> {
    object
        .iter()
        .filter_map(|(name, value)| scalar(value).map(|v| (name, v)))
}

fn scalar(value: &Value) -> Option<String> {
    match value {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        Value::Bool(b) => Some(b.to_string()),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::Protocol;
    use crate::watch::{Owner, PortKey};

    pub(crate) fn event(kind: EventKind, program: &str) -> Event {
        Event {
            time_ms: 1_796_688_000_123,
            kind,
            key: PortKey {
                protocol: Protocol::Tcp,
                address: "0.0.0.0".parse().unwrap(),
                port: 4444,
                remote: None,
                netns: 0,
            },
            netns: None,
            source: Default::default(),
            short_lived: false,
            owner: Some(Owner {
                pid: 4242,
                program: program.into(),
                exe: Some("/usr/bin/python3.11".into()),
                uid: 0,
                user: Some("root".into()),
                unit: None,
            }),
            previous: (kind == EventKind::OwnerChanged).then(|| Owner {
                pid: 7,
                program: "nginx".into(),
                exe: None,
                uid: 33,
                user: None,
                unit: None,
            }),
            at_start: false,
        }
    }

    #[test]
    fn a_port_event_has_its_severity_one_line_and_flat_fields() {
        let alert = Alert::of_event(&event(EventKind::OwnerChanged, "python3"));
        assert_eq!(alert.kind, "owner_changed");
        assert_eq!(alert.severity, Severity::Warning);
        assert_eq!(
            alert.message,
            "owner tcp 0.0.0.0:4444 nginx (pid 7, user 33) -> python3 (pid 4242, user root)"
        );
        let params = alert.params();
        let get = |n: &str| params.iter().find(|(k, _)| k == n).map(|(_, v)| v.as_str());
        assert_eq!(get("event"), Some("owner_changed"));
        assert_eq!(get("protocol"), Some("tcp"));
        assert_eq!(get("address"), Some("0.0.0.0"));
        assert_eq!(get("port"), Some("4444"));
        assert_eq!(get("pid"), Some("4242"));
        assert_eq!(get("exe"), Some("/usr/bin/python3.11"));
        assert_eq!(get("user"), Some("root"));
        assert_eq!(get("previous_pid"), Some("7"));
        assert_eq!(get("previous_exe"), None, "null is left out");
        assert_eq!(get("time"), None);
        assert_eq!(get("at_start"), Some("false"));
        assert_eq!(
            Alert::of_event(&event(EventKind::Opened, "x")).severity,
            Severity::Notice
        );
        assert_eq!(
            Alert::of_event(&event(EventKind::Closed, "x")).severity,
            Severity::Info
        );
    }

    #[test]
    fn a_scan_alert_is_carried_as_its_own_json() {
        let scan = ScanAlert {
            first_ms: 1000,
            last_ms: 3100,
            netns: 0,
            source: "198.18.40.2".parse().unwrap(),
            protocols: vec![Protocol::Tcp, Protocol::Udp],
            ports: 1000,
            probes: 1002,
            lowest_port: 1,
            highest_port: 2000,
        };
        let alert = Alert::of_scan(&scan);
        assert_eq!((alert.kind.as_str(), alert.severity), ("scan", Severity::Warning));
        assert_eq!(alert.json["event"], "scan");
        assert_eq!(alert.json["source"], "198.18.40.2");
        assert_eq!(alert.json["time"], "1970-01-01T00:00:03.100Z");
        assert_eq!(alert.json["summary"], alert.message);
        assert!(
            alert.message.starts_with("198.18.40.2 probed 1,000"),
            "{}",
            alert.message
        );
        let params = alert.params();
        assert!(
            params.contains(&("protocols".into(), "tcp,udp".into())),
            "{params:?}"
        );
        assert!(params.contains(&("source".into(), "198.18.40.2".into())));
        assert!(!params.iter().any(|(name, _)| name == "summary" || name == "time"));
        let line = rfc5424::line(&alert, Facility::DAEMON, &rfc5424::Origin::new("h", 1));
        assert!(
            line.starts_with(
                "<28>1 1970-01-01T00:00:03.100Z h portscope 1 scan [portscope@32473 event=\"scan\" "
            ),
            "{line}"
        );
        assert!(
            line.ends_with("] 198.18.40.2 probed 1,000 TCP+UDP ports (1-2000) in 2.1 s"),
            "{line}"
        );
    }

    #[test]
    fn facilities_by_name() {
        assert_eq!(Facility::parse("daemon"), Some(Facility::DAEMON));
        assert_eq!(Facility::parse("LOCAL7"), Some(Facility(23)));
        assert_eq!(Facility::parse("kern"), Some(Facility(0)));
        assert_eq!(Facility::parse("nope"), None);
    }
}
