//! portscope's Windows platform: `Windows` implements [`portscope_core::Platform`] over the IP
//! helper's owner tables, process handles and tokens, the service control manager and the
//! console. The modules, by role (docs/windows-platform.md has the whole picture):
//!
//! - **Pure, on every platform** — [`decode`] turns the IP helper's table buffers
//!   (`MIB_TCPTABLE_OWNER_PID`, `MIB_TCP6TABLE_OWNER_PID`, the UDP twins) into the core's sockets
//!   and back into the row `SetTcpEntry` takes; [`process_text`] splits command lines as the C
//!   runtime does, converts `FILETIME`s and names the critical system images; [`drop_dirs`]
//!   knows the directories where dropped programs land. The host test suite checks them on
//!   recorded bytes and paths.
//! - **One look at the sockets** (Windows only) — `sockets` reads the tables (and the module
//!   owners of shared service hosts), `processes` each holder's facts through a handle,
//!   `services` the service control manager, `snapshot` joins them.
//! - **Host facts** — `host_facts` (user-writable directories by drop list and DACL, the bind
//!   probe, the hidden-process probe), `lineage` (parents checked by creation time),
//!   `privileges` (elevation, SeDebugPrivilege).
//! - **Control** — `control` (handle pins, WM_CLOSE and Ctrl-Break, TerminateProcess, the
//!   refusal of critical system processes, SetTcpEntry), `services` (stopping a service).
//! - **Session** — `session` (local time, the console control handler, ending a process tree).
//!
//! On any other operating system only the pure modules build: the crate is a workspace member,
//! so `cargo clippy --workspace` on Linux builds it. The Windows code is the only code of this
//! crate that calls the operating system, so it is allowed `unsafe`, and every `unsafe` block
//! says why it is sound.
#![cfg_attr(windows, allow(unsafe_code))]
#![deny(clippy::undocumented_unsafe_blocks)]

pub mod decode;
pub mod drop_dirs;
pub mod process_text;

#[cfg(windows)]
mod control;
#[cfg(windows)]
mod handle;
#[cfg(windows)]
mod host_facts;
#[cfg(windows)]
mod lineage;
#[cfg(windows)]
mod platform;
#[cfg(windows)]
mod privileges;
#[cfg(windows)]
mod processes;
#[cfg(windows)]
mod services;
#[cfg(windows)]
mod session;
#[cfg(windows)]
mod snapshot;
#[cfg(windows)]
mod sockets;

#[cfg(windows)]
pub use platform::Windows;
