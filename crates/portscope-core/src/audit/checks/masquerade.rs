//! A process whose name (comm) differs from its executable's name: renamed at run time, the way
//! malware passes itself off as `sshd` or as a kernel thread.
//!
//! The kernel sets comm from the file name that was executed, so honest differences have few
//! causes, each excused here: comm is cut to 15 bytes; a symlink or hard link was executed
//! (`python3` → `python3.11`, busybox applets); a script was run, whose interpreter is the
//! executable and whose file name is the comm. Renames are common enough in legitimate daemons
//! that this is information — except a user-space program named like a kernel thread (warning).
//!
//! On Windows a process's name is always its image's file name, so the disguise is the file
//! itself: an `svchost.exe`, `lsass.exe`, `csrss.exe` or `explorer.exe` run from anywhere but the
//! Windows directory the real one lives in (the classic trojan disguise, from a drop such as
//! `C:\Users\Public` or `%APPDATA%`). Windows paths are read as text, so the rule also runs on
//! recorded Windows hosts.

use std::path::Path;

use crate::model::Process;
use crate::platform::Platform;

use crate::program::{exe_name, is_memfd};

use super::super::context::{Context, Ownership, label, show};
use super::super::finding::{CheckId, Severity};
use super::shell_socket::{Kind, classify_name};
use super::{Out, about_process};

const KERNEL_THREADS: &[&str] = &[
    "kworker",
    "ksoftirqd",
    "kthreadd",
    "migration",
    "rcu_",
    "kswapd",
    "watchdog",
    "kblockd",
    "khugepaged",
    "jbd2",
    "kauditd",
    "irq/",
];

/// The first 15 bytes of a name, as the kernel keeps it in comm.
fn as_comm(name: &str) -> &[u8] {
    &name.as_bytes()[..name.len().min(15)]
}

/// Whether a comm looks like a kernel thread's name.
pub fn looks_like_kernel_thread(comm: &str, cmdline: &[String]) -> bool {
    KERNEL_THREADS.iter().any(|k| comm.starts_with(k))
        || comm.starts_with('[')
        || cmdline.first().is_some_and(|a| a.starts_with('['))
}

/// Whether comm is explained by the executable without looking at the file system.
pub fn explained_by_names(comm: &str, exe: &str, cmdline: &[String]) -> bool {
    if comm.as_bytes() == as_comm(exe) || exe.starts_with(comm) {
        return true;
    }
    // A script: the interpreter is the executable, the script's file name is comm.
    let interpreted = classify_name(exe).is_some_and(|k| k != Kind::Relay);
    interpreted
        && cmdline.iter().skip(1).take(3).any(|arg| {
            let base = arg.rsplit('/').next().unwrap_or(arg);
            !arg.starts_with('-') && as_comm(base) == comm.as_bytes()
        })
}

/// Names of system programs a disguise borrows; `systemd-*` counts as well.
const SYSTEM_PROGRAMS: &[&str] = &[
    "sshd",
    "sshd-session",
    "dbus-daemon",
    "dbus-broker",
    "systemd",
    "init",
    "cron",
    "crond",
    "atd",
    "anacron",
    "rsyslogd",
    "syslogd",
    "syslog-ng",
    "auditd",
    "udevd",
    "polkitd",
    "agetty",
    "getty",
    "login",
    "NetworkManager",
    "wpa_supplicant",
    "dhclient",
    "chronyd",
    "ntpd",
    "cupsd",
    "avahi-daemon",
    "acpid",
    "irqbalance",
    "smartd",
    "snapd",
    "containerd",
    "dockerd",
    "kubelet",
    "accounts-daemon",
    "udisksd",
    "upowerd",
    "master",
    "qmgr",
    "pickup",
    "named",
    "unbound",
    "dnsmasq",
    "exim4",
];

/// Whether `name` claims to be a system program.
fn claims_system(name: &str) -> bool {
    name.starts_with("systemd-") || SYSTEM_PROGRAMS.contains(&name)
}

