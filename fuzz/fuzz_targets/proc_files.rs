//! Feeds arbitrary bytes to the /proc parsers (stat, status, cgroup, net tables, fd links).
#![no_main]

use libfuzzer_sys::fuzz_target;
use portscope_core::model::Protocol;
use portscope_linux::{cgroup, fd_table, proc_net, process, users};

fuzz_target!(|data: &[u8]| {
    let _ = process::parse_stat(data);
    let _ = process::parse_status_uid(data);
    let _ = process::parse_cmdline(data);
    let _ = process::parse_exe_link(data);
    let _ = process::parse_btime(data);
    let _ = cgroup::supervisor(data);
    let _ = fd_table::parse_socket_link(data);
    let _ = proc_net::parse(Protocol::Tcp, data);
    let _ = proc_net::parse(Protocol::Udp, data);
    let _ = users::parse_passwd(data);
});
