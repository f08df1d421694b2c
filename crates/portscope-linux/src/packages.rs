//! Which files the system's package manager installed, so that audit can tell a packaged server
//! from a binary dropped by hand.
//!
//! Debian's dpkg keeps one `/var/lib/dpkg/info/PACKAGE.list` per package, one installed path per
//! line. RPM keeps a Berkeley DB or SQLite database that is not read here: on RPM systems the
//! check is reported as unavailable rather than guessed. The database is read only when a check
//! asks, and only the asked-for paths are kept.

use std::collections::HashMap;
use std::io;
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};

pub const DPKG_INFO: &str = "/var/lib/dpkg/info";
const RPM_DB: &str = "/var/lib/rpm";

pub use portscope_core::platform::PackageDatabase as Database;

/// Which package database this machine has.
pub fn detect() -> Database {
    if Path::new(DPKG_INFO).is_dir() {
        Database::Dpkg
    } else if Path::new(RPM_DB).is_dir() {
        Database::RpmUnsupported
    } else {
        Database::None
    }
}

/// The installed paths listed in one dpkg `.list` file: absolute paths, one a line. Blank lines
/// and anything not starting with `/` are skipped rather than trusted.
pub fn parse_list(bytes: &[u8]) -> impl Iterator<Item = &[u8]> {
    bytes
        .split(|&b| b == b'\n')
        .map(|line| line.strip_suffix(b"\r").unwrap_or(line))
        .filter(|line| line.first() == Some(&b'/'))
}

/// Whether a `.list` file's bytes hold `path` as one whole line (as [`parse_list`] yields it),
/// found with `finder` (a searcher for `path`). A substring search is far cheaper than splitting
/// and hashing every line of every list when only a few paths are asked for.
pub fn lists_path(bytes: &[u8], path: &[u8], finder: &memchr::memmem::Finder<'_>) -> bool {
    finder.find_iter(bytes).any(|at| {
        let starts_line = at == 0 || bytes[at - 1] == b'\n';
        let rest = &bytes[at + path.len()..];
        let ends_line = rest.is_empty() || rest[0] == b'\n' || rest.starts_with(b"\r\n") || rest == b"\r";
        starts_line && ends_line
    })
}

/// The package name of a `.list` file name (`coreutils.list`, `libc6:amd64.list`).
pub fn package_of_list_file(file_name: &[u8]) -> Option<&str> {
    let stem = file_name.strip_suffix(b".list")?;
    let stem = std::str::from_utf8(stem).ok()?;
    let name = stem.split(':').next().unwrap_or(stem);
    (!name.is_empty()).then_some(name)
}

/// The other spelling of a path on a merged-/usr system: dpkg may record `/bin/sleep` while the
/// kernel reports `/usr/bin/sleep`, and the other way round.
pub fn usr_merge_alias(path: &[u8]) -> Option<Vec<u8>> {
    const MERGED: &[&[u8]] = &[b"/bin/", b"/sbin/", b"/lib/", b"/lib32/", b"/lib64/", b"/libx32/"];
    if let Some(rest) = path.strip_prefix(b"/usr")
        && MERGED.iter().any(|dir| rest.starts_with(dir))
    {
        return Some(rest.to_vec());
    }
    MERGED
        .iter()
        .any(|dir| path.starts_with(dir))
        .then(|| [b"/usr", path].concat())
}

/// For each of `paths` that an installed dpkg package lists, the package's name. Reads every
/// `.list` file once; keeps only matches.
pub fn dpkg_owners(paths: &[PathBuf]) -> io::Result<HashMap<PathBuf, String>> {
    let mut wanted: HashMap<Vec<u8>, &PathBuf> = HashMap::new();
    for path in paths {
        let bytes = path.as_os_str().as_bytes();
        wanted.insert(bytes.to_vec(), path);
        if let Some(alias) = usr_merge_alias(bytes) {
            wanted.insert(alias, path);
        }
    }
    let mut owners = HashMap::new();
    if wanted.is_empty() {
        return Ok(owners);
    }
    let finders: Vec<_> = wanted
        .iter()
        .filter(|(needle, _)| needle.first() == Some(&b'/'))
        .map(|(needle, path)| (needle.as_slice(), memchr::memmem::Finder::new(needle), *path))
        .collect();
    for entry in std::fs::read_dir(DPKG_INFO)? {
        let entry = entry?;
        let name = entry.file_name();
        let Some(package) = package_of_list_file(name.as_bytes()) else {
            continue;
        };
        // A package removed while we read is not an error.
        let Ok(bytes) = std::fs::read(entry.path()) else {
            continue;
        };
        for (needle, finder, path) in &finders {
            if lists_path(&bytes, needle, finder) {
                owners
                    .entry((*path).clone())
                    .or_insert_with(|| package.to_string());
            }
        }
    }
    Ok(owners)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn list_lines() {
        let text = b"/.\n/usr\n/usr/bin/sleep\n\nrelative\n/usr/share/doc/x\r\n";
        let lines: Vec<&[u8]> = parse_list(text).collect();
        assert_eq!(
            lines,
            vec![&b"/."[..], b"/usr", b"/usr/bin/sleep", b"/usr/share/doc/x"]
        );
    }

    #[test]
    fn whole_lines_only() {
        let list = b"/.\n/usr/bin/python3.11\n/usr/bin/python3.11-config\r\nx/usr/bin/ls\n/usr/bin/env";
        let has = |path: &[u8]| {
            let finder = memchr::memmem::Finder::new(path);
            let found = lists_path(list, path, &finder);
            // The same answer as splitting the list into lines.
            assert_eq!(found, parse_list(list).any(|line| line == path), "{path:?}");
            found
        };
        assert!(has(b"/usr/bin/python3.11"));
        assert!(has(b"/usr/bin/python3.11-config"));
        assert!(has(b"/usr/bin/env"));
        assert!(has(b"/."));
        assert!(!has(b"/usr/bin/python3"));
        assert!(!has(b"/usr/bin/ls"));
        assert!(!has(b"/usr/bin/python3.11-"));
        assert!(!has(b"/bin/python3.11"));
    }

    #[test]
    fn list_file_names() {
        assert_eq!(package_of_list_file(b"coreutils.list"), Some("coreutils"));
        assert_eq!(package_of_list_file(b"libc6:amd64.list"), Some("libc6"));
        assert_eq!(package_of_list_file(b"coreutils.md5sums"), None);
        assert_eq!(package_of_list_file(b".list"), None);
    }

    #[test]
    fn merged_usr_aliases() {
        assert_eq!(
            usr_merge_alias(b"/usr/bin/sleep").as_deref(),
            Some(&b"/bin/sleep"[..])
        );
        assert_eq!(
            usr_merge_alias(b"/sbin/ip").as_deref(),
            Some(&b"/usr/sbin/ip"[..])
        );
        assert_eq!(usr_merge_alias(b"/usr/local/bin/x"), None);
        assert_eq!(usr_merge_alias(b"/opt/x"), None);
    }
}
