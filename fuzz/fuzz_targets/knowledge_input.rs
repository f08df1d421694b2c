//! Feeds arbitrary bytes to the parsers of what users and files hand to the knowledge module: a
//! services(5) file, a lookup/explain query, and the two data-file formats. Each must return values
//! or errors, never panic.
#![no_main]

use libfuzzer_sys::fuzz_target;
use portscope_core::knowledge::{facts, local, query};

fuzz_target!(|data: &[u8]| {
    let _ = local::parse(data);
    let names = local::ServiceNames::from_files(None, Some(data)).unwrap_or_default();
    if let Ok(text) = std::str::from_utf8(data) {
        if let Ok(question) = query::parse(text) {
            let _ = query::answer(&question, &names);
        }
        let _ = facts::parse_registry(text);
        let _ = facts::parse_abuse(text);
        let _ = facts::parse_port_range(text);
    }
});
