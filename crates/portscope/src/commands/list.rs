//! `portscope list`: every socket on this machine and the processes that hold it.

use std::collections::HashMap;
use std::io::Write;

use clap::Args;
use serde::Serialize;

use super::lookup::LocalNamesArgs;
use crate::audit::{self, Severity, expected::Expected};
use crate::error::{ExitCode, Result};
use crate::knowledge::{self, AbuseEntry, ServiceNames, ServiceSides};
use crate::model::{Family, Protocol, Snapshot, Socket, SocketState};
use crate::output::table::{Cell, Table};
use crate::output::{self, Color, Ui};
use crate::platform::{Platform, Query, StateFilter};
use crate::privilege;

#[derive(Args, Debug, Clone, Default)]
#[command(after_help = "Examples:
  portscope list                 what listens here, and one line per program for its connections
  portscope list --all           every socket on its own row
  portscope list -l -4           only listeners that take IPv4 (dual-stack [::] included)
  portscope list -p http         sockets on port 80, either side
  portscope list --pid 4242      the sockets of one process
  portscope list --json | jq '.[] | select(.state == \"LISTEN\")'")]
pub struct ListArgs {
    /// Show TCP sockets (default: TCP and UDP).
    #[arg(short = 't', long)]
    pub tcp: bool,
    /// Show UDP sockets.
    #[arg(short = 'u', long)]
    pub udp: bool,
    /// Show raw IP sockets (ICMP, raw TCP/UDP, IPPROTO_RAW); the port column is the IP protocol.
    #[arg(short = 'w', long)]
    pub raw: bool,
    /// Show AF_PACKET sockets (sniffers), with the BPF filter each has attached (in --json).
    #[arg(short = '0', long)]
    pub packet: bool,
    /// Show SCTP sockets (where the kernel has SCTP).
    #[arg(short = 'S', long)]
    pub sctp: bool,
    /// Show every kind: TCP, UDP, raw, packet and SCTP.
    #[arg(short = 'A', long = "all-kinds")]
    pub all_kinds: bool,
    /// Show the sockets processes hold that no kernel dump lists (the cross-view check), with why.
    #[arg(long, conflicts_with_all = ["listening", "established", "port"])]
    pub unaccounted: bool,
    /// Show ports forwarded by destination NAT (Docker's, podman's, kube-proxy's `-p`), each with
    /// the listener it reaches, read from nftables and iptables-nft in every namespace.
    #[arg(long, conflicts_with = "unaccounted")]
    pub forwards: bool,
    /// Show only listening TCP and unconnected (bound) UDP sockets.
    #[arg(short = 'l', long, conflicts_with = "established")]
    pub listening: bool,
    /// Show only established TCP and connected UDP sockets.
    #[arg(short = 'e', long)]
    pub established: bool,
    /// Show every socket on its own row. By default the table shows the listeners and one line
    /// per program for its connections.
    #[arg(short = 'a', long)]
    pub all: bool,
    /// Show only IPv4 sockets.
    #[arg(short = '4', long = "ipv4")]
    pub ipv4: bool,
    /// Show only IPv6 sockets.
    #[arg(short = '6', long = "ipv6")]
    pub ipv6: bool,
    /// Show sockets whose local or remote port is PORT (repeatable): a number, or a registered
    /// service name with one port (http, ssh).
    #[arg(short = 'p', long, value_name = "PORT", value_parser = port_or_service)]
    pub port: Vec<u16>,
    /// Show sockets held by this process id.
    #[arg(long, value_name = "PID", allow_negative_numbers = true)]
    pub pid: Option<u32>,
    /// Show sockets held by a process whose name or executable name starts with NAME.
    #[arg(long, value_name = "NAME")]
    pub process: Option<String>,
    /// Print a JSON array with every field.
    #[arg(long, conflicts_with = "json_lines")]
    pub json: bool,
    /// Print one JSON object per line.
    #[arg(long)]
    pub json_lines: bool,
    /// Do not resolve service and user names.
    #[arg(short = 'n', long)]
    pub numeric: bool,
    #[command(flatten)]
    pub names: LocalNamesArgs,
}

/// `-p 8080` or `-p http`: a port number 1-65535, or an IANA service name registered on exactly
/// one port.
pub fn port_or_service(text: &str) -> std::result::Result<u16, String> {
    if text.bytes().all(|b| b.is_ascii_digit()) {
        return match text.parse::<u16>() {
            Ok(0) | Err(_) => Err(format!(
                "{text} is not a port: a port is a number from 1 to 65535"
            )),
            Ok(port) => Ok(port),
        };
    }
    let mut ports: Vec<u16> = portscope_core::knowledge::registry::all()
        .filter(|s| s.name.eq_ignore_ascii_case(text) && s.start == s.end)
        .map(|s| s.start)
        .collect();
    ports.dedup();
    match ports.as_slice() {
        [port] => Ok(*port),
        [] => Err(format!(
            "`{text}` is neither a port number (1-65535) nor a registered service name (`portscope lookup NAME` searches)"
        )),
        many => Err(format!(
            "`{text}` is registered on several ports ({}); give the number",
            many.iter().map(u16::to_string).collect::<Vec<_>>().join(", ")
        )),
    }
}

