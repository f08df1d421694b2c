//! One destination for alerts, off the watch loop: a bounded queue and a sender thread.
//!
//! The watcher only ever queues ([`Sink::submit`]: a lock held for one push, never a write to a
//! socket), so a receiver that is slow, absent or hung cannot delay a poll, a print or a stop.
//! The thread delivers one alert at a time, in order, trying each up to [`Policy::attempts`]
//! times with an exponential backoff capped at [`Policy::max_backoff`]; an alert that still fails
//! is given up and counted. When the queue is full, a waiting alert less severe than the new one
//! gives way (an `opened` flood cannot push out a scan alert), else the new one is dropped; either
//! way the drop is counted and the watcher says so once per burst of drops.

use std::collections::VecDeque;
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use super::Alert;

/// What one try at delivering an alert came to.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Outcome {
    Delivered,
    /// Worth trying again later (no connection, a timeout, a 503), with why.
    Retry(String),
    /// Trying again would fail the same way (a 404), with why.
    GiveUp(String),
}

/// Delivers one alert; implemented by the syslog and webhook senders (and by test doubles).
pub trait Deliver: Send + 'static {
    /// What this sink is called in notes: `webhook http://…`, `syslog /dev/log`.
    fn name(&self) -> String;
    fn deliver(&mut self, alert: &Alert) -> Outcome;
}

/// How much a sink keeps and how hard it tries.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Policy {
    /// Alerts waiting at most.
    pub capacity: usize,
    /// Tries per alert, the first included.
    pub attempts: u32,
    /// The wait after the first failure; doubled after each further one.
    pub first_backoff: Duration,
    pub max_backoff: Duration,
}

impl Default for Policy {
    fn default() -> Policy {
        Policy {
            capacity: 1_000,
            attempts: 5,
            first_backoff: Duration::from_millis(500),
            max_backoff: Duration::from_secs(8),
        }
    }
}

impl Policy {
    /// The wait after failed try number `failed` (1, 2, …): 0.5 s, 1 s, 2 s, 4 s, 8 s, 8 s…
    pub fn backoff(&self, failed: u32) -> Duration {
        let doubled = self
            .first_backoff
            .checked_mul(1u32 << failed.saturating_sub(1).min(20))
            .unwrap_or(self.max_backoff);
        doubled.min(self.max_backoff)
    }
}

/// The alerts waiting, bounded: [`Queue::push`] says whether one was dropped.
#[derive(Debug)]
pub struct Queue {
    alerts: VecDeque<Alert>,
    capacity: usize,
}

impl Queue {
    pub fn new(capacity: usize) -> Queue {
        Queue {
            alerts: VecDeque::new(),
            capacity: capacity.max(1),
        }
    }

    /// Queues `alert`; when full, the newest of the least severe waiting alerts gives way if it is
    /// less severe than `alert`, else `alert` is dropped. Returns whether an alert was dropped.
    pub fn push(&mut self, alert: Alert) -> bool {
        if self.alerts.len() < self.capacity {
            self.alerts.push_back(alert);
            return false;
        }
        let least = self.alerts.iter().map(|a| a.severity).max();
        if let Some(least) = least.filter(|least| *least > alert.severity)
            && let Some(at) = self.alerts.iter().rposition(|a| a.severity == least)
        {
            self.alerts.remove(at);
            self.alerts.push_back(alert);
        }
        true
    }

    pub fn pop(&mut self) -> Option<Alert> {
        self.alerts.pop_front()
    }

    pub fn len(&self) -> usize {
        self.alerts.len()
    }

    pub fn is_empty(&self) -> bool {
        self.alerts.is_empty()
    }
}

/// What a sink did, for the notes and the summary at exit.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, serde::Serialize)]
pub struct Counts {
    pub delivered: u64,
    /// Dropped because the queue was full.
    pub dropped: u64,
    /// Given up after every try failed, or refused by the receiver.
    pub failed: u64,
    /// Still queued when the grace time after stopping ran out.
    pub unsent: u64,
}

