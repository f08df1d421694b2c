//! The poll loop's one look at the machine, made cheap when nothing changed.
//!
//! A full snapshot walks every process's descriptors (/proc/*/fd), which on a busy machine costs
//! far more than the kernel's socket dump. Ports only open or close when the set of socket inodes
//! changes, and an owner only changes when its process exits or execs another program, so a poll
//! first takes the dump alone and re-reads each owner's name; only if one of them differs does it
//! take a full snapshot. Every `FULL_EVERY` polls it takes one anyway, for the rare changes these
//! checks cannot see (a descriptor passed to another process over a Unix socket).

use crate::error::Result;
use crate::model::Snapshot;
use crate::platform::{Platform, Query, StateFilter};

use super::{PortTable, key_of};

/// Polls after which a full snapshot is taken even when the cheap checks saw no change.
pub const FULL_EVERY: u32 = 30;

/// Takes the looks for one watcher.
pub struct Poller<'p> {
    platform: &'p dyn Platform,
    query: Query,
    connections: bool,
    /// Sorted inodes of the followed sockets at the last full snapshot.
    inodes: Vec<u64>,
    cheap_polls: u32,
}

impl<'p> Poller<'p> {
    pub fn new(platform: &'p dyn Platform, connections: bool) -> Poller<'p> {
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
            inodes: Vec::new(),
            cheap_polls: 0,
        }
    }

    /// A full snapshot, and the ports in it.
    pub fn full(&mut self) -> Result<(Snapshot, PortTable)> {
        let snapshot = self.platform.snapshot(&self.query)?;
        self.inodes = self.inodes_of(&snapshot);
        self.cheap_polls = 0;
        let table = PortTable::from_snapshot(&snapshot, self.connections);
        Ok((snapshot, table))
    }

    /// The ports now, or `None` when the cheap checks show that `current` still holds.
    pub fn poll(&mut self, current: &PortTable) -> Result<Option<PortTable>> {
        if self.cheap_polls + 1 < FULL_EVERY {
            let dump = self.platform.snapshot(&Query {
                processes: false,
                ..self.query.clone()
            })?;
            if self.inodes_of(&dump) == self.inodes && owners_unchanged(self.platform, current) {
                self.cheap_polls += 1;
                return Ok(None);
            }
        }
        Ok(Some(self.full()?.1))
    }

    fn inodes_of(&self, snapshot: &Snapshot) -> Vec<u64> {
        let mut inodes: Vec<u64> = snapshot
            .sockets
            .iter()
            .filter(|s| key_of(s, self.connections).is_some())
            .map(|s| s.inode)
            .collect();
        inodes.sort_unstable();
        inodes
    }
}

/// Every owner still runs the program it ran at the last full snapshot.
fn owners_unchanged(platform: &dyn Platform, table: &PortTable) -> bool {
    let mut checked = std::collections::HashSet::new();
    table.ports.values().flatten().all(|owner| {
        !checked.insert(owner.pid)
            || platform
                .identity(owner.pid)
                .is_some_and(|now| now.name == owner.program && now.exe == owner.exe)
    })
}
