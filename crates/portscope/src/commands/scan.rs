//! `portscope scan`: the command's arguments, and what is shown where (table or JSON on stdout,
//! nmap formats to files, progress and notes on stderr).
//!
//! The work — targets, ports, engines, timing, resume and sharding — lives in `portscope-scan`;
//! this module wires the command line to it.

use std::io::{IsTerminal, Write};
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

use clap::Args;

use portscope_scan::engine::{self as scan_engine, Hooks, Stop};
use portscope_scan::plan::{Plan, Request, Tallies};
use portscope_scan::report::{EngineConfig, ScanReport};
use portscope_scan::{banner, greppable, resolve, stream as scan_stream, xml};

use super::lookup::LocalNamesArgs;
use crate::error::{Error, ExitCode, Result};
use crate::files;
use crate::output::scan as scan_report;
use crate::output::{Format, Ui, note};

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
    /// the 1000 most often open (nmap's default scan) and every TCP port of the abuse table.
    #[arg(short = 'p', long, value_name = "PORTS", allow_hyphen_values = true)]
    pub ports: Option<String>,

    /// Scan the N most often open ports (nmap-services' frequencies when nmap is installed, else
    /// the built-in order).
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

    /// table: the report; json: the report as one JSON document; json-lines: one JSON object
    /// per port as it is settled (open ones; every one with --all), instead of the report.
    #[command(flatten)]
    pub output: crate::output::FormatArgs,

    /// Write nmap's greppable format to FILE (- for stdout). nmap's `-oG FILE` works too.
    #[arg(long = "output-greppable", value_name = "FILE")]
    pub output_greppable: Option<PathBuf>,

    /// Write nmap-compatible XML to FILE (- for stdout). nmap's `-oX FILE` works too.
    #[arg(long = "output-xml", value_name = "FILE")]
    pub output_xml: Option<PathBuf>,

    /// List closed and filtered ports too, however many.
    #[arg(long)]
    pub all: bool,

    /// Send at most N probes per second (0.01 to 10,000,000).
    #[arg(long, value_name = "N", value_parser = parse_rate)]
    pub rate: Option<f64>,

    /// Most retries of a port that does not answer (fewer are used while the network loses
    /// nothing).
    #[arg(long, value_name = "N", default_value_t = 6, value_parser = parse_retries)]
    pub max_retries: u32,

    /// Most connects in flight at once (also bounded by the open-files limit).
    #[arg(long, value_name = "N", default_value_t = 4096, value_parser = parse_parallelism)]
    pub max_parallelism: usize,

    /// Shortest wait for an answer, whatever the measured round trip (each retry waits twice as
    /// long as the try before; at most 10min).
    #[arg(long, value_name = "TIME", default_value = "10ms", value_parser = parse_rtt_timeout)]
    pub min_rtt_timeout: Duration,

    /// Longest wait for an answer (e.g. 1s; at most 10min).
    #[arg(long, value_name = "TIME", default_value = "1s", value_parser = parse_rtt_timeout)]
    pub max_rtt_timeout: Duration,

    /// Read what each open port says first (or its answer to an HTTP HEAD).
    #[arg(long)]
    pub banner: bool,

    /// How long to wait for a banner (10ms to 10min).
    #[arg(long, value_name = "TIME", default_value = "1s", value_parser = parse_banner_timeout)]
    pub banner_timeout: Duration,

    /// Scan even above 2^24 probes.
    #[arg(long)]
    pub force: bool,

    /// SYN scan: half-open probes from raw sockets (the default when this process may open
    /// them, as root or with CAP_NET_RAW). nmap's `-sS` works too.
    #[arg(long, conflicts_with = "connect")]
    pub syn: bool,

    /// Connect scan: full TCP connects, no privileges needed. nmap's `-sT` works too.
    #[arg(long)]
    pub connect: bool,

    /// UDP scan, with protocol requests for DNS, NTP, SNMP, NetBIOS, SSDP, mDNS, memcached and
    /// portmap; alone it scans UDP only, with --syn or --connect both. nmap's `-sU` works too.
    #[arg(long)]
    pub udp: bool,

    /// Report a port open after its first SYN-ACK, without the confirming second probe.
    #[arg(long)]
    pub no_confirm: bool,

    /// Scan part I of N of a shared random probe order (as masscan's and ZMap's --shard): run
    /// the same command with 1/N ... N/N on N machines and merge their --json-lines with cat.
    #[arg(long, value_name = "I/N", value_parser = parse_shard)]
    pub shard: Option<portscope_scan::shard::Shard>,

    /// Record every settled probe in FILE; started again with the same FILE, the scan skips
    /// what FILE holds and continues (after Ctrl-C, a crash or a reboot).
    #[arg(long, value_name = "FILE")]
    pub resume: Option<PathBuf>,

    /// Accepted for nmap's command lines: the reason for each port (syn-ack, reset,
    /// conn-refused, port-unreach, udp-response, no-response, ...) is always in the table, the
    /// JSON and the XML.
    #[arg(long)]
    pub reason: bool,

    #[command(flatten)]
    pub names: LocalNamesArgs,
}

