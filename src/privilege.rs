//! What root adds, and what portscope says once when it runs without it.
//!
//! Without root every socket is still listed (the kernel's socket dump is open to all users), but
//! other users' /proc/PID/fd directories are closed, so their sockets show no owner.

/// True when running with effective uid 0.
pub fn is_root() -> bool {
    rustix::process::geteuid().is_root()
}

/// The one line to print when some owners were hidden from this user, if any were.
pub fn hidden_owners_note(unreadable_processes: usize) -> Option<String> {
    if unreadable_processes == 0 {
        return None;
    }
    Some(if is_root() {
        format!(
            "{unreadable_processes} processes refused to show their descriptors even to root \
             (a security module or a sandbox); their sockets show no owner"
        )
    } else {
        format!(
            "{unreadable_processes} processes belong to other users and their sockets show no owner; \
             run as root to see every owner"
        )
    })
}
