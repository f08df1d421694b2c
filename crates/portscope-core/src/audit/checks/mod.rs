//! One module per rule. Each reads the [`Context`] and appends findings; none depends on another,
//! so each can be read, tested and silenced on its own.

pub mod abuse_port;
pub mod all_interfaces;
pub mod deleted_exe;
pub mod ebpf_program;
pub mod exe_location;
pub mod exited_leader;
pub mod hidden_listener;
pub mod hidden_process;
pub mod hidden_socket;
pub mod kernel_taint;
pub mod masquerade;
pub mod origin;
pub mod packet_socket;
pub mod preload;
pub mod quiet_shell;
pub mod shell_socket;
pub mod unaccounted;
pub mod unexpected_server;
pub mod unowned;
pub mod unpackaged;

use crate::platform::Unsupported;

use super::context::{Context, ProcessView};
use super::finding::{CheckId, Finding, NotChecked, Severity, SocketRef};

/// Where checks put what they found, and what the user should know about how they looked.
#[derive(Default)]
pub struct Out {
    pub findings: Vec<Finding>,
    pub notes: Vec<String>,
    /// Rules (or parts of rules) skipped because the platform lacks their evidence, each once.
    pub not_checked: Vec<NotChecked>,
}

impl Out {
    /// Records that `check` was skipped because the platform cannot answer `unsupported`: said
    /// once however often the rule asked, and neither a clean result nor a finding.
    pub fn not_checked(&mut self, check: CheckId, unsupported: Unsupported) {
        let entry = NotChecked {
            check,
            fact: unsupported.what,
        };
        if !self.not_checked.contains(&entry) {
            self.not_checked.push(entry);
        }
    }
}

/// A rule that reads the snapshot only.
pub type Check = fn(&Context, &mut Out);

/// Every rule that needs nothing but the snapshot, in report order.
pub const PASSIVE: &[Check] = &[
    deleted_exe::check,
    exe_location::check,
    unpackaged::check,
    shell_socket::check,
    unexpected_server::check,
    abuse_port::check,
    all_interfaces::check,
    unowned::check,
    masquerade::check,
    packet_socket::check,
    unaccounted::check,
    preload::check,
    quiet_shell::check,
    exited_leader::check,
    origin::check,
];

/// The `--deep` rules beyond the bind probe: they ask the kernel directly.
pub const DEEP: &[Check] = &[
    hidden_socket::check,
    hidden_process::check,
    ebpf_program::check,
    kernel_taint::check,
];

/// A finding about a process as a whole, listing every socket it holds (listeners first).
pub(crate) fn about_process(
    view: &ProcessView,
    check: CheckId,
    severity: Severity,
    reason: String,
) -> Finding {
    let mut sockets: Vec<SocketRef> = view.sockets.iter().map(|(s, _)| SocketRef::of(s)).collect();
    sockets.sort_by_key(|s| (!s.state.is_some_and(|st| st.is_listening()), s.local.port));
    sockets.dedup();
    Finding {
        severity,
        check,
        sockets,
        process: Some(view.process.clone()),
        next_step: None,
        reason,
    }
}
