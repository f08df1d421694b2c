//! The bpf(2) system call, shared by the modules that talk to the kernel's BPF subsystem: the
//! socket iterator in [`owners`](crate::owners) and the program listing in
//! [`bpf_progs`](crate::bpf_progs).

use std::io;

/// One bpf(2) call with an attribute block of `attr`'s size; a negative return is the errno.
///
/// Every pointer a caller stores in `attr` must point to a live buffer of the length stored
/// beside it, and the unused tail of `attr` must be zero (the kernel requires it).
pub(crate) fn bpf(cmd: libc::c_long, attr: &mut [u64]) -> io::Result<libc::c_long> {
    // SAFETY: `attr` is a live, 8-byte-aligned buffer of the size passed; the kernel reads and
    // writes only within that size, and every pointer stored in it points to a live buffer of
    // the length stored beside it (the callers' promise above).
    let ret = unsafe {
        libc::syscall(
            libc::SYS_bpf,
            cmd,
            attr.as_mut_ptr(),
            std::mem::size_of_val(attr) as libc::c_uint,
        )
    };
    if ret < 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(ret)
    }
}
