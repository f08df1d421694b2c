//! Feeds arbitrary bytes to what `audit` parses: the allow-list (user input), dpkg's file lists,
//! and the known-servers table format.
#![no_main]

use libfuzzer_sys::fuzz_target;
use portscope_core::audit::{allow, expected::Expected};
use portscope_linux::packages;

fuzz_target!(|data: &[u8]| {
    let _ = allow::parse(data);
    let _ = packages::parse_list(data).count();
    let _ = packages::package_of_list_file(data);
    let _ = packages::usr_merge_alias(data);
    if let Ok(text) = std::str::from_utf8(data) {
        let _ = Expected::parse(text);
    }
});
