//! `portscope explain`: one port in plain language for a newcomer — its IANA range and what that
//! means, what is registered there, its documented abuse, and which program on this machine holds
//! it right now: the host's one inspection (every socket judged by the audit, as `audit` does),
//! narrowed to the port and the protocols asked, and summarised by [`now`].

use std::io::{self, Write};
use std::net::IpAddr;

use clap::Args;
use serde::Serialize;

use crate::audit;
use crate::error::{Error, ExitCode, Result};
use crate::inspect::{self, Inspection, JudgedSocket};
use crate::knowledge::query::{self, Answer, Question, Target};
use crate::knowledge::{PortClass, ServiceNames, Transport};
use crate::model::{Family, Forward, Process, Protocol, Socket};
use crate::output::{self, Color, Format, Ui};
use crate::platform::Platform;
use crate::{persistence, privilege, render};

use super::lookup::{LocalNamesArgs, write_abuse};

mod now;
mod why;

use now::{Section, Summary};

#[derive(Args, Debug, Clone)]
#[command(after_help = "Examples:
  portscope explain 31337         who uses it here now, then what the port is and its history
  portscope explain 4444          also names the programs connected to 4444 elsewhere
  portscope explain 127.0.0.1:8080
  portscope explain 53/udp --json")]
pub struct ExplainArgs {
    /// A port (31337), PORT/PROTOCOL (80/tcp), ADDRESS:PORT (127.0.0.1:8080, [::1]:8080) or a
    /// service name that has one port (ssh).
    #[arg(value_name = "PORT")]
    pub target: String,
    #[command(flatten)]
    pub output: crate::output::FormatArgs,
    #[command(flatten)]
    pub names: LocalNamesArgs,
}

/// What `explain --json` prints: the knowledge about the port plus what holds it now.
#[derive(Serialize)]
struct Explanation<'a> {
    port: u16,
    address: Option<IpAddr>,
    #[serde(flatten)]
    answer: &'a Answer,
    /// Sockets on this machine whose local end is this port (and address, when one was given),
    /// each with its verdict and findings (the one model of `list --json`).
    sockets: Vec<JudgedSocket<'a>>,
    /// DNAT rules that forward this port, each with the listener it reaches.
    forwards: Vec<&'a Forward>,
    /// How many connections from this machine go to this port elsewhere.
    outgoing: usize,
    /// Those connections, with the processes that hold them, verdicts and findings.
    outgoing_sockets: Vec<JudgedSocket<'a>>,
    /// What the human output shows: listeners, connections per program and namespace, ownerless
    /// ones counted, and each holder's verdict with the command that stops it. Absent when no
    /// protocol asked about has sockets portscope can see.
    #[serde(skip_serializing_if = "Option::is_none")]
    summary: Option<Summary<'a>>,
    /// Where the processes holding the port would start again from: systemd units, cron
    /// tables, rc.local, autostart entries and shell profiles that launch them. Absent when no
    /// process holds the port.
    #[serde(skip_serializing_if = "Option::is_none")]
    persistence: Option<persistence::Report>,
    /// The processes `persistence` names, for the human section.
    #[serde(skip)]
    holders: Vec<&'a Process>,
    /// Why each holder of a listener on the port runs: what started it and what would bring it
    /// back, with the commands that stop it for good.
    why: Vec<why::HolderWhy>,
    /// Processes whose descriptors could not be read (other users' processes without root).
    unreadable_processes: usize,
    /// Protocols asked about that portscope cannot see sockets for (SCTP, DCCP).
    not_inspected: Vec<Transport>,
    /// The host's range for the local end of outgoing connections.
    #[serde(skip)]
    ephemeral: std::ops::RangeInclusive<u16>,
    /// Whether portscope may read every process's descriptors.
    #[serde(skip)]
    read_all: bool,
}

pub fn run(args: &ExplainArgs, ui: Ui, host: &dyn Platform) -> Result<ExitCode> {
    let names = args.names.load()?;
    super::print_then_note(8 * 1024, |out| write(args, ui, host, &names, out))
}

