//! Feeds arbitrary bytes to the SYN and UDP scans' answer parsers (TCP over IPv4 and IPv6, ICMP
//! and ICMPv6 errors quoting a probe): each must return a value or an error, never panic.
#![no_main]

use libfuzzer_sys::fuzz_target;
use portscope_scan::packet;

fuzz_target!(|data: &[u8]| {
    let from = std::net::IpAddr::from([198, 18, 0, 2]);
    let _ = packet::parse_tcp_v4(data);
    let to = std::net::IpAddr::from([198, 18, 0, 1]);
    let _ = packet::parse_tcp(from, to, data);
    if let Ok(answer) = packet::parse_icmp_v4(data) {
        let _ = answer.outcome();
    }
    if let Ok(answer) = packet::parse_icmp_v6(from, data) {
        let _ = answer.outcome();
    }
});
