//! The event source: portscope's eBPF programs (bpf/events.bpf.c, compiled into the checked-in
//! bpf/obj/events.o), loaded with aya, and their ring buffer read as [`KernelEvent`]s.
//!
//! What is attached, and what is said when a part cannot be:
//! - raw tracepoint `inet_sock_set_state`: TCP listen, connect, close and state changes. Without
//!   it there is no event source at all.
//! - raw tracepoints `tcp_send_reset` and `icmp_send`: connections refused on closed ports, for
//!   scan detection (`icmp_send` exists from Linux 6.13).
//! - cgroup hooks `post_bind4`, `post_bind6` and `sock_release` on the cgroup2 root: binds (UDP
//!   listeners) and UDP closes. On a host with no cgroup2 mount, one is mounted on a private
//!   directory, the root opened and the mount detached again at once (the attachment lives on
//!   with the descriptor). Where that is refused, UDP binds are seen by the polls only.
//!
//! The executable of the process behind an event is read from /proc/PID/exe when the event is
//! read (a few milliseconds later): best effort, since a process that already exited has none
//! and a pid can in principle be reused in between. The name the kernel had (comm) is shown,
//! never used as identity.

pub mod record;

use std::collections::HashMap;
use std::io;
use std::os::fd::{AsRawFd, OwnedFd};
use std::path::PathBuf;
use std::time::Duration;

use aya::Ebpf;
use aya::maps::{MapData, PerCpuArray, RingBuf};
use aya::programs::{CgroupAttachMode, CgroupSock, Program, ProgramError, RawTracePoint};

use portscope_core::model::Endpoint;
use portscope_core::watch::kernel::{
    EventStream, EventsUnavailable, KernelEvent, Refusal, SocketChange, SocketEvent,
};
use portscope_core::watch::merge::tcp_change;

use record::Record;

/// The compiled programs, 8-byte aligned as the ELF parser wants them.
#[repr(C, align(8))]
struct Aligned<B: ?Sized>(B);

static OBJECT: &Aligned<[u8]> = &Aligned(*include_bytes!("../../bpf/obj/events.o"));

/// How long the reader lets events gather after a batch.
const COALESCE: Duration = Duration::from_millis(5);

/// Records read per batch at most, so that one batch is bounded however fast the kernel writes.
const BATCH: usize = 8_192;

/// The loaded programs and their buffer.
pub struct BpfEvents {
    /// Owns the programs and links: dropping it detaches everything.
    _ebpf: Ebpf,
    ring: RingBuf<MapData>,
    drops: PerCpuArray<MapData, u64>,
    missing: Vec<String>,
    /// CLOCK_REALTIME minus CLOCK_BOOTTIME, in nanoseconds, to stamp records.
    offset_ns: i128,
}

fn unavailable(reason: impl Into<String>) -> EventsUnavailable {
    EventsUnavailable {
        reason: reason.into(),
    }
}

impl BpfEvents {
    /// Loads and attaches the programs; `netns` keeps only one namespace's events (the programs
    /// filter, so that another namespace's flood never fills this buffer).
    pub fn start(netns: Option<u64>) -> Result<BpfEvents, EventsUnavailable> {
        if !crate::capabilities::can_trace(crate::capabilities::effective()) {
            return Err(unavailable(
                "kernel socket events need CAP_BPF and CAP_PERFMON (or root)",
            ));
        }
        if !std::path::Path::new("/sys/kernel/btf/vmlinux").exists() {
            return Err(unavailable(
                "kernel socket events need a kernel with BTF (/sys/kernel/btf/vmlinux, CONFIG_DEBUG_INFO_BTF)",
            ));
        }
        let mut ebpf = aya::EbpfLoader::new()
            .override_global("netns_filter", &netns.unwrap_or(0), true)
            .load(&OBJECT.0)
            .map_err(|e| unavailable(format!("the kernel refused portscope's eBPF programs ({e})")))?;
        let mut missing = Vec::new();
        attach_raw(&mut ebpf, "ps_state", "inet_sock_set_state")
            .map_err(|e| unavailable(format!("the TCP state tracepoint could not be attached ({e})")))?;
        if let Err(e) = attach_raw(&mut ebpf, "ps_reset", "tcp_send_reset") {
            missing.push(format!(
                "refused TCP connections (scan detection) are not seen: tcp_send_reset ({e})"
            ));
        }
        if let Err(e) = attach_raw(&mut ebpf, "ps_unreach", "icmp_send") {
            missing.push(format!(
                "refused UDP datagrams (scan detection) are not seen: icmp_send, Linux 6.13+ ({e})"
            ));
        }
        if let Err(e) = attach_cgroup(&mut ebpf) {
            missing.push(format!(
                "UDP binds and closes are seen by the polls only: the cgroup2 socket hooks could not be attached ({e})"
            ));
        }
        let ring = ebpf
            .take_map("events")
            .ok_or_else(|| unavailable("the events map is missing"))
            .and_then(|m| RingBuf::try_from(m).map_err(|e| unavailable(e.to_string())))?;
        let drops = ebpf
            .take_map("drops")
            .ok_or_else(|| unavailable("the drops map is missing"))
            .and_then(|m| PerCpuArray::try_from(m).map_err(|e| unavailable(e.to_string())))?;
        Ok(BpfEvents {
            _ebpf: ebpf,
            ring,
            drops,
            missing,
            offset_ns: clock_offset_ns(),
        })
    }

