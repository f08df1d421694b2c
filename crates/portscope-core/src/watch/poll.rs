//! The poll loop's one look at the machine, made cheap when nothing changed: the core's
//! [`ChangeCheck`] (the same one `top` and the exporter use) over the sockets a watcher follows.

use crate::error::Result;
use crate::inspect::ChangeCheck;
use crate::model::Snapshot;
use crate::platform::{Platform, Query, StateFilter};

use super::{PortTable, key_of};

pub use crate::inspect::FULL_EVERY;

/// Takes the looks for one watcher.
pub struct Poller<'p> {
    platform: &'p dyn Platform,
    query: Query,
    connections: bool,
    change: ChangeCheck,
}

impl<'p> Poller<'p> {
    pub fn new(platform: &'p dyn Platform, connections: bool) -> Poller<'p> {
        let follows: fn(&crate::model::Socket) -> bool = if connections {
            |s| key_of(s, true).is_some()
        } else {
            |s| key_of(s, false).is_some()
        };
        Poller {
            platform,
            query: Query {
                states: if connections {
                    StateFilter::All
                } else {
                    StateFilter::Listening
                },
                ..Query::ports()
            },
            connections,
            change: ChangeCheck::new(follows),
        }
    }

    /// A full snapshot, and the ports in it.
    pub fn full(&mut self) -> Result<(Snapshot, PortTable)> {
        let snapshot = self.platform.snapshot(&self.query)?;
        self.change.full_look(&snapshot);
        let table = PortTable::from_snapshot(&snapshot, self.connections);
        Ok((snapshot, table))
    }

    /// The ports now, or `None` when the cheap checks show that the last table still holds.
    pub fn poll(&mut self, _current: &PortTable) -> Result<Option<PortTable>> {
        if self.change.cheap_look(self.platform, &self.query)?.is_some() {
            return Ok(None);
        }
        Ok(Some(self.full()?.1))
    }
}
