//! The front half of `portscope scan`: what to probe and how to report it.
//!
//! [`targets`] and [`ports`] parse nmap's syntax into lazy sets; [`resolve`] turns host names into
//! addresses through the system resolver; [`plan`] checks the size of a scan and gathers what the
//! engine (the platform's, e.g. `portscope_linux::connect_scan`) reports into a
//! [`ScanReport`](portscope_core::scan::ScanReport); [`banner`] optionally reads what open ports
//! say; [`greppable`] and [`xml`] write nmap's greppable and XML formats.

pub mod banner;
pub mod greppable;
pub mod packet;
pub mod plan;
pub mod ports;
pub mod resolve;
pub mod shard;
pub mod targets;
pub mod udp_payloads;
pub mod xml;

/// A target or port spec that does not parse; its message is the one line the user sees.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct SpecError(pub String);

impl SpecError {
    pub fn new(message: impl Into<String>) -> SpecError {
        SpecError(message.into())
    }
}

impl From<SpecError> for portscope_core::Error {
    fn from(err: SpecError) -> portscope_core::Error {
        portscope_core::Error::Usage(err.0)
    }
}
