//! `portscope scan`: parse targets and ports, resolve names, run the connect engine, print.
//!
//! The work lives in `crate::scan`; this module wires the command line to it and decides what is
//! shown where (table or JSON on stdout, nmap formats to files, progress and notes on stderr).

use std::collections::{BTreeMap, HashMap, HashSet};
use std::ffi::OsString;
use std::io::{IsTerminal, Write};
use std::net::{IpAddr, SocketAddr};
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

use clap::Args;

use crate::error::{Error, ExitCode, Result};
use crate::knowledge::service_name;
use crate::model::Protocol;
use crate::output::{Ui, note};
use crate::scan::engine::{self, EngineConfig};
use crate::scan::ports::{self, PortBits};
use crate::scan::result::{HostResult, Outcome, PortResult, PortState, Reason, ScanReport};
use crate::scan::targets::{self, Target};
use crate::scan::{banner, greppable, report, resolve, xml};

/// Above this many probes a scan needs `--force`.
pub const MAX_PROBES: u128 = 1 << 24;

/// Engine threads at most: past a few, the kernel's locks, not the cores, set the pace.
const MAX_THREADS: usize = 4;

/// A state with more ports than this on one host is summarised, not listed (nmap's rule too).
const LIST_LIMIT: usize = 25;

#[derive(Args, Debug, Clone)]
#[command(after_help = "Examples:\n  portscope scan 198.18.0.2 -p-\n  \
    portscope scan 198.18.0.1-20 --top-ports 100 -oX scan.xml\n  \
    portscope scan -iL hosts.txt -p 22,80,443 --json")]
pub struct ScanArgs {
    /// Hosts to scan: addresses, CIDR blocks (198.18.0.0/24), octet ranges (198.18.0.1-20,
    /// 198.18.0-1.*) or host names.
    #[arg(value_name = "TARGET")]
    pub targets: Vec<String>,

    /// Ports in nmap's syntax: 22,80,1000-2000, -1024, 60000-, - (all), T:/U: prefixes. Default:
    /// the 1000 most common.
    #[arg(short = 'p', long, value_name = "PORTS", allow_hyphen_values = true)]
    pub ports: Option<String>,

    /// Scan the N most commonly open ports (portscope's own ordered list).
    #[arg(long, value_name = "N", conflicts_with = "ports")]
    pub top_ports: Option<usize>,

    /// Ports to leave out, same syntax as --ports.
    #[arg(long, value_name = "PORTS", allow_hyphen_values = true)]
    pub exclude_ports: Option<String>,

    /// Hosts to leave out: comma-separated addresses, networks, ranges or names.
    #[arg(long, value_name = "HOSTS")]
    pub exclude: Option<String>,

    /// Read targets from FILE (white-space separated, # comments; - is stdin). nmap's `-iL FILE`
    /// works too.
    #[arg(long = "input-list", value_name = "FILE")]
    pub input_list: Option<PathBuf>,

    /// Print the report as JSON.
    #[arg(long)]
    pub json: bool,

    /// Write nmap's greppable format to FILE (- for stdout). nmap's `-oG FILE` works too.
    #[arg(long = "output-greppable", value_name = "FILE")]
    pub output_greppable: Option<PathBuf>,

    /// Write nmap-compatible XML to FILE (- for stdout). nmap's `-oX FILE` works too.
    #[arg(long = "output-xml", value_name = "FILE")]
    pub output_xml: Option<PathBuf>,

    /// List closed and filtered ports too, however many.
    #[arg(long)]
    pub all: bool,

    /// Send at most N probes per second.
    #[arg(long, value_name = "N")]
    pub rate: Option<f64>,

    /// Most retries of a port that does not answer (fewer are used while the network loses
    /// nothing).
    #[arg(long, value_name = "N", default_value_t = 6)]
    pub max_retries: u32,

    /// Most connects in flight at once (also bounded by the open-files limit).
    #[arg(long, value_name = "N", default_value_t = 4096)]
    pub max_parallelism: usize,

    /// Shortest wait for an answer, whatever the measured round trip (each retry waits twice as
    /// long as the try before).
    #[arg(long, value_name = "TIME", default_value = "10ms", value_parser = humantime::parse_duration)]
    pub min_rtt_timeout: Duration,

    /// Longest wait for an answer (e.g. 1s).
    #[arg(long, value_name = "TIME", default_value = "1s", value_parser = humantime::parse_duration)]
    pub max_rtt_timeout: Duration,

    /// Read what each open port says first (or its answer to an HTTP HEAD).
    #[arg(long)]
    pub banner: bool,