/// Takes the snapshot, runs the audit over it, and writes the explanation to `out`; returns the
/// notes for stderr. Split from [`run`] so that a recorded host can drive it in tests.
pub fn write(
    args: &ExplainArgs,
    ui: Ui,
    host: &dyn Platform,
    names: &ServiceNames,
    out: &mut impl Write,
) -> Result<Vec<String>> {
    let json = args
        .output
        .only("explain", &[Format::Table, Format::Json], false)?
        == Format::Json;
    let question = query::parse(&args.target)?;
    if let Some(family) = family_answer(&question, names)? {
        // A malware family or kind ("netbus", "trojan") on several ports: its ports and sources,
        // and the command that explains one of them here.
        if json {
            output::json(out, &family)?;
        } else {
            let ports = super::lookup::registered_ports(&family);
            let subject = format!("{} (ports {})", args.target, ports.join(", "));
            writeln!(out, "{}", ui.paint(Color::Bold, &subject))?;
            write_abuse(out, &family.abuse, &subject, ui)?;
            writeln!(out)?;
            writeln!(
                out,
                "What holds one of them here: portscope explain {}",
                ports.first().map_or("PORT", String::as_str)
            )?;
            writeln!(out, "{}", ui.paint(Color::Dim, family.caveat))?;
        }
        return Ok(Vec::new());
    }
    let question = resolve(question, names)?;
    let answer = query::answer(&question, names)?;
    let privileges = host.privileges();
    let port = answer.start;

    let protocols: Vec<Protocol> = match question.transport {
        Some(t) => t.protocol().into_iter().collect(),
        None => vec![Protocol::Tcp, Protocol::Udp],
    };
    let not_inspected: Vec<Transport> = question
        .transport
        .filter(|t| t.protocol().is_none())
        .into_iter()
        .collect();
    // The whole host, not only the port's protocols: the audit's verdict on a holder weighs all
    // of its sockets (and the held-socket cross-view needs every kind), as `audit` does.
    let inspection = if protocols.is_empty() {
        None
    } else {
        let audit = audit::Options {
            names: names.clone(),
            ..audit::Options::default()
        };
        Some(Inspection::take(host, &inspect::Options::everything(audit))?)
    };
    let snapshot = inspection.as_ref().map(|i| &i.snapshot);
    let sockets: Vec<&Socket> = snapshot
        .iter()
        .flat_map(|s| &s.sockets)
        .filter(|s| protocols.contains(&s.protocol))
        .filter(|s| s.local.port == port && covers(s, question.address))
        .collect();
    let outgoing_sockets: Vec<&Socket> = snapshot
        .iter()
        .flat_map(|s| &s.sockets)
        .filter(|s| protocols.contains(&s.protocol))
        .filter(|s| !s.state.is_listening() && s.remote.port == port && s.local.port != port)
        .collect();
    let forwards: Vec<&Forward> = snapshot
        .iter()
        .flat_map(|s| &s.forwards)
        .filter(|f| f.listen.port == port && protocols.contains(&f.protocol))
        .collect();
    let summary = inspection
        .as_ref()
        .map(|i| Summary::new(i, &sockets, &outgoing_sockets));
    let holders = port_holders(&sockets);
    let persistence = (!holders.is_empty()).then(|| persistence::look(host, &holders));
    let unreadable_processes = snapshot.map_or(0, |s| s.unreadable_processes);
    let unreadable_owners = snapshot.map(|s| s.unreadable_owners.clone()).unwrap_or_default();
    let mut notes: Vec<String> = snapshot.iter().flat_map(|s| s.notes.clone()).collect();
    let why = match why::gather(host, &sockets) {
        Ok(why) => why,
        Err(unsupported) => {
            notes.push(format!("why it is open: {unsupported}"));
            Vec::new()
        }
    };
    let explanation = Explanation {
        port,
        address: question.address,
        answer: &answer,
        sockets: judged(inspection.as_ref(), &sockets),
        forwards,
        outgoing: outgoing_sockets.len(),
        outgoing_sockets: judged(inspection.as_ref(), &outgoing_sockets),
        summary,
        persistence,
        holders,
        why,
        unreadable_processes,
        not_inspected,
        ephemeral: host.ephemeral_ports(),
        read_all: privileges.read_all,
    };

    if json {
        output::json(out, &explanation)?;
    } else {
        write_human(out, &question, &explanation, ui)?;
    }
    notes.extend(
        explanation
            .persistence
            .as_ref()
            .and_then(persistence::Report::note),
    );
    if let Some(note) =
        privilege::hidden_owners_note_naming(unreadable_processes, &unreadable_owners, privileges)
    {
        notes.push(note);
    }
    Ok(notes)
}

