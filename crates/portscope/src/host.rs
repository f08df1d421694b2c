//! The one place that picks the operating system: the [`Platform`] every command runs on, and
//! the few OS services a front end needs beyond it (stop signals, local time).

use portscope_core::Platform;

#[cfg(target_os = "linux")]
pub use portscope_linux::{
    local_time,
    stop_signal::{StopSignals, kill_process_group},
};

/// The host portscope runs on, looking at the network namespaces `netns` picks.
#[cfg(target_os = "linux")]
pub fn platform(netns: portscope_core::platform::NetnsSelection) -> Box<dyn Platform> {
    Box::new(portscope_linux::Linux::new(netns))
}