struct State {
    queue: Queue,
    counts: Counts,
    /// Set when watching stops: no more alerts come; deliver what waits until then.
    deadline: Option<Instant>,
    /// An alert is being delivered (taken from the queue, not yet counted).
    in_flight: bool,
    /// The sender thread has ended.
    done: bool,
}

/// How long a stop waits, past the deadline, for a delivery under way (a connect or a read may
/// take its whole timeout) before leaving the sender thread behind.
const LINGER: Duration = Duration::from_secs(1);

type Shared = Arc<(Mutex<State>, Condvar)>;

fn lock(shared: &Shared) -> MutexGuard<'_, State> {
    shared.0.lock().unwrap_or_else(|e| e.into_inner())
}

/// A running sink: the queue and its sender thread.
pub struct Sink {
    name: String,
    shared: Shared,
    worker: Option<std::thread::JoinHandle<()>>,
    /// Drops already told to the watcher ([`Sink::take_dropped`]).
    seen_dropped: u64,
}

impl Sink {
    /// Starts the sender thread.
    pub fn start(policy: Policy, deliver: impl Deliver) -> std::io::Result<Sink> {
        let name = deliver.name();
        let shared: Shared = Arc::new((
            Mutex::new(State {
                queue: Queue::new(policy.capacity),
                counts: Counts::default(),
                deadline: None,
                in_flight: false,
                done: false,
            }),
            Condvar::new(),
        ));
        let theirs = shared.clone();
        let worker = std::thread::Builder::new()
            .name("watch-alerts".into())
            .spawn(move || {
                let _done = Done(&theirs);
                send_all(&theirs, policy, deliver);
            })?;
        Ok(Sink {
            name,
            shared,
            worker: Some(worker),
            seen_dropped: 0,
        })
    }

    pub fn name(&self) -> &str {
        &self.name
    }

    /// Queues `alert` for the sender; never waits for it.
    pub fn submit(&self, alert: Alert) {
        let mut state = lock(&self.shared);
        if state.queue.push(alert) {
            state.counts.dropped += 1;
        }
        drop(state);
        self.shared.1.notify_all();
    }

    /// Drops since the last call.
    pub fn take_dropped(&mut self) -> u64 {
        let dropped = lock(&self.shared).counts.dropped;
        let new = dropped - self.seen_dropped;
        self.seen_dropped = dropped;
        new
    }

    /// What it did so far.
    pub fn counts(&self) -> Counts {
        lock(&self.shared).counts
    }

    /// Stops: what is queued is still delivered until `deadline`; what is left then is counted as
    /// unsent. A delivery still under way [`LINGER`] after the deadline (a server that hangs) is
    /// not waited for: its thread is left behind, and its alert counted as unsent. Returns the
    /// final counts.
    pub fn finish(mut self, deadline: Instant) -> Counts {
        let mut state = lock(&self.shared);
        state.deadline = Some(deadline);
        self.shared.1.notify_all();
        let give_up = deadline + LINGER;
        while !state.done {
            let now = Instant::now();
            if now >= give_up {
                break;
            }
            state = self
                .shared
                .1
                .wait_timeout(state, give_up - now)
                .unwrap_or_else(|e| e.into_inner())
                .0;
        }
        let ended = state.done;
        state.counts.unsent += state.queue.len() as u64 + u64::from(state.in_flight);
        let counts = state.counts;
        drop(state);
        if let Some(worker) = self.worker.take()
            && ended
        {
            let _ = worker.join();
        }
        counts
    }
}

/// Marks the sender thread as ended when it returns (or panics), and wakes a waiting stop.
struct Done<'a>(&'a Shared);

impl Drop for Done<'_> {
    fn drop(&mut self) {
        lock(self.0).done = true;
        self.0.1.notify_all();
    }
}

