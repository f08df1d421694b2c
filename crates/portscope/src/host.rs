//! The one place that picks the operating system: it constructs the [`Platform`] every command
//! runs on. Every OS service a command needs (local time, stop signals, killing a process group)
//! is a method of that platform.

use portscope_core::Platform;

/// The host portscope runs on, looking at the network namespaces `netns` picks.
#[cfg(target_os = "linux")]
pub fn platform(netns: portscope_core::platform::NetnsSelection) -> Box<dyn Platform> {
    let linux = portscope_linux::Linux::new(netns);
    // Launcher files below another root: a test's scratch tree, or a mounted image's /etc.
    match std::env::var_os("PORTSCOPE_PERSISTENCE_ROOT") {
        Some(root) if !root.is_empty() => Box::new(linux.with_persistence_root(root.into())),
        _ => Box::new(linux),
    }
}

/// The Windows host; `netns` is accepted for the shared signature and is always the current
/// namespace there (the CLI refuses `--netns` on Windows before this).
#[cfg(windows)]
pub fn platform(netns: portscope_core::platform::NetnsSelection) -> Box<dyn Platform> {
    Box::new(portscope_windows::Windows::new(netns))
}
