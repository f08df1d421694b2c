//! Reading the files a user names (services, allow-lists, baselines, target lists): never more
//! than a stated size, so `/dev/zero` or a huge file is one clear error instead of all memory.

use std::io::Read;
use std::path::Path;

use crate::error::{Error, Result};

/// The most any of portscope's input files may hold.
pub const MAX_INPUT: u64 = 16 << 20;

/// Reads the `what` (e.g. "allow-list file") at `path` whole if it holds at most `max` bytes. A
/// missing or unreadable file is a usage error naming it (a permission problem keeps its own exit
/// code).
pub fn read_bounded(path: &Path, what: &str, max: u64) -> Result<Vec<u8>> {
    let file = std::fs::File::open(path).map_err(|e| match e.kind() {
        std::io::ErrorKind::PermissionDenied => Error::io(path.display().to_string(), e),
        std::io::ErrorKind::NotFound => Error::Usage(format!("{}: no such {what}", path.display())),
        _ => Error::Usage(format!("{}: {e}", path.display())),
    })?;
    let mut bytes = Vec::new();
    file.take(max + 1)
        .read_to_end(&mut bytes)
        .map_err(|e| Error::Usage(format!("{}: {e}", path.display())))?;
    if bytes.len() as u64 > max {
        return Err(Error::Usage(format!(
            "{}: larger than {} MiB; portscope reads files up to that size",
            path.display(),
            max >> 20
        )));
    }
    Ok(bytes)
}