/// Every process that holds a socket on the port (listeners and the connections they
/// accepted), each once: whose persistence `explain` looks for.
fn port_holders<'a>(sockets: &[&'a Socket]) -> Vec<&'a Process> {
    let mut seen = std::collections::HashSet::new();
    sockets
        .iter()
        .flat_map(|s| &s.holders)
        .map(|h| &*h.process)
        .filter(|p| seen.insert(p.pid))
        .collect()
}

/// `sockets` with their verdicts and findings, for JSON.
fn judged<'a>(inspection: Option<&'a Inspection>, sockets: &[&'a Socket]) -> Vec<JudgedSocket<'a>> {
    inspection.map_or_else(Vec::new, |i| sockets.iter().map(|s| i.judge(s)).collect())
}

/// The answer for a name that only the abuse table knows (a family or kind) and that covers
/// more than one port; `None` for everything [`resolve`] narrows to one port.
fn family_answer(question: &Question, names: &ServiceNames) -> Result<Option<Answer>> {
    if !matches!(question.target, Target::Name(_)) {
        return Ok(None);
    }
    let answer = query::answer(question, names)?;
    Ok((answer.services.is_empty() && answer.start != answer.end).then_some(answer))
}

/// Narrows a question to one port: a name must name exactly one port, a range is refused.
fn resolve(mut question: Question, names: &ServiceNames) -> Result<Question> {
    match &question.target {
        Target::Ports { start, end } if start == end => Ok(question),
        Target::Ports { .. } => Err(Error::Usage(
            "explain takes one port; use `portscope lookup` for a range".into(),
        )),
        Target::Name(name) => {
            let answer = query::answer(&question, names)?;
            if answer.start != answer.end {
                return Err(Error::Usage(format!(
                    "{name:?} is registered on ports {}; explain one of them",
                    super::lookup::registered_ports(&answer).join(", ")
                )));
            }
            question.target = Target::Ports {
                start: answer.start,
                end: answer.end,
            };
            Ok(question)
        }
    }
}

/// True when `socket` receives traffic for `asked` (a wildcard bind covers every address of its
/// family; an IPv6 wildcard also takes IPv4, as the kernel's dual-stack default does).
fn covers(socket: &Socket, asked: Option<IpAddr>) -> bool {
    let bound = socket.local.address;
    match asked {
        None => true,
        Some(asked @ IpAddr::V6(_)) => {
            socket.family == Family::Ipv6 && (bound == asked || bound.is_unspecified())
        }
        Some(asked) => bound.to_canonical() == asked || bound.is_unspecified(),
    }
}

fn write_human(out: &mut impl Write, question: &Question, e: &Explanation, ui: Ui) -> io::Result<()> {
    let port = e.port;
    let protos = match question.transport {
        Some(t) => t.to_string(),
        None => "tcp and udp".into(),
    };
    let title = match e.address {
        Some(IpAddr::V6(a)) => format!("Port {port} ({protos}) on [{a}]"),
        Some(a) => format!("Port {port} ({protos}) on {a}"),
        None => format!("Port {port} ({protos})"),
    };
    writeln!(out, "{}", ui.paint(Color::Bold, &title))?;
    writeln!(out)?;

    writeln!(out, "{}", ui.paint(Color::Bold, "On this machine now:"))?;
    for t in &e.not_inspected {
        writeln!(
            out,
            "  portscope sees TCP, UDP and SCTP sockets only; {t} sockets were not inspected."
        )?;
    }
    let empty = e.summary.as_ref().is_none_or(Summary::is_empty);
    if e.not_inspected.is_empty() && empty && e.forwards.is_empty() {
        let place = e.address.map(|a| format!(" on {a}")).unwrap_or_default();
        let protos = protos.replace(" and ", " or ");
        writeln!(
            out,
            "  nothing on this machine uses port {port} ({protos}){place}."
        )?;
    }
    if let Some(summary) = &e.summary {
        Section {
            summary,
            port,
            read_all: e.read_all,
            ui,
        }
        .write(out)?;
    }
    for f in &e.forwards {
        let reaches = match &f.reaches {
            Some(r) => {
                let pids: Vec<String> = r.pids.iter().map(u32::to_string).collect();
                format!(
                    "the listener in network namespace {} (PID {})",
                    render::escape(&r.netns.label()),
                    if pids.is_empty() {
                        "-".into()
                    } else {
                        pids.join(", ")
                    }
                )
            }
            None => "no listener portscope can see".into(),
        };
        writeln!(
            out,
            "  {} {} \u{2192} {} forwarded by DNAT ({} in {}), reaching {reaches}",
            f.protocol,
            f.listen,
            f.target,
            render::escape(&f.rule),
            render::escape(&f.netns.label())
        )?;
    }
    writeln!(out)?;
    why::write(out, &e.why, ui)?;
    if let Some(report) = &e.persistence {
        output::persistence::write_section(out, "Starts again from:", report, &e.holders, ui)?;
        writeln!(out)?;
    }
    let class = PortClass::of(port);
    writeln!(
        out,
        "Range: {port} is a {} port — {}.",
        class.as_str(),
        class.meaning()
    )?;
    if class != PortClass::WellKnown && e.ephemeral.contains(&port) {
        writeln!(
            out,
            "       It is also inside this machine's range for the local end of outgoing connections \
             ({}-{}), so it may simply be a client's temporary port.",
            e.ephemeral.start(),
            e.ephemeral.end()
        )?;
    }

    let iana: Vec<_> = e.answer.services.iter().filter(|s| s.source == "iana").collect();
    let usual: Vec<_> = e
        .answer
        .services
        .iter()
        .filter(|s| s.source == query::COMMON_USE)
        .collect();
    let local: Vec<_> = e
        .answer
        .services
        .iter()
        .filter(|s| s.source != "iana" && s.source != query::COMMON_USE)
        .collect();
    // The name people use first; the registry's, when it differs, is marked as the registration.
    for s in &usual {
        writeln!(
            out,
            "Usage: {} ({}/{}) — {}",
            ui.paint(Color::Bold, &s.name),
            s.ports(),
            s.transport,
            s.description
        )?;
    }
    let marker = if usual.is_empty() { "" } else { " [registry name]" };
    if iana.is_empty() {
        writeln!(out, "IANA:  nothing is registered for {port}/{protos}.")?;
    }
    // One line per service, with the transports it is registered for ("krb524 (4444/tcp, udp)").
    let mut grouped: Vec<(&query::Known, Vec<Transport>)> = Vec::new();
    for s in &iana {
        match grouped.iter_mut().find(|(g, _)| {
            (g.start, g.end, &g.name, &g.description) == (s.start, s.end, &s.name, &s.description)
        }) {
            Some((_, transports)) => transports.push(s.transport),
            None => grouped.push((s, vec![s.transport])),
        }
    }
    for (s, transports) in grouped {
        let transports: Vec<&str> = transports.iter().map(|t| t.as_str()).collect();
        let desc = if s.description.is_empty() { "" } else { " — " };
        writeln!(
            out,
            "IANA:  {} ({}/{}){desc}{}{marker}",
            ui.paint(Color::Bold, &s.name),
            s.ports(),
            transports.join(", "),
            s.description
        )?;
    }
    for s in &local {
        writeln!(
            out,
            "Local: {} ({}/{}) in {}",
            s.name,
            s.ports(),
            s.transport,
            s.source
        )?;
    }
    writeln!(out)?;
    write_abuse(out, &e.answer.abuse, &format!("{port}"), ui)?;
    writeln!(out)?;
    writeln!(out, "{}", ui.paint(Color::Dim, e.answer.caveat))?;
    writeln!(out, "{}", ui.paint(Color::Dim, JUDGE_THE_PROGRAM))
}

/// The last line of the text: how to judge a holder with this system's own tools.
#[cfg(not(windows))]
const JUDGE_THE_PROGRAM: &str =
    "Judge the program, not the number: check its executable, its package (dpkg -S PATH) and who started it.";
#[cfg(windows)]
const JUDGE_THE_PROGRAM: &str = "Judge the program, not the number: check its executable, its signature \
     (Get-AuthenticodeSignature PATH in PowerShell) and who started it.";

#[cfg(test)]
mod tests {
    use super::*;
    use portscope_fixture::FixturePlatform;

    /// A web server on 8080 with 120 connections from two peers, 500 TIME-WAIT leftovers, a
    /// copied server from /tmp in a named namespace on the same port, and a client here calling
    /// out to 8080 elsewhere.
    fn host() -> FixturePlatform {
        let mut host = String::from(
            r#"
            [host]
            users = { 0 = "root", 33 = "www-data" }
            [packages]
            "/usr/sbin/nginx" = "nginx-core"
            "/usr/bin/curl" = "curl"
            [[process]]
            pid = 4242
            name = "nginx"
            exe = "/usr/sbin/nginx"
            cmdline = ["nginx", "-g", "daemon off;"]
            uid = 33
            [[process]]
            pid = 23400
            name = "nginx"
            exe = "/tmp/.cache/nginx"
            [[process]]
            pid = 4300
            name = "curl"
            exe = "/usr/bin/curl"
            [[socket]]
            local = "0.0.0.0:8080"
            state = "LISTEN"
            holders = [4242]
            uid = 33
            [[socket]]
            local = "0.0.0.0:8080"
            state = "LISTEN"
            holders = [23400]
            netns = "web-1"
            [[socket]]
            local = "198.18.0.1:41000"
            remote = "198.18.0.9:8080"
            state = "ESTABLISHED"
            holders = [4300]
            "#,
        );
        for i in 0..120 {
            let (peer, state) = if i < 100 {
                ("198.18.0.2", "ESTABLISHED")
            } else {
                ("198.18.0.3", "CLOSE_WAIT")
            };
            host.push_str(&format!(
                "[[socket]]\nlocal = \"198.18.0.1:8080\"\nremote = \"{peer}:{}\"\nstate = \"{state}\"\nholders = [4242]\nuid = 33\n",
                40000 + i
            ));
        }
        for i in 0..500 {
            host.push_str(&format!(
                "[[socket]]\nlocal = \"198.18.0.1:8080\"\nremote = \"198.18.0.2:{}\"\nstate = \"TIME_WAIT\"\ninode = 0\n",
                50000 + i
            ));
        }
        FixturePlatform::from_toml(&host).expect("fixture")
    }

    fn explain(json: bool) -> String {
        explain_target("8080", json)
    }

    fn explain_target(target: &str, json: bool) -> String {
        explain_fixture(&host(), target, json).0
    }

    /// `explain TARGET` (with `--json` if asked) against a recorded host, plainly: the text
    /// written to stdout and the notes for stderr.
    fn explain_fixture(host: &FixturePlatform, target: &str, json: bool) -> (String, Vec<String>) {
        let args = ExplainArgs {
            target: target.into(),
            output: crate::output::FormatArgs {
                json,
                ..Default::default()
            },
            names: LocalNamesArgs::default(),
        };
        let mut out = Vec::new();
        let notes = write(&args, Ui::plain(), host, &ServiceNames::iana(), &mut out).expect("explain");
        (String::from_utf8(out).expect("UTF-8"), notes)
    }

    #[test]
    fn connections_are_counted_per_program_state_and_peer() {
        let text = explain(false);
        assert!(text.lines().count() <= 40, "{text}");
        assert!(text.contains("  tcp 0.0.0.0:8080 LISTEN\n"), "{text}");
        assert!(
            text.contains("held by PID 4242 nginx (/usr/sbin/nginx), user www-data"),
            "{text}"
        );
        assert!(
            text.contains(
                "  120 connections (ESTAB 100, CLOSE-WAIT 20) from 198.18.0.2 (100) and 198.18.0.3 (20), \
                 held by PID 4242 nginx (above)"
            ),
            "{text}"
        );
        assert!(
            text.contains("  500 TIME-WAIT from 198.18.0.2 with no process (the kernel is finishing them)"),
            "{text}"
        );
        assert!(
            text.contains("    1 connection to 198.18.0.9:8080 (ESTAB 1)"),
            "{text}"
        );
        assert!(text.contains("held by PID 4300 curl (/usr/bin/curl)"), "{text}");
        assert!(
            text.contains("to cut them: portscope close 8080 --remote"),
            "{text}"
        );
        assert!(!text.contains("--pid PID"), "{text}");
    }

    #[test]
    fn each_holder_leads_with_its_verdict_and_its_stop_command() {
        let text = explain(false);
        // The copy from /tmp, in a namespace of its own: where, the ALERT and why, what to run.
        assert!(
            text.contains("  tcp 0.0.0.0:8080 LISTEN in network namespace web-1\n"),
            "{text}"
        );
        let alert = text.find("held by PID 23400 nginx").expect("the copy");
        let rest = &text[alert..];
        assert!(rest.contains("verdict: ALERT \u{2014} "), "{text}");
        assert!(rest.contains("/tmp/.cache/nginx"), "{text}");
        assert!(
            rest.contains(
                "keep the evidence first: d=$(mktemp -d ./portscope-evidence-23400.XXXXXX) && cp -- /proc/23400/exe \"$d/exe\""
            ),
            "{text}"
        );
        assert!(rest.contains("to stop it: portscope close --pid 23400"), "{text}");
        assert!(text.contains("to stop it: portscope close --pid 4242"), "{text}");
    }

    #[test]
    fn json_keeps_every_socket_and_adds_the_summary() {
        let value: serde_json::Value = serde_json::from_str(&explain(true)).expect("JSON");
        assert_eq!(value["sockets"].as_array().map(Vec::len), Some(622));
        let summary = &value["summary"];
        assert_eq!(summary["listeners"], 2);
        assert_eq!(summary["connections"][0]["pid"], 4242);
        assert_eq!(summary["connections"][0]["count"], 120);
        assert_eq!(summary["connections"][0]["states"][0]["state"], "ESTABLISHED");
        assert_eq!(summary["connections"][0]["peers"][1]["address"], "198.18.0.3");
        assert_eq!(summary["connections"][1]["no_process"], "finishing");
        assert_eq!(summary["connections"][1]["count"], 500);
        assert_eq!(summary["outgoing"][0]["pid"], 4300);
        let copy = summary["holders"]
            .as_array()
            .expect("holders")
            .iter()
            .find(|h| h["pid"] == 23400)
            .expect("the copy's verdict");
        assert_eq!(copy["verdict"], "alert", "{summary}");
        assert_eq!(copy["stop"], "portscope close --pid 23400");
    }

    #[test]
    fn an_ipv4_wildcard_does_not_answer_for_an_ipv6_address() {
        let value: serde_json::Value =
            serde_json::from_str(&explain_target("[::1]:8080", true)).expect("JSON");
        assert_eq!(value["sockets"].as_array().map(Vec::len), Some(0), "{value}");
        let value: serde_json::Value =
            serde_json::from_str(&explain_target("198.18.0.1:8080", true)).expect("JSON");
        assert_eq!(value["sockets"].as_array().map(Vec::len), Some(622), "{value}");
    }

    /// The host of crates/portscope-fixture/hosts/persistence.toml: a copy of nginx from /tmp
    /// launched again from every kind of launcher file.
    fn persisted(target: &str, json: bool) -> String {
        let host =
            FixturePlatform::from_toml(include_str!("../../../portscope-fixture/hosts/persistence.toml"))
                .expect("fixture");
        let (mut text, notes) = explain_fixture(&host, target, json);
        for note in notes.iter().filter(|_| !json) {
            text.push_str(&format!("note: {note}\n"));
        }
        text
    }

    #[test]
    fn every_launcher_of_a_holder_is_named_with_its_file_line_and_removal() {
        let text = persisted("8080", false);
        let section = text
            .split("Starts again from:\n")
            .nth(1)
            .and_then(|s| s.split("\n\n").next())
            .unwrap_or_else(|| panic!("no section in\n{text}"));
        let expected = [
            "  PID 23400 nginx:",
            "    systemd unit /etc/systemd/system/web-cache.service line 5, enabled by multi-user.target.wants",
            "      ExecStart=/tmp/.cache/nginx -p 8080",
            "      to remove: systemctl disable --now web-cache.service",
            "    systemd unit /etc/systemd/system/helper.service line 2, no enabling link",
            "      ExecStart=/opt/helper/start.sh",
            "      which runs /opt/helper/start.sh line 2: exec /tmp/.cache/nginx -p 8081",
            "      to remove: systemctl disable --now helper.service",
            "    user crontab /var/spool/cron/crontabs/www-data line 2, of user www-data",
            "      @reboot /tmp/.cache/nginx",
            "      to remove: crontab -e -u www-data (line 2)",
            "    cron /etc/cron.d/cache line 1, runs as root",
            "      */10 * * * * root pgrep -x nginx || /tmp/.cache/nginx \\e[2K",
            "      to remove: edit /etc/cron.d/cache line 1",
            "    rc.local /etc/rc.local line 2",
            "      /tmp/.cache/nginx &",
            "      to remove: edit /etc/rc.local line 2",
            "    XDG autostart /home/alice/.config/autostart/cache.desktop line 3, of user alice",
            "      Exec=/tmp/.cache/nginx",
            "      to remove: edit /home/alice/.config/autostart/cache.desktop line 3",
            "    shell profile /home/alice/.bashrc line 2, of user alice",
            "      (/tmp/.cache/nginx &) 2>/dev/null",
            "      to remove: edit /home/alice/.bashrc line 2",
        ];
        assert_eq!(section.lines().collect::<Vec<_>>(), expected, "{text}");
        assert!(
            text.contains("note: persistence: 1 launcher file not read: /etc/cron.d/zero (a symbolic link to /dev/zero (not followed))"),
            "{text}"
        );
        // The packaged nginx on 80: its own unit, and nothing of the copy's.
        let text = persisted("80", false);
        assert!(text.contains("    systemd unit /lib/systemd/system/nginx.service line 4, enabled by multi-user.target.wants"), "{text}");
        assert!(!text.contains("web-cache"), "{text}");
    }

    #[test]
    fn json_has_the_persistence_entries_with_exact_lines() {
        let value: serde_json::Value = serde_json::from_str(&persisted("8080", true)).expect("JSON");
        let p = &value["persistence"];
        assert_eq!(p["holders"][0]["pid"], 23400, "{p}");
        let entries = p["holders"][0]["entries"].as_array().expect("entries");
        assert_eq!(entries.len(), 7, "{p}");
        assert_eq!(entries[0]["kind"], "system-unit");
        assert_eq!(entries[0]["unit"], "web-cache.service");
        assert_eq!(
            entries[0]["enabled_by"][0],
            "/etc/systemd/system/multi-user.target.wants/web-cache.service"
        );
        assert_eq!(
            entries[3]["text"],
            "*/10 * * * * root pgrep -x nginx || /tmp/.cache/nginx \u{1b}[2K"
        );
        assert_eq!(entries[2]["user"], "www-data");
        assert_eq!(entries[2]["remove"], "crontab -e -u www-data (line 2)");
        assert_eq!(p["skipped"][0]["path"], "/etc/cron.d/zero");
        assert_eq!(p["skipped_count"], 1);
    }

    /// systemd (PID 1) holding cups.socket's listener, and a Docker container by name with a
    /// restart policy: why each is open and how to stop it for good.
    const WHY_HOST: &str = r#"
        [host]
        users = { "0" = "root" }
        [[process]]
        pid = 1
        ppid = 0
        name = "systemd"
        exe = "/usr/lib/systemd/systemd"
        [process.provenance.activation]
        by = "service-manager"
        socket_units = [{ listen = "0.0.0.0:631", unit = "cups.socket", activates = ["cups.service"] }]
        [[process]]
        pid = 4242
        name = "nginx"
        exe = "/usr/sbin/nginx"
        supervisor = { kind = "container", runtime = "docker", id = "0f1e2d3c4b5a6978" }
        [process.provenance.container]
        engine = "docker"
        id = "0f1e2d3c4b5a6978"
        name = "web"
        restart = "always"
        [[socket]]
        local = "0.0.0.0:631"
        state = "LISTEN"
        holders = [1]
        [[socket]]
        local = "0.0.0.0:8080"
        state = "LISTEN"
        holders = [4242]
    "#;

    fn explain_on(host: &str, target: &str, json: bool) -> String {
        let host = FixturePlatform::from_toml(host).expect("fixture");
        explain_fixture(&host, target, json).0
    }

    #[test]
    fn why_it_is_open_names_the_socket_unit_and_the_container() {
        let text = explain_on(WHY_HOST, "631", false);
        let why = &text[text.find("Why it is open:").expect("the section")..];
        assert!(
            why.contains("PID 1 systemd: socket-activated by cups.socket, starts cups.service"),
            "{text}"
        );
        assert!(
            why.contains("to stop it for good: systemctl disable --now cups.socket"),
            "{text}"
        );
        assert!(
            why.contains("to stop it for good: systemctl disable --now cups.service"),
            "{text}"
        );
        let text = explain_on(WHY_HOST, "8080", false);
        assert!(text.contains("PID 4242 nginx: container web (docker)"), "{text}");
        assert!(text.contains("restart policy always"), "{text}");
        assert!(
            text.contains("to stop it for good: docker update --restart=no web"),
            "{text}"
        );
        let value: serde_json::Value =
            serde_json::from_str(&explain_on(WHY_HOST, "8080", true)).expect("JSON");
        assert_eq!(value["why"][0]["why"], "container web (docker)");
        assert_eq!(value["why"][0]["provenance"]["container"]["name"], "web");
        assert_eq!(
            value["why"][0]["comes_back_from"][0]["commands"][1],
            "docker stop web"
        );
    }

    #[test]
    fn without_provenance_the_section_is_left_out_and_said_once() {
        let host = format!("{WHY_HOST}\n").replace("[host]\n", "[host]\nunsupported = [\"provenance\"]\n");
        let args = ExplainArgs {
            target: "8080".into(),
            output: crate::output::FormatArgs::default(),
            names: LocalNamesArgs::default(),
        };
        let host = FixturePlatform::from_toml(&host).expect("fixture");
        let mut out = Vec::new();
        let notes = write(&args, Ui::plain(), &host, &ServiceNames::iana(), &mut out).expect("explain");
        let text = String::from_utf8(out).expect("UTF-8");
        assert!(!text.contains("Why it is open"), "{text}");
        assert_eq!(
            notes
                .iter()
                .filter(|n| n.contains("provenance is not available"))
                .count(),
            1,
            "{notes:?}"
        );
    }
}
