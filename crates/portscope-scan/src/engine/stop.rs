//! How an engine learns that the user asked it to stop: a trait of its own, so that the OS
//! engines under `linux/` and the engine choice in `mod.rs` both depend on it, not on each other.

/// Asks whether the user has asked the scan to stop (Ctrl-C, SIGTERM). The caller implements it
/// over its operating system's signals; any `Fn() -> Option<i32>` closure is one.
pub trait Stop: Sync {
    /// The number of a stop signal that is pending, without waiting.
    fn pending(&self) -> Option<i32>;
}

impl<F: Fn() -> Option<i32> + Sync> Stop for F {
    fn pending(&self) -> Option<i32> {
        self()
    }
}
