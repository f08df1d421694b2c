//! The engines' Linux side: the sockets, the packet filters and the firewall rule. This module
//! is the crate's only `unsafe` code, and every block says why it is sound; the timing it runs
//! by is the pure [`super::timing`].

pub(crate) mod connect;
pub(crate) mod firewall;
pub(crate) mod syn;
pub(crate) mod udp;

use std::os::unix::fs::MetadataExt;

/// The user this process acts as, for files it must own: `/proc/self` belongs to the effective
/// user. 0 when it cannot be read.
pub(crate) fn effective_uid() -> u32 {
    std::fs::metadata("/proc/self").map(|m| m.uid()).unwrap_or(0)
}
