//! Writing files where another user may have prepared a trap.
//!
//! portscope runs as root and writes to paths a user names: the history database, its lock and
//! journal files, a baseline. In a directory that other users can write to (a world-writable
//! one such as /tmp, with or without the sticky bit), one of them can plant a symlink under the
//! name portscope is about to open (`h.db.lock -> /etc/shadow`), and an open with O_CREAT follows
//! it. So:
//!
//! - every file portscope creates is opened with O_NOFOLLOW, and new temporary files with O_EXCL
//!   under an unpredictable name in the target's own directory, then renamed over the target
//!   (a rename replaces a symlink, it never writes through it);
//! - in a directory other users can write to, a path whose final component is a symlink, or a
//!   file owned by another user, is refused before anything is opened ([`check_shared`]).

use std::fs::{File, OpenOptions};
use std::io::{self, Write};
use std::os::unix::fs::{MetadataExt, OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};

use portscope_core::error::{Error, Result};

/// Whether a directory can be written by users other than its owner: world- or group-writable.
fn shared(meta: &std::fs::Metadata) -> bool {
    meta.permissions().mode() & 0o022 != 0
}

/// The directory that holds `path` (`.` for a bare file name).
pub fn parent_of(path: &Path) -> PathBuf {
    match path.parent() {
        Some(dir) if !dir.as_os_str().is_empty() => dir.to_path_buf(),
        _ => PathBuf::from("."),
    }
}

/// Refuses `path` (a file portscope is about to create or write) when its directory is writable
/// by other users and the name already exists as a symlink or as a file owned by another user:
/// the trap a local user sets for root. A missing file, or a directory only its owner writes,
/// passes. `what` names the file in the message ("history database").
pub fn check_shared(path: &Path, what: &str) -> Result<()> {
    let dir = parent_of(path);
    let Ok(dir_meta) = std::fs::metadata(&dir) else {
        // A missing directory is created by the caller, owned by us.
        return Ok(());
    };
    let me = rustix::process::geteuid().as_raw();
    if !shared(&dir_meta) {
        return Ok(());
    }
    let meta = match std::fs::symlink_metadata(path) {
        Ok(meta) => meta,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(()),
        Err(e) => {
            return Err(Error::File {
                path: path.to_path_buf(),
                message: format!("cannot check the {what}: {e}"),
            });
        }
    };
    let sticky = dir_meta.permissions().mode() & 0o1000 != 0;
    let kind = if sticky {
        "a sticky directory other users can write to"
    } else {
        "a directory other users can write to"
    };
    if meta.file_type().is_symlink() {
        return Err(Error::Refused(format!(
            "{}: refusing the {what}: it is a symbolic link in {kind} (another user may have placed it to redirect portscope's writes)",
            path.display()
        )));
    }
    if meta.uid() != me {
        return Err(Error::Refused(format!(
            "{}: refusing the {what}: it belongs to another user (uid {}) in {kind}",
            path.display(),
            meta.uid()
        )));
    }
    Ok(())
}

/// Opens (creating it with `mode` if needed) a file for reading and writing without following a
/// symlink in its final component, and checks it is a regular file owned by `owner`.
pub fn open_private(path: &Path, mode: u32, owner: u32, what: &str) -> Result<File> {
    let fail = |message: String| Error::File {
        path: path.to_path_buf(),
        message,
    };
    let file = OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(false)
        .mode(mode)
        .custom_flags(rustix::fs::OFlags::NOFOLLOW.bits() as i32)
        .open(path)
        .map_err(|e| match e.raw_os_error() {
            Some(code) if code == rustix::io::Errno::LOOP.raw_os_error() => {
                fail(format!("the {what} is a symbolic link; refusing to follow it"))
            }
            _ => fail(format!("cannot open the {what}: {e}")),
        })?;
    let meta = file
        .metadata()
        .map_err(|e| fail(format!("cannot check the {what}: {e}")))?;
    if !meta.is_file() {
        return Err(fail(format!("the {what} is not a regular file")));
    }
    if meta.uid() != owner {
        return Err(Error::Refused(format!(
            "{}: refusing the {what}: it belongs to uid {}, not to uid {owner} who owns the history",
            path.display(),
            meta.uid()
        )));
    }
    if meta.permissions().mode() & 0o077 != 0 {
        // A lock others can open is a lock others can hold: keep it to its owner.
        file.set_permissions(std::fs::Permissions::from_mode(mode))
            .map_err(|e| fail(format!("cannot restrict the {what}'s permissions: {e}")))?;
    }
    Ok(file)
}