/// `--rate`: a finite number of probes per second in a range the engine can pace (a rate of 0,
/// NaN or 1e-300 has no interval between probes; 1e-10 would wait centuries for the second).
fn parse_rate(text: &str) -> std::result::Result<f64, String> {
    let rate: f64 = text
        .trim()
        .parse()
        .map_err(|_| format!("{text:?} is not a number of probes per second"))?;
    if !rate.is_finite() || !(0.01..=10_000_000.0).contains(&rate) {
        return Err(format!(
            "{text:?} is out of range; the rate is 0.01 to 10000000 probes per second"
        ));
    }
    Ok(rate)
}

fn parse_shard(text: &str) -> std::result::Result<portscope_scan::shard::Shard, String> {
    portscope_scan::shard::Shard::parse(text).map_err(|e| e.0)
}

/// The longest time flag scan takes: each wait is added to the clock and doubled on retries, and
/// a wait of centuries (or 2^64 s, which overflows the clock) is a typo, not a plan.
const MAX_WAIT: Duration = Duration::from_secs(600);

/// A duration within `min..=MAX_WAIT`, refused at the edge otherwise (exit 2, one line).
fn parse_duration_in(text: &str, min: Duration) -> std::result::Result<Duration, String> {
    crate::duration::within(text, min, MAX_WAIT)
}

/// `--min-rtt-timeout`, `--max-rtt-timeout`: 0 (answer at once or never) up to [`MAX_WAIT`].
fn parse_rtt_timeout(text: &str) -> std::result::Result<Duration, String> {
    parse_duration_in(text, Duration::ZERO)
}

/// `--banner-timeout`: a banner is a connect and a read, and below 10 ms even a local service
/// cannot answer; a smaller value would silently give no banner at all.
fn parse_banner_timeout(text: &str) -> std::result::Result<Duration, String> {
    parse_duration_in(text, Duration::from_millis(10))
}

/// A whole number within `range`, with the flag's meaning in the refusal.
fn parse_count(
    text: &str,
    range: std::ops::RangeInclusive<u64>,
    what: &str,
) -> std::result::Result<u64, String> {
    let n: u64 = text
        .trim()
        .parse()
        .map_err(|_| format!("{text:?} is not a whole number of {what}"))?;
    if !range.contains(&n) {
        return Err(format!(
            "{text:?} is out of range; give {} to {} {what}",
            range.start(),
            range.end()
        ));
    }
    Ok(n)
}

/// `--max-retries`: each retry doubles the wait, so past 50 a silent port would never settle.
fn parse_retries(text: &str) -> std::result::Result<u32, String> {
    parse_count(text, 0..=50, "retries").map(|n| n as u32)
}

/// `--max-parallelism`: at least one probe in flight; above a million the open-files limit and
/// the kernel's buffers bound it anyway.
fn parse_parallelism(text: &str) -> std::result::Result<usize, String> {
    parse_count(text, 1..=1_000_000, "probes in flight").map(|n| n as usize)
}

/// Where Debian's (and most distributions') nmap package installs its services file.
const NMAP_SERVICES: &str = "/usr/share/nmap/nmap-services";

