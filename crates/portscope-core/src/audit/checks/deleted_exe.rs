//! The executable was deleted or replaced while the process runs (`/proc/PID/exe` "(deleted)"),
//! or the process runs from an anonymous memory file.
//!
//! Malware often deletes its binary once started so that nothing is left on disk to scan. A
//! package upgrade also replaces binaries under running daemons; then a new file sits at the same
//! path, which is what separates "replaced" (warning) from "deleted" (alert).

use crate::program::is_memfd;

use super::super::context::{Context, label, show};
use super::super::finding::{CheckId, Severity};
use super::{Out, about_process};

pub fn check(ctx: &Context, out: &mut Out) {
    for view in ctx.processes() {
        let process = view.process;
        let Some(exe) = process.exe.as_deref() else {
            continue;
        };
        let who = label(process);
        let (severity, reason) = if is_memfd(exe) {
            (
                Severity::Alert,
                format!(
                    "{who} runs from an anonymous memory file ({}), the way fileless malware avoids leaving a binary on disk",
                    show(exe)
                ),
            )
        } else if !process.exe_deleted {
            continue;
        } else if ctx.platform.file_exists(process.pid, exe) == Some(true) {
            (
                Severity::Warning,
                format!(
                    "{who} runs an executable that was replaced on disk after it started ({}): an upgrade without a restart, or a swapped binary",
                    show(exe)
                ),
            )
        } else {
            (
                Severity::Alert,
                format!(
                    "{who} runs from {}, which was deleted after it started: malware deletes its binary to hide, upgrades replace it instead",
                    show(exe)
                ),
            )
        };
        out.findings
            .push(about_process(view, CheckId::DeletedExe, severity, reason));
    }
}
