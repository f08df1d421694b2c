//! The one place that picks the operating system: the [`Platform`] every command runs on, and
//! the few OS services a front end needs beyond it (stop signals, local time, the scan engine).

use portscope_core::Platform;

#[cfg(target_os = "linux")]
pub use portscope_linux::{
    connect_scan, local_time,
    stop_signal::{StopSignals, kill_process_group},
};

/// The host portscope runs on.
#[cfg(target_os = "linux")]
pub fn platform() -> &'static dyn Platform {
    &portscope_linux::Linux
}
