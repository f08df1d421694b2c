//! One look at the sockets: the four owner tables (TCP and UDP, IPv4 and IPv6) the query asks
//! for, each row's owning pid joined to that process's facts and its service, read once per pid.

use std::collections::{BTreeSet, HashMap, HashSet};
use std::hash::{Hash, Hasher};
use std::sync::Arc;

use portscope_core::error::{Error, Result};
use portscope_core::model::{
    Holder, Netns, Process, ProcessName, Snapshot, Socket, SocketSource, Supervisor,
};
use portscope_core::platform::Query;

use crate::decode::Table;
use crate::processes::{self, Entry};
use crate::{process_text, services, sockets};

/// A stable key for a table row, in place of Linux's socket inode: the protocol and both
/// endpoints name one socket at a time. `close` pins a holder and asks whether it still holds
/// one of these keys. Never 0 (0 means "no holder").
pub fn socket_key(socket: &Socket) -> u64 {
    let mut hasher = std::hash::DefaultHasher::new();
    (socket.protocol, socket.local, socket.remote).hash(&mut hasher);
    hasher.finish() | 1
}

/// The tables `query` asks for.
pub fn tables(query: &Query) -> Vec<Table> {
    Table::ALL
        .into_iter()
        .filter(|t| match t {
            Table::Tcp4 => query.tcp && query.ipv4,
            Table::Tcp6 => query.tcp && query.ipv6,
            Table::Udp4 => query.udp && query.ipv4,
            Table::Udp6 => query.udp && query.ipv6,
        })
        .collect()
}

/// Every row of `query`'s tables in `query`'s states, with the owning pid (0 for none).
pub fn rows(query: &Query) -> Result<(Vec<(Socket, u32)>, Vec<String>)> {
    let mut rows = Vec::new();
    let mut notes = Vec::new();
    for table in tables(query) {
        let decoded =
            sockets::rows(table).map_err(|e| Error::io(format!("reading the {table:?} socket table"), e))?;
        if !decoded.unknown_states.is_empty() {
            notes.push(format!(
                "{} {table:?} rows have a state this version does not know ({:?}); they are not shown",
                decoded.unknown_states.len(),
                decoded.unknown_states.iter().collect::<BTreeSet<_>>()
            ));
        }
        for row in decoded.rows {
            if !query.states.admits(row.socket.state) {
                continue;
            }
            let mut socket = row.socket;
            socket.inode = if row.pid == 0 { 0 } else { socket_key(&socket) };
            rows.push((socket, row.pid));
        }
    }
    Ok((rows, notes))
}

/// What the process facts of one look share: the process list and the services by pid.
pub struct Processes {
    entries: HashMap<u32, Entry>,
    services: Option<HashMap<u32, Vec<String>>>,
}

impl Processes {
    pub fn read() -> Result<Processes> {
        let entries = processes::list().map_err(|e| Error::io("listing processes", e))?;
        Ok(Processes {
            entries: entries.into_iter().map(|e| (e.pid, e)).collect(),
            services: services::by_pid().ok(),
        })
    }

    pub fn pids(&self) -> impl Iterator<Item = u32> + '_ {
        self.entries.keys().copied()
    }

    pub fn services_known(&self) -> bool {
        self.services.is_some()
    }

    /// The services `pid` hosts.
    pub fn services_of(&self, pid: u32) -> &[String] {
        self.services
            .as_ref()
            .and_then(|s| s.get(&pid))
            .map_or(&[], Vec::as_slice)
    }

    /// The process `pid` as the model has it, and whether its handle could be opened. A
    /// process whose handle is refused keeps its pid, parent and image name (the list shows
    /// those to anyone); its path, user and start time stay unknown.
    pub fn process(&self, pid: u32) -> Option<(Process, bool)> {
        let entry = self.entries.get(&pid)?;
        let mut process = Process::new(pid, entry.ppid, entry.name.clone());
        // An unknown owner: not portscope's user, whoever that is.
        process.uid = u32::MAX;
        let readable = match processes::details(pid) {
            Ok(details) => {
                process.exe = details.exe;
                process.cmdline = details.cmdline.unwrap_or_default();
                if let Some((rid, user)) = details.user {
                    process.uid = rid;
                    process.user = Some(user);
                }
                process.start_time = details.created.and_then(process_text::filetime_to_unix_secs);
                true
            }
            Err(_) => false,
        };
        process.supervisor = self.supervisor(pid);
        Some((process, readable))
    }

    /// The service running in `pid`: the one service, or for a process that hosts several
    /// (`svchost.exe -k netsvcs`) none, since stopping one of them would not end the process.
    fn supervisor(&self, pid: u32) -> Option<Supervisor> {
        match self.services.as_ref()?.get(&pid)?.as_slice() {
            [name] => Some(Supervisor::WindowsService { name: name.clone() }),
            _ => None,
        }
    }
}