pub fn run(args: &ScanArgs, ui: Ui, host: &dyn portscope_core::Platform) -> Result<ExitCode> {
    let format = args
        .output
        .only("scan", &[Format::Table, Format::Json, Format::JsonLines], false)?;
    let names = args.names.load()?;
    let list = match &args.input_list {
        Some(path) => Some((read_input(path)?, path.display().to_string())),
        None => None,
    };
    // nmap's survey of open ports, when nmap is installed: it orders --top-ports and the default.
    // Optional: without it (or unreadable) the built-in order applies.
    let nmap_services = files::read_bounded(
        std::path::Path::new(NMAP_SERVICES),
        "nmap services file",
        files::MAX_INPUT,
    )
    .ok()
    .and_then(|bytes| String::from_utf8(bytes).ok());
    let request = Request {
        targets: &args.targets,
        nmap_services: nmap_services.as_deref(),
        target_list: list.as_ref().map(|(text, name)| (text.as_str(), name.clone())),
        exclude: args.exclude.as_deref(),
        ports: args.ports.as_deref(),
        top_ports: args.top_ports,
        exclude_ports: args.exclude_ports.as_deref(),
        force: args.force,
        protocols: modes(args).protocols(),
    };
    let (greppable, xml) = output_paths(args)?;
    let plan = Plan::new(&request, &resolve::resolve_all)?;
    // Before the first probe: a file that cannot be created must not cost a whole scan.
    let greppable = greppable.map(|path| Sink::open(&path)).transpose()?;
    let xml = xml.map(|path| Sink::open(&path)).transpose()?;
    for line in &plan.notes {
        note(line);
    }
    let started_at = SystemTime::now();
    let started_str = humantime::format_rfc3339_seconds(started_at).to_string();

    let progress = progress_bar(plan.total_probes);
    let mut tallies = Tallies::new(plan.ports.len() + plan.udp_ports.len(), args.all);
    let cfg = EngineConfig {
        max_retries: args.max_retries,
        min_timeout: args.min_rtt_timeout,
        max_timeout: args.max_rtt_timeout.max(args.min_rtt_timeout),
        max_parallelism: args.max_parallelism.max(1),
        rate: args.rate,
        ..EngineConfig::default()
    };
    let threads = scan_engine::threads();
    let mut stream = scan_stream::Stream::new(format == Format::JsonLines, args.all);
    let mut done = scan_stream::Done::new();
    if let Some(path) = &args.resume {
        let me = scan_engine::effective_uid();
        let file = portscope_history::safe_path::open_private(path, 0o600, me, "resume file")?;
        for (addr, proto, outcome) in
            stream.resume_from(file, &plan.fingerprint(), |a, p| plan.covers(a, p))?
        {
            if done.insert((addr, proto)) {
                tallies.record_proto(addr, proto, outcome);
                progress.inc(1);
            }
        }
    }
    let selection = scan_engine::Selection {
        shard: args.shard,
        done: &done,
    };
    let (stats, stopped) = scan_engine::run(
        &plan,
        &modes(args),
        &cfg,
        threads,
        &selection,
        &mut |addr, proto, outcome| {
            stream.record(addr, proto, outcome);
            tallies.record_proto(addr, proto, outcome);
        },
        &Hooks {
            block_stop: &|| block_stop(host),
            note: &|line| note(line),
            progress: &|n| progress.inc(n),
        },
    )?;
    stream.flush()?;
    if let Some(signal) = stopped {
        progress.finish_and_clear();
        exit_stopped(signal);
    }
    if format == Format::JsonLines {
        progress.finish_and_clear();
        return Ok(ExitCode::Ok);
    }
    progress.finish_and_clear();

    let (mut hosts, silent_hosts) = tallies.finish(&plan.names, &names);
    if args.banner {
        banner::add_to_open_ports(&mut hosts, args.banner_timeout);
    }
    let finished_at = SystemTime::now();
    let report = ScanReport {
        scanner: "portscope",
        version: env!("CARGO_PKG_VERSION"),
        // Arguments may be any bytes; the report shows them lossily rather than failing.
        args: std::env::args_os()
            .map(|a| a.to_string_lossy().into_owned())
            .collect::<Vec<_>>()
            .join(" "),
        start: epoch(started_at),
        ports: plan.ports_label(),
        port_count: plan.ports.len() + plan.udp_ports.len(),
        hosts,
        silent_hosts,
        scan_info: scan_engine::scan_info(&plan, &modes(args)),
        stats,
    };
    let finished_str = humantime::format_rfc3339_seconds(finished_at).to_string();
    let mut stdout_taken = false;
    let mut failure = None;
    if let Some(sink) = greppable {
        stdout_taken |= sink.is_stdout();
        if let Err(e) = sink.write(|mut out| greppable::write(&mut out, &report, &started_str, &finished_str))
        {
            failure.get_or_insert(e);
        }
    }
    if let Some(sink) = xml {
        stdout_taken |= sink.is_stdout();
        let times = xml::Times {
            start: report.start,
            start_str: &started_str,
            end: epoch(finished_at),
            end_str: &finished_str,
        };
        if let Err(e) = sink.write(|mut out| xml::write(&mut out, &report, &times)) {
            failure.get_or_insert(e);
        }
    }
    // A report file that failed at the end (a full disk) must not lose the scan: the report goes
    // to stdout as well, and the failure is the exit status.
    if !stdout_taken || failure.is_some() {
        let mut out = std::io::stdout().lock();
        if format == Format::Json {
            scan_report::write_json(&mut out, &report)?;
        } else {
            scan_report::write_table(&mut out, &report, ui)?;
        }
        out.flush()?;
    }
    if let Some(e) = failure {
        return Err(e);
    }
    host_down(&report, &args.targets, args.max_retries)
}

