//! `watch --syslog` and `watch --webhook`: the watcher's side of the alert sinks ([`crate::alert`]).
//!
//! Each reported event is queued to every sink; the sinks deliver from threads of their own. After
//! each look the watcher asks each sink for drops and says so once per burst (when drops start, and
//! with the burst's total when a look brings none), on stderr and, with `--json-lines`, as a
//! `sink_dropped` line; at exit one summary per sink (a `sink_stats` line in JSON).

use std::io::Write;
use std::path::PathBuf;
use std::time::Instant;

use clap::Args;
use serde::Serialize;

use crate::alert::http::{self, Url};
use crate::alert::sink::{Counts, Policy, Sink};
use crate::alert::syslog::{self, Syslog};
use crate::alert::webhook::Webhook;
use crate::alert::{Alert, Facility};
use crate::error::{Error, Result};
use crate::output;

/// The alert flags of `watch`.
#[derive(Args, Debug, Clone)]
pub struct AlertArgs {
    /// Send each reported event to the local syslog (RFC 5424 with structured data, /dev/log).
    #[arg(long)]
    pub syslog: bool,
    /// The syslog facility: daemon, user, local0 … local7, auth, authpriv…
    #[arg(long, value_name = "NAME", default_value = "daemon", value_parser = parse_facility)]
    pub syslog_facility: Facility,
    /// Send to this unix datagram socket instead of /dev/log (implies --syslog).
    #[arg(long, value_name = "PATH")]
    pub syslog_socket: Option<PathBuf>,
    /// POST each reported event's JSON to this http:// URL (https: through a local relay).
    #[arg(long, value_name = "URL", value_parser = parse_url)]
    pub webhook: Option<Url>,
    /// Events that may wait for the webhook before new ones are dropped (and counted).
    #[arg(long, value_name = "N", default_value_t = 1000, value_parser = clap::value_parser!(u32).range(1..=1_000_000), requires = "webhook")]
    pub webhook_queue: u32,
    /// An extra header for each webhook request, e.g. 'Authorization: Bearer …' (repeatable).
    #[arg(long, value_name = "'NAME: VALUE'", value_parser = http::header, requires = "webhook")]
    pub webhook_header: Vec<(String, String)>,
}

fn parse_facility(text: &str) -> std::result::Result<Facility, String> {
    Facility::parse(text)
        .ok_or_else(|| format!("unknown facility; one of {}", crate::alert::FACILITIES.join(", ")))
}

fn parse_url(text: &str) -> std::result::Result<Url, String> {
    Url::parse(text)
}

/// Events that may wait for syslog.
const SYSLOG_QUEUE: usize = 1_000;

/// One sink and the drops of its current burst.
struct Running {
    /// `webhook` or `syslog`, as JSON lines name it.
    kind: &'static str,
    sink: Sink,
    capacity: usize,
    burst: u64,
}

/// The sinks of one watch.
#[derive(Default)]
pub struct Alerts {
    sinks: Vec<Running>,
}

impl Alerts {
    /// Starts the sinks the flags ask for (none: nothing runs).
    pub fn start(args: &AlertArgs) -> Result<Alerts> {
        let mut sinks = Vec::new();
        let start = |policy: Policy, sink: std::io::Result<Sink>, kind| {
            sink.map(|sink| Running {
                kind,
                sink,
                capacity: policy.capacity,
                burst: 0,
            })
            .map_err(|e| Error::io("starting an alert sender", e))
        };
        if args.syslog || args.syslog_socket.is_some() {
            let path = args
                .syslog_socket
                .clone()
                .unwrap_or_else(|| syslog::DEFAULT_SOCKET.into());
            let policy = Policy {
                capacity: SYSLOG_QUEUE,
                ..Policy::default()
            };
            let sender = Syslog::new(path, args.syslog_facility);
            sinks.push(start(policy, Sink::start(policy, sender), "syslog")?);
        }
        if let Some(url) = &args.webhook {
            let policy = Policy {
                capacity: args.webhook_queue as usize,
                ..Policy::default()
            };
            let sender = Webhook::new(url.clone(), args.webhook_header.clone());
            sinks.push(start(policy, Sink::start(policy, sender), "webhook")?);
        }
        Ok(Alerts { sinks })
    }

    pub fn is_empty(&self) -> bool {
        self.sinks.is_empty()
    }

    /// Queues `alert` to every sink; never waits.
    pub fn submit(&self, alert: &Alert) {
        for running in &self.sinks {
            running.sink.submit(alert.clone());
        }
    }

    /// Says once per burst that a sink drops events: when the drops start, and with the total
    /// when a look brings no more.
    pub fn report_drops(&mut self, json_lines: bool) -> Result<()> {
        for running in &mut self.sinks {
            let new = running.sink.take_dropped();
            if new > 0 {
                if running.burst == 0 {
                    output::note(&format!(
                        "{}: {} events wait already; dropping events until it catches up (watching goes on)",
                        running.sink.name(),
                        running.capacity
                    ));
                }
                running.burst += new;
                continue;
            }
            if running.burst == 0 {
                continue;
            }
            let burst = std::mem::take(&mut running.burst);
            output::note(&format!(
                "{}: {burst} event(s) were dropped ({} in all)",
                running.sink.name(),
                running.sink.counts().dropped
            ));
            if json_lines {
                line(SinkDropped {
                    time: now(),
                    event: "sink_dropped",
                    sink: running.kind,
                    dropped: burst,
                    dropped_total: running.sink.counts().dropped,
                })?;
            }
        }
        Ok(())
    }

    /// Stops every sink: what waits may still go out until `deadline`. One summary each.
    pub fn finish(self, deadline: Instant, json_lines: bool) -> Result<()> {
        for running in self.sinks {
            let name = running.sink.name().to_string();
            let counts = running.sink.finish(deadline);
            output::note(&summary(&name, &counts));
            if json_lines {
                line(SinkStats {
                    time: now(),
                    event: "sink_stats",
                    sink: running.kind,
                    counts,
                })?;
            }
        }
        Ok(())
    }
}

fn summary(name: &str, counts: &Counts) -> String {
    format!(
        "{name}: {} delivered, {} dropped (queue full), {} failed (after every try), {} unsent at stop",
        counts.delivered, counts.dropped, counts.failed, counts.unsent
    )
}

/// `--json-lines`: the end of a burst of drops.
#[derive(Serialize)]
struct SinkDropped {
    time: String,
    event: &'static str,
    sink: &'static str,
    /// In this burst.
    dropped: u64,
    /// Since watch started.
    dropped_total: u64,
}

/// `--json-lines`: what a sink did, at exit.
#[derive(Serialize)]
struct SinkStats {
    time: String,
    event: &'static str,
    sink: &'static str,
    #[serde(flatten)]
    counts: Counts,
}

fn now() -> String {
    portscope_core::time::rfc3339(portscope_core::time::now_ms())
}

fn line(value: impl Serialize) -> Result<()> {
    let mut out = std::io::stdout().lock();
    output::json_lines(&mut out, [value])?;
    out.flush()?;
    Ok(())
}
