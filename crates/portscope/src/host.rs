//! The one place that picks the operating system: it constructs the [`Platform`] every command
//! runs on. Every OS service a command needs (local time, stop signals, killing a process group)
//! is a method of that platform; only the scan engines are still named here.

use portscope_core::Platform;

// The scan engines and their stop signals: the scan part of issue 21 moves them into
// portscope-scan.
#[cfg(target_os = "linux")]
pub use portscope_linux::{connect_scan, stop_signal::StopSignals, syn_scan, udp_scan};

/// The host portscope runs on, looking at the network namespaces `netns` picks.
#[cfg(target_os = "linux")]
pub fn platform(netns: portscope_core::platform::NetnsSelection) -> Box<dyn Platform> {
    Box::new(portscope_linux::Linux::new(netns))
}
