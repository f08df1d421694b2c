//! Owning wrappers and string conversions every Windows module shares: a kernel handle closed on
//! drop, UTF-16 strings in and out, and the last error as an `io::Error`.

use std::ffi::OsString;
use std::io;
use std::os::windows::ffi::{OsStrExt, OsStringExt};
use std::path::PathBuf;

use windows_sys::Win32::Foundation::{CloseHandle, HANDLE, INVALID_HANDLE_VALUE};
use windows_sys::Win32::System::Threading::OpenProcess;

/// A kernel handle, closed when dropped. While it is open, Windows does not hand its process's
/// pid to another process: that is what makes a pinned process safe to act on.
#[derive(Debug)]
pub struct Handle(HANDLE);

// SAFETY: a kernel handle is a process-wide index, usable from any thread.
unsafe impl Send for Handle {}
// SAFETY: as above; the calls made through it are thread-safe kernel calls.
unsafe impl Sync for Handle {}

impl Handle {
    /// Takes ownership of `raw`; an invalid handle (null or `INVALID_HANDLE_VALUE`) becomes the
    /// last error.
    pub fn from_raw(raw: HANDLE) -> io::Result<Handle> {
        if raw.is_null() || raw == INVALID_HANDLE_VALUE {
            Err(io::Error::last_os_error())
        } else {
            Ok(Handle(raw))
        }
    }

    /// Opens process `pid` with `access`.
    pub fn process(pid: u32, access: u32) -> io::Result<Handle> {
        // SAFETY: OpenProcess takes plain values and returns a new handle or null.
        Handle::from_raw(unsafe { OpenProcess(access, 0, pid) })
    }

    pub fn raw(&self) -> HANDLE {
        self.0
    }
}

impl Drop for Handle {
    fn drop(&mut self) {
        // SAFETY: the handle is owned and open; it is closed exactly once.
        unsafe { CloseHandle(self.0) };
    }
}

/// `text` as a NUL-terminated UTF-16 string.
pub fn wide(text: &str) -> Vec<u16> {
    std::ffi::OsStr::new(text).encode_wide().chain(Some(0)).collect()
}

/// UTF-16 up to the first NUL (or the end), lossless as an `OsString`.
pub fn os_string(buffer: &[u16]) -> OsString {
    let end = buffer.iter().position(|&c| c == 0).unwrap_or(buffer.len());
    OsString::from_wide(&buffer[..end])
}

/// UTF-16 up to the first NUL, with U+FFFD for unpaired surrogates.
pub fn string(buffer: &[u16]) -> String {
    os_string(buffer).to_string_lossy().into_owned()
}

pub fn path(buffer: &[u16]) -> PathBuf {
    PathBuf::from(os_string(buffer))
}

/// A NUL-terminated UTF-16 string at `ptr`, at most `max` units; empty for null.
///
/// # Safety
/// `ptr` is null or points to a NUL-terminated UTF-16 string (or at least `max` readable units).
pub unsafe fn string_at(ptr: *const u16, max: usize) -> String {
    if ptr.is_null() {
        return String::new();
    }
    let mut len = 0;
    // SAFETY: the caller promises a readable string up to its NUL or `max` units.
    while len < max && unsafe { *ptr.add(len) } != 0 {
        len += 1;
    }
    // SAFETY: `len` units were just read.
    string(unsafe { std::slice::from_raw_parts(ptr, len) })
}

/// A Win32 error code as an `io::Error`.
pub fn error(code: u32) -> io::Error {
    io::Error::from_raw_os_error(code as i32)
}
