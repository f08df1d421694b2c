//! The /proc/net/{tcp,tcp6,udp,udp6,raw,raw6} tables: a fallback for when netlink sock_diag is
//! refused (some containers and hardened kernels), and the only source of raw sockets on a kernel
//! built without raw_diag. Slower and without kernel-side filtering.

use std::io::Cursor;

use procfs_core::net::{TcpNetEntries, UdpNetEntries};
use procfs_core::{ExplicitSystemInfo, FromBufReadSI};

use portscope_core::error::ParseError;
use portscope_core::model::{Endpoint, Family, Protocol, Socket, SocketState};

fn system_info() -> ExplicitSystemInfo {
    ExplicitSystemInfo {
        boot_time_secs: 0,
        ticks_per_second: 100,
        page_size: 4096,
        is_little_endian: cfg!(target_endian = "little"),
    }
}

/// Parses the text of one /proc/net/{tcp,tcp6,udp,udp6,raw,raw6} file (raw has udp's columns).
pub fn parse(protocol: Protocol, text: &[u8]) -> Result<Vec<Socket>, ParseError> {
    let malformed = |e: procfs_core::ProcError| ParseError::malformed("/proc/net table", e.to_string());
    let info = system_info();
    // (local, remote, kernel state, rx queue, tx queue, uid, inode), from either entry type.
    macro_rules! row {
        ($e:expr) => {
            (
                $e.local_address,
                $e.remote_address,
                $e.state.to_u8(),
                $e.rx_queue,
                $e.tx_queue,
                $e.uid,
                $e.inode,
            )
        };
    }
    let rows: Vec<_> = match protocol {
        Protocol::Tcp => TcpNetEntries::from_buf_read(Cursor::new(text), &info)
            .map_err(malformed)?
            .0
            .into_iter()
            .map(|e| row!(e))
            .collect(),
        Protocol::Sctp | Protocol::Packet => {
            return Err(ParseError::malformed(
                "/proc/net table",
                format!("no {protocol} table in this format"),
            ));
        }
        Protocol::Udp | Protocol::Raw => UdpNetEntries::from_buf_read(Cursor::new(text), &info)
            .map_err(malformed)?
            .0
            .into_iter()
            .map(|e| row!(e))
            .collect(),
    };
    rows.into_iter()
        .map(|(local, remote, state, rx, tx, uid, inode)| {
            let state = SocketState::from_kernel(protocol, state)
                .ok_or_else(|| ParseError::malformed("/proc/net table", format!("unknown state {state}")))?;
            Ok(Socket {
                protocol,
                family: Family::of(&local.ip()),
                local: Endpoint::new(local.ip(), local.port()),
                remote: Endpoint::new(remote.ip(), remote.port()),
                state,
                inode,
                cookie: 0,
                uid,
                recv_queue: rx,
                send_queue: tx,
                interface: 0,
                holders: Vec::new(),
                netns: Default::default(),
                packet: None,
                dual_stack: false,
            })
        })
        .collect()
}
