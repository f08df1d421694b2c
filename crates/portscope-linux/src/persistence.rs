//! Reading the files programs are launched from, for `portscope_core::persistence`: systemd
//! units and drop-ins (system, global-user and every user's), cron tables (system, periodic and
//! users'), /etc/rc.local, XDG autostart entries and the shell profiles of every user in
//! /etc/passwd. Only reads; the parsing and matching are the core's.
//!
//! Home directories and /var/spool/cron are written by users (and by malware running as them),
//! so every read is bounded and never trusts a name: a launcher file is opened relative to its
//! directory with O_NOFOLLOW|O_NONBLOCK and checked with fstat to be a regular file of at most
//! [`Limits::per_file`] bytes (a FIFO never blocks, /dev/zero is never read, a 50 MiB file is
//! skipped); a symbolic link is recorded with its target, never followed (a unit linked from a
//! `*.wants` directory is how systemd enables it); directories below a home are entered one
//! component at a time with O_NOFOLLOW; each directory lists at most [`Limits::per_dir`] names,
//! and all reads together stop at [`Limits::total`]. What is not read is listed as skipped,
//! with why.
//!
//! Everything is read below a root (`/` normally; a test points it at a fake tree) and named by
//! its path on the host.

use std::collections::HashSet;
use std::ffi::OsStr;
use std::io::Read;
use std::os::fd::OwnedFd;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};

use portscope_core::persistence::{File, Files, Kind, Link, Skipped};
use rustix::fs::{AtFlags, FileType, Mode, OFlags};

/// The bounds of one search.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Limits {
    /// A launcher file larger than this is skipped.
    pub per_file: u64,
    /// Bytes read in all; files after it are skipped.
    pub total: u64,
    /// Names listed per directory.
    pub per_dir: usize,
    /// Home directories visited.
    pub homes: usize,
}

impl Default for Limits {
    fn default() -> Limits {
        Limits {
            per_file: 1 << 20,
            total: 32 << 20,
            per_dir: 4096,
            homes: 4096,
        }
    }
}

/// A script is read only up to this size.
const SCRIPT_MAX: u64 = 256 << 10;
/// /etc/passwd is read up to this size.
const PASSWD_MAX: u64 = 4 << 20;

/// The system's unit directories (the same directory twice, /lib being /usr/lib, is read once).
const SYSTEM_UNIT_DIRS: &[&str] = &[
    "/etc/systemd/system",
    "/run/systemd/system",
    // `systemd-run` units: gone at reboot, but what restarts a process until then.
    "/run/systemd/transient",
    "/usr/local/lib/systemd/system",
    "/usr/lib/systemd/system",
    "/lib/systemd/system",
];
const GLOBAL_USER_UNIT_DIRS: &[&str] = &["/etc/systemd/user", "/usr/lib/systemd/user"];
const PERIODIC: &[&str] = &[
    "/etc/cron.hourly",
    "/etc/cron.daily",
    "/etc/cron.weekly",
    "/etc/cron.monthly",
];
const SYSTEM_PROFILES: &[&str] = &[
    "/etc/profile",
    "/etc/bash.bashrc",
    "/etc/zsh/zshrc",
    "/etc/zsh/zprofile",
];
const USER_PROFILES: &[&str] = &[
    ".bashrc",
    ".profile",
    ".bash_profile",
    ".bash_login",
    ".zshrc",
    ".zprofile",
];

/// Every launcher file below `root`, read within `limits`.
pub fn files(root: &Path, limits: Limits) -> Files {
    let mut r = Reader::new(root, limits);
    for dir in SYSTEM_UNIT_DIRS {
        r.unit_dir(Kind::SystemUnit, dir, None, None);
    }
    for dir in GLOBAL_USER_UNIT_DIRS {
        r.unit_dir(Kind::GlobalUserUnit, dir, None, None);
    }
    r.file_at(Kind::SystemCrontab, "/etc/crontab", None);
    r.dir_files(Kind::SystemCrontab, "/etc/cron.d", |_| true);
    r.spool();
    for dir in PERIODIC {
        r.dir_files(Kind::CronPeriodic, dir, |_| true);
    }
    r.file_at(Kind::RcLocal, "/etc/rc.local", None);
    r.dir_files(Kind::Autostart, "/etc/xdg/autostart", |n| {
        n.ends_with(b".desktop")
    });
    for file in SYSTEM_PROFILES {
        r.file_at(Kind::ShellProfile, file, None);
    }
    r.dir_files(Kind::ShellProfile, "/etc/profile.d", |_| true);
    for (user, home) in r.homes() {
        r.home(&user, &home);
    }
    r.out
}

