//! Feeds arbitrary bytes to the allow-list parser alone (`audit --allow FILE`): a file root hands
//! to audit, perhaps from a directory others can write. It must return rules or one error line.
#![no_main]

use libfuzzer_sys::fuzz_target;
use portscope_core::audit::allow;

fuzz_target!(|data: &[u8]| {
    match allow::parse(data) {
        Ok(rules) => assert!(rules.iter().all(|r| !r.program.is_empty())),
        Err(message) => assert!(!message.is_empty()),
    }
});
