//! `portscope watch`: one line per port that opens, closes or changes owner, as it happens.
//!
//! Every interval it takes a listening-socket snapshot (the same fast netlink + /proc path as
//! `list`), diffs it against the last one and reports the changes: printed, run through `--exec`,
//! and recorded in the history database (unless `--no-history`). Recording always covers every
//! port; the filters only choose what is printed and executed. Ctrl-C or SIGTERM stop it cleanly
//! between two polls.

use std::io::Write;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use clap::Args;

use crate::error::{Error, ExitCode, Result};
use portscope_core::time;
use portscope_history::{self as history, Claim, Store};

use super::watch_alerts::{AlertArgs, Alerts};
use super::watch_events as events;
use super::watch_exec as exec;
use crate::filter::{Expression, PortRow};
use crate::model::Protocol;
use crate::output::{self, Ui};
use crate::platform::Platform;
use crate::watch::poll::Poller;
use crate::watch::{self, Event, EventKind, PortTable};

#[derive(Args, Debug, Clone)]
#[command(after_long_help = "Examples:
  sudo portscope watch                     print each port that opens, closes or changes owner
  sudo portscope watch --connections --exec 'notify-send \"$PORTSCOPE_PROGRAM\"'
  sudo systemctl enable --now portscope-watch.service    keep recording for `history`

Watch follows listening ports (TCP LISTEN, bound UDP) by default: what \"a port opened\" means. \
--connections adds established connections, keyed by their peer too. A port in another network \
namespace than portscope's is its own port, and its events name the namespace (`in netns NAME`). \
The owner is the pid and the executable: a process that renames itself is no owner change (a note \
says so once per rename).

Every event is recorded in the history database (see `portscope history`) unless --no-history; \
changes that happened while no watch ran are recorded at start, marked as such.