    /// How long to wait for a banner.
    #[arg(long, value_name = "TIME", default_value = "1s", value_parser = humantime::parse_duration)]
    pub banner_timeout: Duration,

    /// Scan even above 2^24 probes.
    #[arg(long)]
    pub force: bool,
}

pub fn run(args: &ScanArgs, ui: Ui) -> Result<ExitCode> {
    let plan = Plan::from_args(args)?;
    let started_at = SystemTime::now();
    let started_str = humantime::format_rfc3339_seconds(started_at).to_string();

    let progress = progress_bar(plan.total_probes);
    let mut acc: HashMap<IpAddr, HostAcc> = HashMap::new();
    let cfg = EngineConfig {
        max_retries: args.max_retries,
        min_timeout: args.min_rtt_timeout,
        max_timeout: args.max_rtt_timeout.max(args.min_rtt_timeout),
        max_parallelism: args.max_parallelism.max(1),
        rate: args.rate,
        ..EngineConfig::default()
    };
    let ports = plan.ports.clone();
    let probes = plan.hosts().flat_map(move |ip| {
        ports
            .clone()
            .into_iter()
            .map(move |port| SocketAddr::new(ip, port))
    });
    let keep_all = args.all;
    let threads = std::thread::available_parallelism()
        .map_or(1, |n| n.get())
        .min(MAX_THREADS);
    let stats = engine::scan_parallel(
        probes,
        &cfg,
        threads,
        |addr, outcome| {
            acc.entry(addr.ip())
                .or_default()
                .record(addr.port(), outcome, keep_all)
        },
        |n| progress.inc(n),
    )?;
    progress.finish_and_clear();

    let mut hosts: Vec<HostResult> = acc
        .into_iter()
        .map(|(ip, host)| host.finish(ip, plan.names.get(&ip).cloned(), keep_all))
        .collect();
    hosts.sort_by_key(|h| h.address);
    if args.banner {
        add_banners(&mut hosts, args.banner_timeout);
    }
    let finished_at = SystemTime::now();
    let report = ScanReport {
        scanner: "portscope",
        version: env!("CARGO_PKG_VERSION"),
        args: std::env::args().collect::<Vec<_>>().join(" "),
        start: epoch(started_at),
        ports: ports::ranges_label(&plan.ports),
        port_count: plan.ports.len(),
        hosts,
        stats,
    };
    let finished_str = humantime::format_rfc3339_seconds(finished_at).to_string();
    let mut stdout_taken = false;
    if let Some(path) = &plan.greppable {
        stdout_taken |= is_stdout(path);
        write_to(path, |mut out| {
            greppable::write(&mut out, &report, &started_str, &finished_str)
        })?;
    }
    if let Some(path) = &plan.xml {
        stdout_taken |= is_stdout(path);
        let times = xml::Times {
            start: report.start,
            start_str: &started_str,
            end: epoch(finished_at),
            end_str: &finished_str,
        };
        write_to(path, |mut out| xml::write(&mut out, &report, &times))?;
    }
    if !stdout_taken {
        let mut out = std::io::stdout().lock();
        if args.json {
            report::write_json(&mut out, &report)?;
        } else {
            report::write_table(&mut out, &report, ui)?;
        }
        out.flush()?;
    }
    Ok(ExitCode::Ok)
}

/// What to scan, fully parsed and resolved.
struct Plan {
    targets: Vec<Target>,
    excludes: Vec<Target>,
    ports: Vec<u16>,
    total_probes: u64,
    /// The name each resolved address was given as.
    names: HashMap<IpAddr, String>,
    greppable: Option<PathBuf>,
    xml: Option<PathBuf>,
}

