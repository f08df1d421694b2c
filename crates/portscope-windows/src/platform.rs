//! [`Windows`]: the platform roles ([`Collect`], [`HostFacts`], [`Control`], [`Session`], which
//! together make a [`portscope_core::Platform`]), one method per question. A fact Windows does not
//! have (eBPF programs, the kernel's taint, /etc/ld.so.preload, …) answers [`Unsupported`]
//! explicitly, so the audit rule that needs it says "not checked".

use std::collections::HashMap;
use std::io;
use std::ops::RangeInclusive;
use std::path::{Path, PathBuf};

use portscope_core::error::{Error, Result};
use portscope_core::model::{Family, Process, Protocol, Snapshot, Socket};
use portscope_core::platform::{
    Answer, BpfProgram, Collect, Control, ControlError, DestroyError, HostFacts, Identity, NetnsSelection,
    PackageDatabase, Pinned, ProbeResult, Query, SelfInfo, Session, StopWait, Unsupported,
};
use portscope_core::privilege::Privileges;

use crate::{control, host_facts, lineage, privileges, process_text, processes, services, session, snapshot};

/// The running Windows system, read through the IP helper, process handles and the SCM.
#[derive(Clone, Debug, Default)]
pub struct Windows {
    /// Windows has no network namespaces: every selection but `All`/`Current` finds nothing.
    netns: NetnsSelection,
}

impl Windows {
    /// The platform. Windows has one network stack per machine, so `netns` only matters when it
    /// names something other than the whole host.
    pub fn new(netns: NetnsSelection) -> Windows {
        Windows { netns }
    }
}

impl Collect for Windows {
    fn snapshot(&self, query: &Query) -> Result<Snapshot> {
        // One network stack per machine: every selection that means "here" sees all of it.
        match query.netns.as_ref().unwrap_or(&self.netns) {
            NetnsSelection::All | NetnsSelection::Current | NetnsSelection::Pid(_) => {}
            NetnsSelection::Name(name) if name == "host" => {}
            other => {
                return Err(Error::NotFound(format!(
                    "Windows has no network namespaces: {other:?} does not exist (leave out --netns)"
                )));
            }
        }
        snapshot::snapshot(query)
    }

    fn identity(&self, pid: u32) -> Option<Identity> {
        let name_of = || {
            processes::list()
                .ok()?
                .into_iter()
                .find(|e| e.pid == pid)
                .map(|e| e.name)
        };
        match processes::details(pid) {
            Ok(details) => {
                let name = details
                    .exe
                    .as_deref()
                    .and_then(Path::file_name)
                    .map(|n| n.to_string_lossy().into_owned())
                    .or_else(name_of)?;
                Some(Identity {
                    name,
                    exe: details.exe,
                    start_time: details.created.and_then(process_text::filetime_to_unix_secs),
                })
            }
            // Refused a handle: it exists, its path is another user's secret.
            Err(_) => Some(Identity {
                name: name_of()?,
                exe: None,
                start_time: None,
            }),
        }
    }

    fn parent(&self, pid: u32) -> Answer<Option<u32>> {
        Ok(lineage::parent(pid))
    }

    fn is_kernel_thread(&self, pid: u32) -> bool {
        // The System Idle Process (0) and System (4) are the kernel's.
        pid == 0 || pid == 4
    }

    fn critical_process(&self, pid: u32) -> Option<&'static str> {
        control::critical_process(pid)
    }

    fn namespace_pid(&self, _pid: u32) -> Option<u32> {
        // No pid namespaces on Windows.
        None
    }

    fn lock_holder(&self, _dev: u64, _ino: u64) -> Answer<Option<u32>> {
        Err(Unsupported { what: "lock_holder" })
    }

    fn privileges(&self) -> Privileges {
        privileges::current()
    }

    fn user_names(&self) -> HashMap<u32, String> {
        // The accounts of running processes: Windows has no uid table, and the relative id is
        // only the last part of a SID.
        let mut names = HashMap::new();
        for entry in processes::list().unwrap_or_default() {
            if let Ok(details) = processes::details(entry.pid)
                && let Some((rid, user)) = details.user
            {
                names.entry(rid).or_insert(user);
            }
        }
        names
    }

    fn ephemeral_ports(&self) -> RangeInclusive<u16> {
        // Windows' default dynamic port range (`netsh int ipv4 show dynamicport tcp`).
        49152..=65535
    }

    fn self_info(&self) -> SelfInfo {
        let pid = std::process::id();
        SelfInfo {
            pid,
            ancestors: lineage::ancestors(pid),
            euid: privileges::current().euid,
            supervisor: None,
        }
    }

    fn network_namespace(&self) -> Answer<Option<String>> {
        Err(Unsupported {
            what: "network_namespace",
        })
    }

    /// Parent chains could be read from the process list, but the rest of a provenance (service
    /// activation, remote sessions, scheduled tasks) is not read on Windows yet: unsupported, so
    /// `--why` and the `origin` check say "not checked" rather than "started by nothing".
    fn provenance(&self, _pids: &[u32]) -> Answer<HashMap<u32, portscope_core::provenance::Provenance>> {
        Err(Unsupported { what: "provenance" })
    }
}

impl HostFacts for Windows {
    fn file_exists(&self, _pid: u32, path: &Path) -> Option<bool> {
        std::fs::symlink_metadata(path)
            .map(|_| true)
            .or_else(|e| match e.kind() {
                io::ErrorKind::NotFound => Ok(false),
                _ => Err(e),
            })
            .ok()
    }

    fn dir_world_writable(&self, _pid: u32, path: &Path) -> Option<bool> {
        host_facts::user_writable_dir(path)
    }

