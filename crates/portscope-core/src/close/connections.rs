//! Choosing the TCP connections `close --connection` / `--all-from` cuts, and cutting them. The
//! program that holds a connection keeps running; only the connection is aborted.

use std::net::{IpAddr, SocketAddr};

use ipnet::IpNet;
use serde::Serialize;

use crate::error::{Error, Result};
use crate::model::{Endpoint, Socket, SocketState};
use crate::platform::{DestroyError, Platform};
use crate::privilege;

/// Which connections to cut.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Selector {
    /// Exactly one connection, named from this machine's side: LOCAL then REMOTE.
    Exact { local: SocketAddr, remote: SocketAddr },
    /// Every connection whose peer is in `peers`, optionally only those on local port `port`.
    From { peers: IpNet, port: Option<u16> },
    /// Every connection to a remote port (`close 4444 --remote`: a shell calling out to a
    /// listener elsewhere holds no port here).
    Remote { port: u16 },
}

/// Compares addresses so that an IPv4 peer also matches its IPv4-mapped form on a dual-stack socket.
fn same_address(a: IpAddr, b: IpAddr) -> bool {
    a.to_canonical() == b.to_canonical()
}

fn same_endpoint(endpoint: &Endpoint, addr: &SocketAddr) -> bool {
    endpoint.port == addr.port() && same_address(endpoint.address, addr.ip())
}

impl Selector {
    pub fn matches(&self, connection: &Socket) -> bool {
        match self {
            Selector::Exact { local, remote } => {
                same_endpoint(&connection.local, local) && same_endpoint(&connection.remote, remote)
            }
            Selector::From { peers, port } => {
                peers.contains(&connection.remote.address.to_canonical())
                    && port.is_none_or(|p| connection.local.port == p)
            }
            Selector::Remote { port } => connection.remote.port == *port,
        }
    }

    pub fn describe(&self) -> String {
        match self {
            Selector::Exact { local, remote } => format!("the connection {local} -> {remote}"),
            Selector::From { peers, port: None } => format!("every connection from {peers}"),
            Selector::From { peers, port: Some(p) } => format!("every connection from {peers} to port {p}"),
            Selector::Remote { port } => format!("every connection to remote port {port}"),
        }
    }
}

/// The connections in this network namespace that `selector` picks.
pub fn select(platform: &dyn Platform, selector: &Selector) -> Result<Vec<Socket>> {
    let all = platform
        .connections()
        .map_err(|e| Error::io("reading the connection table", e))?;
    Ok(all.into_iter().filter(|c| selector.matches(c)).collect())
}

/// What happened to one connection.
#[derive(Clone, Debug, Serialize)]
pub struct Cut {
    pub local: Endpoint,
    pub remote: Endpoint,
    pub state: SocketState,
    pub inode: u64,
    /// "destroyed" or "gone" (it closed by itself before the request).
    pub result: &'static str,
}

/// Why a connection could not be cut at all.
#[cfg(not(windows))]
const DESTROY_UNSUPPORTED: &str =
    "this kernel cannot destroy sockets (built without CONFIG_INET_DIAG_DESTROY)";
#[cfg(windows)]
const DESTROY_UNSUPPORTED: &str = "Windows cannot cut this connection: SetTcpEntry aborts IPv4 TCP connections only (stop the process that holds an IPv6 one)";

/// Destroys each connection. A kernel without SOCK_DESTROY support or a missing capability stops
/// the whole run with one line.
pub fn cut(platform: &dyn Platform, connections: &[Socket]) -> Result<Vec<Cut>> {
    let mut cuts = Vec::new();
    for connection in connections {
        let result = match platform.destroy(connection) {
            Ok(()) => "destroyed",
            Err(DestroyError::Gone) => "gone",
            Err(DestroyError::Unsupported) => return Err(Error::System(DESTROY_UNSUPPORTED.into())),
            Err(DestroyError::Permission) => {
                return Err(Error::Permission {
                    what: "destroying a connection".into(),
                    hint: format!("needs {}; {}", privilege::NET_ADMIN, privilege::ELEVATE),
                });
            }
            Err(DestroyError::Other(err)) => return Err(Error::io("destroying a connection", err)),
        };
        cuts.push(Cut {
            local: connection.local,
            remote: connection.remote,
            state: connection.state,
            inode: connection.inode,
            result,
        });
    }
    Ok(cuts)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn connection(local: &str, remote: &str) -> Socket {
        let local: SocketAddr = local.parse().unwrap();
        let remote: SocketAddr = remote.parse().unwrap();
        Socket::new(
            crate::model::Protocol::Tcp,
            Endpoint::new(local.ip(), local.port()),
            Endpoint::new(remote.ip(), remote.port()),
            SocketState::Established,
        )
    }

    #[test]
    fn exact_matches_one_direction_only() {
        let selector = Selector::Exact {
            local: "198.18.0.1:80".parse().unwrap(),
            remote: "198.18.0.2:5000".parse().unwrap(),
        };
        assert!(selector.matches(&connection("198.18.0.1:80", "198.18.0.2:5000")));
        assert!(!selector.matches(&connection("198.18.0.2:5000", "198.18.0.1:80")));
        assert!(selector.matches(&connection("[::ffff:198.18.0.1]:80", "[::ffff:198.18.0.2]:5000")));
    }

    #[test]
    fn from_a_network() {
        let selector = Selector::From {
            peers: "198.18.0.0/24".parse().unwrap(),
            port: Some(80),
        };
        assert!(selector.matches(&connection("198.18.1.1:80", "198.18.0.9:4000")));
        assert!(selector.matches(&connection("[::ffff:198.18.1.1]:80", "[::ffff:198.18.0.9]:4000")));
        assert!(!selector.matches(&connection("198.18.1.1:81", "198.18.0.9:4000")));
        assert!(!selector.matches(&connection("198.18.1.1:80", "198.18.1.9:4000")));
    }
}