/// The scripts among `paths` (host paths below `root`): regular files that start with `#!`,
/// read up to [`SCRIPT_MAX`] each and `limits.total` in all. A link is followed (a launcher
/// names what it runs), but the open never blocks and only a regular file is read.
pub fn scripts(root: &Path, paths: &[PathBuf], limits: Limits) -> Files {
    let mut r = Reader::new(root, limits);
    for path in paths {
        let full = r.full(path);
        let file = std::fs::OpenOptions::new()
            .read(true)
            .custom_flags((OFlags::NONBLOCK | OFlags::CLOEXEC | OFlags::NOCTTY).bits() as i32)
            .open(&full);
        let file = match file {
            Ok(f) => f,
            Err(e) if e.kind() == std::io::ErrorKind::PermissionDenied => {
                r.skip(path, "permission denied".into());
                continue;
            }
            Err(_) => continue,
        };
        let Ok(meta) = file.metadata() else { continue };
        if !meta.is_file() {
            continue;
        }
        let mut head = [0u8; 2];
        let mut handle = &file;
        if handle.read_exact(&mut head).is_err() || &head != b"#!" {
            continue;
        }
        if meta.len() > SCRIPT_MAX {
            r.skip(path, format!("a script larger than {} KiB", SCRIPT_MAX >> 10));
            continue;
        }
        if r.used + meta.len() > r.limits.total {
            r.skip(path, "the total read bound was reached".into());
            continue;
        }
        let mut bytes = head.to_vec();
        if handle.take(SCRIPT_MAX - 2).read_to_end(&mut bytes).is_ok() {
            r.used += bytes.len() as u64;
            r.out.files.push(File {
                kind: Kind::Script,
                path: path.clone(),
                user: None,
                bytes,
            });
        }
    }
    r.out
}

struct Reader {
    root: PathBuf,
    limits: Limits,
    used: u64,
    /// Directories already listed, by device and inode (/lib/systemd/system is
    /// /usr/lib/systemd/system on a merged-/usr system).
    seen_dirs: HashSet<(u64, u64)>,
    out: Files,
}

impl Reader {
    fn new(root: &Path, limits: Limits) -> Reader {
        Reader {
            root: root.to_path_buf(),
            limits,
            used: 0,
            seen_dirs: HashSet::new(),
            out: Files::default(),
        }
    }

    /// `host` (an absolute path on the host) below the root.
    fn full(&self, host: &Path) -> PathBuf {
        self.root.join(host.strip_prefix("/").unwrap_or(host))
    }

    fn skip(&mut self, path: &Path, why: String) {
        self.out.skipped.push(Skipped {
            path: path.to_path_buf(),
            why,
        });
    }

    /// Opens a system directory (links in its path followed: /lib may be /usr/lib); `None`
    /// when missing, a note when unreadable or already listed.
    fn system_dir(&mut self, host: &Path) -> Option<OwnedFd> {
        let full = self.full(host);
        match rustix::fs::open(
            &full,
            OFlags::RDONLY | OFlags::DIRECTORY | OFlags::CLOEXEC,
            Mode::empty(),
        ) {
            Ok(fd) => self.first_visit(fd),
            Err(rustix::io::Errno::ACCESS) => {
                self.skip(host, "permission denied".into());
                None
            }
            Err(_) => None,
        }
    }

    /// `fd` unless its directory was listed before.
    fn first_visit(&mut self, fd: OwnedFd) -> Option<OwnedFd> {
        let stat = rustix::fs::fstat(&fd).ok()?;
        self.seen_dirs.insert((stat.st_dev, stat.st_ino)).then_some(fd)
    }

