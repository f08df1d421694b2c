//! nmap's greppable output (`-oG`): one `Host:` line per host, so `grep open` and `cut` work as
//! they do on nmap's.

use std::io::{self, Write};

use crate::report::ScanReport;

pub fn write(out: &mut impl Write, report: &ScanReport, started: &str, finished: &str) -> io::Result<()> {
    writeln!(
        out,
        "# portscope {} scan initiated {started} as: {}",
        report.version, report.args
    )?;
    for host in &report.hosts {
        let addr = host.address.map(|a| a.to_string()).unwrap_or_default();
        let name = host.name.clone().unwrap_or_default();
        let status = if host.is_up() { "Up" } else { "Down" };
        writeln!(out, "Host: {addr} ({name})\tStatus: {status}")?;
        let ports: Vec<String> = host
            .ports
            .iter()
            .map(|p| {
                format!(
                    "{}/{}/{}//{}///",
                    p.port,
                    p.state.as_str(),
                    p.protocol,
                    p.service.as_deref().unwrap_or("").replace(['/', ','], "|")
                )
            })
            .collect();
        let mut line = format!("Host: {addr} ({name})\tPorts: {}", ports.join(", "));
        // nmap names the most common hidden state only.
        if let Some(hidden) = host.hidden().into_iter().max_by_key(|h| h.count) {
            line.push_str(&format!(
                "\tIgnored State: {} ({})",
                hidden.state.as_str(),
                hidden.count
            ));
        }
        writeln!(out, "{line}")?;
    }
    let up = report.hosts_up();
    let total = report.total_hosts();
    writeln!(
        out,
        "# portscope done at {finished} -- {total} IP address{} ({up} host{} up) scanned in {:.2} seconds",
        if total == 1 { "" } else { "es" },
        if up == 1 { "" } else { "s" },
        report.stats.elapsed.as_secs_f64()
    )
}
