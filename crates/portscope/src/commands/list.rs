//! `portscope list`: every socket on this machine and the processes that hold it.

use std::collections::HashMap;
use std::io::Write;

use clap::Args;
use serde::Serialize;

use super::lookup::LocalNamesArgs;
use crate::error::{ExitCode, Result};
use crate::knowledge::{self, AbuseEntry, ServiceNames, ServiceSides};
use crate::model::{Family, Protocol, Snapshot, Socket, SocketState};
use crate::output::table::{Cell, Table};
use crate::output::{self, Color, Ui};
use crate::platform::{Platform, Query, StateFilter};
use crate::privilege;

#[derive(Args, Debug, Clone, Default)]
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
    /// Show only IPv4 sockets.
    #[arg(short = '4', long = "ipv4")]
    pub ipv4: bool,
    /// Show only IPv6 sockets.
    #[arg(short = '6', long = "ipv6")]
    pub ipv6: bool,
    /// Show sockets whose local or remote port is PORT (repeatable).
    #[arg(short = 'p', long, value_name = "PORT", value_parser = clap::value_parser!(u16).range(1..))]
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

impl ListArgs {
    /// The part of the filter the kernel applies during the dump.
    pub fn query(&self) -> Query {
        if self.unaccounted {
            // The check needs every kind in every state, or a missing socket means nothing.
            return Query::default();
        }
        // No kind named: TCP and UDP, as before raw, packet and SCTP sockets were listed.
        let default = !(self.tcp || self.udp || self.raw || self.packet || self.sctp);
        let both_families = self.ipv4 == self.ipv6;
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
        port_ok && pid_ok && name_ok
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
        table(&sockets, &view, &users, netns_column).write(out, ui)?;
    }
    if !args.json && !args.json_lines && sockets.iter().any(|s| !view.abuse_of(s).is_empty()) {
        notes.push(
            "! marks a port with documented abuse (`portscope lookup PORT` says which); \
             a port number alone proves nothing"
                .into(),
        );
    }
    if let Some(note) = privilege::hidden_owners_note(snapshot.unreadable_processes, host.privileges()) {
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

fn proto_label(socket: &Socket) -> String {
    let base = match (socket.protocol, &socket.packet) {
        (Protocol::Packet, Some(info)) => return format!("p_{}", info.kind),
        (protocol, _) => protocol.as_str(),
    };
    match socket.family {
        Family::Ipv6 => format!("{base}6"),
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
        _ => socket.local.to_string(),
    }
}

fn table(sockets: &[&Socket], view: &View, users: &HashMap<u32, String>, netns_column: bool) -> Table {
    let numeric = view.numeric;
    let mut headers = vec![
        "PROTO",
        "LOCAL",
        "REMOTE",
        "STATE",
        "SERVICE",
        "PID/PROGRAM",
        "USER",
    ];
    if netns_column {
        headers.insert(0, "NETNS");
    }
    let mut table = Table::new(headers);
    for socket in sockets {
        let proto = proto_label(socket);
        let remote = if socket.remote.is_unspecified() {
            "*".to_string()
        } else {
            socket.remote.to_string()
        };
        let state_color = match socket.state {
            SocketState::Listen | SocketState::Unconnected => Color::Green,
            SocketState::Established => Color::Cyan,
            _ => Color::Dim,
        };
        let user = match (numeric, users.get(&socket.uid)) {
            (false, Some(name)) => name.clone(),
            _ => socket.uid.to_string(),
        };
        let mut row: Vec<Cell> = vec![
            proto.into(),
            local_label(socket).into(),
            remote.into(),
            Cell::painted(socket.state.as_str(), state_color),
            service_cell(socket, view),
            Cell::painted(output::holders_label(&socket.holders), Color::Bold),
            user.into(),
        ];
        if netns_column {
            row.insert(0, socket.netns.label().into());
        }
        table.push(row);
    }
    table
}

/// The service name, with `!` and colour when the port has documented abuse.
fn service_cell(socket: &Socket, view: &View) -> Cell {
    let name = view.service_of(socket).unwrap_or("-");
    if view.abuse_of(socket).is_empty() {
        name.into()
    } else {
        Cell::painted(format!("{name} !"), Color::Yellow)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use portscope_core::fixture::FixturePlatform;

    /// A recorded host: a web server and its client, a DNS server, a trojan's port, and a
    /// process whose name is a terminal attack.
    const HOST: &str = r#"
        [host]
        users = { 0 = "root", 33 = "www-data" }
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

    fn listing(args: &ListArgs) -> (String, Vec<String>) {
        let host = FixturePlatform::from_toml(HOST).expect("fixture");
        let mut out = Vec::new();
        let notes = write(args, Ui { color: false }, &host, &ServiceNames::iana(), &mut out).expect("list");
        (String::from_utf8(out).expect("UTF-8"), notes)
    }

    #[test]
    fn the_whole_table() {
        let (table, notes) = listing(&ListArgs::default());
        insta::assert_snapshot!(table);
        assert_eq!(notes.len(), 1, "the abuse mark is explained once: {notes:?}");
    }

    #[test]
    fn filters() {
        let rows = |args: ListArgs| listing(&args).0.lines().count() - 1;
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