    /// The names in a directory, at most `per_dir` (a note when there are more), sorted.
    fn names(&mut self, dir: &OwnedFd, host: &Path) -> Vec<Vec<u8>> {
        let Ok(entries) = rustix::fs::Dir::read_from(dir) else {
            self.skip(host, "the directory cannot be listed".into());
            return Vec::new();
        };
        let mut names = Vec::new();
        let mut more = false;
        for entry in entries.flatten() {
            let name = entry.file_name().to_bytes();
            if name == b"." || name == b".." {
                continue;
            }
            if names.len() >= self.limits.per_dir {
                more = true;
                break;
            }
            names.push(name.to_vec());
        }
        if more {
            self.skip(
                host,
                format!(
                    "more than {} names in the directory: the rest not read",
                    self.limits.per_dir
                ),
            );
        }
        names.sort();
        names
    }

    /// Reads `name` in the directory `dir` (host path `host`): a regular file is read, a link
    /// recorded, anything else skipped with why. Returns the type found.
    fn entry(
        &mut self,
        dir: &OwnedFd,
        name: &[u8],
        host: &Path,
        kind: Kind,
        user: Option<&str>,
    ) -> Option<FileType> {
        let stat = match rustix::fs::statat(dir, OsStr::from_bytes(name), AtFlags::SYMLINK_NOFOLLOW) {
            Ok(stat) => stat,
            Err(rustix::io::Errno::NOENT) => return None,
            Err(e) => {
                self.skip(host, format!("cannot be read: {e}"));
                return None;
            }
        };
        let file_type = FileType::from_raw_mode(stat.st_mode);
        match file_type {
            FileType::RegularFile => self.read_regular(dir, name, host, kind, user, stat.st_size as u64),
            FileType::Symlink => match rustix::fs::readlinkat(dir, OsStr::from_bytes(name), Vec::new()) {
                // A unit's link enables, masks or aliases it: recorded, never followed.
                Ok(target) if kind.is_unit() => self.out.links.push(Link {
                    kind,
                    path: host.to_path_buf(),
                    target: PathBuf::from(OsStr::from_bytes(target.as_bytes())),
                    user: user.map(str::to_string),
                }),
                Ok(target) => self.skip(
                    host,
                    // Raw (lossy) text: the front end escapes it once, where it prints it.
                    format!(
                        "a symbolic link to {} (not followed)",
                        String::from_utf8_lossy(target.as_bytes())
                    ),
                ),
                Err(e) => self.skip(host, format!("a symbolic link that cannot be read: {e}")),
            },
            FileType::Directory => {}
            other => self.skip(host, format!("{} (not read)", type_name(other))),
        }
        Some(file_type)
    }

    fn read_regular(
        &mut self,
        dir: &OwnedFd,
        name: &[u8],
        host: &Path,
        kind: Kind,
        user: Option<&str>,
        size: u64,
    ) {
        if size > self.limits.per_file {
            self.skip(
                host,
                format!(
                    "{} MiB, larger than the {} KiB read for a launcher file",
                    size >> 20,
                    self.limits.per_file >> 10
                ),
            );
            return;
        }
        if self.used + size > self.limits.total {
            self.skip(host, "the total read bound was reached".into());
            return;
        }
        let flags = OFlags::RDONLY | OFlags::NOFOLLOW | OFlags::NONBLOCK | OFlags::CLOEXEC | OFlags::NOCTTY;
        let fd = match rustix::fs::openat(dir, OsStr::from_bytes(name), flags, Mode::empty()) {
            Ok(fd) => fd,
            Err(rustix::io::Errno::LOOP) => {
                self.skip(host, "became a symbolic link while read (not followed)".into());
                return;
            }
            Err(e) => {
                self.skip(host, format!("cannot be opened: {e}"));
                return;
            }
        };
        // The name may have been swapped between the stat and the open: check what was opened.
        match rustix::fs::fstat(&fd) {
            Ok(st) if FileType::from_raw_mode(st.st_mode) == FileType::RegularFile => {}
            Ok(st) => {
                self.skip(
                    host,
                    format!("{} (not read)", type_name(FileType::from_raw_mode(st.st_mode))),
                );
                return;
            }
            Err(e) => {
                self.skip(host, format!("cannot be checked: {e}"));
                return;
            }
        }
        let mut bytes = Vec::new();
        let file = std::fs::File::from(fd);
        let bound = self.limits.per_file.min(self.limits.total - self.used);
        if let Err(e) = file.take(bound + 1).read_to_end(&mut bytes) {
            self.skip(host, format!("cannot be read: {e}"));
            return;
        }
        if bytes.len() as u64 > bound {
            self.skip(host, "grew beyond the read bound while read".into());
            return;
        }
        self.used += bytes.len() as u64;
        self.out.files.push(File {
            kind,
            path: host.to_path_buf(),
            user: user.map(str::to_string),
            bytes,
        });
    }