impl ListArgs {
    /// Whether the human table shows every socket on its own row. Asking for particular sockets
    /// (a port, a process, connections) is asking to see them; otherwise the listeners come first
    /// and connections are summarised per program.
    pub fn every_row(&self) -> bool {
        self.all || self.established || !self.port.is_empty() || self.pid.is_some() || self.process.is_some()
    }

    /// The part of the filter the kernel applies during the dump.
    pub fn query(&self) -> Query {
        if self.unaccounted {
            // The check needs every kind in every state, or a missing socket means nothing.
            return Query::default();
        }
        // No kind named: TCP and UDP, as before raw, packet and SCTP sockets were listed.
        let default = !(self.tcp || self.udp || self.raw || self.packet || self.sctp);
        // `-4` also dumps IPv6: a dual-stack `[::]:443` and its IPv4-mapped connections carry
        // IPv4 (see `matches`).
        let both_families = self.ipv4 == self.ipv6 || self.ipv4;
        Query {
            tcp: default || self.tcp || self.all_kinds,
            udp: default || self.udp || self.all_kinds,
            raw: self.raw || self.all_kinds,
            packet: self.packet || self.all_kinds,
            sctp: self.sctp || self.all_kinds,
            ipv4: both_families || self.ipv4,
            ipv6: both_families || self.ipv6,
            states: if self.listening {
                StateFilter::Listening
            } else if self.established {
                StateFilter::Established
            } else {
                StateFilter::All
            },
            processes: true,
            netns: None,
            forwards: self.forwards,
        }
    }

    /// The part of the filter applied after collection.
    pub fn matches(&self, socket: &Socket) -> bool {
        let port_ok = self.port.is_empty()
            || self
                .port
                .iter()
                .any(|&p| socket.local.port == p || socket.remote.port == p);
        let pid_ok = self
            .pid
            .is_none_or(|pid| socket.holders.iter().any(|h| h.process.pid == pid));
        let name_ok = self.process.as_deref().is_none_or(|name| {
            socket.holders.iter().any(|h| {
                let exe_name = h
                    .process
                    .exe
                    .as_ref()
                    .and_then(|e| e.file_name())
                    .and_then(|n| n.to_str());
                h.process.name.starts_with(name) || exe_name.is_some_and(|e| e.starts_with(name))
            })
        });
        let family_ok = match (self.ipv4, self.ipv6) {
            (true, false) => socket.carries_ipv4(),
            (false, true) => socket.carries_ipv6(),
            _ => true,
        };
        port_ok && pid_ok && name_ok && family_ok
    }
}

/// One row of `list --json`: the socket with what portscope knows about its port.
#[derive(Serialize)]
struct Entry<'a> {
    #[serde(flatten)]
    socket: &'a Socket,
    service: Option<&'a str>,
    /// Documented abuse of the socket's service port (see `knowledge::ServiceSides`). A reason
    /// to look closer, never proof.
    abuse: Vec<&'static AbuseEntry>,
}

pub fn run(args: &ListArgs, ui: Ui, host: &dyn Platform) -> Result<ExitCode> {
    let names = if args.numeric {
        ServiceNames::iana()
    } else {
        args.names.load()?
    };
    let stdout = std::io::stdout();
    let mut out = std::io::BufWriter::with_capacity(64 * 1024, stdout.lock());
    let notes = write(args, ui, host, &names, &mut out)?;
    out.flush()?;
    for note in &notes {
        output::note(note);
    }
    Ok(ExitCode::Ok)
}

