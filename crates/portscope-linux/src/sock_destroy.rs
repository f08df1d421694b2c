//! Cutting TCP connections with NETLINK_SOCK_DIAG SOCK_DESTROY, as `ss -K` does: the kernel aborts
//! the socket (the holder sees ECONNABORTED, the peer a reset) and the program keeps running.
//!
//! Connections are destroyed by 4-tuple *and* kernel cookie, as the socket dump reported them
//! (the message is [`crate::diag::destroy`]); each inside the namespace it lives in.

use std::io;
use std::os::fd::AsFd;

use portscope_core::model::Socket;
use portscope_core::platform::{NetnsSelection, Query, StateFilter};

use crate::diag::SockDiag;
use crate::diag::destroy::{destroy_request, parse_ack};
use crate::netns;

pub use portscope_core::platform::DestroyError;

/// Every TCP connection with a peer in the namespaces `selection` picks, with its cookie and
/// namespace.
pub fn connections(selection: &NetnsSelection) -> io::Result<Vec<Socket>> {
    let query = Query {
        udp: false,
        states: StateFilter::Connected,
        processes: false,
        ..Query::ports()
    };
    crate::snapshot::snapshot_in(&query, selection)
        .map(|snapshot| snapshot.sockets)
        .map_err(|e| io::Error::other(e.to_string()))
}

/// Destroys one connection, identified by its 4-tuple and cookie, inside the namespace it lives
/// in (entered on a thread of its own).
pub fn destroy(connection: &Socket) -> Result<(), DestroyError> {
    let inode = connection.netns.inode;
    let own = netns::open_own()
        .and_then(|fd| netns::inode_of(fd.as_fd()))
        .map_err(DestroyError::Other)?;
    if inode == 0 || inode == own {
        return destroy_here(connection);
    }
    let fd = netns::open_by_inode(inode).map_err(|err| match err.kind() {
        io::ErrorKind::NotFound => DestroyError::Gone,
        io::ErrorKind::PermissionDenied => DestroyError::Permission,
        _ => DestroyError::Other(err),
    })?;
    netns::run_in(fd.as_fd(), || Ok(destroy_here(connection))).unwrap_or_else(|err| {
        Err(match err.kind() {
            io::ErrorKind::PermissionDenied => DestroyError::Permission,
            _ => DestroyError::Other(err),
        })
    })
}

fn destroy_here(connection: &Socket) -> Result<(), DestroyError> {
    let mut diag = SockDiag::open().map_err(DestroyError::Other)?;
    let reply = diag
        .transact(&destroy_request(connection))
        .map_err(DestroyError::Other)?;
    let code =
        parse_ack(reply).map_err(|e| DestroyError::Other(io::Error::new(io::ErrorKind::InvalidData, e)))?;
    match code {
        0 => Ok(()),
        c if c == -libc::EOPNOTSUPP => Err(DestroyError::Unsupported),
        c if c == -libc::EPERM || c == -libc::EACCES => Err(DestroyError::Permission),
        c if c == -libc::ENOENT => Err(DestroyError::Gone),
        c => Err(DestroyError::Other(io::Error::from_raw_os_error(
            c.saturating_abs(),
        ))),
    }
}
