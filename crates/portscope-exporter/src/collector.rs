//! One collection — the core's inspection (snapshot and audit, refreshed cheaply while nothing
//! changed), port events — over a [`Platform`], cached.
//!
//! A scrape storm must not burn CPU: a collection walks every process's descriptors and runs the
//! audit, so its result (both encodings, ready to send) is kept for `cache_for` (at least one
//! second). Scrapes that arrive while a collection runs wait for it and share its result, so at
//! most one collection runs at a time. Port events are counted by diffing each collection's
//! listening ports against the previous one's, as `watch` does.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use portscope_core::Platform;
use portscope_core::audit;
use portscope_core::baseline::Baseline;
use portscope_core::filter::Expression;
use portscope_core::inspect::{self, Refresher};
use portscope_core::knowledge::ServiceSides;
use portscope_core::model::Snapshot;
use portscope_core::watch::{self, PortTable};

use crate::metrics::{self, EventCounts, Inputs};

/// The shortest time a collection is reused for.
pub const MIN_CACHE: Duration = Duration::from_secs(1);

/// One exposition in both formats.
#[derive(Debug)]
pub struct Exposition {
    /// Shared, so that a response sends it without a copy.
    pub openmetrics: Arc<str>,
    pub classic: Arc<str>,
    /// Processes whose sockets could not be read, for the one note at start.
    pub unreadable_processes: usize,
}

/// Where metrics come from; the HTTP server and the textfile writer only see this.
pub trait Source: Send + Sync {
    /// The current exposition, or one line saying why there is none.
    fn scrape(&self) -> Result<Arc<Exposition>, String>;
}

/// Collects from a platform, at most once per `cache_for`.
pub struct Collector {
    platform: &'static dyn Platform,
    /// Every kind of socket, judged by the audit with the user's allow-list and names.
    options: inspect::Options,
    baseline: Option<Baseline>,
    netns: String,
    cache_for: Duration,
    version: &'static str,
    /// `--filter`: the sockets the metrics describe (the audit's findings stay whole).
    filter: Option<Expression>,
    state: Mutex<State>,
}

#[derive(Default)]
struct State {
    last: Option<(Instant, Arc<Exposition>)>,
    /// The repeated look `top` and `watch` share: a full inspection only when sockets or owners
    /// changed.
    refresher: Option<Refresher<'static>>,
    ports: Option<PortTable>,
    events: EventCounts,
}

impl Collector {
    /// `options` are the audit's (allow-list, service names); `cache_for` is raised to
    /// [`MIN_CACHE`] if shorter.
    pub fn new(
        platform: &'static dyn Platform,
        options: audit::Options,
        baseline: Option<Baseline>,
        cache_for: Duration,
        version: &'static str,
    ) -> Result<Collector, String> {
        Ok(Collector {
            platform,
            options: inspect::Options::everything(options),
            baseline,
            // Unsupported or unreadable: the label is empty, as when the namespace is unknown.
            netns: platform.network_namespace().ok().flatten().unwrap_or_default(),
            cache_for: cache_for.max(MIN_CACHE),
            version,
            filter: None,
            state: Mutex::new(State::default()),
        })
    }

    /// Describes only the sockets `filter` keeps (`exporter --filter`).
    pub fn with_filter(mut self, filter: Option<Expression>) -> Collector {
        self.filter = filter;
        self
    }

    fn collect(&self, state: &mut State) -> Result<Arc<Exposition>, String> {
        let started = Instant::now();
        let refresher = state
            .refresher
            .get_or_insert_with(|| Refresher::new(self.platform, self.options.clone()));
        let inspection = refresher.look().map_err(|e| e.to_string())?.inspection();
        let (mut snapshot, report) = (&inspection.snapshot, &inspection.report);
        let kept;
        if let Some(filter) = &self.filter {
            let names = &self.options.audit.names;
            let sides = ServiceSides::new(&snapshot.sockets, self.platform.ephemeral_ports());
            kept = Snapshot {
                sockets: snapshot
                    .sockets
                    .iter()
                    .filter(|s| filter.keeps(inspection, s, names, &sides))
                    .cloned()
                    .collect(),
                ..snapshot.clone()
            };
            snapshot = &kept;
        }
        let now = PortTable::from_snapshot(snapshot, false);
        let baseline = self.baseline.as_ref().map(|b| b.check(&now));
        state.ports = Some(match state.ports.take() {
            Some(before) => {
                // `next` keeps an owner that vanished a moment before its port closes, as watch does.
                let (events, next) = watch::diff(&before, &now, 0);
                state.events.add(&events);
                next
            }
            None => now,
        });
        let (openmetrics, classic) = metrics::both(&Inputs {
            snapshot,
            report,
            names: &self.options.audit.names,
            netns: &self.netns,
            events: state.events,
            collect_seconds: started.elapsed().as_secs_f64(),
            version: self.version,
            baseline: baseline.as_ref(),
        });
        Ok(Arc::new(Exposition {
            openmetrics: openmetrics.into(),
            classic: classic.into(),
            unreadable_processes: snapshot.unreadable_processes,
        }))
    }
}

