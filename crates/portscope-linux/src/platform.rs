//! [`Linux`]: the platform roles ([`Collect`], [`HostFacts`], [`Control`], [`Session`], which
//! together make a [`portscope_core::Platform`]), one method per question, each answered by the
//! module that knows. Linux answers every optional fact, so no method here returns
//! [`Unsupported`](portscope_core::platform::Unsupported).

use std::collections::HashMap;
use std::io;
use std::ops::RangeInclusive;
use std::path::{Path, PathBuf};

use portscope_core::error::{Error, Result};
use portscope_core::model::{Family, Process, Protocol, Snapshot, Socket, SocketSource};
use portscope_core::platform::{
    Answer, BpfProgram, Collect, Control, ControlError, DestroyError, Events, HostFacts, Identity,
    NetnsSelection, PackageDatabase, Pinned, ProbeResult, Query, SelfInfo, Session, StopWait,
};
use portscope_core::privilege::Privileges;

use crate::{
    bind_probe, bpf_progs, capabilities, exe_file, host_facts, identity, lineage, packages, persistence,
    pidfd, sock_destroy, sysctl, systemctl, users,
};

/// The running Linux kernel, read through /proc and netlink.
#[derive(Clone, Debug, Default)]
pub struct Linux {
    /// The namespaces a query that names none covers (every one, unless the user chose).
    netns: NetnsSelection,
    /// The namespace was chosen through a process: once both are gone, it has no sockets.
    pinned: bool,
    /// A snapshot of the chosen namespace succeeded once: when it is gone later (its last process
    /// was the one `close` stopped), it has no sockets rather than being an unknown namespace.
    seen: std::sync::Arc<std::sync::atomic::AtomicBool>,
    /// Where launcher files are read from (`/` unless a test points it at a fake tree).
    persistence_root: Option<PathBuf>,
}

impl Linux {
    /// The platform, looking at the namespaces `netns` picks unless a query says otherwise. A
    /// namespace chosen by a process is pinned now, by inode, so that it stays chosen after the
    /// process exits (`close` looks again once it has stopped it).
    pub fn new(netns: NetnsSelection) -> Linux {
        let pinned = match netns {
            NetnsSelection::Pid(pid) => crate::fd_table::open_proc()
                .ok()
                .and_then(|proc_fd| crate::netns::of_pid(&proc_fd, pid).ok()),
            _ => None,
        };
        match pinned {
            Some(inode) => Linux {
                netns: NetnsSelection::Inode(inode),
                pinned: true,
                seen: Default::default(),
                persistence_root: None,
            },
            None => Linux {
                netns,
                pinned: false,
                seen: Default::default(),
                persistence_root: None,
            },
        }
    }

    /// Reads launcher files (persistence) below `root` instead of `/`: for tests, which plant
    /// units, crontabs and profiles in a scratch tree rather than on the machine.
    pub fn with_persistence_root(mut self, root: PathBuf) -> Linux {
        self.persistence_root = Some(root);
        self
    }

    fn persistence_root(&self) -> &Path {
        self.persistence_root.as_deref().unwrap_or(Path::new("/"))
    }
}

impl Events for Linux {
    fn events(
        &self,
    ) -> Answer<
        std::result::Result<
            Box<dyn portscope_core::watch::kernel::EventStream>,
            portscope_core::watch::kernel::EventsUnavailable,
        >,
    > {
        let only = match &self.netns {
            NetnsSelection::Inode(inode) => Some(*inode),
            NetnsSelection::Current => std::fs::metadata("/proc/self/ns/net")
                .ok()
                .map(|m| std::os::unix::fs::MetadataExt::ino(&m)),
            _ => None,
        };
        Ok(crate::events::BpfEvents::start(only)
            .map(|s| Box::new(s) as Box<dyn portscope_core::watch::kernel::EventStream>))
    }
}

