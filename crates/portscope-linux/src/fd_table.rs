//! Which process holds which socket: one walk over /proc/*/fd per run.
//!
//! Every descriptor that is a socket reads back as `socket:[INODE]` through readlink; the inode is
//! the key that the kernel's socket dump carries too. The walk uses raw directory reads into one
//! reused buffer and `readlinkat` relative to each fd directory, so it costs about one syscall per
//! descriptor and no allocation per descriptor.

use std::ffi::CStr;
use std::mem::MaybeUninit;
use std::os::fd::OwnedFd;
use std::sync::atomic::{AtomicUsize, Ordering};

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

/// What the walk found: `(inode, pid, fd)` for every socket descriptor, grouped by pid.
#[derive(Clone, Debug, Default)]
pub struct Walk {
    pub sockets: Vec<(u64, u32, u32)>,
    /// Processes whose fd directory this user may not read.
    pub unreadable: usize,
    /// The first few of them, to name in the note.
    pub unreadable_pids: Vec<u32>,
    /// Why a process's descriptors could not be read for a reason that is this process's own
    /// (out of descriptors or memory), not the other's: such a walk is incomplete, and owners
    /// would be missing without a word.
    pub failed: Option<Errno>,
    /// Processes whose main thread has exited (a zombie leader, `pthread_exit`) while other
    /// threads hold the descriptors: read through /proc/PID/task/TID/fd.
    pub headless: Vec<u32>,
}

/// Every pid in /proc, read through an open /proc.
pub fn list_pids(proc_fd: &OwnedFd) -> std::io::Result<Vec<u32>> {
    let mut pids = Vec::new();
    let mut buf = vec![MaybeUninit::<u8>::uninit(); 64 * 1024];
    let mut dir = RawDir::new(proc_fd, &mut buf);
    while let Some(entry) = dir.next() {
        if let Some(pid) = parse_pid(entry?.file_name().to_bytes()) {
            pids.push(pid);
        }
    }
    Ok(pids)
}

/// Opens /proc for the walk.
pub fn open_proc() -> std::io::Result<OwnedFd> {
    Ok(openat(
        CWD,
        c"/proc",
        OFlags::RDONLY | OFlags::DIRECTORY | OFlags::CLOEXEC,
        Mode::empty(),
    )?)
}

/// Walks every process's descriptors and records each one that is a socket. Processes that exit
/// during the walk are skipped.
pub fn walk() -> std::io::Result<Walk> {
    let proc_fd = open_proc()?;
    let pids = list_pids(&proc_fd)?;
    walk_pids(&proc_fd, &pids)
}

/// A process with more descriptors than this has them read by every walker thread, in chunks.
const SPLIT_ABOVE: usize = 2048;
const CHUNK: usize = 1024;

/// A process whose descriptors were listed but not yet read: too many for one thread.
struct Big {
    pid: u32,
    dir: OwnedFd,
    fds: Vec<u32>,
}