/// `%SystemRoot%\System32`, from the environment the system gives every process.
pub fn system32() -> Option<String> {
    let root = std::env::var("SystemRoot").ok()?;
    Some(format!("{}\\System32", root.trim_end_matches('\\')))
}

/// One look, shaped by `query`.
pub fn snapshot(query: &Query) -> Result<Snapshot> {
    let (rows, mut notes) = rows(query)?;
    let host = Arc::new(Netns::default());
    let mut unreadable: Vec<ProcessName> = Vec::new();
    let mut sockets = Vec::with_capacity(rows.len());
    if query.processes {
        let processes = Processes::read()?;
        if !processes.services_known() {
            notes.push("the service control manager did not answer: services are not shown".into());
        }
        let mut by_pid: HashMap<u32, Option<Arc<Process>>> = HashMap::new();
        let mut restarting: BTreeSet<String> = BTreeSet::new();
        // Processes that host several services: which one holds each TCP socket comes from the
        // module owner table, where Windows keeps it.
        let shared: HashSet<u32> = rows
            .iter()
            .map(|(_, pid)| *pid)
            .filter(|&pid| processes.services_of(pid).len() > 1)
            .collect();
        let modules = if shared.is_empty() {
            HashMap::new()
        } else {
            sockets::owner_modules(&shared).unwrap_or_else(|err| {
                notes.push(format!(
                    "{} socket holders host several services each; which service holds a socket is not read here (TCP_TABLE_OWNER_MODULE_ALL: {err})",
                    shared.len()
                ));
                HashMap::new()
            })
        };
        let mut by_service: HashMap<(u32, String), Arc<Process>> = HashMap::new();
        for (mut socket, pid) in rows {
            if pid != 0 {
                let process = by_pid.entry(pid).or_insert_with(|| {
                    let (process, readable) = processes.process(pid)?;
                    if !readable {
                        unreadable.push(ProcessName {
                            pid,
                            name: process.name.clone(),
                        });
                    }
                    if let Some(Supervisor::WindowsService { name }) = &process.supervisor
                        && services::restarts_after_failure(name) == Some(true)
                    {
                        restarting.insert(name.clone());
                    }
                    Some(Arc::new(process))
                });
                let service = modules
                    .get(&(pid, socket.local, socket.remote))
                    .and_then(|module| {
                        processes
                            .services_of(pid)
                            .iter()
                            .find(|s| s.eq_ignore_ascii_case(module))
                    });
                let process = match (process, service) {
                    (Some(process), Some(service)) => Some(Arc::clone(
                        by_service.entry((pid, service.clone())).or_insert_with(|| {
                            Arc::new(Process {
                                supervisor: Some(Supervisor::WindowsService {
                                    name: service.clone(),
                                }),
                                ..Process::clone(process)
                            })
                        }),
                    )),
                    (process, _) => process.clone(),
                };
                if let Some(process) = process {
                    socket.holders.push(Holder {
                        process,
                        fds: Vec::new(),
                        provenance: None,
                    });
                }
            }
            socket.netns = Arc::clone(&host);
            sockets.push(socket);
        }
        for name in restarting {
            notes.push(format!(
                "service {name} restarts its process after a failure (its recovery options): stop the service (close --unit), not the process"
            ));
        }
        if !unreadable.is_empty() {
            unreadable.sort_by_key(|p| p.pid);
            notes.push(format!(
                "{} socket holders refused a handle (other users' processes: run as Administrator): their image path, user and command line are not shown",
                unreadable.len()
            ));
        }
    } else {
        for (mut socket, _) in rows {
            socket.netns = Arc::clone(&host);
            sockets.push(socket);
        }
    }
    Ok(Snapshot {
        notes,
        namespaces: vec![host],
        own_netns: Some(0),
        ..Snapshot::of(sockets, SocketSource::IpHelper)
    })
}
