//! A process whose name (comm) differs from its executable's name: renamed at run time, the way
//! malware passes itself off as `sshd` or as a kernel thread.
//!
//! The kernel sets comm from the file name that was executed, so honest differences have few
//! causes, each excused here: comm is cut to 15 bytes; a symlink or hard link was executed
//! (`python3` → `python3.11`, busybox applets); a script was run, whose interpreter is the
//! executable and whose file name is the comm. Renames are common enough in legitimate daemons
//! that this is information — except a user-space program named like a kernel thread (warning).

use std::path::Path;

use crate::model::Process;
use crate::platform::Platform;

use super::super::context::{Context, exe_name, is_memfd, label};
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

fn explained_by_links(platform: &dyn Platform, process: &Process, exe: &Path) -> bool {
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
        .any(|dir| platform.name_resolves_to(process.pid, dir, &process.name, exe))
}

pub fn check(ctx: &Context, out: &mut Out) {
    for view in ctx.processes() {
        let process = view.process;
        let (Some(exe), Some(exe_file_name)) = (process.exe.as_deref(), exe_name(process)) else {
            continue;
        };
        if is_memfd(exe) || process.name.is_empty() {
            continue;
        }
        // A command line dressed as a kernel thread ("[kworker/0:1]") is a disguise even when
        // comm is honest: kernel threads have no executable and no command line.
        let argv_disguise = process.cmdline.first().is_some_and(|a| a.starts_with('['));
        let explained = explained_by_names(&process.name, exe_file_name, &process.cmdline)
            || explained_by_links(ctx.platform, process, exe);
        if explained && !argv_disguise {
            continue;
        }
        let kernel_like = argv_disguise || looks_like_kernel_thread(&process.name, &process.cmdline);
        let (severity, reason) = if kernel_like {
            (
                Severity::Warning,
                format!(
                    "{} presents itself as the kernel thread {:?}, but kernel threads have no executable",
                    label(process),
                    process
                        .cmdline
                        .first()
                        .filter(|a| a.starts_with('['))
                        .unwrap_or(&process.name)
                ),
            )
        } else {
            (
                Severity::Info,
                format!(
                    "{} calls itself {:?}, a name it gave itself at run time rather than its executable's",
                    label(process),
                    process.name
                ),
            )
        };
        out.findings
            .push(about_process(view, CheckId::Masquerade, severity, reason));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(list: &[&str]) -> Vec<String> {
        list.iter().map(|s| s.to_string()).collect()
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
