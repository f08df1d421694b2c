//! Network namespaces: finding every one on the host, and entering one from a thread.
//!
//! A namespace is found three ways: an nsfs bind mount (`ip netns add` under /run/netns, container
//! engines under /run/docker/netns and the like), read from /proc/self/mountinfo; the namespace of
//! every process (/proc/PID/ns/net); and, for a socket a process holds that no dump listed, the
//! namespace the socket itself lives in (SIOCGSKNS, see `cross_view`). The last finds namespaces
//! that nothing else points to any more.
//!
//! Entering is setns(2) on the calling thread only. Callers run it on threads of their own, so
//! the process and its other threads stay in the namespace they started in.

use std::io;
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};

use rustix::fs::{CWD, Mode, OFlags, fstat, openat, readlinkat_raw};
use rustix::io::Errno;
use rustix::thread::{LinkNameSpaceType, move_into_link_name_space};

use portscope_core::model::{Netns, NetnsKind, Supervisor};

/// How many /proc/PID/ns/net paths to keep per namespace: enough to survive a few of those
/// processes exiting before the namespace is entered.
const PATHS_PER_SPACE: usize = 3;
/// /proc/self/mountinfo of a busy container host runs to a few MB; never more than this.
const MOUNTINFO_LIMIT: u64 = 16 << 20;

/// One way to open a namespace.
#[derive(Debug)]
pub enum Handle {
    /// A bind mount or /proc/PID/ns/net.
    Path(PathBuf),
    /// A namespace descriptor already open (from SIOCGSKNS).
    Fd(OwnedFd),
}

/// A namespace found on the host.
#[derive(Debug)]
pub struct Space {
    pub netns: Netns,
    /// Ways to open it, best first: bind mounts, then processes inside.
    pub handles: Vec<Handle>,
    /// A few processes inside it.
    pub pids: Vec<u32>,
}

/// Every namespace found, with portscope's own first.
#[derive(Debug, Default)]
pub struct Discovery {
    /// The namespace portscope runs in.
    pub own: u64,
    pub spaces: Vec<Space>,
    /// Processes whose namespace this user may not read.
    pub unreadable: usize,
}

impl Discovery {
    pub fn get(&self, inode: u64) -> Option<&Space> {
        self.spaces.iter().find(|s| s.netns.inode == inode)
    }

    fn entry(&mut self, inode: u64) -> &mut Space {
        let index = match self.spaces.iter().position(|s| s.netns.inode == inode) {
            Some(index) => index,
            None => {
                self.spaces.push(Space {
                    netns: Netns {
                        inode,
                        name: None,
                        kind: NetnsKind::Anonymous,
                    },
                    handles: Vec::new(),
                    pids: Vec::new(),
                });
                self.spaces.len() - 1
            }
        };
        &mut self.spaces[index]
    }
}

/// Parses a namespace link target, `net:[4026531840]`.
pub fn parse_ns_link(target: &[u8]) -> Option<u64> {
    let digits = target.strip_prefix(b"net:[")?.strip_suffix(b"]")?;
    if digits.is_empty() || digits.len() > 20 || !digits.iter().all(u8::is_ascii_digit) {
        return None;
    }
    std::str::from_utf8(digits).ok()?.parse().ok()
}

/// Undoes mountinfo's octal escapes (`\040` for a space, `\134` for a backslash).
fn unescape(field: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(field.len());
    let mut i = 0;
    while i < field.len() {
        if field[i] == b'\\'
            && let Some(octal) = field.get(i + 1..i + 4)
            && octal.iter().all(|b| (b'0'..=b'7').contains(b))
        {
            let value = octal.iter().fold(0u32, |v, b| v * 8 + u32::from(b - b'0'));
            if let Ok(byte) = u8::try_from(value) {
                out.push(byte);
                i += 4;
                continue;
            }
        }
        out.push(field[i]);
        i += 1;
    }
    out
}

/// The network namespaces bind-mounted somewhere, from the text of /proc/self/mountinfo:
/// `(inode, mount point)` for every nsfs mount whose root is `net:[INODE]`.
pub fn parse_nsfs_mounts(mountinfo: &[u8]) -> Vec<(u64, PathBuf)> {
    let mut out = Vec::new();
    for line in mountinfo.split(|&b| b == b'\n') {
        let fields: Vec<&[u8]> = line.split(|&b| b == b' ').collect();
        // id parent dev root mountpoint options [optional…] - fstype source superoptions
        let Some(dash) = fields.iter().position(|f| *f == b"-") else {
            continue;
        };
        if dash < 5 || fields.get(dash + 1) != Some(&&b"nsfs"[..]) {
            continue;
        }
        let Some(inode) = parse_ns_link(fields[3]) else {
            continue;
        };
        let path = PathBuf::from(std::ffi::OsStr::from_bytes(&unescape(fields[4])));
        if !out.iter().any(|(_, p)| *p == path) {
            out.push((inode, path));
        }
    }
    out
}