/// The program an argv[0] names: `/usr/sbin/sshd -D` and `sshd: root@pts/0` both name `sshd`.
fn argv0_program(cmdline: &[String]) -> Option<&str> {
    let first = cmdline.first()?;
    let word = first.split([' ', ':']).next()?;
    let base = word.rsplit('/').next()?;
    (!base.is_empty()).then_some(base)
}

fn explained_by_links(platform: &dyn Platform, process: &Process, exe: &Path, name: &str) -> bool {
    let mut dirs: Vec<&Path> = vec![
        Path::new("/usr/bin"),
        Path::new("/usr/sbin"),
        Path::new("/bin"),
        Path::new("/sbin"),
        Path::new("/usr/local/bin"),
        Path::new("/usr/local/sbin"),
    ];
    if let Some(parent) = exe.parent() {
        dirs.insert(0, parent);
    }
    dirs.iter()
        .any(|dir| platform.name_resolves_to(process.pid, dir, name, exe))
}

/// Windows system programs a trojan names itself after, with the Windows directory (below the
/// system root) the real one runs from.
const WINDOWS_SYSTEM_PROGRAMS: &[(&str, &str)] = &[
    ("svchost.exe", r"windows\system32"),
    ("lsass.exe", r"windows\system32"),
    ("csrss.exe", r"windows\system32"),
    ("smss.exe", r"windows\system32"),
    ("wininit.exe", r"windows\system32"),
    ("winlogon.exe", r"windows\system32"),
    ("services.exe", r"windows\system32"),
    ("spoolsv.exe", r"windows\system32"),
    ("taskhostw.exe", r"windows\system32"),
    ("explorer.exe", "windows"),
];

