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
//! - in a directory other users can write to (group/world-writable, or owned by another user
//!   than root or us), a path whose final component is a symlink, or a file owned by another
//!   user, is refused before anything is opened ([`check_shared`]).
//!
//! Reading follows one policy too ([`open_input`], [`read_input`], [`read_trusted`]): a file a
//! user names is opened non-blocking (a FIFO cannot hang portscope), refused unless it is a
//! regular file, and read up to a stated size; a file that grants access (a web config, a TLS
//! key or certificate) is also refused when another user could have changed it.
//!
//! This module lives here because the history, the CLI and (through the CLI, which hands it
//! bytes) the exporter all use it, and it needs rustix, which portscope-core must not. The few
//! calls that differ by OS are in `unix` and `windows` (where owners and modes are ACLs this
//! crate does not read: every directory counts as shared and reparse points are refused).

use std::fs::{File, OpenOptions};
use std::io::{self, Write};
use std::path::{Path, PathBuf};

#[cfg(unix)]
mod unix;
#[cfg(unix)]
use unix as sys;
#[cfg(windows)]
mod windows;
#[cfg(windows)]
use windows as sys;

/// The user this process acts as (0 on Windows, where files have no uid).
pub fn effective_uid() -> u32 {
    sys::euid()
}

use portscope_core::error::{Error, Result};

