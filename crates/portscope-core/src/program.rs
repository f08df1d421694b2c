//! What a program is called: the names a process answers to and how a name in a table or an
//! allow rule matches one. Audit's rules, its table of expected servers and the baseline all
//! name programs the same way, so the helpers live here, below all three.

use std::path::Path;

use crate::model::Process;

/// The executable's file name, if known.
pub fn exe_name(process: &Process) -> Option<&str> {
    process.exe.as_deref()?.file_name()?.to_str()
}

/// The names a program answers to: its executable's file name and its process name (comm).
pub fn program_names(process: &Process) -> Vec<&str> {
    let mut names = vec![process.name.as_str()];
    if let Some(exe) = exe_name(process)
        && exe != process.name
    {
        names.insert(0, exe);
    }
    names
}

/// Whether a table entry names a program. The kernel cuts process names (comm) to 15 bytes, so a
/// 15-byte name matches any longer entry it starts; `*` at the end makes a prefix pattern.
pub fn matches(pattern: &str, name: &str) -> bool {
    if let Some(prefix) = pattern.strip_suffix('*') {
        return name.starts_with(prefix);
    }
    pattern == name || (name.len() == 15 && pattern.len() > 15 && pattern.starts_with(name))
}

/// An executable run from an anonymous memory file (`memfd_create`), the fileless-malware shape.
pub fn is_memfd(path: &Path) -> bool {
    path.as_os_str().as_encoded_bytes().starts_with(b"/memfd:")
}

/// Directories whose executables come from the system or a package manager.
pub fn is_system_path(path: &Path) -> bool {
    const SYSTEM: &[&str] = &[
        "/usr/",
        "/bin/",
        "/sbin/",
        "/lib/",
        "/lib32/",
        "/lib64/",
        "/libx32/",
        "/opt/",
        "/snap/",
        "/nix/store/",
        "/gnu/store/",
        "/var/lib/flatpak/",
        "/var/lib/snapd/",
    ];
    let bytes = path.as_os_str().as_encoded_bytes();
    SYSTEM.iter().any(|dir| bytes.starts_with(dir.as_bytes()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn patterns() {
        assert!(matches("nginx", "nginx"));
        assert!(!matches("nginx", "nginx2"));
        assert!(matches("php-fpm*", "php-fpm8.2"));
        assert!(matches("systemd-timesyncd", "systemd-timesyn"));
        assert!(!matches("systemd-timesyncd", "systemd-time"));
    }
}