/// The namespace an open nsfs descriptor refers to.
pub fn inode_of(fd: BorrowedFd<'_>) -> io::Result<u64> {
    Ok(fstat(fd)?.st_ino)
}

/// The namespace of process `pid`, read relative to an open /proc.
pub fn of_pid(proc_fd: &OwnedFd, pid: u32) -> Result<u64, Errno> {
    let mut path = [0u8; 32];
    let mut cursor = io::Cursor::new(&mut path[..]);
    io::Write::write_fmt(&mut cursor, format_args!("{pid}/ns/net\0")).map_err(|_| Errno::NAMETOOLONG)?;
    let len = cursor.position() as usize;
    let path = std::ffi::CStr::from_bytes_with_nul(&path[..len]).map_err(|_| Errno::INVAL)?;
    let mut link = [0u8; 64];
    let len = readlinkat_raw(proc_fd, path, &mut link[..])?;
    parse_ns_link(&link[..len]).ok_or(Errno::INVAL)
}

/// The namespace portscope's calling thread is in, opened.
pub fn open_own() -> io::Result<OwnedFd> {
    Ok(openat(
        CWD,
        c"/proc/thread-self/ns/net",
        OFlags::RDONLY | OFlags::CLOEXEC,
        Mode::empty(),
    )?)
}

/// Finds every namespace: portscope's own, every nsfs mount, and that of every process in `pids`.
/// Processes with a container's cgroup name their namespace after it.
pub fn discover(proc_fd: &OwnedFd, pids: &[u32]) -> io::Result<Discovery> {
    let own_fd = open_own()?;
    let own = inode_of(own_fd.as_fd())?;
    // Out of descriptors is no answer: a namespace missed that way would read as "nothing
    // there". Every other failure means the namespace is not ours to see, or gone.
    let host = match of_pid(proc_fd, 1) {
        Ok(host) => Some(host),
        Err(e) if short_of_descriptors(e) => return Err(e.into()),
        Err(_) => None,
    };
    let mut found = Discovery {
        own,
        ..Discovery::default()
    };
    found.entry(own).handles.push(Handle::Fd(own_fd));
    if let Some(host) = host {
        found.entry(host).netns.kind = NetnsKind::Host;
    } else {
        // PID 1's namespace is not readable (no root): call our own the host's.
        found.entry(own).netns.kind = NetnsKind::Host;
    }
    let mountinfo = match read_limited(Path::new("/proc/self/mountinfo")) {
        Ok(text) => Some(text),
        Err(e) if io_short_of_descriptors(&e) => return Err(e),
        Err(_) => None,
    };
    if let Some(text) = mountinfo {
        for (inode, path) in parse_nsfs_mounts(&text) {
            let space = found.entry(inode);
            if space.netns.name.is_none() {
                space.netns.name = path
                    .file_name()
                    .map(|n| String::from_utf8_lossy(n.as_bytes()).into_owned());
                if space.netns.kind != NetnsKind::Host {
                    space.netns.kind = NetnsKind::Named;
                }
            }
            space.handles.push(Handle::Path(path));
        }
    }
    for &pid in pids {
        match of_pid(proc_fd, pid) {
            Ok(inode) => {
                let space = found.entry(inode);
                if space.pids.len() < PATHS_PER_SPACE {
                    space.pids.push(pid);
                    space
                        .handles
                        .push(Handle::Path(PathBuf::from(format!("/proc/{pid}/ns/net"))));
                }
            }
            Err(Errno::ACCESS | Errno::PERM) => found.unreadable += 1,
            Err(e) if short_of_descriptors(e) => return Err(e.into()),
            // The process exited, or is a kernel thread without a namespace link.
            Err(_) => {}
        }
    }
    for space in &mut found.spaces {
        if space.netns.kind != NetnsKind::Anonymous {
            continue;
        }
        let container = space.pids.iter().find_map(|pid| {
            let cgroup = read_limited(Path::new(&format!("/proc/{pid}/cgroup"))).ok()?;
            match crate::cgroup::supervisor(&cgroup)? {
                container @ Supervisor::Container { .. } => Some(container),
                _ => None,
            }
        });
        if let Some(container) = container {
            space.netns.name = Some(container.to_string());
            space.netns.kind = NetnsKind::Container;
        }
    }
    Ok(found)
}

/// Whether `e` says this process ran out of descriptors (its limit or the system's): a walk that
/// meets it cannot finish and must fail, not skip.
pub fn short_of_descriptors(e: Errno) -> bool {
    matches!(e, Errno::MFILE | Errno::NFILE)
}

/// [`short_of_descriptors`] for an I/O error.
pub fn io_short_of_descriptors(e: &io::Error) -> bool {
    e.raw_os_error()
        .map(Errno::from_raw_os_error)
        .is_some_and(short_of_descriptors)
}