impl Collect for Linux {
    fn snapshot(&self, query: &Query) -> Result<Snapshot> {
        use std::sync::atomic::Ordering;
        match crate::snapshot_in(query, query.netns.as_ref().unwrap_or(&self.netns)) {
            // The process that named the namespace, or the last one in it, exited and took the
            // namespace with it.
            Err(Error::NotFound(_))
                if (self.pinned || self.seen.load(Ordering::Relaxed)) && query.netns.is_none() =>
            {
                Ok(Snapshot::of(Vec::new(), SocketSource::Netlink))
            }
            Ok(snapshot) => {
                if query.netns.is_none() {
                    self.seen.store(true, Ordering::Relaxed);
                }
                Ok(snapshot)
            }
            other => other,
        }
    }

    fn identity(&self, pid: u32) -> Option<Identity> {
        identity::identity(pid)
    }

    fn parent(&self, pid: u32) -> Answer<Option<u32>> {
        Ok(lineage::parent(pid))
    }

    fn is_kernel_thread(&self, pid: u32) -> bool {
        lineage::is_kernel_thread(pid)
    }

    fn critical_process(&self, _pid: u32) -> Option<&'static str> {
        // PID 1, namespace inits and kernel threads are refused by rules of their own.
        None
    }

    fn namespace_pid(&self, pid: u32) -> Option<u32> {
        crate::process::namespace_pid(pid)
    }

    fn lock_holder(&self, dev: u64, ino: u64) -> Answer<Option<u32>> {
        Ok(crate::locks::flock_holder(dev, ino))
    }

    fn privileges(&self) -> Privileges {
        capabilities::current()
    }

    fn user_names(&self) -> HashMap<u32, String> {
        users::table()
    }

    fn ephemeral_ports(&self) -> RangeInclusive<u16> {
        sysctl::ephemeral_ports()
    }

    fn self_info(&self) -> SelfInfo {
        let pid = std::process::id();
        SelfInfo {
            pid,
            ancestors: lineage::ancestors(pid),
            euid: rustix::process::geteuid().as_raw(),
            supervisor: lineage::own_supervisor(),
        }
    }

    fn provenance(&self, pids: &[u32]) -> Answer<HashMap<u32, portscope_core::provenance::Provenance>> {
        Ok(crate::provenance::read(pids))
    }

    fn network_namespace(&self) -> Answer<Option<String>> {
        // The link reads `net:[4026531840]`; the number is what `ip netns identify` and
        // `lsns -t net` show.
        let inode = || {
            let link = std::fs::read_link("/proc/self/ns/net").ok()?;
            let text = link.to_str()?;
            Some(text.strip_prefix("net:[")?.strip_suffix(']')?.to_string())
        };
        Ok(inode())
    }
}

impl HostFacts for Linux {
    fn file_exists(&self, pid: u32, path: &Path) -> Option<bool> {
        exe_file::exists(pid, path)
    }

    fn dir_world_writable(&self, pid: u32, path: &Path) -> Option<bool> {
        exe_file::dir_world_writable(pid, path)
    }

    fn name_resolves_to(&self, pid: u32, dir: &Path, name: &str, exe: &Path) -> bool {
        exe_file::name_resolves_to(pid, dir, name, exe)
    }

    fn same_root(&self, pid: u32) -> Option<bool> {
        exe_file::same_root(pid)
    }

    fn exe_is_hosts(&self, pid: u32) -> Option<bool> {
        exe_file::is_hosts(pid)
    }

    fn package_database(&self) -> PackageDatabase {
        packages::detect()
    }

    fn package_owners(&self, paths: &[PathBuf]) -> Answer<io::Result<HashMap<PathBuf, String>>> {
        Ok(packages::dpkg_owners(paths))
    }

    fn bind_probe(&self, protocol: Protocol, family: Family, ports: &[u16]) -> io::Result<ProbeResult> {
        bind_probe::probe(protocol, family, ports.iter().copied())
    }

    fn lists_bound_inactive(&self) -> bool {
        bind_probe::bound_inactive_supported()
    }

    fn processes(&self) -> Answer<Vec<Process>> {
        Ok(host_facts::processes())
    }

