//! From what portscope saw to metric families: pure, so every label and value is tested on
//! hand-built snapshots.
//!
//! Label values come from processes (names, executables, units) and are hostile input: a
//! process may name itself `a"b\nc`. prometheus-client's encoder escapes them as OpenMetrics
//! requires (`\\`, `\"`, `\n`); every other character, control characters included, is legal
//! inside a quoted label value and passes unchanged, so the value Prometheus stores is the name
//! the kernel reported. The tests below read every hostile value back through [`parse_labels`].

use std::collections::BTreeMap;
use std::sync::atomic::AtomicU64;

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::registry::Registry;

use portscope_core::audit::{CheckId, Report, Severity};
use portscope_core::baseline;
use portscope_core::knowledge::ServiceNames;
use portscope_core::model::{Holder, NetnsKind, Snapshot, Socket, Supervisor};
use portscope_core::watch::{self, Event, EventKind, PortKey};

/// The content type of [`openmetrics`]'s text.
pub const OPENMETRICS_CONTENT_TYPE: &str = "application/openmetrics-text; version=1.0.0; charset=utf-8";
/// The content type of [`classic`]'s text.
pub const CLASSIC_CONTENT_TYPE: &str = "text/plain; version=0.0.4; charset=utf-8";

/// Port events counted since the exporter started.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct EventCounts {
    pub opened: u64,
    pub closed: u64,
    pub owner_changed: u64,
}

impl EventCounts {
    pub fn add(&mut self, events: &[Event]) {
        for event in events {
            match event.kind {
                EventKind::Opened => self.opened += 1,
                EventKind::Closed => self.closed += 1,
                EventKind::OwnerChanged => self.owner_changed += 1,
            }
        }
    }
}

/// Everything one exposition is made of.
pub struct Inputs<'a> {
    pub snapshot: &'a Snapshot,
    pub report: &'a Report,
    pub names: &'a ServiceNames,
    /// portscope's own network namespace (its inode number), for sockets whose namespace the
    /// snapshot does not give; empty when unknown.
    pub netns: &'a str,
    pub events: EventCounts,
    /// How long the collection behind this exposition took.
    pub collect_seconds: f64,
    pub version: &'a str,
    /// The listening ports compared with a baseline file, when the exporter was given one.
    pub baseline: Option<&'a baseline::Report>,
}

