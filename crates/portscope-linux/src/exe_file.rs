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

/// Whether a file exists at `path` now, inside the process's root.
pub fn exists(pid: u32, path: &Path) -> Option<bool> {
    match std::fs::symlink_metadata(in_root(pid, path)) {
        Ok(_) => Some(true),
        Err(err) if err.kind() == std::io::ErrorKind::NotFound => Some(false),
        Err(_) => None,
    }
}

/// Whether the directory holding `path` is writable by every user (mode o+w, sticky or not).
pub fn dir_world_writable(pid: u32, path: &Path) -> Option<bool> {
    let dir = path.parent()?;
    let meta = std::fs::metadata(in_root(pid, dir)).ok()?;
    Some(meta.is_dir() && meta.permissions().mode() & 0o002 != 0)
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