    fn convert(&self, r: Record, exe: Option<PathBuf>) -> Option<KernelEvent> {
        let time_ms = ((i128::from(r.time_ns) + self.offset_ns) / 1_000_000) as i64;
        if r.kind == record::REFUSAL {
            return Some(KernelEvent::Refusal(Refusal {
                time_ms,
                netns: r.netns,
                protocol: r.protocol,
                source: r.remote.address,
                address: r.local.address,
                port: r.local.port,
            }));
        }
        let change = match r.kind {
            record::STATE => {
                let (from, to) = r.states()?;
                tcp_change(from, to)
            }
            record::BIND => SocketChange::Bind,
            record::RELEASE => SocketChange::Close,
            _ => return None,
        };
        let process = r.pid != 0;
        let remote = (r.remote.port != 0).then_some(r.remote);
        Some(KernelEvent::Socket(SocketEvent {
            time_ms,
            change,
            protocol: r.protocol,
            local: Endpoint::new(r.local.address, r.local.port),
            remote,
            netns: r.netns,
            pid: process.then_some(r.pid),
            exe,
            program: (process && !r.comm.is_empty()).then(|| r.comm.clone()),
            uid: process.then_some(r.uid),
        }))
    }
}

impl EventStream for BpfEvents {
    fn next_batch(&mut self, timeout: Duration, out: &mut Vec<KernelEvent>) -> io::Result<()> {
        let mut records = Vec::new();
        let mut waited = false;
        while records.len() < BATCH {
            let item = self.ring.next().map(|item| Record::parse(&item));
            match item {
                Some(record) => records.push(record),
                // Nothing yet: wait once for the buffer to become readable, then read again.
                None if records.is_empty() && !waited => {
                    waited = true;
                    let fd = self.ring.as_raw_fd();
                    if !wait_readable(fd, timeout)? {
                        return Ok(());
                    }
                }
                None => break,
            }
        }
        self.offset_ns = clock_offset_ns();
        // One /proc/PID/exe read per process and batch: a busy process makes many events at once.
        let mut exes: HashMap<u32, Option<PathBuf>> = HashMap::new();
        for record in records.into_iter().filter_map(Result::ok) {
            let exe = match record.pid {
                0 => None,
                pid => exes.entry(pid).or_insert_with(|| exe_of(pid)).clone(),
            };
            out.extend(self.convert(record, exe));
        }
        // Let events gather a moment before the next wakeup: fewer wakeups under churn, and
        // 5 ms is well within the life of any process that has a port open.
        std::thread::sleep(COALESCE);
        Ok(())
    }

    fn lost(&self) -> u64 {
        self.drops
            .get(&0, 0)
            .map(|per_cpu| per_cpu.iter().sum())
            .unwrap_or(0)
    }

    fn missing(&self) -> Vec<String> {
        self.missing.clone()
    }
}

/// The program `name` of the object, as the kind of program `T` the caller attaches.
fn program_of<'a, T>(ebpf: &'a mut Ebpf, name: &str) -> Result<&'a mut T, String>
where
    &'a mut T: TryFrom<&'a mut Program, Error = ProgramError>,
{
    ebpf.program_mut(name)
        .ok_or("program missing")?
        .try_into()
        .map_err(|e: ProgramError| e.to_string())
}

fn attach_raw(ebpf: &mut Ebpf, program: &str, tracepoint: &str) -> Result<(), String> {
    let prog: &mut RawTracePoint = program_of(ebpf, program)?;
    prog.load().map_err(|e| e.to_string())?;
    prog.attach(tracepoint).map_err(|e| e.to_string())?;
    Ok(())
}

