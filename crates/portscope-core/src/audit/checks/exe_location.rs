//! The executable lives outside the system directories: in a world-writable directory (/tmp,
//! /var/tmp, /dev/shm), in a home directory, in a hidden directory, or anywhere else unusual.
//!
//! Dropped payloads land where anyone can write; hand-built programs live in home directories.
//! A home or hidden directory is a warning for a program that listens, and only information for
//! one that just connects out: toolchains and editors (rustup, pyenv, nvm, ~/.vscode-server) live
//! there and fetch things all day.

use std::path::Path;

use crate::program::{is_memfd, is_system_path};

use super::super::context::{Context, label, show};
use super::super::finding::{CheckId, Severity};
use super::{Out, about_process};

const WORLD_WRITABLE: &[&str] = &[
    "/tmp/",
    "/var/tmp/",
    "/dev/shm/",
    "/run/shm/",
    "/run/lock/",
    "/var/crash/",
];
const HOMES: &[&str] = &["/home/", "/root/", "/run/user/", "/var/home/"];

/// How suspicious a path is, and why, for a program that listens (`listens`) or only connects.
/// `None` for the system directories. `dir_world_writable` is what the file system says about the
/// path's directories; the well-known shared places (/tmp/, /dev/shm/, …) are judged by name only
/// when it cannot say, so a private 0700 directory under /tmp is not called world-writable.
pub fn judge(
    path: &Path,
    dir_world_writable: Option<bool>,
    listens: bool,
) -> Option<(Severity, &'static str)> {
    let personal = if listens {
        Severity::Warning
    } else {
        Severity::Info
    };
    let bytes = path.as_os_str().as_encoded_bytes();
    let starts = |dirs: &[&str]| dirs.iter().any(|d| bytes.starts_with(d.as_bytes()));
    let shared = dir_world_writable.unwrap_or_else(|| starts(WORLD_WRITABLE));
    if shared {
        return Some((
            Severity::Alert,
            "a directory every user can write to, where dropped payloads land",
        ));
    }
    if starts(WORLD_WRITABLE) {
        return Some((
            Severity::Warning,
            "a private directory under a shared temporary directory",
        ));
    }
    if starts(HOMES) {
        return Some((personal, "a home directory, not a system path"));
    }
    let hidden = path.components().any(|c| {
        c.as_os_str()
            .to_str()
            .is_some_and(|s| s.starts_with('.') && s != "." && s != "..")
    });
    if hidden {
        return Some((personal, "a hidden directory"));
    }
    if is_system_path(path) {
        return None;
    }
    Some((Severity::Info, "a directory outside the system paths"))
}

pub fn check(ctx: &Context, out: &mut Out) {
    for view in ctx.processes() {
        let process = view.process;
        let Some(exe) = process.exe.as_deref() else {
            continue;
        };
        if is_memfd(exe) {
            continue;
        }
        let writable = ctx.platform.dir_world_writable(process.pid, exe);
        let listens = view.sockets.iter().any(|(s, _)| s.state.is_listening());
        if let Some((severity, why)) = judge(exe, writable, listens) {
            let reason = format!("{} runs from {}, {why}", label(process), show(exe));
            out.findings
                .push(about_process(view, CheckId::ExeLocation, severity, reason));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn severities_by_place() {
        let sev = |p: &str| judge(Path::new(p), None, true).map(|(s, _)| s);
        assert_eq!(sev("/tmp/x"), Some(Severity::Alert));
        assert_eq!(sev("/dev/shm/.a/b"), Some(Severity::Alert));
        assert_eq!(sev("/home/ann/bin/srv"), Some(Severity::Warning));
        assert_eq!(
            sev("/root/.pyenv/versions/3.11.7/bin/python3.11"),
            Some(Severity::Warning)
        );
        assert_eq!(sev("/usr/lib/.x/srv"), Some(Severity::Warning));
        assert_eq!(sev("/srv/app/server"), Some(Severity::Info));
        assert_eq!(sev("/usr/sbin/nginx"), None);
        assert_eq!(sev("/opt/app/bin/app"), None);
        assert_eq!(
            judge(Path::new("/srv/drop/x"), Some(true), true).map(|(s, _)| s),
            Some(Severity::Alert)
        );
        let outgoing = |p: &str| judge(Path::new(p), None, false).map(|(s, _)| s);
        assert_eq!(
            outgoing("/root/.rustup/toolchains/stable/bin/cargo"),
            Some(Severity::Info)
        );
        assert_eq!(outgoing("/usr/lib/.x/srv"), Some(Severity::Info));
        assert_eq!(outgoing("/tmp/x"), Some(Severity::Alert));
        // What the file system says wins over the name.
        assert_eq!(
            judge(Path::new("/tmp/private/srv"), Some(false), true).map(|(s, _)| s),
            Some(Severity::Warning)
        );
    }
}