/// nmap's "Host seems down": a host that neither accepted nor refused a single probe is
/// unreachable or drops everything, which is not the same as "nothing exposed". When no host
/// answered, the scan ends with one line and exit 6; when some did, a note names how many did not.
fn host_down(report: &ScanReport, targets: &[String], retries: u32) -> Result<ExitCode> {
    let answered = report.hosts.iter().filter(|h| h.open + h.closed > 0).count() as u64;
    let total = report.total_hosts();
    let down = total.saturating_sub(answered);
    if down == 0 {
        return Ok(ExitCode::Ok);
    }
    let tries = report.port_count as u64 * (u64::from(retries) + 1);
    let hint = "check the address and the route (`ip route get ADDRESS`), or allow slower answers \
                with --max-rtt-timeout (portscope never pings first: nmap's -Pn changes nothing)";
    if answered == 0 {
        let who = if total == 1 {
            format!("host {} seems down", targets.join(" "))
        } else {
            format!("all {total} hosts seem down")
        };
        return Err(Error::NotFound(format!(
            "{who}: up to {tries} probe(s) per host to {} port(s), none accepted or refused; {hint}",
            report.port_count
        )));
    }
    note(&format!(
        "{down} of {total} host(s) seem down: no port accepted or refused a probe; {hint}"
    ));
    Ok(ExitCode::Ok)
}

/// Where a `-oG`/`-oX` report goes: stdout, or a file checked before the scan starts and
/// written whole at the end through the one safe write (`safe_path::write_output`: never
/// through a planted link, never into a FIFO).
enum Sink {
    Stdout,
    File(PathBuf),
}

impl Sink {
    fn open(path: &Path) -> Result<Sink> {
        if is_stdout(path) {
            return Ok(Sink::Stdout);
        }
        portscope_history::safe_path::check_output(path, "report file")?;
        Ok(Sink::File(path.to_path_buf()))
    }

    fn is_stdout(&self) -> bool {
        matches!(self, Sink::Stdout)
    }

    fn write(self, write: impl FnOnce(&mut dyn Write) -> std::io::Result<()>) -> Result<()> {
        match self {
            Sink::Stdout => {
                let mut out = std::io::stdout().lock();
                write(&mut out)?;
                out.flush().map_err(Error::from)
            }
            Sink::File(path) => {
                let mut report = Vec::new();
                write(&mut report)?;
                portscope_history::safe_path::write_output(&path, &report, 0o644, "report file")
            }
        }
    }
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

/// Blocks the stop signals for the engines that end in order on them; they poll without waiting.
fn block_stop(host: &dyn portscope_core::Platform) -> std::io::Result<Box<dyn Stop>> {
    let signals = host.block_stop_signals()?;
    Ok(Box::new(move || signals.wait(Duration::ZERO)))
}

/// The engine has ended in order (its firewall rule is gone, the caller has flushed what it
/// streams): exit as the signal asked.
fn exit_stopped(signal: i32) -> ! {
    note("scan stopped by a signal; nothing was left behind");
    std::process::exit(128 + signal)
}

fn modes(args: &ScanArgs) -> scan_engine::Modes {
    scan_engine::Modes {
        syn: args.syn,
        connect: args.connect,
        udp: args.udp,
        confirm: !args.no_confirm,
    }
}

fn progress_bar(total: u64) -> indicatif::ProgressBar {
    if !std::io::stderr().is_terminal() {
        return indicatif::ProgressBar::hidden();
    }
    let bar = indicatif::ProgressBar::with_draw_target(Some(total), indicatif::ProgressDrawTarget::stderr());
    let window = std::sync::Mutex::new(RateWindow::default());
    if let Ok(style) = indicatif::ProgressStyle::with_template(
        "{bar:40} {pos}/{len} probes answered ({rate}, eta {eta_now})",
    ) {
        let window = std::sync::Arc::new(window);
        let for_rate = std::sync::Arc::clone(&window);
        let style = style
            .with_key(
                "rate",
                move |state: &indicatif::ProgressState, w: &mut dyn std::fmt::Write| {
                    if let Ok(mut window) = for_rate.lock() {
                        let rate = window.observe(state.elapsed(), state.pos());
                        let _ = write!(w, "{rate:.0}/s");
                    }
                },
            )
            .with_key(
                "eta_now",
                move |state: &indicatif::ProgressState, w: &mut dyn std::fmt::Write| {
                    if let Ok(mut window) = window.lock() {
                        let rate = window.observe(state.elapsed(), state.pos());
                        let left = state.len().unwrap_or(0).saturating_sub(state.pos());
                        let _ = match eta(left, rate) {
                            Some(eta) => write!(w, "{}", humantime::format_duration(eta)),
                            None => write!(w, "-"),
                        };
                    }
                },
            );
        bar.set_style(style);
    }
    bar
}

/// The answer rate over the last few seconds: what the ETA should follow, not the slow start (the
/// first probes of a scan wait out their timeouts before anything answers).
#[derive(Default)]
struct RateWindow {
    samples: std::collections::VecDeque<(Duration, u64)>,
}

impl RateWindow {
    const SPAN: Duration = Duration::from_secs(5);