    fn children(&self, pid: u32) -> Answer<Option<Vec<u32>>> {
        // Without CONFIG_PROC_CHILDREN no process has the file: the rules that need it fall back
        // to reading every process.
        if !host_facts::children_supported() {
            return Err(portscope_core::platform::Unsupported { what: "children" });
        }
        Ok(host_facts::children(pid))
    }

    fn runs_own_executable(&self, pid: u32) -> bool {
        exe_file::same_as_own(pid)
    }

    fn environment(&self, pid: u32) -> Answer<Option<Vec<String>>> {
        Ok(host_facts::environment(pid))
    }

    fn preload_file(&self) -> Answer<Option<Vec<u8>>> {
        Ok(host_facts::preload_file())
    }

    fn listed_pids(&self) -> Answer<io::Result<Vec<u32>>> {
        Ok(host_facts::listed_pids())
    }

    fn pid_max(&self) -> Answer<u32> {
        Ok(host_facts::pid_max())
    }

    fn pid_answers(&self, pid: u32) -> Answer<bool> {
        Ok(host_facts::pid_answers(pid))
    }

    fn thread_group(&self, pid: u32) -> Answer<Option<u32>> {
        Ok(host_facts::thread_group(pid))
    }

    fn bpf_programs(&self) -> Answer<io::Result<Vec<BpfProgram>>> {
        Ok(bpf_progs::programs())
    }

    fn proc_net_sockets(&self) -> Answer<io::Result<Vec<Socket>>> {
        Ok(crate::proc_net_sockets())
    }

    fn kernel_taint(&self) -> Answer<Option<u64>> {
        Ok(host_facts::kernel_taint())
    }

    fn persistence_files(&self) -> Answer<portscope_core::persistence::Files> {
        Ok(persistence::files(
            self.persistence_root(),
            persistence::Limits::default(),
        ))
    }

    fn script_files(&self, paths: &[PathBuf]) -> Answer<portscope_core::persistence::Files> {
        Ok(persistence::scripts(
            self.persistence_root(),
            paths,
            persistence::Limits::default(),
        ))
    }
}

impl Control for Linux {
    fn pin(&self, pid: u32) -> Result<Box<dyn Pinned>, ControlError> {
        match pidfd::ProcessHandle::open(pid) {
            Ok(handle) => Ok(Box::new(handle)),
            Err(pidfd::OpenError::Gone) => Err(ControlError::Gone),
            Err(pidfd::OpenError::Other(err)) => Err(ControlError::Other(err)),
        }
    }

    fn can_stop_units(&self) -> bool {
        systemctl::find().is_some()
    }

    fn stop_unit(&self, unit: &str, user: Option<&str>) -> Result<(), String> {
        match systemctl::find() {
            Some(path) => systemctl::stop(&path, unit, user),
            None => Err("systemctl is not installed".into()),
        }
    }

    fn connections(&self) -> io::Result<Vec<Socket>> {
        sock_destroy::connections(&self.netns)
    }

    fn destroy(&self, connection: &Socket) -> Result<(), DestroyError> {
        sock_destroy::destroy(connection)
    }
}

impl StopWait for crate::stop_signal::StopSignals {
    fn wait(&self, timeout: std::time::Duration) -> Option<i32> {
        crate::stop_signal::StopSignals::wait(self, timeout)
    }
}

impl Session for Linux {
    fn local_time(&self, time_ms: i64) -> String {
        crate::local_time::format(time_ms)
    }

    fn utc_offset_ms(&self, time_ms: i64) -> i64 {
        crate::local_time::utc_offset_ms(time_ms)
    }

    fn block_stop_signals(&self) -> io::Result<Box<dyn StopWait>> {
        Ok(Box::new(crate::stop_signal::StopSignals::block()?))
    }

    fn kill_process_group(&self, pgid: u32) {
        crate::stop_signal::kill_process_group(pgid)
    }

    fn terminal_gone(&self) -> bool {
        crate::stop_signal::terminal_gone()
    }
}
