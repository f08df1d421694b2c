//! nmap-compatible XML (`-oX`): the elements and attributes of nmap's own `nmaprun` document
//! (DTD version 1.05) that carry a connect scan's findings, so tools that read nmap's XML read ours.

use std::io::{self, Write};

use crate::report::{HostResult, ScanReport};

/// Times the XML records, as seconds since the epoch and as text.
pub struct Times<'a> {
    pub start: u64,
    pub start_str: &'a str,
    pub end: u64,
    pub end_str: &'a str,
}

pub fn write(out: &mut impl Write, report: &ScanReport, times: &Times<'_>) -> io::Result<()> {
    writeln!(out, r#"<?xml version="1.0" encoding="UTF-8"?>"#)?;
    writeln!(out, "<!DOCTYPE nmaprun>")?;
    writeln!(
        out,
        r#"<nmaprun scanner="{}" args="{}" start="{}" startstr="{}" version="{}" xmloutputversion="1.05">"#,
        report.scanner,
        esc(&report.args),
        times.start,
        esc(times.start_str),
        report.version
    )?;
    if report.scan_info.is_empty() {
        writeln!(
            out,
            r#"<scaninfo type="connect" protocol="tcp" numservices="{}" services="{}"/>"#,
            report.port_count,
            esc(&report.ports)
        )?;
    }
    for info in &report.scan_info {
        writeln!(
            out,
            r#"<scaninfo type="{}" protocol="{}" numservices="{}" services="{}"/>"#,
            info.kind,
            info.protocol,
            info.count,
            esc(&info.ports)
        )?;
    }
    writeln!(out, r#"<verbose level="0"/>"#)?;
    writeln!(out, r#"<debugging level="0"/>"#)?;
    for host in &report.hosts {
        write_host(out, host, times)?;
    }
    let up = report.hosts_up();
    let total = report.total_hosts();
    let elapsed = report.stats.elapsed.as_secs_f64();
    writeln!(out, "<runstats>")?;
    writeln!(
        out,
        r#"<finished time="{}" timestr="{}" elapsed="{elapsed:.2}" summary="{}" exit="success"/>"#,
        times.end,
        esc(times.end_str),
        esc(&format!(
            "portscope done at {}; {total} IP address{} ({up} host{} up) scanned in {elapsed:.2} seconds",
            times.end_str,
            if total == 1 { "" } else { "es" },
            if up == 1 { "" } else { "s" }
        ))
    )?;
    writeln!(out, r#"<hosts up="{up}" down="{}" total="{total}"/>"#, total - up)?;
    writeln!(out, "</runstats>")?;
    writeln!(out, "</nmaprun>")
}

fn write_host(out: &mut impl Write, host: &HostResult, times: &Times<'_>) -> io::Result<()> {
    let Some(addr) = host.address else { return Ok(()) };
    writeln!(
        out,
        r#"<host starttime="{}" endtime="{}">"#,
        times.start, times.end
    )?;
    let (state, reason) = if host.is_up() {
        ("up", "user-set")
    } else {
        ("down", "no-response")
    };
    writeln!(
        out,
        r#"<status state="{state}" reason="{reason}" reason_ttl="0"/>"#
    )?;
    let addrtype = if addr.is_ipv4() { "ipv4" } else { "ipv6" };
    writeln!(out, r#"<address addr="{addr}" addrtype="{addrtype}"/>"#)?;
    match &host.name {
        Some(name) => writeln!(
            out,
            r#"<hostnames><hostname name="{}" type="user"/></hostnames>"#,
            esc(name)
        )?,
        None => writeln!(out, "<hostnames/>")?,
    }
    writeln!(out, "<ports>")?;
    for hidden in host.hidden() {
        writeln!(
            out,
            r#"<extraports state="{}" count="{}">"#,
            hidden.state.as_str(),
            hidden.count
        )?;
        for (reason, n) in hidden.reasons {
            writeln!(
                out,
                r#"<extrareasons reason="{}" count="{n}" proto="tcp"/>"#,
                reason.as_str()
            )?;
        }
        writeln!(out, "</extraports>")?;
    }
    for port in &host.ports {
        write!(
            out,
            r#"<port protocol="{}" portid="{}"><state state="{}" reason="{}" reason_ttl="0"/>"#,
            port.protocol,
            port.port,
            port.state.as_str(),
            port.reason.as_str()
        )?;
        let name = port.service.as_deref().unwrap_or("unknown");
        match &port.banner {
            Some(banner) => write!(
                out,
                r#"<service name="{}" extrainfo="{}" method="table" conf="3"/>"#,
                esc(name),
                esc(banner)
            )?,
            None => write!(out, r#"<service name="{}" method="table" conf="3"/>"#, esc(name))?,
        }
        writeln!(out, "</port>")?;
    }
    writeln!(out, "</ports>")?;
    writeln!(out, "</host>")
}

/// Escapes text for an XML attribute; characters XML 1.0 cannot carry at all become U+FFFD.
pub fn esc(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            '\t' => out.push_str("&#9;"),
            '\n' => out.push_str("&#10;"),
            '\r' => out.push_str("&#13;"),
            c if (c as u32) < 0x20 || c == '\u{FFFE}' || c == '\u{FFFF}' => out.push('\u{FFFD}'),
            c => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::esc;

    #[test]
    fn escapes_attributes() {
        assert_eq!(esc(r#"a<b>&"c'"#), "a&lt;b&gt;&amp;&quot;c&apos;");
        assert_eq!(esc("x\u{1}y\n"), "x\u{FFFD}y&#10;");
    }
}
