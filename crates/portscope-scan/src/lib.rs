//! Everything `portscope scan` does between the command line and the printed report: what to
//! probe, how to probe it, and how to write down what came back.
//!
//! - What to probe: [`targets`] and [`ports`] parse nmap's syntax into lazy sets; [`resolve`]
//!   turns host names into addresses through the system resolver; [`plan`] checks the size of a
//!   scan and gathers the outcomes into a [`ScanReport`](report::ScanReport); [`shard`] splits
//!   one scan over several runs.
//! - How to probe it: [`engine`] picks the engines (SYN, connect, UDP) and feeds them; the TCP
//!   engines' control loop (`engine::control`), timing, congestion window and retry rule
//!   (`engine::timing`) are pure code, tested on simulated networks without root; the operating system's sockets sit in `engine::linux`, the
//!   crate's only `unsafe` code. [`packet`] and [`udp_payloads`] are the wire formats.
//! - What came back: [`report`] holds the port states and statistics; [`stream`] writes them as
//!   they arrive (`--json-lines`, `--resume`); [`banner`] optionally reads what open ports say;
//!   [`greppable`] and [`xml`] write nmap's formats.

#![deny(clippy::undocumented_unsafe_blocks)]

pub mod banner;
pub mod engine;
pub mod greppable;
pub mod packet;
pub mod plan;
pub mod ports;
pub mod report;
pub mod resolve;
pub mod shard;
pub mod stream;
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