/// The sender thread: alerts in order, each tried up to `policy.attempts` times. It speaks once
/// per outage: when tries start failing, at the first alert given up, and when delivery resumes
/// (with how many more were given up meanwhile), never once per alert.
fn send_all(shared: &Shared, policy: Policy, mut deliver: impl Deliver) {
    let name = deliver.name();
    // Since the last delivery: tries failed; an alert was given up (and said so); how many more.
    let (mut failing, mut gave_up, mut quietly) = (false, false, 0u64);
    loop {
        let alert = {
            let mut state = lock(shared);
            loop {
                if state.deadline.is_some_and(|d| Instant::now() >= d) {
                    return;
                }
                if let Some(alert) = state.queue.pop() {
                    state.in_flight = true;
                    break alert;
                }
                if state.deadline.is_some() {
                    return;
                }
                state = shared.1.wait(state).unwrap_or_else(|e| e.into_inner());
            }
        };
        let mut tries = 0;
        let outcome = loop {
            tries += 1;
            match deliver.deliver(&alert) {
                Outcome::Retry(why) if tries < policy.attempts => {
                    if !failing {
                        failing = true;
                        crate::output::note(&format!("{name}: {why}; retrying with backoff"));
                    }
                    if !pause(shared, policy.backoff(tries)) {
                        // Stopped while waiting to try again: the alert counts as unsent.
                        let mut state = lock(shared);
                        state.queue.alerts.push_front(alert);
                        state.in_flight = false;
                        return;
                    }
                }
                outcome => break outcome,
            }
        };
        let mut state = lock(shared);
        state.in_flight = false;
        match outcome {
            Outcome::Delivered => {
                state.counts.delivered += 1;
                drop(state);
                if failing || gave_up {
                    let meanwhile = match std::mem::take(&mut quietly) {
                        0 => String::new(),
                        n => format!("; {n} more event(s) were given up meanwhile"),
                    };
                    crate::output::note(&format!("{name}: delivering again{meanwhile}"));
                }
                (failing, gave_up) = (false, false);
            }
            Outcome::Retry(why) | Outcome::GiveUp(why) => {
                state.counts.failed += 1;
                drop(state);
                if gave_up {
                    quietly += 1;
                } else {
                    gave_up = true;
                    crate::output::note(&format!(
                        "{name}: gave up on one {} event after {tries} tries ({why})",
                        alert.kind
                    ));
                }
            }
        }
    }
}

