//! No installed package owns the executable (Debian systems, from dpkg's file lists).
//!
//! A binary in /usr/bin that no package installed was put there by hand — or planted. Programs
//! under /usr/local and /opt are installed by hand by convention, so they are only noted — unless
//! the program takes a well-known server's name on that server's port (an alert). Paths
//! outside the system directories are exe-location's business and are skipped here.

use crate::platform::PackageDatabase as Database;

use crate::program::{is_memfd, is_system_path};

use super::super::context::{Context, Ownership, label, show};
use super::super::finding::{CheckId, Severity};
use super::{Out, about_process};

pub fn check(ctx: &Context, out: &mut Out) {
    let candidates: Vec<_> = ctx
        .processes()
        .iter()
        .filter(|view| {
            let p = view.process;
            p.exe
                .as_deref()
                .is_some_and(|exe| !p.exe_deleted && !is_memfd(exe) && is_system_path(exe))
        })
        .collect();
    if candidates.is_empty() {
        return;
    }
    // Whatever the package database: the file that runs is not the one at its path on the host.
    for view in &candidates {
        let process = view.process;
        if ctx.platform.exe_is_hosts(process.pid) != Some(false) {
            continue;
        }
        let Some(exe) = process.exe.as_deref() else {
            continue;
        };
        let reason = format!(
            "{} runs a file shown as {}, which is not the host's {}: a mount namespace of its own put another binary at that path",
            label(process),
            show(exe),
            show(exe)
        );
        out.findings
            .push(about_process(view, CheckId::Unpackaged, Severity::Alert, reason));
    }
    match ctx.package_database() {
        Database::Dpkg => {}
        Database::RpmUnsupported => {
            out.notes.push(
                "package ownership was not checked: this is an RPM system and portscope reads only dpkg's database"
                    .into(),
            );
            return;
        }
        Database::None => {
            out.notes
                .push("package ownership was not checked: no package database was found".into());
            return;
        }
    }
    if let Some(unsupported) = ctx.packages_unsupported() {
        out.not_checked(CheckId::Unpackaged, unsupported);
        return;
    }
    for view in candidates {
        let process = view.process;
        if ctx.ownership(process) != Ownership::NoPackage
            || ctx.platform.exe_is_hosts(process.pid) == Some(false)
        {
            continue;
        }
        let Some(exe) = process.exe.as_deref() else {
            continue;
        };
        let by_hand = ["/usr/local/", "/opt/", "/snap/", "/nix/", "/gnu/", "/var/lib/"]
            .iter()
            .any(|d| exe.as_os_str().as_encoded_bytes().starts_with(d.as_bytes()));
        // A well-known server's name on its own well-known port, from a path no package
        // installed: what a trojan copied to /opt as `nginx` on port 80 looks like, which the
        // packaged server's usual info verdict would hide.
        let disguised_on = view
            .sockets
            .iter()
            .filter(|(socket, _)| socket.state.is_listening())
            .map(|(socket, _)| socket.local.port)
            .find(|&port| ctx.expected.is_expected(port, process) == Some(true));
        let (severity, reason) = if let Some(port) = disguised_on.filter(|_| by_hand) {
            (
                Severity::Alert,
                format!(
                    "{} runs {}, which no installed package owns, as the well-known server of port {port}: a known server's name from an unpackaged path on its own port is a disguise",
                    label(process),
                    show(exe)
                ),
            )
        } else if by_hand {
            (
                Severity::Info,
                format!(
                    "{} runs {}, which no installed package owns (installed by hand)",
                    label(process),
                    show(exe)
                ),
            )
        } else {
            (
                Severity::Warning,
                format!(
                    "{} runs {}, a system directory, yet no installed package owns it: copied there by hand or planted",
                    label(process),
                    show(exe)
                ),
            )
        };
        out.findings
            .push(about_process(view, CheckId::Unpackaged, severity, reason));
    }
}
