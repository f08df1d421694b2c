//! Which process holds which socket: one walk over /proc/*/fd per run.
//!
//! Every descriptor that is a socket reads back as `socket:[INODE]` through readlink; the inode is
//! the key that the kernel's socket dump carries too. The walk uses raw directory reads into one
//! reused buffer and `readlinkat` relative to each fd directory, so it costs about one syscall per
//! descriptor and no allocation per descriptor.

use std::collections::HashMap;
use std::ffi::CStr;
use std::mem::MaybeUninit;
use std::os::fd::OwnedFd;

use rustix::fs::{CWD, Mode, OFlags, RawDir, openat, readlinkat_raw};
use rustix::io::Errno;

/// Extracts the inode from a descriptor's link target, `socket:[12345]`.
pub fn parse_socket_link(target: &[u8]) -> Option<u64> {
    let digits = target.strip_prefix(b"socket:[")?.strip_suffix(b"]")?;
    if digits.is_empty() || digits.len() > 20 || !digits.iter().all(u8::is_ascii_digit) {
        return None;
    }
    std::str::from_utf8(digits).ok()?.parse().ok()
}

/// Parses a /proc directory entry name as a pid.
fn parse_pid(name: &[u8]) -> Option<u32> {
    if name.is_empty() || !name.iter().all(u8::is_ascii_digit) {
        return None;
    }
    std::str::from_utf8(name).ok()?.parse().ok()
}

/// What the walk saw besides its hits.
#[derive(Clone, Copy, Debug, Default)]
pub struct WalkStats {
    /// Processes whose fd directory this user may not read.
    pub unreadable: usize,
}

/// Walks every process's descriptors and calls `hit(slot, pid, fd)` for each socket whose inode
/// is in `wanted` (inode → caller's slot). Processes that exit during the walk are skipped.
pub fn walk(
    wanted: &HashMap<u64, usize>,
    mut hit: impl FnMut(usize, u32, u32),
) -> std::io::Result<WalkStats> {
    let proc_fd = openat(
        CWD,
        c"/proc",
        OFlags::RDONLY | OFlags::DIRECTORY | OFlags::CLOEXEC,
        Mode::empty(),
    )?;
    let mut stats = WalkStats::default();
    let mut proc_buf = vec![MaybeUninit::<u8>::uninit(); 64 * 1024];
    let mut fd_buf = vec![MaybeUninit::<u8>::uninit(); 64 * 1024];
    let mut link = [0u8; 64];
    let mut pids = Vec::new();
    let mut dir = RawDir::new(&proc_fd, &mut proc_buf);
    while let Some(entry) = dir.next() {
        if let Some(pid) = parse_pid(entry?.file_name().to_bytes()) {
            pids.push(pid);
        }
    }
    for pid in pids {
        let fd_dir = match open_fd_dir(&proc_fd, pid) {
            Ok(fd) => fd,
            Err(Errno::ACCESS | Errno::PERM) => {
                stats.unreadable += 1;
                continue;
            }
            // ENOENT: the process exited since we listed /proc.
            Err(_) => continue,
        };
        let mut entries = RawDir::new(&fd_dir, &mut fd_buf);
        while let Some(Ok(entry)) = entries.next() {
            let name = entry.file_name();
            let Some(fd) = parse_pid(name.to_bytes()) else {
                continue;
            };
            let Ok(len) = readlinkat_raw(&fd_dir, name, &mut link[..]) else {
                continue;
            };
            if let Some(slot) = parse_socket_link(&link[..len]).and_then(|inode| wanted.get(&inode)) {
                hit(*slot, pid, fd);
            }
        }
    }
    Ok(stats)
}

fn open_fd_dir(proc_fd: &OwnedFd, pid: u32) -> Result<OwnedFd, Errno> {
    // "<pid>/fd" without a heap allocation per process.
    let mut path = [0u8; 24];
    let mut cursor = std::io::Cursor::new(&mut path[..]);
    std::io::Write::write_fmt(&mut cursor, format_args!("{pid}/fd\0")).map_err(|_| Errno::NAMETOOLONG)?;
    let len = cursor.position() as usize;
    let path = CStr::from_bytes_with_nul(&path[..len]).map_err(|_| Errno::INVAL)?;
    openat(
        proc_fd,
        path,
        OFlags::RDONLY | OFlags::DIRECTORY | OFlags::CLOEXEC,
        Mode::empty(),
    )
}
