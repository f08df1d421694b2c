//! A bounded queue of events waiting for a slow consumer (`--exec`, a database that is full), with
//! the one rule for what gives way when it is full: an event that opens or closes a port takes the
//! place of the newest owner change waiting, so a flood of lesser events can never push out the
//! events a hook or a history exists for. Only when every waiting event is an open or a close is
//! the new one dropped.

use std::collections::VecDeque;

use super::{Event, EventKind};

/// Events in arrival order, at most `capacity` of them.
#[derive(Clone, Debug)]
pub struct EventQueue {
    events: VecDeque<Event>,
    capacity: usize,
}

impl EventQueue {
    pub fn new(capacity: usize) -> EventQueue {
        EventQueue {
            events: VecDeque::new(),
            capacity: capacity.max(1),
        }
    }

    /// Queues `event`; returns whether an event (this one, or a lesser one waiting) was dropped.
    pub fn push(&mut self, event: Event) -> bool {
        if self.events.len() < self.capacity {
            self.events.push_back(event);
            return false;
        }
        if event.kind != EventKind::OwnerChanged
            && let Some(lesser) = self
                .events
                .iter()
                .rposition(|e| e.kind == EventKind::OwnerChanged)
        {
            self.events.remove(lesser);
            self.events.push_back(event);
        }
        true
    }

    /// The oldest event waiting.
    pub fn front(&self) -> Option<&Event> {
        self.events.front()
    }

    pub fn pop(&mut self) -> Option<Event> {
        self.events.pop_front()
    }

    pub fn len(&self) -> usize {
        self.events.len()
    }

    pub fn is_empty(&self) -> bool {
        self.events.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::Protocol;
    use crate::watch::PortKey;

    fn event(kind: EventKind, port: u16) -> Event {
        Event {
            time_ms: 0,
            kind,
            key: PortKey {
                protocol: Protocol::Tcp,
                address: std::net::Ipv4Addr::LOCALHOST.into(),
                port,
                remote: None,
                netns: 0,
            },
            netns: None,
            owner: None,
            previous: None,
            at_start: false,
            source: Default::default(),
            short_lived: false,
        }
    }

    #[test]
    fn a_full_queue_drops_owner_changes_before_opens_and_closes() {
        const FULL: usize = 256;
        let mut queue = EventQueue::new(FULL);
        for port in 0..FULL as u16 {
            assert!(!queue.push(event(EventKind::OwnerChanged, port)));
        }
        // Full of lesser events: another owner change is dropped, a close takes the newest's place.
        assert!(queue.push(event(EventKind::OwnerChanged, 9999)));
        assert!(queue.push(event(EventKind::Closed, 7020)));
        assert!(queue.push(event(EventKind::Opened, 7021)));
        assert_eq!(queue.len(), FULL);
        let kept: Vec<(u16, EventKind)> = std::iter::from_fn(|| queue.pop())
            .map(|e| (e.key.port, e.kind))
            .collect();
        assert_eq!(
            kept[0],
            (0, EventKind::OwnerChanged),
            "the oldest still come first"
        );
        assert_eq!(
            kept[FULL - 3..],
            [
                (FULL as u16 - 3, EventKind::OwnerChanged),
                (7020, EventKind::Closed),
                (7021, EventKind::Opened)
            ]
        );
        assert!(!kept.iter().any(|&(port, _)| port == 9999));
        // Full of opens and closes: the newest is dropped, in order of arrival.
        let mut queue = EventQueue::new(FULL);
        for port in 0..FULL as u16 {
            queue.push(event(EventKind::Opened, port));
        }
        assert!(queue.push(event(EventKind::Closed, 9999)));
        assert_eq!(queue.front().map(|e| e.key.port), Some(0));
        assert!(std::iter::from_fn(|| queue.pop()).all(|e| e.key.port != 9999));
    }
}