    /// One file at a system path.
    fn file_at(&mut self, kind: Kind, host: &str, user: Option<&str>) {
        let host = Path::new(host);
        let (Some(parent), Some(name)) = (host.parent(), host.file_name()) else {
            return;
        };
        if let Some(dir) = self.open_plain(parent) {
            self.entry(&dir, name.as_bytes(), host, kind, user);
        }
    }

    /// A directory opened without the visited check (for single files in /etc).
    fn open_plain(&mut self, host: &Path) -> Option<OwnedFd> {
        let full = self.full(host);
        rustix::fs::open(
            &full,
            OFlags::RDONLY | OFlags::DIRECTORY | OFlags::CLOEXEC,
            Mode::empty(),
        )
        .ok()
    }

    /// Every file of a system directory whose name `keep` accepts.
    fn dir_files(&mut self, kind: Kind, host: &str, keep: impl Fn(&[u8]) -> bool) {
        let host = Path::new(host);
        let Some(dir) = self.system_dir(host) else { return };
        self.files_in(&dir, host, kind, None, &keep);
    }

    fn files_in(
        &mut self,
        dir: &OwnedFd,
        host: &Path,
        kind: Kind,
        user: Option<&str>,
        keep: &dyn Fn(&[u8]) -> bool,
    ) {
        for name in self.names(dir, host) {
            if keep(&name) {
                let path = host.join(OsStr::from_bytes(&name));
                self.entry(dir, &name, &path, kind, user);
            }
        }
    }

    /// A unit directory: `*.service` and `*.socket` files, their drop-ins (`*.d/*.conf`), and
    /// the links in it and in its `*.wants`/`*.requires` directories. `below` is a directory
    /// already open (a user's, entered without following links) to use instead of `host`.
    fn unit_dir(&mut self, kind: Kind, host: &str, user: Option<&str>, below: Option<OwnedFd>) {
        let host = Path::new(host);
        let dir = match below {
            Some(fd) => self.first_visit(fd),
            None => self.system_dir(host),
        };
        let Some(dir) = dir else { return };
        for name in self.names(&dir, host) {
            let path = host.join(OsStr::from_bytes(&name));
            let unit = name.ends_with(b".service") || name.ends_with(b".socket");
            let sub = [&b".d"[..], b".wants", b".requires", b".upholds"]
                .iter()
                .any(|s| name.ends_with(s));
            if unit {
                self.entry(&dir, &name, &path, kind, user);
            } else if sub {
                let Some(subdir) = open_below(&dir, &name) else {
                    continue;
                };
                let drop_in = name.ends_with(b".d");
                let only_links = !drop_in;
                for inner in self.names(&subdir, &path) {
                    let inner_path = path.join(OsStr::from_bytes(&inner));
                    if only_links {
                        // Links only: a regular file here is not how systemd reads a wants dir.
                        if let Ok(st) =
                            rustix::fs::statat(&subdir, OsStr::from_bytes(&inner), AtFlags::SYMLINK_NOFOLLOW)
                            && FileType::from_raw_mode(st.st_mode) == FileType::Symlink
                        {
                            self.entry(&subdir, &inner, &inner_path, kind, user);
                        }
                    } else if inner.ends_with(b".conf") {
                        self.entry(&subdir, &inner, &inner_path, kind, user);
                    }
                }
            } else if let Ok(st) =
                rustix::fs::statat(&dir, OsStr::from_bytes(&name), AtFlags::SYMLINK_NOFOLLOW)
                && FileType::from_raw_mode(st.st_mode) == FileType::Symlink
            {
                // A mask or an alias.
                self.entry(&dir, &name, &path, kind, user);
            }
        }
    }

    /// /var/spool/cron/crontabs/USER (Debian) and /var/spool/cron/USER (Red Hat): a user's
    /// crontab, the file name being the user.
    fn spool(&mut self) {
        for host in ["/var/spool/cron/crontabs", "/var/spool/cron"] {
            let host = Path::new(host);
            let Some(dir) = self.system_dir(host) else {
                continue;
            };
            for name in self.names(&dir, host) {
                let path = host.join(OsStr::from_bytes(&name));
                let user = String::from_utf8_lossy(&name).into_owned();
                // A directory here (crontabs/ itself, atjobs/) is no crontab: `entry` passes it.
                self.entry(&dir, &name, &path, Kind::UserCrontab, Some(&user));
            }
        }
    }

