//! `portscope history`: when each port was opened and closed, and by which program, from the
//! database that `watch` records.

use std::io::Write;
use std::path::PathBuf;

use clap::Args;
use serde::Serialize;

use crate::error::{Error, ExitCode, Result};
use portscope_core::filter::{Expression, PortRow};
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
    #[arg(short = 'p', long, value_name = "PORT", value_parser = portscope_core::knowledge::port_argument)]
    pub port: Option<u16>,
    /// Only ports held by a program whose executable is named NAME (NAME* for a prefix).
    #[arg(long, value_name = "NAME")]
    pub process: Option<String>,
    /// Only ports this filter keeps, e.g. 'port < 1024 and not user = root' (the filter language
    /// of `list`, docs/filter.md; history keeps no state, verdict, rule or service).
    #[arg(long, value_name = "EXPR")]
    pub filter: Option<String>,
    /// Show the raw events (opened, closed, owner changed) instead of open/close spans.
    #[arg(long)]
    pub events: bool,
    /// Show the recorded scan alerts (bursts of refused connections from one source, seen by
    /// `watch` with kernel events) instead of ports.
    #[arg(long, conflicts_with = "events")]
    pub scans: bool,
    #[command(flatten)]
    pub output: crate::output::FormatArgs,
    /// History database [default: $XDG_STATE_HOME/portscope/history.db].
    #[arg(long, value_name = "PATH", env = "PORTSCOPE_DB")]
    pub db: Option<PathBuf>,
}

