//! Feeds arbitrary bytes to the parsers of what users and files hand to the knowledge module: a
//! services(5) file, a lookup/explain query, and the two data-file formats. Each must return values
//! or errors, never panic.
#![no_main]

use libfuzzer_sys::fuzz_target;
use portscope::knowledge::{facts, local, query};

fuzz_target!(|data: &[u8]| {
    let _ = local::parse(data);
    if let Ok(text) = std::str::from_utf8(data) {
        if let Ok(question) = query::parse(text) {
            let _ = query::answer(&question);
        }
        let _ = facts::parse_registry(text);
        let _ = facts::parse_abuse(text);
        let _ = facts::parse_port_range(text);
    }
});
