//! A process whose main thread has exited while its other threads run on with its sockets.
//!
//! After `pthread_exit` in the main thread the leader is a zombie: `ps` shows it `<defunct>`,
//! and `/proc/PID/fd`, where every socket tool looks for owners, is empty; the descriptors live
//! on in `/proc/PID/task/TID/fd`. portscope reads them there, so the sockets keep their owner;
//! holding sockets this way is itself a sign of a program that hides from the usual tools.

use super::super::context::{Context, label};
use super::super::finding::{CheckId, Severity};
use super::{Out, about_process};

pub fn check(ctx: &Context, out: &mut Out) {
    for view in ctx.processes() {
        if !ctx.snapshot.headless.contains(&view.process.pid) {
            continue;
        }
        let reason = format!(
            "{}'s main thread has exited while its other threads hold its sockets: /proc/{}/fd, where ss, lsof and netstat look, is empty, a way to hide a listener from them",
            label(view.process),
            view.process.pid
        );
        out.findings.push(about_process(
            view,
            CheckId::ExitedLeader,
            Severity::Warning,
            reason,
        ));
    }
}
