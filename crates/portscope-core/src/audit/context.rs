//! What every check reads: the snapshot, indexed by process, and facts gathered on demand (the
//! package database, file metadata) so that a run pays only for what its checks ask.

use std::cell::OnceCell;
use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use crate::knowledge::{ServiceNames, ServiceSides};
use crate::model::{Process, Snapshot, Socket};
use crate::platform::{PackageDatabase, Platform, Unsupported};
use crate::privilege::Privileges;
use crate::program::{self, exe_name, is_system_path};

use super::expected::Expected;

/// A process with every socket it holds and the descriptor numbers it holds each under.
pub struct ProcessView<'a> {
    pub process: &'a Arc<Process>,
    pub sockets: Vec<(&'a Socket, &'a [u32])>,
}

/// The package that installed an executable, as far as this machine can tell.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Ownership {
    Package(String),
    NoPackage,
    /// No readable package database, or a process in another root filesystem.
    Unknown,
}

pub struct Context<'a> {
    pub snapshot: &'a Snapshot,
    pub expected: &'a Expected,
    /// The host the snapshot came from, for the facts a rule weighs beyond it.
    pub platform: &'a dyn Platform,
    pub privileges: Privileges,
    /// The names ports go by on this host (the user's file, /etc/services, IANA).
    pub names: &'a ServiceNames,
    /// Which side of each connection is the service.
    pub sides: ServiceSides,
    processes: Vec<ProcessView<'a>>,
    owners: OnceCell<Owners>,
}

/// The package database as read once per run.
struct Owners {
    database: PackageDatabase,
    paths: HashMap<PathBuf, String>,
    /// The platform cannot say which package owns a file: ownership is unknown, not "none".
    unsupported: Option<Unsupported>,
}

impl<'a> Context<'a> {
    pub fn new(
        platform: &'a dyn Platform,
        snapshot: &'a Snapshot,
        expected: &'a Expected,
        names: &'a ServiceNames,
    ) -> Context<'a> {
        let mut by_pid: BTreeMap<u32, ProcessView<'a>> = BTreeMap::new();
        for socket in &snapshot.sockets {
            for holder in &socket.holders {
                by_pid
                    .entry(holder.process.pid)
                    .or_insert_with(|| ProcessView {
                        process: &holder.process,
                        sockets: Vec::new(),
                    })
                    .sockets
                    .push((socket, &holder.fds));
            }
        }
        Context {
            snapshot,
            expected,
            platform,
            privileges: platform.privileges(),
            names,
            sides: ServiceSides::new(&snapshot.sockets, platform.ephemeral_ports()),
            processes: by_pid.into_values().collect(),
            owners: OnceCell::new(),
        }
    }

    /// Every process holding at least one socket, by pid.
    pub fn processes(&self) -> &[ProcessView<'a>] {
        &self.processes
    }

    /// Which package database this machine has (read on first use).
    pub fn package_database(&self) -> PackageDatabase {
        self.owners().database
    }

    /// Set when the platform has a package database but cannot read who owns a file: the rules
    /// about packages are then not checked (and ownership is [`Ownership::Unknown`]).
    pub fn packages_unsupported(&self) -> Option<Unsupported> {
        self.owners().unsupported
    }

    /// Which package installed `process`'s executable. The first call reads the package database
    /// once for every executable in the snapshot.
    pub fn ownership(&self, process: &Process) -> Ownership {
        let owners = self.owners();
        let Some(exe) = process.exe.as_deref() else {
            return Ownership::Unknown;
        };
        if owners.database != PackageDatabase::Dpkg
            || owners.unsupported.is_some()
            || self.platform.same_root(process.pid) != Some(true)
        {
            return Ownership::Unknown;
        }
        // The path is a package's, the file is not (bound over it in a mount namespace of its
        // own): no package installed what runs.
        if self.platform.exe_is_hosts(process.pid) == Some(false) {
            return Ownership::NoPackage;
        }
        if let Some(package) = owners.paths.get(exe) {
            return Ownership::Package(package.clone());
        }
        let known = self
            .processes
            .iter()
            .any(|v| v.process.exe.as_deref() == Some(exe));
        if known {
            return Ownership::NoPackage;
        }
        // A process that holds no socket (a spawned shell, a renamed parent): asked alone.
        match self.platform.package_owners(&[exe.to_path_buf()]) {
            Ok(Ok(found)) => match found.into_values().next() {
                Some(package) => Ownership::Package(package),
                None => Ownership::NoPackage,
            },
            Ok(Err(_)) | Err(_) => Ownership::Unknown,
        }
    }

    /// Whether `pattern` (an allow rule's bare program name) names `process`'s executable: its file
    /// name, or a link by that name in a system directory, and only for an executable a package
    /// installed (where packages cannot be read: one in a system directory). The process's own name
    /// never counts: any program can call itself `python3`.
    pub fn program_named(&self, process: &Process, pattern: &str) -> bool {
        let Some(exe) = process.exe.as_deref() else {
            return false;
        };
        let trusted = match self.ownership(process) {
            Ownership::Package(_) => true,
            Ownership::NoPackage => false,
            Ownership::Unknown => is_system_path(exe),
        };
        if !trusted {
            return false;
        }
        if exe_name(process).is_some_and(|name| program::matches(pattern, name)) {
            return true;
        }
        let dirs = ["/usr/bin", "/usr/sbin", "/bin", "/sbin", "/usr/local/bin"];
        !pattern.contains('*')
            && dirs.iter().any(|dir| {
                self.platform
                    .name_resolves_to(process.pid, Path::new(dir), pattern, exe)
            })
    }

    fn owners(&self) -> &Owners {
        self.owners.get_or_init(|| {
            let database = self.platform.package_database();
            let none = |database, unsupported| Owners {
                database,
                paths: HashMap::new(),
                unsupported,
            };
            if database != PackageDatabase::Dpkg {
                return none(database, None);
            }
            let mut paths: Vec<PathBuf> = self
                .processes
                .iter()
                .filter_map(|view| view.process.exe.clone())
                .collect();
            paths.sort();
            paths.dedup();
            match self.platform.package_owners(&paths) {
                Ok(Ok(paths)) => Owners {
                    database,
                    paths,
                    unsupported: None,
                },
                // An unreadable database is treated as none rather than as "nothing is packaged".
                Ok(Err(_)) => none(PackageDatabase::None, None),
                Err(unsupported) => none(database, Some(unsupported)),
            }
        })
    }
}

/// How a finding names a program: "python3.11 (pid 42)".
pub fn label(process: &Process) -> String {
    format!(
        "{} (pid {})",
        exe_name(process).unwrap_or(&process.name),
        process.pid
    )
}

/// How a finding names a socket's holder: its first process, or that none is visible.
pub fn holder_label(socket: &crate::model::Socket) -> String {
    socket
        .holders
        .first()
        .map(|h| label(&h.process))
        .unwrap_or_else(|| "a socket with no visible owner".into())
}

/// A path for a message.
pub fn show(path: &Path) -> String {
    path.display().to_string()
}
