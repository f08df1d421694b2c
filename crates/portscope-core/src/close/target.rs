//! The one `close` command that acts on each audit finding: the process audit names
//! (`--pid`), else the connection, else the port. What each kind of close selects is
//! [`super::spec`].

use std::net::SocketAddr;

use crate::audit::Finding;
use crate::model::Protocol;

/// The `portscope close …` command that acts on a finding: the process when one is named (a
/// reverse shell, a binary in /tmp), else the connection, else the port.
pub fn command_for(finding: &Finding) -> Option<String> {
    if let Some(process) = &finding.process {
        return Some(format!("portscope close --pid {}", process.pid));
    }
    let socket = finding.sockets.first()?;
    match (socket.remote, socket.protocol) {
        (Some(remote), Protocol::Tcp) if !remote.is_unspecified() && remote.port != 0 => {
            let local = SocketAddr::new(socket.local.address, socket.local.port);
            let remote = SocketAddr::new(remote.address, remote.port);
            Some(format!("portscope close --connection {local} {remote}"))
        }
        (_, Protocol::Tcp) => Some(format!("portscope close {} --tcp", socket.local.port)),
        (_, Protocol::Udp) => Some(format!("portscope close {} --udp", socket.local.port)),
        _ => None,
    }
}
