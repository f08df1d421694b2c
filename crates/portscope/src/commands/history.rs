//! `portscope history`: when each port was opened and closed, and by which program, from the
//! database that `watch` records.

use std::io::Write;
use std::path::PathBuf;

use clap::Args;
use serde::Serialize;

use crate::error::{Error, ExitCode, Result};
use portscope_core::time;
use portscope_history::{self as history, Filter, Span, Store};

use crate::output::table::{Cell, Table};
use crate::output::{self, Color, Ui};
use crate::watch::{self, Event};

#[derive(Args, Debug, Clone)]
#[command(after_help = "Examples:
  portscope history --since yesterday      what was open since yesterday's midnight
  portscope history --since 2h -p 22
  portscope history --events --since today --json
Recording needs a running `portscope watch`; keep one with
  sudo systemctl enable --now portscope-watch.service")]
pub struct HistoryArgs {
    /// Only what was open at some time in this window: today, yesterday (from local midnight), a
    /// day (2026-11-25), a duration back from now (2h, 30m, 7d) or a moment (2026-11-25
    /// 14:00:00, UTC).
    #[arg(long, value_name = "WHEN")]
    pub since: Option<String>,
    /// Only this port.
    #[arg(short = 'p', long, value_name = "PORT", value_parser = clap::value_parser!(u16).range(1..))]
    pub port: Option<u16>,
    /// Only ports held by a program whose name starts with NAME.
    #[arg(long, value_name = "NAME")]
    pub process: Option<String>,
    /// Show the raw events (opened, closed, owner changed) instead of open/close spans.
    #[arg(long)]
    pub events: bool,
    /// Print JSON.
    #[arg(long)]
    pub json: bool,
    /// History database [default: $XDG_STATE_HOME/portscope/history.db].
    #[arg(long, value_name = "PATH", env = "PORTSCOPE_DB")]
    pub db: Option<PathBuf>,
}

pub fn run(args: &HistoryArgs, ui: Ui, host: &dyn crate::platform::Platform) -> Result<ExitCode> {
    let since = match &args.since {
        Some(text) => Some(
            {
                let now = time::now_ms();
                time::parse_since(text, now, host.utc_offset_ms(now))
            }
            .ok_or_else(|| {
                Error::Usage(format!(
                    "--since {text:?}: give today, yesterday, a day (2026-11-25), a duration (2h, 30m, 7d) \
                 or a moment (2026-11-25 14:00:00)"
                ))
            })?,
        ),
        None => None,
    };
    let path = match &args.db {
        Some(path) => path.clone(),
        None => history::default_path()?,
    };
    let store = match Store::open(&path) {
        Err(Error::NotFound(message)) => return Err(Error::NotFound(no_history(message, &path))),
        other => other?,
    };
    let events = store.events(&Filter { port: args.port })?;
    if store.skipped_rows() > 0 {
        output::note(&format!(
            "{}: skipped {} damaged row(s) that could not be read",
            path.display(),
            store.skipped_rows()
        ));
    }

    let stdout = std::io::stdout();
    let mut out = std::io::BufWriter::new(stdout.lock());
    if args.events {
        let events: Vec<&Event> = events
            .iter()
            .filter(|e| since.is_none_or(|s| e.time_ms >= s))
            .filter(|e| process_matches(args, [&e.owner, &e.previous]))
            .collect();
        if args.json {
            output::json(&mut out, &events.iter().map(|e| e.json()).collect::<Vec<_>>())?;
        } else {
            for event in &events {
                writeln!(
                    out,
                    "{}",
                    crate::render::escape(&event.line(|t| host.local_time(t)))
                )?;
            }
        }
        out.flush()?;
        return Ok(ExitCode::Ok);
    }

    let spans: Vec<Span> = history::spans(&events)
        .into_iter()
        .filter(|s| since.is_none_or(|since| s.closed_ms.is_none_or(|c| c >= since)))
        .filter(|s| process_matches(args, [&s.owner, &None]))
        .collect();
    // A span still open in the history whose owner has exited was left open by a watcher that
    // stopped: the port is not known to be open now.
    let gone: Vec<bool> = spans
        .iter()
        .map(|s| {
            s.closed_ms.is_none()
                && s.owner
                    .as_ref()
                    .is_some_and(|o| matches!(host.pin(o.pid), Err(crate::platform::ControlError::Gone)))
        })
        .collect();
    if args.json {
        let rows: Vec<SpanJson> = spans
            .iter()
            .zip(&gone)
            .map(|(s, &gone)| SpanJson::of(s, gone))
            .collect();
        output::json(&mut out, &rows)?;
    } else if spans.is_empty() {
        out.flush()?;
        output::note("no port in the history matches");
    } else {
        table(host, &spans, &gone).write(&mut out, ui)?;
        if gone.iter().any(|g| *g) {
            out.flush()?;
            output::note(
                "\"pid gone\": the history last saw the port open, but its process has exited since; \
                 nothing was recording when it closed (keep `portscope watch` recording with \
                 `systemctl enable --now portscope-watch.service`)",
            );
        }
    }
    out.flush()?;
    Ok(ExitCode::Ok)
}