    /// Records (elapsed, answered) and returns answers per second over the window.
    fn observe(&mut self, elapsed: Duration, pos: u64) -> f64 {
        if self.samples.back().is_none_or(|&(t, _)| elapsed > t) {
            self.samples.push_back((elapsed, pos));
        }
        while self
            .samples
            .front()
            .is_some_and(|&(t, _)| elapsed.saturating_sub(t) > Self::SPAN)
            && self.samples.len() > 2
        {
            self.samples.pop_front();
        }
        match (self.samples.front(), self.samples.back()) {
            (Some(&(t0, p0)), Some(&(t1, p1))) if t1 > t0 => {
                p1.saturating_sub(p0) as f64 / (t1 - t0).as_secs_f64()
            }
            _ => 0.0,
        }
    }
}

/// The time left at `rate` answers per second, rounded to whole seconds; `None` before any rate.
fn eta(left: u64, rate: f64) -> Option<Duration> {
    (rate > 0.0).then(|| Duration::from_secs((left as f64 / rate).ceil() as u64))
}

fn is_stdout(path: &Path) -> bool {
    path.as_os_str() == "-"
}

fn read_input(path: &Path) -> Result<String> {
    let bytes = if is_stdout(path) {
        let mut buf = Vec::new();
        std::io::Read::read_to_end(
            &mut std::io::Read::take(std::io::stdin(), files::MAX_INPUT + 1),
            &mut buf,
        )
        .map_err(|e| Error::io("reading stdin", e))?;
        if buf.len() as u64 > files::MAX_INPUT {
            return Err(Error::Usage(format!(
                "the target list on stdin is larger than {} MiB",
                files::MAX_INPUT >> 20
            )));
        }
        buf
    } else {
        // A target list that cannot be read is bad input, like a malformed address.
        files::read_bounded(path, "target list", files::MAX_INPUT)?
    };
    String::from_utf8(bytes).map_err(|_| Error::Usage(format!("{}: not UTF-8 text", path.display())))
}

fn epoch(t: SystemTime) -> u64 {
    t.duration_since(SystemTime::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

#[cfg(test)]
mod progress_tests {
    use super::*;

    #[test]
    fn the_eta_follows_the_recent_rate_not_the_slow_start() {
        let mut window = RateWindow::default();
        // One answer in the first 3 s (timeouts), then 1000 answers a second.
        window.observe(Duration::from_secs(0), 0);
        window.observe(Duration::from_secs(3), 1);
        let mut rate = 0.0;
        for s in 4..=12 {
            rate = window.observe(Duration::from_secs(s), 1 + (s - 3) * 1000);
        }
        assert!((rate - 1000.0).abs() < 1.0, "{rate}");
        assert_eq!(eta(60_000, rate), Some(Duration::from_secs(60)));
        assert_eq!(eta(10, 0.0), None);
    }
}