/// Takes the snapshot, filters, and writes the table or JSON to `out`; returns the notes for
/// stderr. Split from [`run`] so that a recorded host can drive it in tests.
pub fn write(
    args: &ListArgs,
    ui: Ui,
    host: &dyn Platform,
    names: &ServiceNames,
    out: &mut impl Write,
) -> Result<Vec<String>> {
    let snapshot = host.snapshot(&args.query())?;
    let mut notes = snapshot.notes.clone();
    if args.unaccounted {
        unaccounted(args, &snapshot, ui, out)?;
        return Ok(notes);
    }
    if args.forwards {
        forwards(args, &snapshot, ui, out)?;
        return Ok(notes);
    }
    let mut sockets: Vec<&Socket> = snapshot.sockets.iter().filter(|s| args.matches(s)).collect();
    sockets.sort_by_key(|s| (s.local.port, s.protocol, s.local.address, s.remote));

    let sides = ServiceSides::new(&snapshot.sockets, host.ephemeral_ports());
    let view = View {
        names,
        sides: &sides,
        numeric: args.numeric,
    };
    let entries = sockets.iter().map(|socket| Entry {
        socket,
        service: view.service_of(socket),
        abuse: view.abuse_of(socket),
    });
    if args.json {
        output::json_array(out, entries)?;
    } else if args.json_lines {
        output::json_lines(out, entries)?;
    } else {
        let users = if args.numeric {
            HashMap::new()
        } else {
            host.user_names()
        };
        let netns_column = spans_namespaces(&sockets);
        let verdicts = verdicts(host, &snapshot, names);
        let rows = Rows {
            view: &view,
            users: &users,
            verdicts: &verdicts,
            netns_column,
            width: ui.width,
        };
        if args.every_row() {
            rows.every_socket(&sockets).write(out, ui)?;
        } else {
            let (listeners, connections): (Vec<&Socket>, Vec<&Socket>) =
                sockets.iter().partition(|s| is_listener(s));
            if !listeners.is_empty() {
                rows.listeners(&listeners).write(out, ui)?;
            }
            let programs = by_program(&connections);
            if !programs.is_empty() {
                if !listeners.is_empty() {
                    writeln!(out)?;
                }
                rows.programs(&programs).write(out, ui)?;
            }
            writeln!(
                out,
                "\n{}",
                summary(&listeners, &connections, &programs, &verdicts)
            )?;
        }
        if sockets.iter().any(|s| !view.abuse_of(s).is_empty()) {
            notes.push(
                "a port marked with a kind (trojan port, backdoor port, ...) has documented abuse \
                 (`portscope lookup PORT` says which); a port number alone proves nothing"
                    .into(),
            );
        }
    }
    if let Some(note) = privilege::hidden_owners_note_naming(
        snapshot.unreadable_processes,
        &snapshot.unreadable_owners,
        host.privileges(),
    ) {
        notes.push(note);
    }
    Ok(notes)
}

/// What a row needs beyond its socket: the names ports go by and which side is the service.
struct View<'a> {
    names: &'a ServiceNames,
    sides: &'a ServiceSides,
    numeric: bool,
}

impl<'a> View<'a> {
    /// The registered service of the socket's service port.
    fn service_of(&self, socket: &Socket) -> Option<&'a str> {
        if self.numeric {
            return None;
        }
        self.names.name(self.sides.port(socket), socket.protocol)
    }

    /// Abuse rows for the socket's service port: a listener on a Metasploit handler's port, or an
    /// outgoing connection to one, but not a client's temporary port that happens to match a row.
    fn abuse_of(&self, socket: &Socket) -> Vec<&'static AbuseEntry> {
        knowledge::abuse(self.sides.port(socket), socket.protocol)
    }
}

/// Whether the rows come from more than one network namespace (the table then says which).
fn spans_namespaces(sockets: &[&Socket]) -> bool {
    sockets
        .first()
        .is_some_and(|first| sockets.iter().any(|s| s.netns.inode != first.netns.inode))
}

/// `list --unaccounted`: the sockets no dump lists, one row each, with why.
fn unaccounted(args: &ListArgs, snapshot: &Snapshot, ui: Ui, out: &mut impl Write) -> Result<()> {
    if args.json {
        output::json_array(out, snapshot.unaccounted.iter())?;
    } else if args.json_lines {
        output::json_lines(out, snapshot.unaccounted.iter())?;
    } else {
        let mut table = Table::new(vec!["PID/PROGRAM", "FD", "INODE", "KIND", "NETNS", "WHY"]);
        for u in &snapshot.unaccounted {
            table.push(vec![
                format!("{}/{}", u.pid, u.process).into(),
                u.fd.to_string().into(),
                u.inode.to_string().into(),
                u.protocol.clone().into(),
                u.netns.map_or("-".into(), |n| format!("net:[{n}]")).into(),
                u.reason.clone().into(),
            ]);
        }
        if table.is_empty() {
            writeln!(out, "every socket a process holds is in a kernel dump")?;
        } else {
            table.write(out, ui)?;
        }
    }
    Ok(())
}

