//! The engines' Windows side: the connect engine over Winsock (non-blocking sockets and
//! `WSAPoll`). The SYN and UDP engines need raw sockets and the ICMP error queue, which are Linux
//! only. This module is the crate's only `unsafe` code on Windows, and every block says why it is
//! sound.

pub(crate) mod connect;