    fn name_resolves_to(&self, _pid: u32, dir: &Path, name: &str, exe: &Path) -> bool {
        // A process's name is its image's file name: the same file when the paths match.
        host_facts::same_file_name(&dir.join(name), exe)
    }

    fn same_root(&self, _pid: u32) -> Option<bool> {
        // Every Windows process sees the same file system namespace.
        Some(true)
    }

    fn exe_is_hosts(&self, _pid: u32) -> Option<bool> {
        Some(true)
    }

    fn package_database(&self) -> PackageDatabase {
        PackageDatabase::None
    }

    fn package_owners(&self, _paths: &[PathBuf]) -> Answer<io::Result<HashMap<PathBuf, String>>> {
        Err(Unsupported {
            what: "package_owners",
        })
    }

    fn bind_probe(&self, protocol: Protocol, family: Family, ports: &[u16]) -> io::Result<ProbeResult> {
        host_facts::bind_probe(protocol, family, ports)
    }

    fn lists_bound_inactive(&self) -> bool {
        false
    }

    fn processes(&self) -> Answer<Vec<Process>> {
        // The listing cannot fail on a live system; if it does, no process is known, and the
        // rules that read it find nothing rather than inventing.
        let Ok(processes) = snapshot::Processes::read() else {
            return Ok(Vec::new());
        };
        let mut list: Vec<Process> = processes
            .pids()
            .filter_map(|pid| processes.process(pid).map(|(p, _)| p))
            .collect();
        list.sort_by_key(|p| p.pid);
        Ok(list)
    }

    fn children(&self, pid: u32) -> Answer<Option<Vec<u32>>> {
        Ok(lineage::children(pid))
    }

    fn runs_own_executable(&self, pid: u32) -> bool {
        let Ok(own) = std::env::current_exe() else {
            return false;
        };
        processes::details(pid)
            .ok()
            .and_then(|d| d.exe)
            .is_some_and(|exe| host_facts::same_file_name(&exe, &own))
    }

    fn environment(&self, _pid: u32) -> Answer<Option<Vec<String>>> {
        Err(Unsupported { what: "environment" })
    }

    fn preload_file(&self) -> Answer<Option<Vec<u8>>> {
        Err(Unsupported { what: "preload_file" })
    }

    fn listed_pids(&self) -> Answer<io::Result<Vec<u32>>> {
        // The Toolhelp listing: what a user-mode rootkit that hooks the system process query
        // filters.
        Ok(processes::list().map(|list| list.into_iter().map(|e| e.pid).collect()))
    }

    fn pid_max(&self) -> Answer<u32> {
        Ok(host_facts::pid_probe_limit(
            processes::list().unwrap_or_default().iter().map(|e| e.pid).max(),
        ))
    }

    fn pid_answers(&self, pid: u32) -> Answer<bool> {
        Ok(host_facts::pid_answers(pid))
    }

    fn thread_group(&self, pid: u32) -> Answer<Option<u32>> {
        // Process and thread ids share one space, but OpenProcess answers only for processes:
        // a pid that answers is its own group.
        Ok(host_facts::pid_answers(pid).then_some(pid))
    }

    fn bpf_programs(&self) -> Answer<io::Result<Vec<BpfProgram>>> {
        Err(Unsupported { what: "bpf_programs" })
    }

    fn proc_net_sockets(&self) -> Answer<io::Result<Vec<Socket>>> {
        Err(Unsupported {
            what: "proc_net_sockets",
        })
    }

    fn kernel_taint(&self) -> Answer<Option<u64>> {
        Err(Unsupported { what: "kernel_taint" })
    }

    /// Windows launches programs from services, scheduled tasks, Run keys and Startup folders,
    /// none of which is read yet: unsupported, never "nothing found".
    fn persistence_files(&self) -> Answer<portscope_core::persistence::files::Files> {
        Err(Unsupported {
            what: "persistence_files",
        })
    }

    fn script_files(&self, _paths: &[PathBuf]) -> Answer<portscope_core::persistence::files::Files> {
        Err(Unsupported { what: "script_files" })
    }
}

impl Control for Windows {
    fn pin(&self, pid: u32) -> Result<Box<dyn Pinned>, ControlError> {
        Ok(Box::new(control::pin(pid)?))
    }

    fn can_stop_units(&self) -> bool {
        services::available()
    }

    fn stop_unit(&self, unit: &str, _user: Option<&str>) -> Result<(), String> {
        services::stop(unit)
    }

    fn connections(&self) -> io::Result<Vec<Socket>> {
        control::connections()
    }

    fn destroy(&self, connection: &Socket) -> Result<(), DestroyError> {
        control::destroy(connection)
    }
}

impl Session for Windows {
    fn local_time(&self, time_ms: i64) -> String {
        session::format(time_ms)
    }

    fn utc_offset_ms(&self, time_ms: i64) -> i64 {
        session::utc_offset_ms(time_ms)
    }

    fn block_stop_signals(&self) -> io::Result<Box<dyn StopWait>> {
        Ok(Box::new(session::ConsoleStop::install()?))
    }

    fn kill_process_group(&self, pgid: u32) {
        session::kill_tree(pgid)
    }

    fn terminal_gone(&self) -> bool {
        // A console that closes sends CTRL_CLOSE_EVENT, which the stop handler turns into a
        // stop request: there is no hung-up terminal to poll for.
        false
    }
}

/// Windows has no event source here (ETW would be its counterpart): watch polls.
impl portscope_core::platform::Events for Windows {
    fn events(
        &self,
    ) -> Answer<
        std::result::Result<
            Box<dyn portscope_core::watch::kernel::EventStream>,
            portscope_core::watch::kernel::EventsUnavailable,
        >,
    > {
        Err(Unsupported { what: "events" })
    }
}
