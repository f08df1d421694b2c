//! From the event log to what a user asks of history: when was each port open, and by whom.
//!
//! A span is one owner's tenure of one port. It starts with `opened` (or with an owner change)
//! and ends with `closed` (or with the next owner change). Events seen when a watcher started
//! happened while nothing watched, so their time is only an upper bound; spans say so.

use serde::Serialize;

use portscope_core::watch::{Event, EventKind, Owner, PortKey};

/// One owner's tenure of one port.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Span {
    #[serde(flatten)]
    pub key: PortKey,
    pub owner: Option<Owner>,
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
    let mut spans: Vec<Span> = Vec::new();
    let mut open: std::collections::HashMap<PortKey, usize> = std::collections::HashMap::new();
    for event in events {
        let start = |spans: &mut Vec<Span>, open: &mut std::collections::HashMap<PortKey, usize>| {
            open.insert(event.key, spans.len());
            spans.push(Span {
                key: event.key,
                owner: event.owner.clone(),
                opened_ms: Some(event.time_ms),
                opened_before: event.at_start,
                closed_ms: None,
                closed_before: false,
                ended_by_owner_change: false,
            });
        };
        let previous = open.remove(&event.key);
        match event.kind {
            EventKind::Opened => {
                if let Some(i) = previous {
                    end(&mut spans[i], event, false);
                }
                start(&mut spans, &mut open);
            }
            EventKind::OwnerChanged => {
                match previous {
                    Some(i) => end(&mut spans[i], event, true),
                    // The history begins after the port opened: show the earlier owner too.
                    None if event.previous.is_some() => spans.push(Span {
                        key: event.key,
                        owner: event.previous.clone(),
                        opened_ms: None,
                        opened_before: false,
                        closed_ms: Some(event.time_ms),
                        closed_before: event.at_start,
                        ended_by_owner_change: true,
                    }),
                    None => {}
                }
                start(&mut spans, &mut open);
            }
            EventKind::Closed => match previous {
                Some(i) => end(&mut spans[i], event, false),
                None => spans.push(Span {
                    key: event.key,
                    owner: event.owner.clone(),
                    opened_ms: None,
                    opened_before: false,
                    closed_ms: Some(event.time_ms),
                    closed_before: event.at_start,
                    ended_by_owner_change: false,
                }),
            },
        }
    }
    spans
}

fn end(span: &mut Span, event: &Event, by_owner_change: bool) {
    span.closed_ms = Some(event.time_ms);
    span.closed_before = event.at_start;
    span.ended_by_owner_change = by_owner_change;
    if span.owner.is_none() && event.kind == EventKind::Closed {
        span.owner = event.owner.clone();
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
