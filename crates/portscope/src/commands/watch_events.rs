//! watch's kernel events: the platform's event source read on a thread of its own, merged into
//! the port table between polls ([`watch::merge`]), and refused connections folded into scan
//! alerts ([`watch::probes`]). Without an event source (no privileges, no BTF, another platform)
//! watch says so once and polls as before.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc::{Receiver, SyncSender, TrySendError};
use std::time::Duration;

use portscope_core::time;
use portscope_core::watch::kernel::{BATCH_WAIT, EventStream, KernelEvent};
use portscope_core::watch::merge::EventMerge;
use portscope_core::watch::probes::{ScanAlert, ScanDetector, Thresholds};

use crate::output;
use crate::platform::Platform;
use crate::watch::{Event, PortTable};

/// Events waiting between the reader thread and the watch loop; beyond, they are dropped and
/// counted with the kernel's own drops.
const QUEUE: usize = 65_536;

/// How often the loop looks at the events when they are on.
pub const TICK: Duration = Duration::from_millis(50);

/// The running event source, as the watch loop sees it.
pub struct Kernel {
    events: Receiver<KernelEvent>,
    /// Events lost: the kernel's buffer was full, or the queue to this loop.
    lost: Arc<AtomicU64>,
    reported_lost: u64,
    merge: EventMerge,
    detector: ScanDetector,
}

/// Starts the event source unless `disabled`; says once on stderr what is not seen and why.
pub fn start(
    host: &dyn Platform,
    disabled: bool,
    own_netns: u64,
    thresholds: Thresholds,
    interval: Duration,
) -> Option<Kernel> {
    let every = humantime::format_duration(interval);
    if disabled {
        output::note(&format!(
            "kernel socket events are off (--no-events); ports open for less than {every} may be missed"
        ));
        return None;
    }
    let stream = match host.events() {
        Err(unsupported) => {
            output::note(&format!(
                "{unsupported}: ports open for less than {every} may be missed, and scans are not detected"
            ));
            return None;
        }
        Ok(Err(why)) => {
            output::note(&format!(
                "{why}: ports open for less than {every} may be missed, and scans are not detected; polling every {every}"
            ));
            return None;
        }
        Ok(Ok(stream)) => stream,
    };
    for missing in stream.missing() {
        output::note(&missing);
    }
    let (tx, rx) = std::sync::mpsc::sync_channel(QUEUE);
    let lost = Arc::new(AtomicU64::new(0));
    let counter = Arc::clone(&lost);
    let spawned = std::thread::Builder::new()
        .name("kernel-events".into())
        .spawn(move || read(stream, &tx, &counter));
    if let Err(e) = spawned {
        output::note(&format!("kernel socket events could not start ({e}); polling"));
        return None;
    }
    Some(Kernel {
        events: rx,
        lost,
        reported_lost: 0,
        merge: EventMerge::new(own_netns, host.user_names()),
        detector: ScanDetector::new(thresholds),
    })
}

/// The reader thread: batches from the stream into the queue, until the loop is gone.
fn read(mut stream: Box<dyn EventStream>, tx: &SyncSender<KernelEvent>, lost: &AtomicU64) {
    let mut batch = Vec::new();
    let mut queue_lost = 0u64;
    loop {
        batch.clear();
        if let Err(e) = stream.next_batch(BATCH_WAIT, &mut batch) {
            output::note(&format!(
                "reading kernel socket events failed ({e}); polling from now on"
            ));
            return;
        }
        for event in batch.drain(..) {
            match tx.try_send(event) {
                Ok(()) => {}
                Err(TrySendError::Full(_)) => queue_lost += 1,
                Err(TrySendError::Disconnected(_)) => return,
            }
        }
        lost.store(stream.lost() + queue_lost, Ordering::Relaxed);
    }
}

impl Kernel {
    /// The watch events and scan alerts of what arrived since the last call.
    pub fn drain(&mut self, table: &mut PortTable) -> (Vec<Event>, Vec<ScanAlert>) {
        let mut events = Vec::new();
        let mut alerts = Vec::new();
        while let Ok(event) = self.events.try_recv() {
            match event {
                KernelEvent::Socket(socket) => events.extend(self.merge.apply(table, &socket)),
                KernelEvent::Refusal(refusal) => alerts.extend(self.detector.observe(&refusal)),
            }
        }
        alerts.extend(self.detector.tick(time::now_ms()));
        (events, alerts)
    }

    /// After a poll replaced the table.
    pub fn polled(&mut self, table: &PortTable) {
        self.merge.polled(table);
    }

    /// Scans still open at shutdown.
    pub fn flush(&mut self) -> Vec<ScanAlert> {
        self.detector.flush()
    }

    /// Says on stderr how many events were lost since the last time it said so.
    pub fn note_lost(&mut self) {
        let lost = self.lost.load(Ordering::Relaxed);
        if lost > self.reported_lost {
            output::note(&format!(
                "{} kernel socket event(s) dropped ({lost} in all): the kernel's buffer was full; the next poll catches up on what is open",
                lost - self.reported_lost
            ));
            self.reported_lost = lost;
        }
    }
}

/// A scan alert as watch's JSON lines give it.
#[derive(serde::Serialize)]
pub struct AlertJson<'a> {
    pub time: String,
    pub event: &'static str,
    pub summary: String,
    #[serde(flatten)]
    pub alert: &'a ScanAlert,
}

impl<'a> AlertJson<'a> {
    pub fn of(alert: &'a ScanAlert) -> AlertJson<'a> {
        AlertJson {
            time: time::rfc3339(alert.last_ms),
            event: "scan",
            summary: alert.line(),
            alert,
        }
    }
}
