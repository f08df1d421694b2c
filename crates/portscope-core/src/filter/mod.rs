//! The one filter language of `list`, `watch`, `top`, the exporter and `history`:
//! `port = 443 and not user = root`, with ss's spellings (`sport = :443`, `dst 198.18.0.0/15`).
//!
//! [`Expression::parse`] turns the text into a tree once, checking every value against its field
//! (a port is a number, an address an IP or a CIDR, a state an ss state name) so that a bad word
//! is refused with its column before anything is collected. [`Expression::matches`] evaluates the
//! tree over any [`Row`]: a socket joined with its holders, verdict and findings
//! ([`SocketRow`]), or the fewer fields a history row keeps. The grammar is in docs/filter.md.

mod eval;
mod field;
mod parse;
mod port;
mod socket;

pub use eval::Row;
pub use field::{Field, Value};
pub use parse::{Expression, FilterError, Problem};
pub use port::PortRow;
pub use socket::SocketRow;
