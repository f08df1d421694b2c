//! The metrics as a file for node_exporter's textfile collector, replaced atomically.
//!
//! node_exporter reads every `*.prom` file in its directory at each scrape; a half-written file
//! would be a failed scrape, so the text goes to a hidden temporary file in the same directory
//! first (created new: never through an existing file or symlink), is synced, and is renamed over
//! the target, which replaces a symlink there rather than writing through it.

use std::fs::{self, OpenOptions};
use std::io::{self, Write};
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};

/// The file's name inside the directory.
pub const FILE_NAME: &str = "portscope.prom";

/// Writes `text` to `DIR/portscope.prom` atomically; returns the path written.
pub fn write(dir: &Path, text: &str) -> io::Result<PathBuf> {
    let target = dir.join(FILE_NAME);
    let temp = dir.join(format!(".{FILE_NAME}.{}.tmp", std::process::id()));
    // A temporary file left by a crash of this very pid (after a reboot) is ours to replace.
    match fs::remove_file(&temp) {
        Ok(()) => {}
        Err(e) if e.kind() == io::ErrorKind::NotFound => {}
        Err(e) => return Err(e),
    }
    let result = (|| {
        let mut file = OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o644)
            .open(&temp)?;
        file.write_all(text.as_bytes())?;
        file.sync_all()?;
        fs::rename(&temp, &target)
    })();
    if result.is_err() {
        let _ = fs::remove_file(&temp);
    }
    result.map(|()| target)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn replaces_the_file_and_never_writes_through_a_symlink() {
        let dir = std::env::temp_dir().join(format!("portscope-textfile-{}", std::process::id()));
        let _ = fs::remove_dir_all(&dir);
        fs::create_dir_all(&dir).unwrap();
        let victim = dir.join("victim");
        fs::write(&victim, "keep me").unwrap();
        std::os::unix::fs::symlink(&victim, dir.join(FILE_NAME)).unwrap();

        let path = write(&dir, "x 1\n").unwrap();
        assert_eq!(fs::read_to_string(&path).unwrap(), "x 1\n");
        assert_eq!(fs::read_to_string(&victim).unwrap(), "keep me");
        assert!(!fs::symlink_metadata(&path).unwrap().file_type().is_symlink());
        write(&dir, "x 2\n").unwrap();
        assert_eq!(fs::read_to_string(&path).unwrap(), "x 2\n");
        let names: Vec<_> = fs::read_dir(&dir)
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert_eq!(names.len(), 2, "no temporary file is left: {names:?}");
        fs::remove_dir_all(&dir).unwrap();
    }
}
