//! The cross-view check: a socket some process holds that no kernel dump lists. The platform
//! finds them (every held socket inode against every dump, across namespaces); this rule weighs
//! them. A TCP or UDP socket that was never bound, an ICMP echo socket or a family portscope does
//! not dump is information; a raw or packet socket missing from the dumps, which list those as
//! soon as they exist, is what hiding from sock_diag looks like.

use super::super::context::Context;
use super::super::finding::{CheckId, Finding, Severity};
use super::Out;

pub fn check(ctx: &Context, out: &mut Out) {
    for unaccounted in &ctx.snapshot.unaccounted {
        let severity = match unaccounted.protocol.as_str() {
            "RAW" | "RAWv6" | "PACKET" => Severity::Alert,
            _ => Severity::Info,
        };
        out.findings.push(Finding {
            severity,
            check: CheckId::UnaccountedSocket,
            sockets: Vec::new(),
            process: None,
            next_step: None,
            reason: format!(
                "{} (pid {}) holds a {} socket (fd {}, inode {}) that no kernel dump lists: {}",
                unaccounted.process,
                unaccounted.pid,
                unaccounted.protocol,
                unaccounted.fd,
                unaccounted.inode,
                unaccounted.reason
            ),
        });
    }
}
