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

/// `--process NAME` (list, watch, history, top's filter, close): whether `name` selects `process`.
/// The one rule for every command: the executable's file name is the program's identity, matched
/// exactly (or as a prefix when `name` ends in `*`, and with the kernel's 15-byte cut of names);
/// the process's own name (comm), which any program sets as it likes, counts only when the
/// executable cannot be read (another user's process without root, a kernel thread).
pub fn selects(name: &str, process: &Process) -> bool {
    selects_parts(name, &process.name, process.exe.as_deref())
}

/// [`selects`] for what a record keeps of a process: its name and executable.
pub fn selects_parts(name: &str, comm: &str, exe: Option<&Path>) -> bool {
    match exe {
        Some(exe) => exe
            .file_name()
            .and_then(|n| n.to_str())
            .is_some_and(|file| matches(name, file)),
        None => matches(name, comm),
    }
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
    SYSTEM.iter().any(|dir| bytes.starts_with(dir.as_bytes())) || is_windows_system_path(bytes)
}

/// A Windows path under the Windows directory or Program Files (`C:\Windows\…`,
/// `D:\Program Files (x86)\…`, with or without `\\?\`), compared without case as Windows does:
/// only administrators write there by default.
fn is_windows_system_path(bytes: &[u8]) -> bool {
    const SYSTEM: &[&str] = &["windows\\", "program files\\", "program files (x86)\\"];
    let bytes = bytes.strip_prefix(b"\\\\?\\").unwrap_or(bytes);
    let [drive, b':', b'\\', rest @ ..] = bytes else {
        return false;
    };
    drive.is_ascii_alphabetic()
        && SYSTEM
            .iter()
            .any(|dir| rest.len() > dir.len() && rest[..dir.len()].eq_ignore_ascii_case(dir.as_bytes()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn windows_system_directories() {
        let system = |p: &str| is_system_path(Path::new(p));
        assert!(system(r"C:\Windows\System32\svchost.exe"));
        assert!(system(r"c:\PROGRAM FILES\App\app.exe"));
        assert!(system(r"\\?\D:\Program Files (x86)\x.exe"));
        assert!(!system(r"C:\Users\Public\svchost.exe"));
        assert!(!system(r"C:\WindowsApps\x.exe"));
        assert!(!system(r"C:\Windows"));
    }

    #[test]
    fn patterns() {
        assert!(matches("nginx", "nginx"));
        assert!(!matches("nginx", "nginx2"));
        assert!(matches("php-fpm*", "php-fpm8.2"));
        assert!(matches("systemd-timesyncd", "systemd-timesyn"));
        assert!(!matches("systemd-timesyncd", "systemd-time"));
    }

    #[test]
    fn a_name_selects_by_executable_and_never_by_a_chosen_comm() {
        let mut p = Process::new(7, 1, "nginx");
        p.exe = Some("/tmp/.x/sshd".into());
        assert!(selects("sshd", &p));
        assert!(
            !selects("nginx", &p),
            "comm is what the program chose to be called"
        );
        assert!(
            !selects("ssh", &p),
            "exact, so `close --process ssh` never stops sshd"
        );
        assert!(selects("ss*", &p));
        p.exe = None;
        assert!(
            selects("nginx", &p),
            "with no readable executable the name is all there is"
        );
    }
}
