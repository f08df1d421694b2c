//! One collection — snapshot, audit, port events — over a [`Platform`], cached.
//!
//! A scrape storm must not burn CPU: a collection walks every process's descriptors and runs the
//! audit, so its result (both encodings, ready to send) is kept for `cache_for` (at least one
//! second). Scrapes that arrive while a collection runs wait for it and share its result, so at
//! most one collection runs at a time. Port events are counted by diffing each collection's
//! listening ports against the previous one's, as `watch` does.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use portscope_core::Platform;
use portscope_core::audit::{self, expected::Expected};
use portscope_core::baseline::Baseline;
use portscope_core::platform::Query;
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
    expected: Expected,
    options: audit::Options,
    baseline: Option<Baseline>,
    netns: String,
    cache_for: Duration,
    version: &'static str,
    state: Mutex<State>,
}

#[derive(Default)]
struct State {
    last: Option<(Instant, Arc<Exposition>)>,
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
        let expected = Expected::built_in().map_err(|e| e.to_string())?;
        Ok(Collector {
            platform,
            expected,
            options,
            baseline,
            // Unsupported or unreadable: the label is empty, as when the namespace is unknown.
            netns: platform.network_namespace().ok().flatten().unwrap_or_default(),
            cache_for: cache_for.max(MIN_CACHE),
            version,
            state: Mutex::new(State::default()),
        })
    }

    fn collect(&self, state: &mut State) -> Result<Arc<Exposition>, String> {
        let started = Instant::now();
        let snapshot = self
            .platform
            .snapshot(&Query::default())
            .map_err(|e| e.to_string())?;
        let report =
            audit::run(self.platform, &snapshot, &self.expected, &self.options).map_err(|e| e.to_string())?;
        let now = PortTable::from_snapshot(&snapshot, false);
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
            snapshot: &snapshot,
            report: &report,
            names: &self.options.names,
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
}
