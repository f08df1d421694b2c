//! `portscope lookup`: what a port, range or service name means — IANA registry rows, local names
//! from /etc/services and the user's file, the IANA range, and documented abuse. Offline: every
//! answer comes from tables compiled into the binary and files on this machine.

use std::io::{self, Write};
use std::path::{Path, PathBuf};

use clap::{ArgGroup, Args};

use crate::error::{Error, ExitCode, Result};
use crate::files;
use crate::knowledge::query::{self, Answer, Question, Target};
use crate::knowledge::{AbuseEntry, PortClass, ServiceNames, Transport, local};
use crate::output::table::{Cell, Table};
use crate::output::{self, Color, Ui};

#[derive(Args, Debug, Clone)]
#[command(after_help = "Examples:
  portscope lookup 31337          what is registered there, and its documented abuse
  portscope lookup ssh            the ports a service name has
  portscope lookup netbus         the ports a malware family used, with sources
  portscope lookup trojan         every trojan port in the abuse table
  portscope lookup --abuse        the whole abuse table, each row with its source
  portscope lookup 6000-6063 --tcp")]
#[command(group(ArgGroup::new("transport").args(["tcp", "udp", "sctp", "dccp"])))]
#[command(group(ArgGroup::new("what").args(["query", "abuse"]).required(true)))]
pub struct LookupArgs {
    /// A port (80), a range (6000-6010), a service name (ssh), or a malware family or kind from
    /// the abuse table (netbus, "back orifice", trojan), optionally with /PROTOCOL (53/udp).
    #[arg(value_name = "PORT|RANGE|NAME")]
    pub query: Option<String>,
    /// List the whole abuse table: every port with documented abuse, its family and source.
    #[arg(long)]
    pub abuse: bool,
    /// Only TCP rows.
    #[arg(short = 't', long)]
    pub tcp: bool,
    /// Only UDP rows.
    #[arg(short = 'u', long)]
    pub udp: bool,
    /// Only SCTP rows.
    #[arg(long)]
    pub sctp: bool,
    /// Only DCCP rows.
    #[arg(long)]
    pub dccp: bool,
    #[command(flatten)]
    pub output: crate::output::FormatArgs,
    #[command(flatten)]
    pub names: LocalNamesArgs,
}

/// `--services FILE`: the user's own service names, shared by the commands that show names.
#[derive(Args, Debug, Clone, Default)]
pub struct LocalNamesArgs {
    /// A services(5)-format file whose names take precedence over /etc/services and the IANA
    /// registry.
    #[arg(long, value_name = "FILE", env = "PORTSCOPE_SERVICES")]
    pub services: Option<PathBuf>,
}

impl LocalNamesArgs {
    /// The names ports go by: the user's file (a malformed line is an error), /etc/services
    /// (a machine without one, such as a minimal container, simply has no system names) and IANA.
    pub fn load(&self) -> Result<ServiceNames> {
        let user = match &self.services {
            Some(path) => Some((
                path,
                files::read_bounded(path, "services file", files::MAX_INPUT)?,
            )),
            None => None,
        };
        let system =
            files::read_bounded(Path::new(local::ETC_SERVICES), "services file", files::MAX_INPUT).ok();
        ServiceNames::from_files(user.as_ref().map(|(p, b)| (*p, b.as_slice())), system.as_deref())
            .map_err(Error::Usage)
    }
}

impl LookupArgs {
    /// Whether to print JSON: lookup prints a table or one JSON document (`--format`).
    fn json(&self) -> Result<bool> {
        use crate::output::Format;
        Ok(self
            .output
            .only("lookup", &[Format::Table, Format::Json], false)?
            == Format::Json)
    }

    fn flag_transport(&self) -> Option<Transport> {
        [
            (self.tcp, Transport::Tcp),
            (self.udp, Transport::Udp),
            (self.sctp, Transport::Sctp),
            (self.dccp, Transport::Dccp),
        ]
        .into_iter()
        .find_map(|(set, t)| set.then_some(t))
    }
}

/// Merges a `--udp`-style flag with a `/udp` suffix; asking for two different ones is an error.
pub fn merge_transport(question: &mut Question, flag: Option<Transport>) -> Result<()> {
    match (question.transport, flag) {
        (Some(a), Some(b)) if a != b => Err(Error::Usage(format!(
            "the query says {a} but the flag says {b}; give one protocol"
        ))),
        (None, flag) => {
            question.transport = flag;
            Ok(())
        }
        _ => Ok(()),
    }
}

pub fn run(args: &LookupArgs, ui: Ui) -> Result<ExitCode> {
    let Some(text) = &args.query else {
        return run_abuse_table(args, ui);
    };
    let mut question = query::parse(text)?;
    if question.address.is_some() {
        return Err(Error::Usage(format!(
            "{text:?}: lookup takes a port, range or name; use `portscope explain` for ADDRESS:PORT"
        )));
    }
    merge_transport(&mut question, args.flag_transport())?;
    let names = args.names.load()?;
    let answer = query::answer(&question, &names)?;

    let stdout = io::stdout();
    let mut out = io::BufWriter::new(stdout.lock());
    if args.json()? {
        output::json(&mut out, &answer)?;
    } else {
        write_human(&mut out, &question, &answer, ui)?;
    }
    out.flush()?;
    Ok(ExitCode::Ok)
}

