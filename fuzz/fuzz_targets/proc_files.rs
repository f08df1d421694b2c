//! Feeds arbitrary bytes to the /proc parsers (stat, status, cgroup, net tables, fd links) and
//! to the provenance parsers (environments, session files, engines' state files).
#![no_main]

use libfuzzer_sys::fuzz_target;
use portscope_core::model::Protocol;
use portscope_linux::provenance::parse;
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
    let text = String::from_utf8_lossy(data);
    let environment = host_facts_environment(data);
    let _ = parse::ssh_environment(&environment);
    let _ = parse::listen_environment(&environment);
    let _ = parse::activated_command(&environment);
    let _ = parse::socket_units(&text);
    let _ = parse::login_session("1", &text);
    let _ = parse::session_of_cgroup(&text);
    let _ = parse::pod_uid(&text);
    let _ = parse::pod_log_dir(&text);
    let _ = parse::container_log_name(&text, "0123456789ab");
    let _ = parse::docker_name(data);
    let _ = parse::docker_restart(data);
    let _ = parse::storage_name(data, "0123456789ab");
    let _ = parse::tty_name(u64::from_le_bytes(
        data.get(..8).and_then(|b| b.try_into().ok()).unwrap_or([0; 8]),
    ));
});

fn host_facts_environment(data: &[u8]) -> Vec<String> {
    portscope_linux::host_facts::parse_environ(data)
}