/// `list --forwards`: each forwarded port, where it goes, and what listens there.
fn forwards(args: &ListArgs, snapshot: &Snapshot, ui: Ui, out: &mut impl Write) -> Result<()> {
    let shown: Vec<_> = snapshot
        .forwards
        .iter()
        .filter(|f| args.port.is_empty() || args.port.contains(&f.listen.port))
        .collect();
    if args.json {
        output::json_array(out, shown.iter())?;
    } else if args.json_lines {
        output::json_lines(out, shown.iter())?;
    } else if shown.is_empty() {
        writeln!(out, "no port is forwarded by destination NAT")?;
    } else {
        let mut table = Table::new(vec!["PROTO", "FORWARD", "RULE", "LISTENER"]);
        for forward in shown {
            let holder = forward.reaches.as_ref().map_or_else(
                || "- (nothing listens there)".to_string(),
                |r| {
                    let pids: Vec<String> = r.pids.iter().map(u32::to_string).collect();
                    let pids = if pids.is_empty() {
                        "-".into()
                    } else {
                        pids.join(",")
                    };
                    format!("{} pid {pids}", r.netns.label())
                },
            );
            table.push(vec![
                forward.protocol.as_str().into(),
                format!("{} \u{2192} {}", forward.listen, forward.target).into(),
                format!("{} ({})", forward.rule, forward.netns.label()).into(),
                holder.into(),
            ]);
        }
        table.write(out, ui)?;
    }
    Ok(())
}

/// The name of the IP protocol a raw socket receives (its "port").
fn ip_protocol_name(number: u16) -> Option<&'static str> {
    Some(match number {
        1 => "icmp",
        2 => "igmp",
        6 => "tcp",
        17 => "udp",
        47 => "gre",
        50 => "esp",
        58 => "ipv6-icmp",
        89 => "ospf",
        132 => "sctp",
        255 => "raw",
        _ => return None,
    })
}

/// A packet socket's EtherType as ss names it.
fn ethertype_name(ethertype: u16) -> String {
    match ethertype {
        0x0003 => "all".into(),
        0x0800 => "ip".into(),
        0x0806 => "arp".into(),
        0x86dd => "ipv6".into(),
        0x8100 => "802.1q".into(),
        0x88cc => "lldp".into(),
        other => format!("0x{other:04x}"),
    }
}

/// `tcp`, `udp6`, `p_raw`: an IPv6 socket is marked `6` unless it also carries IPv4 (a
/// dual-stack listener, shown as `*:PORT`, or an IPv4 client of one).
fn proto_label(socket: &Socket) -> String {
    let base = match (socket.protocol, &socket.packet) {
        (Protocol::Packet, Some(info)) => return format!("p_{}", info.kind),
        (protocol, _) => protocol.as_str(),
    };
    match socket.family {
        Family::Ipv6 if !socket.carries_ipv4() => format!("{base}6"),
        _ => base.to_string(),
    }
}

fn local_label(socket: &Socket) -> String {
    match (socket.protocol, &socket.packet) {
        (Protocol::Packet, Some(info)) => {
            let interface = match info.interface {
                0 => "*".to_string(),
                n => format!("if{n}"),
            };
            format!("{interface}:{}", ethertype_name(info.ethertype))
        }
        (Protocol::Raw, _) => match ip_protocol_name(socket.local.port) {
            Some(name) => match socket.local.address {
                std::net::IpAddr::V4(a) => format!("{a}:{name}"),
                std::net::IpAddr::V6(a) => format!("[{a}]:{name}"),
            },
            None => socket.local.to_string(),
        },
        _ if socket.dual_stack && socket.local.address.is_unspecified() => format!("*:{}", socket.local.port),
        _ => canonical(&socket.local),
    }
}

/// A listening TCP socket or an unconnected UDP one: what answers the first question.
fn is_listener(socket: &Socket) -> bool {
    socket.state.is_listening() || matches!(socket.state, SocketState::Unconnected)
}

/// The worst audit finding on each socket, by inode: the same rules as `portscope audit`. An
/// audit that cannot run (no built-in expectations) leaves the column blank rather than failing
/// the listing.
fn verdicts(host: &dyn Platform, snapshot: &Snapshot, names: &ServiceNames) -> HashMap<u64, Severity> {
    let Ok(expected) = Expected::built_in() else {
        return HashMap::new();
    };
    let options = audit::Options {
        names: names.clone(),
        ..audit::Options::default()
    };
    audit::run(host, snapshot, &expected, &options).map_or_else(|_| HashMap::new(), |r| r.verdicts())
}

fn verdict_cell(verdict: Option<Severity>) -> Cell {
    match verdict {
        Some(Severity::Alert) => Cell::painted("ALERT", Color::Red),
        Some(Severity::Warning) => Cell::painted("warn", Color::Yellow),
        Some(Severity::Info) => Cell::painted("info", Color::Dim),
        None => "".into(),
    }
}

/// The executable of a socket's first holder, as a person should see it ("-" when unknown).
fn exe_label(socket: &Socket) -> String {
    socket
        .holders
        .first()
        .and_then(|h| h.process.exe.as_deref())
        .map_or_else(|| "-".to_string(), |exe| crate::render::path(exe).into_owned())
}

