//! Feeds arbitrary bytes to the netlink sock_diag reply parser: it must return sockets or an
//! error, never panic.
#![no_main]

use libfuzzer_sys::fuzz_target;
use portscope_core::model::Protocol;
use portscope_linux::diag::inet::parse_reply;

fuzz_target!(|data: &[u8]| {
    let mut out = Vec::new();
    let _ = parse_reply(data, Protocol::Tcp, &mut out);
    let _ = parse_reply(data, Protocol::Udp, &mut out);
});