--exec runs `sh -c CMD` once per printed event, in order, off the watch loop (a slow command never \
delays watching; each runs at most --exec-timeout; when 256 events wait, an owner change is dropped from --exec \
before an open or a close, and drops are counted), with: PORTSCOPE_EVENT (opened, closed, \
owner_changed), PORTSCOPE_TIME, PORTSCOPE_PROTOCOL, PORTSCOPE_ADDRESS, PORTSCOPE_PORT, \
PORTSCOPE_REMOTE, PORTSCOPE_NETNS (the namespace, when not portscope's own), PORTSCOPE_PID, PORTSCOPE_PROGRAM, PORTSCOPE_EXE, PORTSCOPE_USER, PORTSCOPE_UNIT, \
PORTSCOPE_PREVIOUS_PID, PORTSCOPE_PREVIOUS_PROGRAM and PORTSCOPE_JSON (the whole event). \
Variables that do not apply are unset.

--syslog sends each printed event to /dev/log (or --syslog-socket) as one RFC 5424 line: app-name \
portscope, MSGID the event, structured data [portscope@32473 event= protocol= address= port= pid= \
program= exe= user= …], severity notice (opened), warning (owner changed, scan), info (closed). \
--webhook URL POSTs each printed event's JSON (as --json-lines prints it). Both send from a thread \
of their own and never delay watching: events wait in a bounded queue (--webhook-queue; 1000), \
each is tried 5 times with a backoff from 0.5 s doubling to 8 s, every connect, write and read \
times out after 5 s; drops are counted and said once per burst (with --json-lines also as \
sink_dropped lines) and in a summary at exit (sink_stats). https needs a local relay.

Kernel events: where the kernel allows (Linux with BTF, CAP_BPF and CAP_PERFMON or root), watch also \
follows eBPF socket events between polls: a port open for 10 ms is reported with its pid and \
executable (marked short-lived), and a source refused on --scan-ports closed ports in one burst is \
reported once as a scan. Without them (or with --no-events, PORTSCOPE_NO_EVENTS=1) it says why once \
and polls.")]
pub struct WatchArgs {
    /// How often to look, e.g. 500ms, 1s, 5s.
    #[arg(long, value_name = "DURATION", default_value = "1s", value_parser = parse_interval)]
    pub interval: Duration,
    /// Also follow established connections, not only listening ports (busy machines: noisy).
    #[arg(long)]
    pub connections: bool,
    /// Report only TCP ports.
    #[arg(short = 't', long, conflicts_with = "udp")]
    pub tcp: bool,
    /// Report only UDP ports.
    #[arg(short = 'u', long)]
    pub udp: bool,
    /// Report only this port (repeatable).
    #[arg(short = 'p', long, value_name = "PORT", value_parser = portscope_core::knowledge::port_argument)]
    pub port: Vec<u16>,
    /// Report only ports whose program (or previous program) has an executable named NAME
    /// (NAME* for a prefix).
    #[arg(long, value_name = "NAME")]
    pub process: Option<String>,
    /// Report only events this filter keeps, e.g. 'port < 1024 and not user = root' (the filter
    /// language of `list`, docs/filter.md; an event has no state, verdict, rule or service).
    #[arg(long, value_name = "EXPR")]
    pub filter: Option<String>,
    #[command(flatten)]
    pub output: crate::output::FormatArgs,
    /// Run `sh -c CMD` for each reported event, with the event in PORTSCOPE_* variables.
    #[arg(long, value_name = "CMD")]
    pub exec: Option<String>,
    /// Kill an --exec command (and what it started) that runs longer than this.
    #[arg(long, value_name = "DURATION", default_value = "60s", value_parser = parse_duration)]
    pub exec_timeout: Duration,
    #[command(flatten)]
    pub alerts: AlertArgs,
    /// History database [default: $XDG_STATE_HOME/portscope/history.db].
    #[arg(long, value_name = "PATH", env = "PORTSCOPE_DB")]
    pub db: Option<PathBuf>,
    /// Do not record events in the history database (wins over --db and PORTSCOPE_DB).
    #[arg(long)]
    pub no_history: bool,
    /// Stop after this long (default: run until Ctrl-C).
    #[arg(long = "for", value_name = "DURATION", value_parser = parse_duration)]
    pub run_for: Option<Duration>,
    /// Poll only: do not use kernel socket events (eBPF), even where they are available.
    #[arg(long, env = "PORTSCOPE_NO_EVENTS")]
    pub no_events: bool,
    /// A source refused on at least this many distinct ports in one burst is a scan.
    #[arg(long, value_name = "N", default_value = "20", value_parser = clap::value_parser!(u32).range(2..=65536))]
    pub scan_ports: u32,
    /// Quiet time that ends a burst of refused connections from one source.
    #[arg(long, value_name = "DURATION", default_value = "2s", value_parser = parse_quiet)]
    pub scan_quiet: Duration,
}

/// A burst ends after 100 ms to 10 min of quiet.
fn parse_quiet(text: &str) -> std::result::Result<Duration, String> {
    crate::duration::within(text, Duration::from_millis(100), Duration::from_secs(600))
}

fn parse_duration(text: &str) -> std::result::Result<Duration, String> {
    crate::duration::any(text)
}

/// At least 100 ms between looks (each is a full socket dump), at most a day.
fn parse_interval(text: &str) -> std::result::Result<Duration, String> {
    crate::duration::within(text, Duration::from_millis(100), DAY)
}

const DAY: Duration = Duration::from_secs(24 * 3600);

impl WatchArgs {
    /// Whether an event is printed and executed.
    fn reports(&self, event: &Event, filter: Option<&Expression>) -> bool {
        let protocol_ok = match (self.tcp, self.udp) {
            (true, false) => event.key.protocol == Protocol::Tcp,
            (false, true) => event.key.protocol == Protocol::Udp,
            _ => true,
        };
        let port_ok = self.port.is_empty() || self.port.contains(&event.key.port);
        let process_ok = self.process.as_deref().is_none_or(|name| {
            [&event.owner, &event.previous]
                .into_iter()
                .flatten()
                .any(|o| o.matches_name(name))
        });
        let filter_ok = filter.is_none_or(|f| {
            f.matches(&PortRow {
                key: &event.key,
                netns: event.netns.as_deref(),
                owners: [event.owner.as_ref(), event.previous.as_ref()],
            })
        });
        protocol_ok && port_ok && process_ok && filter_ok
    }
}

/// `--filter EXPR` of watch and history, parsed and checked against the fields their rows have.
pub fn port_filter(text: Option<&str>, rows: &str) -> Result<Option<Expression>> {
    let Some(expression) = super::expression_of(text.unwrap_or_default())? else {
        return Ok(None);
    };
    expression
        .require(rows, PortRow::FIELDS)
        .map_err(|e| Error::Usage(format!("filter: {e}")))?;
    Ok(Some(expression))
}

pub fn run(args: &WatchArgs, ui: Ui, host: &'static dyn Platform) -> Result<ExitCode> {
    args.output.only(
        "watch",
        &[crate::output::Format::Table, crate::output::Format::JsonLines],
        false,
    )?;
    let filter = port_filter(args.filter.as_deref(), "watch events")?;
    // Before anything else, so that Ctrl-C during the first snapshot is not lost either.
    let signals = host
        .block_stop_signals()
        .map_err(|e| Error::io("blocking Ctrl-C until a clean stop", e))?;
    let store = match (&args.db, args.no_history) {
        (_, true) => None,
        (Some(path), false) => Some(Store::create(path)?),
        (None, false) => Some(Store::create(&history::default_path()?)?),
    };
    let mut recorder = store.map(Recorder::new);
    if let Some(r) = &mut recorder
        && let Claim::HeldBy { dev, ino } = r.store.claim_recorder()?
    {
        // A platform that cannot name the holder says so the same way as an unknown one.
        let pid = host.lock_holder(dev, ino).ok().flatten();
        let who = lock_holder_text(host, pid);
        output::note(&format!(
            "{who} already records to {}; this one only prints, and takes over recording if that one stops (use --db for a history of its own)",
            r.store.path().display()
        ));
    }
    let started = Instant::now();
    // Recording needs every port, whatever is printed, so the poller always looks at them all.
    let mut poller = Poller::new(host, args.connections);
    let (first, mut table) = poller.full()?;
    for note in &first.notes {
        output::note(note);
    }
    if let Some(note) = crate::privilege::hidden_owners_note_naming(
        first.unreadable_processes,
        &first.unreadable_owners,
        host.privileges(),
    ) {
        output::note(&note);
    }
    if let Some(r) = &mut recorder
        && r.store.is_recorder()
    {
        catch_up(&mut r.store, &table, args.connections)?;
    }
    output::note(&format!(
        "watching {} {} every {}{}; Ctrl-C to stop",
        table.len(),
        if args.connections {
            "ports and connections"
        } else {
            "listening ports"
        },
        humantime::format_duration(args.interval),
        match &recorder {
            Some(r) if r.store.is_recorder() => format!(", recording to {}", r.store.path().display()),
            _ => String::new(),
        }
    ));

    let thresholds = portscope_core::watch::probes::Thresholds {
        min_ports: args.scan_ports,
        quiet_ms: args.scan_quiet.as_millis() as i64,
        ..Default::default()
    };
    let mut kernel = events::start(
        host,
        args.no_events,
        first.own_netns.unwrap_or(0),
        thresholds,
        args.interval,
    );
    let mut runner = match &args.exec {
        Some(cmd) => Some(
            exec::Runner::start(cmd.clone(), args.exec_timeout, host)
                .map_err(|e| Error::io("starting the --exec worker", e))?,
        ),
        None => None,
    };
    let mut sinks = Alerts::start(&args.alerts)?;
    let json_lines = args.output.format() == crate::output::Format::JsonLines;
    let stdout = std::io::stdout();
    let mut next_poll = Instant::now() + args.interval;
    loop {
        let mut wait = next_poll.saturating_duration_since(Instant::now());
        if kernel.is_some() {
            wait = wait.min(events::TICK);
        }
        if let Some(limit) = args.run_for {
            let left = limit.saturating_sub(started.elapsed());
            if left.is_zero() {
                break;
            }
            wait = wait.min(left);
        }
        if signals.wait(wait).is_some() {
            break;
        }
        let mut events = Vec::new();
        if let Some(k) = &mut kernel {
            let (seen, alerts) = k.drain(&mut table);
            events = seen;
            print_alerts(args, ui, host, &alerts, &sinks)?;
            if let Some(r) = &mut recorder {
                r.record_scans(&alerts);
            }
            k.note_lost();
        }
        if Instant::now() >= next_poll {
            next_poll = Instant::now() + args.interval;
            if let Some(r) = &mut recorder {
                r.take_over_if_free(&table, args.connections);
                r.retry();
            }
            if let Some(now) = poller.poll(&table)? {
                note_renames(&watch::renames(&table, &now));
                let (polled, next) = watch::diff(&table, &now, time::now_ms());
                table = next;
                events.extend(polled);
                if let Some(k) = &mut kernel {
                    k.polled(&table);
                }
            }
        }
        for event in &events {
            // Recorded first: an event that was printed is an event that is in the history (or,
            // while the disk is full, waiting in memory to be).
            if let Some(r) = &mut recorder {
                r.record(event);
            }
            if !args.reports(event, filter.as_ref()) {
                continue;
            }
            let mut out = stdout.lock();
            if args.output.format() == crate::output::Format::JsonLines {
                output::json_lines(&mut out, [event.json()])?;
            } else {
                writeln!(out, "{}", paint(ui, host, event))?;
            }
            out.flush()?;
            drop(out);
            if let Some(runner) = &mut runner {
                runner.submit(event);
            }
            if !sinks.is_empty() {
                sinks.submit(&crate::alert::Alert::of_event(event));
            }
        }
        sinks.report_drops(json_lines)?;
        if let Some(runner) = &mut runner {
            let dropped = runner.take_unreported();
            if dropped > 0 {
                output::note(&format!(
                    "--exec is {} events behind; {dropped} event(s) were not passed to it",
                    exec::QUEUE
                ));
            }
        }
    }
    if let Some(k) = &mut kernel {
        let alerts = k.flush();
        print_alerts(args, ui, host, &alerts, &sinks)?;
        if let Some(r) = &mut recorder {
            r.record_scans(&alerts);
        }
        k.note_lost();
    }
    // The --exec command and the alert senders share one grace time after a stop.
    let stopping = Instant::now() + exec::GRACE;
    if let Some(runner) = runner {
        runner.finish();
    }
    sinks.finish(stopping, json_lines)?;
    if let Some(r) = &mut recorder {
        r.retry();
        if !r.pending.is_empty() {
            output::note(&format!(
                "{} event(s) could not be recorded to {} before stopping",
                r.pending.len(),
                r.store.path().display()
            ));
        }
    }
    Ok(ExitCode::Ok)
}

/// The history side of a watcher: records when it holds the recorder's lock, takes the lock over
/// when the recording watcher stops, and keeps events in memory (up to [`PENDING`]) while the
/// database cannot be written (a full disk), saying so once and retrying every poll.
struct Recorder {
    store: Store,
    pending: watch::queue::EventQueue,
    lost: u64,
    paused: bool,
}

/// Events kept in memory while recording is paused; beyond, an owner change gives way to an open
/// or a close, else the new event is dropped (and counted): [`watch::queue::EventQueue`].
const PENDING: usize = 100_000;

impl Recorder {
    fn new(store: Store) -> Recorder {
        Recorder {
            store,
            pending: watch::queue::EventQueue::new(PENDING),
            lost: 0,
            paused: false,
        }
    }

    /// A watcher that only printed becomes the recorder once the lock is free.
    fn take_over_if_free(&mut self, table: &PortTable, connections: bool) {
        if self.store.is_recorder() {
            return;
        }
        match self.store.claim_recorder() {
            Ok(Claim::Claimed) => {
                output::note(&format!(
                    "the watcher that recorded to {} stopped; this one records from now on",
                    self.store.path().display()
                ));
                if let Err(e) = catch_up(&mut self.store, table, connections) {
                    self.pause(&e);
                }
            }
            Ok(Claim::HeldBy { .. }) => {}
            Err(e) => self.pause(&e),
        }
    }

    /// Scan alerts are recorded when this watcher records; one that cannot be written is said
    /// once with the pause and not kept (alerts are printed already).
    fn record_scans(&mut self, alerts: &[portscope_core::watch::probes::ScanAlert]) {
        if !self.store.is_recorder() {
            return;
        }
        for alert in alerts {
            if let Err(e) = self.store.record_scan(alert) {
                self.pause(&e);
            }
        }
    }

    fn record(&mut self, event: &Event) {
        if !self.store.is_recorder() {
            return;
        }
        if self.pending.is_empty() {
            match self.store.record(event) {
                Ok(()) => return,
                Err(e) => self.pause(&e),
            }
        }
        if self.pending.push(event.clone()) {
            self.lost += 1;
        }
    }

    /// Writes what waits, oldest first, until the database refuses again.
    fn retry(&mut self) {
        while let Some(event) = self.pending.front() {
            if let Err(e) = self.store.record(event) {
                self.pause(&e);
                return;
            }
            self.pending.pop();
        }
        if self.paused {
            self.paused = false;
            let lost = std::mem::take(&mut self.lost);
            output::note(&format!(
                "recording to {} resumed{}",
                self.store.path().display(),
                if lost > 0 {
                    format!("; {lost} event(s) were dropped while it was paused")
                } else {
                    String::new()
                }
            ));
        }
    }

    fn pause(&mut self, error: &Error) {
        if !self.paused {
            self.paused = true;
            output::note(&format!(
                "recording paused ({error}); events are still printed, kept and written when the database accepts them again"
            ));
        }
    }
}

/// How many renames one look reports by name; the rest are counted in one more line.
const RENAMES_NAMED: usize = 5;

/// Says on stderr that processes renamed themselves: a rename is not an owner change (the pid and
/// the executable are the owner), so it is no event, but a program that starts calling itself
/// `sshd` is worth a line, one per process and not one per port it holds.
fn note_renames(renames: &[watch::Rename]) {
    for rename in renames.iter().take(RENAMES_NAMED) {
        // `note` escapes what the process chose to be called.
        output::note(&format!(
            "pid {} renamed itself from {} to {} ({} port(s); the same program, so no owner change)",
            rename.pid, rename.from, rename.to, rename.ports
        ));
    }
    if renames.len() > RENAMES_NAMED {
        output::note(&format!(
            "{} more processes renamed themselves",
            renames.len() - RENAMES_NAMED
        ));
    }
}

/// Records what changed while nothing watched: the history's last known ports against now.
fn catch_up(store: &mut Store, table: &PortTable, connections: bool) -> Result<()> {
    let known = store.open_ports(connections)?;
    let (events, _) = watch::diff(&known, table, time::now_ms());
    for mut event in events {
        event.at_start = true;
        store.record(&event)?;
    }
    Ok(())
}

/// One line per scan alert: `15:03:07  scan     198.18.40.2 probed 1,000 TCP ports (1-2000) in 2.1 s`.
fn print_alerts(
    args: &WatchArgs,
    ui: Ui,
    host: &dyn Platform,
    alerts: &[portscope_core::watch::probes::ScanAlert],
    sinks: &Alerts,
) -> Result<()> {
    if alerts.is_empty() {
        return Ok(());
    }
    if !sinks.is_empty() {
        for alert in alerts {
            sinks.submit(&crate::alert::Alert::of_scan(alert));
        }
    }
    let stdout = std::io::stdout();
    let mut out = stdout.lock();
    for alert in alerts {
        if args.output.format() == crate::output::Format::JsonLines {
            output::json_lines(&mut out, [events::AlertJson::of(alert)])?;
        } else {
            writeln!(out, "{}", scan_line(ui, host, alert))?;
        }
    }
    out.flush()?;
    Ok(())
}

/// A scan alert as watch and `history --scans` print it.
pub fn scan_line(ui: Ui, host: &dyn Platform, alert: &portscope_core::watch::probes::ScanAlert) -> String {
    let line = format!("{}  scan     {}", host.local_time(alert.last_ms), alert.line());
    let line = crate::render::escape(&line).into_owned();
    ui.paint(output::Color::Red, &line).into_owned()
}

fn paint(ui: Ui, host: &dyn Platform, event: &Event) -> String {
    let line = crate::render::escape(&event.line(|t| host.local_time(t))).into_owned();
    let color = match event.kind {
        EventKind::Opened => output::Color::Green,
        EventKind::Closed => output::Color::Dim,
        EventKind::OwnerChanged => output::Color::Yellow,
    };
    ui.paint(color, &line).into_owned()
}

/// Who holds the recorder's lock, as a note names it: "portscope watch" only when the holder
/// runs this very executable. Another program (a user holding a lock file they could open) or a
/// holder that has exited (its descriptor inherited by a child) is named as what it is.
fn lock_holder_text(host: &dyn Platform, pid: Option<u32>) -> String {
    let Some(pid) = pid else {
        return "another process".to_string();
    };
    let Some(holder) = host.identity(pid) else {
        return format!(
            "pid {pid}, which has exited (a process that inherited its descriptor still holds the lock),"
        );
    };
    let ours = std::env::current_exe().ok();
    if holder.exe.is_some() && holder.exe == ours {
        return format!("portscope watch (pid {pid})");
    }
    format!(
        "{} (pid {pid}), which is not portscope,",
        portscope_core::render::escape(&holder.name)
    )
}