/// One program's connections, for the default view's second table.
struct Program<'a> {
    /// The holder, `None` for connections no visible process holds.
    holder: Option<&'a crate::model::Holder>,
    sockets: Vec<&'a Socket>,
}

/// Groups connections by the process holding them (the first holder), busiest first.
fn by_program<'a>(connections: &[&'a Socket]) -> Vec<Program<'a>> {
    let mut groups: Vec<Program<'a>> = Vec::new();
    let mut index: HashMap<Option<u32>, usize> = HashMap::new();
    for socket in connections {
        let holder = socket.holders.first();
        let key = holder.map(|h| h.process.pid);
        let i = *index.entry(key).or_insert_with(|| {
            groups.push(Program {
                holder,
                sockets: Vec::new(),
            });
            groups.len() - 1
        });
        groups[i].sockets.push(socket);
    }
    groups.sort_by(|a, b| {
        b.sockets.len().cmp(&a.sockets.len()).then(
            a.holder
                .map(|h| h.process.pid)
                .cmp(&b.holder.map(|h| h.process.pid)),
        )
    });
    groups
}

/// "40 connections to 198.18.0.2:9000", "3 connections from 198.18.0.2 to :80 and 2 more": the
/// peers a program talks to, the most frequent first. A connection whose local port is the
/// service side is incoming (`from` the peer's address); otherwise outgoing (`to` the peer).
fn describe_connections(program: &Program, sides: &ServiceSides) -> String {
    let mut peers: Vec<(String, usize)> = Vec::new();
    for socket in &program.sockets {
        let incoming = sides.accepted_here(socket);
        let peer = if incoming {
            format!(
                "from {} to :{}",
                socket.remote.address.to_canonical(),
                socket.local.port
            )
        } else {
            format!("to {}", canonical(&socket.remote))
        };
        match peers.iter_mut().find(|(p, _)| *p == peer) {
            Some((_, n)) => *n += 1,
            None => peers.push((peer, 1)),
        }
    }
    peers.sort_by_key(|p| std::cmp::Reverse(p.1));
    let count = program.sockets.len();
    let noun = if count == 1 { "connection" } else { "connections" };
    let shown: Vec<String> = peers
        .iter()
        .take(2)
        .map(|(p, n)| {
            if peers.len() == 1 {
                p.clone()
            } else {
                format!("{n} {p}")
            }
        })
        .collect();
    let more = match peers.len().saturating_sub(2) {
        0 => String::new(),
        n => format!(" and {n} more peers"),
    };
    if peers.len() == 1 {
        format!("{count} {noun} {}", shown.join(", "))
    } else {
        format!("{count} {noun}: {}{more}", shown.join(", "))
    }
}

/// An endpoint with an IPv4-mapped IPv6 address shown as the IPv4 address it is.
fn canonical(endpoint: &crate::model::Endpoint) -> String {
    match endpoint.address.to_canonical() {
        std::net::IpAddr::V4(a) => format!("{a}:{}", endpoint.port),
        std::net::IpAddr::V6(_) => endpoint.to_string(),
    }
}

/// The last lines of the default view: what was counted, and what the verdicts add up to.
fn summary(
    listeners: &[&Socket],
    connections: &[&Socket],
    programs: &[Program],
    verdicts: &HashMap<u64, Severity>,
) -> String {
    let worst = |severity: Severity| {
        listeners
            .iter()
            .chain(connections)
            .filter(|s| verdicts.get(&s.inode) == Some(&severity))
            .count()
    };
    let (alerts, warnings) = (worst(Severity::Alert), worst(Severity::Warning));
    let held_by = programs.iter().filter(|p| p.holder.is_some()).count();
    let mut line = format!(
        "{} listening, {} connection{} held by {} program{}",
        listeners.len(),
        connections.len(),
        if connections.len() == 1 { "" } else { "s" },
        held_by,
        if held_by == 1 { "" } else { "s" },
    );
    line.push_str("; `list --all` shows each");
    if alerts + warnings > 0 {
        line.push_str(&format!(
            "\n{alerts} socket(s) with an ALERT, {warnings} with a warning: `portscope audit` says why"
        ));
    }
    line
}

/// What every table of `list` needs beyond its sockets.
struct Rows<'a> {
    view: &'a View<'a>,
    users: &'a HashMap<u32, String>,
    verdicts: &'a HashMap<u64, Severity>,
    netns_column: bool,
    /// The terminal's width, when the output is cut to one.
    width: Option<usize>,
}