impl Source for Collector {
    fn scrape(&self) -> Result<Arc<Exposition>, String> {
        // A panic in another scrape's collection poisons the lock; the state is still consistent
        // (it is only replaced whole), so go on with it.
        let mut state = self.state.lock().unwrap_or_else(|p| p.into_inner());
        if let Some((at, exposition)) = &state.last
            && at.elapsed() < self.cache_for
        {
            return Ok(exposition.clone());
        }
        let exposition = self.collect(&mut state)?;
        state.last = Some((Instant::now(), exposition.clone()));
        Ok(exposition)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use portscope_fixture::FixturePlatform;

    const HOST: &str = r#"
[packages]
"/usr/bin/python3.11" = "python3.11-minimal"

[[process]]
pid = 53
name = "python3"
exe = "/usr/bin/python3.11"

[[socket]]
local = "127.0.0.1:31337"
state = "LISTEN"
holders = [53]
"#;

    #[test]
    fn collects_through_the_platform_and_caches() {
        let platform: &'static FixturePlatform =
            Box::leak(Box::new(FixturePlatform::from_toml(HOST).unwrap()));
        let collector = Collector::new(
            platform,
            audit::Options::default(),
            None,
            Duration::from_secs(60),
            "test",
        )
        .unwrap();
        let first = collector.scrape().unwrap();
        let text = &first.classic;
        let line = text
            .lines()
            .find(|l| l.starts_with("portscope_listening_socket_info{"))
            .expect("the listener is exported");
        let labels = metrics::parse_labels(line).unwrap();
        assert_eq!(labels["port"], "31337");
        assert_eq!(labels["process"], "python3");
        assert_eq!(labels["exe"], "/usr/bin/python3.11");
        assert!(
            text.contains("portscope_audit_findings{severity=\"warning\",rule=\"abuse-port\"} 1"),
            "{text}"
        );
        let again = collector.scrape().unwrap();
        assert!(
            Arc::ptr_eq(&first, &again),
            "a second scrape within --cache reuses the first"
        );
    }

    #[test]
    fn a_filter_narrows_the_sockets_described_not_the_findings() {
        let host = format!(
            "{HOST}\n[[process]]\npid = 80\nname = \"nginx\"\nexe = \"/usr/sbin/nginx\"\n\
             [[socket]]\nlocal = \"0.0.0.0:8080\"\nstate = \"LISTEN\"\nholders = [80]\n"
        );
        let platform: &'static FixturePlatform =
            Box::leak(Box::new(FixturePlatform::from_toml(&host).unwrap()));
        let scrape = |filter: Option<&str>| {
            let collector = Collector::new(
                platform,
                audit::Options::default(),
                None,
                Duration::from_secs(60),
                "test",
            )
            .unwrap()
            .with_filter(filter.map(|f| Expression::parse(f).unwrap()));
            collector.scrape().unwrap().classic.to_string()
        };
        // The ports described, in a fixed order (series order follows their labels).
        let ports = |text: &str| -> Vec<String> {
            let mut ports: Vec<String> = text
                .lines()
                .filter(|l| l.starts_with("portscope_listening_socket_info{"))
                .map(|l| metrics::parse_labels(l).unwrap()["port"].clone())
                .collect();
            ports.sort();
            ports
        };
        assert_eq!(ports(&scrape(None)), ["31337", "8080"]);
        let text = scrape(Some("program = nginx"));
        assert_eq!(ports(&text), ["8080"]);
        assert!(
            text.contains("portscope_audit_findings{severity=\"warning\",rule=\"abuse-port\"} 1"),
            "{text}"
        );
        assert_eq!(ports(&scrape(Some("rule = abuse-port"))), ["31337"]);
    }
}