/// `lookup --abuse`: every row of the table (those of one protocol with `--tcp`/`--udp`).
fn run_abuse_table(args: &LookupArgs, ui: Ui) -> Result<ExitCode> {
    let transport = args.flag_transport();
    let rows: Vec<&AbuseEntry> = crate::knowledge::abuse::all()
        .iter()
        .filter(|a| transport.is_none_or(|t| a.protocol.is_none_or(|p| Transport::of(p) == Some(t))))
        .collect();
    let stdout = io::stdout();
    let mut out = io::BufWriter::new(stdout.lock());
    if args.json()? {
        output::json(&mut out, &rows)?;
    } else {
        write_abuse(&mut out, &rows, "this protocol", ui)?;
        writeln!(out)?;
        writeln!(out, "{}", ui.paint(Color::Dim, query::CAVEAT))?;
    }
    out.flush()?;
    Ok(ExitCode::Ok)
}

fn write_human(out: &mut impl Write, question: &Question, answer: &Answer, ui: Ui) -> io::Result<()> {
    let subject = subject(question, answer);
    writeln!(out, "{}", ui.paint(Color::Bold, &subject))?;
    for class in &answer.classes {
        writeln!(out, "  {}: {}.", class.as_str(), class.meaning())?;
    }
    writeln!(out)?;
    if answer.services.is_empty() {
        match &question.target {
            // A family or kind: only the abuse table knows the name.
            Target::Name(name) if !answer.abuse.is_empty() => writeln!(
                out,
                "{name:?} is not a service name; it names malware or tools in portscope's abuse table."
            )?,
            _ => writeln!(
                out,
                "No service is registered with IANA or named locally for {subject}."
            )?,
        }
    } else {
        let mut table = Table::new(vec!["PORT", "PROTO", "SERVICE", "SOURCE", "DESCRIPTION"]);
        for s in &answer.services {
            table.push(vec![
                s.ports().into(),
                s.transport.as_str().into(),
                Cell::painted(&s.name, Color::Bold),
                s.source.as_str().into(),
                s.description.as_str().into(),
            ]);
        }
        table.write(out, ui)?;
    }
    writeln!(out)?;
    write_abuse(out, &answer.abuse, &subject, ui)?;
    writeln!(out)?;
    writeln!(out, "{}", ui.paint(Color::Dim, answer.caveat))
}

/// "80", "53/udp", "6000-6010", "ssh (22-22)".
fn subject(question: &Question, answer: &Answer) -> String {
    let proto = question.transport.map(|t| format!("/{t}")).unwrap_or_default();
    match &question.target {
        Target::Ports { start, end } if start == end => format!("{start}{proto}"),
        Target::Ports { start, end } => format!("{start}-{end}{proto}"),
        Target::Name(name) => {
            let ports = registered_ports(answer);
            let noun = if ports.len() == 1 { "port" } else { "ports" };
            format!("{name}{proto} ({noun} {})", ports.join(", "))
        }
    }
}

/// The distinct ports or ranges an answer's services are on, in order: "22", "6000-6063"; for a
/// malware family or kind with no registered service, the ports of its abuse rows.
pub fn registered_ports(answer: &Answer) -> Vec<String> {
    let mut ports: Vec<String> = Vec::new();
    let found = if answer.services.is_empty() {
        answer
            .abuse
            .iter()
            .map(|a| a.port.to_string())
            .collect::<Vec<_>>()
    } else {
        answer.services.iter().map(|s| s.ports()).collect()
    };
    for p in found {
        if !ports.contains(&p) {
            ports.push(p);
        }
    }
    ports
}

/// The abuse section shared with `explain`: each row with its family, kind, years and source.
pub fn write_abuse(out: &mut impl Write, rows: &[&AbuseEntry], subject: &str, ui: Ui) -> io::Result<()> {
    if rows.is_empty() {
        return writeln!(
            out,
            "Known abuse: none recorded for {subject} in portscope's table."
        );
    }
    writeln!(out, "Known abuse (a reason to look closer, not proof):")?;
    for a in rows {
        let proto = a.protocol.map(|p| p.as_str()).unwrap_or("tcp+udp");
        let head = format!("{} ({}, {})", a.family, a.kind, a.years);
        writeln!(
            out,
            "  {:<9}  {}: {}",
            format!("{}/{proto}", a.port),
            ui.paint(Color::Yellow, &head),
            a.note
        )?;
        writeln!(out, "  {:<9}  source: {}", "", a.source)?;
    }
    Ok(())
}

/// The range a port is in, for the one-line summaries of `list` and `explain`.
pub fn class_line(port: u16) -> String {
    let class = PortClass::of(port);
    format!("{} ({})", class.as_str(), class.meaning())
}
