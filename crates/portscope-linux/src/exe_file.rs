//! Facts about a process's executable file that audit weighs: does the path still exist, is its
//! directory writable by anyone, does the process see the same root filesystem as we do.
//!
//! Paths are looked up through /proc/PID/root, so a process in a container is judged against its
//! own filesystem, not ours. Each answer is `None` when it cannot be read (another user's process
//! without root, or a process that exited).

use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};

/// `path` as seen from inside `pid`'s root directory.
fn in_root(pid: u32, path: &Path) -> PathBuf {
    let relative = path.strip_prefix("/").unwrap_or(path);
    Path::new(&format!("/proc/{pid}/root")).join(relative)
}

/// Whether the process sees the same root directory as portscope (not a container or chroot).
pub fn same_root(pid: u32) -> Option<bool> {
    let theirs = std::fs::metadata(format!("/proc/{pid}/root")).ok()?;
    let ours = std::fs::metadata("/").ok()?;
    Some(theirs.dev() == ours.dev() && theirs.ino() == ours.ino())
}

/// Whether the file `pid` runs (what /proc/PID/exe opens) is the file at the same path in PID
/// 1's mount namespace (through /proc/1/root, a read; portscope's own when PID 1 refuses). A user in a mount namespace of its own
/// can bind any binary over `/usr/bin/python3.11`; the path then lies, the device and inode do
/// not. Checked only for a process that sees our root (a container's files are its own).
pub fn is_hosts(pid: u32) -> Option<bool> {
    if same_root(pid) != Some(true) {
        return None;
    }
    let path = std::fs::read_link(format!("/proc/{pid}/exe")).ok()?;
    // A deleted or memfd executable has no path to compare: deleted-exe's business.
    if path.as_os_str().as_encoded_bytes().ends_with(b" (deleted)") {
        return None;
    }
    let runs = std::fs::metadata(format!("/proc/{pid}/exe")).ok()?;
    // PID 1's view is the host's; where PID 1 refuses even root (a sandbox's init), portscope's
    // own, which is the host's when portscope runs on the host.
    let hosts = match std::fs::metadata(in_root(1, &path)) {
        Err(e) if e.kind() == std::io::ErrorKind::PermissionDenied => std::fs::metadata(&path),
        other => other,
    };
    let hosts = match hosts {
        Ok(meta) => meta,
        // A path only that namespace has (a tmpfs of its own): nothing of the host's to pass
        // for; the other rules judge the path as it is.
        Err(_) => return None,
    };
    Some(runs.dev() == hosts.dev() && runs.ino() == hosts.ino())
}

/// Whether `pid` runs the same executable file as portscope (device and inode of what
/// /proc/PID/exe and /proc/self/exe open), however it is named or wherever it was copied from.
/// A copy of the binary is another file and is judged like any program.
pub fn same_as_own(pid: u32) -> bool {
    static OWN: std::sync::OnceLock<Option<(u64, u64)>> = std::sync::OnceLock::new();
    let own = OWN.get_or_init(|| {
        let meta = std::fs::metadata("/proc/self/exe").ok()?;
        Some((meta.dev(), meta.ino()))
    });
    let Some(own) = *own else { return false };
    std::fs::metadata(format!("/proc/{pid}/exe")).is_ok_and(|m| (m.dev(), m.ino()) == own)
}

/// Whether a file exists at `path` now, inside the process's root.
pub fn exists(pid: u32, path: &Path) -> Option<bool> {
    match std::fs::symlink_metadata(in_root(pid, path)) {
        Ok(_) => Some(true),
        Err(err) if err.kind() == std::io::ErrorKind::NotFound => Some(false),
        Err(_) => None,
    }
}

/// Whether every user can change what runs at `path`: its directory is world-writable (sticky or
/// not: anyone can drop a file beside it), or a directory above it is world-writable without the
/// sticky bit (anyone can rename the directory that holds it and put another in its place). A
/// sticky world-writable ancestor such as /tmp is safe when what lies in it is not writable by
/// others: only the owner of `/tmp/x` may rename it. Each ancestor's own mode decides, not its
/// name, so a root-owned 0700 directory under /tmp is not "writable by every user".
pub fn dir_world_writable(pid: u32, path: &Path) -> Option<bool> {
    let dir = path.parent()?;
    let meta = std::fs::metadata(in_root(pid, dir)).ok()?;
    if !meta.is_dir() {
        return Some(false);
    }
    if meta.permissions().mode() & 0o002 != 0 {
        return Some(true);
    }
    for ancestor in dir.ancestors().skip(1) {
        let Ok(meta) = std::fs::metadata(in_root(pid, ancestor)) else {
            return None;
        };
        let mode = meta.permissions().mode();
        if mode & 0o002 != 0 && mode & 0o1000 == 0 {
            return Some(true);
        }
    }
    Some(false)
}

/// Whether `dir/name` resolves to the same file as `exe`, inside the process's root: a symlink
/// or hard link that explains a process name different from its executable's
/// (`python3` → `python3.11`, busybox applets).
pub fn name_resolves_to(pid: u32, dir: &Path, name: &str, exe: &Path) -> bool {
    if name.is_empty() || name.contains('/') {
        return false;
    }
    let (Ok(candidate), Ok(target)) = (
        std::fs::metadata(in_root(pid, &dir.join(name))),
        std::fs::metadata(in_root(pid, exe)),
    ) else {
        return false;
    };
    candidate.dev() == target.dev() && candidate.ino() == target.ino()
}