impl Rows<'_> {
    fn user(&self, socket: &Socket) -> String {
        match (self.view.numeric, self.users.get(&socket.uid)) {
            (false, Some(name)) => name.clone(),
            _ => socket.uid.to_string(),
        }
    }

    fn verdict(&self, socket: &Socket) -> Cell {
        verdict_cell(self.verdicts.get(&socket.inode).copied())
    }

    /// The default view's first table: every listener, with what it is and who holds it. On a
    /// terminal narrower than 120 columns (here and in [`Rows::every_socket`]) the USER column
    /// gives way to the executable and the addresses.
    fn listeners(&self, sockets: &[&Socket]) -> Table {
        let mut headers = vec![
            "VERDICT",
            "PROTO",
            "LOCAL",
            "SERVICE",
            "PID/PROGRAM",
            "USER",
            "EXE",
        ];
        let with_user = self.width.is_none_or(|w| w >= 120);
        if !with_user {
            headers.retain(|h| *h != "USER");
        }
        if self.netns_column {
            headers.insert(1, "NETNS");
        }
        let mut table = Table::new(headers)
            .shrink_first(&["EXE", "USER", "PID/PROGRAM", "SERVICE"])
            .middle_cut(&["EXE"]);
        for socket in sockets {
            let mut row: Vec<Cell> = vec![
                self.verdict(socket),
                proto_label(socket).into(),
                local_label(socket).into(),
                service_cell(socket, self.view),
                Cell::painted(output::holders_label(&socket.holders), Color::Bold),
                self.user(socket).into(),
                exe_label(socket).into(),
            ];
            if !with_user {
                row.remove(5);
            }
            if self.netns_column {
                row.insert(1, socket.netns.label().into());
            }
            table.push(row);
        }
        table
    }

    /// The default view's second table: one row per program, summarising its connections.
    fn programs(&self, programs: &[Program]) -> Table {
        let mut table = Table::new(vec!["VERDICT", "PID/PROGRAM", "CONNECTIONS", "EXE"])
            .shrink_first(&["EXE", "PID/PROGRAM", "CONNECTIONS"])
            .middle_cut(&["EXE"]);
        for program in programs {
            let worst = program
                .sockets
                .iter()
                .filter_map(|s| self.verdicts.get(&s.inode).copied())
                .max();
            // inode 0: the kernel is finishing connections no descriptor holds any more.
            let closing = program.sockets.iter().all(|s| s.inode == 0);
            let label = match program.holder {
                Some(h) => format!("{}/{}", h.process.pid, h.process.name),
                None if closing => "- (closing, no process)".to_string(),
                None => "- (no visible process)".to_string(),
            };
            table.push(vec![
                verdict_cell(worst),
                Cell::painted(label, Color::Bold),
                describe_connections(program, self.view.sides).into(),
                program
                    .sockets
                    .first()
                    .map_or("-".into(), |s| exe_label(s))
                    .into(),
            ]);
        }
        table
    }

    /// `--all` (and any filter that names sockets): every socket on its own row.
    fn every_socket(&self, sockets: &[&Socket]) -> Table {
        let with_user = self.width.is_none_or(|w| w >= 120);
        let mut headers = vec![
            "VERDICT",
            "PROTO",
            "LOCAL",
            "REMOTE",
            "STATE",
            "SERVICE",
            "PID/PROGRAM",
            "USER",
            "EXE",
        ];
        if !with_user {
            headers.retain(|h| *h != "USER");
        }
        if self.netns_column {
            headers.insert(1, "NETNS");
        }
        let mut table = Table::new(headers)
            .shrink_first(&["EXE", "USER", "SERVICE", "PID/PROGRAM", "NETNS"])
            .middle_cut(&["EXE"]);
        for socket in sockets {
            let remote = if socket.remote.is_unspecified() {
                "*".to_string()
            } else {
                canonical(&socket.remote)
            };
            let state_color = match socket.state {
                SocketState::Listen | SocketState::Unconnected => Color::Green,
                SocketState::Established => Color::Cyan,
                _ => Color::Dim,
            };
            let mut row: Vec<Cell> = vec![
                self.verdict(socket),
                proto_label(socket).into(),
                local_label(socket).into(),
                remote.into(),
                Cell::painted(socket.state.as_str(), state_color),
                service_cell(socket, self.view),
                Cell::painted(output::holders_label(&socket.holders), Color::Bold),
                self.user(socket).into(),
                exe_label(socket).into(),
            ];
            if !with_user {
                row.remove(7);
            }
            if self.netns_column {
                row.insert(1, socket.netns.label().into());
            }
            table.push(row);
        }
        table
    }
}

