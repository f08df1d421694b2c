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

use super::watch_exec as exec;
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
--connections adds established connections, keyed by their peer too.

Every event is recorded in the history database (see `portscope history`) unless --no-history; \
changes that happened while no watch ran are recorded at start, marked as such.

--exec runs `sh -c CMD` once per printed event, in order, off the watch loop (a slow command never \
delays watching; each runs at most --exec-timeout, and when 256 events wait the newest are dropped \
from --exec and counted), with: PORTSCOPE_EVENT (opened, closed, \
owner_changed), PORTSCOPE_TIME, PORTSCOPE_PROTOCOL, PORTSCOPE_ADDRESS, PORTSCOPE_PORT, \
PORTSCOPE_REMOTE, PORTSCOPE_PID, PORTSCOPE_PROGRAM, PORTSCOPE_EXE, PORTSCOPE_USER, PORTSCOPE_UNIT, \
PORTSCOPE_PREVIOUS_PID, PORTSCOPE_PREVIOUS_PROGRAM and PORTSCOPE_JSON (the whole event). \
Variables that do not apply are unset.")]
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
    #[arg(short = 'p', long, value_name = "PORT", value_parser = clap::value_parser!(u16).range(1..))]
    pub port: Vec<u16>,
    /// Report only ports whose program (or previous program) name starts with NAME.
    #[arg(long, value_name = "NAME")]
    pub process: Option<String>,
    /// Print one JSON object per event.
    #[arg(long)]
    pub json_lines: bool,
    /// Run `sh -c CMD` for each reported event, with the event in PORTSCOPE_* variables.
    #[arg(long, value_name = "CMD")]
    pub exec: Option<String>,
    /// Kill an --exec command (and what it started) that runs longer than this.
    #[arg(long, value_name = "DURATION", default_value = "60s", value_parser = parse_duration)]
    pub exec_timeout: Duration,
    /// History database [default: $XDG_STATE_HOME/portscope/history.db].
    #[arg(long, value_name = "PATH", env = "PORTSCOPE_DB")]
    pub db: Option<PathBuf>,
    /// Do not record events in the history database (wins over --db and PORTSCOPE_DB).
    #[arg(long)]
    pub no_history: bool,
    /// Stop after this long (default: run until Ctrl-C).
    #[arg(long = "for", value_name = "DURATION", value_parser = parse_duration)]
    pub run_for: Option<Duration>,
}

fn parse_duration(text: &str) -> std::result::Result<Duration, String> {
    humantime::parse_duration(text).map_err(|e| format!("{text:?} is not a duration like 1s or 500ms ({e})"))
}

fn parse_interval(text: &str) -> std::result::Result<Duration, String> {
    let interval = parse_duration(text)?;
    if interval < Duration::from_millis(100) {
        return Err(format!("{text:?} is too short; the interval is at least 100ms"));
    }
    Ok(interval)
}

impl WatchArgs {
    /// Whether an event is printed and executed.
    fn reports(&self, event: &Event) -> bool {
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
        protocol_ok && port_ok && process_ok
    }
}

pub fn run(args: &WatchArgs, ui: Ui, host: &'static dyn Platform) -> Result<ExitCode> {
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
        let who = pid.map_or("another portscope watch".to_string(), |p| {
            format!("portscope watch (pid {p})")
        });
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

    let mut runner = match &args.exec {
        Some(cmd) => Some(
            exec::Runner::start(cmd.clone(), args.exec_timeout, host)
                .map_err(|e| Error::io("starting the --exec worker", e))?,
        ),
        None => None,
    };
    let stdout = std::io::stdout();
    loop {
        let mut wait = args.interval;
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
        if let Some(r) = &mut recorder {
            r.take_over_if_free(&table, args.connections);
            r.retry();
        }
        let Some(now) = poller.poll(&table)? else { continue };
        let (events, next) = watch::diff(&table, &now, time::now_ms());
        table = next;
        for event in &events {
            // Recorded first: an event that was printed is an event that is in the history (or,
            // while the disk is full, waiting in memory to be).
            if let Some(r) = &mut recorder {
                r.record(event);
            }
            if !args.reports(event) {
                continue;
            }
            let mut out = stdout.lock();
            if args.json_lines {
                output::json_lines(&mut out, [event.json()])?;
            } else {
                writeln!(out, "{}", paint(ui, host, event))?;
            }
            out.flush()?;
            drop(out);
            if let Some(runner) = &mut runner {
                runner.submit(event);
            }
        }
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
    if let Some(runner) = runner {
        runner.finish();
    }
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
    pending: std::collections::VecDeque<Event>,
    lost: u64,
    paused: bool,
}

/// Events kept in memory while recording is paused; older ones are dropped (and counted) beyond.
const PENDING: usize = 100_000;

impl Recorder {
    fn new(store: Store) -> Recorder {
        Recorder {
            store,
            pending: Default::default(),
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
        if self.pending.len() >= PENDING {
            self.pending.pop_front();
            self.lost += 1;
        }
        self.pending.push_back(event.clone());
    }

    /// Writes what waits, oldest first, until the database refuses again.
    fn retry(&mut self) {
        while let Some(event) = self.pending.front() {
            if let Err(e) = self.store.record(event) {
                self.pause(&e);
                return;
            }
            self.pending.pop_front();
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

fn paint(ui: Ui, host: &dyn Platform, event: &Event) -> String {
    let line = crate::render::escape(&event.line(|t| host.local_time(t))).into_owned();
    let color = match event.kind {
        EventKind::Opened => output::Color::Green,
        EventKind::Closed => output::Color::Dim,
        EventKind::OwnerChanged => output::Color::Yellow,
    };
    ui.paint(color, &line).into_owned()
}