/// `portscope_listening_socket_info`'s labels: one listening port and the program behind it.
#[derive(Clone, Debug, Hash, PartialEq, Eq, PartialOrd, Ord, EncodeLabelSet)]
pub struct ListenerLabels {
    pub proto: String,
    pub address: String,
    pub port: String,
    pub netns: String,
    /// The namespace's name (`ip netns` or container name, `host`), empty when it has none.
    pub netns_name: String,
    pub process: String,
    pub exe: String,
    pub user: String,
    pub unit: String,
    pub container: String,
    pub service: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct SocketLabels {
    proto: String,
    state: String,
    netns: String,
    netns_name: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct FindingLabels {
    severity: String,
    rule: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct EventLabels {
    kind: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct DifferenceLabels {
    status: String,
    proto: String,
    address: String,
    port: String,
    process: String,
    expected: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct BuildLabels {
    version: String,
}

/// One label set per listening port (TCP LISTEN, bound UDP): protocol, address and port, owned by
/// the process at the root of its holders as `watch` sees it, so a server's workers are one
/// series and a restart of a worker changes nothing.
pub fn listeners(snapshot: &Snapshot, names: &ServiceNames, netns: &str) -> Vec<ListenerLabels> {
    let mut ports: BTreeMap<(PortKey, (String, String)), Vec<&Holder>> = BTreeMap::new();
    for socket in &snapshot.sockets {
        if let Some(key) = watch::key_of(socket, false) {
            let space = (netns_label(socket, netns), netns_name(socket));
            ports.entry((key, space)).or_default().extend(&socket.holders);
        }
    }
    ports
        .into_iter()
        .map(|((key, (netns, netns_name)), holders)| {
            let owner = watch::root_holder(&holders).map(|h| &h.process);
            let (unit, container) = match owner.and_then(|p| p.supervisor.as_ref()) {
                Some(Supervisor::Systemd { unit }) => (unit.clone(), String::new()),
                Some(Supervisor::SystemdUser { unit }) => (format!("user:{unit}"), String::new()),
                Some(s @ Supervisor::Container { .. }) => (String::new(), s.to_string()),
                Some(Supervisor::WindowsService { name }) => (format!("service:{name}"), String::new()),
                None => (String::new(), String::new()),
            };
            ListenerLabels {
                proto: key.protocol.as_str().into(),
                address: key.address.to_string(),
                port: key.port.to_string(),
                netns,
                netns_name,
                process: owner.map(|p| p.name.clone()).unwrap_or_default(),
                exe: owner
                    .and_then(|p| p.exe.as_ref())
                    .map(|e| e.to_string_lossy().into_owned())
                    .unwrap_or_default(),
                user: owner
                    .map(|p| p.user.clone().unwrap_or_else(|| p.uid.to_string()))
                    .unwrap_or_default(),
                unit,
                container,
                service: names.name(key.port, key.protocol).unwrap_or_default().into(),
            }
        })
        .collect()
}

/// The `netns` label of a socket: its namespace's inode number, or `own` when the snapshot does
/// not say (a recorded host, an old kernel).
fn netns_label(socket: &Socket, own: &str) -> String {
    match socket.netns.inode {
        0 => own.into(),
        inode => inode.to_string(),
    }
}

/// The `netns_name` label: the name a person knows the namespace by (the `ip netns` or container
/// name, `host`), beside the inode; empty for an anonymous namespace or when the snapshot does not
/// say which namespace a socket is in.
fn netns_name(socket: &Socket) -> String {
    if socket.netns.inode == 0 {
        return String::new();
    }
    match (&socket.netns.name, socket.netns.kind) {
        (Some(name), _) => name.clone(),
        (None, NetnsKind::Host) => "host".into(),
        (None, _) => String::new(),
    }
}

/// The registry of one exposition.
pub fn registry(inputs: &Inputs) -> Registry {
    let mut registry = Registry::default();

    let listening = Family::<ListenerLabels, Gauge>::default();
    registry.register(
        "portscope_listening_socket_info",
        "A listening TCP or bound UDP port, and the program that holds it (always 1)",
        listening.clone(),
    );
    for labels in listeners(inputs.snapshot, inputs.names, inputs.netns) {
        listening.get_or_create(&labels).set(1);
    }

    let sockets = Family::<SocketLabels, Gauge>::default();
    registry.register(
        "portscope_sockets",
        "Sockets by protocol and state (as ss names the states)",
        sockets.clone(),
    );
    let mut counts: BTreeMap<(&str, &str, String, String), i64> = BTreeMap::new();
    for socket in &inputs.snapshot.sockets {
        let netns = netns_label(socket, inputs.netns);
        *counts
            .entry((
                socket.protocol.as_str(),
                socket.state.as_str(),
                netns,
                netns_name(socket),
            ))
            .or_default() += 1;
    }
    for ((proto, state, netns, netns_name), count) in counts {
        sockets
            .get_or_create(&SocketLabels {
                proto: proto.into(),
                state: state.into(),
                netns,
                netns_name,
            })
            .set(count);
    }

    let findings = Family::<FindingLabels, Gauge>::default();
    registry.register(
        "portscope_audit_findings",
        "Findings of portscope's audit checks now, by severity and rule",
        findings.clone(),
    );
    // Every pair is present, zero included, so an alert rule never waits for a series to appear.
    for severity in Severity::ALL {
        for rule in CheckId::ALL {
            let count = inputs
                .report
                .findings
                .iter()
                .filter(|f| f.severity == severity && f.check == rule)
                .count();
            findings
                .get_or_create(&FindingLabels {
                    severity: severity.as_str().into(),
                    rule: rule.as_str().into(),
                })
                .set(count as i64);
        }
    }

    let events = Family::<EventLabels, Counter>::default();
    registry.register(
        "portscope_port_events",
        "Listening ports that opened, closed or changed owner since the exporter started",
        events.clone(),
    );
    for (kind, count) in [
        (EventKind::Opened, inputs.events.opened),
        (EventKind::Closed, inputs.events.closed),
        (EventKind::OwnerChanged, inputs.events.owner_changed),
    ] {
        events
            .get_or_create(&EventLabels {
                kind: kind.as_str().into(),
            })
            .inc_by(count);
    }

    if let Some(report) = inputs.baseline {
        let differences = Family::<DifferenceLabels, Gauge>::default();
        registry.register(
            "portscope_baseline_difference_info",
            "A listening port that differs from the baseline file: new, changed (another program) or missing (always 1)",
            differences.clone(),
        );
        for (status, list) in [
            ("new", &report.new),
            ("changed", &report.changed),
            ("missing", &report.missing),
        ] {
            for d in list {
                differences
                    .get_or_create(&DifferenceLabels {
                        status: status.into(),
                        proto: d.protocol.as_str().into(),
                        address: d.address.to_string(),
                        port: d.port.to_string(),
                        process: d.owner.as_ref().map(|o| o.program.clone()).unwrap_or_default(),
                        expected: d.expected_program.clone().unwrap_or_default(),
                    })
                    .set(1);
            }
        }
        let matched = Gauge::<i64>::default();
        matched.set(report.matched as i64);
        registry.register(
            "portscope_baseline_matched_listeners",
            "Listening ports that match the baseline file",
            matched,
        );
    }

    let unreadable = Gauge::<i64>::default();
    unreadable.set(inputs.snapshot.unreadable_processes as i64);
    registry.register(
        "portscope_unreadable_processes",
        "Processes whose sockets could not be read (missing privileges or a sandbox)",
        unreadable,
    );

    let duration = Gauge::<f64, AtomicU64>::default();
    duration.set(inputs.collect_seconds);
    registry.register(
        "portscope_scrape_duration_seconds",
        "How long collecting the sockets, their programs and the audit took",
        duration,
    );

    let build = Family::<BuildLabels, Gauge>::default();
    registry.register(
        "portscope_build_info",
        "The portscope version serving these metrics (always 1)",
        build.clone(),
    );
    build
        .get_or_create(&BuildLabels {
            version: inputs.version.into(),
        })
        .set(1);

    registry
}

/// The exposition in OpenMetrics text format (ends with `# EOF`).
pub fn openmetrics(inputs: &Inputs) -> String {
    let mut out = String::new();
    // Writing to a String cannot fail; the encoder returns fmt::Error only when its writer does.
    let _ = prometheus_client::encoding::text::encode(&mut out, &registry(inputs));
    out
}

/// The classic text format (version 0.0.4) of an OpenMetrics exposition, as node_exporter's
/// textfile collector and `promtool check metrics` read it: a counter's TYPE and HELP lines name
/// the sample (`x_total`), and there are no UNIT or EOF lines.
pub fn classic(openmetrics: &str) -> String {
    let counters: Vec<&str> = openmetrics
        .lines()
        .filter_map(|l| l.strip_prefix("# TYPE "))
        .filter_map(|rest| rest.strip_suffix(" counter"))
        .collect();
    let mut out = String::with_capacity(openmetrics.len());
    for line in openmetrics.lines() {
        if line == "# EOF" || line.starts_with("# UNIT ") {
            continue;
        }
        let renamed = ["# TYPE ", "# HELP "].iter().find_map(|prefix| {
            let rest = line.strip_prefix(prefix)?;
            let (name, tail) = rest.split_once(' ')?;
            counters
                .contains(&name)
                .then(|| format!("{prefix}{name}_total {tail}"))
        });
        match renamed {
            Some(line) => out.push_str(&line),
            None => out.push_str(line),
        }
        out.push('\n');
    }
    out
}

/// The same series as [`openmetrics`], for a caller that wants both (the collector caches both).
pub fn both(inputs: &Inputs) -> (String, String) {
    let om = openmetrics(inputs);
    let classic = classic(&om);
    (om, classic)
}

/// A sample line's labels, unescaped: for tests and tools that read an exposition back.
pub fn parse_labels(line: &str) -> Option<BTreeMap<String, String>> {
    let start = line.find('{')?;
    let mut labels = BTreeMap::new();
    let mut chars = line[start + 1..].chars();
    loop {
        let mut name = String::new();
        for c in chars.by_ref() {
            if c == '=' {
                break;
            }
            name.push(c);
        }
        if chars.next()? != '"' {
            return None;
        }
        let mut value = String::new();
        loop {
            match chars.next()? {
                '\\' => match chars.next()? {
                    'n' => value.push('\n'),
                    c @ ('\\' | '"') => value.push(c),
                    _ => return None,
                },
                '"' => break,
                '\n' => return None,
                c => value.push(c),
            }
        }
        labels.insert(name, value);
        match chars.next()? {
            ',' => continue,
            '}' => return Some(labels),
            _ => return None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use portscope_core::audit::{Finding, SocketRef, runner::Summary};
    use portscope_core::model::{Endpoint, Process, Protocol, Socket, SocketSource, SocketState};
    use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
    use std::sync::Arc;

    fn holder(pid: u32, ppid: u32, name: &str) -> Holder {
        let mut p = Process::new(pid, ppid, name);
        p.exe = Some(format!("/usr/bin/{}", name.replace(['\n', '"'], "_")).into());
        p.user = Some("www-data".into());
        p.supervisor = Some(Supervisor::Systemd {
            unit: "web.service".into(),
        });
        Holder {
            process: Arc::new(p),
            fds: vec![3],
            provenance: None,
        }
    }

    fn socket(protocol: Protocol, ip: IpAddr, port: u16, state: SocketState, holders: Vec<Holder>) -> Socket {
        Socket {
            holders,
            inode: u64::from(port),
            ..Socket::new(
                protocol,
                Endpoint::new(ip, port),
                Endpoint::new(IpAddr::V4(Ipv4Addr::UNSPECIFIED), 0),
                state,
            )
        }
    }

    fn snapshot(sockets: Vec<Socket>) -> Snapshot {
        Snapshot {
            unreadable_processes: 2,
            ..Snapshot::of(sockets, SocketSource::Netlink)
        }
    }

    fn report(findings: Vec<Finding>) -> Report {
        Report {
            findings,
            summary: Summary::default(),
            notes: Vec::new(),
            not_checked: Vec::new(),
        }
    }

    fn render(snapshot: &Snapshot, report: &Report) -> (String, String) {
        both(&Inputs {
            snapshot,
            report,
            names: &ServiceNames::iana(),
            netns: "4026531840",
            events: EventCounts {
                opened: 3,
                closed: 1,
                owner_changed: 0,
            },
            collect_seconds: 0.012,
            version: "0.1.0",
            baseline: None,
        })
    }

    fn samples<'a>(text: &'a str, name: &str) -> Vec<&'a str> {
        text.lines()
            .filter(|l| l.starts_with(&format!("{name}{{")) || l.starts_with(&format!("{name} ")))
            .collect()
    }

    const LOCAL: IpAddr = IpAddr::V4(Ipv4Addr::new(198, 18, 0, 1));

    #[test]
    fn one_series_per_listening_port_owned_by_the_master() {
        let snap = snapshot(vec![
            // SO_REUSEPORT: two sockets on one port, a master (10) and its worker (11).
            socket(
                Protocol::Tcp,
                LOCAL,
                8443,
                SocketState::Listen,
                vec![holder(11, 10, "nginx")],
            ),
            socket(
                Protocol::Tcp,
                LOCAL,
                8443,
                SocketState::Listen,
                vec![holder(10, 1, "nginx"), holder(11, 10, "nginx")],
            ),
            socket(
                Protocol::Udp,
                IpAddr::V6(Ipv6Addr::UNSPECIFIED),
                53,
                SocketState::Unconnected,
                vec![],
            ),
            socket(
                Protocol::Tcp,
                LOCAL,
                40000,
                SocketState::Established,
                vec![holder(12, 1, "curl")],
            ),
        ]);
        let (om, _) = render(&snap, &report(vec![]));
        let lines = samples(&om, "portscope_listening_socket_info");
        assert_eq!(lines.len(), 2, "{om}");
        let tcp = parse_labels(lines.iter().find(|l| l.contains("8443")).unwrap()).unwrap();
        assert_eq!(tcp["proto"], "tcp");
        assert_eq!(tcp["address"], "198.18.0.1");
        assert_eq!(tcp["port"], "8443");
        assert_eq!(tcp["process"], "nginx");
        assert_eq!(tcp["exe"], "/usr/bin/nginx");
        assert_eq!(tcp["user"], "www-data");
        assert_eq!(tcp["unit"], "web.service");
        assert_eq!(tcp["container"], "");
        // 8443 goes by its common use, not the registry's pcsync-https.
        assert_eq!(tcp["service"], "https-alt");
        assert_eq!(tcp["netns"], "4026531840");
        let udp = parse_labels(lines.iter().find(|l| l.contains("\"53\"")).unwrap()).unwrap();
        assert_eq!((udp["address"].as_str(), udp["process"].as_str()), ("::", ""));
        assert_eq!(udp["service"], "domain");
        assert!(lines.iter().all(|l| l.ends_with(" 1")));
    }

    #[test]
    fn sockets_findings_events_and_build_info() {
        let snap = snapshot(vec![
            socket(
                Protocol::Tcp,
                LOCAL,
                22,
                SocketState::Listen,
                vec![holder(5, 1, "sshd")],
            ),
            socket(Protocol::Tcp, LOCAL, 41000, SocketState::Established, vec![]),
            socket(Protocol::Tcp, LOCAL, 41001, SocketState::Established, vec![]),
        ]);
        let finding = Finding {
            severity: Severity::Alert,
            check: CheckId::DeletedExe,
            sockets: vec![SocketRef::of(&snap.sockets[0])],
            process: None,
            next_step: None,
            reason: "gone".into(),
        };
        let (om, classic) = render(&snap, &report(vec![finding]));
        assert!(
            om.contains(
                "portscope_sockets{proto=\"tcp\",state=\"ESTAB\",netns=\"4026531840\",netns_name=\"\"} 2"
            ),
            "{om}"
        );
        assert!(om.contains("portscope_audit_findings{severity=\"alert\",rule=\"deleted-exe\"} 1"));
        assert!(om.contains("portscope_audit_findings{severity=\"info\",rule=\"masquerade\"} 0"));
        assert_eq!(
            samples(&om, "portscope_audit_findings").len(),
            Severity::ALL.len() * CheckId::ALL.len()
        );
        assert!(om.contains("portscope_port_events_total{kind=\"opened\"} 3"));
        assert!(om.contains("portscope_port_events_total{kind=\"owner_changed\"} 0"));
        assert!(om.contains("portscope_build_info{version=\"0.1.0\"} 1"));
        assert!(om.contains("portscope_unreadable_processes 2"));
        assert!(om.contains("portscope_scrape_duration_seconds 0.012"));
        assert!(om.contains("# TYPE portscope_port_events counter"));
        assert!(om.trim_end().ends_with("# EOF"));
        // The classic format names the counter by its sample and has no EOF.
        assert!(classic.contains("# TYPE portscope_port_events_total counter"));
        assert!(classic.contains("# HELP portscope_port_events_total "));
        assert!(!classic.contains("# EOF"));
        assert_eq!(
            om.lines().filter(|l| !l.starts_with('#')).collect::<Vec<_>>(),
            classic
                .lines()
                .filter(|l| !l.starts_with('#'))
                .collect::<Vec<_>>()
        );
    }

    #[test]
    fn hostile_process_names_stay_one_line_and_round_trip() {
        let hostile = "a\"b\\c\nd\re\u{1b}[31m}{x=\"";
        let snap = snapshot(vec![socket(
            Protocol::Tcp,
            LOCAL,
            8443,
            SocketState::Listen,
            vec![holder(7, 1, hostile)],
        )]);
        let (om, classic) = render(&snap, &report(vec![]));
        for text in [&om, &classic] {
            let lines = samples(text, "portscope_listening_socket_info");
            assert_eq!(lines.len(), 1, "the name must not break the line: {text}");
            let labels = parse_labels(lines[0]).expect("the label set parses");
            assert_eq!(labels["process"], hostile);
            assert_eq!(labels.len(), 11);
        }
        assert!(om.contains(r#"process="a\"b\\c\nd"#));
    }

    #[test]
    fn baseline_differences() {
        use portscope_core::baseline::Baseline;
        let snap = snapshot(vec![
            socket(
                Protocol::Tcp,
                LOCAL,
                22,
                SocketState::Listen,
                vec![holder(5, 1, "sshd")],
            ),
            socket(
                Protocol::Tcp,
                LOCAL,
                4444,
                SocketState::Listen,
                vec![holder(6, 1, "nc")],
            ),
        ]);
        let baseline = Baseline::parse(
            "[[listener]]\nport = 22\nprotocol = \"tcp\"\naddress = \"198.18.0.1\"\nprogram = \"sshd\"\n\
             [[listener]]\nport = 80\nprotocol = \"tcp\"\naddress = \"0.0.0.0\"\nprogram = \"nginx\"\n",
        )
        .unwrap();
        let check = baseline.check(&watch::PortTable::from_snapshot(&snap, false));
        let empty = report(vec![]);
        let names = ServiceNames::iana();
        let om = openmetrics(&Inputs {
            snapshot: &snap,
            report: &empty,
            names: &names,
            netns: "",
            events: EventCounts::default(),
            collect_seconds: 0.0,
            version: "0.1.0",
            baseline: Some(&check),
        });
        let lines = samples(&om, "portscope_baseline_difference_info");
        assert_eq!(lines.len(), 2, "{om}");
        let new = parse_labels(lines.iter().find(|l| l.contains("\"new\"")).unwrap()).unwrap();
        assert_eq!((new["port"].as_str(), new["process"].as_str()), ("4444", "nc"));
        let missing = parse_labels(lines.iter().find(|l| l.contains("\"missing\"")).unwrap()).unwrap();
        assert_eq!(
            (missing["port"].as_str(), missing["expected"].as_str()),
            ("80", "nginx")
        );
        assert!(om.contains("portscope_baseline_matched_listeners 1"));
    }
}
