//! Feeds arbitrary bytes to the parsers `close` relies on: the SOCK_DESTROY acknowledgement and a pidfd's fdinfo.
#![no_main]

use libfuzzer_sys::fuzz_target;
use portscope_linux::diag::destroy;
use portscope_linux::pidfd;

fuzz_target!(|data: &[u8]| {
    let _ = destroy::parse_ack(data);
    let _ = pidfd::parse_fdinfo_pid(data);
});