/// Attaches the bind and release hooks to the cgroup2 root.
fn attach_cgroup(ebpf: &mut Ebpf) -> Result<(), String> {
    let root = cgroup2_root().map_err(|e| format!("no cgroup2 root: {e}"))?;
    for name in ["ps_bind4", "ps_bind6", "ps_release"] {
        let prog: &mut CgroupSock = program_of(ebpf, name)?;
        prog.load().map_err(|e| e.to_string())?;
        prog.attach(&root, CgroupAttachMode::Single)
            .map_err(|e| e.to_string())?;
    }
    Ok(())
}

/// A descriptor of the cgroup2 hierarchy's root: through an existing cgroup2 mount, else through
/// one mounted for a moment on a private directory.
fn cgroup2_root() -> io::Result<OwnedFd> {
    if let Some(mount) = cgroup2_mount() {
        return rustix::fs::open(
            &mount,
            rustix::fs::OFlags::DIRECTORY | rustix::fs::OFlags::RDONLY | rustix::fs::OFlags::CLOEXEC,
            rustix::fs::Mode::empty(),
        )
        .map_err(io::Error::from);
    }
    let dir = std::env::temp_dir().join(format!("portscope-cgroup2.{}", std::process::id()));
    std::fs::create_dir(&dir)?;
    let opened = (|| {
        rustix::mount::mount("none", &dir, "cgroup2", rustix::mount::MountFlags::empty(), None)?;
        let fd = rustix::fs::open(
            &dir,
            rustix::fs::OFlags::DIRECTORY | rustix::fs::OFlags::RDONLY | rustix::fs::OFlags::CLOEXEC,
            rustix::fs::Mode::empty(),
        );
        // The root stays reachable through the descriptor; the mount is not left behind.
        let _ = rustix::mount::unmount(&dir, rustix::mount::UnmountFlags::DETACH);
        fd
    })();
    let _ = std::fs::remove_dir(&dir);
    opened.map_err(io::Error::from)
}

/// Where cgroup2 is mounted, from /proc/self/mountinfo.
fn cgroup2_mount() -> Option<PathBuf> {
    let text = crate::process::read_bounded("/proc/self/mountinfo", 1 << 20)?;
    cgroup2_in_mountinfo(&String::from_utf8_lossy(&text))
}

/// The mount point of the first cgroup2 filesystem in a mountinfo text.
fn cgroup2_in_mountinfo(text: &str) -> Option<PathBuf> {
    text.lines().find_map(|line| {
        let (left, right) = line.split_once(" - ")?;
        (right.split(' ').next() == Some("cgroup2"))
            .then(|| left.split(' ').nth(4).map(PathBuf::from))
            .flatten()
    })
}

/// Waits up to `timeout` for the ring buffer to have data.
fn wait_readable(fd: std::os::fd::RawFd, timeout: Duration) -> io::Result<bool> {
    let mut fds = [libc::pollfd {
        fd,
        events: libc::POLLIN,
        revents: 0,
    }];
    let ms = timeout.as_millis().min(i32::MAX as u128) as libc::c_int;
    // SAFETY: `fds` is a live array of one pollfd for the duration of the call.
    let n = unsafe { libc::poll(fds.as_mut_ptr(), 1, ms) };
    match n {
        n if n > 0 => Ok(true),
        0 => Ok(false),
        _ => {
            let e = io::Error::last_os_error();
            if e.kind() == io::ErrorKind::Interrupted {
                Ok(false)
            } else {
                Err(e)
            }
        }
    }
}

fn clock_offset_ns() -> i128 {
    let ns = |clock| {
        let t = rustix::time::clock_gettime(clock);
        i128::from(t.tv_sec) * 1_000_000_000 + i128::from(t.tv_nsec)
    };
    ns(rustix::time::ClockId::Realtime) - ns(rustix::time::ClockId::Boottime)
}

/// /proc/PID/exe, bounded by the kernel's PATH_MAX; `None` for a process gone or unreadable.
fn exe_of(pid: u32) -> Option<PathBuf> {
    std::fs::read_link(format!("/proc/{pid}/exe")).ok()
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_cgroup2_mount_is_found_in_mountinfo() {
        let text = "25 30 0:22 / /sys rw,nosuid shared:7 - sysfs sysfs rw\n\
                    35 25 0:30 / /sys/fs/cgroup rw,nosuid shared:9 - cgroup2 cgroup2 rw,nsdelegate\n";
        assert_eq!(super::cgroup2_in_mountinfo(text), Some("/sys/fs/cgroup".into()));
        assert_eq!(
            super::cgroup2_in_mountinfo("25 30 0:22 / /sys rw - sysfs sysfs rw\n"),
            None
        );
    }
}
