//! Who holds a file lock, from /proc/locks.

/// The pid holding a flock on the file with this device and inode, from /proc/locks.
pub fn flock_holder(dev: u64, ino: u64) -> Option<u32> {
    let text = std::fs::read_to_string("/proc/locks").ok()?;
    let (major, minor) = (rustix::fs::major(dev), rustix::fs::minor(dev));
    text.lines().find_map(|line| {
        // "1: FLOCK  ADVISORY  WRITE 1234 08:01:5678 0 EOF"; waiters are marked "->".
        let fields: Vec<&str> = line.split_whitespace().collect();
        if fields.get(1) != Some(&"FLOCK") {
            return None;
        }
        let pid: u32 = fields.get(4)?.parse().ok()?;
        let mut id = fields.get(5)?.split(':');
        let maj = u32::from_str_radix(id.next()?, 16).ok()?;
        let min = u32::from_str_radix(id.next()?, 16).ok()?;
        let inode: u64 = id.next()?.parse().ok()?;
        (maj == major && min == minor && inode == ino).then_some(pid)
    })
}

#[cfg(test)]
mod tests {
    #[test]
    fn our_own_flock_is_found() {
        use std::os::unix::fs::MetadataExt;
        let file = tempfile_in_tmp();
        rustix::fs::flock(&file, rustix::fs::FlockOperation::NonBlockingLockExclusive).unwrap();
        let meta = file.metadata().unwrap();
        assert_eq!(
            super::flock_holder(meta.dev(), meta.ino()),
            Some(std::process::id())
        );
    }

    fn tempfile_in_tmp() -> std::fs::File {
        let path = std::env::temp_dir().join(format!("portscope-locks-{}", std::process::id()));
        let file = std::fs::File::create(&path).unwrap();
        std::fs::remove_file(&path).unwrap();
        file
    }
}
