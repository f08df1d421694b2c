//! `portscope explain`: one port in plain language for a newcomer — its IANA range and what that
//! means, what is registered there, its documented abuse, and which program on this machine holds
//! it right now (from the same snapshot `list` uses, narrowed to the protocols and family asked).

use std::io::{self, Write};
use std::net::IpAddr;

use clap::Args;
use serde::Serialize;

use crate::error::{Error, ExitCode, Result};
use crate::knowledge::query::{self, Answer, Question, Target};
use crate::knowledge::{PortClass, ServiceNames, Transport};
use crate::model::{Forward, Protocol, Socket};
use crate::output::{self, Color, Ui};
use crate::platform::{Platform, Query, StateFilter};
use crate::{privilege, render};

use super::lookup::{LocalNamesArgs, write_abuse};

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
    /// Print one JSON object with every field.
    #[arg(long)]
    pub json: bool,
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
    /// Sockets on this machine whose local end is this port (and address, when one was given).
    sockets: Vec<&'a Socket>,
    /// DNAT rules that forward this port, each with the listener it reaches.
    forwards: Vec<&'a Forward>,
    /// Inodes of the sockets that live in another network namespace than portscope's.
    #[serde(skip)]
    foreign: Vec<u64>,
    /// How many connections from this machine go to this port elsewhere.
    outgoing: usize,
    /// Those connections, with the processes that hold them.
    outgoing_sockets: Vec<&'a Socket>,
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
    let question = resolve(query::parse(&args.target)?, &names)?;
    let answer = query::answer(&question, &names)?;
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
    let snapshot = if protocols.is_empty() {
        None
    } else {
        let query = Query {
            tcp: protocols.contains(&Protocol::Tcp),
            udp: protocols.contains(&Protocol::Udp),
            // A wildcard [::] socket also takes IPv4, so an IPv4 address still needs the IPv6 dump.
            ipv4: !matches!(question.address, Some(IpAddr::V6(_))),
            ipv6: true,
            states: StateFilter::All,
            processes: true,
            forwards: true,
            ..Query::ports()
        };
        let query = Query {
            sctp: protocols.contains(&Protocol::Sctp),
            ..query
        };
        Some(host.snapshot(&query)?)
    };
    let sockets: Vec<&Socket> = snapshot
        .iter()
        .flat_map(|s| &s.sockets)
        .filter(|s| s.local.port == port && covers(s.local.address, question.address))
        .collect();
    let outgoing_sockets: Vec<&Socket> = snapshot
        .iter()
        .flat_map(|s| &s.sockets)
        .filter(|s| !s.state.is_listening() && s.remote.port == port && s.local.port != port)
        .collect();
    let forwards: Vec<&Forward> = snapshot
        .iter()
        .flat_map(|s| &s.forwards)
        .filter(|f| f.listen.port == port && protocols.contains(&f.protocol))
        .collect();
    // A socket in a namespace other than portscope's says which; with one namespace, nothing changes.
    let foreign: Vec<u64> = snapshot
        .iter()
        .flat_map(|s| s.sockets.iter().filter(|x| !s.is_own(x)))
        .map(|s| s.inode)
        .collect();
    let unreadable_processes = snapshot.as_ref().map_or(0, |s| s.unreadable_processes);
    let unreadable_owners = snapshot
        .as_ref()
        .map(|s| s.unreadable_owners.clone())
        .unwrap_or_default();
    for note in snapshot.iter().flat_map(|s| &s.notes) {
        output::note(note);
    }
    let explanation = Explanation {
        port,
        address: question.address,
        answer: &answer,
        sockets,
        forwards,
        foreign,
        outgoing: outgoing_sockets.len(),
        outgoing_sockets,
        unreadable_processes,
        not_inspected,
        ephemeral: host.ephemeral_ports(),
        read_all: privileges.read_all,
    };

    let stdout = io::stdout();
    let mut out = io::BufWriter::new(stdout.lock());
    if args.json {
        output::json(&mut out, &explanation)?;
    } else {
        write_human(&mut out, &question, &explanation, ui)?;
    }
    out.flush()?;
    if let Some(note) =
        privilege::hidden_owners_note_naming(unreadable_processes, &unreadable_owners, privileges)
    {
        output::note(&note);
    }
    Ok(ExitCode::Ok)
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