/// Writes `bytes` to `path` whole or not at all: a new temporary file (O_EXCL, never a symlink)
/// in the same directory, synced, then renamed over `path`. A reader never sees half a file,
/// and a symlink planted at `path` or at any temporary name is replaced or refused, never
/// written through.
pub fn write_atomically(path: &Path, bytes: &[u8], mode: u32, what: &str) -> Result<()> {
    check_shared(path, what)?;
    let dir = parent_of(path);
    let name = path
        .file_name()
        .ok_or_else(|| Error::Usage(format!("{}: not a file name", path.display())))?;
    let fail = |message: String| Error::File {
        path: path.to_path_buf(),
        message,
    };
    let seed = std::process::id() as u64 ^ portscope_core::time::now_ms() as u64;
    let mut last = None;
    for attempt in 0..64u64 {
        // Not a secret: O_EXCL is the protection. The name only has to be unlikely to exist.
        let tag = seed
            .wrapping_mul(6364136223846793005)
            .wrapping_add(attempt * 1442695040888963407);
        let mut tmp_name = std::ffi::OsString::from(".");
        tmp_name.push(name);
        tmp_name.push(format!(".{tag:016x}.tmp"));
        let tmp = dir.join(tmp_name);
        let mut file = match OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(mode)
            .custom_flags(rustix::fs::OFlags::NOFOLLOW.bits() as i32)
            .open(&tmp)
        {
            Ok(file) => file,
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists => {
                last = Some(e);
                continue;
            }
            Err(e) => return Err(fail(format!("cannot write the {what}: {e}"))),
        };
        let written = file.write_all(bytes).and_then(|()| file.sync_all());
        let renamed = written.and_then(|()| std::fs::rename(&tmp, path));
        return renamed.map_err(|e| {
            let _ = std::fs::remove_file(&tmp);
            fail(format!("cannot write the {what}: {e}"))
        });
    }
    Err(fail(format!(
        "cannot write the {what}: no free temporary name ({})",
        last.map_or_else(String::new, |e| e.to_string())
    )))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn atomic_write_replaces_a_planted_link_without_following_it() {
        let dir = tempfile::tempdir().unwrap();
        let victim = dir.path().join("victim");
        std::fs::write(&victim, "precious").unwrap();
        let target = dir.path().join("b.toml");
        std::os::unix::fs::symlink(&victim, &target).unwrap();
        write_atomically(&target, b"new", 0o644, "baseline").unwrap();
        assert_eq!(std::fs::read_to_string(&victim).unwrap(), "precious");
        assert!(
            !std::fs::symlink_metadata(&target)
                .unwrap()
                .file_type()
                .is_symlink()
        );
        assert_eq!(std::fs::read_to_string(&target).unwrap(), "new");
    }

    #[test]
    fn private_open_refuses_a_symlink() {
        let dir = tempfile::tempdir().unwrap();
        let victim = dir.path().join("victim");
        std::fs::write(&victim, "precious").unwrap();
        let lock = dir.path().join("h.db.lock");
        std::os::unix::fs::symlink(&victim, &lock).unwrap();
        let me = rustix::process::geteuid().as_raw();
        assert!(open_private(&lock, 0o600, me, "lock").is_err());
        assert_eq!(std::fs::read_to_string(&victim).unwrap(), "precious");
    }
}
