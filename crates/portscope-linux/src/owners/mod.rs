//! Which process holds which socket, read in one pass where the kernel allows it.
//!
//! The /proc/PID/fd walk ([`fd_table`]) costs a readlink per descriptor. With the privileges to
//! run a BPF iterator, the owners iterator ([`iter`]) lists every task's files from the kernel in
//! one read, and [`record::replay`] turns that into exactly what the walk would have found
//! (threads, leaders that exited, processes the kernel will not show) at one readlink per
//! process; the processes the iterator did not visit (kernel threads, and PID 1, which Linux
//! 6.18's task iterators pass over) are walked as before, each an empty or small directory.
//!
//! The walk stays the fallback: without the privileges, a bpffs at /sys/fs/bpf or the initial
//! pid namespace (silently, as before), and with them but no iterator to be had (no BTF, a
//! refused load, a pin that is not portscope's), said once in the snapshot's notes.
//!
//! `PORTSCOPE_OWNERS` picks the way for benchmarks and comparisons: `walk`, `load` (load the
//! program on every run, pin nothing) or `pin` (the default where allowed).

pub mod iter;
pub mod record;

use std::ffi::CStr;
use std::io;
use std::os::fd::OwnedFd;

use rustix::fs::readlinkat_raw;
use rustix::io::Errno;

use crate::fd_table::{self, Walk};

/// The init pid namespace's inode number (PROC_PID_INIT_INO): the iterator names tasks by
/// their pids there, and the walk by the pids its /proc shows.
const INIT_PID_NS: u64 = 0xEFFF_FFFC;

const CAP_DAC_READ_SEARCH: u32 = 2;
const CAP_SYS_PTRACE: u32 = 19;
const CAP_SYS_ADMIN: u32 = 21;
const CAP_PERFMON: u32 = 38;
const CAP_BPF: u32 = 39;

/// How the owners were found.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Way {
    Walk,
    /// Load the iterator on this run and drop it after.
    Load,
    /// The pinned iterator, loaded and pinned first if need be.
    Pin,
}

/// What [`find`] found, how, and the note to show when a privileged run had to walk.
pub struct Found {
    pub walk: io::Result<Walk>,
    pub way: Way,
    pub note: Option<String>,
}

/// The way this process may take: the iterator needs root with CAP_BPF and CAP_PERFMON (or
/// CAP_SYS_ADMIN), and the walk's own privileges (CAP_SYS_PTRACE, CAP_DAC_READ_SEARCH) so that
/// nothing the walk would have been refused differs but the per-process ptrace check, which
/// the replay asks; and the init pid namespace with its /proc, where the iterator's pids are
/// the ones /proc shows.
pub fn way() -> Way {
    let wanted = match std::env::var("PORTSCOPE_OWNERS").as_deref() {
        Ok("walk") => return Way::Walk,
        Ok("load") => Way::Load,
        _ => Way::Pin,
    };
    let effective = std::fs::read("/proc/self/status")
        .ok()
        .and_then(|s| crate::capabilities::parse_effective(&s))
        .unwrap_or(0);
    let has = |cap: u32| effective & (1 << cap) != 0;
    let may_trace = (has(CAP_BPF) && has(CAP_PERFMON)) || has(CAP_SYS_ADMIN);
    if rustix::process::geteuid().as_raw() != 0
        || !may_trace
        || !(has(CAP_SYS_PTRACE) && has(CAP_DAC_READ_SEARCH))
    {
        return Way::Walk;
    }
    let own_ns = rustix::fs::stat("/proc/self/ns/pid").map(|s| s.st_ino);
    let proc_self = std::fs::read_link("/proc/self").ok();
    let pid = rustix::process::getpid().as_raw_nonzero().get().to_string();
    // In a pid namespace of its own (a container, `unshare --pid`) the walk sees exactly the
    // processes portscope can name: nothing is lost, and nothing to say.
    if own_ns != Ok(INIT_PID_NS) || proc_self.as_deref() != Some(std::path::Path::new(&pid)) {
        return Way::Walk;
    }
    wanted
}

/// Finds the owners of every socket held by `pids`, the way this process may take.
pub fn find(proc_fd: &OwnedFd, pids: &[u32]) -> Found {
    let way = way();
    let read = match way {
        Way::Walk => return walked(proc_fd, pids, None),
        Way::Load => iter::read_loaded(),
        Way::Pin => iter::read_pinned(&iter::pin_dir_path()),
    };
    match read.and_then(|bytes| {
        record::parse(&bytes)
            .map_err(|len| iter::Unavailable::Read(format!("{len} bytes is no whole number of records")))
    }) {
        Ok(records) => Found {
            walk: complete(
                proc_fd,
                record::replay(&records, pids, |probe| readable(proc_fd, probe)),
            ),
            way,
            note: None,
        },
        // No bpffs in this mount namespace (not mounted, or hidden: `ip netns exec` mounts a
        // fresh /sys): nothing is wrong, and nothing to say.
        Err(iter::Unavailable::NoBpffs(_)) => walked(proc_fd, pids, None),
        Err(why) => walked(proc_fd, pids, Some(why.to_string())),
    }
}

/// Adds what the walk finds for the processes the iterator did not visit.
fn complete(proc_fd: &OwnedFd, (mut walk, unvisited): (Walk, Vec<u32>)) -> io::Result<Walk> {
    let rest = fd_table::walk_pids(proc_fd, &unvisited)?;
    walk.sockets.extend(rest.sockets);
    walk.unreadable += rest.unreadable;
    walk.unreadable_pids.extend(rest.unreadable_pids);
    walk.headless.extend(rest.headless);
    Ok(walk)
}

fn walked(proc_fd: &OwnedFd, pids: &[u32], why: Option<String>) -> Found {
    Found {
        walk: fd_table::walk_pids(proc_fd, pids),
        way: Way::Walk,
        note: why.map(|why| {
            format!("socket owners were found by walking /proc/*/fd, not with the BPF iterator: {why}")
        }),
    }
}

/// Whether the walk could have read the descriptors of `probe`'s process: one readlink of one of
/// them, where the walk would have read them all (the kernel's check is per process).
fn readable(proc_fd: &OwnedFd, probe: record::Probe) -> Result<(), Errno> {
    let mut path = [0u8; 64];
    let mut cursor = std::io::Cursor::new(&mut path[..]);
    let written = if probe.tid == probe.tgid {
        std::io::Write::write_fmt(&mut cursor, format_args!("{}/fd/{}\0", probe.tgid, probe.fd))
    } else {
        std::io::Write::write_fmt(
            &mut cursor,
            format_args!("{}/task/{}/fd/{}\0", probe.tgid, probe.tid, probe.fd),
        )
    };
    written.map_err(|_| Errno::NAMETOOLONG)?;
    let len = cursor.position() as usize;
    let path = CStr::from_bytes_with_nul(&path[..len]).map_err(|_| Errno::INVAL)?;
    let mut link = [0u8; 64];
    readlinkat_raw(proc_fd, path, &mut link[..]).map(|_| ())
}
