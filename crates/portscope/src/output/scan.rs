//! The human table and the JSON document of a scan.

use std::io::{self, Write};

use crate::output::table::{Cell, Table};
use crate::output::{Color, Ui};
use portscope_scan::report::{HostResult, PortState, ScanReport};

/// One block per host: a heading, the table of shown ports, a line for the ports not shown.
pub fn write_table(out: &mut impl Write, report: &ScanReport, ui: Ui) -> io::Result<()> {
    let banners = report
        .hosts
        .iter()
        .any(|h| h.ports.iter().any(|p| p.banner.is_some()));
    let shown = report.hosts.iter().filter(|h| h.is_up() || !h.ports.is_empty());
    let mut first = true;
    for host in shown {
        if !first {
            writeln!(out)?;
        }
        first = false;
        writeln!(out, "{}", ui.paint(Color::Bold, &host_label(host)))?;
        if let Some(lies) = &host.answers_everything {
            let line = format!(
                "this host answered {} of {} ports as open: a middlebox, a tarpit or a redirect \
                 rule answers for it, so its open ports are counted, not listed",
                lies.open, lies.probed
            );
            writeln!(out, "{}", ui.paint(Color::Yellow, &line))?;
        }
        let mut headers = vec!["PORT", "STATE", "SERVICE", "REASON"];
        if banners {
            headers.push("BANNER");
        }
        let mut table = Table::new(headers);
        for port in &host.ports {
            let color = match port.state {
                PortState::Open => Color::Green,
                PortState::Closed => Color::Dim,
                PortState::Filtered | PortState::OpenFiltered => Color::Yellow,
            };
            let service = port.service.as_deref().unwrap_or("-");
            // Marked as `list` marks it: the kind of documented abuse, for an open port only.
            let abuse = portscope_core::knowledge::abuse(port.port, portscope_core::model::Protocol::Tcp);
            let service = match abuse.first() {
                Some(entry) if port.state == PortState::Open => {
                    Cell::painted(format!("{service} \u{b7} {} port", entry.kind), Color::Yellow)
                }
                _ => service.into(),
            };
            let mut row: Vec<Cell> = vec![
                format!("{}/{}", port.port, port.protocol).into(),
                Cell::painted(port.state.as_str(), color),
                service,
                port.reason.as_str().into(),
            ];
            if banners {
                row.push(port.banner.clone().unwrap_or_default().into());
            }
            table.push(row);
        }
        if !table.is_empty() {
            table.write(out, ui)?;
        }
        for hidden in host.hidden() {
            let reasons: Vec<String> = hidden
                .reasons
                .iter()
                .map(|(r, n)| format!("{n} {}", r.as_str()))
                .collect();
            let line = format!(
                "{} {} port{} not shown ({})",
                hidden.count,
                hidden.state.as_str(),
                if hidden.count == 1 { "" } else { "s" },
                reasons.join(", ")
            );
            writeln!(out, "{}", ui.paint(Color::Dim, &line))?;
        }
    }
    let total = report.total_hosts();
    let silent = total - report.hosts_up();
    let mut summary = format!(
        "scanned {} port{} on {} host{} in {:.2} s: {} open",
        report.port_count,
        if report.port_count == 1 { "" } else { "s" },
        total,
        if total == 1 { "" } else { "s" },
        report.stats.elapsed.as_secs_f64(),
        report.hosts.iter().map(|h| h.open).sum::<usize>(),
    );
    if silent > 0 {
        summary.push_str(&format!(
            ", {silent} host{} did not answer",
            if silent == 1 { "" } else { "s" }
        ));
    }
    if !first {
        writeln!(out)?;
    }
    writeln!(out, "{}", ui.paint(Color::Dim, &summary))
}

/// `198.18.0.2` or `target.test (198.18.0.2)`.
pub fn host_label(host: &HostResult) -> String {
    let addr = host.address.map(|a| a.to_string()).unwrap_or_default();
    match &host.name {
        Some(name) => format!("{name} ({addr})"),
        None => addr,
    }
}

/// The whole report as one JSON document.
pub fn write_json(out: &mut impl Write, report: &ScanReport) -> io::Result<()> {
    crate::output::json(out, report)
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;
    use std::time::Duration;

    use super::*;
    use portscope_scan::report::{PortResult, Reason, ScanStats};

    fn report() -> ScanReport {
        let port = |port, state, reason, service: Option<&str>, banner: Option<&str>| PortResult {
            port,
            protocol: "tcp",
            state,
            reason,
            service: service.map(str::to_string),
            banner: banner.map(str::to_string),
        };
        let mut hidden_reasons = BTreeMap::new();
        hidden_reasons.insert((PortState::Closed, Reason::ConnRefused), 65530);
        hidden_reasons.insert((PortState::Closed, Reason::SelfConnect), 1);
        ScanReport {
            scanner: "portscope",
            version: "0.1.0",
            args: "portscope scan web.lab -p-".into(),
            start: 0,
            ports: "1-65535".into(),
            port_count: 65535,
            scan_info: Vec::new(),
            silent_hosts: 0,
            hosts: vec![HostResult {
                address: Some("198.18.0.2".parse().unwrap()),
                name: Some("web.lab".into()),
                ports: vec![
                    port(
                        22,
                        PortState::Open,
                        Reason::SynAck,
                        Some("ssh"),
                        Some("SSH-2.0-OpenSSH_9.6"),
                    ),
                    port(3306, PortState::Filtered, Reason::NoResponse, Some("mysql"), None),
                    port(
                        8080,
                        PortState::Open,
                        Reason::SynAck,
                        Some("http-alt"),
                        Some("HTTP/1.0 200 OK"),
                    ),
                    port(40000, PortState::Open, Reason::SynAck, None, None),
                ],
                open: 3,
                closed: 65531,
                filtered: 1,
                hidden_reasons,
                answers_everything: None,
            }],
            stats: ScanStats {
                elapsed: Duration::from_millis(412),
                ..ScanStats::default()
            },
        }
    }

    #[test]
    fn table_snapshot() {
        let mut out = Vec::new();
        write_table(&mut out, &report(), Ui::plain()).unwrap();
        insta::assert_snapshot!(String::from_utf8(out).unwrap());
    }

    #[test]
    fn greppable_and_xml_snapshots() {
        let report = report();
        let mut out = Vec::new();
        portscope_scan::greppable::write(&mut out, &report, "2026-01-01T00:00:00Z", "2026-01-01T00:00:01Z")
            .unwrap();
        insta::assert_snapshot!("greppable", String::from_utf8(out).unwrap());
        let times = portscope_scan::xml::Times {
            start: 1767225600,
            start_str: "2026-01-01T00:00:00Z",
            end: 1767225601,
            end_str: "2026-01-01T00:00:01Z",
        };
        let mut out = Vec::new();
        portscope_scan::xml::write(&mut out, &report, &times).unwrap();
        insta::assert_snapshot!("xml", String::from_utf8(out).unwrap());
    }
}
