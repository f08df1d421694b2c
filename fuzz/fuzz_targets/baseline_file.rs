//! Feeds arbitrary text to the baseline file parser and the `--since` parser: a baseline is a file
//! a user (or anyone who can write it) hands to `baseline check`.
#![no_main]

use libfuzzer_sys::fuzz_target;
use portscope_core::baseline::Baseline;
use portscope_core::time::parse_since;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else { return };
    if let Ok(baseline) = Baseline::parse(text) {
        // What parses must survive a save and parse again unchanged.
        let again = Baseline::parse(&baseline.to_toml()).expect("a saved baseline parses");
        assert_eq!(again, baseline);
    }
    let _ = parse_since(text, 1_800_000_000_000, 0);
    let _ = parse_since(text, 1_800_000_000_000, -36_000_000);
});
