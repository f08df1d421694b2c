//! `portscope list`: every socket on this machine and the processes that hold it.

use std::collections::HashMap;
use std::io::Write;

use clap::Args;
use serde::Serialize;

use super::lookup::LocalNamesArgs;
use crate::audit::{self, Severity};
use crate::error::{ExitCode, Result};
use crate::filter::Expression;
use crate::inspect::{self, Filter, Inspection};
use crate::knowledge::{self, AbuseEntry, ServiceNames, ServiceSides};
use crate::model::{Family, Protocol, Snapshot, Socket, SocketState};
use crate::output::table::{Cell, Table};
use crate::output::{self, Color, Format, FormatArgs, Ui};
use crate::platform::{Platform, Query, StateFilter};
use crate::sort::SortKey;
use crate::state_names::StateSet;
use crate::{privilege, provenance, render};

#[derive(Args, Debug, Clone, Default)]
#[command(after_help = "Examples:
  portscope list                 what listens here, and one line per program for its connections
  portscope list --all           every socket on its own row
  portscope list -l -4           only listeners that take IPv4 (dual-stack [::] included)
  portscope list -p http         sockets on port 80, either side
  portscope list 'port = 443 and not user = root'   the filter language (docs/filter.md)
  portscope list 'sport = :22 or dst 198.18.0.0/15' ss's spellings
  portscope list --pid 4242      the sockets of one process
  portscope list -tulpn          ss/netstat habits: TCP and UDP listeners, numeric (-p: processes,
                                 always shown; `-p PORT` alone still filters by port)
  portscope list -i :443         lsof habits: -i [46][tcp|udp][:PORT[,PORT]]
  portscope list -tn --state time-wait   states as ss names them (connected, bucket, ...)
  portscope list --format csv > ports.csv
  portscope list --json | jq '.[] | select(.state == \"LISTEN\")'")]
pub struct ListArgs {
    /// Show only the sockets this filter keeps, e.g. 'port = 443 and not user = root' or ss's
    /// 'sport = :22' (one argument or several words). Fields: proto, port, lport, rport, addr,
    /// local, remote, state, pid, program, exe, user, unit, netns, verdict, rule, service
    /// (grammar in docs/filter.md).
    #[arg(value_name = "FILTER", num_args = 0..)]
    pub expression: Vec<String>,
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
    /// Show sockets held by a process whose executable is named NAME (NAME* for a prefix; the
    /// process name counts only when the executable cannot be read).
    #[arg(long, value_name = "NAME")]
    pub process: Option<String>,
    /// Show only sockets in STATE, named as ss(8) names states and groups (repeatable): established,
    /// syn-sent, syn-recv, fin-wait-1, fin-wait-2, time-wait, closed, close-wait, last-ack,
    /// listening, closing; all, connected, synchronized, bucket, big.
    #[arg(long, value_name = "STATE", value_parser = parse_state)]
    pub state: Vec<StateSet>,
    /// Sort the rows by FIELD (comma-separated, the first deciding): proto, local, remote, port,
    /// state, pid, program, user, netns, inode, recv-q, send-q.
    #[arg(long, value_name = "FIELD", value_delimiter = ',', value_parser = parse_sort_key)]
    pub sort: Vec<SortKey>,
    /// Show only these columns, in this order (comma-separated): the table's headers (proto,
    /// local, remote, state, pid/program, exe, ...) or, with --format csv, its header's names.
    #[arg(
        long,
        value_name = "COLUMN",
        value_delimiter = ',',
        conflicts_with = "summary"
    )]
    pub columns: Vec<String>,
    /// Show the holders as a process tree: each under its parent chain up to the first process,
    /// its sockets beneath it (a table view; --json has each holder's ppid).
    #[arg(long, conflicts_with_all = ["summary", "columns", "unaccounted", "forwards"])]
    pub tree: bool,
    /// Say why each holder runs, one line each after the table ("SSH session from
    /// 198.18.3.2:51234 as root on pts/1", "started by cron for alice", "socket-activated by
    /// cups.socket", "container web (docker)"); in --json, a `provenance` object on each holder.
    #[arg(long, conflicts_with_all = ["summary", "unaccounted", "forwards", "tree"])]
    pub why: bool,
    /// Count the sockets by protocol, state and namespace (one screen, like `ss -s`).
    #[arg(short = 's', long, conflicts_with_all = ["unaccounted", "forwards"])]
    pub summary: bool,
    #[command(flatten)]
    pub output: FormatArgs,
    /// Do not resolve service and user names.
    #[arg(short = 'n', long)]
    pub numeric: bool,
    #[command(flatten)]
    pub names: LocalNamesArgs,
}

fn parse_sort_key(text: &str) -> std::result::Result<SortKey, String> {
    text.parse::<SortKey>().map_err(|e| e.to_string())
}

fn parse_state(text: &str) -> std::result::Result<StateSet, String> {
    StateSet::parse(text).map_err(|e| e.to_string())
}

/// `-p 8080` or `-p http`: the one rule for a port argument ([`knowledge::port_argument`]).
pub fn port_or_service(text: &str) -> std::result::Result<u16, String> {
    knowledge::port_argument(text)
}

impl ListArgs {
    /// Whether the human table shows every socket on its own row. Asking for particular sockets
    /// (a port, a process, connections) is asking to see them; otherwise the listeners come first
    /// and connections are summarised per program.
    pub fn every_row(&self) -> bool {
        self.all
            || self.established
            || !self.expression.is_empty()
            || !self.port.is_empty()
            || !self.state.is_empty()
            || !self.columns.is_empty()
            || self.pid.is_some()
            || self.process.is_some()
    }

