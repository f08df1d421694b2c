//! `portscope scan`: which TCP ports answer on hosts the user may probe.
//!
//! [`targets`] and [`ports`] parse nmap's syntax into lazy sets; [`resolve`] turns host names into
//! addresses; [`engine`] probes every (address, port) with non-blocking connects under adaptive
//! congestion control; [`result`] holds what came back; [`banner`] optionally reads what open
//! ports say; [`report`], [`greppable`] and [`xml`] print it as a table, JSON, nmap's greppable
//! format and nmap's XML.

pub mod banner;
pub mod engine;
pub mod greppable;
pub mod ports;
pub mod report;
pub mod resolve;
pub mod result;
pub mod targets;
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

impl From<SpecError> for crate::Error {
    fn from(err: SpecError) -> crate::Error {
        crate::Error::Usage(err.0)
    }
}
