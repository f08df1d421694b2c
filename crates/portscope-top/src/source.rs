//! Where the rows come from: one look at the host per refresh, made cheap when nothing changed.
//!
//! As `watch`'s poller does, a refresh first takes the kernel's socket dump alone (no walk of
//! every process's descriptors) and re-reads the identity of each owner. Only when a socket with
//! an inode appeared or vanished, or an owner exited or exec'd, does it take a full snapshot with
//! holders, and only then does it run the audit that gives the verdicts; every [`FULL_EVERY`]
//! refreshes it takes one anyway, for what the cheap checks cannot see (a descriptor passed over a
//! Unix socket). TIME-WAIT sockets, which no descriptor holds, come and go without a full look.

use std::collections::BTreeSet;
use std::path::PathBuf;

use portscope_core::Result;
use portscope_core::audit::{self, Report, expected::Expected};
use portscope_core::model::Snapshot;
use portscope_core::platform::{Platform, Query};

/// Refreshes after which a full look is taken even when the cheap checks saw no change.
pub const FULL_EVERY: u32 = 30;

/// One look at the host.
pub enum Look {
    /// The dump alone: the same sockets with the same owners, states and queues may differ.
    Cheap(Snapshot),
    /// A full snapshot with holders, and the audit of it (`None` when the audit failed, with the
    /// reason).
    Full(Snapshot, std::result::Result<Report, String>),
}

/// Takes the looks for one live view.
pub struct Source<'p> {
    platform: &'p dyn Platform,
    query: Query,
    expected: Expected,
    options: audit::Options,
    /// (namespace, inode) of every held socket at the last full look.
    inodes: BTreeSet<(u64, u64)>,
    /// Every owner at the last full look: pid, name, executable.
    owners: Vec<(u32, String, Option<PathBuf>)>,
    cheap_looks: u32,
    force_full: bool,
}

impl<'p> Source<'p> {
    /// A source over `platform`'s TCP and UDP sockets in every state (what `list` shows), with
    /// verdicts from the audit rules and the names in `options`.
    pub fn new(platform: &'p dyn Platform, expected: Expected, options: audit::Options) -> Source<'p> {
        Source {
            platform,
            query: Query::ports(),
            expected,
            options,
            inodes: BTreeSet::new(),
            owners: Vec::new(),
            cheap_looks: 0,
            force_full: true,
        }
    }

    pub fn platform(&self) -> &'p dyn Platform {
        self.platform
    }

    /// The next look is a full one (after an action changed the host).
    pub fn invalidate(&mut self) {
        self.force_full = true;
    }

    /// One look: cheap when the cheap checks show nothing new, full otherwise.
    pub fn look(&mut self) -> Result<Look> {
        if !self.force_full && self.cheap_looks + 1 < FULL_EVERY {
            let dump = self.platform.snapshot(&Query {
                processes: false,
                ..self.query.clone()
            })?;
            if inodes_of(&dump) == self.inodes && self.owners_unchanged() {
                self.cheap_looks += 1;
                return Ok(Look::Cheap(dump));
            }
        }
        self.full()
    }

    fn full(&mut self) -> Result<Look> {
        let snapshot = self.platform.snapshot(&self.query)?;
        self.inodes = inodes_of(&snapshot);
        let mut owners: Vec<(u32, String, Option<PathBuf>)> = snapshot
            .sockets
            .iter()
            .flat_map(|s| &s.holders)
            .map(|h| (h.process.pid, h.process.name.clone(), h.process.exe.clone()))
            .collect();
        owners.sort();
        owners.dedup();
        self.owners = owners;
        self.cheap_looks = 0;
        self.force_full = false;
        let report =
            audit::run(self.platform, &snapshot, &self.expected, &self.options).map_err(|e| e.to_string());
        Ok(Look::Full(snapshot, report))
    }

    fn owners_unchanged(&self) -> bool {
        self.owners.iter().all(|(pid, name, exe)| {
            self.platform
                .identity(*pid)
                .is_some_and(|now| &now.name == name && &now.exe == exe)
        })
    }
}

fn inodes_of(snapshot: &Snapshot) -> BTreeSet<(u64, u64)> {
    snapshot
        .sockets
        .iter()
        .filter(|s| s.inode != 0)
        .map(|s| (s.netns.inode, s.inode))
        .collect()
}
