//! Why a socket is open: the chain from a holder process to what started it.
//!
//! A program that a service manager, a socket unit, cron, an SSH session or a container started
//! comes back after it is killed, and a listener cannot be judged without knowing who started
//! it. [`Provenance`] is what the platform reads about one holder: its parent chain, how it was
//! socket-activated, the SSH session, the cron or at job, the container and the login session
//! above it. The core decides from it alone:
//! - [`why`]: the one line `list --why` prints ("SSH session from 198.18.3.2:51234 as root on
//!   pts/1") and the lines `explain` prints under "Why it is open";
//! - [`stop`]: what would restart or re-create the holder, and the commands that stop it for
//!   good.
//!
//! Reading it costs a few /proc files per ancestor, so it is read only for the holders a command
//! shows ([`gather`], [`attach`]), never in every snapshot.

pub mod stop;
mod types;
pub mod why;

pub use types::{
    Activation, Activator, Ancestor, Container, LoginSession, Provenance, Scheduler, SocketUnit, SshSession,
    SshSource, Unit,
};

use std::collections::HashMap;
use std::sync::Arc;

use crate::model::{Process, Socket, Supervisor};
use crate::platform::{Platform, Unsupported};

/// How far up a parent chain goes: a chain is a handful deep; the bound keeps a corrupt or
/// racing process table from stalling a run.
pub const MAX_CHAIN: usize = 32;

/// The provenance of each holder of `sockets`, by pid, read once per process.
/// `Err` when the platform cannot read provenance at all.
pub fn gather<'a>(
    platform: &dyn Platform,
    sockets: impl IntoIterator<Item = &'a Socket>,
) -> Result<HashMap<u32, Arc<Provenance>>, Unsupported> {
    let holders: Vec<&Process> = sockets
        .into_iter()
        .flat_map(|s| &s.holders)
        .map(|h| h.process.as_ref())
        .collect();
    of_processes(platform, &holders)
}

/// The provenance of each of `processes` that still runs, by pid, read once per process.
pub fn of_processes(
    platform: &dyn Platform,
    processes: &[&Process],
) -> Result<HashMap<u32, Arc<Provenance>>, Unsupported> {
    let mut pids: Vec<u32> = processes.iter().map(|p| p.pid).collect();
    pids.sort_unstable();
    pids.dedup();
    if pids.is_empty() {
        return Ok(HashMap::new());
    }
    let mut found = platform.provenance(&pids)?;
    // The unit and the container the snapshot read from the cgroup belong to the chain too.
    for process in processes {
        if let Some(p) = found.get_mut(&process.pid) {
            complete(p, process);
        }
    }
    Ok(found.into_iter().map(|(pid, p)| (pid, Arc::new(p))).collect())
}

/// Adds what the holder's own record says (its systemd unit or container, from its cgroup) where
/// the platform left the part empty.
fn complete(p: &mut Provenance, process: &Process) {
    match &process.supervisor {
        Some(Supervisor::Systemd { unit }) if p.unit.is_none() => {
            p.unit = Some(Unit {
                name: unit.clone(),
                user: None,
            });
        }
        Some(Supervisor::SystemdUser { unit }) if p.unit.is_none() => {
            p.unit = Some(Unit {
                name: unit.clone(),
                user: process.user.clone(),
            });
        }
        Some(Supervisor::Container { runtime, id }) if p.container.is_none() => {
            p.container = Some(Container {
                engine: runtime.clone(),
                id: id.clone(),
                ..Container::default()
            });
        }
        _ => {}
    }
}

/// Fills [`crate::model::Holder::provenance`] of the holders of the sockets `wanted` keeps.
pub fn attach(
    platform: &dyn Platform,
    sockets: &mut [Socket],
    wanted: impl Fn(&Socket) -> bool,
) -> Result<(), Unsupported> {
    let found = gather(platform, sockets.iter().filter(|s| wanted(s)))?;
    for socket in sockets.iter_mut().filter(|s| wanted(s)) {
        for holder in &mut socket.holders {
            holder.provenance = found.get(&holder.process.pid).cloned();
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{Endpoint, Protocol, SocketState};

    fn listener(addr: &str) -> Socket {
        let local: std::net::SocketAddr = addr.parse().expect("address");
        Socket::new(
            Protocol::Tcp,
            Endpoint::new(local.ip(), local.port()),
            Endpoint::new(std::net::Ipv4Addr::UNSPECIFIED.into(), 0),
            SocketState::Listen,
        )
    }

    #[test]
    fn a_socket_unit_is_matched_by_port_and_address() {
        let unit = |listen: &str| SocketUnit {
            listen: listen.into(),
            unit: "cups.socket".into(),
            activates: vec!["cups.service".into()],
        };
        assert!(why::listens_on(&unit("0.0.0.0:631"), &listener("127.0.0.1:631")));
        assert!(why::listens_on(
            &unit("127.0.0.1:631"),
            &listener("127.0.0.1:631")
        ));
        assert!(why::listens_on(&unit("[::]:631"), &listener("[::]:631")));
        assert!(why::listens_on(&unit("631"), &listener("[::]:631")));
        assert!(!why::listens_on(
            &unit("127.0.0.1:632"),
            &listener("127.0.0.1:631")
        ));
        assert!(!why::listens_on(
            &unit("127.0.0.2:631"),
            &listener("127.0.0.1:631")
        ));
        assert!(!why::listens_on(
            &unit("/run/cups/cups.sock"),
            &listener("127.0.0.1:631")
        ));
    }
}