/// Where the `portscope-watch` service records (its unit's `StateDirectory`).
pub const SERVICE_DB: &str = "/var/lib/portscope/history.db";

/// "No history yet", pointing to the service: its database when it records, else how to start it.
fn no_history(message: String, path: &std::path::Path) -> String {
    let service = std::path::Path::new(SERVICE_DB);
    if path != service && service.exists() {
        format!(
            "{message}; the portscope-watch service records to {SERVICE_DB}: `portscope history --db {SERVICE_DB}`"
        )
    } else {
        format!("{message}, or record all the time with `systemctl enable --now portscope-watch.service`")
    }
}

fn process_matches(args: &HistoryArgs, owners: [&Option<watch::Owner>; 2]) -> bool {
    args.process
        .as_deref()
        .is_none_or(|name| owners.into_iter().flatten().any(|o| o.matches_name(name)))
}

/// A span for scripts: times in RFC 3339 UTC, `null` when unknown (opened before the history
/// begins) or not yet (still open).
#[derive(Serialize)]
struct SpanJson<'a> {
    protocol: crate::model::Protocol,
    address: std::net::IpAddr,
    port: u16,
    remote: Option<String>,
    owner: Option<&'a watch::Owner>,
    opened: Option<String>,
    opened_while_not_watching: bool,
    closed: Option<String>,
    closed_while_not_watching: bool,
    ended_by_owner_change: bool,
    /// Still open in the history, but its process has exited since (nothing recorded the close).
    owner_gone: bool,
}

impl<'a> SpanJson<'a> {
    fn of(span: &'a Span, owner_gone: bool) -> SpanJson<'a> {
        SpanJson {
            protocol: span.key.protocol,
            address: span.key.address,
            port: span.key.port,
            remote: span.key.remote.map(|r| r.to_string()),
            owner: span.owner.as_ref(),
            opened: span.opened_ms.map(time::rfc3339),
            opened_while_not_watching: span.opened_before,
            closed: span.closed_ms.map(time::rfc3339),
            closed_while_not_watching: span.closed_before,
            ended_by_owner_change: span.ended_by_owner_change,
            owner_gone,
        }
    }
}

fn table(host: &dyn crate::platform::Platform, spans: &[Span], gone: &[bool]) -> Table {
    let local_time = |t| host.local_time(t);
    let mut table = Table::new(vec!["PROTO", "LOCAL", "PID/PROGRAM", "USER", "OPENED", "CLOSED"]);
    for (span, &gone) in spans.iter().zip(gone) {
        let local = match span.key.remote {
            Some(remote) => format!("{} -> {remote}", span.key.local()),
            None => span.key.local().to_string(),
        };
        let (who, user) = match &span.owner {
            Some(o) => (
                format!("{}/{}", o.pid, o.program),
                o.user.clone().unwrap_or_else(|| o.uid.to_string()),
            ),
            None => ("-".to_string(), "-".to_string()),
        };
        let opened = match (span.opened_ms, span.opened_before) {
            (None, _) => "before the history".to_string(),
            (Some(t), true) => format!("before {}", local_time(t)),
            (Some(t), false) => local_time(t),
        };
        let closed = match (span.closed_ms, span.closed_before, span.ended_by_owner_change) {
            (None, ..) if gone => Cell::painted("unknown (pid gone)", Color::Yellow),
            (None, ..) => Cell::painted("open", Color::Green),
            (Some(t), _, true) => format!("{} (new owner)", local_time(t)).into(),
            (Some(t), true, false) => format!("before {}", local_time(t)).into(),
            (Some(t), false, false) => local_time(t).into(),
        };
        table.push(vec![
            span.key.protocol.as_str().into(),
            local.into(),
            Cell::painted(who, Color::Bold),
            user.into(),
            opened.into(),
            closed,
        ]);
    }
    table
}
