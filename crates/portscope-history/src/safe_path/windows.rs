//! The Windows side of [`super`]. Windows has no owner uid or mode bits in the standard library:
//! who else may write to a directory or a file is in its access list (ACL), which this crate does
//! not read. So on Windows every directory counts as shared (the strict answer), a symlink or
//! other reparse point in the final component is always refused and never followed, and the owner
//! and mode checks are not made (said in docs/windows.md). Creating a symlink on Windows needs a
//! privilege or developer mode, which narrows the trap, but does not close it.

use std::fs::{FileType, Metadata, OpenOptions};
use std::io;
use std::os::windows::fs::OpenOptionsExt;

/// `FILE_FLAG_OPEN_REPARSE_POINT`: open a symlink (or junction) itself, never its target.
const FILE_FLAG_OPEN_REPARSE_POINT: u32 = 0x0020_0000;

/// Whether this platform reads file owners and modes: not on Windows (they are ACLs).
pub const OWNERS: bool = false;

/// No uid on Windows; the owner checks are skipped ([`OWNERS`]).
pub fn euid() -> u32 {
    0
}

/// No uid on Windows ([`OWNERS`]): every file counts as ours.
pub fn owner(_meta: &Metadata) -> u32 {
    0
}

/// Mode bits on Windows: 0o022 (others may write) unless the file is read-only, so that
/// [`super::others_can_write`] answers "shared" for every writable directory.
pub fn mode(meta: &Metadata) -> u32 {
    if meta.permissions().readonly() {
        0o444
    } else {
        0o666
    }
}

/// Nothing to restrict without reading the ACL.
pub fn set_mode(_file: &std::fs::File, _mode: u32) -> io::Result<()> {
    Ok(())
}

/// Opens a reparse point itself rather than its target; the caller then refuses it.
pub fn no_follow(options: &mut OpenOptions, _mode: u32) -> &mut OpenOptions {
    options.custom_flags(FILE_FLAG_OPEN_REPARSE_POINT)
}

/// Windows opens the link itself (no ELOOP): the caller checks the opened file's type.
pub fn is_link_refusal(_e: &io::Error) -> bool {
    false
}

/// Opening a file never blocks on Windows.
pub fn non_blocking(options: &mut OpenOptions) -> &mut OpenOptions {
    options
}

/// A symlink or junction opened as itself.
pub fn special_kind(file_type: FileType) -> Option<&'static str> {
    file_type.is_symlink().then_some("a symbolic link")
}

/// Devices (`NUL`) are not told apart by the standard library on Windows.
pub fn is_char_device(_file_type: FileType) -> bool {
    false
}
