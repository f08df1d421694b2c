//! The transport: one NETLINK_SOCK_DIAG socket that sends the families' requests and feeds the
//! kernel's replies to their parsers. The only I/O of the sock_diag code is here.

use std::io;

use netlink_sys::{Socket as NetlinkSocket, SocketAddr, protocols::NETLINK_SOCK_DIAG};

use portscope_core::model::{Family, Protocol, Socket};
use portscope_core::platform::StateFilter;

use super::frame::{Progress, ReplyError};
use super::{inet, packet};

/// Large enough that the kernel fills each read with as many records as it will batch.
const RECV_BUFFER: usize = 64 * 1024;

/// An open NETLINK_SOCK_DIAG socket; one serves every dump of a run. A socket belongs to the
/// network namespace of the thread that opened it.
pub struct SockDiag {
    socket: NetlinkSocket,
    buffer: Vec<u8>,
}

impl SockDiag {
    pub fn open() -> io::Result<SockDiag> {
        let mut socket = NetlinkSocket::new(NETLINK_SOCK_DIAG)?;
        socket.bind_auto()?;
        socket.connect(&SocketAddr::new(0, 0))?;
        Ok(SockDiag {
            socket,
            buffer: vec![0; RECV_BUFFER],
        })
    }

    /// Sends one request and returns the kernel's first reply (an acknowledgement, for requests
    /// sent with NLM_F_ACK).
    pub fn transact(&mut self, request: &[u8]) -> io::Result<&[u8]> {
        self.socket.send(request, 0)?;
        let len = self.socket.recv(&mut &mut self.buffer[..], 0)?;
        Ok(&self.buffer[..len])
    }

    /// Appends every AF_PACKET socket to `out`.
    pub fn dump_packet(&mut self, out: &mut Vec<Socket>) -> io::Result<()> {
        self.dump_with(&packet::dump_request(), |buf| packet::parse_reply(buf, out))
    }

    /// Appends every socket of one protocol and family in the given states to `out`.
    pub fn dump(
        &mut self,
        protocol: Protocol,
        family: Family,
        states: StateFilter,
        out: &mut Vec<Socket>,
    ) -> io::Result<()> {
        self.dump_with(&inet::dump_request(protocol, family, states), |buf| {
            inet::parse_reply(buf, protocol, out)
        })
    }

    /// Sends a dump request and hands each reply buffer to `parse` until it says the dump is done.
    fn dump_with(
        &mut self,
        request: &[u8],
        mut parse: impl FnMut(&[u8]) -> Result<Progress, ReplyError>,
    ) -> io::Result<()> {
        self.socket.send(request, 0)?;
        loop {
            let len = self.socket.recv(&mut &mut self.buffer[..], 0)?;
            match parse(&self.buffer[..len]) {
                Ok(Progress::Done) => return Ok(()),
                Ok(Progress::More) => {}
                Err(ReplyError::Kernel(err)) => return Err(err),
                Err(ReplyError::Parse(err)) => {
                    return Err(io::Error::new(io::ErrorKind::InvalidData, err));
                }
            }
        }
    }
}