    /// (user, home) from the root's /etc/passwd: each home once, at most `homes`.
    fn homes(&mut self) -> Vec<(String, PathBuf)> {
        let mut bytes = Vec::new();
        let passwd = self.full(Path::new("/etc/passwd"));
        let Ok(file) = std::fs::File::open(&passwd) else {
            self.skip(
                Path::new("/etc/passwd"),
                "cannot be read: no home directories checked".into(),
            );
            return Vec::new();
        };
        if file.take(PASSWD_MAX).read_to_end(&mut bytes).is_err() {
            return Vec::new();
        }
        let mut seen = HashSet::new();
        let mut out = Vec::new();
        for line in bytes.split(|&b| b == b'\n') {
            let fields: Vec<&[u8]> = line.split(|&b| b == b':').collect();
            let [name, _, _, _, _, home, ..] = fields.as_slice() else {
                continue;
            };
            if name.is_empty()
                || !home.starts_with(b"/")
                || *home == b"/"
                || home.starts_with(b"/nonexistent")
            {
                continue;
            }
            if !seen.insert(home.to_vec()) {
                continue;
            }
            if out.len() >= self.limits.homes {
                self.skip(
                    Path::new("/etc/passwd"),
                    format!(
                        "more than {} home directories: the rest not read",
                        self.limits.homes
                    ),
                );
                break;
            }
            out.push((
                String::from_utf8_lossy(name).into_owned(),
                PathBuf::from(OsStr::from_bytes(home)),
            ));
        }
        out
    }

    /// A user's units, autostart entries and profiles, entering every directory below the home
    /// without following a link.
    fn home(&mut self, user: &str, home: &Path) {
        let full = self.full(home);
        let flags = OFlags::RDONLY | OFlags::DIRECTORY | OFlags::CLOEXEC;
        let home_fd = match rustix::fs::open(&full, flags, Mode::empty()) {
            Ok(fd) => fd,
            Err(rustix::io::Errno::ACCESS) => {
                self.skip(
                    home,
                    format!("the home of {user}: permission denied (run as root)"),
                );
                return;
            }
            Err(_) => return,
        };
        for name in USER_PROFILES {
            let path = home.join(name);
            self.entry(&home_fd, name.as_bytes(), &path, Kind::ShellProfile, Some(user));
        }
        if let Some(dir) = open_path_below(&home_fd, &[".config", "systemd", "user"]) {
            let host = home.join(".config/systemd/user");
            self.unit_dir(Kind::UserUnit, &host.to_string_lossy(), Some(user), Some(dir));
        }
        if let Some(dir) = open_path_below(&home_fd, &[".config", "autostart"]) {
            let host = home.join(".config/autostart");
            self.files_in(&dir, &host, Kind::Autostart, Some(user), &|n: &[u8]| {
                n.ends_with(b".desktop")
            });
        }
    }
}

/// Opens the directory `name` in `dir` without following a link.
fn open_below(dir: &OwnedFd, name: &[u8]) -> Option<OwnedFd> {
    rustix::fs::openat(
        dir,
        OsStr::from_bytes(name),
        OFlags::RDONLY | OFlags::DIRECTORY | OFlags::NOFOLLOW | OFlags::CLOEXEC,
        Mode::empty(),
    )
    .ok()
}

/// Opens `dir/a/b/c` one component at a time, never through a link.
fn open_path_below(dir: &OwnedFd, components: &[&str]) -> Option<OwnedFd> {
    let mut current = open_below(dir, components.first()?.as_bytes())?;
    for component in &components[1..] {
        current = open_below(&current, component.as_bytes())?;
    }
    Some(current)
}

fn type_name(file_type: FileType) -> &'static str {
    match file_type {
        FileType::Fifo => "a FIFO",
        FileType::CharacterDevice => "a character device",
        FileType::BlockDevice => "a block device",
        FileType::Socket => "a socket",
        FileType::Directory => "a directory",
        FileType::Symlink => "a symbolic link",
        _ => "not a regular file",
    }
}
