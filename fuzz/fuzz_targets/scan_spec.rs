//! Feeds arbitrary text to the scan target and port parsers: they must return a value or an
//! error, never panic, and what they accept must be consistent (counts match what expands).
#![no_main]

use libfuzzer_sys::fuzz_target;
use portscope_scan::{ports, targets};

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else { return };
    if let Ok(set) = ports::parse_ports(text) {
        let tcp = set.tcp.to_vec();
        assert_eq!(tcp.len(), set.tcp.len());
        let _ = ports::ranges_label(&tcp);
    }
    let _ = ports::parse_top_ports(text);
    if let Ok(target) = targets::parse_target(text) {
        // Expanding is lazy; look at a bounded prefix and check it against the count.
        let count = target.count();
        let seen = target.addresses().take(300).inspect(|ip| assert!(target.contains(*ip) || matches!(target, targets::Target::Name(_)))).count();
        assert!(seen as u128 <= count);
        if count <= 300 && !matches!(target, targets::Target::Name(_)) {
            assert_eq!(seen as u128, count);
        }
    }
    let _ = targets::parse_target_list(text);
});