/// Waits `wait`, unless the stop deadline comes first; false when it did.
fn pause(shared: &Shared, wait: Duration) -> bool {
    let until = Instant::now() + wait;
    let mut state = lock(shared);
    loop {
        let now = Instant::now();
        if state.deadline.is_some_and(|d| now >= d) {
            return false;
        }
        if now >= until {
            return true;
        }
        let left = until - now;
        let left = state.deadline.map_or(left, |d| left.min(d - now));
        state = shared
            .1
            .wait_timeout(state, left)
            .unwrap_or_else(|e| e.into_inner())
            .0;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::alert::Severity;

    fn alert(kind: &str, severity: Severity) -> Alert {
        Alert {
            kind: kind.into(),
            severity,
            time_ms: 0,
            message: kind.into(),
            json: serde_json::json!({ "event": kind }),
        }
    }

    #[test]
    fn backoff_doubles_up_to_its_cap() {
        let policy = Policy::default();
        let waits: Vec<u64> = (1..=7).map(|n| policy.backoff(n).as_millis() as u64).collect();
        assert_eq!(waits, [500, 1000, 2000, 4000, 8000, 8000, 8000]);
        assert_eq!(policy.backoff(u32::MAX), policy.max_backoff);
    }

    #[test]
    fn a_full_queue_drops_the_least_severe_or_the_new_alert() {
        let mut queue = Queue::new(3);
        assert!(!queue.push(alert("opened-1", Severity::Notice)));
        assert!(!queue.push(alert("closed-1", Severity::Info)));
        assert!(!queue.push(alert("opened-2", Severity::Notice)));
        // A scan takes the place of the close; the next close is dropped itself.
        assert!(queue.push(alert("scan", Severity::Warning)));
        assert!(queue.push(alert("closed-2", Severity::Info)));
        // Another scan: the newest notice gives way.
        assert!(queue.push(alert("scan-2", Severity::Warning)));
        let kinds: Vec<String> = std::iter::from_fn(|| queue.pop()).map(|a| a.kind).collect();
        assert_eq!(kinds, ["opened-1", "scan", "scan-2"]);
    }

    /// Fails the first `failures` tries, then delivers; records what it delivered.
    struct Flaky {
        failures: u32,
        got: Arc<Mutex<Vec<String>>>,
    }

    impl Deliver for Flaky {
        fn name(&self) -> String {
            "test sink".into()
        }
        fn deliver(&mut self, alert: &Alert) -> Outcome {
            if self.failures > 0 {
                self.failures -= 1;
                return Outcome::Retry("not yet".into());
            }
            if alert.kind == "refused" {
                return Outcome::GiveUp("404".into());
            }
            self.got.lock().unwrap().push(alert.kind.clone());
            Outcome::Delivered
        }
    }

    #[test]
    fn retries_deliver_in_order_and_refusals_are_counted() {
        let got = Arc::new(Mutex::new(Vec::new()));
        let policy = Policy {
            first_backoff: Duration::from_millis(1),
            ..Policy::default()
        };
        let sink = Sink::start(
            policy,
            Flaky {
                failures: 3,
                got: got.clone(),
            },
        )
        .unwrap();
        for kind in ["a", "refused", "b"] {
            sink.submit(alert(kind, Severity::Notice));
        }
        let counts = sink.finish(Instant::now() + Duration::from_secs(30));
        assert_eq!(*got.lock().unwrap(), ["a", "b"]);
        assert_eq!(
            counts,
            Counts {
                delivered: 2,
                dropped: 0,
                failed: 1,
                unsent: 0
            }
        );
    }

    #[test]
    fn an_alert_that_never_goes_through_is_given_up_after_its_tries() {
        let got = Arc::new(Mutex::new(Vec::new()));
        let policy = Policy {
            first_backoff: Duration::from_millis(1),
            attempts: 3,
            ..Policy::default()
        };
        let sink = Sink::start(
            policy,
            Flaky {
                failures: 3,
                got: got.clone(),
            },
        )
        .unwrap();
        sink.submit(alert("lost", Severity::Notice));
        sink.submit(alert("kept", Severity::Notice));
        let counts = sink.finish(Instant::now() + Duration::from_secs(30));
        assert_eq!(*got.lock().unwrap(), ["kept"]);
        assert_eq!((counts.delivered, counts.failed), (1, 1));
    }

    #[test]
    fn a_stop_during_the_backoff_leaves_the_alert_unsent_not_failed() {
        let policy = Policy {
            first_backoff: Duration::from_secs(3600),
            max_backoff: Duration::from_secs(3600),
            ..Policy::default()
        };
        let got = Arc::new(Mutex::new(Vec::new()));
        let sink = Sink::start(
            policy,
            Flaky {
                failures: u32::MAX,
                got: got.clone(),
            },
        )
        .unwrap();
        sink.submit(alert("waiting", Severity::Notice));
        sink.submit(alert("queued", Severity::Notice));
        let counts = sink.finish(Instant::now() + Duration::from_millis(50));
        assert!(got.lock().unwrap().is_empty());
        assert_eq!(
            counts,
            Counts {
                unsent: 2,
                ..Counts::default()
            }
        );
    }

    /// Never returns: a server that accepted and hangs, as far as the sender can tell.
    struct Hung;

    impl Deliver for Hung {
        fn name(&self) -> String {
            "hung sink".into()
        }
        fn deliver(&mut self, _alert: &Alert) -> Outcome {
            loop {
                std::thread::park();
            }
        }
    }

    #[test]
    fn a_delivery_that_hangs_does_not_hold_up_the_stop() {
        let sink = Sink::start(Policy::default(), Hung).unwrap();
        sink.submit(alert("stuck", Severity::Notice));
        sink.submit(alert("behind", Severity::Notice));
        // Once the sender has taken the first alert, the stop cannot wait for it to come back.
        while lock(&sink.shared).queue.len() > 1 {
            std::thread::yield_now();
        }
        let counts = sink.finish(Instant::now());
        assert_eq!(
            counts,
            Counts {
                unsent: 2,
                ..Counts::default()
            }
        );
    }
}
