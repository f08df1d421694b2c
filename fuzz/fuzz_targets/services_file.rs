//! Feeds arbitrary bytes to the services(5) parser (`--services FILE`, /etc/services) and builds
//! the name table from them: every name it yields must be answerable.
#![no_main]

use libfuzzer_sys::fuzz_target;
use portscope_core::knowledge::local;

fuzz_target!(|data: &[u8]| {
    let _ = local::parse(data);
    let path = std::path::PathBuf::from("services");
    if let Ok(names) = local::ServiceNames::from_files(Some((&path, data)), None) {
        for port in [0u16, 22, 80, 65535] {
            let _ = names.name(port, portscope_core::model::Protocol::Tcp);
        }
    }
});
