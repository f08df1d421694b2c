//! The host facts audit's newer rules weigh: every process (not only socket holders), a
//! process's environment, /etc/ld.so.preload, the kernel's taint mask, and the direct per-pid
//! questions the hidden-process cross-view asks (kill(pid, 0), /proc/PID/status read by pid).
//!
//! Every read is bounded: an environment is as large as its owner makes it.

use std::io;

use portscope_core::model::Process;

use crate::process::{self, Clock, read_bounded};

/// How much of an environment is read: LD_PRELOAD and HISTFILE sit near the start.
const MAX_ENVIRON: u64 = 256 << 10;
/// /etc/ld.so.preload is a few lines; more is read only up to this.
const MAX_PRELOAD: u64 = 64 << 10;

/// Every process /proc lists, read the way a snapshot reads socket holders.
pub fn processes() -> Vec<Process> {
    let Ok(proc_fd) = crate::fd_table::open_proc() else {
        return Vec::new();
    };
    let Ok(pids) = crate::fd_table::list_pids(&proc_fd) else {
        return Vec::new();
    };
    let clock = Clock::read();
    pids.into_iter()
        .filter_map(|pid| process::read(pid, clock).ok().flatten())
        .collect()
}

/// Splits /proc/PID/environ (NUL-separated `NAME=value`) into entries, lossy UTF-8.
pub fn parse_environ(bytes: &[u8]) -> Vec<String> {
    bytes
        .split(|&b| b == 0)
        .filter(|entry| !entry.is_empty())
        .map(|entry| String::from_utf8_lossy(entry).into_owned())
        .collect()
}

pub fn environment(pid: u32) -> Option<Vec<String>> {
    read_bounded(&format!("/proc/{pid}/environ"), MAX_ENVIRON).map(|b| parse_environ(&b))
}

/// The contents of /etc/ld.so.preload; `None` when there is no such file or it is unreadable.
pub fn preload_file() -> Option<Vec<u8>> {
    read_bounded("/etc/ld.so.preload", MAX_PRELOAD)
}

/// The most threads whose `children` files are read for one process.
const MAX_THREADS: usize = 4096;

/// The children of every thread of `pid` (/proc/PID/task/TID/children, one number each), or
/// `None` when the process is gone.
pub fn children(pid: u32) -> Option<Vec<u32>> {
    let tasks = std::fs::read_dir(format!("/proc/{pid}/task")).ok()?;
    let mut children = Vec::new();
    for task in tasks.take(MAX_THREADS).flatten() {
        let Some(tid) = task.file_name().to_str().and_then(|t| t.parse::<u32>().ok()) else {
            continue;
        };
        // A thread that ended since the listing has no file any more, and no children.
        if let Some(bytes) = read_bounded(&format!("/proc/{pid}/task/{tid}/children"), 1 << 20) {
            children.extend(parse_children(&bytes));
        }
    }
    children.sort_unstable();
    children.dedup();
    Some(children)
}

/// Whether the kernel has /proc/PID/task/TID/children (CONFIG_PROC_CHILDREN), asked of this
/// process once.
pub fn children_supported() -> bool {
    static SUPPORTED: std::sync::OnceLock<bool> = std::sync::OnceLock::new();
    *SUPPORTED.get_or_init(|| std::path::Path::new("/proc/thread-self/children").exists())
}

/// `12 345 6789 `: the pids in a `children` file.
pub fn parse_children(bytes: &[u8]) -> impl Iterator<Item = u32> + '_ {
    bytes
        .split(|b| b.is_ascii_whitespace())
        .filter_map(|word| std::str::from_utf8(word).ok()?.parse().ok())
}

/// The pids /proc lists: thread-group leaders.
pub fn listed_pids() -> io::Result<Vec<u32>> {
    let proc_fd = crate::fd_table::open_proc()?;
    crate::fd_table::list_pids(&proc_fd)
}

fn read_number(path: &str) -> Option<u64> {
    let bytes = read_bounded(path, 64)?;
    std::str::from_utf8(&bytes).ok()?.trim().parse().ok()
}

pub fn pid_max() -> u32 {
    read_number("/proc/sys/kernel/pid_max")
        .and_then(|n| u32::try_from(n).ok())
        // PID_MAX_LIMIT: what the kernel can never exceed.
        .unwrap_or(1 << 22)
}

/// Whether a process or thread with `pid` exists: kill(pid, 0) succeeds, or fails only because
/// this user may not signal it.
pub fn pid_answers(pid: u32) -> bool {
    let Some(pid) = rustix::process::Pid::from_raw(pid as i32) else {
        return false;
    };
    match rustix::process::test_kill_process(pid) {
        Ok(()) => true,
        Err(e) => e == rustix::io::Errno::PERM,
    }
}

/// The `Tgid:` line of a /proc/PID/status.
pub fn parse_tgid(status: &[u8]) -> Option<u32> {
    let line = status
        .split(|&b| b == b'\n')
        .find_map(|l| l.strip_prefix(b"Tgid:"))?;
    std::str::from_utf8(line).ok()?.trim().parse().ok()
}

pub fn thread_group(pid: u32) -> Option<u32> {
    parse_tgid(&read_bounded(&format!("/proc/{pid}/status"), 64 << 10)?)
}

pub fn kernel_taint() -> Option<u64> {
    read_number("/proc/sys/kernel/tainted")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parsers() {
        assert_eq!(
            parse_environ(b"A=1\0LD_PRELOAD=/tmp/x.so\0\0"),
            ["A=1", "LD_PRELOAD=/tmp/x.so"]
        );
        assert_eq!(parse_environ(b"\xffX=\xfe\0"), ["\u{fffd}X=\u{fffd}"]);
        assert_eq!(parse_tgid(b"Name:\tx\nTgid:\t812\nPid:\t813\n"), Some(812));
        assert_eq!(parse_tgid(b"Name:\tx\n"), None);
        assert_eq!(
            parse_children(b"12 345 \xff 6789 ").collect::<Vec<_>>(),
            [12, 345, 6789]
        );
    }

    #[test]
    fn a_child_this_process_started_is_its_child() {
        let mut child = std::process::Command::new("sleep").arg("5").spawn().unwrap();
        let found = children(std::process::id());
        child.kill().unwrap();
        child.wait().unwrap();
        assert!(found.unwrap().contains(&child.id()));
    }

    #[test]
    fn this_process_answers_and_is_listed() {
        let me = std::process::id();
        assert!(pid_answers(me));
        assert_eq!(thread_group(me), Some(me));
        assert!(listed_pids().unwrap().contains(&me));
        assert!(pid_max() > me);
    }
}