/// The name of the first bind mount of namespace `inode`, if it has one.
pub fn mount_name(inode: u64) -> Option<String> {
    let text = read_limited(Path::new("/proc/self/mountinfo")).ok()?;
    parse_nsfs_mounts(&text)
        .into_iter()
        .find(|(i, _)| *i == inode)
        .and_then(|(_, path)| {
            path.file_name()
                .map(|n| String::from_utf8_lossy(n.as_bytes()).into_owned())
        })
}

fn read_limited(path: &Path) -> io::Result<Vec<u8>> {
    use std::io::Read;
    let mut out = Vec::new();
    std::fs::File::open(path)?
        .take(MOUNTINFO_LIMIT)
        .read_to_end(&mut out)?;
    Ok(out)
}

/// Opens a namespace through the first handle that still leads to it. A /proc/PID path may
/// meanwhile belong to another process, so the inode is checked after opening.
pub fn open(space: &Space) -> io::Result<OwnedFd> {
    let mut last = io::Error::from(io::ErrorKind::NotFound);
    for handle in &space.handles {
        let fd = match handle {
            Handle::Path(path) => {
                match openat(
                    CWD,
                    path.as_path(),
                    OFlags::RDONLY | OFlags::CLOEXEC,
                    Mode::empty(),
                ) {
                    Ok(fd) => fd,
                    Err(err) => {
                        last = err.into();
                        continue;
                    }
                }
            }
            Handle::Fd(fd) => rustix::io::fcntl_dupfd_cloexec(fd, 0)?,
        };
        if inode_of(fd.as_fd())? == space.netns.inode {
            return Ok(fd);
        }
    }
    Err(last)
}

/// Moves the calling thread (only it) into the namespace `fd` refers to.
pub fn enter(fd: BorrowedFd<'_>) -> io::Result<()> {
    Ok(move_into_link_name_space(fd, Some(LinkNameSpaceType::Network))?)
}

/// Runs `work` on a new thread inside the namespace `fd` refers to; the caller's thread never moves.
pub fn run_in<T: Send>(fd: BorrowedFd<'_>, work: impl FnOnce() -> io::Result<T> + Send) -> io::Result<T> {
    std::thread::scope(|scope| {
        scope
            .spawn(|| {
                enter(fd)?;
                work()
            })
            .join()
            .unwrap_or_else(|_| Err(io::Error::other("a namespace thread panicked")))
    })
}

/// Finds a namespace by inode among the bind mounts and processes, for a request that must run
/// inside it (cutting a connection there).
pub fn open_by_inode(inode: u64) -> io::Result<OwnedFd> {
    let own = open_own()?;
    if inode_of(own.as_fd())? == inode {
        return Ok(own);
    }
    let proc_fd = openat(
        CWD,
        c"/proc",
        OFlags::RDONLY | OFlags::DIRECTORY | OFlags::CLOEXEC,
        Mode::empty(),
    )?;
    let pids = crate::fd_table::list_pids(&proc_fd)?;
    let found = discover(&proc_fd, &pids)?;
    match found.get(inode) {
        Some(space) => open(space),
        None => Err(io::Error::new(
            io::ErrorKind::NotFound,
            format!("network namespace net:[{inode}] is gone"),
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn namespace_links() {
        assert_eq!(parse_ns_link(b"net:[4026531840]"), Some(4026531840));
        assert_eq!(parse_ns_link(b"mnt:[4026531840]"), None);
        assert_eq!(parse_ns_link(b"net:[]"), None);
        assert_eq!(parse_ns_link(b"net:[12a]"), None);
        assert_eq!(parse_ns_link(b"net:[999999999999999999999]"), None);
    }

    #[test]
    fn nsfs_mounts_from_mountinfo() {
        let text = b"22 1 8:1 / / rw,relatime shared:1 - ext4 /dev/sda1 rw\n\
            623 28 0:4 net:[4026532290] /run/netns/lab rw shared:300 - nsfs nsfs rw\n\
            624 28 0:4 net:[4026532290] /run/netns/lab rw shared:300 - nsfs nsfs rw\n\
            700 28 0:4 net:[4026532400] /run/docker/netns/with\\040space rw - nsfs nsfs rw\n\
            701 28 0:4 mnt:[4026532500] /run/mntns rw - nsfs nsfs rw\n\
            garbage\n";
        assert_eq!(
            parse_nsfs_mounts(text),
            vec![
                (4026532290, PathBuf::from("/run/netns/lab")),
                (4026532400, PathBuf::from("/run/docker/netns/with space")),
            ]
        );
    }

    #[test]
    fn unescape_leaves_bad_escapes_alone() {
        assert_eq!(unescape(b"a\\040b"), b"a b");
        assert_eq!(unescape(b"a\\9"), b"a\\9");
        assert_eq!(unescape(b"a\\777"), b"a\\777");
        assert_eq!(unescape(b"\\"), b"\\");
    }
}
