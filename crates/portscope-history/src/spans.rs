//! From the event log to what a user asks of history: when was each port open, and by whom.
//!
//! A span is one owner's tenure of one port. It starts with `opened` (or with an owner change)
//! and ends with `closed` (or with the next owner change). Events seen when a watcher started
//! happened while nothing watched, so their time is only an upper bound; spans say so.

use serde::Serialize;

use std::sync::Arc;

use portscope_core::model::Netns;
use portscope_core::watch::{Event, EventKind, Owner, PortKey};

/// One owner's tenure of one port.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Span {
    #[serde(flatten)]
    pub key: PortKey,
    /// Where the port is, when that is not the recorder's own namespace.
    #[serde(skip)]
    pub netns: Option<Arc<Netns>>,
    /// Shared between the spans of one owner: a long history names the same few programs
    /// again and again.
    pub owner: Option<Arc<Owner>>,
    /// When the port was opened (ms since the epoch); `None` when it opened before the history
    /// begins.
    pub opened_ms: Option<i64>,
    /// The opening happened while nothing watched, at some time before `opened_ms`.
    pub opened_before: bool,
    /// When it closed; `None` while it is still open.
    pub closed_ms: Option<i64>,
    /// The closing happened while nothing watched, before `closed_ms`.
    pub closed_before: bool,
    /// The span ended because another program took the port over, not because it closed.
    pub ended_by_owner_change: bool,
}

/// Replays `events` (oldest first) into spans, in the order they started.
pub fn spans(events: &[Event]) -> Vec<Span> {
    let mut builder = Spans::default();
    for event in events {
        builder.push(event.clone());
    }
    builder.finish()
}

/// Spans built one event at a time, so that a long history is replayed as it is read, never held
/// as a list of events.
#[derive(Default)]
pub struct Spans {
    spans: Vec<Span>,
    /// The span each port has open now, by index into `spans`.
    open: std::collections::HashMap<PortKey, usize>,
    /// Every owner seen, once.
    owners: std::collections::HashSet<Arc<Owner>>,
}

impl Spans {
    /// Replays the next event (events come oldest first).
    pub fn push(&mut self, event: Event) {
        let previous = self.open.remove(&event.key);
        match event.kind {
            EventKind::Opened => {
                if let Some(i) = previous {
                    self.end(i, &event, false);
                }
                self.start(event);
            }
            EventKind::OwnerChanged => {
                match previous {
                    Some(i) => self.end(i, &event, true),
                    // The history begins after the port opened: show the earlier owner too.
                    None if event.previous.is_some() => {
                        let owner = self.intern(event.previous.clone());
                        self.spans.push(Span {
                            key: event.key,
                            netns: event.netns.clone(),
                            owner,
                            opened_ms: None,
                            opened_before: false,
                            closed_ms: Some(event.time_ms),
                            closed_before: event.at_start,
                            ended_by_owner_change: true,
                        })
                    }
                    None => {}
                }
                self.start(event);
            }
            EventKind::Closed => match previous {
                Some(i) => self.end(i, &event, false),
                None => {
                    let owner = self.intern(event.owner);
                    self.spans.push(Span {
                        key: event.key,
                        netns: event.netns,
                        owner,
                        opened_ms: None,
                        opened_before: false,
                        closed_ms: Some(event.time_ms),
                        closed_before: event.at_start,
                        ended_by_owner_change: false,
                    })
                }
            },
        }
    }

    fn start(&mut self, event: Event) {
        self.open.insert(event.key, self.spans.len());
        let owner = self.intern(event.owner);
        self.spans.push(Span {
            key: event.key,
            netns: event.netns,
            owner,
            opened_ms: Some(event.time_ms),
            opened_before: event.at_start,
            closed_ms: None,
            closed_before: false,
            ended_by_owner_change: false,
        });
    }

    fn end(&mut self, i: usize, event: &Event, by_owner_change: bool) {
        // A span opened with no visible owner is named by the owner its close names.
        let owner = if self.spans[i].owner.is_none() && event.kind == EventKind::Closed {
            self.intern(event.owner.clone())
        } else {
            None
        };
        let span = &mut self.spans[i];
        span.closed_ms = Some(event.time_ms);
        span.closed_before = event.at_start;
        span.ended_by_owner_change = by_owner_change;
        if owner.is_some() {
            span.owner = owner;
        }
    }

    /// The one shared copy of `owner`.
    fn intern(&mut self, owner: Option<Owner>) -> Option<Arc<Owner>> {
        let owner = owner?;
        if let Some(known) = self.owners.get(&owner) {
            return Some(Arc::clone(known));
        }
        let owner = Arc::new(owner);
        self.owners.insert(Arc::clone(&owner));
        Some(owner)
    }

    /// The spans, in the order they started.
    pub fn finish(self) -> Vec<Span> {
        self.spans
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use portscope_core::model::Protocol;

    fn event(time_ms: i64, kind: EventKind, pid: u32, program: &str) -> Event {
        Event {
            time_ms,
            kind,
            key: PortKey {
                protocol: Protocol::Tcp,
                address: "0.0.0.0".parse().unwrap(),
                port: 8080,
                remote: None,
                netns: 0,
            },
            netns: None,
            owner: Some(Owner {
                pid,
                program: program.into(),
                exe: None,
                uid: 0,
                user: None,
                unit: None,
            }),
            previous: None,
            at_start: false,
            source: Default::default(),
            short_lived: false,
        }
    }

    #[test]
    fn open_change_close_gives_two_spans() {
        let events = [
            event(1, EventKind::Opened, 10, "python3"),
            event(5, EventKind::OwnerChanged, 11, "nc"),
            event(9, EventKind::Closed, 11, "nc"),
            event(12, EventKind::Opened, 20, "python3"),
        ];
        let spans = spans(&events);
        let summary: Vec<_> = spans
            .iter()
            .map(|s| {
                (
                    s.owner.as_ref().unwrap().pid,
                    s.opened_ms,
                    s.closed_ms,
                    s.ended_by_owner_change,
                )
            })
            .collect();
        assert_eq!(
            summary,
            [
                (10, Some(1), Some(5), true),
                (11, Some(5), Some(9), false),
                (20, Some(12), None, false)
            ]
        );
    }

    #[test]
    fn a_close_without_an_open_starts_before_history() {
        let spans = spans(&[event(3, EventKind::Closed, 10, "sshd")]);
        assert_eq!(spans[0].opened_ms, None);
        assert_eq!(spans[0].closed_ms, Some(3));
    }
}