/// True when a socket bound to `bound` receives traffic for `asked` (a wildcard bind covers all).
fn covers(bound: IpAddr, asked: Option<IpAddr>) -> bool {
    match asked {
        None => true,
        Some(asked) => bound == asked || bound.is_unspecified(),
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
    if e.not_inspected.is_empty()
        && e.sockets.is_empty()
        && e.forwards.is_empty()
        && e.outgoing_sockets.is_empty()
    {
        let place = e.address.map(|a| format!(" on {a}")).unwrap_or_default();
        let protos = protos.replace(" and ", " or ");
        writeln!(
            out,
            "  nothing on this machine uses port {port} ({protos}){place}."
        )?;
    }
    for socket in &e.sockets {
        let state = socket.state.as_str();
        let peer = if socket.remote.is_unspecified() {
            String::new()
        } else {
            format!(" from {}", socket.remote)
        };
        let place = if e.foreign.contains(&socket.inode) {
            format!(" in network namespace {}", render::escape(&socket.netns.label()))
        } else {
            String::new()
        };
        writeln!(
            out,
            "  {} {} {}{peer}{place}",
            socket.protocol, socket.local, state
        )?;
        write_holders(out, socket, e, ui)?;
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
    if !e.outgoing_sockets.is_empty() {
        writeln!(
            out,
            "  {} connection(s) from this machine go to port {port} elsewhere:",
            e.outgoing
        )?;
        for socket in &e.outgoing_sockets {
            writeln!(
                out,
                "  {} {} \u{2192} {} {}",
                socket.protocol,
                socket.local,
                socket.remote,
                socket.state.as_str()
            )?;
            write_holders(out, socket, e, ui)?;
        }
        writeln!(
            out,
            "  to cut them: portscope close {port} --remote (the program keeps running), or stop the \
             program: portscope close --pid PID"
        )?;
    }
    writeln!(out)?;
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
    let local: Vec<_> = e.answer.services.iter().filter(|s| s.source != "iana").collect();
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
            "IANA:  {} ({}/{}){desc}{}",
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
    writeln!(
        out,
        "{}",
        ui.paint(
            Color::Dim,
            "Judge the program, not the number: check its executable, its package (dpkg -S PATH) and \
             who started it."
        )
    )
}

/// The processes holding `socket`, with executable, user, command and supervisor; or why none is
/// shown.
fn write_holders(out: &mut impl Write, socket: &Socket, e: &Explanation, ui: Ui) -> io::Result<()> {
    if socket.holders.is_empty() {
        let why = if socket.inode == 0 {
            "no process holds it any more (the kernel is finishing the connection)"
        } else if e.read_all {
            "its process refuses to show its descriptors even to root (a security module or a sandbox)"
        } else {
            "its process is not visible to this user (run as root to see it)"
        };
        writeln!(out, "      {why}")?;
    }
    for h in &socket.holders {
        let p = &h.process;
        let exe = p
            .exe
            .as_ref()
            .map(|e| {
                format!(
                    " ({}{})",
                    render::path(e),
                    if p.exe_deleted { ", deleted" } else { "" }
                )
            })
            .unwrap_or_default();
        let user = p
            .user
            .as_deref()
            .map_or_else(|| p.uid.to_string(), |u| render::escape(u).into_owned());
        let held = format!("PID {} {}{exe}", p.pid, render::escape(&p.name));
        writeln!(out, "      held by {}, user {user}", ui.paint(Color::Bold, &held))?;
        if !p.cmdline.is_empty() {
            let command = render::escape(&p.cmdline.join(" ")).into_owned();
            writeln!(out, "      command: {}", render::truncate(&command, 100))?;
        }
        if let Some(sup) = &p.supervisor {
            writeln!(out, "      started by: {sup}")?;
        }
    }
    Ok(())
}
