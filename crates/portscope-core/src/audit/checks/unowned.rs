//! A listener that no visible process holds, although portscope may read every process's descriptors.
//!
//! Information only. Kernel services hold sockets without a process (NFS, in-kernel servers), and
//! a process in another PID namespace that shares this network namespace (a sandbox or container
//! supervisor) is invisible in this /proc. A process hidden by a rootkit looks the same, which is
//! why the finding is shown at all. Without that privilege, other users' sockets always look unowned, so
//! the check stays silent and portscope's note about hidden owners says so instead.

use super::super::context::Context;
use super::super::finding::{CheckId, Finding, Severity, SocketRef};
use super::Out;

pub fn check(ctx: &Context, out: &mut Out) {
    if !ctx.privileges.read_all {
        return;
    }
    for socket in &ctx.snapshot.sockets {
        if !socket.protocol.has_ports()
            || !socket.state.is_listening()
            || !socket.holders.is_empty()
            || socket.local.port == 0
        {
            continue;
        }
        out.findings.push(Finding {
            severity: Severity::Info,
            check: CheckId::Unowned,
            sockets: vec![SocketRef::of(socket)],
            process: None,
            next_step: None,
            reason: format!(
                "no process visible here holds {} {}: a kernel service, a process in another PID namespace, or one hidden from /proc",
                socket.protocol, socket.local
            ),
        });
    }
}