/// Whether users other than us (and root) can add or replace names in a directory: it is
/// world- or group-writable, or it belongs to another user (who can plant a link in it even
/// when nobody else can: the case of `$HOME/.local/state` under `sudo -E`).
pub fn others_can_write(meta: &std::fs::Metadata) -> bool {
    let me = sys::euid();
    sys::mode(meta) & 0o022 != 0 || (sys::owner(meta) != me && sys::owner(meta) != 0)
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
    let me = sys::euid();
    if !others_can_write(&dir_meta) {
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
    let sticky = sys::mode(&dir_meta) & 0o1000 != 0;
    let kind = if !sys::OWNERS {
        "a directory whose access list portscope does not check"
    } else if sys::mode(&dir_meta) & 0o022 == 0 {
        "a directory that belongs to another user"
    } else if sticky {
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
    if sys::owner(&meta) != me {
        return Err(Error::Refused(format!(
            "{}: refusing the {what}: it belongs to another user (uid {}) in {kind}",
            path.display(),
            sys::owner(&meta)
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
    let mut options = OpenOptions::new();
    options.read(true).write(true).create(true).truncate(false);
    let file = sys::no_follow(&mut options, mode).open(path).map_err(|e| {
        if sys::is_link_refusal(&e) {
            fail(format!("the {what} is a symbolic link; refusing to follow it"))
        } else {
            fail(format!("cannot open the {what}: {e}"))
        }
    })?;
    let meta = file
        .metadata()
        .map_err(|e| fail(format!("cannot check the {what}: {e}")))?;
    if meta.file_type().is_symlink() {
        return Err(fail(format!(
            "the {what} is a symbolic link; refusing to follow it"
        )));
    }
    if !meta.is_file() {
        return Err(fail(format!("the {what} is not a regular file")));
    }
    if sys::owner(&meta) != owner {
        return Err(Error::Refused(format!(
            "{}: refusing the {what}: it belongs to uid {}, not to uid {owner} who owns the history",
            path.display(),
            sys::owner(&meta)
        )));
    }
    if sys::mode(&meta) & 0o077 != 0 {
        // A lock others can open is a lock others can hold: keep it to its owner.
        sys::set_mode(&file, mode)
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
    check_regular_or_missing(path, what)?;
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
        let mut options = OpenOptions::new();
        options.write(true).create_new(true);
        let mut file = match sys::no_follow(&mut options, mode).open(&tmp) {
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

/// The kind of a file that is not a regular file, for a message.
fn kind_of(file_type: std::fs::FileType) -> &'static str {
    if file_type.is_dir() {
        "a directory"
    } else {
        sys::special_kind(file_type).unwrap_or("not a regular file")
    }
}

/// Refuses an existing `path` that is not a regular file (a FIFO would block an open, a device
/// never ends); a missing one passes. For files portscope is about to create or replace.
pub fn check_regular_or_missing(path: &Path, what: &str) -> Result<()> {
    match std::fs::metadata(path) {
        Ok(meta) if !meta.is_file() => Err(Error::File {
            path: path.to_path_buf(),
            message: format!(
                "the {what} is {}; portscope only reads and writes regular files",
                kind_of(meta.file_type())
            ),
        }),
        _ => Ok(()),
    }
}

/// Checks, before any work, that a report can later be written to `path` by [`write_output`]:
/// its directory exists, a planted name in a shared directory is refused ([`check_shared`]),
/// and an existing name is a regular file or a character device (`/dev/null`, `/dev/stdout` on
/// a terminal); a FIFO, which would block, or a directory is refused.
pub fn check_output(path: &Path, what: &str) -> Result<()> {
    let dir = parent_of(path);
    if !dir.is_dir() {
        return Err(Error::File {
            path: path.to_path_buf(),
            message: format!("cannot create the {what}: {} is not a directory", dir.display()),
        });
    }
    check_shared(path, what)?;
    check_no_fifo(path, what)
}

/// Refuses an existing `path` that is neither a regular file nor a character device: a FIFO
/// would block the open, a directory or socket is no file. `/dev/null` passes (an empty
/// history, a discarded report).
pub fn check_no_fifo(path: &Path, what: &str) -> Result<()> {
    if is_char_device(path) {
        return Ok(());
    }
    check_regular_or_missing(path, what)
}

fn is_char_device(path: &Path) -> bool {
    std::fs::metadata(path).is_ok_and(|m| sys::is_char_device(m.file_type()))
}

/// Writes a report: to a character device directly (never replacing the device node), to
/// anything else whole or not at all through [`write_atomically`].
pub fn write_output(path: &Path, bytes: &[u8], mode: u32, what: &str) -> Result<()> {
    check_output(path, what)?;
    if !is_char_device(path) {
        return write_atomically(path, bytes, mode, what);
    }
    let fail = |e: io::Error| Error::File {
        path: path.to_path_buf(),
        message: format!("cannot write the {what}: {e}"),
    };
    let mut device = sys::non_blocking(OpenOptions::new().write(true))
        .open(path)
        .map_err(fail)?;
    device
        .write_all(bytes)
        .and_then(|()| device.flush())
        .map_err(fail)
}

/// Opens a file a user named for reading. The name may be a link (the user chose it), but the
/// open never blocks: O_NONBLOCK, so a FIFO without a writer returns at once, and then anything
/// that is not a regular file is refused. A missing file is a usage error; a permission
/// problem keeps its own exit code.
pub fn open_input(path: &Path, what: &str) -> Result<File> {
    open_bounded(path, what, None)
}

/// [`open_input`]; with the size bound the caller will read to, for its message.
fn open_bounded(path: &Path, what: &str, max: Option<u64>) -> Result<File> {
    let file = sys::non_blocking(OpenOptions::new().read(true))
        .open(path)
        .map_err(|e| match e.kind() {
            io::ErrorKind::PermissionDenied => Error::io(path.display().to_string(), e),
            io::ErrorKind::NotFound => Error::Usage(format!("{}: no such {what}", path.display())),
            _ => Error::Usage(format!("{}: cannot open the {what}: {e}", path.display())),
        })?;
    let meta = file
        .metadata()
        .map_err(|e| Error::Usage(format!("{}: cannot check the {what}: {e}", path.display())))?;
    if !meta.is_file() {
        let bound = max.map_or_else(String::new, |max| format!(" of up to {}", size_text(max)));
        return Err(Error::Usage(format!(
            "{}: the {what} is {}; portscope only reads regular files{bound}",
            path.display(),
            kind_of(meta.file_type())
        )));
    }
    Ok(file)
}

/// Reads a file opened by [`open_input`] whole if it holds at most `max` bytes.
fn read_to_bound(mut file: File, path: &Path, what: &str, max: u64) -> Result<Vec<u8>> {
    use std::io::Read;
    let mut bytes = Vec::new();
    (&mut file)
        .take(max + 1)
        .read_to_end(&mut bytes)
        .map_err(|e| Error::Usage(format!("{}: cannot read the {what}: {e}", path.display())))?;
    if bytes.len() as u64 > max {
        return Err(Error::Usage(format!(
            "{}: the {what} is larger than {}; portscope reads {what}s up to that size",
            path.display(),
            size_text(max)
        )));
    }
    Ok(bytes)
}

/// "16 MiB", "64 KiB": a bound for a message.
fn size_text(max: u64) -> String {
    if max >= 1 << 20 {
        format!("{} MiB", max >> 20)
    } else {
        format!("{} KiB", max >> 10)
    }
}

/// Reads the `what` (e.g. "allow-list file") at `path` whole: a regular file of at most `max`
/// bytes ([`open_input`]).
pub fn read_input(path: &Path, what: &str, max: u64) -> Result<Vec<u8>> {
    read_to_bound(open_bounded(path, what, Some(max))?, path, what, max)
}

/// Reads a file that grants access (a web config, a TLS key or certificate) like
/// [`read_input`], and refuses it when a user other than root or us owns it or when others can
/// write to it: whoever can change it could swap the key or add a password. (On Windows, whose
/// access lists this crate does not read, only the regular-file and size checks are made.)
pub fn read_trusted(path: &Path, what: &str, max: u64) -> Result<Vec<u8>> {
    let file = open_bounded(path, what, Some(max))?;
    let meta = file
        .metadata()
        .map_err(|e| Error::Usage(format!("{}: cannot check the {what}: {e}", path.display())))?;
    let me = sys::euid();
    if sys::OWNERS && sys::owner(&meta) != me && sys::owner(&meta) != 0 {
        return Err(Error::Refused(format!(
            "{}: refusing the {what}: it belongs to another user (uid {}), who could change it",
            path.display(),
            sys::owner(&meta)
        )));
    }
    if sys::OWNERS && sys::mode(&meta) & 0o022 != 0 {
        return Err(Error::Refused(format!(
            "{}: refusing the {what}: other users can write to it (mode {:o}); chmod go-w it",
            path.display(),
            sys::mode(&meta) & 0o7777
        )));
    }
    read_to_bound(file, path, what, max)
}

#[cfg(all(test, unix))]
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

    #[test]
    fn atomic_write_replaces_the_file_and_leaves_no_temporary_file() {
        // Moved from the exporter's textfile module, which now writes through this function.
        let dir = tempfile::tempdir().unwrap();
        let dir = dir.path();
        let victim = dir.join("victim");
        std::fs::write(&victim, "keep me").unwrap();
        let path = dir.join("portscope.prom");
        std::os::unix::fs::symlink(&victim, &path).unwrap();

        write_atomically(&path, b"x 1\n", 0o644, "textfile").unwrap();
        assert_eq!(std::fs::read_to_string(&path).unwrap(), "x 1\n");
        assert_eq!(std::fs::read_to_string(&victim).unwrap(), "keep me");
        assert!(!std::fs::symlink_metadata(&path).unwrap().file_type().is_symlink());
        write_atomically(&path, b"x 2\n", 0o644, "textfile").unwrap();
        assert_eq!(std::fs::read_to_string(&path).unwrap(), "x 2\n");
        let names: Vec<_> = std::fs::read_dir(dir)
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert_eq!(names.len(), 2, "no temporary file is left: {names:?}");
    }

    #[test]
    fn reads_refuse_what_is_not_a_regular_file_and_bound_the_rest() {
        let dir = tempfile::tempdir().unwrap();
        let fifo = dir.path().join("fifo");
        rustix::fs::mknodat(
            rustix::fs::CWD,
            &fifo,
            rustix::fs::FileType::Fifo,
            rustix::fs::Mode::from_raw_mode(0o600),
            0,
        )
        .unwrap();
        let err = read_input(&fifo, "services file", 1 << 20)
            .unwrap_err()
            .to_string();
        assert!(err.contains("is a FIFO"), "{err}");
        let big = dir.path().join("big");
        std::fs::write(&big, vec![b'x'; 2048]).unwrap();
        let err = read_input(&big, "key file", 1024).unwrap_err().to_string();
        assert!(err.contains("larger than 1 KiB"), "{err}");
        assert_eq!(read_input(&big, "key file", 4096).unwrap().len(), 2048);
    }
}