    /// Refuses what a format would silently ignore: JSON has every field and no header line.
    fn check_output(&self) -> Result<()> {
        let json = matches!(self.output.format(), Format::Json | Format::JsonLines);
        let refuse = |flag: &str| {
            Err(crate::Error::Usage(format!(
                "{flag} shapes a table or CSV; JSON always has every field and no header line"
            )))
        };
        if json && self.output.no_header {
            return refuse("--no-header");
        }
        if json && !self.columns.is_empty() {
            return refuse("--columns");
        }
        if self.tree && self.output.no_header {
            return Err(crate::Error::Usage(
                "--tree draws no header line to leave out".into(),
            ));
        }
        if (self.unaccounted || self.forwards) && !self.expression.is_empty() {
            return Err(crate::Error::Usage(
                "a filter selects sockets; --unaccounted and --forwards list other things".into(),
            ));
        }
        if self.why && self.output.format() == Format::Csv {
            return Err(crate::Error::Usage(
                "--why adds lines to a table and a `provenance` object to JSON; CSV has no place for it"
                    .into(),
            ));
        }
        if (self.unaccounted || self.forwards) && self.output.format() == Format::Csv {
            return Err(crate::Error::Usage(
                "--unaccounted and --forwards print a table, json or json-lines, not csv".into(),
            ));
        }
        Ok(())
    }

    /// The positional filter, parsed; `None` when there is none.
    pub fn expression(&self) -> Result<Option<Expression>> {
        super::expression_of(&self.expression.join(" "))
    }

    /// What the table and JSON show, applied to the inspection's result.
    pub fn filter(&self) -> Filter {
        Filter {
            tcp: self.tcp || self.all_kinds,
            udp: self.udp || self.all_kinds,
            raw: self.raw || self.all_kinds,
            packet: self.packet || self.all_kinds,
            sctp: self.sctp || self.all_kinds,
            ipv4: self.ipv4,
            ipv6: self.ipv6,
            states: if self.listening {
                StateFilter::Listening
            } else if self.established {
                StateFilter::Established
            } else {
                StateFilter::All
            },
            named_states: StateSet::union(&self.state),
            ports: self.port.clone(),
            pid: self.pid,
            process: self.process.clone(),
            netns: None,
        }
    }

