//! Feeds arbitrary bytes to the packet_diag reply parser (records, attributes and the classic
//! BPF filter decoder behind them), to the mountinfo and namespace-link parsers, and to the NAT
//! rule parsers: each must return values or an error, never panic.
#![no_main]

use libfuzzer_sys::fuzz_target;
use portscope_linux::diag::packet;
use portscope_linux::nat::parse as nat;
use portscope_linux::netns;

fuzz_target!(|data: &[u8]| {
    let mut out = Vec::new();
    let _ = packet::parse_reply(data, &mut out);
    let _ = packet::parse_record(data);
    let _ = netns::parse_nsfs_mounts(data);
    let _ = netns::parse_ns_link(data);
    let _ = nat::parse_nft_json(data);
    let _ = nat::parse_iptables_save(data, "ip");
});