/// A Windows path (`C:\…`, `\\?\C:\…`) split into its directory and file name, lower case;
/// `None` for anything else (Linux paths never match).
fn windows_path(exe: &str) -> Option<(String, String)> {
    let lower = exe.to_lowercase();
    let path = lower.strip_prefix(r"\\?\").unwrap_or(&lower);
    let bytes = path.as_bytes();
    if bytes.len() < 3 || !bytes[0].is_ascii_alphabetic() || &bytes[1..3] != b":\\" {
        return None;
    }
    let (dir, name) = path.rsplit_once('\\')?;
    Some((dir[3..].to_string(), name.to_string()))
}

/// The system program a Windows image claims to be, when it runs from another directory than
/// the real one: `(name, the directory the real one lives in)`. The 32-bit twins under SysWOW64
/// are the system's too.
pub fn windows_disguise(exe: &str) -> Option<(&'static str, &'static str)> {
    let (dir, name) = windows_path(exe)?;
    let (program, home) = WINDOWS_SYSTEM_PROGRAMS.iter().find(|(p, _)| *p == name)?;
    let wow64 = *home == r"windows\system32" && dir == r"windows\syswow64";
    (dir != *home && !wow64).then_some((program, home))
}

pub fn check(ctx: &Context, out: &mut Out) {
    for view in ctx.processes() {
        let process = view.process;
        if let Some(exe) = process.exe.as_deref()
            && windows_path(&exe.to_string_lossy()).is_some()
        {
            if let Some((program, home)) = windows_disguise(&exe.to_string_lossy()) {
                let reason = format!(
                    "{} runs {program} from {}, but the real {program} lives only in C:\\{}: a program dressed as a Windows system process",
                    label(process),
                    show(exe),
                    home.replace("windows", "Windows").replace("system32", "System32")
                );
                out.findings
                    .push(about_process(view, CheckId::Masquerade, Severity::Alert, reason));
            }
            // A Windows process's name is its image's: no rename to weigh.
            continue;
        }
        let (Some(exe), Some(exe_file_name)) = (process.exe.as_deref(), exe_name(process)) else {
            continue;
        };
        if is_memfd(exe) || process.name.is_empty() {
            continue;
        }
        let explains = |name: &str| {
            explained_by_names(name, exe_file_name, &process.cmdline)
                || explained_by_links(ctx.platform, process, exe, name)
        };
        // A command line dressed as a kernel thread ("[kworker/0:1]") is a disguise even when
        // comm is honest: kernel threads have no executable and no command line.
        let argv_disguise = process.cmdline.first().is_some_and(|a| a.starts_with('['));
        let kernel_like = argv_disguise || looks_like_kernel_thread(&process.name, &process.cmdline);
        if kernel_like {
            let reason = format!(
                "{} presents itself as the kernel thread {:?}, but it runs the user-space executable {}; kernel threads have none",
                label(process),
                process
                    .cmdline
                    .first()
                    .filter(|a| a.starts_with('['))
                    .unwrap_or(&process.name),
                show(exe)
            );
            out.findings
                .push(about_process(view, CheckId::Masquerade, Severity::Alert, reason));
            continue;
        }
        // The names it goes by: comm, and argv[0] when that names another program.
        let mut claimed: Vec<&str> = vec![process.name.as_str()];
        if let Some(argv0) = argv0_program(&process.cmdline)
            && argv0 != process.name
            && !explained_by_names(argv0, exe_file_name, &process.cmdline)
            && claims_system(argv0)
        {
            claimed.push(argv0);
        }
        let system_claim = claimed.iter().copied().find(|name| claims_system(name));
        if let Some(name) = system_claim {
            let reason = if !explains(name) {
                format!(
                    "{} calls itself {name:?}, a system program, but runs {}, another file",
                    label(process),
                    show(exe)
                )
            } else if ctx.ownership(process) == Ownership::NoPackage {
                format!(
                    "{} calls itself {name:?}, a system program, but no package installed its executable {}",
                    label(process),
                    show(exe)
                )
            } else {
                continue;
            };
            out.findings
                .push(about_process(view, CheckId::Masquerade, Severity::Alert, reason));
            continue;
        }
        if explains(&process.name) {
            continue;
        }
        let reason = format!(
            "{} calls itself {:?}, a name it gave itself at run time rather than its executable's",
            label(process),
            process.name
        );
        out.findings
            .push(about_process(view, CheckId::Masquerade, Severity::Info, reason));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(list: &[&str]) -> Vec<String> {
        list.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn windows_system_programs_outside_their_directory_are_disguises() {
        assert_eq!(windows_disguise(r"C:\Windows\System32\svchost.exe"), None);
        assert_eq!(windows_disguise(r"c:\windows\SYSTEM32\LSASS.EXE"), None);
        assert_eq!(windows_disguise(r"\\?\D:\Windows\explorer.exe"), None);
        assert_eq!(windows_disguise(r"C:\Windows\SysWOW64\svchost.exe"), None);
        assert_eq!(
            windows_disguise(r"C:\Users\Public\svchost.exe"),
            Some(("svchost.exe", r"windows\system32"))
        );
        assert_eq!(
            windows_disguise(r"C:\Windows\System32\explorer.exe"),
            Some(("explorer.exe", "windows")),
            "explorer lives in the Windows directory itself"
        );
        assert!(windows_disguise(r"C:\Users\ann\AppData\Roaming\csrss.exe").is_some());
        assert_eq!(windows_disguise(r"C:\Tools\nginx.exe"), None);
        assert_eq!(
            windows_disguise("/usr/sbin/svchost.exe"),
            None,
            "not a Windows path"
        );
    }

    #[test]
    fn honest_names() {
        assert!(explained_by_names("nginx", "nginx", &[]));
        assert!(explained_by_names("systemd-resolve", "systemd-resolved", &[]));
        assert!(explained_by_names("python3", "python3.11", &[]));
        assert!(explained_by_names(
            "fail2ban-server",
            "python3.11",
            &args(&["/usr/bin/python3", "/usr/bin/fail2ban-server", "-xf"])
        ));
    }

    #[test]
    fn renamed() {
        assert!(!explained_by_names(
            "sshd",
            "python3.11",
            &args(&["/usr/bin/python3", "-c", "x"])
        ));
        assert!(!explained_by_names("sshd", "nginx", &args(&["nginx", "sshd"])));
        assert!(looks_like_kernel_thread("kworker/0:1", &[]));
        assert!(looks_like_kernel_thread("x", &args(&["[kthreadd]"])));
        assert!(!looks_like_kernel_thread(
            "nginx",
            &args(&["nginx: master process"])
        ));
    }
}