/// The service name, followed by what kind of abuse the port is known for (`eldim · trojan
/// port`), in colour.
fn service_cell(socket: &Socket, view: &View) -> Cell {
    let name = view.service_of(socket).unwrap_or("-");
    match view.abuse_of(socket).first() {
        None => name.into(),
        Some(entry) => Cell::painted(format!("{name} \u{b7} {} port", entry.kind), Color::Yellow),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use portscope_fixture::FixturePlatform;

    /// A recorded host: a web server and its client, a DNS server, a trojan's port, and a
    /// process whose name is a terminal attack.
    const HOST: &str = r#"
        [host]
        users = { 0 = "root", 33 = "www-data" }
        [packages]
        "/usr/sbin/nginx" = "nginx-core"
        "/usr/bin/curl" = "curl"
        "/usr/sbin/dnsmasq" = "dnsmasq-base"
        [[process]]
        pid = 4242
        name = "nginx"
        exe = "/usr/sbin/nginx"
        uid = 33
        [[process]]
        pid = 4300
        name = "curl"
        exe = "/usr/bin/curl"
        [[process]]
        pid = 53
        name = "dnsmasq"
        exe = "/usr/sbin/dnsmasq"
        [[process]]
        pid = 6666
        name = "sshd\u001b[2K\rnginx"
        exe = "/tmp/.x/sshd"
        [[socket]]
        local = "0.0.0.0:80"
        state = "LISTEN"
        holders = [4242]
        uid = 33
        [[socket]]
        local = "198.18.0.1:80"
        remote = "198.18.0.2:54094"
        state = "ESTABLISHED"
        holders = [4242]
        uid = 33
        [[socket]]
        local = "198.18.0.2:54094"
        remote = "198.18.0.1:80"
        state = "ESTABLISHED"
        holders = [4300]
        [[socket]]
        protocol = "udp"
        local = "[::]:53"
        state = "UNCONNECTED"
        holders = [53]
        [[socket]]
        local = "0.0.0.0:31337"
        state = "LISTEN"
        holders = [6666]
    "#;

    fn listing_at(host: &str, args: &ListArgs, ui: Ui) -> (String, Vec<String>) {
        let host = FixturePlatform::from_toml(host).expect("fixture");
        let mut out = Vec::new();
        let notes = write(args, ui, &host, &ServiceNames::iana(), &mut out).expect("list");
        (String::from_utf8(out).expect("UTF-8"), notes)
    }

    fn listing(args: &ListArgs) -> (String, Vec<String>) {
        listing_at(HOST, args, Ui::plain())
    }

    /// The issue's scene: a web server, a trojan's port with a peer, a copied `nginx` from /tmp
    /// on [::]:443, 40 client connections from one program, and a reverse shell.
    fn scene() -> String {
        let mut host = String::from(
            r#"
            [host]
            users = { 0 = "root", 33 = "www-data" }
            [[process]]
            pid = 4242
            name = "nginx"
            exe = "/usr/sbin/nginx"
            uid = 33
            [[process]]
            pid = 31000
            name = "python3"
            exe = "/usr/bin/python3.13"
            [[process]]
            pid = 23400
            name = "nginx"
            exe = "/tmp/.cache/nginx"
            [[process]]
            pid = 4300
            name = "backup-sync-agent"
            exe = "/opt/backup-sync/bin/backup-sync-agent"
            [[process]]
            pid = 23406
            name = "sh"
            exe = "/usr/bin/dash"
            [[socket]]
            local = "0.0.0.0:80"
            state = "LISTEN"
            holders = [4242]
            uid = 33
            [[socket]]
            local = "0.0.0.0:31337"
            state = "LISTEN"
            holders = [31000]
            [[socket]]
            local = "198.18.0.1:31337"
            remote = "198.18.0.2:40100"
            state = "ESTABLISHED"
            holders = [31000]
            [[socket]]
            local = "[::]:443"
            state = "LISTEN"
            holders = [23400]
            dual_stack = true
            [[socket]]
            local = "[::ffff:198.18.0.1]:443"
            remote = "[::ffff:198.18.0.2]:52254"
            state = "ESTABLISHED"
            holders = [23400]
            dual_stack = true
            [[socket]]
            local = "198.18.0.1:52000"
            remote = "198.18.0.2:4444"
            state = "ESTABLISHED"
            holders = [23406]
            fds = [0, 1, 2]
            "#,
        );
        for i in 0..40 {
            host.push_str(&format!(
                "[[socket]]\nlocal = \"198.18.0.1:{}\"\nremote = \"198.18.0.2:9000\"\nstate = \"ESTABLISHED\"\nholders = [4300]\n",
                49500 + i
            ));
        }
        host
    }

    #[test]
    fn the_whole_table() {
        let (table, notes) = listing(&ListArgs {
            all: true,
            ..ListArgs::default()
        });
        insta::assert_snapshot!(table);
        assert_eq!(notes.len(), 1, "the abuse mark is explained once: {notes:?}");
    }

    #[test]
    fn the_default_view_puts_listeners_first_at_80_and_160_columns() {
        let host = scene();
        for width in [80, 160] {
            let (text, _) = listing_at(&host, &ListArgs::default(), Ui::fixed(width));
            for line in text.lines() {
                assert!(crate::render::width(line) <= width, "{width}: {line:?}");
            }
            assert!(text.lines().count() < 15, "40 connections are one line: {text}");
            insta::assert_snapshot!(format!("default_{width}"), text);
            let (text, _) = listing_at(
                &host,
                &ListArgs {
                    all: true,
                    ..ListArgs::default()
                },
                Ui::fixed(width),
            );
            for line in text.lines() {
                assert!(crate::render::width(line) <= width, "{width}: {line:?}");
            }
            insta::assert_snapshot!(format!("all_{width}"), text);
        }
    }

    #[test]
    fn the_default_view_marks_alerts_and_paths() {
        let (text, _) = listing_at(&scene(), &ListArgs::default(), Ui::plain());
        let line = |needle: &str| {
            text.lines()
                .find(|l| l.contains(needle))
                .unwrap_or_else(|| panic!("{needle}: {text}"))
                .to_string()
        };
        assert!(line("/tmp/.cache/nginx").starts_with("ALERT"), "{text}");
        assert!(line("23406/sh").starts_with("ALERT"), "{text}");
        assert!(line("23406/sh").contains("to 198.18.0.2:4444"), "{text}");
        assert!(
            line("4300/backup-sync-agent").contains("40 connections to 198.18.0.2:9000"),
            "{text}"
        );
        assert!(line(":31337").contains("trojan port"), "{text}");
        assert!(
            text.contains("\n3 listening, 43 connections held by 4 programs"),
            "{text}"
        );
    }

    #[test]
    fn dual_stack_sockets_count_as_ipv4_and_print_as_ipv4() {
        let host = scene();
        let v4 = ListArgs {
            ipv4: true,
            port: vec![443],
            ..ListArgs::default()
        };
        let (text, _) = listing_at(&host, &v4, Ui::plain());
        assert!(text.contains(" *:443 "), "{text}");
        assert!(text.contains("198.18.0.2:52254"), "{text}");
        assert!(!text.contains("::ffff:"), "{text}");
        let v6 = ListArgs {
            ipv6: true,
            port: vec![443],
            ..ListArgs::default()
        };
        let (text, _) = listing_at(&host, &v6, Ui::plain());
        assert!(text.contains(" *:443 "), "the listener takes IPv6 too: {text}");
        assert!(!text.contains("52254"), "an IPv4 client is not IPv6: {text}");
    }

    #[test]
    fn a_port_is_a_number_or_a_service_name() {
        assert_eq!(port_or_service("8080"), Ok(8080));
        assert_eq!(port_or_service("http"), Ok(80));
        assert_eq!(port_or_service("SSH"), Ok(22));
        assert!(port_or_service("0").unwrap_err().contains("1 to 65535"));
        assert!(port_or_service("70000").unwrap_err().contains("1 to 65535"));
        assert!(port_or_service("nosuchservice").unwrap_err().contains("lookup"));
    }

    #[test]
    fn filters() {
        let rows = |args: ListArgs| listing(&ListArgs { all: true, ..args }).0.lines().count() - 1;
        assert_eq!(rows(ListArgs::default()), 5);
        assert_eq!(
            rows(ListArgs {
                listening: true,
                ..ListArgs::default()
            }),
            3
        );
        assert_eq!(
            rows(ListArgs {
                established: true,
                ..ListArgs::default()
            }),
            2
        );
        assert_eq!(
            rows(ListArgs {
                udp: true,
                ..ListArgs::default()
            }),
            1
        );
        assert_eq!(
            rows(ListArgs {
                ipv6: true,
                ..ListArgs::default()
            }),
            1
        );
        assert_eq!(
            rows(ListArgs {
                port: vec![80],
                ..ListArgs::default()
            }),
            3
        );
        assert_eq!(
            rows(ListArgs {
                pid: Some(4300),
                ..ListArgs::default()
            }),
            1
        );
        assert_eq!(
            rows(ListArgs {
                process: Some("ngi".into()),
                ..ListArgs::default()
            }),
            2
        );
    }

    #[test]
    fn a_client_port_is_named_by_its_server() {
        let (table, _) = listing(&ListArgs {
            pid: Some(4300),
            ..ListArgs::default()
        });
        assert!(
            table.contains("http"),
            "the client's row is named by port 80: {table}"
        );
    }

    #[test]
    fn json_keeps_every_field() {
        let (json, _) = listing(&ListArgs {
            json: true,
            port: vec![31337],
            ..ListArgs::default()
        });
        let value: serde_json::Value = serde_json::from_str(&json).expect("JSON");
        assert_eq!(
            value[0]["holders"][0]["name"], "sshd\u{1b}[2K\rnginx",
            "exact bytes in JSON"
        );
        assert!(value[0]["abuse"][0]["family"].as_str().is_some(), "{value}");
    }
}