pub fn run(args: &HistoryArgs, ui: Ui, host: &dyn crate::platform::Platform) -> Result<ExitCode> {
    args.output.only(
        "history",
        &[crate::output::Format::Table, crate::output::Format::Json],
        false,
    )?;
    let filter_expr = super::watch::port_filter(args.filter.as_deref(), "history rows")?;
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
    if args.scans {
        return scans(
            &store,
            since,
            ui,
            host,
            args.output.format() == crate::output::Format::Json,
        );
    }
    if store.is_empty()? {
        return Err(Error::NotFound(format!(
            "{}: no event recorded yet; `portscope watch` records one when a port opens, closes or changes owner",
            path.display()
        )));
    }
    // Rows are replayed as they are read, never held as a list: a history of millions of events
    // costs what is printed, not what is stored.
    let filter = Filter { port: args.port };
    let stdout = std::io::stdout();
    let mut out = std::io::BufWriter::new(stdout.lock());
    // Said once the rows are read (a damaged stretch is found as the read reaches it): rows
    // skipped, events lost. What a damaged file still holds is shown, but the run does not pass
    // as fine (exit 4), and with nothing readable left to show it is an error.
    let damage = |store: &Store, shown: usize| -> Result<Option<ExitCode>> {
        if store.skipped_rows() > 0 {
            output::note(&format!(
                "{}: skipped {} damaged row(s) that could not be read",
                path.display(),
                store.skipped_rows()
            ));
        }
        let Some((count, first, last)) = store.lost_events() else {
            return Ok(None);
        };
        let lost = if last == i64::MAX {
            format!("the events from id {first} on")
        } else {
            format!("up to {count} event(s) (ids {first} to {last})")
        };
        if shown == 0 {
            return Err(Error::File {
                path: path.clone(),
                message: format!(
                    "the history database is damaged: {lost} could not be read, and no readable event matched"
                ),
            });
        }
        output::note(&format!(
            "{}: the history database is damaged: {lost} could not be read; showing the {shown} that could; move the file aside before recording again",
            path.display(),
        ));
        Ok(Some(ExitCode::System))
    };
    if args.events {
        let wanted = |e: &Event| {
            since.is_none_or(|s| e.time_ms >= s)
                && keeps(
                    args,
                    filter_expr.as_ref(),
                    PortRow {
                        key: &e.key,
                        netns: e.netns.as_deref(),
                        owners: [e.owner.as_ref(), e.previous.as_ref()],
                    },
                )
        };
        let mut shown = 0usize;
        if args.output.json() {
            let mut array = output::JsonArray::new(&mut out);
            store.for_each_event(&filter, |event| {
                if wanted(&event) {
                    shown += 1;
                    array.push(&event.json())?;
                }
                Ok(())
            })?;
            array.finish()?;
        } else {
            store.for_each_event(&filter, |event| {
                if wanted(&event) {
                    shown += 1;
                    let line = event.line(|t| host.local_time(t));
                    writeln!(out, "{}", crate::render::escape(&line))?;
                }
                Ok(())
            })?;
        }
        out.flush()?;
        let damaged = damage(&store, shown)?;
        return Ok(damaged.unwrap_or(found(shown > 0)));
    }

    let mut replay = history::Spans::default();
    let mut read = 0usize;
    store.for_each_event(&filter, |event| {
        read += 1;
        replay.push(event);
        Ok(())
    })?;
    let damaged = damage(&store, read)?;
    let spans: Vec<Span> = replay
        .finish()
        .into_iter()
        .filter(|s| since.is_none_or(|since| s.closed_ms.is_none_or(|c| c >= since)))
        .filter(|s| {
            keeps(
                args,
                filter_expr.as_ref(),
                PortRow {
                    key: &s.key,
                    netns: s.netns.as_deref(),
                    owners: [s.owner.as_deref(), None],
                },
            )
        })
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
    if args.output.json() {
        // Streamed in a pipe: the spans are held once, not again as JSON rows.
        let rows = spans.iter().zip(&gone).map(|(s, &gone)| SpanJson::of(s, gone));
        output::json_array(&mut out, rows)?;
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
    Ok(damaged.unwrap_or(found(!spans.is_empty())))
}

/// Nothing in the history matched the filters: "nothing found" (exit 6), as README's table says.
fn found(any: bool) -> ExitCode {
    if any { ExitCode::Ok } else { ExitCode::NotFound }
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

/// Whether `--process` and `--filter` keep a row (an event, or a span of one owner).
fn keeps(args: &HistoryArgs, filter: Option<&Expression>, row: PortRow<'_>) -> bool {
    let process_ok = args
        .process
        .as_deref()
        .is_none_or(|name| row.owners.into_iter().flatten().any(|o| o.matches_name(name)));
    process_ok && filter.is_none_or(|f| f.matches(&row))
}

/// A span for scripts: times in RFC 3339 UTC, `null` when unknown (opened before the history
/// begins) or not yet (still open).
#[derive(Serialize)]
struct SpanJson<'a> {
    protocol: crate::model::Protocol,
    address: std::net::IpAddr,
    port: u16,
    remote: Option<String>,
    /// The namespace when it is not the recorder's own: label, inode, name and kind.
    #[serde(skip_serializing_if = "Option::is_none")]
    netns: Option<crate::model::LabelledNetns>,
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
            netns: watch::netns_for(&span.key, span.netns.as_ref()).map(|n| n.labelled()),
            owner: span.owner.as_deref(),
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
    // A NETNS column when some port was in another namespace than the recorder's.
    let netns = spans.iter().any(|s| s.key.netns != 0);
    let mut header = vec!["PROTO", "LOCAL", "PID/PROGRAM", "USER", "OPENED", "CLOSED"];
    if netns {
        header.insert(0, "NETNS");
    }
    let mut table = Table::new(header);
    for (span, &gone) in spans.iter().zip(gone) {
        let local = match span.key.remote {
            Some(remote) => format!("{} -> {remote}", span.key.local()),
            None => span.key.local().to_string(),
        };
        let (who, user) = match span.owner.as_deref() {
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
        let mut row: Vec<Cell> = Vec::new();
        if netns {
            row.push(
                watch::netns_for(&span.key, span.netns.as_ref())
                    .map_or("-".to_string(), |n| n.short_label())
                    .into(),
            );
        }
        row.extend([
            span.key.protocol.as_str().into(),
            local.into(),
            Cell::painted(who, Color::Bold),
            user.into(),
            opened.into(),
            closed,
        ]);
        table.push(row);
    }
    table
}

/// `history --scans`: the recorded scan alerts, as watch printed them; exit 6 when there are none.
fn scans(
    store: &Store,
    since: Option<i64>,
    ui: Ui,
    host: &dyn crate::platform::Platform,
    json: bool,
) -> Result<ExitCode> {
    let alerts = store.scans(since)?;
    let stdout = std::io::stdout();
    let mut out = stdout.lock();
    if json {
        let rows: Vec<super::watch_events::AlertJson<'_>> =
            alerts.iter().map(super::watch_events::AlertJson::of).collect();
        serde_json::to_writer_pretty(&mut out, &rows).map_err(|e| Error::io("writing JSON", e.into()))?;
        writeln!(out)?;
    } else {
        for alert in &alerts {
            writeln!(out, "{}", super::watch::scan_line(ui, host, alert))?;
        }
    }
    if alerts.is_empty() {
        return Err(Error::NotFound(format!(
            "{}: no scan recorded{}",
            store.path().display(),
            if since.is_some() { " in that time" } else { "" }
        )));
    }
    Ok(ExitCode::Ok)
}