impl Plan {
    fn from_args(args: &ScanArgs) -> Result<Plan> {
        let (greppable, xml) = output_paths(args)?;
        let port_bits = port_selection(args)?;
        if port_bits.is_empty() {
            return Err(Error::Usage("no TCP ports left to scan".into()));
        }
        let ports = port_bits.to_vec();

        let mut targets = Vec::new();
        for text in &args.targets {
            targets.push(targets::parse_target(text)?);
        }
        let list = args.input_list.clone();
        if let Some(path) = list {
            let text = read_input(&path)?;
            targets.extend(
                targets::parse_target_list(&text)
                    .map_err(|e| Error::Usage(format!("{}: {e}", path.display())))?,
            );
        }
        if targets.is_empty() {
            return Err(Error::Usage(
                "no targets given (e.g. portscope scan 198.18.0.2)".into(),
            ));
        }
        let mut excludes = Vec::new();
        if let Some(list) = &args.exclude {
            for text in list.split(',').filter(|t| !t.trim().is_empty()) {
                excludes.push(targets::parse_target(text)?);
            }
        }

        let hosts: u128 = targets
            .iter()
            .map(Target::count)
            .fold(0u128, u128::saturating_add);
        let probes = hosts.saturating_mul(ports.len() as u128);
        if probes > MAX_PROBES && !args.force {
            return Err(Error::Refused(format!(
                "this scan is {probes} probes ({hosts} hosts x {} ports), more than 2^24; narrow it or \
                 pass --force",
                ports.len()
            )));
        }

        let mut names = HashMap::new();
        resolve_names(&mut targets, &mut names, true)?;
        resolve_names(&mut excludes, &mut HashMap::new(), false)?;
        Ok(Plan {
            targets,
            excludes,
            ports,
            total_probes: u64::try_from(probes).unwrap_or(u64::MAX),
            names,
            greppable,
            xml,
        })
    }

    /// Every address to scan, lazily, without the excluded ones and without repeats.
    fn hosts(&self) -> impl Iterator<Item = IpAddr> + '_ {
        let mut seen = HashSet::new();
        self.targets
            .iter()
            .flat_map(Target::addresses)
            .filter(|ip| !self.excludes.iter().any(|e| e.contains(*ip)))
            .filter(move |ip| seen.insert(*ip))
    }
}

/// The TCP ports to scan: --ports, --top-ports or the default 1000, minus --exclude-ports.
fn port_selection(args: &ScanArgs) -> Result<PortBits> {
    let mut bits = match (&args.ports, args.top_ports) {
        (Some(spec), _) => {
            let set = ports::parse_ports(spec)?;
            if !set.udp.is_empty() {
                if set.tcp.is_empty() {
                    return Err(Error::Usage(
                        "no TCP ports given: portscope scan probes TCP only, not U: ports".into(),
                    ));
                }
                note("UDP ports (U:) are not scanned: portscope scan probes TCP only");
            }
            set.tcp
        }
        (None, Some(n)) => ports::top_ports(n)?,
        (None, None) => ports::top_ports(1000)?,
    };
    if let Some(spec) = &args.exclude_ports {
        let exclude = ports::parse_ports(spec)?;
        for port in exclude.tcp.to_vec() {
            bits.remove(port);
        }
    }
    Ok(bits)
}

/// `--output-greppable`/`--output-xml`, of which only one may take stdout.
fn output_paths(args: &ScanArgs) -> Result<(Option<PathBuf>, Option<PathBuf>)> {
    let greppable = args.output_greppable.clone();
    let xml = args.output_xml.clone();
    if greppable.as_deref().is_some_and(is_stdout) && xml.as_deref().is_some_and(is_stdout) {
        return Err(Error::Usage("only one of -oG and -oX can write to stdout".into()));
    }
    Ok((greppable, xml))
}

/// nmap's two-letter options, spelled as portscope's long ones: `-oG`, `-oX` and `-iL` after the
/// `scan` subcommand. clap has no multi-letter short options, so the command line is rewritten
/// before it is parsed; every other argument passes through untouched.
pub fn nmap_style_args(args: impl IntoIterator<Item = OsString>) -> Vec<OsString> {
    let mut in_scan = false;
    args.into_iter()
        .map(|arg| {
            if !in_scan {
                in_scan = arg == "scan";
                return arg;
            }
            match arg.to_str() {
                Some("-oG") => "--output-greppable".into(),
                Some("-oX") => "--output-xml".into(),
                Some("-iL") => "--input-list".into(),
                _ => arg,
            }
        })
        .collect()
}

/// Replaces each host name by its address (IPv4 first, as nmap does), noting the name.
fn resolve_names(targets: &mut [Target], names: &mut HashMap<IpAddr, String>, scan: bool) -> Result<()> {
    let wanted: Vec<String> = targets
        .iter()
        .filter_map(|t| match t {
            Target::Name(n) => Some(n.clone()),
            _ => None,
        })
        .collect();
    let resolved = resolve::resolve_all(&wanted)?;
    let mut resolved = wanted.into_iter().zip(resolved);
    for target in targets.iter_mut() {
        if !matches!(target, Target::Name(_)) {
            continue;
        }
        let Some((name, addrs)) = resolved.next() else {
            break;
        };
        let chosen = addrs.iter().find(|a| a.is_ipv4()).or(addrs.first()).copied();
        let Some(ip) = chosen else { continue };
        if scan && addrs.len() > 1 {
            note(&format!("{name} has {} addresses; scanning {ip}", addrs.len()));
        }
        names.insert(ip, name);
        *target = Target::Addr(ip);
    }
    Ok(())
}