/// Walks the descriptors of `pids`.
///
/// The walk costs the kernel about 2 µs per descriptor and dominates `list` on a busy machine, so
/// it runs on up to four threads that take processes from a shared counter (fd counts differ
/// wildly between processes, so fixed chunks would leave threads idle). A process with thousands
/// of descriptors (a proxy, a database) is listed by one thread and then read by all of them, in
/// chunks, so that one process never leaves the other cores idle. It needs no input from the
/// socket dump, so the caller can run both at once. It fails only when this process ran out of
/// descriptors or memory: an incomplete walk would leave sockets without their owners.
pub fn walk_pids(proc_fd: &OwnedFd, pids: &[u32]) -> std::io::Result<Walk> {
    let threads = std::thread::available_parallelism()
        .map_or(1, |n| n.get())
        .clamp(1, 4);
    let next = AtomicUsize::new(0);
    let big = std::sync::Mutex::new(Vec::new());
    let parts: Vec<Walk> = std::thread::scope(|scope| {
        let workers: Vec<_> = (0..threads)
            .map(|_| scope.spawn(|| walk_some(proc_fd, pids, &next, &big)))
            .collect();
        workers
            .into_iter()
            .map(|w| w.join().unwrap_or_default())
            .collect()
    });
    let mut walk = Walk::default();
    for part in parts {
        walk.sockets.extend(part.sockets);
        walk.unreadable += part.unreadable;
        walk.unreadable_pids.extend(part.unreadable_pids);
        walk.failed = walk.failed.or(part.failed);
        walk.headless.extend(part.headless);
    }
    if let Some(errno) = walk.failed {
        return Err(errno.into());
    }
    let big: Vec<Big> = big.into_inner().unwrap_or_default();
    if big.is_empty() {
        return Ok(walk);
    }
    // Enough big processes to keep every thread busy: one each, as with small ones (threads
    // reading one directory contend for it). Fewer: split them in chunks over every thread.
    let chunk = if big.len() >= threads { usize::MAX } else { CHUNK };
    let chunks: Vec<(usize, usize)> = big
        .iter()
        .enumerate()
        .flat_map(|(i, b)| (0..b.fds.len()).step_by(chunk).map(move |start| (i, start)))
        .collect();
    let next = AtomicUsize::new(0);
    let parts: Vec<Vec<(u64, u32, u32)>> = std::thread::scope(|scope| {
        let workers: Vec<_> = (0..threads)
            .map(|_| {
                scope.spawn(|| {
                    let mut out = Vec::new();
                    let mut link = [0u8; 64];
                    while let Some(&(i, start)) = chunks.get(next.fetch_add(1, Ordering::Relaxed)) {
                        let process = &big[i];
                        let end = start.saturating_add(chunk).min(process.fds.len());
                        for &fd in &process.fds[start..end] {
                            if let Ok(Some(inode)) = read_socket_link(&process.dir, fd, &mut link) {
                                out.push((inode, process.pid, fd));
                            }
                        }
                    }
                    out
                })
            })
            .collect();
        workers
            .into_iter()
            .map(|w| w.join().unwrap_or_default())
            .collect()
    });
    for part in parts {
        walk.sockets.extend(part);
    }
    Ok(walk)
}

/// The socket inodes one process holds now, read as the walk reads them (a zombie leader's
/// other threads answering for it): close's last check before a signal.
pub fn sockets_of(pid: u32) -> std::io::Result<Vec<u64>> {
    let proc_fd = open_proc()?;
    let mut fd_dir = open_fd_dir(&proc_fd, pid)?;
    let mut buf = vec![MaybeUninit::<u8>::uninit(); 16 * 1024];
    let mut names = Vec::new();
    let mut entries = RawDir::new(&fd_dir, &mut buf);
    while let Some(entry) = entries.next() {
        if let Some(fd) = parse_pid(entry?.file_name().to_bytes()) {
            names.push(fd);
        }
    }
    if names.is_empty()
        && let Some((dir, fds)) = other_threads_table(&proc_fd, pid, &mut buf)
    {
        fd_dir = dir;
        names = fds;
    }
    let mut link = [0u8; 64];
    Ok(names
        .into_iter()
        .filter_map(|fd| read_socket_link(&fd_dir, fd, &mut link).ok().flatten())
        .collect())
}

/// Reads descriptor `fd`'s link under an open fd directory: the socket inode, if it is one.
fn read_socket_link(dir: &OwnedFd, fd: u32, link: &mut [u8; 64]) -> Result<Option<u64>, Errno> {
    let mut name = [0u8; 12];
    let mut cursor = std::io::Cursor::new(&mut name[..]);
    std::io::Write::write_fmt(&mut cursor, format_args!("{fd}\0")).map_err(|_| Errno::NAMETOOLONG)?;
    let len = cursor.position() as usize;
    let name = CStr::from_bytes_with_nul(&name[..len]).map_err(|_| Errno::INVAL)?;
    let len = readlinkat_raw(dir, name, &mut link[..])?;
    Ok(parse_socket_link(&link[..len]))
}

