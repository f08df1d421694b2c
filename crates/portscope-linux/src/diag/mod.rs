//! Netlink sock_diag, in layers as netlink-packet-sock-diag keeps them: [`frame`] is the netlink
//! framing every family shares; [`inet`] (TCP, UDP, raw, SCTP), [`packet`] (AF_PACKET with its
//! BPF filter) and [`destroy`] (SOCK_DESTROY) are the messages built on it, each a request
//! builder and a parser that take and return bytes; [`socket`] is the one transport that sends
//! them and reads the kernel's replies.
//!
//! Only `socket` does I/O, so every parser is driven alike by the live kernel, the recorded
//! fixtures under tests/fixtures/netlink and the fuzzer.

pub mod destroy;
pub mod frame;
pub mod inet;
pub mod packet;
pub mod socket;

pub use socket::SockDiag;
