//! Reading the files a user names (services, allow-lists, baselines, target lists, web configs):
//! the one read policy of `portscope_history::safe_path` (regular files only, opened without
//! blocking, never more than a stated size), so `/dev/zero`, a FIFO or a huge file is one clear
//! error instead of a hang or all memory.

use std::path::Path;

use portscope_history::safe_path;

use crate::error::Result;

/// The most any of portscope's input files may hold.
pub const MAX_INPUT: u64 = 16 << 20;

/// The most a TLS certificate chain or key file may hold: a chain of a few certificates is a
/// few KiB.
pub const MAX_TLS_FILE: u64 = 1 << 20;

/// Reads the `what` (e.g. "allow-list file") at `path` whole if it is a regular file of at most
/// `max` bytes. A missing or unreadable file is a usage error naming it (a permission problem
/// keeps its own exit code).
pub fn read_bounded(path: &Path, what: &str, max: u64) -> Result<Vec<u8>> {
    safe_path::read_input(path, what, max)
}

/// [`read_bounded`] for a file that grants access (a web config, a TLS key or certificate):
/// also refused when another user owns it or others can write to it.
pub fn read_trusted(path: &Path, what: &str, max: u64) -> Result<Vec<u8>> {
    safe_path::read_trusted(path, what, max)
}
