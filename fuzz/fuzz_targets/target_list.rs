//! Feeds arbitrary text to the `-iL` target-list parser: every target it accepts must count and
//! expand consistently, and nothing may panic.
#![no_main]

use libfuzzer_sys::fuzz_target;
use portscope_scan::targets::{self, Target};

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else { return };
    if let Ok(list) = targets::parse_target_list(text) {
        for target in &list {
            let count = target.count();
            let seen = target.addresses().take(64).count();
            assert!(seen as u128 <= count || matches!(target, Target::Name(_)));
        }
    }
});