    /// What the inspection looks at: the kinds asked for in every state (the cross-view check
    /// needs every kind, `--forwards` the NAT rules).
    fn options(&self, names: &ServiceNames) -> inspect::Options {
        let audit = audit::Options {
            names: names.clone(),
            ..audit::Options::default()
        };
        let query = if self.unaccounted {
            Query::default()
        } else {
            Query {
                forwards: self.forwards,
                ..self.filter().query()
            }
        };
        inspect::Options { query, audit }
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
    /// The worst finding about the socket (what the table's VERDICT column shows), and each
    /// finding with its reason and the command that acts on it.
    #[serde(flatten)]
    judgement: inspect::Judgement<'a>,
}

pub fn run(args: &ListArgs, ui: Ui, host: &dyn Platform) -> Result<ExitCode> {
    let names = if args.numeric {
        ServiceNames::iana()
    } else {
        args.names.load()?
    };
    super::print_then_note(64 * 1024, |out| write(args, ui, host, &names, out))
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
    args.check_output()?;
    let expression = args.expression()?;
    let mut inspection = Inspection::take(host, &args.options(names))?;
    let mut notes = inspection.snapshot.notes.clone();
    if args.why {
        // Read only for the sockets the table can show: a few files per ancestor of each holder.
        let filter = args.filter();
        if let Err(unsupported) =
            provenance::attach(host, &mut inspection.snapshot.sockets, |s| filter.matches(s))
        {
            notes.push(format!("--why: {unsupported}"));
        }
    }
    let inspection = inspection;
    let snapshot = &inspection.snapshot;
    if args.unaccounted {
        unaccounted(args, snapshot, ui, out)?;
        return Ok(notes);
    }
    if args.forwards {
        forwards(args, snapshot, ui, out)?;
        return Ok(notes);
    }
    let sides = ServiceSides::new(&snapshot.sockets, host.ephemeral_ports());
    let mut sockets = inspection.select(&args.filter());
    if let Some(expression) = &expression {
        sockets.retain(|socket| expression.keeps(&inspection, socket, names, &sides));
    }
    if !args.sort.is_empty() {
        // Stable: sockets equal on every key keep the inspection's order.
        sockets.sort_by(|a, b| SortKey::compare_all(&args.sort, a, b));
    }
    if args.summary {
        write_summary(args, &sockets, ui, out)?;
        return Ok(notes);
    }
    if args.tree {
        if args.output.format() != Format::Table {
            return Err(crate::Error::Usage(
                "--tree is drawn for people; --json and --format csv carry each holder's pid and ppid".into(),
            ));
        }
        output::tree::write(out, &process_tree(&sockets, host))?;
        return Ok(notes);
    }

    let view = View {
        names,
        sides: &sides,
        numeric: args.numeric,
    };
    let entries = sockets.iter().map(|socket| Entry {
        socket,
        service: view.service_of(socket),
        abuse: view.abuse_of(socket),
        judgement: inspection.judgement(socket),
    });
    let format = args.output.format();
    if format == Format::Json {
        output::json_array(out, entries)?;
    } else if format == Format::JsonLines {
        output::json_lines(out, entries)?;
    } else if format == Format::Csv {
        let picks = column_picks(&args.columns, CSV_COLUMNS)?;
        let header: Vec<&str> = picks.iter().map(|&i| CSV_COLUMNS[i]).collect();
        let rows = entries.map(|entry| {
            let mut row = csv_row(&entry);
            picks.iter().map(|&i| std::mem::take(&mut row[i])).collect()
        });
        output::csv::write(out, &header, rows, args.output.no_header)?;
    } else {
        let users = if args.numeric {
            HashMap::new()
        } else {
            host.user_names()
        };
        let rows = Rows {
            view: &view,
            users: &users,
            inspection: &inspection,
            netns_column: shows_namespaces(snapshot, &sockets),
            width: ui.width,
        };
        if args.every_row() {
            let table = rows.every_socket(&sockets);
            let headers: Vec<String> = table.headers().iter().map(|h| h.to_ascii_lowercase()).collect();
            let headers: Vec<&str> = headers.iter().map(String::as_str).collect();
            column_picks(&args.columns, &headers)?;
            table
                .only(&args.columns)
                .no_header(args.output.no_header)
                .write(out, ui)?;
        } else {
            let (listeners, connections): (Vec<&Socket>, Vec<&Socket>) =
                sockets.iter().partition(|s| inspect::is_listener(s));
            if !listeners.is_empty() {
                rows.listeners(&listeners)
                    .no_header(args.output.no_header)
                    .write(out, ui)?;
            }
            let programs = by_program(&connections);
            if !programs.is_empty() {
                if !listeners.is_empty() {
                    writeln!(out)?;
                }
                rows.programs(&programs)
                    .no_header(args.output.no_header)
                    .write(out, ui)?;
            }
            writeln!(out, "\n{}", summary(&inspection, &sockets))?;
        }
        if args.why {
            write_why(&sockets, ui, out)?;
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

/// `list --why`: one line per holder of `sockets` (in their order), saying what started it.
fn write_why(sockets: &[&Socket], ui: Ui, out: &mut impl Write) -> Result<()> {
    let mut seen = std::collections::HashSet::new();
    let mut lines = Vec::new();
    for socket in sockets {
        for holder in &socket.holders {
            let Some(provenance) = &holder.provenance else {
                continue;
            };
            if !seen.insert(holder.process.pid) {
                continue;
            }
            let label = format!(
                "PID {} {}",
                holder.process.pid,
                render::escape(&holder.process.name)
            );
            let why = provenance::why::line(provenance, &holder.process, Some(socket));
            lines.push(format!(
                "  {}: {}",
                ui.paint(Color::Bold, &label),
                render::escape(&why)
            ));
        }
    }
    if !lines.is_empty() {
        writeln!(out, "\nWhy they run:")?;
        for line in lines {
            writeln!(out, "{line}")?;
        }
    }
    Ok(())
}

/// The most parents followed up from one holder: a parent chain is a handful of processes deep;
/// the bound keeps a pid reused in a loop from stalling the run.
const MAX_CHAIN: usize = 64;

/// `list --tree`: every holder under its parent chain (read from the holder's ppid, then from the
/// host), its sockets as lines beneath it; sockets no visible process holds under a node of their own.
fn process_tree(sockets: &[&Socket], host: &dyn Platform) -> Vec<output::tree::Node> {
    use std::collections::{BTreeMap, BTreeSet};
    let mut labels: BTreeMap<u32, String> = BTreeMap::new();
    let mut lines: BTreeMap<u32, Vec<String>> = BTreeMap::new();
    let mut parents: HashMap<u32, u32> = HashMap::new();
    let mut orphans = Vec::new();
    for socket in sockets {
        let remote = if socket.remote.is_unspecified() {
            "*".to_string()
        } else {
            canonical(&socket.remote)
        };
        let line = format!(
            "{} {} {remote} {}",
            proto_label(socket),
            local_label(socket),
            socket.state
        );
        if socket.holders.is_empty() {
            orphans.push(line.clone());
        }
        for holder in &socket.holders {
            let process = &holder.process;
            labels.insert(process.pid, format!("{} {}", process.pid, process.name));
            lines.entry(process.pid).or_default().push(line.clone());
            if process.ppid != 0 {
                parents.insert(process.pid, process.ppid);
            }
        }
    }
    let held: Vec<u32> = labels.keys().copied().collect();
    for pid in held {
        let mut current = pid;
        for _ in 0..MAX_CHAIN {
            let parent = match parents.get(&current) {
                Some(&p) => p,
                None => match host.parent(current) {
                    Ok(Some(p)) if p != 0 && p != current => p,
                    _ => break,
                },
            };
            parents.insert(current, parent);
            if labels.contains_key(&parent) {
                break;
            }
            let name = host.identity(parent).map_or_else(|| "?".to_string(), |i| i.name);
            labels.insert(parent, format!("{parent} {name}"));
            current = parent;
        }
    }
    let mut children: BTreeMap<u32, Vec<u32>> = BTreeMap::new();
    let mut roots = Vec::new();
    for &pid in labels.keys() {
        match parents.get(&pid) {
            Some(parent) if labels.contains_key(parent) && *parent != pid => {
                children.entry(*parent).or_default().push(pid)
            }
            _ => roots.push(pid),
        }
    }
    // Each pid is placed once, so a parent loop (a pid reused) cannot recurse for ever.
    fn node(
        pid: u32,
        labels: &BTreeMap<u32, String>,
        lines: &mut BTreeMap<u32, Vec<String>>,
        children: &BTreeMap<u32, Vec<u32>>,
        placed: &mut BTreeSet<u32>,
    ) -> output::tree::Node {
        placed.insert(pid);
        let kids: Vec<u32> = children
            .get(&pid)
            .into_iter()
            .flatten()
            .copied()
            .filter(|c| !placed.contains(c))
            .collect();
        output::tree::Node {
            label: labels.get(&pid).cloned().unwrap_or_default(),
            lines: lines.remove(&pid).unwrap_or_default(),
            children: kids
                .into_iter()
                .map(|c| node(c, labels, lines, children, placed))
                .collect(),
        }
    }
    let mut placed = BTreeSet::new();
    let mut tree: Vec<output::tree::Node> = roots
        .into_iter()
        .map(|pid| node(pid, &labels, &mut lines, &children, &mut placed))
        .collect();
    // A parent loop (a pid reused while the chain was read) leaves no root: show its members
    // at the top rather than leave them out.
    let unplaced: Vec<u32> = labels.keys().copied().filter(|p| !placed.contains(p)).collect();
    for pid in unplaced {
        if !placed.contains(&pid) {
            tree.push(node(pid, &labels, &mut lines, &children, &mut placed));
        }
    }
    if !orphans.is_empty() {
        tree.push(output::tree::Node {
            label: "- (no visible process)".into(),
            lines: orphans,
            children: Vec::new(),
        });
    }
    tree
}

/// One line of `list --summary`: how many sockets of one protocol are in one state in one
/// namespace.
#[derive(Serialize)]
struct Count {
    protocol: String,
    state: SocketState,
    netns: String,
    sockets: usize,
}

/// `list --summary`: the counts by protocol, state and namespace (`ss -s`), in every format;
/// the table adds the totals per protocol and per namespace.
fn write_summary(args: &ListArgs, sockets: &[&Socket], ui: Ui, out: &mut impl Write) -> Result<()> {
    let mut counts: std::collections::BTreeMap<(String, SocketState, String), usize> = Default::default();
    for socket in sockets {
        *counts
            .entry((proto_label(socket), socket.state, socket.netns.label()))
            .or_default() += 1;
    }
    let counts: Vec<Count> = counts
        .into_iter()
        .map(|((protocol, state, netns), sockets)| Count {
            protocol,
            state,
            netns,
            sockets,
        })
        .collect();
    match args.output.format() {
        Format::Json => output::json_array(out, &counts)?,
        Format::JsonLines => output::json_lines(out, &counts)?,
        Format::Csv => {
            let rows = counts.iter().map(|c| {
                vec![
                    c.protocol.clone(),
                    serde_json::to_value(c.state)
                        .ok()
                        .and_then(|v| v.as_str().map(str::to_string))
                        .unwrap_or_default(),
                    c.netns.clone(),
                    c.sockets.to_string(),
                ]
            });
            output::csv::write(
                out,
                &["proto", "state", "netns", "sockets"],
                rows,
                args.output.no_header,
            )?;
        }
        Format::Table => {
            let mut table =
                Table::new(vec!["PROTO", "STATE", "NETNS", "SOCKETS"]).no_header(args.output.no_header);
            for c in &counts {
                table.push(vec![
                    c.protocol.as_str().into(),
                    c.state.as_str().into(),
                    c.netns.as_str().into(),
                    c.sockets.to_string().into(),
                ]);
            }
            table.write(out, ui)?;
            let mut by_protocol: std::collections::BTreeMap<&str, usize> = Default::default();
            let mut by_netns: std::collections::BTreeMap<&str, usize> = Default::default();
            for c in &counts {
                *by_protocol.entry(&c.protocol).or_default() += c.sockets;
                *by_netns.entry(&c.netns).or_default() += c.sockets;
            }
            let join = |m: &std::collections::BTreeMap<&str, usize>| {
                // Namespace names come from files anyone with rights in /run/netns may name.
                m.iter()
                    .map(|(k, n)| format!("{} {n}", crate::render::escape(k)))
                    .collect::<Vec<_>>()
                    .join(", ")
            };
            writeln!(out, "\nTotal: {} sockets", sockets.len())?;
            writeln!(out, "by protocol: {}", join(&by_protocol))?;
            writeln!(out, "by namespace: {}", join(&by_netns))?;
        }
    }
    Ok(())
}

/// The columns of `list --format csv`: the fields a spreadsheet user filters on, each one value,
/// spelled as `--json` spells them (the first holder's process; `holders` in JSON has them all).
const CSV_COLUMNS: &[&str] = &[
    "proto",
    "family",
    "state",
    "local_address",
    "local_port",
    "remote_address",
    "remote_port",
    "service",
    "pid",
    "program",
    "exe",
    "user",
    "uid",
    "verdict",
    "netns",
    "inode",
    "recv_queue",
    "send_queue",
];

/// The positions in `available` of the `wanted` columns (any case), in the order asked for;
/// every column when none is asked for. A name `available` lacks is a usage error naming them.
fn column_picks(wanted: &[String], available: &[&str]) -> Result<Vec<usize>> {
    if wanted.is_empty() {
        return Ok((0..available.len()).collect());
    }
    wanted
        .iter()
        .map(|name| {
            available
                .iter()
                .position(|c| c.eq_ignore_ascii_case(name.trim()))
                .ok_or_else(|| {
                    crate::Error::Usage(format!(
                        "--columns: no column {name:?} here; the columns are {}",
                        available.join(", ")
                    ))
                })
        })
        .collect()
}

/// One CSV record: the JSON row's values, lossless (quoting is the writer's job).
fn csv_row(entry: &Entry) -> Vec<String> {
    let socket = entry.socket;
    // The names JSON uses for enums, so the two formats agree field by field.
    let word = |value: serde_json::Result<serde_json::Value>| match value {
        Ok(serde_json::Value::String(s)) => s,
        Ok(serde_json::Value::Null) | Err(_) => String::new(),
        Ok(other) => other.to_string(),
    };
    let holder = socket.holders.first().map(|h| &h.process);
    vec![
        word(serde_json::to_value(socket.protocol)),
        word(serde_json::to_value(socket.family)),
        word(serde_json::to_value(socket.state)),
        socket.local.address.to_string(),
        socket.local.port.to_string(),
        socket.remote.address.to_string(),
        socket.remote.port.to_string(),
        entry.service.unwrap_or_default().to_string(),
        holder.map(|p| p.pid.to_string()).unwrap_or_default(),
        holder.map(|p| p.name.clone()).unwrap_or_default(),
        holder
            .and_then(|p| p.exe.as_deref())
            .map(|e| e.to_string_lossy().into_owned())
            .unwrap_or_default(),
        holder.and_then(|p| p.user.clone()).unwrap_or_default(),
        socket.uid.to_string(),
        word(serde_json::to_value(entry.judgement.verdict)),
        socket.netns.inode.to_string(),
        socket.inode.to_string(),
        socket.recv_queue.to_string(),
        socket.send_queue.to_string(),
    ]
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

/// Whether the table needs a NETNS column: the rows come from more than one network namespace,
/// or from one that is not portscope's own (a container's listener must never look like the
/// host's).
fn shows_namespaces(snapshot: &Snapshot, sockets: &[&Socket]) -> bool {
    sockets
        .first()
        .is_some_and(|first| sockets.iter().any(|s| s.netns.inode != first.netns.inode))
        || sockets.iter().any(|s| !snapshot.is_own(s))
}

/// `list --unaccounted`: the sockets no dump lists, one row each, with why.
fn unaccounted(args: &ListArgs, snapshot: &Snapshot, ui: Ui, out: &mut impl Write) -> Result<()> {
    if args.output.format() == Format::Json {
        output::json_array(out, snapshot.unaccounted.iter())?;
    } else if args.output.format() == Format::JsonLines {
        output::json_lines(out, snapshot.unaccounted.iter())?;
    } else {
        let mut table = Table::new(vec!["PID/PROGRAM", "FD", "INODE", "KIND", "NETNS", "WHY"])
            .no_header(args.output.no_header);
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
    if args.output.format() == Format::Json {
        output::json_array(out, shown.iter())?;
    } else if args.output.format() == Format::JsonLines {
        output::json_lines(out, shown.iter())?;
    } else if shown.is_empty() {
        writeln!(out, "no port is forwarded by destination NAT")?;
    } else {
        let mut table =
            Table::new(vec!["PROTO", "FORWARD", "RULE", "LISTENER"]).no_header(args.output.no_header);
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

fn verdict_cell(verdict: Option<Severity>) -> Cell {
    match verdict {
        Some(Severity::Alert) => Cell::painted("ALERT", Color::Red),
        Some(Severity::Warning) => Cell::painted("warn", Color::Yellow),
        Some(Severity::Info) => Cell::painted("info", Color::Dim),
        None => "".into(),
    }
}

/// The executable of a socket's first holder, as a person should see it ("-" when unknown),
/// escaped once, by [`crate::render::path`].
fn exe_label(socket: &Socket) -> Cell {
    socket
        .holders
        .first()
        .and_then(|h| h.process.exe.as_deref())
        .map_or_else(|| "-".into(), |exe| Cell::rendered(crate::render::path(exe)))
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
    // Where each peer is in `peers`: thousands of connections may each have a peer of their own.
    let mut index: HashMap<String, usize> = HashMap::new();
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
        match index.get(&peer) {
            Some(&i) => peers[i].1 += 1,
            None => {
                index.insert(peer.clone(), peers.len());
                peers.push((peer, 1));
            }
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
fn summary(inspection: &Inspection, sockets: &[&Socket]) -> String {
    let counts = inspection.counts(sockets.iter().copied());
    let mut line = counts.line();
    line.push_str("; `list --all` shows each");
    if counts.alert + counts.warning > 0 {
        line.push_str(&format!(
            "\n{} socket(s) with an ALERT, {} with a warning: `portscope audit` says why",
            counts.alert, counts.warning
        ));
    }
    line
}

/// What every table of `list` needs beyond its sockets.
struct Rows<'a> {
    view: &'a View<'a>,
    users: &'a HashMap<u32, String>,
    inspection: &'a Inspection,
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
        verdict_cell(self.inspection.verdict(socket))
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
            .shrink_first(&["EXE", "USER", "PID/PROGRAM", "SERVICE", "NETNS"])
            .middle_cut(&["EXE", "NETNS"])
            .endpoints(&["LOCAL"])
            .droppable(&["EXE"]);
        for socket in sockets {
            let mut row: Vec<Cell> = vec![
                self.verdict(socket),
                proto_label(socket).into(),
                local_label(socket).into(),
                service_cell(socket, self.view),
                Cell::painted(output::holders_label(&socket.holders), Color::Bold),
                self.user(socket).into(),
                exe_label(socket),
            ];
            if !with_user {
                row.remove(5);
            }
            if self.netns_column {
                row.insert(1, socket.netns.short_label().into());
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
                .filter_map(|s| self.inspection.verdict(s))
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
                program.sockets.first().map_or("-".into(), |s| exe_label(s)),
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
            .middle_cut(&["EXE", "NETNS"])
            .endpoints(&["LOCAL", "REMOTE"])
            .droppable(&["EXE", "SERVICE"]);
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
                exe_label(socket),
            ];
            if !with_user {
                row.remove(7);
            }
            if self.netns_column {
                row.insert(1, socket.netns.short_label().into());
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

    /// Listeners in the host, an `ip netns` namespace and two anonymous ones (`unshare -n`),
    /// on IPv4 and IPv6 (fd00::/8), held by programs with long names, and connections whose
    /// both ends are long.
    const NAMESPACES: &str = r#"
        [[process]]
        pid = 4242
        name = "nginx"
        exe = "/usr/sbin/nginx"
        [[process]]
        pid = 31000
        name = "a-very-long-program-name-indeed"
        exe = "/opt/vendor/very/long/installation/directory/bin/a-very-long-program-name-indeed"
        [[process]]
        pid = 31001
        name = "sandboxed-worker-process"
        exe = "/usr/libexec/sandbox/sandboxed-worker-process"
        [[socket]]
        local = "0.0.0.0:8080"
        state = "LISTEN"
        holders = [4242]
        [[socket]]
        local = "127.0.0.1:8081"
        state = "LISTEN"
        holders = [4242]
        [[socket]]
        local = "[fd00:1234:5678::abcd]:8443"
        state = "LISTEN"
        holders = [31000]
        netns = "net:[4026532319]"
        [[socket]]
        local = "198.18.0.1:18080"
        state = "LISTEN"
        holders = [31000]
        netns = "net:[4026532319]"
        [[socket]]
        local = "[fd00:1234:5678:9abc:def0:1234:5678:9abc]:44321"
        state = "LISTEN"
        holders = [31001]
        netns = "net:[4026532401]"
        [[socket]]
        protocol = "udp"
        local = "[fd00::53]:5353"
        state = "UNCONNECTED"
        holders = [31001]
        netns = "a-rather-long-ip-netns-name-for-tests"
        [[socket]]
        local = "198.18.0.1:18080"
        remote = "198.18.0.2:54094"
        state = "ESTABLISHED"
        holders = [31000]
        netns = "net:[4026532319]"
        [[socket]]
        local = "[fd00:1234:5678::abcd]:8443"
        remote = "[fd00:1234:5678::beef]:60001"
        state = "ESTABLISHED"
        holders = [31000]
        netns = "net:[4026532319]"
    "#;

    #[test]
    fn no_width_hides_a_port_with_namespaces_ipv6_and_long_names() {
        let ports = [":8080", ":8081", "]:8443", ":18080", "]:44321", "]:5353"];
        for width in [80, 200] {
            for all in [false, true] {
                let args = ListArgs {
                    all,
                    ..ListArgs::default()
                };
                let (text, _) = listing_at(NAMESPACES, &args, Ui::fixed(width));
                for line in text.lines() {
                    assert!(crate::render::width(line) <= width, "{width}: {line:?}\n{text}");
                }
                for port in ports {
                    assert!(text.contains(port), "{width}, all {all}: {port} in\n{text}");
                }
                if all {
                    for peer in [":54094", "]:60001"] {
                        assert!(text.contains(peer), "{width}: {peer} in\n{text}");
                    }
                }
                assert!(text.contains("ns:532319") && text.contains("ns:532401"), "{text}");
                assert!(!text.contains("net:["), "the table uses short labels: {text}");
                let name = if all { "all" } else { "default" };
                insta::assert_snapshot!(format!("namespaces_{name}_{width}"), text);
            }
        }
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
                process: Some("ngi*".into()),
                ..ListArgs::default()
            }),
            2
        );
        assert_eq!(
            rows(ListArgs {
                process: Some("nginx".into()),
                ..ListArgs::default()
            }),
            2,
            "the executable's name, exactly"
        );
        assert_eq!(
            rows(ListArgs {
                process: Some("ngi".into()),
                ..ListArgs::default()
            }),
            0,
            "a prefix asks for `*`, as in close and watch"
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
            output: FormatArgs {
                json: true,
                ..FormatArgs::default()
            },
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

    #[test]
    fn csv_keeps_a_hostile_name_exact_and_quoted() {
        let (csv, _) = listing(&ListArgs {
            output: FormatArgs {
                format: Some(Format::Csv),
                ..FormatArgs::default()
            },
            port: vec![31337],
            ..ListArgs::default()
        });
        let mut lines = csv.split("\r\n");
        assert_eq!(lines.next(), Some(CSV_COLUMNS.join(",").as_str()));
        // A pipe gets the name as the process set it; the carriage return inside is quoted, so
        // the record stays one record for a CSV reader.
        assert!(csv.contains(",\"sshd\u{1b}[2K\rnginx\","), "{csv:?}");
    }

    #[test]
    fn state_names_and_sort_apply_to_the_fixture() {
        let json = |args: ListArgs| -> Vec<serde_json::Value> {
            let (text, _) = listing(&ListArgs {
                output: FormatArgs {
                    json: true,
                    ..FormatArgs::default()
                },
                ..args
            });
            serde_json::from_str(&text).expect("JSON")
        };
        let listening = json(ListArgs {
            state: vec![StateSet::parse("listening").unwrap()],
            ..ListArgs::default()
        });
        assert!(!listening.is_empty());
        assert!(listening.iter().all(|e| e["state"] == "LISTEN"), "{listening:?}");
        let sorted = json(ListArgs {
            sort: vec![SortKey::Port],
            ..ListArgs::default()
        });
        let ports: Vec<u64> = sorted
            .iter()
            .map(|e| e["local"]["port"].as_u64().unwrap())
            .collect();
        assert!(ports.windows(2).all(|w| w[0] <= w[1]), "{ports:?}");
    }

    /// A host for the filter language: one socket or two for every field a filter names.
    const FILTER_HOST: &str = r#"
        [host]
        users = { 0 = "root", 33 = "www-data", 65534 = "nobody" }
        [packages]
        "/usr/sbin/nginx" = "nginx-core"
        "/usr/bin/curl" = "curl"
        [[process]]
        pid = 4242
        name = "nginx"
        exe = "/usr/sbin/nginx"
        uid = 33
        supervisor = { kind = "systemd", unit = "nginx.service" }
        [[process]]
        pid = 4300
        name = "curl"
        exe = "/usr/bin/curl"
        [[process]]
        pid = 7000
        name = "redis-server"
        exe = "/usr/bin/redis-server"
        uid = 65534
        supervisor = { kind = "container", runtime = "docker", id = "0123456789abcdef0123" }
        [[process]]
        pid = 6666
        name = "sshd"
        exe = "/tmp/.x/sshd"
        uid = 65534
        [[socket]]
        local = "0.0.0.0:443"
        state = "LISTEN"
        holders = [4242]
        uid = 33
        [[socket]]
        local = "198.18.0.1:443"
        remote = "198.18.0.2:54094"
        state = "ESTABLISHED"
        holders = [4242]
        uid = 33
        [[socket]]
        local = "198.18.0.2:54094"
        remote = "198.18.0.1:443"
        state = "ESTABLISHED"
        holders = [4300]
        [[socket]]
        local = "198.18.0.2:54100"
        remote = "198.18.0.1:443"
        state = "TIME_WAIT"
        inode = 0
        [[socket]]
        local = "[fd00::1]:6379"
        state = "LISTEN"
        holders = [7000]
        uid = 65534
        netns = "redis-ns"
        [[socket]]
        protocol = "udp"
        local = "0.0.0.0:31337"
        state = "UNCONNECTED"
        holders = [6666]
        uid = 65534
    "#;

    /// `(local port, remote port)` of each row `list --json FILTER` prints on [`FILTER_HOST`].
    fn kept(filter: &str) -> Vec<(u16, u16)> {
        let args = ListArgs {
            expression: vec![filter.to_string()],
            output: FormatArgs {
                json: true,
                ..FormatArgs::default()
            },
            ..ListArgs::default()
        };
        let (json, _) = listing_at(FILTER_HOST, &args, Ui::plain());
        let rows: Vec<serde_json::Value> = serde_json::from_str(&json).expect("JSON");
        let port = |v: &serde_json::Value| v.as_u64().and_then(|p| u16::try_from(p).ok()).unwrap_or(0);
        let mut ports: Vec<(u16, u16)> = rows
            .iter()
            .map(|r| (port(&r["local"]["port"]), port(&r["remote"]["port"])))
            .collect();
        ports.sort();
        ports
    }

    #[test]
    fn the_filter_language_selects_by_every_field() {
        let cases: &[(&str, &[(u16, u16)])] = &[
            ("proto = udp", &[(31337, 0)]),
            // A TIME-WAIT socket has no holder, so no user: it is not root's.
            (
                "port = 443 and not user = root",
                &[(443, 0), (443, 54094), (54100, 443)],
            ),
            (
                "port = 443 and user != root and pid > 0",
                &[(443, 0), (443, 54094)],
            ),
            (
                "port = https",
                &[(443, 0), (443, 54094), (54094, 443), (54100, 443)],
            ),
            ("sport = :443", &[(443, 0), (443, 54094)]),
            ("dport = :443", &[(54094, 443), (54100, 443)]),
            ("lport > :1024 and rport < 1", &[(6379, 0), (31337, 0)]),
            ("src 198.18.0.2", &[(54094, 443), (54100, 443)]),
            ("dst 198.18.0.0/15", &[(443, 54094), (54094, 443), (54100, 443)]),
            ("local = fd00::/8", &[(6379, 0)]),
            ("addr = 198.18.0.1", &[(443, 54094), (54094, 443), (54100, 443)]),
            ("local ~ 'fd00:*'", &[(6379, 0)]),
            ("state = time-wait", &[(54100, 443)]),
            // As in ss: `listening` is LISTEN; an unconnected UDP socket is `closed`.
            ("state = listening", &[(443, 0), (6379, 0)]),
            ("state = closed", &[(31337, 0)]),
            ("state != connected and proto = tcp", &[(443, 0), (6379, 0)]),
            ("pid = 4300", &[(54094, 443)]),
            ("pid >= 6666", &[(6379, 0), (31337, 0)]),
            ("program = nginx", &[(443, 0), (443, 54094)]),
            ("program ~ redis", &[(6379, 0)]),
            ("exe ~ '/tmp/*'", &[(31337, 0)]),
            ("exe = /usr/bin/curl", &[(54094, 443)]),
            ("user = nobody", &[(6379, 0), (31337, 0)]),
            ("user = 33", &[(443, 0), (443, 54094)]),
            ("unit = nginx.service", &[(443, 0), (443, 54094)]),
            ("container ~ docker:*", &[(6379, 0)]),
            ("unit = 0123456789abcdef0123", &[(6379, 0)]),
            ("netns = redis-ns", &[(6379, 0)]),
            ("netns = host and proto = tcp and rport = 0", &[(443, 0)]),
            ("verdict >= warning", &[(6379, 0), (31337, 0)]),
            ("verdict = alert", &[(31337, 0)]),
            (
                "verdict = none and port = 443",
                &[(443, 54094), (54094, 443), (54100, 443)],
            ),
            ("verdict < warning and state = listening", &[(443, 0)]),
            ("rule = exe-location", &[(31337, 0)]),
            ("finding = unpackaged", &[(6379, 0)]),
            ("service = https and state = listening", &[(443, 0)]),
            ("service ~ redis", &[(6379, 0)]),
            (
                "(pid = 4242 or pid = 4300) and not dport = :443",
                &[(443, 0), (443, 54094)],
            ),
            ("sport eq :6379 || ! proto = tcp", &[(6379, 0), (31337, 0)]),
        ];
        for (filter, rows) in cases {
            assert_eq!(&kept(filter), rows, "{filter}");
        }
    }

    #[test]
    fn a_bad_filter_names_its_token_and_column() {
        let args = |f: &str| ListArgs {
            expression: vec![f.to_string()],
            ..ListArgs::default()
        };
        let host = FixturePlatform::from_toml(FILTER_HOST).expect("fixture");
        for (filter, said) in [
            (
                "prot = tcp",
                "filter: unknown field 'prot' at column 1 (fields: proto, port,",
            ),
            (
                "port = 443 and",
                "filter: expected a field name, 'not' or '(' at the end (column 15)",
            ),
            (
                "port < http and program < x",
                "operator '<' at column 25 does not apply to program",
            ),
            ("sport = :99999", "bad value ':99999' for lport at column 9"),
            ("(port = 1", "'(' at column 1 is never closed"),
        ] {
            let error = write(
                &args(filter),
                Ui::plain(),
                &host,
                &ServiceNames::iana(),
                &mut Vec::new(),
            )
            .expect_err(filter);
            assert!(matches!(error, crate::Error::Usage(_)), "{filter}: {error:?}");
            assert!(
                error.to_string().starts_with(said) || error.to_string().contains(said),
                "{filter}: {error}"
            );
        }
    }

    #[test]
    fn the_help_names_every_filter_field() {
        // The list subcommand's own arguments (not through the whole CLI, which imports this
        // module).
        let mut list = <ListArgs as clap::Args>::augment_args(clap::Command::new("list"));
        let help = list.render_long_help().to_string();
        let help = help.split_whitespace().collect::<Vec<_>>().join(" ");
        let listed = help
            .split_once("Fields: ")
            .and_then(|(_, rest)| rest.split_once(" (grammar"))
            .map(|(fields, _)| fields)
            .expect("list's help lists the filter fields");
        assert_eq!(listed, crate::filter::Field::list());
    }

    #[test]
    fn why_says_in_one_line_what_started_each_holder() {
        let host = r#"
            [host]
            users = { "0" = "root", "1000" = "alice" }
            [[process]]
            pid = 700
            name = "cron"
            exe = "/usr/sbin/cron"
            [[process]]
            pid = 702
            ppid = 700
            name = "python3"
            exe = "/usr/bin/python3.11"
            uid = 1000
            [process.provenance.scheduler]
            kind = "cron"
            pid = 700
            user = "alice"
            [[process]]
            pid = 802
            name = "python3"
            exe = "/usr/bin/python3.11"
            [process.provenance.ssh]
            pid = 800
            remote = { address = "198.18.3.2", port = 51234 }
            user = "root"
            tty = "pts/1"
            [[process]]
            pid = 900
            name = "x\u001b[2Jevil"
            exe = "/usr/bin/python3.11"
            [process.provenance.container]
            engine = "docker"
            id = "0123456789abcdef"
            name = "web\u001b[31m"
            [[socket]]
            local = "198.18.0.5:8081"
            state = "LISTEN"
            holders = [702]
            [[socket]]
            local = "198.18.0.5:8082"
            state = "LISTEN"
            holders = [802]
            [[socket]]
            local = "198.18.0.5:8083"
            state = "LISTEN"
            holders = [900]
        "#;
        let args = ListArgs {
            why: true,
            ..Default::default()
        };
        let (text, _) = listing_at(host, &args, Ui::plain());
        assert!(
            text.contains("PID 702 python3: started by cron for alice"),
            "{text}"
        );
        assert!(
            text.contains("PID 802 python3: SSH session from 198.18.3.2:51234 as root on pts/1"),
            "{text}"
        );
        assert!(text.contains(": container web"), "{text}");
        assert!(
            !text.contains('\u{1b}'),
            "escape sequences reach the terminal: {text:?}"
        );
        // Not asked: nothing read, nothing said.
        let (plain, _) = listing_at(host, &ListArgs::default(), Ui::plain());
        assert!(!plain.contains("Why they run"), "{plain}");
        let json = ListArgs {
            why: true,
            output: FormatArgs {
                json: true,
                ..Default::default()
            },
            ..Default::default()
        };
        let (json, _) = listing_at(host, &json, Ui::plain());
        let rows: Vec<serde_json::Value> = serde_json::from_str(&json).expect("JSON");
        assert_eq!(rows[0]["holders"][0]["provenance"]["scheduler"]["user"], "alice");
        assert_eq!(
            rows[2]["holders"][0]["provenance"]["container"]["name"],
            "web\u{1b}[31m"
        );
        assert!(
            ListArgs {
                why: true,
                output: FormatArgs {
                    format: Some(Format::Csv),
                    ..Default::default()
                },
                ..Default::default()
            }
            .check_output()
            .is_err()
        );
    }
}
