//! The Unix side of [`super`]: owners and modes from the inode, O_NOFOLLOW and O_NONBLOCK.

use std::fs::{FileType, Metadata, OpenOptions};
use std::io;
use std::os::unix::fs::{FileTypeExt, MetadataExt, OpenOptionsExt, PermissionsExt};

/// Whether this platform reads file owners and modes (the checks that use them run).
pub const OWNERS: bool = true;

/// The user this process acts as.
pub fn euid() -> u32 {
    rustix::process::geteuid().as_raw()
}

/// The file's owner.
pub fn owner(meta: &Metadata) -> u32 {
    meta.uid()
}

/// The file's permission bits (with setuid, setgid and sticky).
pub fn mode(meta: &Metadata) -> u32 {
    meta.permissions().mode()
}

/// Restricts an open file to `mode`.
pub fn set_mode(file: &std::fs::File, mode: u32) -> io::Result<()> {
    file.set_permissions(std::fs::Permissions::from_mode(mode))
}

/// Opens never through a symlink in the final component, and creates with `mode`.
pub fn no_follow(options: &mut OpenOptions, mode: u32) -> &mut OpenOptions {
    options
        .mode(mode)
        .custom_flags(rustix::fs::OFlags::NOFOLLOW.bits() as i32)
}

/// Whether an open failed because the final component is a symlink (O_NOFOLLOW's ELOOP).
pub fn is_link_refusal(e: &io::Error) -> bool {
    e.raw_os_error() == Some(rustix::io::Errno::LOOP.raw_os_error())
}

/// Opens without blocking: a FIFO without a writer returns at once.
pub fn non_blocking(options: &mut OpenOptions) -> &mut OpenOptions {
    options.custom_flags(rustix::fs::OFlags::NONBLOCK.bits() as i32)
}

/// A FIFO, device or socket, named for a message.
pub fn special_kind(file_type: FileType) -> Option<&'static str> {
    if file_type.is_fifo() {
        Some("a FIFO")
    } else if file_type.is_char_device() || file_type.is_block_device() {
        Some("a device")
    } else if file_type.is_socket() {
        Some("a socket")
    } else {
        None
    }
}

/// Whether the file is a character device (`/dev/null`).
pub fn is_char_device(file_type: FileType) -> bool {
    file_type.is_char_device()
}