/// One thread's share of the walk: processes taken one at a time from `next`.
fn walk_some(proc_fd: &OwnedFd, pids: &[u32], next: &AtomicUsize, big: &std::sync::Mutex<Vec<Big>>) -> Walk {
    let mut walk = Walk::default();
    let mut buf = vec![MaybeUninit::<u8>::uninit(); 64 * 1024];
    let mut link = [0u8; 64];
    let mut names: Vec<u32> = Vec::new();
    while let Some(&pid) = pids.get(next.fetch_add(1, Ordering::Relaxed)) {
        let mut fd_dir = match open_fd_dir(proc_fd, pid) {
            Ok(fd) => fd,
            Err(Errno::ACCESS | Errno::PERM) => {
                walk.unreadable += 1;
                walk.unreadable_pids.push(pid);
                continue;
            }
            Err(errno @ (Errno::MFILE | Errno::NFILE | Errno::NOMEM)) => {
                walk.failed = Some(errno);
                break;
            }
            // ENOENT: the process exited since /proc was listed.
            Err(_) => continue,
        };
        names.clear();
        let mut entries = RawDir::new(&fd_dir, &mut buf);
        while let Some(Ok(entry)) = entries.next() {
            if let Some(fd) = parse_pid(entry.file_name().to_bytes()) {
                names.push(fd);
            }
        }
        if names.is_empty()
            && let Some((dir, fds)) = other_threads_table(proc_fd, pid, &mut buf)
        {
            fd_dir = dir;
            names = fds;
            walk.headless.push(pid);
        }
        if names.len() > SPLIT_ABOVE
            && let Ok(mut big) = big.lock()
        {
            big.push(Big {
                pid,
                dir: fd_dir,
                fds: std::mem::take(&mut names),
            });
            continue;
        }
        let mut denied = false;
        for &fd in &names {
            match read_socket_link(&fd_dir, fd, &mut link) {
                Ok(Some(inode)) => walk.sockets.push((inode, pid, fd)),
                Ok(None) => {}
                // Some processes refuse even root (a security module, or a sandbox's init).
                Err(Errno::ACCESS | Errno::PERM) => denied = true,
                // ENOENT: the descriptor was closed since the directory was read.
                Err(_) => {}
            }
        }
        walk.unreadable += usize::from(denied);
        if denied {
            walk.unreadable_pids.push(pid);
        }
    }
    walk
}

/// The descriptor table of a process whose leader has none: a main thread that called
/// `pthread_exit` is a zombie with an empty /proc/PID/fd while its other threads run on with the
/// process's descriptors (/proc/PID/task/TID/fd). The first other thread with descriptors
/// answers for the process; kernel threads and truly empty processes have none.
fn other_threads_table(
    proc_fd: &OwnedFd,
    pid: u32,
    buf: &mut [MaybeUninit<u8>],
) -> Option<(OwnedFd, Vec<u32>)> {
    let tasks = open_dir(proc_fd, format_args!("{pid}/task\0")).ok()?;
    let mut tids = Vec::new();
    let mut entries = RawDir::new(&tasks, buf);
    while let Some(Ok(entry)) = entries.next() {
        match parse_pid(entry.file_name().to_bytes()) {
            Some(tid) if tid != pid => tids.push(tid),
            _ => {}
        }
    }
    for tid in tids {
        let Ok(dir) = open_dir(proc_fd, format_args!("{pid}/task/{tid}/fd\0")) else {
            continue;
        };
        let mut fds = Vec::new();
        let mut entries = RawDir::new(&dir, buf);
        while let Some(Ok(entry)) = entries.next() {
            if let Some(fd) = parse_pid(entry.file_name().to_bytes()) {
                fds.push(fd);
            }
        }
        if !fds.is_empty() {
            return Some((dir, fds));
        }
    }
    None
}

fn open_fd_dir(proc_fd: &OwnedFd, pid: u32) -> Result<OwnedFd, Errno> {
    open_dir(proc_fd, format_args!("{pid}/fd\0"))
}

/// Opens the directory `path` (NUL-terminated, below /proc) without a heap allocation.
fn open_dir(proc_fd: &OwnedFd, path: std::fmt::Arguments<'_>) -> Result<OwnedFd, Errno> {
    let mut buf = [0u8; 48];
    let mut cursor = std::io::Cursor::new(&mut buf[..]);
    std::io::Write::write_fmt(&mut cursor, path).map_err(|_| Errno::NAMETOOLONG)?;
    let len = cursor.position() as usize;
    let path = CStr::from_bytes_with_nul(&buf[..len]).map_err(|_| Errno::INVAL)?;
    openat(
        proc_fd,
        path,
        OFlags::RDONLY | OFlags::DIRECTORY | OFlags::CLOEXEC,
        Mode::empty(),
    )
}
