//! The one place that picks the operating system: it constructs the [`Platform`] every command
//! runs on. Every OS service a command needs (local time, stop signals, killing a process group)
//! is a method of that platform.

use portscope_core::Platform;

/// The host portscope runs on, looking at the network namespaces `netns` picks.
#[cfg(target_os = "linux")]
pub fn platform(netns: portscope_core::platform::NetnsSelection) -> Box<dyn Platform> {
    Box::new(portscope_linux::Linux::new(netns))
}