/// A host's results as they come in.
#[derive(Default)]
struct HostAcc {
    open: Vec<(u16, Reason)>,
    /// Closed and filtered ports, listed while few, counted always.
    other: BTreeMap<PortState, (usize, Vec<(u16, Reason)>)>,
    reasons: BTreeMap<(PortState, Reason), usize>,
}

impl HostAcc {
    fn record(&mut self, port: u16, outcome: Outcome, keep_all: bool) {
        if outcome.state == PortState::Open {
            self.open.push((port, outcome.reason));
            return;
        }
        let entry = self.other.entry(outcome.state).or_default();
        entry.0 += 1;
        if keep_all || entry.1.len() <= LIST_LIMIT {
            entry.1.push((port, outcome.reason));
        }
        *self.reasons.entry((outcome.state, outcome.reason)).or_default() += 1;
    }

    fn finish(self, ip: IpAddr, name: Option<String>, keep_all: bool) -> HostResult {
        let mut host = HostResult {
            address: Some(ip),
            name,
            open: self.open.len(),
            ..HostResult::default()
        };
        let entry = |port: u16, state: PortState, reason: Reason| PortResult {
            port,
            protocol: "tcp",
            state,
            reason,
            service: service_name(port, Protocol::Tcp),
            banner: None,
        };
        host.ports = self
            .open
            .iter()
            .map(|(p, r)| entry(*p, PortState::Open, *r))
            .collect();
        for (state, (count, listed)) in self.other {
            match state {
                PortState::Closed => host.closed = count,
                _ => host.filtered = count,
            }
            if keep_all || count <= LIST_LIMIT {
                host.ports
                    .extend(listed.iter().map(|(p, r)| entry(*p, state, *r)));
            } else {
                for ((s, reason), n) in &self.reasons {
                    if *s == state {
                        host.hidden_reasons.insert((*s, *reason), *n);
                    }
                }
            }
        }
        host.ports.sort_by_key(|p| p.port);
        host
    }
}

fn add_banners(hosts: &mut [HostResult], timeout: Duration) {
    let mut addrs = Vec::new();
    for host in hosts.iter() {
        if let Some(ip) = host.address {
            for p in host.ports.iter().filter(|p| p.state == PortState::Open) {
                addrs.push(SocketAddr::new(ip, p.port));
            }
        }
    }
    let mut banners = banner::grab_all(&addrs, timeout).into_iter();
    for host in hosts.iter_mut() {
        for p in host.ports.iter_mut().filter(|p| p.state == PortState::Open) {
            p.banner = banners.next().flatten();
        }
    }
}

fn progress_bar(total: u64) -> indicatif::ProgressBar {
    if !std::io::stderr().is_terminal() {
        return indicatif::ProgressBar::hidden();
    }
    let bar = indicatif::ProgressBar::with_draw_target(Some(total), indicatif::ProgressDrawTarget::stderr());
    if let Ok(style) =
        indicatif::ProgressStyle::with_template("{bar:40} {pos}/{len} probes answered ({per_sec}, eta {eta})")
    {
        bar.set_style(style);
    }
    bar
}

fn is_stdout(path: &Path) -> bool {
    path.as_os_str() == "-"
}

fn read_input(path: &Path) -> Result<String> {
    let bytes = if is_stdout(path) {
        let mut buf = Vec::new();
        std::io::Read::read_to_end(&mut std::io::stdin(), &mut buf)
            .map_err(|e| Error::io("reading stdin", e))?;
        buf
    } else {
        // A target list that cannot be read is bad input, like a malformed address.
        std::fs::read(path).map_err(|e| Error::Usage(format!("{}: {e}", path.display())))?
    };
    String::from_utf8(bytes).map_err(|_| Error::Usage(format!("{}: not UTF-8 text", path.display())))
}

fn write_to(path: &Path, write: impl FnOnce(&mut dyn Write) -> std::io::Result<()>) -> Result<()> {
    let fail = |e: std::io::Error| Error::File {
        path: path.to_path_buf(),
        message: e.to_string(),
    };
    if is_stdout(path) {
        let mut out = std::io::stdout().lock();
        write(&mut out)?;
        return out.flush().map_err(Error::from);
    }
    let mut file = std::io::BufWriter::new(std::fs::File::create(path).map_err(fail)?);
    write(&mut file).map_err(fail)?;
    file.flush().map_err(fail)
}

fn epoch(t: SystemTime) -> u64 {
    t.duration_since(SystemTime::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}
